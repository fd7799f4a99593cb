// Package retention removes history older than the retention in the
// background: finished executions (a retried run as a whole) fired before
// now - retention, and the runs of missed slots whose last slot is older.
// Every replica runs a Remover; a lease row in the database lets one at a
// time make a pass, so that it also holds without Redis. A pass deletes in
// short batches and rests after each until its batches have taken a share
// of its time (Duty, 3 % by default), so that no statement holds its rows
// or the hot write path for long, and what the deletes cost the trigger
// path's commits (flushes and writes of the pages they dirty) is spread thin.
package retention

import (
	"context"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/kit/metrics/discard"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/startstop"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// LeaseName is the lease row that the replica making a pass holds.
const LeaseName = "retention"

// Tables are the values of the Removed metric's table label.
var Tables = []string{"executions", "missed_slots"}

// Metrics are the Remover's instruments.
type Metrics struct {
	// Removed counts the rows deleted, by table (see Tables).
	Removed metrics.Counter
	// PassDuration observes the seconds of each pass this replica made.
	PassDuration metrics.Histogram
}

// Options configure a Remover; zero values take the defaults in brackets.
type Options struct {
	// InstanceID names this replica as the lease's holder.
	InstanceID string
	// Retention is the age past which history goes; 0 keeps everything
	// (the Remover does nothing).
	Retention time.Duration
	// Interval is the time between two passes of this replica [10m]; the
	// first comes at Start.
	Interval time.Duration
	// Batch is the rows of a pass's first batch [MinBatch]; the next ones are
	// sized from the time the last one took, to take about BatchTarget
	// [2ms], between MinBatch and MaxBatch.
	Batch       int
	BatchTarget time.Duration
	// Duty is the share of a pass's time spent in batches, in (0, 1]
	// [DefaultDuty]: after a batch that took d, the pass waits
	// d*(1-Duty)/Duty, and at least Pause [10ms]. A batch that the
	// database's load slows gets a longer wait, so that under load a pass
	// gives way in proportion.
	Duty  float64
	Pause time.Duration
	// Lease is how long the lease holds without renewal [1m]; it is renewed
	// at every batch, so a replica that dies mid-pass holds up the next pass
	// by at most this.
	Lease time.Duration
	// Now reads the clock of the cutoff [time.Now]. Batch times and pauses
	// are the real clock's: they size real work.
	Now     func() time.Time
	Logger  log.Logger
	Metrics Metrics
}

// Batch bounds: a batch of fewer rows costs more in round trips than it
// saves in lock time; one of more holds its rows and its WAL too long, however
// quick the database.
const (
	MinBatch = 100
	MaxBatch = 20000
)

// DefaultDuty is the Duty of WFR_RETENTION_DUTY's default; what a share
// costs the trigger path, and removes, is measured in the architecture doc.
const DefaultDuty = 0.03

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Minute
	}
	if o.Batch <= 0 {
		o.Batch = MinBatch
	}
	o.Batch = min(max(o.Batch, MinBatch), MaxBatch)
	if o.BatchTarget <= 0 {
		o.BatchTarget = 2 * time.Millisecond
	}
	if o.Duty <= 0 || o.Duty > 1 {
		o.Duty = DefaultDuty
	}
	if o.Pause <= 0 {
		o.Pause = 10 * time.Millisecond
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Metrics.Removed == nil {
		o.Metrics.Removed = discard.NewCounter()
	}
	if o.Metrics.PassDuration == nil {
		o.Metrics.PassDuration = discard.NewHistogram()
	}
	return o
}

// Remover is the background component that makes the passes.
type Remover struct {
	store store.RetentionStore
	opts  Options
	loops startstop.Loops
}

var _ startstop.Service = (*Remover)(nil)

// New returns a Remover over st.
func New(st store.RetentionStore, opts Options) *Remover {
	return &Remover{store: st, opts: opts.withDefaults()}
}

// Result is what one pass did.
type Result struct {
	// Held is false when another replica held the lease: the pass did
	// nothing.
	Held bool
	// Executions and MissedSlots are the rows deleted.
	Executions, MissedSlots int64
	Duration                time.Duration
}

// Start begins the passes, the first at once; with a retention of 0 it
// does nothing.
func (r *Remover) Start(ctx context.Context) error {
	if r.opts.Retention <= 0 {
		return nil
	}
	r.loops.Go(ctx, r.work)
	return nil
}

// Stop ends the passes; a pass under way stops after its batch, which its
// transaction keeps whole, and gives up the lease.
func (r *Remover) Stop(ctx context.Context) error { return r.loops.Stop(ctx) }

func (r *Remover) work(ctx context.Context) {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			level.Warn(r.opts.Logger).Log("msg", "retention pass failed; the next one goes on", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass makes one pass, if this replica gets the lease: it deletes what
// expired before Now() - Retention, batch after batch, until a batch finds
// less than it may take, and then gives up the lease. With a retention of 0
// it does nothing.
func (r *Remover) Pass(ctx context.Context) (Result, error) {
	if r.opts.Retention <= 0 {
		return Result{}, nil
	}
	took, err := r.store.TakeLease(ctx, LeaseName, r.opts.InstanceID, r.opts.Lease)
	if err != nil || !took {
		return Result{}, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.store.ReleaseLease(rctx, LeaseName, r.opts.InstanceID); err != nil {
			level.Warn(r.opts.Logger).Log("msg", "retention lease not released; it runs out", "err", err)
		}
	}()
	start := time.Now()
	cutoff := r.opts.Now().Add(-r.opts.Retention)
	res := Result{Held: true}
	var from time.Time
	res.Executions, err = r.drain(ctx, "executions", func(ctx context.Context, n int) (int64, error) {
		k, last, err := r.store.DeleteExpiredExecutions(ctx, from, cutoff, n)
		if k > 0 {
			from = last
		}
		return k, err
	})
	if err == nil {
		res.MissedSlots, err = r.drain(ctx, "missed_slots", func(ctx context.Context, n int) (int64, error) {
			return r.store.DeleteExpiredMissedSlots(ctx, cutoff, n)
		})
	}
	res.Duration = time.Since(start)
	r.opts.Metrics.PassDuration.Observe(res.Duration.Seconds())
	if res.Executions > 0 || res.MissedSlots > 0 || err != nil {
		level.Info(r.opts.Logger).Log("msg", "retention pass", "cutoff", cutoff.UTC().Format(time.RFC3339),
			"executions_removed", res.Executions, "missed_slots_removed", res.MissedSlots, "duration", res.Duration, "err", err)
	}
	return res, err
}

// ErrLeaseLost ends a pass whose lease another replica took: it ran out
// while a batch was slow, and the other goes on from where this one was.
var ErrLeaseLost = errors.New("retention lease lost to another replica")

// drain runs batches of del until one deletes fewer rows than it may,
// renewing the lease before each, and counts the rows in table's metric.
func (r *Remover) drain(ctx context.Context, table string, del func(ctx context.Context, n int) (int64, error)) (int64, error) {
	removed := r.opts.Metrics.Removed.With("table", table)
	var total int64
	n := r.opts.Batch
	var spent time.Duration
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(rest(spent, r.opts.Duty, r.opts.Pause)):
			}
			took, err := r.store.TakeLease(ctx, LeaseName, r.opts.InstanceID, r.opts.Lease)
			if err != nil {
				return total, err
			}
			if !took {
				return total, ErrLeaseLost
			}
		}
		start := time.Now()
		k, err := del(ctx, n)
		if err != nil {
			return total, err
		}
		total += k
		removed.Add(float64(k))
		if k < int64(n) {
			return total, nil
		}
		spent = time.Since(start)
		n = nextBatch(n, spent, r.opts.BatchTarget)
	}
}

// rest is the wait after a batch that took took, for the pass to spend
// duty of its time in batches: at least pause.
func rest(took time.Duration, duty float64, pause time.Duration) time.Duration {
	return max(time.Duration(float64(took)*(1-duty)/duty), pause)
}

// nextBatch sizes the batch after one of n rows that took took, so that it
// takes about target: in proportion, but at most doubling or halving at
// once, since one batch's time is a noisy reading.
func nextBatch(n int, took, target time.Duration) int {
	next := 2 * n
	if took > 0 {
		next = min(int(float64(n)*float64(target)/float64(took)), 2*n)
	}
	return min(max(next, n/2, MinBatch), MaxBatch)
}
