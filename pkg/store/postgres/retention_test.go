package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestRetentionBatchStartsWhereTheLastEnded: a pass's batch after 18,000
// deleted rows reads a few pages of executions_fired_time_idx, not the
// entries of every row deleted before it, which stay in the index until a
// vacuum. From the oldest row, each batch stepped over them all: 62 ms a
// batch after 600,000 rows in make bench-retention, and small batches
// removed about 1,000 rows a second on an idle host.
func TestRetentionBatchStartsWhereTheLastEnded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-retention", workflow.StatusDeployed))
	base := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	// A vacuum would remove the entries this test is about, and read the
	// index meanwhile.
	_, err := s.DB().ExecContext(ctx, `ALTER TABLE executions SET (autovacuum_enabled = false)`)
	require.NoError(t, err)
	seedSucceeded(t, s, d, base, 20000)
	_, err = s.DB().ExecContext(ctx, `ANALYZE executions`)
	require.NoError(t, err)

	cutoff := base.Add(24 * time.Hour)
	var from time.Time
	for range 18 {
		n, last, err := s.DeleteExpiredExecutions(ctx, from, cutoff, 1000)
		require.NoError(t, err)
		require.Equal(t, int64(1000), n)
		from = last
	}
	require.True(t, from.Equal(base.Add(18000*time.Second)), "the 18,000th row's fired time: %v", from)
	before := indexPagesRead(t, s, 18000)
	n, _, err := s.DeleteExpiredExecutions(ctx, from, cutoff, 100)
	require.NoError(t, err)
	require.Equal(t, int64(100), n)
	// The root, an inner page and the leaf or two that hold 100 entries;
	// from the oldest row, the 18,000 dead entries fill about 50 leaves.
	require.LessOrEqual(t, indexPagesRead(t, s, 18100)-before, int64(8))
}

// seedSucceeded writes n SUCCEEDED executions of d, a second apart from
// base on.
func seedSucceeded(t *testing.T, s *postgres.Store, d *workflow.Deployment, base time.Time, n int) {
	t.Helper()
	_, err := s.DB().ExecContext(context.Background(), `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
SELECT gen_random_uuid(), $1, $2, 1, 'WEBHOOK', 'SUCCEEDED', $3::timestamptz + i * interval '1 second'
FROM generate_series(1, $4::int) AS i`, d.WorkflowID, d.ID, base, n)
	require.NoError(t, err)
}

// indexPagesRead returns the pages of executions_fired_time_idx read so
// far, once the deletes of want rows have reached the statistics.
func indexPagesRead(t *testing.T, s *postgres.Store, want int64) int64 {
	t.Helper()
	deleted, pages := counters(t, s, `
SELECT t.n_tup_del, i.idx_blks_hit + i.idx_blks_read
FROM pg_stat_user_tables t, pg_statio_user_indexes i
WHERE t.relname = 'executions' AND i.indexrelname = 'executions_fired_time_idx'`, want)
	require.Equal(t, want, deleted)
	return pages
}

// TestRetentionCommitsLazily: retention's deletes commit without waiting
// for their write-ahead log to be flushed, and their connection's next
// transaction waits again. Each batch's commit was a flush of its own that
// the triggers' commits queued behind; the architecture doc's retention
// measurements show what that changed (what they wait on, not their p99).
func TestRetentionCommitsLazily(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	// One connection: the setting checked after the deletes is the one
	// their connection goes on with.
	s.DB().SetMaxOpenConns(1)
	d := mustCreate(t, s, newDeployment("wf-lazy", workflow.StatusDeployed))
	base := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	_, err := s.DB().ExecContext(ctx, `
CREATE TABLE commits_seen (statement TEXT, synchronous_commit TEXT);
CREATE FUNCTION see_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO commits_seen VALUES (TG_TABLE_NAME, current_setting('synchronous_commit'));
	RETURN NULL;
END $$;
CREATE TRIGGER executions_seen AFTER DELETE ON executions FOR EACH STATEMENT EXECUTE FUNCTION see_commit();
CREATE TRIGGER missed_slots_seen AFTER DELETE ON missed_slots FOR EACH STATEMENT EXECUTE FUNCTION see_commit()`)
	require.NoError(t, err)
	seedSucceeded(t, s, d, base, 10)

	n, _, err := s.DeleteExpiredExecutions(ctx, time.Time{}, base.Add(time.Hour), 100)
	require.NoError(t, err)
	require.Equal(t, int64(10), n)
	_, err = s.DeleteExpiredMissedSlots(ctx, base.Add(time.Hour), 100)
	require.NoError(t, err)
	var seen []struct {
		Statement         string `db:"statement"`
		SynchronousCommit string `db:"synchronous_commit"`
	}
	require.NoError(t, s.DB().SelectContext(ctx, &seen, `SELECT statement, synchronous_commit FROM commits_seen ORDER BY statement`))
	require.Len(t, seen, 2)
	for i, table := range []string{"executions", "missed_slots"} {
		require.Equal(t, table, seen[i].Statement)
		require.Equal(t, "off", seen[i].SynchronousCommit, "the delete from %s", table)
	}
	var after string
	require.NoError(t, s.DB().GetContext(ctx, &after, `SHOW synchronous_commit`))
	require.Equal(t, "on", after, "the connection after the deletes")
}
