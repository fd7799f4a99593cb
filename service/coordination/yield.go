package coordination

import (
	"math"
	"runtime/metrics"
	"time"
)

// Dispatch yields to triggers (ARCHITECTURE "Dispatch yields to triggers"):
// a trigger costs this replica less than the dispatch of its execution (a
// quarter less in bench-trigger, engine-sim beside it), and on a saturated
// host the two took the CPU in turns, so that a burst was answered at the
// speed of dispatch. While this replica accepts triggers, executions wait
// in the queue (dispatch is behind them), its goroutines wait for a CPU,
// and the backlog is below three quarters of its bound, the dispatch pool
// keeps a yieldShare-th of its places: the burst is answered at the speed
// of its inserts and waits PENDING, and dispatch takes all its places
// again once the triggers stop, the queue empties, the CPU is free or the
// backlog passes three quarters of its bound. Past that a yielding pool
// would only halve what a sustained overload gets through: at the bound
// the triggers accepted are those dispatch makes room for.
const (
	// yieldTick is how often the yield is decided again: a few group
	// commits, short against a burst.
	yieldTick = 100 * time.Millisecond
	// yieldShare: a yielding pool keeps 1/yieldShare of its places. In
	// bench-trigger on 2 cores a pool of 8 out of 64 answered 7,234
	// triggers a second against 4,302 with all 64, and still dispatched
	// 1,028 a second; 16 answered 6,755, which fell short of the raw
	// inserts over 20 s.
	yieldShare = 8
)

// schedLatencyMetric is the Go scheduler's histogram of how long runnable
// goroutines waited for a CPU: the process's own view of a saturated host,
// whoever saturates it.
const schedLatencyMetric = "/sched/latencies:seconds"

// schedLatency reads the 90th percentile of the scheduler's waits since
// its last reading.
type schedLatency struct {
	sample []metrics.Sample
	last   []uint64
}

func newSchedLatency() *schedLatency {
	s := &schedLatency{sample: []metrics.Sample{{Name: schedLatencyMetric}}}
	s.p90()
	return s
}

// p90 returns the 90th percentile of the waits since the last call, the
// upper bound of its bucket; 0 when there were none.
func (s *schedLatency) p90() time.Duration {
	metrics.Read(s.sample)
	h := s.sample[0].Value.Float64Histogram()
	if len(s.last) != len(h.Counts) {
		s.last = make([]uint64, len(h.Counts))
	}
	defer copy(s.last, h.Counts)
	var total uint64
	for i, n := range h.Counts {
		total += n - s.last[i]
	}
	var seen uint64
	for i, n := range h.Counts {
		if seen += n - s.last[i]; total > 0 && seen*10 >= total*9 {
			p := h.Buckets[i+1]
			if math.IsInf(p, 1) {
				p = h.Buckets[i]
			}
			return time.Duration(p * float64(time.Second))
		}
	}
	return 0
}

// yields decides the yield from its state: on, whether the pool yields
// now; accepted, whether triggers were accepted since the last decision;
// queued, whether executions wait in the queue: a dispatch that keeps up
// with the triggers would only send them through the queue, a write more
// each, by yielding (bench-dispatch at 1,000 a second on 2 cores: p99 from
// trigger to engine 303 ms with that, 1.55 ms without); room, whether the
// backlog is below three quarters of its bound; wait, the scheduler's 90th
// percentile since; past, the wait past which dispatch yields. Once
// yielding, it takes a wait below half of past to stop: the yield itself
// shortens the waits, and without the margin the pool would swing between
// its two bounds at every tick.
func yields(on, accepted, queued, room bool, wait, past time.Duration) bool {
	switch {
	case !accepted || !queued || !room:
		return false
	case on:
		return wait >= past/2
	default:
		return wait > past
	}
}

// yieldToTriggers decides the yield every yieldTick until the coordinator
// stops. It runs when Options.DispatchYield and Options.Backlog are set.
func (c *Coordinator) yieldToTriggers() {
	sched := newSchedLatency()
	t := time.NewTicker(yieldTick)
	defer t.Stop()
	on := false
	var kept int64
	for {
		select {
		case <-c.base.Done():
			return
		case <-t.C:
		}
		n, room := c.opts.Backlog.acceptance()
		on = yields(on, n > kept, c.pool.hasBacklog(), room, sched.p90(), c.opts.DispatchYield)
		kept = n
		c.pool.yield(on)
	}
}
