package coordination

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// run carries one execution from where its row stands to its end, on behalf
// of the replica that owns it. Every write is a compare-and-set that names
// this replica as the owner: once another replica adopts the execution, the
// run's writes fail and it steps aside.
type run struct {
	c      *Coordinator
	e      workflow.Execution
	dep    *deploymentInfo
	logger log.Logger
	// release gives the workflow lock up; nil while the run holds none.
	release func(context.Context) error
	// maybeSent is set once the engine may have taken the execution on
	// without the run knowing: a dispatch attempt whose answer was lost, or
	// an adopted PENDING execution whose previous owner may have sent it.
	maybeSent bool
	// adopted is set for a run of an execution another replica owned.
	adopted bool
}

func (c *Coordinator) newRun(e workflow.Execution) *run {
	return &run{c: c, e: e, logger: log.With(c.opts.Logger, "execution_id", e.ID, "workflow_id", e.WorkflowID, "trace_id", e.TraceID)}
}

func (r *run) run(ctx context.Context) {
	if !r.loadDeployment(ctx) {
		return
	}
	// An adopted PENDING execution may have been sent by its previous owner
	// if that one took the turn, or if its policy takes none.
	r.maybeSent = r.adopted && r.e.Status == workflow.ExecutionPending && (r.e.HoldsTurn || !r.usesLock())
	switch r.e.Status {
	case workflow.ExecutionPending:
		if !r.dispatch(ctx) {
			return
		}
	case workflow.ExecutionRunning:
		r.rejoin(ctx)
	default:
		return
	}
	r.follow(ctx)
}

// loadDeployment reads the execution's deployment, waiting out a database
// that cannot answer.
func (r *run) loadDeployment(ctx context.Context) bool {
	delay := r.c.opts.RetryMin
	for {
		dep, err := r.c.deployments.get(ctx, r.e.DeploymentID, r.e.DeploymentVersion)
		switch {
		case err == nil:
			r.dep = dep
			return true
		case ctx.Err() != nil:
			return false
		case errors.Is(err, store.ErrNotFound):
			r.end(ctx, workflow.ExecutionFailed, "deployment "+r.e.DeploymentID+" not found", nil)
			return false
		}
		if !time.Now().Before(r.e.FiredTime.Add(r.c.opts.ExecutionTimeout)) {
			r.end(ctx, workflow.ExecutionFailed, "deployment "+r.e.DeploymentID+" could not be read: "+err.Error(), nil)
			return false
		}
		level.Warn(r.logger).Log("msg", "deployment not read; retrying", "err", err)
		if !sleep(ctx, delay) {
			return false
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
}

// usesLock reports whether the deployment's policy keeps one execution of
// the workflow at a time.
func (r *run) usesLock() bool { return r.dep != nil && r.dep.policy != workflow.OverlapAllowAll }

// lockTTL is the execution timeout plus the grace (ARCHITECTURE: 60 s),
// which keeps the lock of an execution whose replica died until its adopter
// has cancelled it at its timeout.
func (r *run) lockTTL() time.Duration { return r.dep.timeout + r.c.opts.LockGrace }

// dispatch takes the run's turn under the overlap policy and hands the
// execution to the engine; the row stays PENDING until the engine accepts.
// It reports whether the execution is now RUNNING and this run's to follow.
func (r *run) dispatch(ctx context.Context) bool {
	// An execution that cannot start within its timeout (the engine down all
	// along, or a buffered run that waited that long) will not start. One
	// that may have reached the engine already gets a second timeout to find
	// out: a dispatch with the same idempotency key returns it, and following
	// it then cancels it at its own timeout, whereas recording TIMED_OUT
	// blindly could leave it running in the engine.
	deadline := r.e.FiredTime.Add(r.dep.timeout)
	if r.usesLock() && !r.claim(ctx, deadline) {
		return false
	}
	req := engine.ExecuteRequest{
		ExecutionID: r.e.ID, WorkflowID: r.e.WorkflowID, DeploymentID: r.e.DeploymentID,
		DeploymentVersion: r.e.DeploymentVersion, TriggerID: r.e.TriggerID, TriggerType: r.e.TriggerType,
		ScheduledTime: r.e.ScheduledTime, TriggeredBy: r.e.TriggeredBy, WebhookPath: r.dep.webhookPaths[r.e.TriggerID],
		TraceID: r.e.TraceID, TraceParent: tracing.Parent(r.e.TraceID), Input: r.e.Input, DefinitionJSON: r.dep.definition,
	}
	delay := r.c.opts.RetryMin
	for attempt := 0; ; attempt++ {
		if r.maybeSent {
			deadline = r.e.FiredTime.Add(2 * r.dep.timeout)
		}
		if !time.Now().Before(deadline) {
			r.end(ctx, workflow.ExecutionTimedOut, fmt.Sprintf("not accepted by the engine within the execution timeout of %v", r.dep.timeout), nil)
			return false
		}
		// A run that waited is no longer sure the execution is still its
		// own to dispatch: it may have been cancelled or adopted meanwhile.
		if attempt > 0 && !r.stillOwned(ctx) {
			return false
		}
		done, started := r.execute(ctx, req)
		if done {
			return started
		}
		if !sleep(ctx, delay) {
			return false
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
}

// stillOwned reports whether the execution is still PENDING and this
// replica's; a run that finds it is not gives its workflow lock up and steps
// aside. It asks with a compare-and-set that changes nothing, because that
// waits for a writer holding the row (a cancel or an adoption under way) and
// then sees its outcome, where a lease renewal skips such a row and would
// answer "still mine".
func (r *run) stillOwned(ctx context.Context) bool {
	_, err := r.c.store.TransitionExecution(ctx, r.e.ID, store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionPending, Owner: r.c.opts.InstanceID,
	})
	switch {
	case errors.Is(err, store.ErrStale):
		r.unlock()
		return false
	case err != nil:
		// Cannot tell: carry on, as the lease renewal would.
		return ctx.Err() == nil
	}
	return true
}

// execute makes one dispatch attempt and records its outcome. It runs on a
// context of its own so that a dispatch in flight when the replica stops
// still finishes and is recorded. done is false when the attempt is to be
// made again: only an engine that rejects the request fails the execution,
// and anything else (unreachable, overloaded, slow) leaves it PENDING until
// the engine accepts or the execution times out.
func (r *run) execute(ctx context.Context, req engine.ExecuteRequest) (done, started bool) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dispatchTimeout)
	defer cancel()
	acc, err := r.c.engine.Execute(dctx, req)
	switch {
	case err == nil:
		return true, r.accepted(dctx, acc)
	case errors.Is(err, engine.ErrRejected):
		r.end(dctx, workflow.ExecutionFailed, "engine refused the execution: "+err.Error(), nil)
		return true, false
	}
	// Unless the engine surely was not reached, it may have taken the
	// execution on without the answer getting back.
	r.maybeSent = r.maybeSent || !errors.Is(err, engine.ErrCircuitOpen)
	level.Warn(r.logger).Log("msg", "dispatch failed; execution stays PENDING", "err", err)
	return false, false
}

// accepted records that the engine took the execution on: RUNNING, or its
// end at once when the engine already reports one.
func (r *run) accepted(ctx context.Context, acc engine.Accepted) bool {
	now := time.Now().UTC()
	r.c.opts.Metrics.DispatchLatency.Observe(now.Sub(r.e.FiredTime).Seconds())
	started := acc.Status.StartedAt
	if started == nil {
		started = &now
	}
	t := store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning, Owner: r.c.opts.InstanceID,
		EngineExecutionID: acc.EngineExecutionID, StartedTime: started,
	}
	if acc.Status.Terminal() {
		t = finish(t, acc.Status, now)
	}
	delay := r.c.opts.RetryMin
	for {
		row, err := r.c.store.TransitionExecution(ctx, r.e.ID, t)
		switch {
		case err == nil:
			r.e = *row
			level.Info(r.logger).Log("msg", "execution_dispatched", "engine_execution_id", acc.EngineExecutionID,
				"latency_ms", now.Sub(r.e.FiredTime).Milliseconds())
			if t.To.Terminal() {
				r.finished()
				return false
			}
			return true
		case errors.Is(err, store.ErrStale):
			r.lostRow(ctx, acc.EngineExecutionID)
			return false
		}
		// The engine runs the execution while its row still says PENDING:
		// keep trying, and if the run must stop, the next owner dispatches
		// again with the same idempotency key and records what the engine
		// answers.
		level.Warn(r.logger).Log("msg", "dispatch not recorded; retrying", "err", err)
		if !sleep(ctx, delay) {
			return false
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
}

// lostRow handles a row that changed under the run after the engine accepted
// the execution. If the row ended without the engine's run (cancelled, or
// ended by another replica while this one was stalled), that run is
// cancelled too; if another replica adopted the row, it carries on.
func (r *run) lostRow(ctx context.Context, engineID string) {
	row, err := r.c.store.GetExecution(ctx, r.e.ID)
	if err != nil {
		level.Warn(r.logger).Log("msg", "execution changed under its run and could not be read", "err", err)
		return
	}
	if !row.Status.Terminal() {
		return
	}
	if row.EngineExecutionID != engineID {
		r.e = *row
		r.cancelOrphan(ctx, engineID)
	}
	r.unlock()
}

// cancelOrphan cancels in the engine a run that the execution's row does not
// name, retrying while the engine cannot be reached, for a while.
func (r *run) cancelOrphan(ctx context.Context, engineID string) {
	delay := r.c.opts.RetryMin
	for range maxOrphanCancels {
		err := r.c.engine.Cancel(ctx, engineID, "the execution ended as "+string(r.e.Status)+" before the engine's answer was recorded")
		if err == nil || errors.Is(err, engine.ErrRejected) {
			return
		}
		if !sleep(ctx, delay) {
			break
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
	level.Error(r.logger).Log("msg", "engine run of an ended execution not cancelled", "engine_execution_id", engineID)
}

// maxOrphanCancels bounds the attempts to cancel an orphaned engine run.
const maxOrphanCancels = 5

// follow reads the running execution's status, with backoff, until it ends
// or its timeout passes.
func (r *run) follow(ctx context.Context) {
	started := r.e.FiredTime
	if r.e.StartedTime != nil {
		started = *r.e.StartedTime
	}
	deadline := started.Add(r.dep.timeout)
	delay := r.c.opts.PollMin
	for {
		if !sleep(ctx, min(delay, time.Until(deadline))) {
			return
		}
		if !time.Now().Before(deadline) {
			r.timeOut(ctx)
			return
		}
		st, err := r.status(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			level.Warn(r.logger).Log("msg", "execution status not read", "err", err)
		case !st.Found:
			r.end(ctx, workflow.ExecutionFailed, "the engine does not know execution "+r.e.EngineExecutionID, nil)
			return
		case st.Terminal():
			r.end(ctx, st.State, "", &st)
			return
		}
		delay = backoff(delay, r.c.opts.PollMax)
	}
}

// status reads the execution's status within the bound on concurrent reads.
func (r *run) status(ctx context.Context) (engine.Status, error) {
	select {
	case r.c.polls <- struct{}{}:
	case <-ctx.Done():
		return engine.Status{}, ctx.Err()
	}
	defer func() { <-r.c.polls }()
	return r.c.engine.Status(ctx, r.e.EngineExecutionID)
}

// timeOut cancels the execution in the engine and records TIMED_OUT, unless
// the engine, declining, reports that it ended in time after all.
func (r *run) timeOut(ctx context.Context) {
	reason := fmt.Sprintf("execution timeout of %v exceeded", r.dep.timeout)
	err := r.c.engine.Cancel(ctx, r.e.EngineExecutionID, reason)
	if errors.Is(err, engine.ErrRejected) {
		if st, serr := r.c.engine.Status(ctx, r.e.EngineExecutionID); serr == nil && st.Terminal() {
			r.end(ctx, st.State, "", &st)
			return
		}
	}
	if err != nil {
		level.Warn(r.logger).Log("msg", "timed-out execution not cancelled in the engine", "err", err)
	}
	r.end(ctx, workflow.ExecutionTimedOut, reason, nil)
}

// skip records SKIPPED: the overlap policy kept the execution from running.
func (r *run) skip(ctx context.Context, reason string) {
	now := time.Now().UTC()
	r.write(ctx, store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionSkipped,
		Owner: r.c.opts.InstanceID, FinishedTime: &now, SkipReason: reason,
	})
}

// end records the execution's terminal status: from st when the engine
// reported it, else with message as its error.
func (r *run) end(ctx context.Context, to workflow.ExecutionStatus, message string, st *engine.Status) {
	now := time.Now().UTC()
	t := store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending, workflow.ExecutionRunning}, To: to,
		Owner: r.c.opts.InstanceID, FinishedTime: &now, ErrorMessage: message,
	}
	if st != nil {
		t = finish(t, *st, now)
	}
	r.write(ctx, t)
}

// finish fills t in with the engine's account of an execution's end.
func finish(t store.Transition, st engine.Status, now time.Time) store.Transition {
	t.To = st.State
	t.FinishedTime = st.FinishedAt
	if t.FinishedTime == nil {
		t.FinishedTime = &now
	}
	t.ErrorMessage = st.Error
	if st.State == workflow.ExecutionCancelled {
		// The same words whichever replica records a cancellation first:
		// the one that asked for it, or the owner that saw it in the engine.
		t.ErrorMessage = "cancelled: " + cmp.Or(st.Error, "in the engine")
	}
	t.Result = st.Result
	return t
}

// write applies a terminal transition, retrying while the database cannot
// answer; if the run stops first, the next owner of the execution decides again.
func (r *run) write(ctx context.Context, t store.Transition) {
	delay := r.c.opts.RetryMin
	for {
		row, err := r.c.store.TransitionExecution(ctx, r.e.ID, t)
		switch {
		case err == nil:
			r.e = *row
			r.finished()
			return
		case errors.Is(err, store.ErrStale):
			// Cancelled, or adopted by another replica: theirs to record.
			if row, err := r.c.store.GetExecution(ctx, r.e.ID); err == nil && row.Status.Terminal() {
				r.unlock()
			}
			return
		case ctx.Err() != nil:
			return
		}
		level.Warn(r.logger).Log("msg", "execution end not recorded; retrying", "status", t.To, "err", err)
		if !sleep(ctx, delay) {
			return
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
}

// finished logs and counts the run's recorded end and frees the workflow.
func (r *run) finished() {
	r.c.opts.Metrics.Finished.With("status", string(r.e.Status)).Add(1)
	level.Info(r.logger).Log("msg", "execution_finished", "status", r.e.Status, "error", r.e.ErrorMessage, "skip_reason", r.e.SkipReason)
	if r.e.Status != workflow.ExecutionSkipped {
		r.unlock()
	}
}

// unlock releases the workflow lock the execution holds, if any: through the
// run's watchdog when it has one, else by the execution's id (a run that
// did not read the deployment cannot tell whether its policy locks).
func (r *run) unlock() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var err error
	switch {
	case r.release != nil:
		// Not ours any more when CANCEL_OTHER or a cancellation freed it first.
		if err = r.release(ctx); errors.Is(err, lock.ErrNotHolder) {
			err = nil
		}
		r.release = nil
	case r.c.redisUsable() && (r.dep == nil || r.usesLock()):
		err = r.c.locks.ReleaseLock(ctx, r.c.locks.HeldBy(r.e.WorkflowID, r.e.ID))
		if errors.Is(err, lock.ErrNotHolder) {
			err = nil
		}
	}
	if err != nil {
		level.Warn(r.logger).Log("msg", "workflow lock not released", "err", err)
	}
}
