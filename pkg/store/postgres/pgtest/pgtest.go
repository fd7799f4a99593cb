// Package pgtest gives integration tests a PostgreSQL database of their own.
//
// Every database is created for one test, named wfr_test_<random hex>, and
// dropped when the test ends, so tests may run in parallel, in any package,
// without seeing each other's rows. The server is the one at
// WFR_TEST_ADMIN_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), reached as a
// role that may create databases. Under -short the tests are skipped.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
)

// AdminURLEnv names the environment variable holding the admin database URL.
const AdminURLEnv = "WFR_TEST_ADMIN_DATABASE_URL"

// DefaultAdminURL is the admin database used when AdminURLEnv is unset.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DatabasePrefix starts the name of every database pgtest creates.
const DatabasePrefix = "wfr_test_"

// timeout bounds each administrative statement and each migration.
const timeout = time.Minute

var admin = sync.OnceValues(func() (*sql.DB, error) {
	db, err := sql.Open("postgres", AdminURL())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	return db, nil
})

// AdminURL returns the URL of the admin database.
func AdminURL() string {
	if u := os.Getenv(AdminURLEnv); u != "" {
		return u
	}
	return DefaultAdminURL
}

// NewDatabase creates an empty database for t, drops it (closing any
// connection left open) when t ends, and returns its URL. It skips t under
// -short.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: skipping PostgreSQL integration test in -short mode")
	}
	base, err := url.Parse(AdminURL())
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL, got %q", AdminURLEnv, AdminURL())
	}
	db, err := admin()
	if err != nil {
		t.Fatalf("pgtest: open admin database: %v", err)
	}

	var b [8]byte
	_, _ = rand.Read(b[:])
	name := DatabasePrefix + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	u := *base
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// NewStore returns a store over a fresh, migrated database of t's own; the
// store is closed and the database dropped when t ends. It skips t under
// -short.
func NewStore(t testing.TB) *postgres.Store {
	t.Helper()
	dbURL := NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	Migrate(t, dbURL)
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Clock moves the clock of one database: the now() its statements read is
// the server's clock plus a shift that the test sets, so that a test can
// put the database's clock ahead of or behind its own, or move it on
// instead of waiting.
type Clock struct{ db *sql.DB }

// clockSQL puts a now() of its own first on the database's search path,
// ahead of pg_catalog's, reading its shift from a table.
const clockSQL = `
CREATE SCHEMA pgtest_clock;
CREATE TABLE pgtest_clock.shift (d interval NOT NULL);
INSERT INTO pgtest_clock.shift VALUES ('0');
CREATE FUNCTION pgtest_clock.now() RETURNS timestamptz LANGUAGE sql STABLE
	AS 'SELECT pg_catalog.now() + (SELECT d FROM pgtest_clock.shift)';
DO $$ BEGIN
	EXECUTE format('ALTER DATABASE %I SET search_path = pgtest_clock, "$user", public, pg_catalog', current_database());
END $$`

// NewStoreWithClock is NewStore on a database whose clock the returned
// Clock moves.
func NewStoreWithClock(t testing.TB) (*postgres.Store, *Clock) {
	t.Helper()
	dbURL := NewDatabase(t)
	Migrate(t, dbURL)
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", dbURL, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, clockSQL); err != nil {
		t.Fatalf("pgtest: clock: %v", err)
	}
	// Sessions read the search path when they start: the store's, opened
	// now, read the clock.
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, &Clock{db: db}
}

// Set makes the database's clock run d ahead of the server's (behind, for
// a negative d).
func (c *Clock) Set(t testing.TB, d time.Duration) {
	t.Helper()
	if _, err := c.db.ExecContext(t.Context(), `UPDATE pgtest_clock.shift SET d = $1 * interval '1 microsecond'`, d.Microseconds()); err != nil {
		t.Fatalf("pgtest: set clock: %v", err)
	}
}

// Migrate applies every migration to the database at dbURL.
func Migrate(t testing.TB, dbURL string) {
	t.Helper()
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", dbURL, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := migrations.Up(ctx, db); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}
