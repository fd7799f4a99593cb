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
	updated, hot := updates(t, s, len(ids))
	require.Equal(t, updated, hot, "every renewal a HOT update")
}

// TestOwnerAndTurnWritesAreHOT: the owner is in no index of executions
// (the queue of unowned rows has a table of its own, migration 00019), nor
// are the turn and the concurrency slot (tables of their own, 00020), so a
// claim of a queued row, the adoption of an abandoned one and taking a turn
// or a slot are HOT updates too. One row in twenty is queued and one
// abandoned, written among live ones, so that each page has room for the
// new versions of its few, pruned or not (see above).
func TestOwnerAndTurnWritesAreHOT(t *testing.T) {
	t.Parallel()
	s := pgtest.NewStore(t)
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-hot", workflow.StatusDeployed))
	expired, live := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	queued, abandoned := 0, 0
	for i := range 400 {
		switch i % 20 {
		case 0:
			leased(t, s, d, time.Now(), "", nil)
			queued++
		case 10:
			leased(t, s, d, time.Now(), "gone", &expired)
			abandoned++
		default:
			leased(t, s, d, time.Now(), "alive", &live)
		}
	}
	claimed, err := s.ClaimExecutions(ctx, "me", time.Minute, 1000)
	require.NoError(t, err)
	require.Len(t, claimed, queued)
	updated, hot := updates(t, s, queued)
	require.Equal(t, updated, hot, "every claim a HOT update")

	adopted, err := s.AdoptExecutions(ctx, "adopter", time.Minute, 1000)
	require.NoError(t, err)
	require.Len(t, adopted, abandoned)
	updated, hot = updates(t, s, queued+abandoned)
	require.Equal(t, updated, hot, "every claim and adoption a HOT update")

	holder, err := s.TakeTurn(ctx, claimed[0].ID, "me")
	require.NoError(t, err)
	require.Empty(t, holder)
	for _, e := range claimed[1:] {
		took, err := s.TakeSlot(ctx, e.ID, "me", int32(queued))
		require.NoError(t, err)
		require.True(t, took)
	}
	updated, hot = updates(t, s, 2*queued+abandoned)
	require.Equal(t, updated, hot, "taking the turn and the slots HOT updates")
}

// updates returns executions' updated rows and the HOT ones among them,
// once at least want have reached the statistics.
func updates(t *testing.T, s *postgres.Store, want int) (updated, hot int) {
	t.Helper()
	u, h := counters(t, s, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'executions'`, int64(want))
	return int(u), int(h)
}

// counters reads the two counters of query, once the first has reached
// want: a backend reports its counters together when it is next idle,
// within seconds.
func counters(t *testing.T, s *postgres.Store, query string, want int64) (first, second int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := s.DB().Exec(`SELECT pg_stat_clear_snapshot()`)
		require.NoError(t, err)
		require.NoError(t, s.DB().QueryRow(query).Scan(&first, &second))
		return first >= want
	}, 30*time.Second, 200*time.Millisecond, "the counters never reached the statistics: %s", query)
	return first, second
}
