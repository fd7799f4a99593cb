package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Dialect is what one database does its own way. It is a value rather than
// an interface because most of it is SQL text.
type Dialect struct {
	// Name prefixes the store's operations in errors and spans ("postgres");
	// System is OpenTelemetry's db.system.name ("postgresql").
	Name, System string
	// In is the condition that column is one of the list list: a parameter
	// that List encodes, or a column of such lists.
	In   func(column, list string) string
	List func(xs []string) any
	// Later is the time micros (an SQL expression) microseconds after now().
	Later func(micros string) string
	// InSubquery is the condition that column is one of the values the
	// subquery selects, planned as lookups of those values: a batch delete
	// by primary key.
	InSubquery func(column, subquery string) string
	// ForUpdate ends a SELECT of rows that the statement or transaction goes
	// on to write; SkipLocked does too, passing over rows another writer
	// holds; SkipLockedOf does for the rows of one table of a join, by its
	// alias.
	ForUpdate, SkipLocked string
	SkipLockedOf          func(alias string) string
	// Snapshot begins a read transaction that reads one snapshot.
	Snapshot *sql.TxOptions
	// Lazy, run first in a write transaction, lets its commit return before
	// its writes are durable, for writes that a crash may undo because they
	// are done again (retention's deletes): their commits then add no flush
	// of the write-ahead log, which the commits of the trigger path would
	// wait behind. Empty where a commit costs no such flush to others.
	Lazy string
	// DefinitionSize is the encoded size in bytes of d.definition.
	DefinitionSize string
	// InsertRows is the FROM clause of a batch of executions to insert
	// (see insertExecutionsSQL), whose parameters InsertArgs encodes.
	InsertRows string
	InsertArgs func(es []workflow.Execution) []any
	// TransitionRows is the FROM clause of a batch of transitions, ts[i] of
	// execution ids[i] (see transitionsSQL), whose parameters from $2 on
	// TransitionArgs encodes; $1 is List(ids).
	TransitionRows string
	TransitionArgs func(ids []string, ts []store.Transition) []any
	// RenewLeases is Store.RenewLeases on ids, which are UUIDs.
	RenewLeases func(ctx context.Context, db *sqlx.DB, owner string, ids []string, lease time.Duration) (lost []string, err error)
	// Kind is the kind of an error of the database: Unavailable when it
	// cannot serve now, Aborted for a conflict with another writer, Invalid
	// for data it refused, Internal for anything else.
	Kind func(err error) errors.Kind
	// Unique returns the unique index err violates, and the value it names
	// when the database says; ok is false for any other error, nil included.
	Unique func(err error) (index, value string, ok bool)
}

// Names of the unique indexes whose violations the store turns into errors
// of its own, the same in both schemas; the turn's and the slots' are the
// primary keys of their tables, named after the indexes they replaced
// (migration 00021).
const (
	ActiveDeploymentIndex = "deployments_one_active_per_workflow"
	WebhookPathIndex      = "deployment_triggers_active_webhook_path_key"
	TurnIndex             = "executions_workflow_turn_key"
	SlotIndex             = "executions_workflow_slot_key"
)

// Store is a store.Store on an SQL database. It is safe for concurrent use.
type Store struct {
	d Dialect
	// w writes; r reads. They are one pool unless the database has a single
	// writer (SQLite), whose readers run beside it.
	w, r *sqlx.DB
	// inserts and transitions are the group commits of the hot writes.
	inserts     *group[workflow.Execution, workflow.Execution]
	transitions *group[transition, *workflow.Execution]
	// The statements made of the dialect's parts, made once.
	insertSQL, transitionSQL, adoptSQL string
	retrySQL, claimSQL                 string
	// The group commits' statements, prepared on each connection.
	insertStmt, transitionStmt *prepared
}

var (
	_ store.Store           = (*Store)(nil)
	_ store.MonitoringStore = (*Store)(nil)
	_ store.SlotStore       = (*Store)(nil)
	_ store.RetentionStore  = (*Store)(nil)
)

// New returns a Store on the pools w (writes) and r (reads), which may be
// the same; Close closes them.
func New(d Dialect, w, r *sqlx.DB) *Store {
	s := &Store{d: d, w: w, r: r}
	s.insertSQL, s.transitionSQL, s.adoptSQL = insertExecutionsSQL(d), transitionsSQL(d), adoptSQL(d)
	s.retrySQL, s.claimSQL = retrySQL(d), claimSQL(d)
	s.insertStmt, s.transitionStmt = newPrepared(w, s.insertSQL), newPrepared(w, s.transitionSQL)
	s.inserts = newGroup(s, "insertExecutions", s.insertExecutions, nil)
	s.transitions = newGroup(s, "transitionExecutions", s.transitionExecutions,
		func(a, b transition) bool { return a.id == b.id })
	return s
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.fail("Ping", &err)
	if err := s.w.PingContext(ctx); err != nil {
		return err
	}
	return s.r.PingContext(ctx)
}

// Close waits for the batches in flight and closes the pools.
func (s *Store) Close() error {
	s.inserts.close()
	s.transitions.close()
	// The pools close their connections, and with them the statements
	// prepared on them, whatever these answer.
	_ = s.insertStmt.close()
	_ = s.transitionStmt.close()
	if s.r == s.w {
		return s.w.Close()
	}
	rerr := s.r.Close()
	if err := s.w.Close(); err != nil {
		return err
	}
	return rerr
}

// inTx runs f in a write transaction, committing when it returns nil. f
// gets the transaction's time, the database's now(): the time of every row
// the transaction stamps.
func (s *Store) inTx(ctx context.Context, f func(tx *sqlx.Tx, now time.Time) error) error {
	tx, err := s.w.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer rollback(tx)
	var now dbTime
	if err := tx.GetContext(ctx, &now, `SELECT now()`); err != nil {
		return fmt.Errorf("now: %w", err)
	}
	if err := f(tx, now.t); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// snapshot begins a read transaction on one snapshot; rollback ends it.
func (s *Store) snapshot(ctx context.Context) (*sqlx.Tx, error) {
	tx, err := s.r.BeginTxx(ctx, s.d.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return tx, nil
}

// rollback rolls tx back, ignoring the error of an already finished
// transaction: it is deferred after every Begin.
func rollback(tx *sqlx.Tx) { _ = tx.Rollback() }

// begin starts the span of the store call op, a client span named for the
// database and the call ("postgres.GetDeployment"): one per call rather than
// per statement, since a call is the unit a trace reader thinks in and its
// statements are the store's business. The function it returns, deferred,
// gives the call's error its kind (see fail) and ends the span. Ping is not
// traced, so that health checks do not fill traces.
func (s *Store) begin(ctx context.Context, op string) (context.Context, func(err *error)) {
	ctx, span := s.span(ctx, op)
	return ctx, func(err *error) {
		s.fail(op, err)
		tracing.EndSpan(span, *err)
	}
}

// span starts a client span of the database operation op.
func (s *Store) span(ctx context.Context, op string) (context.Context, trace.Span) {
	ctx, span := tracing.StartSpan(ctx, s.d.Name+"."+op, trace.SpanKindClient)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("db.system.name", s.d.System), attribute.String("db.operation.name", op))
	}
	return ctx, span
}

// fail gives a failed call's error its kind, deferred by every method:
// the kind of the sentinel or typed error in its chain, or of what the
// database said. The sentinels stay in the chain, and an error of a database
// that cannot serve, or of a conflict with another writer, gets
// store.ErrUnavailable or store.ErrConcurrentChange added, so that errors.Is
// answers as it did before kinds.
func (s *Store) fail(op string, err *error) {
	if *err == nil {
		return
	}
	kind := s.kind(*err)
	switch {
	case kind == errors.Unavailable && !errors.Is(*err, store.ErrUnavailable) && !contextDone(*err):
		*err = fmt.Errorf("%w: %w", store.ErrUnavailable, *err)
	case kind == errors.Aborted && !errors.Is(*err, store.ErrConcurrentChange):
		*err = fmt.Errorf("%w: %w", store.ErrConcurrentChange, *err)
	}
	*err = errors.E(errors.Op(s.d.Name+"."+op), kind, *err)
}

// kind is the kind fail gives err.
func (s *Store) kind(err error) errors.Kind {
	var (
		kinded *errors.Error
		active *store.ActiveDeploymentError
		path   *store.WebhookPathError
	)
	switch {
	case errors.As(err, &kinded):
		return kinded.Kind
	case errors.Is(err, store.ErrNotFound):
		return errors.NotFound
	case errors.Is(err, store.ErrBadCursor):
		return errors.Invalid
	// A transition whose row is not as expected is what API.md calls an
	// illegal status transition; unlike a conflict (Aborted), the same
	// request will not succeed again.
	case errors.Is(err, store.ErrStale):
		return errors.FailedPrecondition
	case errors.As(err, &active), errors.As(err, &path):
		return errors.AlreadyExists
	case errors.Is(err, store.ErrConcurrentChange):
		return errors.Aborted
	case errors.Is(err, store.ErrUnavailable), contextDone(err), unreachable(err):
		return errors.Unavailable
	}
	return s.d.Kind(err)
}

func contextDone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// unreachable reports a connection that failed or was lost, whatever the
// database.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// named says what was not found ("deployment d-1 not found"), deferred
// after begin's function so that it runs first.
func named(err *error, what string) {
	if errors.Is(*err, store.ErrNotFound) {
		*err = fmt.Errorf("%s %w", what, store.ErrNotFound)
	}
}

// notFound maps "no row" to store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// canonicalIDs keeps the ids that are UUIDs, in canonical form, and returns
// the others apart: they name no row, and must not reach a statement.
func canonicalIDs(ids []string) (valid, invalid []string) {
	valid = make([]string, 0, len(ids))
	for _, id := range ids {
		if c, ok := store.CanonicalID(id); ok {
			valid = append(valid, c)
		} else {
			invalid = append(invalid, id)
		}
	}
	return valid, invalid
}
