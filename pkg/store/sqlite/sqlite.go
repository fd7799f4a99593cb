// Package sqlite implements store.Store on an embedded SQLite file with
// modernc.org/sqlite (pure Go, no cgo): embedded mode, when the service runs
// without PostgreSQL.
//
// The schema is the SQLite one in the migrations package, which Open
// applies. Each method's SQL is a named constant beside it; nothing is built
// from user input. Semantics and errors are those of pkg/store/postgres.
//
// SQLite runs one writer at a time. The store writes through a pool of a
// single connection, so its writers queue in the process, in order, instead
// of failing with SQLITE_BUSY, and every write transaction is serial: what
// PostgreSQL gets from row locks, SKIP LOCKED and the workflows-row lock, a
// transaction gets here from being alone. Reads go through a pool of
// read-only connections, which WAL lets run beside the writer, each
// statement (or read transaction) on one snapshot.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// Connection settings, as modernc.org/sqlite DSN parameters.
//
// Both pools wait up to busyTimeout for a lock another process holds (a
// migrate command, a backup) before SQLITE_BUSY. WAL lets readers run beside
// the writer. synchronous=FULL syncs the WAL at every commit: a store whose
// CreateExecution returned true has the row even after a power cut, as with
// PostgreSQL; NORMAL would keep it through a crash of the process but could
// lose the last commits to a crash of the machine, and the idempotency and
// cron-slot guards are only as good as the rows they find. The writer begins
// its transactions IMMEDIATE, taking the write lock at BEGIN, so that a
// transaction that reads first never fails to upgrade its lock. Readers are
// query_only: a write sent to them by mistake fails instead of racing the
// writer.
const (
	busyTimeout  = 5 * time.Second
	writerParams = "_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1&_txlock=immediate"
	readerParams = "_foreign_keys=1&_query_only=1"
	readConns    = 4
)

// Store is a store.Store backed by an SQLite file. It is safe for concurrent use.
type Store struct {
	// w is the one connection that writes; r are the readers.
	w, r *sqlx.DB
}

var (
	_ store.Store           = (*Store)(nil)
	_ store.MonitoringStore = (*Store)(nil)
)

// Open opens the SQLite database at path, creating the file and its
// directory when they do not exist, applies the SQLite migrations and
// returns the store.
func Open(ctx context.Context, path string) (_ *Store, err error) {
	defer classify(&err)
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	// The driver reads DSN parameters after the first "?".
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite: open %s: the path must not contain \"?\"", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w, err := openPool(ctx, path, writerParams, 1)
	if err != nil {
		return nil, err
	}
	if err := migrations.UpSQLite(ctx, w.DB); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r, err := openPool(ctx, path, readerParams, readConns)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	return &Store{w: w, r: r}, nil
}

// openPool opens a pool of up to conns connections to path and pings it.
// Idle connections stay open: an SQLite connection is cheap to keep and
// reopening one re-reads the schema.
func openPool(ctx context.Context, path, params string, conns int) (*sqlx.DB, error) {
	dsn := fmt.Sprintf("%s?_busy_timeout=%d&%s", path, busyTimeout.Milliseconds(), params)
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// Ping checks that the database answers, to both pools.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer classify(&err)
	for _, db := range []*sqlx.DB{s.w, s.r} {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("sqlite: ping: %w", err)
		}
	}
	return nil
}

// Close closes both pools; the last one closed checkpoints the WAL into the
// database file.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// deploymentFilter is the parameter of a listing by an optional deployment
// id: nil for all, the id in canonical form for one; false for an id that is
// not a UUID, which names no deployment.
func deploymentFilter(id string) (any, bool) {
	if id == "" {
		return nil, true
	}
	return store.CanonicalID(id)
}

// notFound maps "no row" to store.ErrNotFound and wraps any other error with op.
func notFound(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// code returns err's SQLite extended result code, or 0.
func code(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// uniqueViolation reports whether err is a unique violation of the index on
// columns, as SQLite names them in its message, which the driver ends with
// the code: "UNIQUE constraint failed: deployments.workflow_id (2067)".
func uniqueViolation(err error, columns string) bool {
	return code(err) == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(err.Error(), "failed: "+columns+" (")
}

// classify adds store.ErrUnavailable to an error that says the database
// cannot serve now, and store.ErrConcurrentChange to a transaction that lost
// its snapshot to another writer, as opposed to an error about the request.
func classify(err *error) {
	switch {
	case *err == nil || errors.Is(*err, store.ErrUnavailable) || errors.Is(*err, store.ErrConcurrentChange):
	case code(*err) == sqlite3.SQLITE_BUSY_SNAPSHOT:
		*err = fmt.Errorf("%w: %w", store.ErrConcurrentChange, *err)
	case unavailable(*err):
		*err = fmt.Errorf("%w: %w", store.ErrUnavailable, *err)
	}
}

// unavailable reports a lost connection or a database that cannot serve:
// locked by another process past the busy timeout, out of memory or disk,
// failing to read or write its file, or unable to open it.
func unavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	switch code(err) & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// inTx runs f in a write transaction, committing when it returns nil. f
// gets the transaction's time, read once the write lock is held: the
// "now" of every row the transaction stamps, as PostgreSQL's now() is.
func (s *Store) inTx(ctx context.Context, f func(tx *sqlx.Tx, now int64) error) error {
	tx, err := s.w.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer rollback(tx)
	if err := f(tx, micros(time.Now())); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rollback rolls tx back, ignoring the error of an already finished
// transaction: it is deferred after every Begin.
func rollback(tx *sqlx.Tx) { _ = tx.Rollback() }
