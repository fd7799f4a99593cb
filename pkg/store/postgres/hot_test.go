package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestLeaseRenewalsAreHOT: the room that executions' fillfactor leaves in
// each page makes a lease renewal, which changes no indexed column, a HOT
// update (no index written), also of rows in pages that inserts filled. One
// row per page is renewed, so that the new versions fit in the room left
// whether or not the page can be pruned meanwhile: pruning waits for the
// oldest snapshot of the cluster, which other tests' connections hold.
func TestLeaseRenewalsAreHOT(t *testing.T) {
	t.Parallel()
	s := pgtest.NewStore(t)
	ctx := context.Background()
	var options []string
	require.NoError(t, s.DB().Select(&options, `SELECT unnest(reloptions) FROM pg_class WHERE relname = 'executions'`))
	require.Equal(t, []string{"fillfactor=85"}, options)

	d := mustCreate(t, s, newDeployment("wf-hot", workflow.StatusDeployed))
	lease := time.Now().Add(time.Minute)
	for range 100 { // some pages' worth
		leased(t, s, d, time.Now(), "a", &lease)
	}
	var ids []string
	require.NoError(t, s.DB().Select(&ids, `SELECT DISTINCT ON ((ctid::text::point)[0]) id FROM executions
		ORDER BY (ctid::text::point)[0], id`))
	require.Greater(t, len(ids), 1, "the rows fill more than one page")
	for _, id := range ids {
		lost, err := s.RenewLeases(ctx, "a", []string{id}, time.Minute)
		require.NoError(t, err)
		require.Empty(t, lost)
	}
	// A backend reports its statistics when it is next idle, within seconds.
	var updated, hot int
	require.Eventually(t, func() bool {
		_, err := s.DB().Exec(`SELECT pg_stat_clear_snapshot()`)
		require.NoError(t, err)
		require.NoError(t, s.DB().QueryRow(`SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'executions'`).Scan(&updated, &hot))
		return updated >= len(ids)
	}, 30*time.Second, 200*time.Millisecond, "the renewals never reached the statistics")
	require.Equal(t, updated, hot, "every renewal a HOT update")
}
