package scheduling

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/kit/metrics/discard"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
)

// SlotLocker takes a short lock per slot, so that replicas firing the same
// slot mostly skip the database write that one of them will win anyway.
// Release gives the slot up again when the write failed.
type SlotLocker interface {
	TryLock(ctx context.Context, key string, ttl time.Duration) (token string, ok bool, err error)
	Release(ctx context.Context, key, token string) error
}

// ExecutionStore records executions.
type ExecutionStore interface {
	CreateExecution(ctx context.Context, e *store.Execution) (bool, error)
}

// slotLockTTL outlives any skew between replicas' fires of one slot; the
// lock is only an optimisation, so a short life costs nothing.
const slotLockTTL = 2 * time.Minute

// slotReleaseTimeout bounds giving a slot lock back after a failed write.
const slotReleaseTimeout = 5 * time.Second

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
	Now        func() time.Time
}

// Record takes the slot's lock and inserts the execution; only the replica
// whose insert wins logs workflow_fired.
func (r *Recorder) Record(ctx context.Context, f Fire) error {
	logger, dups, now := r.Logger, r.Duplicates, r.Now
	if logger == nil {
		logger = log.NewNopLogger()
	}
	if dups == nil {
		dups = discard.NewCounter()
	}
	if now == nil {
		now = time.Now
	}
	var release func()
	if r.Locker != nil {
		key := fmt.Sprintf("%sslot:%s:%d", r.KeyPrefix, f.Trigger.TriggerID, f.Slot.UnixMilli())
		token, ok, err := r.Locker.TryLock(ctx, key, slotLockTTL)
		switch {
		case err != nil:
			level.Warn(logger).Log("msg", "slot lock unavailable; the database decides alone", "trigger_id", f.Trigger.TriggerID, "err", err)
		case !ok:
			dups.Add(1)
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
	slot := f.Slot.UTC()
	e := &store.Execution{
		WorkflowID:        f.Trigger.WorkflowID,
		DeploymentID:      f.Trigger.DeploymentID,
		DeploymentVersion: f.Trigger.DeploymentVersion,
		TriggerID:         f.Trigger.TriggerID,
		TriggerType:       store.TriggerCron,
		Status:            store.ExecutionPending,
		ScheduledTime:     &slot,
		FiredTime:         now().UTC(),
		JitterSeconds:     int32(f.At.Sub(f.Slot) / time.Second),
		TraceID:           tracing.NewID(),
		TriggeredBy:       "cron:" + f.Trigger.TriggerID,
	}
	created, err := r.Store.CreateExecution(ctx, e)
	if err != nil {
		// Holding the lock for a slot nobody recorded would keep every
		// replica, and this one's retry, from recording it.
		if release != nil {
			release()
		}
		return fmt.Errorf("scheduling: record slot %s of trigger %s: %w", slot.Format(time.RFC3339), f.Trigger.TriggerID, err)
	}
	if !created {
		dups.Add(1)
		return nil
	}
	level.Info(logger).Log("msg", "workflow_fired", "workflow_id", e.WorkflowID, "deployment_id", e.DeploymentID,
		"trigger_id", e.TriggerID, "execution_id", e.ID, "trace_id", e.TraceID, "slot", slot.Format(time.RFC3339Nano),
		"jitter_ms", f.At.Sub(f.Slot).Milliseconds(), "lag_ms", f.Lag.Milliseconds())
	return nil
}
