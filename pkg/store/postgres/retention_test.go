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
	_, err = s.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
SELECT gen_random_uuid(), 'wf-retention', $1, 1, 'WEBHOOK', 'SUCCEEDED', $2::timestamptz + i * interval '1 second'
FROM generate_series(1, 20000) AS i`, d.ID, base)
	require.NoError(t, err)
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
