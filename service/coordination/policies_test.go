package coordination

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
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

// failEveryAttempt follows the run whose first attempt is first, every
// attempt failing, through its retries: each one waits PENDING until the
// clock, which the test moves, reaches the backoff after the previous one
// ended. It returns the run's attempts.
func (r *rig) failEveryAttempt(c *Coordinator, clk *clock.Fake, first string, gaps ...time.Duration) []workflow.Execution {
	r.t.Helper()
	r.waitStatus(first, workflow.ExecutionFailed)
	for _, gap := range gaps {
		runs := r.attempts(first)
		next := runs[len(runs)-1]
		require.Equal(r.t, workflow.ExecutionPending, next.Status)
		require.Equal(r.t, clk.Now().UTC().Add(gap), *next.NotBefore, "attempt %d is due the backoff after attempt %d ended", next.Attempt, next.Attempt-1)
		await(r.t, c.signals.due, next.ID)
		require.Equal(r.t, workflow.ExecutionPending, r.get(next.ID).Status, "not run before it is due")
		clk.Advance(gap)
		r.waitStatus(next.ID, workflow.ExecutionFailed)
	}
	return r.attempts(first)
}

// newFailingRig is a rig whose engine fails every run, with a coordinator
// on a clock the test moves, which signals the retries waiting to be due.
func newFailingRig(t *testing.T) (*rig, *Coordinator, *clock.Fake) {
	t.Helper()
	r := newRig(t, failingSim)
	clk := testClock()
	return r, r.coordinatorOn("a", r.engine, r.locks, clk.Now), clk
}

// everyOutcome retries FAILED and TIMED_OUT.
var everyOutcome = []workflow.ExecutionStatus{workflow.ExecutionFailed, workflow.ExecutionTimedOut}

// TestRetriesSpacedByBackoff: with every run failing, a run makes
// max_attempts attempts, each its own execution, due after the backoff on
// the coordinator's clock, which the test moves.
func TestRetriesSpacedByBackoff(t *testing.T) {
	t.Parallel()
	r, c, clk := newFailingRig(t)
	wf := r.deploy(workflow.Config{Retry: &workflow.RetryPolicy{
		MaxAttempts: 3, InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaxInterval: 3 * time.Second, RetryOn: everyOutcome,
	}})

	first := r.trigger(c, wf)
	runs := r.failEveryAttempt(c, clk, first.ID, 2*time.Second, 3*time.Second)
	require.Len(t, runs, 3, "max_attempts in all")
	for i, e := range runs {
		require.Equal(t, int32(i+1), e.Attempt)
		require.Equal(t, first.ID, e.FirstAttemptID)
		require.Equal(t, workflow.ExecutionFailed, e.Status)
		require.Equal(t, 1, r.calls(e.ID), "each attempt reaches the engine once, under its own key")
	}
	printAttempts(t, runs)
}

// TestPauseAfterFailures: with every run failing, the deployment pauses
// once pause_after_failures runs in a row have failed after their retries,
// with an event that says why, and its fires are refused from then on.
func TestPauseAfterFailures(t *testing.T) {
	t.Parallel()
	r, c, clk := newFailingRig(t)
	wf := r.deploy(workflow.Config{PauseAfterFailures: 2, Retry: &workflow.RetryPolicy{
		MaxAttempts: 2, InitialInterval: time.Second, BackoffCoefficient: 2, MaxInterval: time.Second, RetryOn: everyOutcome,
	}})
	ctx := context.Background()
	deployment := func() *workflow.Deployment {
		d, err := r.st.GetActiveDeployment(ctx, wf)
		require.NoError(t, err)
		return d
	}

	first := r.trigger(c, wf)
	r.failEveryAttempt(c, clk, first.ID, time.Second)
	require.Eventually(t, func() bool { return deployment().ConsecutiveFailures == 1 }, 10*time.Second, 10*time.Millisecond,
		"a run counts once, after its retries")
	require.Equal(t, workflow.StatusDeployed, deployment().Status)

	second := r.trigger(c, wf)
	runs := r.failEveryAttempt(c, clk, second.ID, time.Second)
	if !assert.Eventually(t, func() bool { return deployment().Status == workflow.StatusPaused }, 10*time.Second, 10*time.Millisecond) {
		t.Fatalf("not paused: %+v", deployment())
	}
	d := deployment()
	require.Equal(t, int32(2), d.ConsecutiveFailures)
	last := runs[len(runs)-1]
	require.Contains(t, d.PauseReason, "paused after 2 consecutive failed runs")
	require.Contains(t, d.PauseReason, last.ErrorMessage, "the reason names the last error")

	events, err := r.st.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	ev := events[len(events)-1]
	require.Equal(t, workflow.ActionPause, ev.Action)
	require.Equal(t, "workflow-runtime", ev.Actor)
	require.Equal(t, d.PauseReason, ev.Reason)
	require.Equal(t, workflow.StatusDeployed, ev.FromStatus)
	require.Equal(t, workflow.StatusPaused, ev.ToStatus)
	t.Logf("a pause after failures, with its event:\n  deployment %s status=%s consecutive_failures=%d\n  event action=%s actor=%s %s -> %s version=%d reason=%q",
		d.ID, d.Status, d.ConsecutiveFailures, ev.Action, ev.Actor, ev.FromStatus, ev.ToStatus, ev.Version, ev.Reason)

	_, err = c.Trigger(ctx, TriggerRequest{WorkflowID: wf})
	require.Equal(t, errors.FailedPrecondition, errors.KindOf(err), "a paused deployment runs nothing: %v", err)
}

// TestBufferAllKeepsOrder: under BUFFER_ALL every overlapping run waits its
// turn and they run one at a time in the order they fired; past
// max_buffered waiting, a run is SKIPPED saying so. The engine's runs never
// end by themselves: the test ends each by cancelling it.
func TestBufferAllKeepsOrder(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	c := r.coordinator("a")
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapBufferAll, MaxBuffered: 3})

	var runs []workflow.Execution
	for range 5 {
		runs = append(runs, r.trigger(c, wf))
	}
	skipped := r.waitStatus(runs[4].ID, workflow.ExecutionSkipped)
	require.Equal(t, "3 executions are already buffered, as many as max_buffered allows", skipped.SkipReason)
	for i, e := range runs[:4] {
		r.waitStatus(e.ID, workflow.ExecutionRunning)
		for _, later := range runs[i+1 : 4] {
			require.Equal(t, workflow.ExecutionPending, r.get(later.ID).Status, "execution %s waits for %s, fired before it", later.ID, e.ID)
		}
		_, err := c.Cancel(context.Background(), CancelRequest{ExecutionID: e.ID})
		require.NoError(t, err)
	}
	require.Equal(t, 1, r.sim.Peak(wf), "one at a time")
}

// TestMaxConcurrencyAcrossReplicas: three replicas run 50 executions of an
// ALLOW_ALL workflow with max_concurrency 3, triggered at once: the engine
// never runs more than 3 at once, every one ends, and none runs twice.
func TestMaxConcurrencyAcrossReplicas(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{MinDuration: 20 * time.Millisecond, MaxDuration: 60 * time.Millisecond})
	// A lease the race detector on a busy host cannot outlast: an adoption
	// would dispatch a run a second time, which this test counts.
	cs := make([]*Coordinator, 3)
	for i, name := range []string{"a", "b", "c"} {
		o := testOptions(name)
		o.Lease = 10 * time.Second
		cs[i] = r.started(New(r.st, r.engine, r.locks, o))
	}
	// The last of the queue waits for the 49 before it: under load that may
	// pass the default 30 s execution timeout, which would end it TIMED_OUT
	// before it started.
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, MaxConcurrency: 3, ExecutionTimeoutSeconds: 600})

	const n = 50
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := cs[i%len(cs)].Trigger(context.Background(), TriggerRequest{WorkflowID: wf})
			ids[i], errs[i] = resp.Execution.ID, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	r.waitAll(ids, workflow.ExecutionSucceeded)
	for _, id := range ids {
		require.Equal(t, 1, r.calls(id), "execution %s reached the engine once", id)
	}
	require.Equal(t, n, r.sim.Executions(), "no execution doubled")
	peak := r.sim.Peak(wf)
	require.LessOrEqual(t, peak, 3)
	t.Logf("max_concurrency 3, 3 replicas, %d executions triggered at once: all SUCCEEDED, engine-sim peak = %d", n, peak)
}

// TestTriggerAnswersAdmission: a manual trigger's answer says what the
// deployment's overlap policy did with the run: started, waits, or skipped.
func TestTriggerAnswersAdmission(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	c := r.coordinator("a")
	for _, tc := range []struct {
		config workflow.Config
		second Admission
	}{
		{workflow.Config{OverlapPolicy: workflow.OverlapSkip}, AdmissionSkipped},
		{workflow.Config{OverlapPolicy: workflow.OverlapBufferOne}, AdmissionWaiting},
		{workflow.Config{OverlapPolicy: workflow.OverlapBufferAll, MaxBuffered: 10}, AdmissionWaiting},
		{workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, MaxConcurrency: 1}, AdmissionWaiting},
		{workflow.Config{OverlapPolicy: workflow.OverlapAllowAll}, AdmissionStarted},
	} {
		wf := r.deploy(tc.config)
		for i, want := range []Admission{AdmissionStarted, tc.second} {
			resp, err := c.Trigger(context.Background(), TriggerRequest{WorkflowID: wf})
			require.NoError(t, err)
			require.Equal(t, want, resp.Admission, "%+v: trigger %d", tc.config, i+1)
			if i == 0 {
				r.waitStatus(resp.Execution.ID, workflow.ExecutionRunning)
			}
		}
	}
}

// TestTriggerOverridesPolicy: a manual trigger's overlap_policy applies to
// its run only, and a bad override, or one on a webhook trigger, is refused
// with nothing written.
func TestTriggerOverridesPolicy(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	c := r.coordinator("a")
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip})
	ctx := context.Background()
	trigger := func(policy string) TriggerResponse {
		resp, err := c.Trigger(ctx, TriggerRequest{WorkflowID: wf, OverlapPolicy: policy})
		require.NoError(t, err)
		return resp
	}

	first := trigger("")
	require.Equal(t, AdmissionStarted, first.Admission)
	r.waitStatus(first.Execution.ID, workflow.ExecutionRunning)
	beside := trigger(workflow.OverlapAllowAll)
	require.Equal(t, AdmissionStarted, beside.Admission, "ALLOW_ALL for this run: it runs beside the first")
	require.Equal(t, workflow.OverlapAllowAll, r.waitStatus(beside.Execution.ID, workflow.ExecutionRunning).OverlapPolicy)
	queued := trigger(workflow.OverlapBufferAll)
	require.Equal(t, AdmissionWaiting, queued.Admission, "BUFFER_ALL for this run: it waits for the first")
	require.Equal(t, AdmissionSkipped, trigger("").Admission, "the deployment's SKIP for the next")

	before := r.countExecutions(wf)
	for _, bad := range []TriggerRequest{
		{WorkflowID: wf, OverlapPolicy: "QUEUE"},
		{WebhookPath: "hooks/x", OverlapPolicy: workflow.OverlapAllowAll},
		{WorkflowID: wf, TriggerType: workflow.TriggerWebhook, OverlapPolicy: workflow.OverlapAllowAll},
	} {
		var v errors.Violations
		bad.Check(&v)
		require.Equal(t, "overlap_policy", v[0].Field, "%+v", bad)
		_, err := c.Trigger(ctx, bad)
		require.Equal(t, errors.Invalid, errors.KindOf(err), "%+v: %v", bad, err)
	}
	require.Equal(t, before, r.countExecutions(wf), "refused overrides wrote nothing")
}

// TestTriggerTimeout: a trigger's execution_timeout_seconds overrides its
// deployment's for the executions it starts.
func TestTriggerTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	c := r.coordinator("a")
	d := &workflow.Deployment{
		WorkflowID: "wf-" + uuid.NewString()[:8], Status: workflow.StatusDeployed, Version: 1,
		Definition: []byte(`{"nodes":[{"id":"a","name":"A","type":"ACTION"}]}`),
		Config:     workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, ExecutionTimeoutSeconds: 3600},
		Triggers:   []workflow.Trigger{{Type: workflow.TriggerManual, Enabled: true, ExecutionTimeoutSeconds: 1}},
	}
	require.NoError(t, r.st.CreateDeployment(context.Background(), d, workflow.Event{Action: workflow.ActionDeploy}))

	e := r.trigger(c, d.WorkflowID)
	done := r.waitStatus(e.ID, workflow.ExecutionTimedOut)
	// Under load the engine may not even accept the run within the second:
	// either way the reason names the trigger's timeout.
	require.Contains(t, done.ErrorMessage, "execution timeout of 1s", "the trigger's timeout, not the deployment's hour")
}

// TestOverrideSeesRunsWithoutTheTurn: a run-now override that keeps one run
// at a time sees the workflow's runs that took no turn (under ALLOW_ALL,
// the deployment's or another override's): SKIP skips, BUFFER_ONE and
// BUFFER_ALL wait, CANCEL_OTHER cancels every one of them.
func TestOverrideSeesRunsWithoutTheTurn(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	c := r.coordinator("a")
	ctx := context.Background()
	trigger := func(t *testing.T, wf, policy string) TriggerResponse {
		t.Helper()
		resp, err := c.Trigger(ctx, TriggerRequest{WorkflowID: wf, OverlapPolicy: policy})
		require.NoError(t, err)
		return resp
	}
	cancel := func(t *testing.T, id string) {
		t.Helper()
		_, err := c.Cancel(ctx, CancelRequest{ExecutionID: id})
		require.NoError(t, err)
	}

	t.Run("deployment ALLOW_ALL", func(t *testing.T) {
		t.Parallel()
		wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll})
		a := trigger(t, wf, "").Execution
		r.waitStatus(a.ID, workflow.ExecutionRunning)

		skip := trigger(t, wf, workflow.OverlapSkip)
		require.Equal(t, AdmissionSkipped, skip.Admission)
		require.Equal(t, "workflow is running execution "+a.ID, r.waitStatus(skip.Execution.ID, workflow.ExecutionSkipped).SkipReason)

		buffered := trigger(t, wf, workflow.OverlapBufferOne)
		require.Equal(t, AdmissionWaiting, buffered.Admission)
		require.Equal(t, workflow.ExecutionPending, r.get(buffered.Execution.ID).Status)
		cancel(t, a.ID)
		r.waitStatus(buffered.Execution.ID, workflow.ExecutionRunning)

		// One beside the buffered run, which now holds the turn: CANCEL_OTHER
		// replaces both.
		b := trigger(t, wf, "")
		require.Equal(t, AdmissionStarted, b.Admission)
		r.waitStatus(b.Execution.ID, workflow.ExecutionRunning)
		replacing := trigger(t, wf, workflow.OverlapCancelOther)
		r.waitStatus(replacing.Execution.ID, workflow.ExecutionRunning)
		for _, id := range []string{buffered.Execution.ID, b.Execution.ID} {
			require.Equal(t, "cancelled: replaced by execution "+replacing.Execution.ID, r.waitStatus(id, workflow.ExecutionCancelled).ErrorMessage)
		}
		for _, id := range []string{a.ID, skip.Execution.ID, buffered.Execution.ID, b.Execution.ID, replacing.Execution.ID} {
			require.LessOrEqual(t, r.calls(id), 1, "execution %s", id)
		}
		require.Zero(t, r.calls(skip.Execution.ID))
	})

	t.Run("another override's ALLOW_ALL", func(t *testing.T) {
		t.Parallel()
		wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip})
		beside := trigger(t, wf, workflow.OverlapAllowAll).Execution
		r.waitStatus(beside.ID, workflow.ExecutionRunning)

		skip := trigger(t, wf, workflow.OverlapSkip)
		require.Equal(t, AdmissionSkipped, skip.Admission)
		require.Equal(t, "workflow is running execution "+beside.ID, r.waitStatus(skip.Execution.ID, workflow.ExecutionSkipped).SkipReason)
		queued := trigger(t, wf, workflow.OverlapBufferAll)
		require.Equal(t, AdmissionWaiting, queued.Admission)
		cancel(t, beside.ID)
		r.waitStatus(queued.Execution.ID, workflow.ExecutionRunning)
	})
}
