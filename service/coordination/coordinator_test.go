package coordination

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// rig is a coordinator over real PostgreSQL, Redis and an engine-sim served
// over gRPC on a port of 127.0.0.1, with timings short enough for tests.
type rig struct {
	t      *testing.T
	st     *postgres.Store
	sim    *enginesim.Sim
	engine engine.Client
	locks  *lock.DistributedLockManager
	// rdb and lockPrefix are the Redis client and key prefix of locks.
	rdb        *redis.Client
	lockPrefix string
}

// testOptions are the coordinator's timings in these tests: what takes
// seconds in production takes milliseconds here.
func testOptions(instance string) Options {
	return Options{
		InstanceID: instance, Lease: time.Second, ExecutionTimeout: 30 * time.Second, LockGrace: time.Second,
		PollMin: 10 * time.Millisecond, PollMax: 50 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, BufferRetry: 20 * time.Millisecond,
		// A run's admission takes a few database round trips, which under
		// -race on a loaded 2-core host took more than the 2 s default.
		AdmissionWait: 15 * time.Second,
	}
}

// steadyOptions is testOptions for a test that does not measure lease
// expiry. A 1 s lease is renewed every Lease/3, each renewal given Lease/3:
// under -race on a loaded 2-core host renewals come late or time out, the
// lease runs out, and another replica adopts the row in the middle of what
// the test watches.
func steadyOptions(instance string) Options {
	o := testOptions(instance)
	o.Lease = 20 * time.Second
	return o
}

func newRig(t *testing.T, sim enginesim.Config) *rig {
	t.Helper()
	return newRigOn(t, sim, pgtest.NewStore)
}

// newRigOn is newRig on the store that open makes (pgtest's, or one whose
// clock the test moves).
func newRigOn(t *testing.T, sim enginesim.Config, open func(testing.TB) *postgres.Store) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	r := &rig{t: t, st: open(t), sim: enginesim.New(sim)}
	r.engine = simtest.Client(t, simtest.Serve(t, r.sim, "127.0.0.1:0"))
	r.rdb, r.lockPrefix = redistest.New(t)
	r.locks = lock.NewDistributedLockManager(r.rdb, r.lockPrefix)
	return r
}

// coordinator returns a started coordinator named instance, stopped when the test ends.
func (r *rig) coordinator(instance string) *Coordinator {
	return r.coordinatorWith(instance, r.engine, r.locks)
}

func (r *rig) coordinatorWith(instance string, eng engine.Client, locks Locker) *Coordinator {
	return r.started(New(r.st, eng, locks, testOptions(instance)))
}

// testClock is a fake clock standing at the present whole second: the
// database keeps times to the microsecond, so that what the coordinator
// reads back of its own clock is what it wrote.
func testClock() *clock.Fake { return clock.NewFake(time.Now().Truncate(time.Second)) }

// coordinatorOn is coordinatorWith for a coordinator whose clock is now.
func (r *rig) coordinatorOn(instance string, eng engine.Client, locks Locker, now func() time.Time) *Coordinator {
	o := testOptions(instance)
	o.Now = now
	return r.started(New(r.st, eng, locks, o))
}

// started starts c with its test signals, and stops it when the test ends.
func (r *rig) started(c *Coordinator) *Coordinator {
	withSignals(c)
	require.NoError(r.t, c.Start(context.Background()))
	r.t.Cleanup(func() { require.NoError(r.t, c.Stop(context.Background())) })
	return c
}

// withSignals makes c's test signals, with room for all a test causes.
func withSignals(c *Coordinator) *Coordinator {
	c.signals = testSignals{ran: make(chan string, 1000), dispatchFailed: make(chan string, 1000), waiting: make(chan string, 1000),
		due: make(chan string, 1000), looked: make(chan string, 1000)}
	return c
}

// await waits for the signal of execution id on ch, passing over others'.
func await(t *testing.T, ch <-chan string, id string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("no signal came for execution %s", id)
		}
	}
}

// deploy creates a DEPLOYED deployment of a new workflow with a MANUAL trigger.
func (r *rig) deploy(cfg workflow.Config) string {
	r.t.Helper()
	d := &workflow.Deployment{
		WorkflowID: "wf-" + uuid.NewString()[:8], Status: workflow.StatusDeployed, Version: 1,
		Definition: []byte(`{"nodes":[{"id":"a","name":"A","type":"ACTION"}]}`), Config: cfg,
		Triggers: []workflow.Trigger{{Type: workflow.TriggerManual, Enabled: true}},
	}
	require.NoError(r.t, r.st.CreateDeployment(context.Background(), d, workflow.Event{Action: workflow.ActionDeploy}))
	return d.WorkflowID
}

func (r *rig) trigger(c *Coordinator, wf string) workflow.Execution {
	r.t.Helper()
	resp, err := c.Trigger(context.Background(), TriggerRequest{WorkflowID: wf, TriggerData: `{"n": 1}`})
	require.NoError(r.t, err)
	require.False(r.t, resp.Deduplicated)
	return resp.Execution
}

func (r *rig) get(id string) workflow.Execution {
	r.t.Helper()
	e, err := r.st.GetExecution(context.Background(), id)
	require.NoError(r.t, err)
	return *e
}

// waitStatus waits until execution id is in one of statuses and returns it.
func (r *rig) waitStatus(id string, statuses ...workflow.ExecutionStatus) workflow.Execution {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		e := r.get(id)
		if slices.Contains(statuses, e.Status) {
			return e
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("execution %s is %s (%s), want one of %v", id, e.Status, e.ErrorMessage, statuses)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAll waits until every execution of ids is in status. A batch that
// queues takes as long as the machine is slow: it fails only once none of
// them has got there for 15 s, not at a deadline for the whole batch.
func (r *rig) waitAll(ids []string, status workflow.ExecutionStatus) {
	r.t.Helper()
	done, deadline := 0, time.Now().Add(15*time.Second)
	for done < len(ids) {
		e := r.get(ids[done])
		switch {
		case e.Status == status:
			done++
			deadline = time.Now().Add(15 * time.Second)
			continue
		case e.Status.Terminal():
			r.t.Fatalf("execution %s ended %s (%s%s), want %s", e.ID, e.Status, e.ErrorMessage, e.SkipReason, status)
		case time.Now().After(deadline):
			r.t.Fatalf("%d of %d executions are %s; execution %s is still %s", done, len(ids), status, e.ID, e.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// calls returns how many ExecuteWorkflow calls the engine took for execution id.
func (r *rig) calls(id string) int { return r.sim.Calls()[id] }

func (r *rig) countExecutions(wf string) int {
	r.t.Helper()
	var n int
	require.NoError(r.t, r.st.DB().Get(&n, `SELECT count(*) FROM executions WHERE workflow_id = $1`, wf))
	return n
}

func TestManualTriggerRunsToItsEnd(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{MinDuration: 50 * time.Millisecond, MaxDuration: 50 * time.Millisecond})
	c := r.coordinator("a")
	wf := r.deploy(workflow.Config{})

	e := r.trigger(c, wf)
	require.Equal(t, workflow.ExecutionPending, e.Status)
	require.Equal(t, workflow.TriggerManual, e.TriggerType)
	require.Equal(t, "manual", e.TriggeredBy)
	require.NotEmpty(t, e.TriggerID, "the deployment's MANUAL trigger")

	done := r.waitStatus(e.ID, workflow.ExecutionSucceeded)
	require.NotEmpty(t, done.EngineExecutionID)
	require.NotNil(t, done.StartedTime)
	require.NotNil(t, done.FinishedTime)
	require.Nil(t, done.LeaseExpiresAt, "a finished execution holds no lease")
	require.Equal(t, "a", done.OwnerInstance)
	require.JSONEq(t, `{"n": 1}`, string(done.Input))
	require.NotEmpty(t, done.Result)
	require.Equal(t, 1, r.calls(e.ID))

	// The lock goes right after the end is recorded.
	require.Eventually(t, func() bool {
		holder, err := r.locks.Holder(context.Background(), wf)
		return err == nil && holder == ""
	}, time.Second, 5*time.Millisecond, "the workflow lock is released at the end")
}

func TestIdempotencyKeyReturnsTheSameExecution(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	c := r.coordinator("a")
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll})

	var wg sync.WaitGroup
	resps := make([]TriggerResponse, 8)
	errs := make([]error, len(resps))
	for i := range resps {
		wg.Go(func() {
			resps[i], errs[i] = c.Trigger(context.Background(), TriggerRequest{WorkflowID: wf, IdempotencyKey: "order-42"})
		})
	}
	wg.Wait()
	fresh := 0
	for i, resp := range resps {
		require.NoError(t, errs[i], "call %d", i)
		require.Equal(t, resps[0].Execution.ID, resp.Execution.ID)
		if !resp.Deduplicated {
			fresh++
		}
	}
	require.Equal(t, 1, fresh, "exactly one call started the execution")
	id := resps[0].Execution.ID
	r.waitStatus(id, workflow.ExecutionSucceeded)
	require.Equal(t, 1, r.countExecutions(wf))
	require.Equal(t, 1, r.calls(id))
}

func TestTriggerRejectsBadInput(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	c := r.coordinator("a")
	wf := r.deploy(workflow.Config{})
	paused := r.deploy(workflow.Config{})
	d, err := r.st.GetActiveDeployment(context.Background(), paused)
	require.NoError(t, err)
	_, err = r.st.UpdateDeployment(context.Background(), d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = workflow.StatusPaused
		return workflow.Event{Action: workflow.ActionPause}, nil
	})
	require.NoError(t, err)

	// The cases run in parallel once this function returns; when all have,
	// none may have written or called the engine.
	t.Cleanup(func() {
		var n int
		require.NoError(t, r.st.DB().Get(&n, `SELECT count(*) FROM executions`))
		require.Zero(t, n, "a rejected trigger writes nothing")
		require.Zero(t, r.sim.Executions())
	})
	deep := strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65)
	for _, tc := range []struct {
		name string
		req  TriggerRequest
		kind errors.Kind
	}{
		{"missing workflow id", TriggerRequest{}, errors.Invalid},
		{"malformed workflow id", TriggerRequest{WorkflowID: "bad id!"}, errors.Invalid},
		{"not JSON", TriggerRequest{WorkflowID: wf, TriggerData: "{nope"}, errors.Invalid},
		{"JSON array", TriggerRequest{WorkflowID: wf, TriggerData: "[1,2]"}, errors.Invalid},
		{"too large", TriggerRequest{WorkflowID: wf, TriggerData: `{"a":"` + strings.Repeat("x", 2<<20) + `"}`}, errors.Invalid},
		{"too deep", TriggerRequest{WorkflowID: wf, TriggerData: deep}, errors.Invalid},
		{"key too long", TriggerRequest{WorkflowID: wf, IdempotencyKey: strings.Repeat("k", 300)}, errors.Invalid},
		{"actor too long", TriggerRequest{WorkflowID: wf, TriggeredBy: strings.Repeat("k", 300)}, errors.Invalid},
		{"cron is not triggered by a call", TriggerRequest{WorkflowID: wf, TriggerType: workflow.TriggerCron}, errors.Invalid},
		{"a webhook is not for this service", TriggerRequest{WebhookPath: "orders/new"}, errors.Invalid},
		{"unknown workflow", TriggerRequest{WorkflowID: "wf-unknown"}, errors.NotFound},
		{"paused deployment", TriggerRequest{WorkflowID: paused}, errors.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Trigger(context.Background(), tc.req)
			require.Error(t, err)
			require.Equal(t, tc.kind, errors.KindOf(err), "%v", err)
		})
	}
}

// TestOverlapPolicies runs each policy with the workflow lock in Redis, and
// without Redis, where the database decides (ARCHITECTURE "Redis down").
func TestOverlapPolicies(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"redis", "database"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			// Executions run a minute of the engine's clock, which only
			// the test moves: none ends before the test has seen what it
			// must while it runs, however slowly the machine goes.
			clk := testClock()
			r := newRig(t, enginesim.Config{MinDuration: time.Minute, MaxDuration: time.Minute, Now: clk.Now})
			var locks Locker
			if mode == "redis" {
				locks = r.locks
			}
			testOverlapPolicies(t, r, r.coordinatorWith("a", r.engine, locks), clk)
		})
	}
}

// testOverlapPolicies runs each policy on c, whose engine runs every
// execution for a minute of engineClock.
func testOverlapPolicies(t *testing.T, r *rig, c *Coordinator, engineClock *clock.Fake) {
	// end lets the executions ids, running in the engine, finish there.
	end := func(ids ...string) {
		for _, id := range ids {
			r.waitStatus(id, workflow.ExecutionRunning)
		}
		engineClock.Advance(time.Minute)
		for _, id := range ids {
			r.waitStatus(id, workflow.ExecutionSucceeded)
		}
	}
	t.Run("SKIP", func(t *testing.T) {
		wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip})
		first := r.trigger(c, wf)
		r.waitStatus(first.ID, workflow.ExecutionRunning)
		second := r.waitStatus(r.trigger(c, wf).ID, workflow.ExecutionSkipped)
		require.Equal(t, "workflow is running execution "+first.ID, second.SkipReason)
		require.Zero(t, r.calls(second.ID))
		end(first.ID)
		// The lock went with the first run: the next trigger runs.
		end(r.trigger(c, wf).ID)
	})
	t.Run("ALLOW_ALL", func(*testing.T) {
		wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll})
		first, second := r.trigger(c, wf), r.trigger(c, wf)
		// Both RUNNING before either can end: they run at the same time.
		end(first.ID, second.ID)
	})
	t.Run("BUFFER_ONE", func(t *testing.T) {
		wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapBufferOne})
		first := r.trigger(c, wf)
		r.waitStatus(first.ID, workflow.ExecutionRunning)
		second := r.trigger(c, wf)
		third := r.waitStatus(r.trigger(c, wf).ID, workflow.ExecutionSkipped)
		require.Equal(t, "execution "+second.ID+" is already buffered", third.SkipReason)
		require.Equal(t, workflow.ExecutionPending, r.get(second.ID).Status, "buffered while the first runs")
		end(first.ID)
		end(second.ID)
		// Had the buffered run started before the engine's clock moved, it
		// would have started before the first ended.
		a := r.get(first.ID)
		b, err := r.sim.GetExecutionStatus(context.Background(), &pb.GetExecutionStatusRequest{ExecutionId: r.get(second.ID).EngineExecutionID})
		require.NoError(t, err)
		require.False(t, time.UnixMilli(b.GetExecution().GetStartTime()).Before(*a.FinishedTime), "the buffered run starts after the first ends")
	})
	t.Run("CANCEL_OTHER", func(t *testing.T) {
		wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapCancelOther})
		first := r.trigger(c, wf)
		r.waitStatus(first.ID, workflow.ExecutionRunning)
		second := r.trigger(c, wf)
		a := r.waitStatus(first.ID, workflow.ExecutionCancelled)
		require.Equal(t, "cancelled: replaced by execution "+second.ID, a.ErrorMessage)
		end(second.ID)
		resp, err := r.sim.GetExecutionStatus(context.Background(), &pb.GetExecutionStatusRequest{ExecutionId: a.EngineExecutionID})
		require.NoError(t, err)
		require.Equal(t, pb.ExecutionStatus_CANCELED, resp.GetExecution().GetStatus(), "cancelled in the engine too")
	})
}

func TestEngineFailureHangAndTimeout(t *testing.T) {
	t.Parallel()
	t.Run("failure", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, enginesim.Config{FailureRate: 1})
		c := r.coordinator("a")
		e := r.waitStatus(r.trigger(c, r.deploy(workflow.Config{})).ID, workflow.ExecutionFailed)
		require.NotEmpty(t, e.ErrorMessage)
		require.NotNil(t, e.FinishedTime)
	})
	t.Run("hang then timeout", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, enginesim.Config{HangRate: 1})
		clk := testClock()
		c := r.coordinatorOn("a", r.engine, r.locks, clk.Now)
		wf := r.deploy(workflow.Config{ExecutionTimeoutSeconds: 600})
		e := r.trigger(c, wf)
		require.Equal(t, workflow.ExecutionRunning, r.waitStatus(e.ID, workflow.ExecutionRunning).Status)
		clk.Advance(10 * time.Minute)
		done := r.waitStatus(e.ID, workflow.ExecutionTimedOut)
		require.Equal(t, "execution timeout of 10m0s exceeded", done.ErrorMessage)
		require.Equal(t, 10*time.Minute, done.FinishedTime.Sub(*done.StartedTime))
		resp, err := r.sim.GetExecutionStatus(context.Background(), &pb.GetExecutionStatusRequest{ExecutionId: done.EngineExecutionID})
		require.NoError(t, err)
		require.Equal(t, pb.ExecutionStatus_CANCELED, resp.GetExecution().GetStatus(), "cancelled in the engine at the timeout")
	})
}

func TestCancelExecution(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	a, b := r.coordinator("a"), r.coordinator("b")
	wf := r.deploy(workflow.Config{})
	e := r.trigger(a, wf)
	r.waitStatus(e.ID, workflow.ExecutionRunning)

	// Another replica than the owner cancels.
	got, err := b.Cancel(context.Background(), CancelRequest{ExecutionID: e.ID, Reason: "operator said so"})
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionCancelled, got.Status)
	require.Equal(t, "cancelled: operator said so", got.ErrorMessage)
	resp, err := r.sim.GetExecutionStatus(context.Background(), &pb.GetExecutionStatusRequest{ExecutionId: got.EngineExecutionID})
	require.NoError(t, err)
	require.Equal(t, pb.ExecutionStatus_CANCELED, resp.GetExecution().GetStatus())
	holder, err := r.locks.Holder(context.Background(), wf)
	require.NoError(t, err)
	require.Empty(t, holder, "the workflow is free at once")

	// A PENDING execution is cancelled before it reaches the engine: this
	// one waits behind a hung run under BUFFER_ONE.
	wf2 := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapBufferOne})
	r.waitStatus(r.trigger(a, wf2).ID, workflow.ExecutionRunning)
	buffered := r.trigger(a, wf2)
	got, err = b.Cancel(context.Background(), CancelRequest{ExecutionID: buffered.ID})
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionCancelled, got.Status)
	require.Empty(t, got.EngineExecutionID)
	await(t, a.signals.ran, buffered.ID)
	require.Zero(t, r.calls(buffered.ID), "a cancelled PENDING execution is never dispatched")

	// Refused cancels, in parallel once this function returns; when all
	// have, the execution they named must be as it was.
	before := r.get(e.ID)
	t.Cleanup(func() { require.Equal(t, before, r.get(e.ID), "a refused cancel changes nothing") })
	for _, tc := range []struct {
		name string
		req  CancelRequest
		kind errors.Kind
	}{
		{"already over", CancelRequest{ExecutionID: e.ID}, errors.FailedPrecondition},
		{"malformed id", CancelRequest{ExecutionID: "42"}, errors.Invalid},
		{"reason too long", CancelRequest{ExecutionID: e.ID, Reason: strings.Repeat("r", 2000)}, errors.Invalid},
		{"unknown", CancelRequest{ExecutionID: uuid.NewString()}, errors.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.Cancel(context.Background(), tc.req)
			require.Equal(t, tc.kind, errors.KindOf(err), "%v", err)
		})
	}
}

// TestEngineUnavailableThenBack: the row stays PENDING while the engine is
// down, and is dispatched once when it comes back.
func TestEngineUnavailableThenBack(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	c := r.coordinatorWith("a", simtest.Client(t, addr), r.locks)
	e := r.trigger(c, r.deploy(workflow.Config{}))
	await(t, c.signals.dispatchFailed, e.ID)
	require.Equal(t, workflow.ExecutionPending, r.get(e.ID).Status)

	simtest.Serve(t, r.sim, addr)
	r.waitStatus(e.ID, workflow.ExecutionSucceeded)
	require.Equal(t, 1, r.calls(e.ID))
}

// TestAdoption: executions of a replica that died without a word are carried
// on by another once their leases run out, PENDING and RUNNING alike.
func TestAdoption(t *testing.T) {
	t.Parallel()
	// The RUNNING one ends when the test moves the engine's clock, after the
	// heir adopted it: on a timer it could end, and be written by the
	// replica that is to die, before the test sees it RUNNING.
	engineClock := testClock()
	r := newRig(t, enginesim.Config{MinDuration: time.Minute, MaxDuration: time.Minute, Now: engineClock.Now})
	dead := r.coordinator("dead")
	wf := r.deploy(workflow.Config{})
	running := r.trigger(dead, wf)
	r.waitStatus(running.ID, workflow.ExecutionRunning)
	// Dies: its runs stop, nothing is released.
	dead.halt()
	dead.wg.Wait()

	// A PENDING row that a dead replica recorded and never dispatched.
	d, err := r.st.GetActiveDeployment(context.Background(), wf)
	require.NoError(t, err)
	expired := time.Now().Add(-time.Minute)
	pending := &workflow.Execution{
		WorkflowID: wf, DeploymentID: d.ID, DeploymentVersion: d.Version, TriggerType: workflow.TriggerManual,
		Status: workflow.ExecutionPending, FiredTime: time.Now().UTC(), OwnerInstance: "dead", LeaseExpiresAt: &expired,
	}
	created, err := r.st.CreateExecution(context.Background(), pending)
	require.NoError(t, err)
	require.True(t, created)

	r.coordinator("heir")
	require.Eventually(t, func() bool { return r.get(running.ID).OwnerInstance == "heir" }, 15*time.Second, 10*time.Millisecond,
		"the RUNNING one was not adopted")
	engineClock.Advance(time.Minute)
	done := r.waitStatus(running.ID, workflow.ExecutionSucceeded)
	require.Equal(t, "heir", done.OwnerInstance)
	require.Equal(t, 1, r.calls(running.ID), "the RUNNING one is followed, not dispatched again")
	// The PENDING one waited for the lock of the RUNNING one (SKIP skips
	// only when the lock is held at its turn; the heir takes its turn after
	// adopting both, in fired order), and then runs until the engine's
	// clock moves again.
	var p workflow.Execution
	require.Eventually(t, func() bool {
		engineClock.Advance(time.Minute)
		p = r.get(pending.ID)
		return p.Status == workflow.ExecutionSucceeded || p.Status == workflow.ExecutionSkipped
	}, 15*time.Second, 50*time.Millisecond)
	require.Equal(t, "heir", p.OwnerInstance)
}

// TestStopReleasesLeases: a stopping replica hands its running executions
// over at once rather than after their leases run out.
func TestStopReleasesLeases(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{MinDuration: 2 * time.Second, MaxDuration: 2 * time.Second})
	a := New(r.st, r.engine, r.locks, testOptions("a"))
	require.NoError(t, a.Start(context.Background()))
	wf := r.deploy(workflow.Config{})
	e := r.trigger(a, wf)
	r.waitStatus(e.ID, workflow.ExecutionRunning)
	require.NoError(t, a.Stop(context.Background()))
	row := r.get(e.ID)
	require.Equal(t, workflow.ExecutionRunning, row.Status)
	require.False(t, row.LeaseExpiresAt.After(time.Now()), "lease released")
	holder, err := r.locks.Holder(context.Background(), wf)
	require.NoError(t, err)
	require.Equal(t, e.ID, holder, "the lock stays with the running execution")

	r.coordinator("b")
	done := r.waitStatus(e.ID, workflow.ExecutionSucceeded)
	require.Equal(t, "b", done.OwnerInstance)
	require.Eventually(t, func() bool {
		holder, err := r.locks.Holder(context.Background(), wf)
		return err == nil && holder == ""
	}, time.Second, 5*time.Millisecond, "the adopter released the lock it took over")
}

// TestStopTwice: the shutdown's Stop is bounded by its context; a later Stop
// (serve's deferred one) returns at once instead of waiting again for the
// dispatch still in flight.
func TestStopTwice(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	release := make(chan struct{})
	defer close(release)
	stall := stallingEngine{Client: r.engine, entered: make(chan string, 1), release: release}
	c := New(r.st, stall, r.locks, testOptions("a"))
	require.NoError(r.t, c.Start(context.Background()))
	r.trigger(c, r.deploy(workflow.Config{}))
	<-stall.entered

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Stop(ctx), context.DeadlineExceeded, "the dispatch in flight outlasted the first Stop")
	done := make(chan struct{})
	var second error
	go func() {
		second = c.Stop(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the second Stop waited for the dispatch in flight")
	}
	require.NoError(t, second)
}

// stallingEngine holds every Execute until release is closed, then makes
// it; entered gets each held execution's id, when it has room.
type stallingEngine struct {
	engine.Client
	entered chan string
	release chan struct{}
	// holdCancel, when set, runs before each Cancel is made, and a Cancel
	// whose context ended meanwhile fails as its call would.
	holdCancel func()
}

func (s stallingEngine) Cancel(ctx context.Context, engineExecutionID, reason string) error {
	if s.holdCancel != nil {
		s.holdCancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return s.Client.Cancel(ctx, engineExecutionID, reason)
}

func (s stallingEngine) Execute(ctx context.Context, req engine.ExecuteRequest) (engine.Accepted, error) {
	select {
	case s.entered <- req.ExecutionID:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return engine.Accepted{}, ctx.Err()
	}
	return s.Client.Execute(ctx, req)
}

// TestRedisStoppedMidway: with Redis gone the overlap policy is decided in
// the database, and nothing runs twice.
func TestRedisStoppedMidway(t *testing.T) {
	t.Parallel()
	// The first execution runs until the test moves the engine's clock.
	engineClock := testClock()
	r := newRig(t, enginesim.Config{MinDuration: time.Minute, MaxDuration: time.Minute, Now: engineClock.Now})
	addr, stopRedis := redistest.Private(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	locks := lock.NewDistributedLockManager(rdb, "wfr_test:")
	c := r.coordinatorWith("a", r.engine, locks)
	wf := r.deploy(workflow.Config{})

	first := r.trigger(c, wf)
	r.waitStatus(first.ID, workflow.ExecutionRunning)
	stopRedis()

	// Two more triggers while the first runs: both skipped, by the database.
	second, third := r.trigger(c, wf), r.trigger(c, wf)
	s2 := r.waitStatus(second.ID, workflow.ExecutionSkipped)
	r.waitStatus(third.ID, workflow.ExecutionSkipped)
	require.Equal(t, "workflow is running execution "+first.ID, s2.SkipReason)
	engineClock.Advance(time.Minute)
	r.waitStatus(first.ID, workflow.ExecutionSucceeded)

	// Once the first is over, the next trigger runs, still without Redis.
	fourth := r.waitStatus(r.trigger(c, wf).ID, workflow.ExecutionRunning)
	engineClock.Advance(time.Minute)
	r.waitStatus(fourth.ID, workflow.ExecutionSucceeded)
	for _, id := range []string{first.ID, fourth.ID} {
		require.Equal(t, 1, r.calls(id))
	}
	require.Zero(t, r.calls(second.ID)+r.calls(third.ID))
}

// TestDeadOwnersLockDoesNotSkip: when the workflow lock is held by an
// execution whose owner died after the engine finished it, the next
// execution records that end and runs instead of being skipped behind it.
func TestDeadOwnersLockDoesNotSkip(t *testing.T) {
	t.Parallel()
	// Both clocks are the test's: the engine's, so that the first
	// execution ends only once its owner is dead, and the database's, so
	// that the dead owner's lease runs out without waiting for it.
	engineClock := testClock()
	var dbClock *pgtest.Clock
	r := newRigOn(t, enginesim.Config{MinDuration: time.Minute, MaxDuration: time.Minute, Now: engineClock.Now},
		func(t testing.TB) *postgres.Store {
			st, c := pgtest.NewStoreWithClock(t)
			dbClock = c
			return st
		})
	dead := r.coordinator("dead")
	wf := r.deploy(workflow.Config{})
	first := r.trigger(dead, wf)
	r.waitStatus(first.ID, workflow.ExecutionRunning)
	dead.halt()
	dead.wg.Wait()
	engineClock.Advance(time.Minute)
	dbClock.Set(t, time.Minute)
	require.Equal(t, workflow.ExecutionRunning, r.get(first.ID).Status, "its owner died before it learnt of the end")

	// A replica that does not adopt (no Start): only the overlap check can
	// find that the first execution is over.
	live := New(r.st, r.engine, r.locks, testOptions("live"))
	t.Cleanup(func() { require.NoError(t, live.Stop(context.Background())) })
	second := r.trigger(live, wf)
	r.waitStatus(second.ID, workflow.ExecutionRunning)
	engineClock.Advance(time.Minute)
	r.waitStatus(second.ID, workflow.ExecutionSucceeded)
	done := r.get(first.ID)
	require.Equal(t, workflow.ExecutionSucceeded, done.Status)
	require.Equal(t, "dead", done.OwnerInstance, "recorded for its dead owner, not adopted")
}

// flakyLocker fails AcquireLockFor with ErrUnavailable while down is set.
type flakyLocker struct {
	*lock.DistributedLockManager
	down atomic.Bool
}

func (f *flakyLocker) AcquireLockFor(ctx context.Context, wf, holder string, ttl time.Duration) (*lock.Lock, error) {
	if f.down.Load() {
		return nil, errors.E(errors.Unavailable, lock.ErrUnavailable)
	}
	return f.DistributedLockManager.AcquireLockFor(ctx, wf, holder, ttl)
}

// TestSkipAfterRedisOutage: an execution started while Redis was down holds
// no lock; once Redis is back, the next SKIP execution finds the free lock
// but not the turn, and is skipped.
func TestSkipAfterRedisOutage(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{MinDuration: 10 * time.Second, MaxDuration: 10 * time.Second})
	fl := &flakyLocker{DistributedLockManager: r.locks}
	fl.down.Store(true)
	clk := testClock()
	c := r.coordinatorOn("a", r.engine, fl, clk.Now)
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip})
	a := r.trigger(c, wf)
	r.waitStatus(a.ID, workflow.ExecutionRunning)
	fl.down.Store(false)
	clk.Advance(redisBackoff)
	b := r.trigger(c, wf)
	got := r.waitStatus(b.ID, workflow.ExecutionRunning, workflow.ExecutionSkipped)
	require.Equal(t, workflow.ExecutionSkipped, got.Status, "SKIP overlapped")
	require.Equal(t, "workflow is running execution "+a.ID, got.SkipReason)
}

// TestSkipWithoutRedisWhateverTheOrder: without Redis, an execution fired
// earlier but recorded later does not start beside the one already starting.
func TestSkipWithoutRedisWhateverTheOrder(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	stall := stallingEngine{Client: r.engine, entered: make(chan string, 2), release: make(chan struct{})}
	c := r.coordinatorWith("a", stall, nil)
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip})
	d, err := r.st.GetActiveDeployment(context.Background(), wf)
	require.NoError(t, err)
	mk := func(fired time.Time) workflow.Execution {
		e := &workflow.Execution{WorkflowID: wf, DeploymentID: d.ID, DeploymentVersion: d.Version,
			TriggerType: workflow.TriggerManual, FiredTime: fired.UTC(), TraceID: "t", TriggeredBy: "x"}
		ok, err := c.CreateExecution(context.Background(), e)
		require.NoError(t, err)
		require.True(t, ok)
		return *e
	}
	now := time.Now()
	y := mk(now) // fired later, recorded first: its dispatch is under way
	require.Equal(t, y.ID, <-stall.entered)
	x := mk(now.Add(-100 * time.Millisecond)) // fired earlier, recorded later
	xs := r.waitStatus(x.ID, workflow.ExecutionRunning, workflow.ExecutionSkipped)
	require.Equal(t, workflow.ExecutionSkipped, xs.Status, "both started under SKIP")
	require.Equal(t, "workflow is running execution "+y.ID, xs.SkipReason)
	close(stall.release)
	r.waitStatus(y.ID, workflow.ExecutionRunning)
}

// TestCancelledBufferedIsNeverDispatched: a buffered execution cancelled
// while it waits does not start when the running one ends.
func TestCancelledBufferedIsNeverDispatched(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	a, b := r.coordinator("a"), r.coordinator("b")
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapBufferOne})
	first := r.trigger(a, wf)
	r.waitStatus(first.ID, workflow.ExecutionRunning)
	buffered := r.trigger(a, wf)
	await(t, a.signals.waiting, buffered.ID)
	_, err := b.Cancel(context.Background(), CancelRequest{ExecutionID: buffered.ID})
	require.NoError(t, err)
	_, err = b.Cancel(context.Background(), CancelRequest{ExecutionID: first.ID})
	require.NoError(t, err)
	await(t, a.signals.ran, buffered.ID)
	require.Zero(t, r.calls(buffered.ID), "a cancelled PENDING execution was dispatched")
}

// TestAdoptedPendingPastItsDeadline: a dead owner's dispatch reached the
// engine but RUNNING was never recorded; the adopter, past the deadline,
// finds the engine's run through the idempotency key and cancels it at its
// timeout rather than recording TIMED_OUT over a run that goes on.
func TestAdoptedPendingPastItsDeadline(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	wf := r.deploy(workflow.Config{ExecutionTimeoutSeconds: 2})
	d, err := r.st.GetActiveDeployment(context.Background(), wf)
	require.NoError(t, err)
	e := &workflow.Execution{WorkflowID: wf, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerType: workflow.TriggerManual, FiredTime: time.Now().UTC(), TraceID: "t", TriggeredBy: "x",
		Status: workflow.ExecutionPending, OwnerInstance: "dead"}
	past := time.Now().Add(-time.Hour).UTC()
	e.LeaseExpiresAt = &past
	ok, err := r.st.CreateExecution(context.Background(), e)
	require.NoError(t, err)
	require.True(t, ok)
	// The dead owner had taken the turn, then sent the execution.
	holder, err := r.st.TakeTurn(context.Background(), e.ID, "dead")
	require.NoError(t, err)
	require.Empty(t, holder)
	acc, err := r.engine.Execute(context.Background(), engine.ExecuteRequest{ExecutionID: e.ID, WorkflowID: wf,
		DeploymentID: d.ID, DeploymentVersion: d.Version, TriggerType: workflow.TriggerManual, TriggeredBy: "x"})
	require.NoError(t, err)
	// The dead owner's successor comes after the execution's timeout.
	r.coordinatorOn("b", r.engine, r.locks, clock.NewFake(e.FiredTime.Add(2100*time.Millisecond)).Now)
	got := r.waitStatus(e.ID, workflow.ExecutionTimedOut)
	require.Equal(t, acc.EngineExecutionID, got.EngineExecutionID, "the engine's run, found by its idempotency key")
	st, err := r.engine.Status(context.Background(), acc.EngineExecutionID)
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionCancelled, st.State, "cancelled in the engine at its timeout")
	require.Equal(t, 2, r.calls(e.ID), "the dead owner's dispatch and the adopter's, deduped by the engine")
}

// TestBufferOneNewcomerDoesNotOvertake: under BUFFER_ONE, a newcomer that
// arrives between the running one's end and the buffered one's next try is
// skipped: the buffered one goes first.
func TestBufferOneNewcomerDoesNotOvertake(t *testing.T) {
	t.Parallel()
	// Runs end when the test moves the engine's clock: a ends just after b
	// has tried for the turn, and b tries again only a BufferRetry later,
	// so that the newcomer comes in between however loaded the host (with
	// a's end on a timer, b's next try could fall before it).
	engineClock := testClock()
	r := newRig(t, enginesim.Config{MinDuration: time.Minute, MaxDuration: time.Minute, Now: engineClock.Now})
	o := steadyOptions("a")
	o.BufferRetry = 10 * time.Second
	c := r.started(New(r.st, r.engine, r.locks, o))
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapBufferOne})
	a := r.trigger(c, wf)
	r.waitStatus(a.ID, workflow.ExecutionRunning)
	b := r.trigger(c, wf)
	await(t, c.signals.waiting, b.ID)
	engineClock.Advance(time.Minute)
	r.waitStatus(a.ID, workflow.ExecutionSucceeded)
	cc := r.trigger(c, wf)
	got := r.waitStatus(cc.ID, workflow.ExecutionRunning, workflow.ExecutionSkipped, workflow.ExecutionSucceeded)
	require.Equal(t, workflow.ExecutionSkipped, got.Status)
	require.Equal(t, "execution "+b.ID+" is already buffered", got.SkipReason)
	// b starts at its next try, and ends once the engine's clock moves on.
	require.Eventually(t, func() bool {
		engineClock.Advance(time.Minute)
		return r.get(b.ID).Status == workflow.ExecutionSucceeded
	}, 2*o.BufferRetry+15*time.Second, 50*time.Millisecond)
}

// TestLostLockIsCounted takes a running execution's workflow lock from
// under it, as a Redis failover that loses keys would, and finds the loss
// counted once the watchdog's renewal finds another holder.
func TestLostLockIsCounted(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{MinDuration: 4 * time.Second, MaxDuration: 4 * time.Second})
	locks := &outcomes{n: map[string]float64{}}
	opts := testOptions("a")
	opts.Metrics.Locks = locks
	c := New(r.st, r.engine, r.locks, opts)
	require.NoError(r.t, c.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })

	// A 3 s timeout makes the lock's TTL 4 s, renewed every 1.33 s.
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip, ExecutionTimeoutSeconds: 3})
	e := r.trigger(c, wf)
	r.waitStatus(e.ID, workflow.ExecutionRunning)
	require.Equal(t, 1.0, locks.get("acquired"))
	require.NoError(t, r.rdb.Set(context.Background(), r.lockPrefix+"locks:workflow_"+wf, "someone-else", time.Minute).Err())
	require.Eventually(t, func() bool { return locks.get("lost") == 1 }, 5*time.Second, 20*time.Millisecond)
}

// outcomes is a counter labelled outcome alone that keeps its counts.
type outcomes struct {
	mu      sync.Mutex
	outcome string
	n       map[string]float64
	parent  *outcomes
}

func (o *outcomes) With(labelValues ...string) metrics.Counter {
	return &outcomes{outcome: labelValues[1], parent: o}
}

func (o *outcomes) Add(d float64) {
	o.parent.mu.Lock()
	defer o.parent.mu.Unlock()
	o.parent.n[o.outcome] += d
}

func (o *outcomes) get(outcome string) float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[outcome]
}

// lossyEngine lets every Execute reach the engine but loses the answers of
// those for which lose is true, as a network or a frozen engine does: the
// engine runs an execution that the runtime has not heard of. sent gets the
// id of each execution whose answer was lost, when it has room.
type lossyEngine struct {
	engine.Client
	lose func(engine.ExecuteRequest) bool
	sent chan string
}

func (l lossyEngine) Execute(ctx context.Context, req engine.ExecuteRequest) (engine.Accepted, error) {
	acc, err := l.Client.Execute(ctx, req)
	if err != nil || !l.lose(req) {
		return acc, err
	}
	select {
	case l.sent <- req.ExecutionID:
	default:
	}
	return engine.Accepted{}, errors.E(errors.Unavailable, "the test lost the engine's answer")
}

// engineState is what engine-sim says of its run engineID.
func (r *rig) engineState(engineID string) pb.ExecutionStatus {
	r.t.Helper()
	resp, err := r.sim.GetExecutionStatus(context.Background(), &pb.GetExecutionStatusRequest{ExecutionId: engineID})
	require.NoError(r.t, err)
	require.True(r.t, resp.GetFound(), "engine run %s", engineID)
	return resp.GetExecution().GetStatus()
}

// TestDispatchUnansweredPastItsTimeout: the engine runs an execution whose
// dispatch answers were lost until well past its timeout. The execution
// keeps its workflow's turn meanwhile (a SKIP newcomer is skipped), and once
// the engine answers, its run is cancelled and recorded with the
// execution's TIMED_OUT, rather than left running behind it.
func TestDispatchUnansweredPastItsTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip, ExecutionTimeoutSeconds: 60})
	clk := testClock()
	var answerFrom atomic.Pointer[time.Time]
	lossy := lossyEngine{Client: r.engine, sent: make(chan string, 1), lose: func(engine.ExecuteRequest) bool {
		at := answerFrom.Load()
		return at == nil || clk.Now().Before(*at)
	}}
	c := r.coordinatorOn("a", lossy, r.locks, clk.Now)
	x := r.trigger(c, wf)
	// Past twice the timeout, which is when a dispatch that may have
	// reached the engine was once given up.
	at := x.FiredTime.Add(150 * time.Second)
	answerFrom.Store(&at)
	require.Equal(t, x.ID, <-lossy.sent)

	y := r.waitStatus(r.trigger(c, wf).ID, workflow.ExecutionSkipped)
	require.Equal(t, "workflow is running execution "+x.ID, y.SkipReason)
	clk.Advance(150 * time.Second)
	done := r.waitStatus(x.ID, workflow.ExecutionTimedOut)
	require.Equal(t, "not accepted by the engine within the execution timeout of 1m0s", done.ErrorMessage)
	require.NotEmpty(t, done.EngineExecutionID, "the engine's run, found by the idempotency key")
	require.Equal(t, pb.ExecutionStatus_CANCELED, r.engineState(done.EngineExecutionID), "no engine run outlives its execution")
	require.Zero(t, r.calls(y.ID))
}

// TestCancelPendingThatReachedTheEngine: a PENDING execution whose dispatch
// answer was lost is in the engine. Cancelling it stops the engine's run,
// found by the idempotency key, before the row ends and the workflow is
// free; while the engine cannot be asked, the cancel changes nothing.
func TestCancelPendingThatReachedTheEngine(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	lossy := lossyEngine{Client: r.engine, sent: make(chan string, 1), lose: func(engine.ExecuteRequest) bool { return true }}
	owner := r.started(New(r.st, lossy, r.locks, steadyOptions("owner")))
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip})
	x := r.trigger(owner, wf)
	require.Equal(t, x.ID, <-lossy.sent)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	nowhere := lis.Addr().String()
	require.NoError(t, lis.Close())
	cut := New(r.st, simtest.Client(t, nowhere), r.locks, testOptions("cut-off"))
	t.Cleanup(func() { require.NoError(t, cut.Stop(context.Background())) })
	before := r.get(x.ID)
	_, err = cut.Cancel(context.Background(), CancelRequest{ExecutionID: x.ID})
	require.Equal(t, errors.Unavailable, errors.KindOf(err), "%v", err)
	// The owner's lease renewals go on meanwhile; nothing else may change.
	after := r.get(x.ID)
	before.LeaseExpiresAt, after.LeaseExpiresAt = nil, nil
	require.Equal(t, before, after, "a cancel that could not reach the engine changes nothing")

	got, err := r.started(New(r.st, r.engine, r.locks, steadyOptions("other"))).Cancel(context.Background(), CancelRequest{ExecutionID: x.ID, Reason: "stop it"})
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionCancelled, got.Status)
	require.Equal(t, "cancelled: stop it", got.ErrorMessage)
	require.NotEmpty(t, got.EngineExecutionID)
	require.Equal(t, pb.ExecutionStatus_CANCELED, r.engineState(got.EngineExecutionID))
	require.Equal(t, 1, r.sim.Executions())
	// The workflow is free: the next execution runs.
	r.waitStatus(r.trigger(r.started(New(r.st, r.engine, r.locks, steadyOptions("next"))), wf).ID, workflow.ExecutionRunning)
}

// frozenStore fails lease renewals and adoptions while frozen is set, as a
// replica frozen by SIGSTOP, or cut off, makes none: it does not learn that
// its executions were adopted.
type frozenStore struct {
	*postgres.Store
	frozen atomic.Bool
}

func (f *frozenStore) RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) ([]string, error) {
	if f.frozen.Load() {
		return nil, errors.E(errors.Unavailable, "frozen")
	}
	return f.Store.RenewLeases(ctx, owner, ids, lease)
}

func (f *frozenStore) AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) ([]workflow.Execution, error) {
	if f.frozen.Load() {
		return nil, errors.E(errors.Unavailable, "frozen")
	}
	return f.Store.AdoptExecutions(ctx, owner, lease, limit)
}

// stalledPolls holds the status reads made while stall is set until thaw
// is closed, then fails them, as a call cut by the freeze does; it counts
// the cancels it is asked to send.
type stalledPolls struct {
	engine.Client
	stall   atomic.Bool
	stalled chan struct{}
	thaw    chan struct{}
	cancels atomic.Int32
}

func (s *stalledPolls) Status(ctx context.Context, id string) (engine.Status, error) {
	if !s.stall.Load() {
		return s.Client.Status(ctx, id)
	}
	select {
	case s.stalled <- struct{}{}:
	default:
	}
	<-s.thaw
	return engine.Status{}, errors.E(errors.Unavailable, "the call was cut by the freeze")
}

func (s *stalledPolls) Cancel(ctx context.Context, id, reason string) error {
	s.cancels.Add(1)
	return s.Client.Cancel(ctx, id, reason)
}

// TestResumedReplicaLeavesAdoptedExecutionsAlone: a replica frozen while it
// followed an execution, which another replica adopted and ended at its
// timeout meanwhile, resumes past that timeout and sends the engine
// nothing for it: it checks that the execution is still its own first.
func TestResumedReplicaLeavesAdoptedExecutionsAlone(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	fs := &frozenStore{Store: r.st}
	eng := &stalledPolls{Client: r.engine, stalled: make(chan struct{}, 1), thaw: make(chan struct{})}
	a := r.started(New(fs, eng, r.locks, testOptions("a")))
	wf := r.deploy(workflow.Config{ExecutionTimeoutSeconds: 1})
	x := r.trigger(a, wf)
	r.waitStatus(x.ID, workflow.ExecutionRunning)

	fs.frozen.Store(true)
	eng.stall.Store(true)
	<-eng.stalled
	r.coordinator("b")
	done := r.waitStatus(x.ID, workflow.ExecutionTimedOut)
	require.Equal(t, "b", done.OwnerInstance)
	require.Equal(t, pb.ExecutionStatus_CANCELED, r.engineState(done.EngineExecutionID))

	close(eng.thaw)
	await(t, a.signals.ran, x.ID)
	require.Zero(t, eng.cancels.Load(), "a replica that lost an execution sent the engine a cancel for it")
	require.Equal(t, done, r.get(x.ID))
}

// TestAdoptedExecutionsRunWithTheirVersion: executions of version 1 whose
// replica died are adopted after the deployment moved to version 2, with
// another timeout and definition: they run with version 1's, whichever
// versions the adopter has seen. The RUNNING one times out at version 1's
// timeout; the PENDING one sends version 1's definition.
func TestAdoptedExecutionsRunWithTheirVersion(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	dead := r.coordinator("dead")
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, ExecutionTimeoutSeconds: 1})
	v1, err := r.st.GetActiveDeployment(context.Background(), wf)
	require.NoError(t, err)
	running := r.trigger(dead, wf)
	r.waitStatus(running.ID, workflow.ExecutionRunning)
	dead.halt()
	dead.wg.Wait()
	expired := time.Now().Add(-time.Minute)
	pending := &workflow.Execution{
		WorkflowID: wf, DeploymentID: v1.ID, DeploymentVersion: v1.Version, TriggerType: workflow.TriggerManual,
		Status: workflow.ExecutionPending, FiredTime: time.Now().UTC(), OwnerInstance: "dead", LeaseExpiresAt: &expired,
	}
	created, err := r.st.CreateExecution(context.Background(), pending)
	require.NoError(t, err)
	require.True(t, created)

	v2def := `{"nodes":[{"id":"b","name":"B","type":"ACTION"}]}`
	_, err = r.st.UpdateDeployment(context.Background(), v1.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Version++
		d.Definition = json.RawMessage(v2def)
		d.Config.ExecutionTimeoutSeconds = 600
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.NoError(t, err)
	heir := r.coordinator("heir")
	// The heir has seen version 2: it ran an execution of it.
	r.waitStatus(r.trigger(heir, wf).ID, workflow.ExecutionRunning)

	done := r.waitStatus(running.ID, workflow.ExecutionTimedOut)
	require.Equal(t, "heir", done.OwnerInstance)
	require.Equal(t, "execution timeout of 1s exceeded", done.ErrorMessage)
	r.waitStatus(pending.ID, workflow.ExecutionRunning, workflow.ExecutionTimedOut)
	var sent string
	for _, run := range r.sim.Runs() {
		if run.IdempotencyKey == pending.ID {
			resp, err := r.sim.GetExecutionStatus(context.Background(), &pb.GetExecutionStatusRequest{ExecutionId: run.ExecutionID})
			require.NoError(t, err)
			sent = resp.GetExecution().GetMetadata()[engine.MetaWorkflowDefinition]
		}
	}
	require.JSONEq(t, string(v1.Definition), sent, "the definition of the execution's version")
}

// endedElsewhere is the end that endElsewhere writes.
const endedElsewhere = "cancelled by an earlier version"

// endElsewhere ends PENDING execution id as CANCELLED without asking the
// engine, as a replica of an earlier version did.
func (r *rig) endElsewhere(id string) {
	r.t.Helper()
	now := time.Now().UTC()
	_, err := r.st.TransitionExecution(context.Background(), id, store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionCancelled,
		FinishedTime: &now, ErrorMessage: endedElsewhere,
	})
	require.NoError(r.t, err)
}

// requireOrphanCancelled checks that the engine ran execution id once, and
// that its run was cancelled.
func (r *rig) requireOrphanCancelled(id string) {
	r.t.Helper()
	runs := r.sim.Runs()
	require.Len(r.t, runs, 1)
	require.Equal(r.t, id, runs[0].IdempotencyKey)
	require.Equal(r.t, "CANCELED", runs[0].Status)
}

// runs reports whether c runs execution id now.
func (c *Coordinator) runs(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.owned[id]
	return ok
}

// TestLostRowCancelsTheOrphan: a replica of an earlier version ended a
// PENDING execution without asking the engine while its owner's dispatch
// was under way; the owner, answered with the engine's run afterwards,
// cancels that run since the row names none, also when a lease renewal
// that found the row ended stops the run while it cancels.
func TestLostRowCancelsTheOrphan(t *testing.T) {
	t.Parallel()
	for _, stopped := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped by the renewal=%v", stopped), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, enginesim.Config{HangRate: 1})
			stall := stallingEngine{Client: r.engine, entered: make(chan string, 1), release: make(chan struct{})}
			var (
				c *Coordinator
				x workflow.Execution
			)
			if stopped {
				// The orphan's cancel is under way when a lease renewal,
				// finding the row ended, stops the run. Not fatal: this
				// is the engine's goroutine, not the test's.
				stall.holdCancel = func() {
					assert.Eventually(t, func() bool { return !c.runs(x.ID) }, 15*time.Second, 10*time.Millisecond,
						"no renewal stopped the run of the ended row")
				}
			}
			c = r.coordinatorWith("a", stall, r.locks)
			x = r.trigger(c, r.deploy(workflow.Config{}))
			require.Equal(t, x.ID, <-stall.entered)
			r.endElsewhere(x.ID)
			close(stall.release)
			await(t, c.signals.ran, x.ID)
			r.requireOrphanCancelled(x.ID)
		})
	}
}

// TestLostRowCancelsTheUnansweredOrphan: as TestLostRowCancelsTheOrphan, but
// the answer of the dispatch that reached the engine was lost, as a call that
// times out under load loses it. The owner finds the row ended when it would
// dispatch again, or the lease renewal that finds it ended stops the run
// first; either way the owner finds the engine's run by the idempotency key
// and cancels it, and the row keeps the end it was given.
func TestLostRowCancelsTheUnansweredOrphan(t *testing.T) {
	t.Parallel()
	for _, stopped := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped by the renewal=%v", stopped), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, enginesim.Config{HangRate: 1})
			lost := unansweredEngine{Client: r.engine, sent: make(chan string, 1), release: make(chan struct{}), held: new(atomic.Bool)}
			c := r.coordinatorWith("a", lost, r.locks)
			x := r.trigger(c, r.deploy(workflow.Config{}))
			require.Equal(t, x.ID, <-lost.sent)
			r.endElsewhere(x.ID)
			if stopped {
				require.Eventually(t, func() bool { return !c.runs(x.ID) }, 15*time.Second, 10*time.Millisecond,
					"no renewal stopped the run of the ended row")
			}
			close(lost.release)
			await(t, c.signals.ran, x.ID)
			r.requireOrphanCancelled(x.ID)
			e := r.get(x.ID)
			require.Equal(t, workflow.ExecutionCancelled, e.Status)
			require.Equal(t, endedElsewhere, e.ErrorMessage)
		})
	}
}

// unansweredEngine lets every Execute reach the engine, but holds the answer
// of the first one that the engine accepted until release is closed and then
// loses it; sent gets that execution's id once the engine has it.
type unansweredEngine struct {
	engine.Client
	sent    chan string
	release chan struct{}
	held    *atomic.Bool
}

func (u unansweredEngine) Execute(ctx context.Context, req engine.ExecuteRequest) (engine.Accepted, error) {
	acc, err := u.Client.Execute(ctx, req)
	if err != nil || !u.held.CompareAndSwap(false, true) {
		return acc, err
	}
	u.sent <- req.ExecutionID
	<-u.release
	return engine.Accepted{}, errors.E(errors.Unavailable, "the test lost the engine's answer")
}

// decliningEngine refuses every cancel, as an engine does once it holds an
// execution as ended.
type decliningEngine struct{ engine.Client }

func (decliningEngine) Cancel(context.Context, string, string) error {
	return errors.E(errors.FailedPrecondition, fmt.Errorf("%w: not cancellable", engine.ErrRejected))
}

// TestTimeoutTheEngineDeclines: the engine declines to cancel a timed-out
// execution it still reports running; the execution is recorded TIMED_OUT,
// as nothing more can stop it.
func TestTimeoutTheEngineDeclines(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1})
	clk := testClock()
	c := r.coordinatorOn("a", decliningEngine{r.engine}, r.locks, clk.Now)
	e := r.trigger(c, r.deploy(workflow.Config{ExecutionTimeoutSeconds: 60}))
	r.waitStatus(e.ID, workflow.ExecutionRunning)
	clk.Advance(time.Minute)
	done := r.waitStatus(e.ID, workflow.ExecutionTimedOut)
	require.Equal(t, "execution timeout of 1m0s exceeded", done.ErrorMessage)
	require.Equal(t, pb.ExecutionStatus_RUNNING, r.engineState(done.EngineExecutionID))
}

// scriptedExecute answers every Execute with its accepted and err.
type scriptedExecute struct {
	engine.Client
	accepted engine.Accepted
	err      error
}

func (s scriptedExecute) Execute(context.Context, engine.ExecuteRequest) (engine.Accepted, error) {
	return s.accepted, s.err
}

// TestEndInTheDispatchAnswerRetries: an execution that the engine reports
// ended in its answer to the dispatch (a short run on a loaded host) gets
// the retry its policy calls for, as one that ends by a status check does.
func TestEndInTheDispatchAnswerRetries(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	finished := time.Now().UTC().Truncate(time.Microsecond)
	failed := scriptedExecute{Client: r.engine, accepted: engine.Accepted{EngineExecutionID: "eng-1", Status: engine.Status{
		State: workflow.ExecutionFailed, Found: true, FinishedAt: &finished, Error: "boom"}}}
	c := r.coordinatorWith("a", failed, r.locks)
	wf := r.deploy(workflow.Config{Retry: &workflow.RetryPolicy{
		MaxAttempts: 2, InitialInterval: time.Hour, BackoffCoefficient: 1, MaxInterval: time.Hour, RetryOn: everyOutcome,
	}})
	first := r.trigger(c, wf)
	done := r.waitStatus(first.ID, workflow.ExecutionFailed)
	require.Equal(t, "eng-1", done.EngineExecutionID)
	require.Equal(t, "boom", done.ErrorMessage)
	runs := r.attempts(first.ID)
	require.Len(t, runs, 2, "the retry is written with the end")
	require.Equal(t, workflow.ExecutionPending, runs[1].Status)
}

// TestCancelPendingAsTheEngineAnswers: cancelling a PENDING execution that
// may be in the engine records what the engine says of it.
func TestCancelPendingAsTheEngineAnswers(t *testing.T) {
	t.Parallel()
	finished := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		engine scriptedExecute
		kind   errors.Kind
		want   workflow.ExecutionStatus
	}{
		{"the engine refuses it: nothing to stop", scriptedExecute{err: errors.E(errors.Invalid, fmt.Errorf("%w: bad", engine.ErrRejected))},
			0, workflow.ExecutionCancelled},
		{"it has ended in the engine", scriptedExecute{accepted: engine.Accepted{EngineExecutionID: "eng-1", Status: engine.Status{
			State: workflow.ExecutionSucceeded, Found: true, FinishedAt: &finished, Result: []byte(`{"ok":true}`)}}},
			errors.FailedPrecondition, workflow.ExecutionSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, enginesim.Config{HangRate: 1})
			lossy := lossyEngine{Client: r.engine, sent: make(chan string, 1), lose: func(engine.ExecuteRequest) bool { return true }}
			owner := r.coordinatorWith("owner", lossy, r.locks)
			x := r.trigger(owner, r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll}))
			require.Equal(t, x.ID, <-lossy.sent)
			tc.engine.Client = r.engine
			_, err := r.coordinatorWith("other", tc.engine, r.locks).Cancel(context.Background(), CancelRequest{ExecutionID: x.ID})
			if tc.kind == 0 {
				require.NoError(t, err)
			} else {
				require.Equal(t, tc.kind, errors.KindOf(err), "%v", err)
			}
			got := r.get(x.ID)
			require.Equal(t, tc.want, got.Status)
			require.Equal(t, tc.engine.accepted.EngineExecutionID, got.EngineExecutionID)
		})
	}
}

// TestBackfillRunsUnderItsOwnPolicy: an execution a backfill started runs
// under the backfill's overlap policy, not its deployment's.
func TestBackfillRunsUnderItsOwnPolicy(t *testing.T) {
	t.Parallel()
	clk := testClock()
	r := newRig(t, enginesim.Config{MinDuration: time.Minute, MaxDuration: time.Minute, Now: clk.Now})
	c := r.coordinator("a")
	ctx := context.Background()
	d, err := r.st.GetActiveDeployment(ctx, r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip}))
	require.NoError(t, err)
	b := &workflow.Backfill{DeploymentID: d.ID, WorkflowID: d.WorkflowID, Start: clk.Now().Add(-time.Hour), End: clk.Now(),
		OverlapPolicy: workflow.OverlapAllowAll}
	require.NoError(t, r.st.CreateBackfill(ctx, b, nil))

	var ids []string
	for range 2 {
		e := &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version, TriggerID: d.Triggers[0].ID,
			TriggerType: workflow.TriggerManual, FiredTime: clk.Now(), TriggeredBy: workflow.BackfillTriggeredBy(b.ID)}
		created, err := c.CreateExecution(ctx, e)
		require.NoError(t, err)
		require.True(t, created)
		ids = append(ids, e.ID)
	}
	// Under SKIP the second would be SKIPPED: both run at once.
	for _, id := range ids {
		r.waitStatus(id, workflow.ExecutionRunning)
	}
	clk.Advance(time.Minute)
	for _, id := range ids {
		r.waitStatus(id, workflow.ExecutionSucceeded)
	}
}
