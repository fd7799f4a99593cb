package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var retentionCases = []testCase{
	{"DeleteExpiredExecutions/finished runs before the cutoff, in batches", testDeleteExpiredExecutions},
	{"DeleteExpiredExecutions/a retried run goes as a whole", testDeleteExpiredRetries},
	{"DeleteExpiredMissedSlots/runs whose last slot expired", testDeleteExpiredMissedSlots},
	{"TakeLease/one holder at a time, until it runs out", testTakeLease},
	{"TakeLease/concurrent takers: one wins", testTakeLeaseConcurrently},
}

// remaining returns those of ids that are still stored.
func remaining(t *testing.T, s Store, ids ...string) []string {
	t.Helper()
	var left []string
	for _, id := range ids {
		_, err := s.GetExecution(context.Background(), id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		require.NoError(t, err)
		left = append(left, id)
	}
	return left
}

func testDeleteExpiredExecutions(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-retention", workflow.StatusDeployed, manualTrigger()))
	cutoff := base.Add(-24 * time.Hour)
	var old, young, unfinished []string
	for i := range 5 {
		id := mustCreateExecution(t, s, execution(d, cutoff.Add(-time.Duration(i+1)*time.Hour), "", nil))
		finish(t, s, id, []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionFailed,
			workflow.ExecutionCancelled, workflow.ExecutionTimedOut, workflow.ExecutionSkipped}[i])
		old = append(old, id)
	}
	// At the cutoff is not before it.
	for _, fired := range []time.Time{cutoff, cutoff.Add(time.Hour)} {
		id := mustCreateExecution(t, s, execution(d, fired, "", nil))
		finish(t, s, id, workflow.ExecutionSucceeded)
		young = append(young, id)
	}
	// Old but unfinished: never deleted, however old.
	unfinished = append(unfinished, mustCreateExecution(t, s, execution(d, cutoff.Add(-100*time.Hour), "", nil)))
	running := execution(d, cutoff.Add(-200*time.Hour), "a", nil)
	running.Status = workflow.ExecutionRunning
	unfinished = append(unfinished, mustCreateExecution(t, s, running))

	n, last, err := s.DeleteExpiredExecutions(ctx, time.Time{}, cutoff, 2)
	require.NoError(t, err)
	require.Equal(t, int64(2), n, "a batch is at most limit rows")
	require.ElementsMatch(t, old[:3], remaining(t, s, old...), "the oldest go first")
	require.True(t, last.Equal(cutoff.Add(-4*time.Hour)), "the last row's fired time: %v", last)

	// From a later position, the rows before it are left to a next pass.
	n, last, err = s.DeleteExpiredExecutions(ctx, cutoff.Add(-2*time.Hour), cutoff, 100)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	require.True(t, last.Equal(cutoff.Add(-time.Hour)), "the last row's fired time: %v", last)
	require.Equal(t, old[2:3], remaining(t, s, old...))
	n, _, err = s.DeleteExpiredExecutions(ctx, time.Time{}, cutoff, 100)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	n, last, err = s.DeleteExpiredExecutions(ctx, time.Time{}, cutoff, 100)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to delete")
	require.True(t, last.IsZero(), "no row, no position: %v", last)
	require.Empty(t, remaining(t, s, old...))
	require.Equal(t, young, remaining(t, s, young...))
	require.Equal(t, unfinished, remaining(t, s, unfinished...))

	_, _, err = s.DeleteExpiredExecutions(ctx, time.Time{}, cutoff, 0)
	require.Equal(t, errors.Invalid, errors.KindOf(err), "limit 0: %v", err)
}

func testDeleteExpiredRetries(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-retention-retry", workflow.StatusDeployed, cronTrigger("* * * * *")))
	cutoff := base
	// run starts with an attempt fired before the cutoff and retries it
	// at each of retries, the last attempt left RUNNING or finished.
	run := func(slot time.Time, retries []time.Time, finished bool) []string {
		e := cronExecution(d, d.Triggers[0].ID, slot)
		e.Status, e.OwnerInstance, e.FiredTime = workflow.ExecutionRunning, "a", slot
		ids := []string{mustCreateExecution(t, s, e)}
		for _, at := range retries {
			_, next, err := s.RetryExecution(ctx, ids[len(ids)-1], failAt(at), at, at, time.Minute)
			require.NoError(t, err)
			_, err = s.TransitionExecution(ctx, next.ID, store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "a"})
			require.NoError(t, err)
			ids = append(ids, next.ID)
		}
		if finished {
			_, err := s.TransitionExecution(ctx, ids[len(ids)-1], store.Transition{
				From: from(workflow.ExecutionRunning), To: workflow.ExecutionSucceeded, Owner: "a"})
			require.NoError(t, err)
		}
		return ids
	}
	gone := run(cutoff.Add(-10*time.Hour), []time.Time{cutoff.Add(-9 * time.Hour), cutoff.Add(-8 * time.Hour)}, true)
	stillRunning := run(cutoff.Add(-7*time.Hour), []time.Time{cutoff.Add(-6 * time.Hour)}, false)
	retriedLate := run(cutoff.Add(-5*time.Hour), []time.Time{cutoff.Add(-4 * time.Hour), cutoff.Add(time.Hour)}, true)

	var (
		total int64
		from  time.Time
	)
	for {
		n, last, err := s.DeleteExpiredExecutions(ctx, from, cutoff, 1)
		require.NoError(t, err)
		if n == 0 {
			break
		}
		total, from = total+n, last
	}
	require.Equal(t, int64(len(gone)), total)
	require.Empty(t, remaining(t, s, gone...), "every attempt of an old finished run")
	require.Equal(t, stillRunning, remaining(t, s, stillRunning...), "a run whose last attempt runs is kept whole")
	require.Equal(t, retriedLate, remaining(t, s, retriedLate...), "a run whose last attempt is young is kept whole")
}

func testDeleteExpiredMissedSlots(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-retention-miss", workflow.StatusDeployed, cronTrigger("* * * * *")))
	tid := d.Triggers[0].ID
	cutoff := base
	record := func(from, to time.Time) {
		require.NoError(t, s.RecordMissedSlots(ctx, workflow.MissedSlots{TriggerID: tid, DeploymentID: d.ID,
			From: from, To: to, Count: int64(to.Sub(from)/time.Minute) + 1, Reason: workflow.MissedReplicaDown, RecordedAt: to}))
	}
	record(cutoff.Add(-3*time.Hour), cutoff.Add(-2*time.Hour))
	record(cutoff.Add(-90*time.Minute), cutoff.Add(-time.Minute))
	// A run that ends after the cutoff still accounts for its young slots.
	record(cutoff.Add(-30*time.Minute), cutoff.Add(time.Hour))

	n, err := s.DeleteExpiredMissedSlots(ctx, cutoff, 1)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	n, err = s.DeleteExpiredMissedSlots(ctx, cutoff, 10)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	got, err := s.ListMissedSlots(ctx, tid, cutoff.Add(-24*time.Hour), cutoff.Add(24*time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, cutoff.Add(-30*time.Minute), got[0].From)
}

func testTakeLease(t *testing.T, s Store) {
	ctx := context.Background()
	took, err := s.TakeLease(ctx, "retention", "r1", time.Hour)
	require.NoError(t, err)
	require.True(t, took)
	took, err = s.TakeLease(ctx, "retention", "r2", time.Hour)
	require.NoError(t, err)
	require.False(t, took, "held by r1")
	took, err = s.TakeLease(ctx, "retention", "r1", time.Hour)
	require.NoError(t, err)
	require.True(t, took, "r1 renews its own")
	took, err = s.TakeLease(ctx, "other", "r2", time.Hour)
	require.NoError(t, err)
	require.True(t, took, "leases are by name")

	require.NoError(t, s.ReleaseLease(ctx, "retention", "r2"), "not r2's: nothing happens")
	took, err = s.TakeLease(ctx, "retention", "r2", time.Hour)
	require.NoError(t, err)
	require.False(t, took)
	require.NoError(t, s.ReleaseLease(ctx, "retention", "r1"))
	took, err = s.TakeLease(ctx, "retention", "r2", time.Microsecond)
	require.NoError(t, err)
	require.True(t, took, "released: free")

	// r2's microsecond lease runs out on the database's clock.
	require.Eventually(t, func() bool {
		took, err := s.TakeLease(ctx, "retention", "r1", time.Hour)
		require.NoError(t, err)
		return took
	}, 5*time.Second, 10*time.Millisecond)

	_, err = s.TakeLease(ctx, "retention", "", time.Hour)
	require.Equal(t, errors.Invalid, errors.KindOf(err), "no holder: %v", err)
}

func testTakeLeaseConcurrently(t *testing.T, s Store) {
	ctx := context.Background()
	const takers = 8
	var (
		wg  sync.WaitGroup
		won = make([]bool, takers)
	)
	for i := range takers {
		wg.Go(func() {
			took, err := s.TakeLease(ctx, "retention", string(rune('a'+i)), time.Hour)
			require.NoError(t, err)
			won[i] = took
		})
	}
	wg.Wait()
	winners := 0
	for _, w := range won {
		if w {
			winners++
		}
	}
	require.Equal(t, 1, winners)
}
