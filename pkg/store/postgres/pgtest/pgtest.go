// Package pgtest gives integration tests a PostgreSQL database of their own.
//
// Every database is created for one test, named wfr_test_<random hex>, and
// dropped when the test ends, so tests may run in parallel, in any package,
// without seeing each other's rows. The server is the one at
// WFR_TEST_ADMIN_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), reached as a
// role that may create databases. Under -short the tests are skipped.
//
// A store's database is a copy (CREATE DATABASE … TEMPLATE) of a database
// migrated once: copying files is much quicker than running every migration
// for each of the hundreds of databases a test run makes. The template is
// named after a hash of the migrations, wfr_template_<hex>, so that a checkout
// with other migrations makes its own; it stays on the server for later runs.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
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

// storeConns is the pool size of a test's store: a replica's default
// (WFR_DB_MAX_CONNS), so that tests see the concurrency a replica has.
const storeConns = 20

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
	return newDatabase(t, "template0")
}

// newDatabase creates a copy of template for t, as NewDatabase does.
func newDatabase(t testing.TB, template string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: skipping PostgreSQL integration test in -short mode")
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
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" TEMPLATE "+pq.QuoteIdentifier(template)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return databaseURL(t, name)
}

// databaseURL returns the URL of the database name on the admin server.
func databaseURL(t testing.TB, name string) string {
	t.Helper()
	base, err := url.Parse(AdminURL())
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL, got %q", AdminURLEnv, AdminURL())
	}
	u := *base
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// newMigratedDatabase is NewDatabase with every migration applied: a copy
// of the template.
func newMigratedDatabase(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: skipping PostgreSQL integration test in -short mode")
	}
	name, err := template(t)
	if err != nil {
		t.Fatalf("pgtest: template database: %v", err)
	}
	return newDatabase(t, name)
}

// templateOnce makes the template at most once per test process.
var templateOnce struct {
	sync.Mutex
	name string
}

// template returns the name of the migrated template database, making it
// if no test run has. Test processes of several packages start together:
// an advisory lock lets one make it, and the others wait and use it. It is
// migrated under a name of its own, then renamed, so that the name only
// ever holds a whole schema, and closed to connections, which would make
// copies of it fail.
func template(t testing.TB) (string, error) {
	t.Helper()
	templateOnce.Lock()
	defer templateOnce.Unlock()
	if templateOnce.name != "" {
		return templateOnce.name, nil
	}
	sum := sha256.New()
	err := fs.WalkDir(migrations.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.Files(), path)
		fmt.Fprintf(sum, "%s %d\n", path, len(b))
		sum.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "wfr_template_" + hex.EncodeToString(sum.Sum(nil)[:8])

	db, err := admin()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// The lock is the session's: it ends with the connection if this
	// process dies while making the template.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext($1))`, name); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext($1))`, name) //nolint:errcheck // the session's end releases it too
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if err := makeTemplate(ctx, t, conn, name); err != nil {
			return "", err
		}
	}
	templateOnce.name = name
	return name, nil
}

// makeTemplate migrates a new database and renames it name.
func makeTemplate(ctx context.Context, t testing.TB, conn *sql.Conn, name string) error {
	t.Helper()
	building := name + "_building"
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(building)+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(building)); err != nil {
		return err
	}
	db, err := sql.Open("postgres", databaseURL(t, building))
	if err != nil {
		return err
	}
	err = migrations.Up(ctx, db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, stmt := range []string{
		"ALTER DATABASE " + pq.QuoteIdentifier(building) + " WITH ALLOW_CONNECTIONS false",
		"ALTER DATABASE " + pq.QuoteIdentifier(building) + " RENAME TO " + pq.QuoteIdentifier(name),
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// NewStore returns a store over a fresh, migrated database of t's own; the
// store is closed and the database dropped when t ends. It skips t under
// -short.
func NewStore(t testing.TB) *postgres.Store {
	t.Helper()
	dbURL := newMigratedDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := postgres.Open(ctx, dbURL, storeConns)
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
	dbURL := newMigratedDatabase(t)
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
	s, err := postgres.Open(ctx, dbURL, storeConns)
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
