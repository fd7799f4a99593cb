package scheduling

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/kit/metrics/discard"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// SlotLocker takes a short lock per slot, so that replicas firing the same
// slot mostly skip the database write that one of them will win anyway.
// Release gives the slot up again when the write failed; MarkRecorded tells
// the others that it succeeded, and Recorded asks whether it did.
type SlotLocker interface {
	TryLock(ctx context.Context, key string, ttl time.Duration) (token string, ok bool, err error)
	Release(ctx context.Context, key, token string) error
	MarkRecorded(ctx context.Context, key, token string) error
	Recorded(ctx context.Context, key string) (bool, error)
}

// ExecutionStore records executions.
type ExecutionStore interface {
	CreateExecution(ctx context.Context, e *workflow.Execution) (bool, error)
}

// slotLockTTL outlives any skew between replicas' fires of one slot; the
// lock is only an optimisation, so a short life costs nothing.
const slotLockTTL = 2 * time.Minute

// slotReleaseTimeout bounds giving a slot lock back after a failed write,
// and each step of a confirmation.
const slotReleaseTimeout = 5 * time.Second

// defaultConfirmAfter is how long a replica kept out of a slot waits before
// it checks that the lock's holder recorded the slot: longer than a write
// takes, well within a catch-up window.
const defaultConfirmAfter = 10 * time.Second

// Recorder is the FireHandler that turns a fire into a PENDING execution row
// marked for dispatch: the row is the contract with execution coordination.
type Recorder struct {
	Store ExecutionStore
	// Locker may be nil (no Redis): the database alone then decides.
	Locker SlotLocker
	// KeyPrefix starts every slot lock key, e.g. "workflow_runtime:".
	KeyPrefix string
	Logger    log.Logger
	// Duplicates counts fires another replica had already taken.
	Duplicates metrics.Counter
	// ConfirmAfter is how long a replica kept out of a slot by its lock
	// waits before it checks that the holder recorded it (default 10 s).
	ConfirmAfter time.Duration
	Now          func() time.Time

	mu      sync.Mutex
	pending map[*time.Timer]struct{}
	stopped bool
}

// Start lets the recorder schedule confirmations again after a Stop
// (startstop.Service); a new Recorder needs no Start to record.
func (r *Recorder) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = false
	return nil
}

// Stop cancels the confirmations not yet made, so that none writes after
// the scheduler stopped; the replicas that stay make them for the slots. A
// confirmation already under way finishes by itself, bounded by
// slotReleaseTimeout.
func (r *Recorder) Stop(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for t := range r.pending {
		t.Stop()
	}
	r.pending = nil
	return nil
}

// Record takes the slot's lock and inserts the execution; only the replica
// whose insert wins logs workflow_fired. A replica kept out by the lock checks
// later that the holder recorded the slot, and records it itself if not: the
// holder may have died between its lock and its write. A fire of the
// trigger's owner takes no lock: no other replica fires the slot, so the
// lock would spare no one a write, and the slot's unique key still keeps a
// hand-off's stray fire to one run.
func (r *Recorder) Record(ctx context.Context, f Fire) error {
	logger, dups := r.logger(), r.Duplicates
	if dups == nil {
		dups = discard.NewCounter()
	}
	var (
		key, token string
		release    func()
	)
	if r.Locker != nil && !f.Owned {
		key = fmt.Sprintf("%sslot:%s:%d", r.KeyPrefix, f.Trigger.TriggerID, f.Slot.UnixMilli())
		var ok bool
		var err error
		token, ok, err = r.Locker.TryLock(ctx, key, slotLockTTL)
		switch {
		case err != nil:
			token = ""
			level.Warn(logger).Log("msg", "slot lock unavailable; the database decides alone", "trigger_id", f.Trigger.TriggerID, "err", err)
		case !ok:
			dups.Add(1)
			r.confirmLater(f, key)
			return nil
		default:
			release = func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), slotReleaseTimeout)
				defer cancel()
				if err := r.Locker.Release(rctx, key, token); err != nil {
					level.Warn(logger).Log("msg", "slot lock not released; it expires by itself", "trigger_id", f.Trigger.TriggerID, "err", err)
				}
			}
		}
	}
	created, err := r.insert(ctx, f)
	if err != nil {
		// Holding the lock for a slot nobody recorded would keep every
		// replica, and this one's retry, from recording it.
		if release != nil {
			release()
		}
		return err
	}
	if token != "" {
		if err := r.Locker.MarkRecorded(ctx, key, token); err != nil {
			level.Debug(logger).Log("msg", "slot not marked recorded; the others check the database", "trigger_id", f.Trigger.TriggerID, "err", err)
		}
	}
	if !created {
		dups.Add(1)
	}
	return nil
}

// confirmLater makes sure, after ConfirmAfter, that the slot whose lock
// another replica took has its row: unless the holder marked it recorded, it
// inserts the row, which the slot's unique key makes harmless if the holder
// was only slow.
func (r *Recorder) confirmLater(f Fire, key string) {
	after := r.ConfirmAfter
	if after <= 0 {
		after = defaultConfirmAfter
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(after, func() {
		r.mu.Lock()
		_, ok := r.pending[t]
		delete(r.pending, t)
		r.mu.Unlock()
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), slotReleaseTimeout)
		defer cancel()
		if done, err := r.Locker.Recorded(ctx, key); err == nil && done {
			return
		}
		created, err := r.insert(ctx, f)
		switch {
		case err != nil:
			level.Warn(r.logger()).Log("msg", "slot not confirmed", "trigger_id", f.Trigger.TriggerID, "err", err)
		case created:
			level.Warn(r.logger()).Log("msg", "slot recorded by a replica kept out of it: the lock's holder did not record it",
				"trigger_id", f.Trigger.TriggerID, "slot", f.Slot.UTC().Format(time.RFC3339Nano))
		}
	})
	if r.pending == nil {
		r.pending = map[*time.Timer]struct{}{}
	}
	r.pending[t] = struct{}{}
}

func (r *Recorder) logger() log.Logger {
	if r.Logger == nil {
		return log.NewNopLogger()
	}
	return r.Logger
}

// insert records the fire's PENDING execution and reports whether this call
// wrote it; only the writer logs workflow_fired.
func (r *Recorder) insert(ctx context.Context, f Fire) (bool, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	slot := f.Slot.UTC()
	e := &workflow.Execution{
		WorkflowID:        f.Trigger.WorkflowID,
		DeploymentID:      f.Trigger.DeploymentID,
		DeploymentVersion: f.Trigger.DeploymentVersion,
		TriggerID:         f.Trigger.TriggerID,
		TriggerType:       workflow.TriggerCron,
		Status:            workflow.ExecutionPending,
		ScheduledTime:     &slot,
		FiredTime:         now().UTC(),
		JitterSeconds:     int32(f.At.Sub(f.Slot) / time.Second),
		TraceID:           cmp.Or(tracing.TraceID(ctx), tracing.NewID()),
		TriggeredBy:       "cron:" + f.Trigger.TriggerID,
	}
	created, err := r.Store.CreateExecution(ctx, e)
	if err != nil {
		return false, fmt.Errorf("scheduling: record slot %s of trigger %s: %w", slot.Format(time.RFC3339), f.Trigger.TriggerID, err)
	}
	if created {
		level.Info(r.logger()).Log("msg", "workflow_fired", "workflow_id", e.WorkflowID, "deployment_id", e.DeploymentID,
			"trigger_id", e.TriggerID, "execution_id", e.ID, "trace_id", e.TraceID, "slot", slot.Format(time.RFC3339Nano),
			"jitter_ms", f.At.Sub(f.Slot).Milliseconds(), "lag_ms", f.Lag.Milliseconds())
	}
	return created, nil
}
