package coordination

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// usesSlot reports whether the deployment bounds its ALLOW_ALL runs: each
// takes one of the workflow's max_concurrency slots before it is
// dispatched, in the database, so that the bound holds across replicas and
// a slot stays with its execution when another replica adopts it.
func (r *run) usesSlot() bool {
	return r.dep != nil && r.dep.policy == workflow.OverlapAllowAll && r.dep.maxConcurrency > 0
}

// claimSlot waits for a free slot, in the order the workflow's executions
// fired, as BUFFER_ALL waits for its turn: a run takes one only when none
// fired before it waits, and is SKIPPED when max_buffered wait already. It
// reports false when the run ended instead: skipped, timed out, or stopped.
func (r *run) claimSlot(ctx context.Context, deadline time.Time) bool {
	delay := r.c.opts.RetryMin
	first := true
	for !r.e.HoldsSlot {
		if !r.c.opts.Now().Before(deadline) {
			r.end(ctx, workflow.ExecutionTimedOut, fmt.Sprintf("did not start within the execution timeout of %v", r.dep.timeout), nil)
			return false
		}
		got, full, err := r.takeSlot(ctx, first)
		first = false
		switch {
		case full != "":
			r.admit(AdmissionSkipped)
			r.skip(ctx, full)
			return false
		case errors.Is(err, store.ErrStale):
			return false
		case err != nil:
			if ctx.Err() != nil {
				return false
			}
			level.Warn(r.logger).Log("msg", "concurrency slot not decided; retrying", "err", err)
			if !sleep(ctx, delay) {
				return false
			}
			delay = backoff(delay, r.c.opts.RetryMax)
			continue
		case got:
			r.e.HoldsSlot = true
			return true
		}
		delay = r.c.opts.RetryMin
		r.admit(AdmissionWaiting)
		r.unplace()
		r.c.signals.signal(r.c.signals.waiting, r.e.ID)
		if !sleep(ctx, r.c.opts.BufferRetry) {
			return false
		}
	}
	return true
}

// takeSlot makes one attempt at a slot: none while runs fired before this
// one wait. Only the first attempt checks the bound, and returns the skip
// reason when it is reached: the runs before this one only ever leave.
func (r *run) takeSlot(ctx context.Context, first bool) (got bool, full string, err error) {
	w, err := r.waitingBefore(ctx)
	if err != nil {
		return false, "", err
	}
	switch queued := w.buffered(int(r.dep.maxConcurrency) - w.slots); {
	case first && queued >= r.dep.maxBuffered:
		return false, bufferFull(queued), nil
	case len(w.ids) > 0:
		return false, "", nil
	}
	got, err = r.c.store.TakeSlot(ctx, r.e.ID, r.c.opts.InstanceID, r.dep.maxConcurrency)
	if errors.Is(err, store.ErrConcurrentChange) {
		return false, "", nil
	}
	return got, "", err
}
