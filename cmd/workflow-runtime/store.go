package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
)

// Files of the embedded database in WFR_DATA_DIR.
const (
	sqliteFile = "workflow-runtime.db"
	lockFile   = "workflow-runtime.lock"
)

// storeBackend is what serve needs of a store, whichever database it is.
type storeBackend interface {
	store.Store
	// MonitoringStore's UnfinishedByStatus also feeds the unfinished
	// executions gauge.
	store.MonitoringStore
	// SlotStore keeps the account of every cron slot.
	store.SlotStore
	store.BackfillStore
	// CatchUpStore keeps the catch-up plans the replicas share.
	store.CatchUpStore
	// RetentionStore removes expired history under a lease row.
	store.RetentionStore
	// BacklogStore counts the backlog that bounds triggers.
	store.BacklogStore
}

// openedStore is the store serve runs on.
type openedStore struct {
	storeBackend
	release func()
}

// traced returns the store for the services, which traces each call itself.
func (s *openedStore) traced() storeBackend { return s.storeBackend }

// close closes the store and then gives up what it held.
func (s *openedStore) close() {
	_ = s.Close()
	s.release()
}

// openStore opens PostgreSQL at WFR_DATABASE_URL and migrates it unless
// --no-migrate, or, without a URL, the embedded SQLite database in
// WFR_DATA_DIR, which it keeps to this process with a lock file. It logs
// which, in one line. This is the one place that knows the concrete stores.
func openStore(ctx context.Context, cfg config.Config, logger log.Logger) (*openedStore, error) {
	if cfg.DatabaseURL == "" {
		return openSQLite(ctx, cfg.DataDir, logger)
	}
	octx, cancel := context.WithTimeout(ctx, startTimeout)
	st, err := postgres.Open(octx, cfg.DatabaseURL, cfg.DBMaxConns)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	level.Info(logger).Log("msg", "database: PostgreSQL "+cfg.Redacted().DatabaseURL)
	if cfg.NoMigrate {
		level.Info(logger).Log("msg", "migrations skipped (--no-migrate)")
	} else {
		if err := migrations.Up(ctx, st.DB().DB); err != nil {
			st.Close()
			return nil, fmt.Errorf("migrations: %w", err)
		}
		level.Info(logger).Log("msg", "migrations applied")
	}
	return &openedStore{storeBackend: st, release: func() {}}, nil
}

// openSQLite opens the embedded database in dir, which no other process may
// have open: the store's locks and change announcements stay in this
// process.
func openSQLite(ctx context.Context, dir string, logger log.Logger) (*openedStore, error) {
	release, err := lockDataDir(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, sqliteFile)
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		release()
		return nil, fmt.Errorf("database: embedded SQLite %s: %w", path, err)
	}
	// Holding the lock proves that the process that had the database before
	// is gone: its executions are adopted at start, not a lease later.
	ended, err := st.EndLeases(ctx)
	if err != nil {
		_ = st.Close()
		release()
		return nil, fmt.Errorf("database: embedded SQLite %s: %w", path, err)
	}
	if ended > 0 {
		level.Info(logger).Log("msg", "executions of the previous process are taken over", "executions", ended)
	}
	level.Info(logger).Log("msg", "database: embedded SQLite "+path+" (one replica); set WFR_DATABASE_URL=postgres://user@host:5432/workflow_runtime?sslmode=disable for PostgreSQL")
	return &openedStore{storeBackend: st, release: release}, nil
}
