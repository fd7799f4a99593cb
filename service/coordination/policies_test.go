package coordination

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// failingSim is an engine-sim whose every run fails at once.
var failingSim = enginesim.Config{FailureRate: 1}

// attempts returns the attempts of the run whose first attempt is first, in order.
func (r *rig) attempts(first string) []workflow.Execution {
	r.t.Helper()
	page, err := r.st.ListExecutions(context.Background(), workflow.ExecutionFilter{FirstAttemptID: first, Limit: 100})
	require.NoError(r.t, err)
	// The test's clock stands still: the attempts share a fired time.
	return slices.SortedFunc(slices.Values(page.Executions), func(a, b workflow.Execution) int { return cmp.Compare(a.Attempt, b.Attempt) })
}

// printAttempts writes a run's attempts as the history shows them.
func printAttempts(t *testing.T, es []workflow.Execution) {
	t.Helper()
	var b strings.Builder
	for _, e := range es {
		nb := "-"
		if e.NotBefore != nil {
			nb = e.NotBefore.Format(time.TimeOnly)
		}
		fmt.Fprintf(&b, "\n  attempt %d  execution_id=%s  first_attempt_id=%s  fired=%s  not_before=%s  status=%s  error=%q",
			e.Attempt, e.ID, e.FirstAttemptID, e.FiredTime.Format(time.TimeOnly), nb, e.Status, e.ErrorMessage)
	}
	t.Logf("a run with its attempts in history:%s", b.String())
}

// TestRetriesSpacedByBackoff: with every run failing, a run makes
// max_attempts attempts, each its own execution, due after the backoff on
// the coordinator's clock, which the test moves.
func TestRetriesSpacedByBackoff(t *testing.T) {
	t.Parallel()
	r := newRig(t, failingSim)
	clk := testClock()
	c := r.coordinatorOn("a", r.engine, r.locks, clk.Now)
	c.signals.due = make(chan string, 1000)
	wf := r.deploy(workflow.Config{Retry: &workflow.RetryPolicy{
		MaxAttempts: 3, InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaxInterval: 3 * time.Second,
		RetryOn: []workflow.ExecutionStatus{workflow.ExecutionFailed, workflow.ExecutionTimedOut},
	}})

	first := r.trigger(c, wf)
	r.waitStatus(first.ID, workflow.ExecutionFailed)
	// Each retry waits for its due time until the clock reaches it.
	for _, gap := range []time.Duration{2 * time.Second, 3 * time.Second} {
		runs := r.attempts(first.ID)
		next := runs[len(runs)-1]
		require.Equal(t, workflow.ExecutionPending, next.Status)
		require.Equal(t, clk.Now().UTC().Add(gap), *next.NotBefore, "attempt %d is due the backoff after attempt %d ended", next.Attempt, next.Attempt-1)
		await(t, c.signals.due, next.ID)
		require.Equal(t, workflow.ExecutionPending, r.get(next.ID).Status, "not run before it is due")
		clk.Advance(gap)
		r.waitStatus(next.ID, workflow.ExecutionFailed)
	}
	runs := r.attempts(first.ID)
	require.Len(t, runs, 3, "max_attempts in all")
	for i, e := range runs {
		require.Equal(t, int32(i+1), e.Attempt)
		require.Equal(t, first.ID, e.FirstAttemptID)
		require.Equal(t, workflow.ExecutionFailed, e.Status)
		require.Equal(t, 1, r.calls(e.ID), "each attempt reaches the engine once, under its own key")
	}
	printAttempts(t, runs)
}
