package coordination

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/kit/metrics/discard"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Refusal reasons, the "bound" label of BacklogMetrics.Refused.
const (
	BoundWorkflow = "workflow"
	BoundTotal    = "total"
	BoundSync     = "sync"
)

// Bounds of the back-pressure estimates (ARCHITECTURE "Back-pressure").
const (
	defaultBacklogRefresh = 250 * time.Millisecond
	// countSpacing keeps the count to at most a tenth of the time: the
	// next count waits Refresh or countSpacing times the last one's
	// duration, whichever is longer. A count reads every PENDING row
	// (131 ms at 80,000, a bound raised for bursts), and every 250 ms that
	// was half a database core.
	countSpacing = 10
	// drainWindow is how far back the drain rate is measured: long enough
	// to smooth the refreshes' jitter, short enough to follow the engine.
	drainWindow = 10 * time.Second
	// stallGrace is the least time the oldest ready execution may have
	// waited, with none leaving, before the backlog is taken as stalled for
	// a SYNC call: a burst that the engine takes leaves no execution
	// waiting that long. A call with a longer timeout allows a quarter of
	// it: a replica or a database slowed by load (a fresh replica's first
	// dispatches took over 2 s on a saturated CI host) is not a stalled
	// engine, and such a call may still start within its timeout.
	stallGrace = 2 * time.Second
	// minRetryAfter and maxRetryAfter clamp the retry advice: not sooner
	// than a second, whatever the estimate, and not later than half a
	// minute, after which the caller may as well ask again.
	minRetryAfter = time.Second
	maxRetryAfter = 30 * time.Second
	// busiestShown is how many workflows BackPressure lists.
	busiestShown = 5
)

// BacklogOptions tune a Backlog; zero values take the defaults named below.
type BacklogOptions struct {
	// MaxTotal bounds the executions waiting for the engine, all workflows
	// and replicas together; MaxPerWorkflow those of one workflow; 0 is
	// unbounded.
	MaxTotal, MaxPerWorkflow int64
	// Refresh is how often the backlog is counted again in the database
	// (default 250 ms).
	Refresh time.Duration
	// Now is the clock [time.Now].
	Now     func() time.Time
	Logger  log.Logger
	Metrics BacklogMetrics
}

// BacklogMetrics are the back-pressure's instruments; nil ones discard.
type BacklogMetrics struct {
	// Refused counts refused triggers by "bound": workflow, total, sync.
	Refused metrics.Counter
	// Backlog is the executions waiting for the engine, all workflows, as
	// this replica reckons it.
	Backlog metrics.Gauge
}

// Backlog is the back-pressure on triggers: it refuses a trigger, before
// anything is written, while the PENDING executions waiting for the engine
// are at a bound, of the trigger's workflow or of all, and a SYNC webhook
// call that would not leave the backlog before its timeout.
//
// Counting on every trigger would cost a query each; the backlog is counted
// once per Refresh instead, across replicas since the database is shared,
// and this replica adds its own acceptances since. Other replicas'
// acceptances since the count are unseen until the next one: the backlog
// may pass its bound by at most what the other replicas accept between two
// counts (ARCHITECTURE "Back-pressure").
type Backlog struct {
	store store.BacklogStore
	opts  BacklogOptions

	mu sync.Mutex
	// counted is the last count, per workflow, and its total; ready is
	// the part of the total that does not wait for its workflow's turn.
	counted      map[string]int64
	countedTotal int64
	ready        int64
	// countedAt is when the last count began; zero before the first.
	countedAt time.Time
	// inflight are this replica's places taken by triggers whose write has
	// not ended; accepted its executions written since the count in
	// flight, or the last one, began; before those written between the
	// last successful count's start and the current one's, kept while it
	// runs, since its result may or may not hold them. Counting a write
	// twice until the next count errs on the side of the bound.
	inflight, accepted, before                map[string]int64
	inflightTotal, acceptedTotal, beforeTotal int64
	// counting is set while a count runs; ambiguous are the writes that
	// ended meanwhile, which its result may hold or not, and seenTwice
	// those of the last successful count: left out of the next drain, so
	// that a write counted twice does not pass for one that left.
	counting             bool
	ambiguous, seenTwice int64
	// drains are the executions that left the backlog between counts
	// within drainWindow.
	drains []drain
	// oldestReady is when the longest-waiting ready execution fired or
	// fell due; zero when none is ready.
	oldestReady time.Time
	refused     map[string]int64
	// kept counts the triggers this replica accepted, ever.
	kept        int64
	lastRefusal time.Time
	lastMessage string

	halt context.CancelFunc
	done chan struct{}
}

// drain is how many executions left the backlog between two counts.
type drain struct {
	from, to time.Time
	n        int64
}

// NewBacklog returns the back-pressure over st; Start counts the backlog
// and keeps counting it.
func NewBacklog(st store.BacklogStore, opts BacklogOptions) *Backlog {
	if opts.Refresh <= 0 {
		opts.Refresh = defaultBacklogRefresh
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Metrics.Refused == nil {
		opts.Metrics.Refused = discard.NewCounter()
	}
	if opts.Metrics.Backlog == nil {
		opts.Metrics.Backlog = discard.NewGauge()
	}
	return &Backlog{store: st, opts: opts, counted: map[string]int64{}, inflight: map[string]int64{}, accepted: map[string]int64{},
		refused: map[string]int64{}}
}

// Start counts the backlog, then counts it again every Refresh, or
// countSpacing times the last count's duration if longer, until Stop
// (startstop.Service). A count that fails keeps the last one and is logged:
// the triggers that it bounds fail on the same database anyway.
func (b *Backlog) Start(ctx context.Context) error {
	if err := b.Count(ctx); err != nil {
		level.Warn(b.opts.Logger).Log("msg", "backlog not counted; triggers are bounded from the next count", "err", err)
	}
	base, halt := context.WithCancel(context.WithoutCancel(ctx))
	b.halt, b.done = halt, make(chan struct{})
	go func() {
		defer close(b.done)
		t := time.NewTimer(b.opts.Refresh)
		defer t.Stop()
		for {
			select {
			case <-base.Done():
				return
			case <-t.C:
				// The database's time, on the real clock whatever Now is.
				began := time.Now()
				if err := b.Count(base); err != nil && base.Err() == nil {
					level.Warn(b.opts.Logger).Log("msg", "backlog not counted; the last count stands", "err", err)
				}
				t.Reset(max(b.opts.Refresh, countSpacing*time.Since(began)))
			}
		}
	}()
	return nil
}

// Stop ends the counting.
func (b *Backlog) Stop(ctx context.Context) error {
	if b.halt == nil {
		return nil
	}
	b.halt()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Count counts the backlog in the database. What left it since the last
// count (that count, plus this replica's acceptances, minus this one) is
// the drain that the rate and the retry advice follow.
func (b *Backlog) Count(ctx context.Context) error {
	b.mu.Lock()
	start := b.opts.Now()
	// A count that failed left its acceptances in before: they stay
	// counted until a count succeeds.
	b.before = add(b.before, b.accepted)
	b.beforeTotal += b.acceptedTotal
	b.accepted, b.acceptedTotal = map[string]int64{}, 0
	b.counting, b.ambiguous = true, 0
	b.mu.Unlock()

	rows, err := b.store.PendingBacklog(ctx, start)
	if err != nil {
		b.mu.Lock()
		b.counting = false
		b.mu.Unlock()
		return err
	}
	counted := make(map[string]int64, len(rows))
	var (
		total, ready int64
		oldest       time.Time
	)
	for _, r := range rows {
		counted[r.WorkflowID] = r.Pending
		total += r.Pending
		if !r.TurnHeld {
			ready += r.Pending
			if oldest.IsZero() || r.Oldest.Before(oldest) {
				oldest = r.Oldest
			}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.countedAt.IsZero() {
		left := max(0, b.countedTotal+b.beforeTotal-total-b.seenTwice)
		b.drains = append(b.drains, drain{from: b.countedAt, to: start, n: left})
		b.drains = slices.DeleteFunc(b.drains, func(d drain) bool { return start.Sub(d.to) > drainWindow })
	}
	b.counted, b.countedTotal, b.ready, b.oldestReady, b.countedAt = counted, total, ready, oldest, start
	b.before, b.beforeTotal = nil, 0
	b.counting, b.seenTwice = false, b.ambiguous
	b.opts.Metrics.Backlog.Set(float64(b.totalLocked()))
	return nil
}

// add returns to with from's counts added; to may be nil.
func add(to, from map[string]int64) map[string]int64 {
	if to == nil {
		to = make(map[string]int64, len(from))
	}
	for k, n := range from {
		to[k] += n
	}
	return to
}

func (b *Backlog) workflowLocked(id string) int64 {
	return b.counted[id] + b.before[id] + b.accepted[id] + b.inflight[id]
}

func (b *Backlog) totalLocked() int64 {
	return b.countedTotal + b.beforeTotal + b.acceptedTotal + b.inflightTotal
}

// rateLocked is the executions that left the backlog per second over
// drainWindow; 0 when none did or nothing was measured yet.
func (b *Backlog) rateLocked() float64 {
	if len(b.drains) == 0 {
		return 0
	}
	var n int64
	for _, d := range b.drains {
		n += d.n
	}
	span := b.drains[len(b.drains)-1].to.Sub(b.drains[0].from).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(n) / span
}

// retryAfter is the advice for a caller that must wait for n executions to
// leave at rate per second, clamped; the longest when nothing leaves.
func retryAfter(n int64, rate float64) time.Duration {
	if rate <= 0 {
		return maxRetryAfter
	}
	d := time.Duration(float64(n) / rate * float64(time.Second))
	return min(max(d, minRetryAfter), maxRetryAfter).Round(time.Second)
}

// Room is a place in the backlog taken by Reserve, which its trigger keeps
// if it writes an execution and gives back if not.
type Room struct {
	b          *Backlog
	workflowID string
}

// Keep keeps the place if created, else gives it back; either way the
// write has ended. A Room from a nil Backlog holds nothing.
func (r Room) Keep(created bool) {
	if r.b == nil {
		return
	}
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inflight[r.workflowID]--
	b.inflightTotal--
	if b.inflight[r.workflowID] == 0 {
		delete(b.inflight, r.workflowID)
	}
	if created {
		b.kept++
		b.accepted[r.workflowID]++
		b.acceptedTotal++
		if b.counting {
			b.ambiguous++
		}
	}
}

// Reserve takes a place in the backlog for a trigger of workflowID, or
// refuses it with ResourceExhausted and retry advice: when the workflow's
// backlog or the total is at its bound, or, for a SYNC webhook call
// (syncTimeout > 0), when the executions ready ahead of it would not leave
// before its timeout at the recent drain rate, or, when none left
// recently, the oldest of them has waited stallGrace, or a quarter of the
// call's timeout if longer, already. A nil Backlog admits everything.
func (b *Backlog) Reserve(workflowID string, syncTimeout time.Duration) (Room, error) {
	if b == nil {
		return Room{}, nil
	}
	const op errors.Op = "coordination.Backlog"
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now()
	total, own := b.totalLocked(), b.workflowLocked(workflowID)
	rate := b.rateLocked()
	var (
		bound string
		wait  time.Duration
		msg   string
	)
	switch {
	case b.opts.MaxPerWorkflow > 0 && own >= b.opts.MaxPerWorkflow:
		// Dispatch takes the oldest first: the workflow's share of the
		// drain is its share of the backlog.
		bound, wait = BoundWorkflow, retryAfter(own-b.opts.MaxPerWorkflow+1, rate*float64(own)/float64(max(total, 1)))
		msg = fmt.Sprintf("workflow %s has %d executions waiting for the engine, at its bound of %d (WFR_BACKLOG_MAX_PER_WORKFLOW): retry in %v",
			workflowID, own, b.opts.MaxPerWorkflow, wait)
	case b.opts.MaxTotal > 0 && total >= b.opts.MaxTotal:
		bound, wait = BoundTotal, retryAfter(total-b.opts.MaxTotal+1, rate)
		msg = fmt.Sprintf("%d executions wait for the engine, at the bound of %d for all workflows (WFR_BACKLOG_MAX): retry in %v",
			total, b.opts.MaxTotal, wait)
	case syncTimeout > 0:
		ahead := b.ready + b.beforeTotal + b.acceptedTotal + b.inflightTotal
		switch {
		case ahead == 0:
		case rate > 0 && float64(ahead)/rate > syncTimeout.Seconds():
			over := ahead - int64(rate*syncTimeout.Seconds())
			bound, wait = BoundSync, retryAfter(over, rate)
			msg = fmt.Sprintf("%d executions wait for the engine, which takes %.0f a second: a SYNC call would not start within its timeout of %v; retry in %v, or trigger ASYNC",
				ahead, rate, syncTimeout, wait)
		case rate == 0 && b.ready > 0 && now.Sub(b.oldestReady) >= max(stallGrace, syncTimeout/4):
			bound, wait = BoundSync, maxRetryAfter
			msg = fmt.Sprintf("%d executions wait for the engine, the oldest for %v, and none left in the last %v: a SYNC call would not start within its timeout of %v; retry in %v, or trigger ASYNC",
				ahead, now.Sub(b.oldestReady).Round(time.Second), drainWindow, syncTimeout, wait)
		}
	}
	if bound != "" {
		b.refused[bound]++
		b.lastRefusal, b.lastMessage = now, msg
		b.opts.Metrics.Refused.With("bound", bound).Add(1)
		return Room{}, errors.E(op, errors.ResourceExhausted, errors.RetryAfter(wait), msg)
	}
	b.inflight[workflowID]++
	b.inflightTotal++
	return Room{b: b, workflowID: workflowID}, nil
}

// acceptance returns the triggers this replica accepted so far, and
// whether the backlog is below three quarters of its bound: where dispatch
// may still yield to triggers (yield.go). A nil Backlog accepted none.
func (b *Backlog) acceptance() (kept int64, room bool) {
	if b == nil {
		return 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kept, b.opts.MaxTotal == 0 || b.totalLocked() < b.opts.MaxTotal/4*3
}

// BackPressure is the back-pressure as this replica sees it, for
// monitoring: the bounds, the backlog and its busiest workflows, the drain
// rate, and the triggers it refused.
func (b *Backlog) BackPressure() workflow.BackPressure {
	if b == nil {
		return workflow.BackPressure{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := slices.Collect(maps.Keys(b.counted))
	for id := range b.before {
		ids = append(ids, id)
	}
	for id := range b.accepted {
		ids = append(ids, id)
	}
	for id := range b.inflight {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	busiest := make([]workflow.Waiting, 0, len(ids))
	for _, id := range ids {
		if n := b.workflowLocked(id); n > 0 {
			busiest = append(busiest, workflow.Waiting{WorkflowID: id, Pending: n})
		}
	}
	slices.SortStableFunc(busiest, func(x, y workflow.Waiting) int { return cmp.Compare(y.Pending, x.Pending) })
	rate := b.rateLocked()
	return workflow.BackPressure{
		MaxTotal: b.opts.MaxTotal, MaxPerWorkflow: b.opts.MaxPerWorkflow,
		Backlog: b.totalLocked(), Busiest: busiest[:min(len(busiest), busiestShown)],
		DrainPerSecond: math.Round(rate*10) / 10,
		Refused:        maps.Clone(b.refused), LastRefusal: b.lastRefusal, LastRefusalMessage: b.lastMessage,
	}
}
