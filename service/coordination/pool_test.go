package coordination

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/discard"
	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// gate holds the engine-sim's ExecuteWorkflow calls until the test lets
// each one through, and tells the test of each as it arrives; refuse, while
// set, answers them RESOURCE_EXHAUSTED instead, as an engine at capacity.
type gate struct {
	arrived chan string
	pass    chan struct{}
	refuse  atomic.Bool
	mu      sync.Mutex
	in      int
	peak    int
}

func newGate() *gate {
	return &gate{arrived: make(chan string, 1000), pass: make(chan struct{}, 1000)}
}

// open lets every call through from now on.
func (g *gate) open() { close(g.pass) }

func (g *gate) option() grpc.ServerOption {
	return grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		x, ok := req.(*pb.ExecuteWorkflowRequest)
		if !ok {
			return handler(ctx, req)
		}
		if g.refuse.Load() {
			g.arrived <- x.GetMetadata()[engine.MetaRuntimeExecutionID]
			return nil, status.Error(codes.ResourceExhausted, "engine at capacity")
		}
		g.mu.Lock()
		g.in++
		g.peak = max(g.peak, g.in)
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.in--
			g.mu.Unlock()
		}()
		g.arrived <- x.GetMetadata()[engine.MetaRuntimeExecutionID]
		select {
		case <-g.pass:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return handler(ctx, req)
	})
}

func (g *gate) maxInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}

// next returns the execution id of the next ExecuteWorkflow call.
func (g *gate) next(t *testing.T) string {
	t.Helper()
	select {
	case id := <-g.arrived:
		return id
	case <-time.After(15 * time.Second):
		t.Fatal("no dispatch reached the engine")
		return ""
	}
}

// gatedCoordinator is a started coordinator named instance whose engine is
// the rig's engine-sim behind g, with a dispatch pool of size places.
func (r *rig) gatedCoordinator(instance string, g *gate, size int, now func() time.Time) *Coordinator {
	r.t.Helper()
	o := testOptions(instance)
	o.DispatchConcurrency = size
	// Claims come only when places free with a backlog: a claim holds
	// places while it asks the database, and a look on a timer would
	// take the place a trigger of the test expects.
	o.ClaimPoll = time.Hour
	if now != nil {
		o.Now = now
	}
	addr := simtest.Serve(r.t, r.sim, "127.0.0.1:0", g.option())
	conn, err := engine.Dial(addr)
	require.NoError(r.t, err)
	r.t.Cleanup(func() { conn.Close() })
	// A deadline that the calls the gate holds do not reach.
	eng := engine.NewGRPC(conn, engine.Options{CallTimeout: time.Minute, MaxAttempts: 1, BaseBackoff: 5 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond, BreakerOpenFor: 50 * time.Millisecond})
	c := r.started(New(r.st, eng, r.locks, o))
	// The claimer's first look, at start, is over.
	await(r.t, c.signals.looked, "")
	return c
}

// awaitAll waits for the signals of every execution of ids on ch, in any
// order. A batch takes as long as the machine is slow: it fails only once
// none of them has signalled for 15 s, not at a deadline for the whole batch.
func awaitAll(t *testing.T, ch <-chan string, ids []string) {
	t.Helper()
	left := map[string]bool{}
	for _, id := range ids {
		left[id] = true
	}
	for len(left) > 0 {
		select {
		case got := <-ch:
			delete(left, got)
		case <-time.After(15 * time.Second):
			t.Fatalf("no signal came for %d of %d executions", len(left), len(ids))
		}
	}
}

// drainSignals forgets the signals ch holds.
func drainSignals(ch chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestDispatchPoolHoldsItsLimit: with a pool of 2, the third trigger on is
// answered at once, UNSPECIFIED, its row queued (no owner); the engine
// never sees more than 2 dispatches at once, and the queued rows reach it
// in the order they were created as places free.
func TestDispatchPoolHoldsItsLimit(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	g := newGate()
	clk := testClock()
	c := r.gatedCoordinator("a", g, 2, clk.Now)
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll})

	var ids []string
	for i := range 6 {
		resp, err := c.Trigger(context.Background(), TriggerRequest{WorkflowID: wf})
		require.NoError(t, err)
		ids = append(ids, resp.Execution.ID)
		if i < 2 {
			require.Equal(t, AdmissionStarted, resp.Admission, "trigger %d finds a free place", i+1)
			continue
		}
		require.Equal(t, Admission(""), resp.Admission, "trigger %d is queued: its overlap is not decided yet", i+1)
		require.Empty(t, r.get(resp.Execution.ID).OwnerInstance, "a queued row has no owner")
		// Created one after another, each later than the last.
		clk.Advance(time.Millisecond)
	}
	require.ElementsMatch(t, ids[:2], []string{g.next(t), g.next(t)})
	limit, inUse := c.pool.state()
	require.Equal(t, 2, limit)
	require.Equal(t, 2, inUse)
	for _, id := range ids[2:] {
		require.Empty(t, r.get(id).OwnerInstance, "execution %s stays queued while the pool is full", id)
	}

	// Each dispatch let through frees a place, which the oldest queued takes.
	for _, id := range ids[2:] {
		g.pass <- struct{}{}
		require.Equal(t, id, g.next(t), "queued executions reach the engine in creation order")
	}
	g.open()
	r.waitAll(ids, workflow.ExecutionSucceeded)
	require.LessOrEqual(t, g.maxInFlight(), 2, "never more dispatches at once than the pool holds")
	for _, id := range ids {
		require.Equal(t, 1, r.calls(id), "execution %s ran once", id)
		require.Equal(t, "a", r.get(id).OwnerInstance)
	}
	// A claim that a freed place woke may still hold its place a moment.
	require.Eventually(t, func() bool {
		_, inUse = c.pool.state()
		return inUse == 0
	}, 5*time.Second, 10*time.Millisecond, "every place given back")
}

// TestManualTriggerUnderAFullPool: a manual trigger of a workflow whose
// runs go one at a time is written owned and decides its overlap at once
// even when the pool is full: a SKIP is answered SKIPPED while the run it
// skips for waits on the engine, not queued behind it.
func TestManualTriggerUnderAFullPool(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	g := newGate()
	c := r.gatedCoordinator("solo", g, 1, testClock().Now)
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapSkip})

	first, err := c.Trigger(context.Background(), TriggerRequest{WorkflowID: wf})
	require.NoError(t, err)
	require.Equal(t, AdmissionStarted, first.Admission)
	require.Equal(t, first.Execution.ID, g.next(t), "the first run holds the only place, at the engine")

	second, err := c.Trigger(context.Background(), TriggerRequest{WorkflowID: wf})
	require.NoError(t, err)
	require.Equal(t, AdmissionSkipped, second.Admission, "decided at once, not queued")
	require.Equal(t, "solo", r.get(second.Execution.ID).OwnerInstance)
	require.Eventually(t, func() bool { return r.get(second.Execution.ID).Status == workflow.ExecutionSkipped },
		10*time.Second, 10*time.Millisecond, "the skipped run is written SKIPPED while the first waits on the engine")

	g.open()
	require.Eventually(t, func() bool { return r.get(first.Execution.ID).Status == workflow.ExecutionSucceeded },
		10*time.Second, 10*time.Millisecond, "the first run ends once the engine answers")
}

// TestAnotherReplicaDrainsTheBacklog: a replica whose engine is out of
// reach fills its pool of 1 and queues what it accepts after; a second
// replica on the same database, which was never told, claims that backlog
// and runs it to its end, oldest first.
func TestAnotherReplicaDrainsTheBacklog(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := lis.Addr().String()
	require.NoError(t, lis.Close())
	// Leases long enough that neither replica adopts the other's rows when
	// a renewal is late on a loaded host: the test is about claims.
	o := steadyOptions("stuck")
	o.DispatchConcurrency = 1
	stuck := r.started(New(r.st, simtest.Client(t, down), r.locks, o))
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll})

	first := r.trigger(stuck, wf)
	await(t, stuck.signals.dispatchFailed, first.ID)
	var queued []string
	for range 5 {
		queued = append(queued, r.trigger(stuck, wf).ID)
	}

	o = steadyOptions("helper")
	o.ClaimPoll = 20 * time.Millisecond
	helper := r.started(New(r.st, r.engine, r.locks, o))
	defer func() {
		if t.Failed() {
			for _, id := range append([]string{first.ID}, queued...) {
				e := r.get(id)
				t.Logf("%s: %s owner %q lease %v calls %d", id, e.Status, e.OwnerInstance, e.LeaseExpiresAt, r.calls(id))
			}
		}
	}()
	awaitAll(t, helper.signals.ran, queued)
	for _, id := range queued {
		e := r.get(id)
		require.Equal(t, workflow.ExecutionSucceeded, e.Status)
		require.Equal(t, "helper", e.OwnerInstance)
		require.Equal(t, 1, r.calls(id))
	}
	require.Equal(t, workflow.ExecutionPending, r.get(first.ID).Status, "the stuck replica's own run is still its own")
}

// TestCancelQueuedAsksNoEngine: a queued execution was never sent, so
// cancelling it asks the engine nothing, and no replica dispatches it later.
func TestCancelQueuedAsksNoEngine(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	g := newGate()
	c := r.gatedCoordinator("a", g, 1, nil)
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll})
	first := r.trigger(c, wf)
	require.Equal(t, first.ID, g.next(t))
	queued := r.trigger(c, wf)

	e, err := c.Cancel(context.Background(), CancelRequest{ExecutionID: queued.ID})
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionCancelled, e.Status)
	// Had it asked, its call would wait at the gate, which is still shut.
	require.Empty(t, g.arrived, "the engine never heard of it")
	g.open()
	r.waitStatus(first.ID, workflow.ExecutionSucceeded)
	c.claim()
	require.Zero(t, r.calls(queued.ID), "nor does it after a claim")
	require.Equal(t, workflow.ExecutionCancelled, r.get(queued.ID).Status)
}

// TestDispatchLimitFollowsTheEngine: dispatches the engine refuses for want
// of capacity halve the pool's limit, once per cooldown of the coordinator's
// clock; dispatches it takes grow it back, one place per limit of them, up
// to the setting.
func TestDispatchLimitFollowsTheEngine(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{})
	g := newGate()
	g.open()
	g.refuse.Store(true)
	clk := testClock()
	c := r.gatedCoordinator("a", g, 4, clk.Now)
	wf := r.deploy(workflow.Config{OverlapPolicy: workflow.OverlapAllowAll})

	e := r.trigger(c, wf)
	await(t, c.signals.dispatchFailed, e.ID)
	limit, _ := c.pool.state()
	require.Equal(t, 2, limit, "halved")
	await(t, c.signals.dispatchFailed, e.ID)
	limit, _ = c.pool.state()
	require.Equal(t, 2, limit, "not again within the cooldown")
	clk.Advance(time.Second)
	// The second failure signalled after the drain was observed after the
	// clock moved.
	drainSignals(c.signals.dispatchFailed)
	await(t, c.signals.dispatchFailed, e.ID)
	await(t, c.signals.dispatchFailed, e.ID)
	limit, _ = c.pool.state()
	require.Equal(t, 1, limit, "halved again after the cooldown, never below 1")

	g.refuse.Store(false)
	r.waitStatus(e.ID, workflow.ExecutionSucceeded)
	// 1 dispatch taken grows 1 to 2, 2 more grow it to 3, 3 more to 4.
	ids := []string{e.ID}
	for range 5 {
		x := r.trigger(c, wf)
		ids = append(ids, x.ID)
		r.waitStatus(x.ID, workflow.ExecutionSucceeded)
	}
	r.waitAll(ids, workflow.ExecutionSucceeded)
	limit, _ = c.pool.state()
	require.Equal(t, 4, limit, "back to the setting, and no further")
}

// TestPoolLimitArithmetic states the AIMD rule on the pool alone.
func TestPoolLimitArithmetic(t *testing.T) {
	clk := testClock()
	m := Metrics{DispatchLimit: discard.NewGauge(), DispatchInUse: discard.NewGauge()}
	p := newPool(8, time.Second, clk.Now, log.NewNopLogger(), m)
	busy := errors.E(errors.Unavailable, "engine unavailable")
	refused := errors.E(errors.Invalid, "bad request")

	p.observe(refused)
	limit, _ := p.state()
	require.Equal(t, 8, limit, "a refusal of one request says nothing of capacity")
	p.observe(busy)
	p.observe(errors.E(errors.ResourceExhausted, "full"))
	limit, _ = p.state()
	require.Equal(t, 4, limit, "one cut per cooldown")
	clk.Advance(time.Second)
	p.observe(context.DeadlineExceeded)
	limit, _ = p.state()
	require.Equal(t, 2, limit)
	for range 2 {
		p.observe(nil)
	}
	limit, _ = p.state()
	require.Equal(t, 3, limit, "one place per limit of dispatches taken")

	// Places: a run that waits goes before the queue; a freed place goes
	// to it first.
	for range 3 {
		require.True(t, p.tryTake())
	}
	require.False(t, p.tryTake())
	require.Zero(t, p.takeRoom(1))
	got := make(chan bool)
	go func() { got <- p.take(context.Background()) }()
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.waiters) == 1 }, 5*time.Second, time.Millisecond)
	require.Zero(t, p.takeRoom(1), "a claim waits behind the run")
	p.give(1)
	require.True(t, <-got)
	_, inUse := p.state()
	require.Equal(t, 3, inUse)

	// A run that gives up waiting leaves no place taken.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { got <- p.take(ctx) }()
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.waiters) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.False(t, <-got)
	p.give(3)
	_, inUse = p.state()
	require.Zero(t, inUse)

	// A backlog sends new executions to the queue, and a freed place wakes the claimer.
	p.markQueued()
	<-p.wake
	require.False(t, p.tryTake(), "behind the backlog")
	seq := p.queuedSeq()
	p.settle(false, seq)
	require.True(t, p.tryTake(), "the backlog is gone")
	p.markQueued()
	p.settle(false, seq)
	p.mu.Lock()
	require.True(t, p.backlog, "rows queued during a claim keep the backlog")
	p.mu.Unlock()
}

// TestFailedClaimWakesNoOne: the places of a claim that failed go back to
// the pool without waking the claimer, which would fail again at once; a
// place given back otherwise wakes it while a backlog exists.
func TestFailedClaimWakesNoOne(t *testing.T) {
	m := Metrics{DispatchLimit: discard.NewGauge(), DispatchInUse: discard.NewGauge()}
	p := newPool(4, time.Second, testClock().Now, log.NewNopLogger(), m)
	p.markQueued()
	<-p.wake
	require.Equal(t, 4, p.takeRoom(8))
	p.giveUnclaimed(4)
	require.Empty(t, p.wake, "a failed claim woke the claimer")
	_, inUse := p.state()
	require.Zero(t, inUse)
	require.Equal(t, 1, p.takeRoom(1))
	p.give(1)
	require.Len(t, p.wake, 1, "a freed place under a backlog wakes the claimer")
}
