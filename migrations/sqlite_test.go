package migrations_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/workflow-runtime/workflow-runtime/migrations"
)

var sqliteNames = []string{"workflows", "deployments", "executions", "deployment_versions", "missed_slots", "backfills", "execution_policies", "version_history", "actors", "catchups_and_backfill_bounds", "retention", "deployments_updated_at", "unfinished_by_owner", "execution_queue", "turns_and_slots"}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "wfr.db")+"?_foreign_keys=1")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// sqliteSchema lists the schema's tables and indexes as SQLite stores them,
// minus goose's bookkeeping table and SQLite's own.
func sqliteSchema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	return texts(t, db, `
SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema
WHERE tbl_name <> 'goose_db_version' AND name NOT LIKE 'sqlite_%'
ORDER BY 1`)
}

func checkSQLiteStatus(t *testing.T, db *sql.DB, applied int) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, migrations.StatusSQLite(context.Background(), db, &buf))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, len(sqliteNames), "status:\n%s", buf.String())
	for i, l := range lines {
		m := statusLine.FindStringSubmatch(l)
		require.NotNil(t, m, "status line %q", l)
		require.Equal(t, sqliteNames[i], m[2], "line %d", i)
		require.Equal(t, i >= applied, m[3] == "pending", "with %d applied, line %q", applied, l)
	}
}

// TestSQLiteUpDownUp applies the SQLite set, rolls it back one migration
// at a time to nothing, and applies it again.
func TestSQLiteUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openSQLite(t)

	checkSQLiteStatus(t, db, 0)
	require.NoError(t, migrations.UpSQLite(ctx, db))
	checkSQLiteStatus(t, db, len(sqliteNames))
	want := sqliteSchema(t, db)
	// The guards the runtime relies on.
	for _, obj := range []string{
		"index deployments_one_active_per_workflow CREATE UNIQUE INDEX deployments_one_active_per_workflow\n" +
			"    ON deployments (workflow_id) WHERE status <> 'ARCHIVED'",
		"index deployment_triggers_active_webhook_path_key CREATE UNIQUE INDEX deployment_triggers_active_webhook_path_key\n" +
			"    ON deployment_triggers (webhook_path) WHERE active AND webhook_path IS NOT NULL",
		"index executions_workflow_idempotency_key CREATE UNIQUE INDEX executions_workflow_idempotency_key\n" +
			"    ON executions (workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
		"table workflow_turns CREATE TABLE workflow_turns (\n    workflow_id  TEXT PRIMARY KEY,\n    execution_id TEXT NOT NULL\n) STRICT",
		"table workflow_slots CREATE TABLE workflow_slots (\n    workflow_id  TEXT    NOT NULL,\n    slot         INTEGER NOT NULL,\n" +
			"    execution_id TEXT    NOT NULL,\n    PRIMARY KEY (workflow_id, slot)\n) STRICT",
	} {
		require.Contains(t, want, obj)
	}

	require.NoError(t, migrations.UpSQLite(ctx, db))
	require.Empty(t, cmp.Diff(want, sqliteSchema(t, db)), "schema after a second Up")

	var before [][]string
	// applied is how many migrations each Down leaves: one fewer each time, down to none.
	for applied := range slices.Backward(sqliteNames) {
		require.NoError(t, migrations.DownSQLite(ctx, db))
		checkSQLiteStatus(t, db, applied)
		before = append(before, sqliteSchema(t, db))
	}
	require.Empty(t, sqliteSchema(t, db), "schema after rolling everything back")
	require.NotEmpty(t, before[0], "one migration rolled back leaves the others")
	err := migrations.DownSQLite(ctx, db)
	require.ErrorIs(t, err, migrations.ErrNothingToRollBack, "Down with nothing applied")

	require.NoError(t, migrations.UpSQLite(ctx, db))
	require.Empty(t, cmp.Diff(want, sqliteSchema(t, db)), "schema after up, down to 0, up")
}

func TestSQLiteErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openSQLite(t)
	require.NoError(t, migrations.UpSQLite(ctx, db))
	err := migrations.StatusSQLite(ctx, db, failingWriter{})
	require.ErrorContains(t, err, "disk full")
	require.Error(t, migrations.UpSQLite(ctx, nil))

	require.NoError(t, db.Close())
	require.Error(t, migrations.UpSQLite(ctx, db))
	err = migrations.DownSQLite(ctx, db)
	require.Error(t, err)
	require.NotErrorIs(t, err, migrations.ErrNothingToRollBack)
	require.Error(t, migrations.StatusSQLite(ctx, db, &bytes.Buffer{}))
}
