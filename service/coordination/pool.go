package coordination

import (
	"context"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// pool bounds the runs of one replica that are dispatching at once: from
// the moment a run may call the engine to start its execution until the
// engine's answer is recorded. Runs that wait (for their turn, a
// concurrency slot, a retry's due time) or follow a RUNNING execution hold
// no place: a waiter would otherwise hold up the runs it waits for, and a
// long execution every dispatch behind it.
//
// The limit follows what the engine takes, additive increase and
// multiplicative decrease (AIMD), between 1 and max: a dispatch the engine
// did not take for want of capacity (Unavailable, the breaker open, a
// deadline, ResourceExhausted) halves it, at most once per cooldown so that
// the failures of one burst count once; every limit dispatches it takes add
// one place back. While dispatch yields to triggers (see yield.go) the bound
// in force is a yieldShare-th of max, or the limit if lower.
type pool struct {
	max      int
	cooldown time.Duration
	now      func() time.Time
	logger   log.Logger
	m        Metrics
	// wake tells the claimer that places freed while a backlog exists.
	wake chan struct{}

	mu       sync.Mutex
	limit    int
	inUse    int
	yielding bool
	shown    int       // the bound last recorded in the gauge and the log
	grown    int       // dispatches taken since the limit last grew
	cutAt    time.Time // when the limit was last cut
	loggedAt time.Time
	// waiters are runs that own their row and wait for a place, first come
	// first served; they go before queued rows, which no one owns yet.
	waiters []chan struct{}
	// backlog is set while queued rows are thought to exist: new executions
	// then queue behind them instead of taking a place first. seq counts
	// the rows this replica queued, so that a claim that found the queue
	// empty does not clear a backlog queued while it ran.
	backlog bool
	seq     uint64
}

// limitLogEvery rate-limits the log of limit changes.
const limitLogEvery = 10 * time.Second

func newPool(size int, cooldown time.Duration, now func() time.Time, logger log.Logger, m Metrics) *pool {
	p := &pool{max: size, cooldown: cooldown, now: now, logger: logger, m: m, wake: make(chan struct{}, 1), limit: size, shown: size}
	p.m.DispatchLimit.Set(float64(size))
	p.m.DispatchInUse.Set(0)
	return p
}

// tryTake takes a place for a new execution if one is free and nothing
// waits for one: no run, no known backlog.
func (p *pool) tryTake() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.backlog || len(p.waiters) > 0 || p.inUse >= p.boundLocked() {
		return false
	}
	p.inUse++
	p.m.DispatchInUse.Set(float64(p.inUse))
	return true
}

// takeRoom takes up to n places for a claim: those free and wanted by no
// waiting run. The claim gives back the places it did not fill.
func (p *pool) takeRoom(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := max(0, min(n, p.boundLocked()-p.inUse-len(p.waiters)))
	p.inUse += k
	p.m.DispatchInUse.Set(float64(p.inUse))
	return k
}

// take waits for a place, and reports false when ctx ended first.
func (p *pool) take(ctx context.Context) bool {
	p.mu.Lock()
	if len(p.waiters) == 0 && p.inUse < p.boundLocked() {
		p.inUse++
		p.m.DispatchInUse.Set(float64(p.inUse))
		p.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return false
		}
	}
	// Handed a place as ctx ended: it goes to the next.
	p.giveLocked(1)
	return false
}

// give returns n places.
func (p *pool) give(n int) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.giveLocked(n)
}

func (p *pool) giveLocked(n int) {
	p.inUse -= n
	p.handOutLocked()
}

// giveUnclaimed returns the places of a claim that failed, to waiting runs
// only: woken, the claimer would fail again at once, in a loop for as long
// as the database does; it tries again at its next poll.
func (p *pool) giveUnclaimed(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= n
	p.handOutQuietLocked()
}

// handOutLocked gives free places to waiting runs, and tells the claimer of
// those left while a backlog exists.
func (p *pool) handOutLocked() {
	p.handOutQuietLocked()
	if p.backlog && len(p.waiters) == 0 && p.inUse < p.boundLocked() {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// handOutQuietLocked gives free places to waiting runs.
func (p *pool) handOutQuietLocked() {
	for len(p.waiters) > 0 && p.inUse < p.boundLocked() {
		close(p.waiters[0])
		p.waiters = p.waiters[1:]
		p.inUse++
	}
	p.m.DispatchInUse.Set(float64(p.inUse))
}

// markQueued records that this replica queued a row, and tells the
// claimer if there is room for it.
func (p *pool) markQueued() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.backlog = true
	p.handOutLocked()
}

// hasBacklog reports whether queued rows are thought to exist.
func (p *pool) hasBacklog() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.backlog
}

// queuedSeq is the count of rows queued here so far, taken before a claim.
func (p *pool) queuedSeq() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// settle records what a claim begun at seq found: a backlog if it took
// all it asked for, or if rows were queued here meanwhile.
func (p *pool) settle(full bool, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backlog = full || p.seq != seq
}

// observe adjusts the limit to the outcome of an engine call made to
// dispatch: err nil, it took the execution.
func (p *pool) observe(err error) {
	switch {
	case err == nil:
		p.grow()
	case overloaded(err):
		p.cut()
	}
}

// overloaded reports whether err says that the engine could not take a
// call now, rather than that it refused this one.
func overloaded(err error) bool {
	k := errors.KindOf(err)
	return k == errors.Unavailable || k == errors.ResourceExhausted || errors.Is(err, context.DeadlineExceeded)
}

func (p *pool) grow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit >= p.max {
		return
	}
	if p.grown++; p.grown < p.limit {
		return
	}
	p.grown = 0
	p.limit++
	p.changedLocked("engine takes dispatches again")
	p.handOutLocked()
}

func (p *pool) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.limit <= 1 || !p.cutAt.IsZero() && now.Sub(p.cutAt) < p.cooldown {
		return
	}
	p.cutAt, p.grown = now, 0
	p.limit = max(1, p.limit/2)
	p.changedLocked("engine did not take a dispatch")
}

// yield makes dispatch yield to triggers, or stop yielding; places it
// frees go out at once.
func (p *pool) yield(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on == p.yielding {
		return
	}
	p.yielding = on
	why := "triggers no longer wait for a CPU"
	if on {
		why = "triggers wait for a CPU: dispatch yields to them"
	}
	p.changedLocked(why)
	p.handOutLocked()
}

// boundLocked is the bound in force: the limit, or less while yielding.
func (p *pool) boundLocked() int {
	if p.yielding {
		return min(p.limit, max(1, p.max/yieldShare))
	}
	return p.limit
}

// changedLocked records a new bound: its gauge at once, its log at most
// every limitLogEvery, and always when it comes back to max.
func (p *pool) changedLocked(why string) {
	bound := p.boundLocked()
	if bound == p.shown {
		return
	}
	p.shown = bound
	p.m.DispatchLimit.Set(float64(bound))
	now := p.now()
	if bound < p.max && !p.loggedAt.IsZero() && now.Sub(p.loggedAt) < limitLogEvery {
		return
	}
	p.loggedAt = now
	level.Info(p.logger).Log("msg", "dispatch pool limit changed", "limit", bound, "max", p.max, "reason", why)
}

// state returns the bound in force and the places in use, for tests.
func (p *pool) state() (limit, inUse int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.boundLocked(), p.inUse
}
