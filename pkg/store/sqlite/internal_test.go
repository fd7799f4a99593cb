package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// openStore opens a store on a new file, closed when t ends.
func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wfr.db")
	s, err := Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, path
}

// pool opens a pool of one connection to path with params, closed when t
// ends.
func pool(t *testing.T, path, params string) *sqlx.DB {
	t.Helper()
	db, err := openPool(context.Background(), path, params, 1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestPragmas checks the settings the store's durability and concurrency
// rest on, on a connection of each pool.
func TestPragmas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, path := openStore(t)
	w, r := pool(t, path, writerParams), pool(t, path, readerParams)
	for _, tc := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{w.DB, "journal_mode", "wal"},
		{w.DB, "synchronous", "2"}, // FULL
		{w.DB, "foreign_keys", "1"},
		{w.DB, "busy_timeout", "5000"},
		{w.DB, "query_only", "0"},
		{r.DB, "journal_mode", "wal"},
		{r.DB, "foreign_keys", "1"},
		{r.DB, "busy_timeout", "5000"},
		{r.DB, "query_only", "1"},
	} {
		var got string
		require.NoError(t, tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got))
		require.Equal(t, tc.want, got, "%s", tc.pragma)
	}
	var now int64
	require.NoError(t, r.GetContext(ctx, &now, "SELECT now()"))
	require.InDelta(t, time.Now().UnixMicro(), now, float64(time.Minute.Microseconds()), "now() is the clock, in microseconds")
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

// TestKind provokes the SQLite errors the store classifies: a write lock
// held by another connection (Unavailable: busy), a transaction whose
// snapshot another writer made stale (Aborted), and a value a constraint
// refuses (Invalid).
func TestKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wfr.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	holder, other := rawDB(t, path), rawDB(t, path)

	tx, err := holder.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "UPDATE workflows SET name = name")
	require.NoError(t, err)
	_, busy := other.ExecContext(ctx, "UPDATE workflows SET name = name")
	require.NoError(t, tx.Rollback())

	otx, err := other.BeginTx(ctx, nil)
	require.NoError(t, err)
	var n int
	require.NoError(t, otx.QueryRowContext(ctx, "SELECT count(*) FROM workflows").Scan(&n))
	_, err = holder.ExecContext(ctx, "INSERT INTO workflows (id, name, definition, created_at, updated_at) VALUES ('w', 'w', '{}', 0, 0)")
	require.NoError(t, err)
	_, stale := otx.ExecContext(ctx, "UPDATE workflows SET name = name")
	require.NoError(t, otx.Rollback())

	_, check := holder.ExecContext(ctx, "UPDATE workflows SET deployment_status = 'LIVE'")
	_, strict := holder.ExecContext(ctx, "UPDATE workflows SET created_at = 'noon'")
	_, syntax := holder.ExecContext(ctx, "UPDATE nothing")
	for _, tc := range []struct {
		name string
		err  error
		want errors.Kind
	}{
		{"busy", busy, errors.Unavailable},
		{"stale snapshot", stale, errors.Aborted},
		{"check constraint", check, errors.Invalid},
		{"strict column", strict, errors.Invalid},
		{"no such table", syntax, errors.Internal},
	} {
		require.Error(t, tc.err, tc.name)
		require.Equal(t, tc.want, kind(tc.err), "%s: %v", tc.name, tc.err)
	}
}

// TestListExecutionsUsesIndexes checks the plans of the listings: each
// walks the index that matches its filter in the page's order, and sorts at
// most the few rows of a page.
func TestListExecutionsUsesIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := openStore(t)
	r := pool(t, path, readerParams)
	const someID = "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"
	for _, tc := range []struct {
		f     workflow.ExecutionFilter
		index string
	}{
		{workflow.ExecutionFilter{}, "SCAN executions USING INDEX executions_fired_time_idx"},
		{workflow.ExecutionFilter{Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed}, From: time.Now()},
			"SEARCH executions USING INDEX executions_fired_time_idx (fired_time>?)"},
		{workflow.ExecutionFilter{DeploymentID: someID, After: store.EncodeCursor(time.Now(), someID)},
			"SEARCH executions USING INDEX executions_deployment_fired_idx (deployment_id=? AND fired_time<?)"},
		{workflow.ExecutionFilter{WorkflowID: "wf-1"},
			"SEARCH executions USING INDEX executions_workflow_status_fired_idx (workflow_id=? AND status=?)"},
		{workflow.ExecutionFilter{WorkflowID: "wf-1", Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed}, To: time.Now()},
			"SEARCH executions USING INDEX executions_workflow_status_fired_idx (workflow_id=? AND status=? AND fired_time<?)"},
	} {
		query, args, _, err := s.ListExecutionsStatement(tc.f)
		require.NoError(t, err)
		var steps []struct {
			ID      int    `db:"id"`
			Parent  int    `db:"parent"`
			NotUsed int    `db:"notused"`
			Detail  string `db:"detail"`
		}
		require.NoError(t, r.SelectContext(ctx, &steps, "EXPLAIN QUERY PLAN "+query, args...))
		plan := make([]string, len(steps))
		for i, step := range steps {
			plan[i] = step.Detail
		}
		text := strings.Join(plan, "\n")
		require.Contains(t, plan, tc.index, "%+v:\n%s", tc.f, text)
		for _, step := range plan {
			require.False(t, strings.HasPrefix(step, "SCAN executions") && step != tc.index, "%+v:\n%s", tc.f, text)
		}
		if tc.f.WorkflowID == "" {
			require.NotContains(t, text, "TEMP B-TREE", "%+v: a sort of the whole range", tc.f)
		}
	}
}
