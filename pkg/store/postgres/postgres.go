// Package postgres implements store.Store on PostgreSQL with sqlx and lib/pq.
//
// The schema is the one in the migrations package. Each method's SQL is a
// named constant beside it; nothing is built from user input.
//
// Changes to a workflow's deployments are serialised on the workflows row:
// CreateDeployment locks it with its upsert and UpdateDeployment locks it
// before the deployment row, so concurrent writers always take the two locks
// in the same order and cannot deadlock each other.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	kinds "github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Pool limits used by Open. As many connections stay idle as may be open:
// with fewer, every burst above the idle count closes the connections it
// opened and the next one opens them again, and a PostgreSQL connection
// costs a process fork and its start-up, milliseconds of the server's CPU.
// ConnMaxIdleTime still closes what a quiet replica does not use.
const (
	maxOpenConns    = 20
	maxIdleConns    = maxOpenConns
	connMaxLifetime = 30 * time.Minute
	connMaxIdleTime = 5 * time.Minute
)

// Names of the unique indexes whose violations become typed store errors.
const (
	activeDeploymentIndex = "deployments_one_active_per_workflow"
	webhookPathIndex      = "deployment_triggers_active_webhook_path_key"
)

// PostgreSQL error codes the store inspects.
const (
	codeUniqueViolation           = "23505"
	codeNotNullViolation          = "23502"
	codeCheckViolation            = "23514"
	codeInvalidTextRepresentation = "22P02"
	codeSerializationFailure      = "40001"
	codeDeadlockDetected          = "40P01"
)

// Store is a store.Store backed by PostgreSQL. It is safe for concurrent use.
type Store struct {
	db *sqlx.DB
	// inserts and transitions are the group commits of the hot writes.
	inserts     *group[workflow.Execution, workflow.Execution]
	transitions *group[transition, *workflow.Execution]
}

// errClosed answers a write made after Close.
var errClosed = errors.New("postgres: store closed")

var _ store.Store = (*Store)(nil)

// Open connects to the PostgreSQL database at url (a postgres:// URL or a
// lib/pq key=value DSN), sets the pool limits and pings it. The schema must
// have been migrated with the migrations package.
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	return New(db), nil
}

// New returns a Store over an open pool; Close closes db.
func New(db *sqlx.DB) *Store {
	s := &Store{db: db}
	s.inserts = newGroup("postgres.insertExecutions", s.insertExecutions, nil)
	s.transitions = newGroup("postgres.transitionExecutions", s.transitionExecutions, func(a, b transition) bool { return a.id == b.id })
	return s
}

// DB returns the store's connection pool, for the migrator and health checks.
func (s *Store) DB() *sqlx.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer classify(&err)
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.inserts.close()
	s.transitions.close()
	return s.db.Close()
}

// deploymentFilter is the parameter of a listing by an optional deployment
// id: nil for all, the id in canonical form for one; false for an id that is
// not a UUID, which names no deployment.
func deploymentFilter(id string) (*string, bool) {
	if id == "" {
		return nil, true
	}
	id, ok := store.CanonicalID(id)
	return &id, ok
}

// notFound maps "no row" and a malformed-value error to store.ErrNotFound and
// wraps any other error with op.
func notFound(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) || pqCode(err) == codeInvalidTextRepresentation {
		return store.ErrNotFound
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// pqCode returns err's PostgreSQL error code, or "".
func pqCode(err error) string {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return string(pe.Code)
	}
	return ""
}

// classify adds store.ErrUnavailable to an error that says the database
// could not be reached or cannot serve now, and store.ErrConcurrentChange to a
// deadlock or serialization failure between two writers, as opposed to an
// error about the request.
func classify(err *error) {
	switch {
	case *err == nil || errors.Is(*err, store.ErrUnavailable) || errors.Is(*err, store.ErrConcurrentChange):
	case unreachable(*err):
		*err = fmt.Errorf("%w: %w", store.ErrUnavailable, *err)
	case pqCode(*err) == codeSerializationFailure || pqCode(*err) == codeDeadlockDetected:
		*err = fmt.Errorf("%w: %w", store.ErrConcurrentChange, *err)
	case refused(*err):
		*err = kinds.E(kinds.Invalid, *err)
	}
}

// refused reports an error about the data a statement carried: a value
// PostgreSQL cannot take (class 22, such as a NUL byte in text), a NULL
// where none may be, or a value a check constraint forbids.
func refused(err error) bool {
	code := pqCode(err)
	return strings.HasPrefix(code, "22") || code == codeNotNullViolation || code == codeCheckViolation
}

// unreachable reports a failed connection, a lost one, or a server that
// refuses work for now: connection exceptions (class 08), insufficient
// resources such as too many connections (class 53), and shutdown or
// start-up in progress (57P01-57P03).
func unreachable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	code := pqCode(err)
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	}
	return code == "57P01" || code == "57P02" || code == "57P03"
}

// rollback rolls tx back, ignoring the error of an already finished
// transaction: it is deferred after every Begin.
func rollback(tx *sqlx.Tx) { _ = tx.Rollback() }
