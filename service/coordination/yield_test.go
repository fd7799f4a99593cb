package coordination

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/generic"
	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// TestYieldDecision states when dispatch yields to triggers.
func TestYieldDecision(t *testing.T) {
	const past = time.Millisecond
	for _, tc := range []struct {
		name                       string
		on, accepted, queued, room bool
		wait                       time.Duration
		want                       bool
	}{
		{"triggers accepted and queued while goroutines wait for a CPU", false, true, true, true, 2 * past, true},
		{"a CPU free enough", false, true, true, true, past, false},
		{"no trigger accepted: a drain that saturates the CPU is not slowed", false, false, true, true, 10 * past, false},
		{"none queued: dispatch keeps up, and yielding would queue them", false, true, false, true, 10 * past, false},
		{"the backlog past three quarters of its bound", true, true, true, false, 10 * past, false},
		{"yielding: the waits the yield shortened keep it", true, true, true, true, past / 2, true},
		{"yielding: a CPU free again", true, true, true, true, past/2 - 1, false},
		{"yielding: the triggers stopped", true, false, true, true, 10 * past, false},
		{"yielding: the queue emptied", true, true, false, true, 10 * past, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, yields(tc.on, tc.accepted, tc.queued, tc.room, tc.wait, past))
		})
	}
}

// TestPoolYield: a yielding pool keeps an eighth of its places, or its
// limit if lower, and shows that bound; when it stops yielding, the places
// go at once to the runs waiting for one, and then to the claimer of the
// backlog.
func TestPoolYield(t *testing.T) {
	limitGauge := generic.NewGauge("limit")
	m := Metrics{DispatchLimit: limitGauge, DispatchInUse: generic.NewGauge("in_use")}
	clk := testClock()
	p := newPool(16, time.Second, clk.Now, log.NewNopLogger(), m)

	p.yield(true)
	limit, _ := p.state()
	require.Equal(t, 2, limit)
	require.InDelta(t, 2, limitGauge.Value(), 0)
	require.Equal(t, 2, p.takeRoom(16))
	require.False(t, p.tryTake())
	got := make(chan bool)
	go func() { got <- p.take(context.Background()) }()
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.waiters) == 1 }, 5*time.Second, time.Millisecond)
	p.markQueued()
	require.Empty(t, p.wake, "no room for the backlog while yielding")

	p.yield(false)
	require.True(t, <-got, "the waiting run goes first")
	require.Len(t, p.wake, 1, "then the claimer, for the places left")
	limit, inUse := p.state()
	require.Equal(t, 16, limit)
	require.Equal(t, 3, inUse)
	require.InDelta(t, 16, limitGauge.Value(), 0)

	// A limit the engine cut below the share stays the bound.
	p.cut()
	clk.Advance(time.Second)
	p.cut()
	clk.Advance(time.Second)
	p.cut()
	p.yield(true)
	limit, _ = p.state()
	require.Equal(t, 2, limit)
	clk.Advance(time.Second)
	p.cut()
	limit, _ = p.state()
	require.Equal(t, 1, limit)
}

// TestBacklogAcceptance: what the yield reads of the backlog, the triggers
// accepted and whether the backlog is below three quarters of its bound.
func TestBacklogAcceptance(t *testing.T) {
	b := NewBacklog(counts(func() []store.WorkflowBacklog { return pending("wf-a", 4) }), BacklogOptions{MaxTotal: 8})
	require.NoError(t, b.Count(context.Background()))
	kept, room := b.acceptance()
	require.Zero(t, kept)
	require.True(t, room, "4 of 8")
	room1, err := b.Reserve("wf-a", 0)
	require.NoError(t, err)
	room1.Keep(false)
	_, err = accept(b, "wf-a", 0)
	require.NoError(t, err)
	kept, room = b.acceptance()
	require.Equal(t, int64(1), kept, "a trigger that wrote nothing is not accepted")
	require.True(t, room, "5 of 8")
	_, err = accept(b, "wf-b", 0)
	require.NoError(t, err)
	_, room = b.acceptance()
	require.False(t, room, "6 of 8: three quarters")

	unbounded := NewBacklog(counts(func() []store.WorkflowBacklog { return pending("wf-a", 1000000) }), BacklogOptions{})
	require.NoError(t, unbounded.Count(context.Background()))
	_, room = unbounded.acceptance()
	require.True(t, room)
	var none *Backlog
	kept, room = none.acceptance()
	require.Zero(t, kept)
	require.False(t, room)
}

// TestSchedLatencySeesAFullCPU: with one CPU for the process, goroutines
// readied by one that keeps the CPU for 5 ms wait that long to run; the
// reading after shows those waits, and the next one, after a quiet spell,
// only what came since.
// (Goroutines woken by their own timers would not do: a timer is run only
// when the CPU is given up, and they would be readied then, not waiting.)
func TestSchedLatencySeesAFullCPU(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := newSchedLatency()
	woken := make([]chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range woken {
		woken[i] = make(chan struct{}, 1)
		wg.Go(func() {
			for range woken[i] {
			}
		})
	}
	for range 20 {
		for _, ch := range woken {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		// Busy, not asleep: the readied goroutines wait for the CPU.
		start := time.Now()
		for spinning := true; spinning; spinning = time.Since(start) < 5*time.Millisecond {
			runtime.KeepAlive(start)
		}
	}
	for _, ch := range woken {
		close(ch)
	}
	wg.Wait()
	busy := s.p90()
	require.Greater(t, busy, 100*time.Microsecond, "goroutines readied behind a busy CPU")
	time.Sleep(50 * time.Millisecond)
	require.Less(t, s.p90(), busy, "the waits since the last reading only")
}

// TestDispatchYieldsToTriggers: a started coordinator whose yield counts
// any wait for a CPU yields while triggers are accepted and executions
// wait in the queue, and stops once the queue empties, and once the
// triggers stop.
func TestDispatchYieldsToTriggers(t *testing.T) {
	r := newRig(t, enginesim.Config{})
	o := testOptions("yielder")
	o.DispatchConcurrency = 16
	o.DispatchYield = time.Nanosecond
	o.Backlog = NewBacklog(counts(func() []store.WorkflowBacklog { return nil }), BacklogOptions{MaxTotal: 1000})
	// The claimer looks only at start: a look takes a place, which the
	// test takes all of.
	o.ClaimPoll = time.Hour
	c := r.started(New(r.st, r.engine, r.locks, o))
	await(t, c.signals.looked, "")
	bound := func(want int) func() bool {
		return func() bool { limit, _ := c.pool.state(); return limit == want }
	}

	trigger := func() (stop func()) {
		halt, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-halt:
					return
				case <-time.After(5 * time.Millisecond):
					if _, err := accept(o.Backlog, "wf-a", 0); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
		return func() { close(halt); <-done }
	}

	// Triggers come, but dispatch keeps up: no yield.
	stop := trigger()
	time.Sleep(5 * yieldTick)
	require.True(t, bound(16)(), "yielded with nothing queued")

	// The pool full and a row queued: dispatch is behind.
	require.Equal(t, 16, c.pool.takeRoom(16))
	c.pool.markQueued()
	require.Eventually(t, bound(2), 10*time.Second, 10*time.Millisecond)
	c.pool.settle(false, c.pool.queuedSeq())
	require.Eventually(t, bound(16), 10*time.Second, 10*time.Millisecond, "the queue emptied")

	c.pool.markQueued()
	require.Eventually(t, bound(2), 10*time.Second, 10*time.Millisecond)
	stop()
	require.Eventually(t, bound(16), 10*time.Second, 10*time.Millisecond, "the triggers stopped")
	c.pool.give(16)
}
