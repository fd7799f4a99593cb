package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// TestPragmas checks the settings the store's durability and concurrency
// rest on, on the connections of each pool.
func TestPragmas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "wfr.db"))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	for _, tc := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w.DB, "journal_mode", "wal"},
		{s.w.DB, "synchronous", "2"}, // FULL
		{s.w.DB, "foreign_keys", "1"},
		{s.w.DB, "busy_timeout", "5000"},
		{s.w.DB, "query_only", "0"},
		{s.r.DB, "journal_mode", "wal"},
		{s.r.DB, "foreign_keys", "1"},
		{s.r.DB, "busy_timeout", "5000"},
		{s.r.DB, "query_only", "1"},
	} {
		var got string
		require.NoError(t, tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got))
		require.Equal(t, tc.want, got, "%s", tc.pragma)
	}
	require.Equal(t, 1, s.w.Stats().MaxOpenConnections)
}

// rawDB opens path without the store's busy timeout, so that a lock held
// elsewhere fails at once.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_busy_timeout=0")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestClassify provokes the SQLite errors the store classifies: a write
// lock held by another connection (unavailable: busy), and a transaction
// whose snapshot another writer made stale (a concurrent change).
func TestClassify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wfr.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	holder, other := rawDB(t, path), rawDB(t, path)

	// Busy: holder keeps the write lock.
	tx, err := holder.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "UPDATE workflows SET name = name")
	require.NoError(t, err)
	_, busy := other.ExecContext(ctx, "UPDATE workflows SET name = name")
	require.Error(t, busy)
	require.NoError(t, tx.Rollback())

	// Stale snapshot: other reads, holder writes, other tries to write.
	otx, err := other.BeginTx(ctx, nil)
	require.NoError(t, err)
	var n int
	require.NoError(t, otx.QueryRowContext(ctx, "SELECT count(*) FROM workflows").Scan(&n))
	_, err = holder.ExecContext(ctx, "INSERT INTO workflows (id, name, definition, created_at, updated_at) VALUES ('w', 'w', '{}', 0, 0)")
	require.NoError(t, err)
	_, stale := otx.ExecContext(ctx, "UPDATE workflows SET name = name")
	require.Error(t, stale)
	require.NoError(t, otx.Rollback())

	for _, tc := range []struct {
		name              string
		err               error
		unavailable, conc bool
	}{
		{"nil stays nil", nil, false, false},
		{"busy", busy, true, false},
		{"stale snapshot", stale, false, true},
		{"bad connection", driver.ErrBadConn, true, false},
		{"connection done", sql.ErrConnDone, true, false},
		{"no row", store.ErrNotFound, false, false},
		{"other", errors.New("syntax"), false, false},
	} {
		err := tc.err
		classify(&err)
		require.Equal(t, tc.unavailable, errors.Is(err, store.ErrUnavailable), "%s: %v", tc.name, err)
		require.Equal(t, tc.conc, errors.Is(err, store.ErrConcurrentChange), "%s: %v", tc.name, err)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, tc.name)
		}
		before := err
		classify(&err)
		require.Equal(t, before, err, "%s: classified twice", tc.name)
	}
}
