package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var backfillCases = []testCase{
	{"Backfill/progress: started, finished, skipped, completed", testBackfillProgress},
	{"Backfill/chunks are leased on the store's clock and taken over", testBackfillChunkLeases},
	{"GetBackfill/unknown", testGetBackfillUnknown},
}

// newBackfill creates a backfill of d's first trigger over slots, cut into
// chunks of size, and returns it.
func newBackfill(t *testing.T, s Store, d *workflow.Deployment, slots []time.Time, size int) *workflow.Backfill {
	t.Helper()
	b := &workflow.Backfill{DeploymentID: d.ID, WorkflowID: d.WorkflowID, Start: slots[0], End: slots[len(slots)-1].Add(time.Minute),
		OverlapPolicy: workflow.OverlapAllowAll, Planned: int64(len(slots))}
	var chunks []workflow.BackfillChunk
	for i := 0; i < len(slots); i += size {
		chunks = append(chunks, workflow.BackfillChunk{Seq: len(chunks), TriggerID: d.Triggers[0].ID, Slots: slots[i:min(i+size, len(slots))]})
	}
	require.NoError(t, s.CreateBackfill(context.Background(), b, chunks))
	require.NotEmpty(t, b.ID)
	return b
}

// slotExecution is the execution of slot of d's first trigger, started by
// triggeredBy.
func slotExecution(d *workflow.Deployment, slot time.Time, triggeredBy string) *workflow.Execution {
	e := execution(d, base, "r1", new(base.Add(time.Hour)))
	e.TriggerType, e.TriggerID, e.ScheduledTime, e.TriggeredBy = workflow.TriggerCron, d.Triggers[0].ID, &slot, triggeredBy
	return e
}

func minutes(n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = base.Add(time.Duration(i) * time.Minute)
	}
	return out
}

func testBackfillProgress(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-backfill", workflow.StatusDeployed, cronTrigger("* * * * *")))
	slots := minutes(5)
	// The live schedule ran the second slot already.
	mustCreateExecution(t, s, slotExecution(d, slots[1], "cron:"+d.Triggers[0].ID))
	b := newBackfill(t, s, d, slots, 3)
	by := workflow.BackfillTriggeredBy(b.ID)

	got, err := s.GetBackfill(ctx, b.ID)
	require.NoError(t, err)
	want := workflow.Backfill{ID: b.ID, DeploymentID: d.ID, WorkflowID: d.WorkflowID, Start: b.Start, End: b.End,
		OverlapPolicy: workflow.OverlapAllowAll, Planned: 5, CreatedAt: b.CreatedAt}
	require.Empty(t, cmp.Diff(want, *got), "a new backfill (-want +got)")

	// Each chunk's slots are run; the one the live schedule holds is not.
	var ids []string
	for range 2 {
		c, err := s.ClaimBackfillChunk(ctx, "r1", time.Hour)
		require.NoError(t, err)
		require.Equal(t, d.ID, c.DeploymentID)
		require.Equal(t, workflow.OverlapAllowAll, c.OverlapPolicy)
		for _, slot := range c.Slots {
			e := slotExecution(d, slot, by)
			created, err := s.CreateExecution(ctx, e)
			require.NoError(t, err)
			require.Equal(t, !slot.Equal(slots[1]), created, "slot %v", slot)
			if created {
				ids = append(ids, e.ID)
			}
		}
		require.NoError(t, s.FinishBackfillChunk(ctx, c.BackfillID, c.Seq, "r1", 0))
	}
	_, err = s.ClaimBackfillChunk(ctx, "r1", time.Hour)
	require.ErrorIs(t, err, store.ErrNotFound, "every chunk is done")

	// Of the four it started, one is SKIPPED by its policy, two end.
	finish(t, s, ids[0], workflow.ExecutionSkipped)
	finish(t, s, ids[1], workflow.ExecutionSucceeded)
	finish(t, s, ids[2], workflow.ExecutionFailed)
	got, err = s.GetBackfill(ctx, b.ID)
	require.NoError(t, err)
	want.Started, want.Finished, want.Skipped, want.Handled = 3, 2, 2, true
	require.Empty(t, cmp.Diff(want, *got), "one execution unfinished (-want +got)")

	ended := finish(t, s, ids[3], workflow.ExecutionSucceeded)
	got, err = s.GetBackfill(ctx, b.ID)
	require.NoError(t, err)
	require.NotNil(t, got.CompletedAt, "every slot handled and every execution ended")
	require.False(t, got.CompletedAt.Before(*ended.FinishedTime), "completed at %v, before the last end %v", got.CompletedAt, ended.FinishedTime)
	require.EqualValues(t, 3, got.Finished)

	// A second backfill of the same range runs nothing: every slot is held.
	again := newBackfill(t, s, d, slots, 5)
	c, err := s.ClaimBackfillChunk(ctx, "r2", time.Hour)
	require.NoError(t, err)
	require.Equal(t, again.ID, c.BackfillID)
	for _, slot := range c.Slots {
		created, err := s.CreateExecution(ctx, slotExecution(d, slot, workflow.BackfillTriggeredBy(again.ID)))
		require.NoError(t, err)
		require.False(t, created)
	}
	require.NoError(t, s.FinishBackfillChunk(ctx, c.BackfillID, c.Seq, "r2", 0))
	got, err = s.GetBackfill(ctx, again.ID)
	require.NoError(t, err)
	require.Equal(t, [3]int64{0, 0, 5}, [3]int64{got.Started, got.Finished, got.Skipped})
	require.NotNil(t, got.CompletedAt)
}

func testBackfillChunkLeases(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-backfill-lease", workflow.StatusDeployed, cronTrigger("* * * * *")))
	b := newBackfill(t, s, d, minutes(4), 2)

	a, err := s.ClaimBackfillChunk(ctx, "r1", time.Hour)
	require.NoError(t, err)
	require.Equal(t, minutes(2), a.Slots, "the first chunk, its slots in order")
	other, err := s.ClaimBackfillChunk(ctx, "r2", time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, a.Seq, other.Seq, "a leased chunk is not claimed again")
	_, err = s.ClaimBackfillChunk(ctx, "r3", time.Hour)
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, s.RenewBackfillChunk(ctx, b.ID, a.Seq, "r1", time.Hour))
	require.ErrorIs(t, s.RenewBackfillChunk(ctx, b.ID, a.Seq, "r3", time.Hour), store.ErrStale, "not r3's")
	// r1 gives its chunk up (as a lease that ran out on the database's
	// clock): r3 takes it, and r1 can no longer write it.
	require.NoError(t, s.RenewBackfillChunk(ctx, b.ID, a.Seq, "r1", 0))
	taken, err := s.ClaimBackfillChunk(ctx, "r3", time.Hour)
	require.NoError(t, err)
	require.Equal(t, a.Seq, taken.Seq)
	require.ErrorIs(t, s.FinishBackfillChunk(ctx, b.ID, a.Seq, "r1", 0), store.ErrStale)
	require.ErrorIs(t, s.RenewBackfillChunk(ctx, b.ID, a.Seq, "r1", time.Hour), store.ErrStale)
	require.NoError(t, s.FinishBackfillChunk(ctx, b.ID, a.Seq, "r3", 0))
	require.ErrorIs(t, s.FinishBackfillChunk(ctx, b.ID, a.Seq, "r3", 0), store.ErrStale, "done already")

	// A short lease runs out by itself.
	require.NoError(t, s.RenewBackfillChunk(ctx, b.ID, other.Seq, "r2", time.Millisecond))
	require.Eventually(t, func() bool {
		c, err := s.ClaimBackfillChunk(ctx, "r4", time.Hour)
		return err == nil && c.Seq == other.Seq
	}, 5*time.Second, 5*time.Millisecond)
}

func testGetBackfillUnknown(t *testing.T, s Store) {
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid"} {
		_, err := s.GetBackfill(context.Background(), id)
		require.ErrorIs(t, err, store.ErrNotFound, id)
	}
}
