// Package migrations holds workflow-runtime's schemas as numbered goose SQL
// files embedded into the binary: PostgreSQL's at the top level, run under a
// PostgreSQL session advisory lock so that replicas starting together migrate
// once, and embedded mode's SQLite schema in sqlite/, a history of its own.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

//go:embed sqlite/*.sql
var sqliteFiles embed.FS

// Files returns PostgreSQL's migration files, for tests that key a migrated
// template database on them (pgtest).
func Files() fs.FS { return files }

// ErrNothingToRollBack is returned by Down when no migration is applied.
var ErrNothingToRollBack = errors.New("migrations: no migration to roll back")

// Lock polling: a replica waiting for another one's migrations retries every
// second for up to five minutes.
const (
	lockPeriodSeconds   = 1
	lockAttempts        = 300
	unlockPeriodSeconds = 1
	unlockAttempts      = 60
)

// newProvider returns a goose provider over the embedded files that holds a
// PostgreSQL session advisory lock while it changes the schema. Only the
// embedded SQL files are used: Go migrations registered globally by other
// packages are ignored.
func newProvider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockTimeout(lockPeriodSeconds, lockAttempts),
		lock.WithUnlockTimeout(unlockPeriodSeconds, unlockAttempts),
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: session locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: provider: %w", err)
	}
	return p, nil
}

// newSQLiteProvider returns a goose provider over the embedded SQLite files.
// It takes no lock: SQLite runs one writer at a time, and each migration is
// one transaction.
func newSQLiteProvider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(sqliteFiles, "sqlite")
	if err != nil {
		return nil, fmt.Errorf("migrations: sqlite files: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: sqlite provider: %w", err)
	}
	return p, nil
}

// Up applies every pending migration. It is a no-op on an up-to-date schema.
func Up(ctx context.Context, db *sql.DB) error {
	return up(ctx, db, newProvider)
}

// UpSQLite is Up for an embedded-mode SQLite database.
func UpSQLite(ctx context.Context, db *sql.DB) error {
	return up(ctx, db, newSQLiteProvider)
}

func up(ctx context.Context, db *sql.DB, provider func(*sql.DB) (*goose.Provider, error)) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: up: %w", err)
	}
	return nil
}

// Down rolls back the most recently applied migration, one version only. It
// returns ErrNothingToRollBack when no migration is applied.
func Down(ctx context.Context, db *sql.DB) error {
	return down(ctx, db, newProvider)
}

// DownSQLite is Down for an embedded-mode SQLite database.
func DownSQLite(ctx context.Context, db *sql.DB) error {
	return down(ctx, db, newSQLiteProvider)
}

func down(ctx context.Context, db *sql.DB, provider func(*sql.DB) (*goose.Provider, error)) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	if _, err := p.Down(ctx); err != nil {
		if errors.Is(err, goose.ErrNoNextVersion) {
			return ErrNothingToRollBack
		}
		return fmt.Errorf("migrations: down: %w", err)
	}
	return nil
}

// Status writes one line per known migration to w, in version order: the
// version, the migration's name and the time it was applied (UTC, RFC 3339)
// or "pending".
func Status(ctx context.Context, db *sql.DB, w io.Writer) error {
	return status(ctx, db, w, newProvider)
}

// StatusSQLite is Status for an embedded-mode SQLite database.
func StatusSQLite(ctx context.Context, db *sql.DB, w io.Writer) error {
	return status(ctx, db, w, newSQLiteProvider)
}

func status(ctx context.Context, db *sql.DB, w io.Writer, provider func(*sql.DB) (*goose.Provider, error)) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	statuses, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrations: status: %w", err)
	}
	for _, s := range statuses {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = s.AppliedAt.UTC().Format(time.RFC3339)
		}
		if _, err := fmt.Fprintf(w, "%05d  %-36s  %s\n", s.Source.Version, name(s.Source.Path), applied); err != nil {
			return fmt.Errorf("migrations: status: %w", err)
		}
	}
	return nil
}

// name returns a migration's name: its file name without the version prefix
// and the extension ("00002_workflow_deployment_status.sql" →
// "workflow_deployment_status").
func name(file string) string {
	n := strings.TrimSuffix(path.Base(file), ".sql")
	if _, rest, ok := strings.Cut(n, "_"); ok {
		return rest
	}
	return n
}
