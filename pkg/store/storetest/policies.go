package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var policyCases = []testCase{
	{"RetryExecution/ends the attempt and writes the next, once", testRetryExecution},
	{"RetryExecution/a paused deployment gets no retry", testRetryPaused},
	{"CountRunEnd/failures in a row, a pause that says why", testCountRunEnd},
	{"TakeSlot/n slots per workflow", testTakeSlot},
	{"TakeSlot/concurrent takers: n win", testTakeSlotConcurrently},
	{"Triggers/each keeps its execution timeout", testTriggerTimeout},
}

// failAt is the transition that ends a RUNNING attempt owned by "a" as FAILED.
func failAt(at time.Time) store.Transition {
	return store.Transition{
		From: from(workflow.ExecutionRunning), To: workflow.ExecutionFailed, Owner: "a",
		FinishedTime: &at, ErrorMessage: "boom",
	}
}

func testRetryExecution(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-retry", workflow.StatusDeployed, cronTrigger("* * * * *")))
	slot := base.Add(-time.Hour)
	e := cronExecution(d, d.Triggers[0].ID, slot)
	e.Status, e.OwnerInstance, e.Input, e.OverlapPolicy = workflow.ExecutionRunning, "a", []byte(`{"n":1}`), workflow.OverlapAllowAll
	e.OnBehalfOf = "alice"
	first := mustGetExecution(t, s, mustCreateExecution(t, s, e))
	require.Equal(t, int32(1), first.Attempt)
	require.Equal(t, first.ID, first.FirstAttemptID, "a first attempt names itself")

	ended, next, err := s.RetryExecution(ctx, first.ID, failAt(base), base, base.Add(time.Minute), time.Minute)
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionFailed, ended.Status)
	require.Equal(t, "boom", ended.ErrorMessage)
	require.NotNil(t, next)
	require.NotEqual(t, first.ID, next.ID, "a new id: the engine's idempotency key differs")
	require.Equal(t, workflow.ExecutionPending, next.Status)
	require.Equal(t, int32(2), next.Attempt)
	require.Equal(t, first.ID, next.FirstAttemptID)
	require.Equal(t, base.Add(time.Minute), *next.NotBefore)
	require.Equal(t, base, next.FiredTime)
	require.Equal(t, slot, *next.ScheduledTime, "the retry is of the same slot")
	require.Equal(t, first.TriggerID, next.TriggerID)
	require.Equal(t, first.TraceID, next.TraceID)
	require.Equal(t, [2]string{first.TriggeredBy, "alice"}, [2]string{next.TriggeredBy, next.OnBehalfOf}, "a retry is by whom the run was")
	require.Equal(t, workflow.OverlapAllowAll, first.OverlapPolicy, "a run's own policy is stored")
	require.Equal(t, workflow.OverlapAllowAll, next.OverlapPolicy, "and kept by its retries")
	require.JSONEq(t, `{"n":1}`, string(next.Input))
	require.Equal(t, "a", next.OwnerInstance)
	requireLeaseWithin(t, next, time.Now(), time.Now().Add(time.Minute))
	require.Equal(t, *next, *mustGetExecution(t, s, next.ID), "the retry as stored")

	// The end is a compare-and-set: a second one writes no second retry.
	_, _, err = s.RetryExecution(ctx, first.ID, failAt(base), base, base.Add(time.Minute), time.Minute)
	require.ErrorIs(t, err, store.ErrStale)
	require.Equal(t, 2, countExecutions(t, s, d.WorkflowID))

	// The slot ran: a late replica's fire of it still writes nothing.
	created, err := s.CreateExecution(ctx, cronExecution(d, d.Triggers[0].ID, slot))
	require.NoError(t, err)
	require.False(t, created)

	_, err = s.TransitionExecution(ctx, next.ID, store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "a"})
	require.NoError(t, err)
	_, third, err := s.RetryExecution(ctx, next.ID, failAt(base.Add(2*time.Minute)), base.Add(2*time.Minute), base.Add(4*time.Minute), time.Minute)
	require.NoError(t, err)
	require.Equal(t, int32(3), third.Attempt)
	require.Equal(t, first.ID, third.FirstAttemptID, "every attempt names the first")

	page, err := s.ListExecutions(ctx, workflow.ExecutionFilter{FirstAttemptID: first.ID})
	require.NoError(t, err)
	require.Equal(t, []string{third.ID, next.ID, first.ID}, idsOf(page.Executions), "the run's attempts, newest first")
	page, err = s.ListExecutions(ctx, workflow.ExecutionFilter{FirstAttemptID: "not-a-uuid"})
	require.NoError(t, err)
	require.Empty(t, page.Executions)
}

func testRetryPaused(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-retry-paused", workflow.StatusDeployed, manualTrigger()))
	e := leased(t, s, d, workflow.ExecutionRunning, base, "a", nil)
	_, err := s.UpdateDeployment(ctx, d.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)

	ended, next, err := s.RetryExecution(ctx, e.ID, failAt(base), base, base, time.Minute)
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionFailed, ended.Status)
	require.Nil(t, next)
	require.Equal(t, 1, countExecutions(t, s, d.WorkflowID))
}

func testCountRunEnd(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-count", workflow.StatusDeployed, manualTrigger()))
	for want, failed := range []bool{false, true, true} {
		n, err := s.CountRunEnd(ctx, d.ID, failed)
		require.NoError(t, err)
		require.Equal(t, int32(want), n)
	}
	got, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		require.Equal(t, int32(2), d.ConsecutiveFailures, "read under the lock")
		d.Status, d.PauseReason = workflow.StatusPaused, "2 failed"
		d.Version++
		return workflow.Event{Action: workflow.ActionPause, Actor: "workflow-runtime", Reason: "2 failed"}, nil
	})
	require.NoError(t, err)
	require.Equal(t, "2 failed", got.PauseReason)
	stored, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, int32(2), stored.ConsecutiveFailures)
	require.Equal(t, "2 failed", stored.PauseReason)
	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, "2 failed", events[len(events)-1].Reason)
	require.Empty(t, events[0].Reason, "events without a reason have none")

	n, err := s.CountRunEnd(ctx, d.ID, false)
	require.NoError(t, err)
	require.Zero(t, n, "a success starts the count again")
	_, err = s.CountRunEnd(ctx, "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", true)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testTakeSlot(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-slots", workflow.StatusDeployed, manualTrigger()))
	var ids []string
	for i := range 4 {
		ids = append(ids, leased(t, s, d, workflow.ExecutionPending, base.Add(time.Duration(i)*time.Second), "a", nil).ID)
	}
	for _, id := range ids[:3] {
		got, err := s.TakeSlot(ctx, id, "a", 3)
		require.NoError(t, err)
		require.True(t, got)
		require.True(t, mustGetExecution(t, s, id).HoldsSlot)
	}
	got, err := s.TakeSlot(ctx, ids[3], "a", 3)
	require.NoError(t, err)
	require.False(t, got, "three slots, three holders")
	require.False(t, mustGetExecution(t, s, ids[3]).HoldsSlot, "a refused slot writes nothing")
	got, err = s.TakeSlot(ctx, ids[0], "a", 3)
	require.NoError(t, err)
	require.True(t, got, "a holder holds its slot")

	// A waiting execution can be ended as one that never reached the engine; a holder cannot.
	_, err = s.TransitionExecution(ctx, ids[1], store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionCancelled, WithoutTurn: true})
	require.ErrorIs(t, err, store.ErrStale)
	finish(t, s, ids[1], workflow.ExecutionSucceeded)
	_, err = s.TakeSlot(ctx, ids[3], "b", 3)
	require.ErrorIs(t, err, store.ErrStale, "not b's")
	got, err = s.TakeSlot(ctx, ids[3], "a", 3)
	require.NoError(t, err)
	require.True(t, got, "an end frees its slot")
}

func testTakeSlotConcurrently(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-slots-race", workflow.StatusDeployed, manualTrigger()))
	const takers, slots = 12, 3
	ids := make([]string, takers)
	for i := range ids {
		ids[i] = leased(t, s, d, workflow.ExecutionPending, base, "a", nil).ID
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for {
				got, err := s.TakeSlot(ctx, id, "a", slots)
				if errors.Is(err, store.ErrConcurrentChange) {
					continue
				}
				require.NoError(t, err)
				if got {
					won.Add(1)
				}
				return
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(slots), won.Load())
}

func testTriggerTimeout(t *testing.T, s Store) {
	ctx := context.Background()
	cron, hook, manual := cronTrigger("* * * * *"), webhookTrigger("timeouts/hook"), manualTrigger()
	cron.ExecutionTimeoutSeconds, hook.ExecutionTimeoutSeconds, manual.ExecutionTimeoutSeconds = 60, 120, 180
	d := mustCreate(t, s, newDeployment("wf-trigger-timeouts", workflow.StatusDeployed, cron, hook, manual, manualTrigger()))
	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	var timeouts []int32
	for _, tr := range got.Triggers {
		timeouts = append(timeouts, tr.ExecutionTimeoutSeconds)
	}
	require.Equal(t, []int32{60, 120, 180, 0}, timeouts, "each trigger's own timeout, 0 where it sets none")
	require.Equal(t, "* * * * *", got.Triggers[0].Cron.Expression, "the spec beside it is intact")
	require.Equal(t, "timeouts/hook", got.Triggers[1].Webhook.Path)
}
