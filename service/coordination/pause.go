package coordination

import (
	"context"
	"fmt"

	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// pauseActor is the actor of the events the runtime records by itself.
const pauseActor = "workflow-runtime"

// errNoPause rolls back a pause that is no longer due: the deployment was
// paused, changed or resumed meanwhile.
var errNoPause = errors.New("no pause due")

// countEnd counts the end of a run, after its retries, toward its
// deployment's pause_after_failures, and pauses the deployment when the
// count reaches it. Only deployments that set it are counted: the others
// pay no write per execution for a count no one reads.
func (r *run) countEnd(ctx context.Context) {
	if r.dep == nil || r.dep.pauseAfter <= 0 {
		return
	}
	// The end is written: the lease renewal may now stop the run at any
	// moment, and the count must not stop with it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dispatchTimeout)
	defer cancel()
	var failed bool
	switch r.e.Status {
	case workflow.ExecutionFailed, workflow.ExecutionTimedOut:
		failed = true
	case workflow.ExecutionSucceeded:
	default:
		// Cancelled or skipped: neither a failure nor a success of the workflow.
		return
	}
	var n int32
	err := r.persist(ctx, func() (err error) {
		n, err = r.c.store.CountRunEnd(ctx, r.e.DeploymentID, failed)
		return err
	})
	if err != nil {
		level.Warn(r.logger).Log("msg", "run end not counted toward pause_after_failures", "err", err)
		return
	}
	if failed && n >= r.dep.pauseAfter {
		r.pause(ctx, n)
	}
}

// pause pauses the run's deployment after n failed runs in a row, if its
// current config still asks for it, recording why with the last error.
func (r *run) pause(ctx context.Context, n int32) {
	reason := fmt.Sprintf("paused after %d consecutive failed runs; last: execution %s %s: %s", n, r.e.ID, r.e.Status, r.e.ErrorMessage)
	var d *workflow.Deployment
	err := r.persist(ctx, func() (err error) {
		d, err = r.c.store.UpdateDeployment(ctx, r.e.DeploymentID, func(d *workflow.Deployment) (workflow.Event, error) {
			limit := d.Config.PauseAfterFailures
			if d.Status != workflow.StatusDeployed || limit <= 0 || d.ConsecutiveFailures < limit {
				return workflow.Event{}, errNoPause
			}
			d.Status, d.PauseReason = workflow.StatusPaused, reason
			d.Version++
			return workflow.Event{Action: workflow.ActionPause, Actor: pauseActor, Reason: reason}, nil
		})
		return err
	})
	switch {
	case errors.Is(err, errNoPause):
		return
	case err != nil:
		level.Warn(r.logger).Log("msg", "deployment not paused after failures", "deployment_id", r.e.DeploymentID, "err", err)
		return
	}
	level.Warn(r.logger).Log("msg", "deployment_paused", "deployment_id", d.ID, "reason", reason)
	if r.c.opts.Notifier == nil {
		return
	}
	if err := r.c.opts.Notifier.DeploymentChanged(ctx, d); err != nil {
		// The pause is written: CreateExecution refuses the deployment's
		// fires, and the next resync stops them.
		level.Warn(r.logger).Log("msg", "pause not announced; the next resync applies it", "deployment_id", d.ID, "err", err)
	}
}

// maxPersistAttempts bounds the attempts at a count or a pause that another
// writer or an unreachable database got in the way of.
const maxPersistAttempts = 5

// persist runs f again, with backoff, while it fails for a reason that may
// pass (a concurrent change, a database that cannot answer), a few times:
// the end itself is recorded already, and a lost count only delays a pause.
func (r *run) persist(ctx context.Context, f func() error) error {
	delay := r.c.opts.RetryMin
	var err error
	for range maxPersistAttempts {
		err = f()
		if err == nil || !errors.Is(err, store.ErrConcurrentChange) && !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		if !sleep(ctx, delay) {
			return err
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
	return err
}
