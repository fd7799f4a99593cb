package coordination

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"go.opentelemetry.io/otel/trace"

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
	// late is set when the engine took the execution on after its
	// dispatch deadline: following it cancels it at once.
	late bool
	// adopted is set for a run of an execution another replica owned.
	adopted bool
	// unrecorded is the PENDING to RUNNING transition that the engine's
	// acceptance calls for while it is not yet written: an execution that
	// ends by its first status check is written once, at its end, and
	// only one still running then is written RUNNING (see recordStart).
	unrecorded *store.Transition
	// admitted gets the run's first admission; nil for none to tell.
	admitted chan Admission
	// placed is set while the run holds a place of the dispatch pool.
	placed bool
}

// place waits for a place of the dispatch pool, unless the run holds one,
// and reports false when ctx ended first.
func (r *run) place(ctx context.Context) bool {
	if !r.placed {
		r.placed = r.c.pool.take(ctx)
	}
	return r.placed
}

// unplace gives the run's place of the dispatch pool up, if it holds one:
// before it waits, and once the engine took the execution.
func (r *run) unplace() {
	if r.placed {
		r.placed = false
		r.c.pool.give(1)
	}
}

// admit tells a, if it is the run's first admission: the one a trigger
// answers with.
func (r *run) admit(a Admission) {
	select {
	case r.admitted <- a:
	default:
	}
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
	r.maybeSent = r.adopted && r.e.Status == workflow.ExecutionPending && (r.e.HoldsTurn || r.e.HoldsSlot || !r.usesLock() && !r.usesSlot())
	switch r.e.Status {
	case workflow.ExecutionPending:
		if !r.waitDue(ctx) || !r.dispatch(ctx) {
			return
		}
		r.unplace()
	case workflow.ExecutionRunning:
		r.unplace()
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
		dep, err := r.c.deployments.of(ctx, r.e)
		switch {
		case err == nil:
			r.dep = forRun(dep, r.e)
			return true
		case ctx.Err() != nil:
			return false
		case errors.Is(err, store.ErrNotFound):
			r.end(ctx, workflow.ExecutionFailed, "deployment "+r.e.DeploymentID+" not found", nil)
			return false
		}
		// Not given up at a timeout: without its deployment the run can
		// tell neither whether the execution may be in the engine nor when
		// to stop it there.
		level.Warn(r.logger).Log("msg", "deployment not read; retrying", "err", err)
		if !sleep(ctx, delay) {
			return false
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
}

// waitDue holds a retry until it is due, and reports whether it is still
// the run's to dispatch then. The row stays PENDING meanwhile, leased like
// any other: if this replica dies, the one that adopts it waits out the
// rest. The clock is read again at least every PollMax, so that a clock
// moved by hand is seen.
func (r *run) waitDue(ctx context.Context) bool {
	waited := false
	for {
		left := r.e.Due().Sub(r.c.opts.Now())
		if left <= 0 {
			break
		}
		waited = true
		r.unplace()
		r.c.signals.signal(r.c.signals.due, r.e.ID)
		if !sleep(ctx, min(left, r.c.opts.PollMax)) {
			return false
		}
	}
	// Cancelled or adopted while it waited: no longer the run's. A store
	// that cannot tell does not stop it, as in dispatch.
	return !waited || !errors.Is(r.owns(ctx, workflow.ExecutionPending), errNotOwned)
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
//
// An execution that cannot start within its timeout (the engine down all
// along, or a buffered run that waited that long) will not start. One that
// may have reached the engine is not given up, though: the engine may run it
// whatever its row says, so the run keeps dispatching it, with the same
// idempotency key, until the engine answers with its run, and then cancels
// that run for the timeout (follow). The row stays PENDING and keeps the
// workflow's turn and lock meanwhile, so that no other execution of the
// workflow starts beside it.
func (r *run) dispatch(ctx context.Context) bool {
	deadline := r.e.Due().Add(r.dep.timeout)
	if r.usesLock() && !r.claim(ctx, deadline) {
		return false
	}
	if r.usesSlot() && !r.claimSlot(ctx, deadline) {
		return false
	}
	if !r.place(ctx) {
		return false
	}
	r.admit(AdmissionStarted)
	req := executeRequest(r.e, r.dep)
	delay := r.c.opts.RetryMin
	for attempt := 0; ; attempt++ {
		if !r.maybeSent && !r.c.opts.Now().Before(deadline) {
			r.end(ctx, workflow.ExecutionTimedOut, fmt.Sprintf("not accepted by the engine within the execution timeout of %v", r.dep.timeout), nil)
			return false
		}
		// A run that waited is no longer sure the execution is still its
		// own to dispatch: it may have been cancelled or adopted meanwhile.
		// A store that cannot tell does not stop it: the dispatch is
		// idempotent, and the lease renewal will tell.
		if attempt > 0 {
			if err := r.owns(ctx, workflow.ExecutionPending); errors.Is(err, errNotOwned) || ctx.Err() != nil {
				r.lostUnanswered(ctx, req)
				return false
			}
		}
		done, started := r.execute(ctx, req)
		if done {
			return started
		}
		// Not only the replica's stop ends ctx: so does a lease renewal
		// that finds the row ended elsewhere, which may leave an orphan.
		if !sleep(ctx, delay) {
			r.lostUnanswered(ctx, req)
			return false
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
}

// executeRequest is what the engine is sent for e, of deployment version
// dep: the same whoever sends it, so that the engine sees one execution.
func executeRequest(e workflow.Execution, dep *deploymentInfo) engine.ExecuteRequest {
	req := engine.ExecuteRequest{
		ExecutionID: e.ID, WorkflowID: e.WorkflowID, DeploymentID: e.DeploymentID,
		DeploymentVersion: e.DeploymentVersion, TriggerID: e.TriggerID, TriggerType: e.TriggerType,
		ScheduledTime: e.ScheduledTime, TriggeredBy: e.TriggeredBy,
		TraceID: e.TraceID, TraceParent: tracing.Parent(e.TraceID), Input: e.Input, DefinitionJSON: dep.definition,
	}
	if e.TriggerType == workflow.TriggerWebhook {
		// The path the webhook came in by, recorded when it did.
		req.WebhookPath = strings.TrimPrefix(e.TriggeredBy, webhookActor)
	}
	return req
}

// webhookActor prefixes the triggered_by of webhook executions, which the
// webhook service records as "webhook:<path>" (API.md §3).
const webhookActor = "webhook:"

// errNotOwned says that the execution is no longer the run's: another
// replica adopted it, or it ended.
var errNotOwned = errors.New("execution is no longer this run's")

// owns checks, before the run calls the engine for the execution, that the
// execution is still in status st and this replica's. It asks with a
// compare-and-set that changes nothing, because that waits for a writer
// holding the row (a cancel or an adoption under way) and then sees its
// outcome, where a lease renewal skips such a row and would answer "still
// mine". On errNotOwned the run has stepped aside: it gave the workflow
// lock up if the execution ended, and left it to the adopter otherwise. Any
// other error means the store could not tell.
func (r *run) owns(ctx context.Context, st workflow.ExecutionStatus) error {
	_, err := r.c.store.TransitionExecution(ctx, r.e.ID, store.Transition{
		From: []workflow.ExecutionStatus{st}, To: st, Owner: r.c.opts.InstanceID,
	})
	if !errors.Is(err, store.ErrStale) {
		return err
	}
	if row, err := r.c.store.GetExecution(ctx, r.e.ID); err == nil && row.Status.Terminal() {
		r.unlock()
	}
	return errNotOwned
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
	r.c.pool.observe(err)
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
	r.c.signals.signal(r.c.signals.dispatchFailed, r.e.ID)
	return false, false
}

// accepted takes note that the engine took the execution on. An end the
// engine already reports is recorded at once; RUNNING is recorded at the
// first status check that does not find the execution ended (recordStart),
// so that a short execution costs one write after its insert instead of two.
// Until then the row stays PENDING, owned and leased by this replica: a
// replica that adopts it meanwhile, or a cancellation, sends the dispatch
// again with the same idempotency key and learns this engine run, as for a
// dispatch whose answer was lost.
func (r *run) accepted(ctx context.Context, acc engine.Accepted) bool {
	now := r.c.opts.Now().UTC()
	r.c.opts.Metrics.DispatchLatency.Observe(now.Sub(r.e.Due()).Seconds())
	r.late = !now.Before(r.e.Due().Add(r.dep.timeout))
	started := acc.Status.StartedAt
	if started == nil {
		started = &now
	}
	t := store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning, Owner: r.c.opts.InstanceID,
		EngineExecutionID: acc.EngineExecutionID, StartedTime: started,
	}
	level.Info(r.logger).Log("msg", "execution_dispatched", "engine_execution_id", acc.EngineExecutionID,
		"latency_ms", now.Sub(r.e.Due()).Milliseconds())
	r.e.EngineExecutionID, r.e.StartedTime = acc.EngineExecutionID, started
	r.unrecorded = &t
	if acc.Status.Terminal() {
		// Ended by the time the engine answered (a short run on a loaded
		// host, or one found by its idempotency key): written as any end
		// is, with the retry its policy calls for and its count towards
		// pause_after_failures.
		r.end(ctx, acc.Status.State, "", &acc.Status)
		return false
	}
	return true
}

// recordStart writes the RUNNING that accepted put off, if it has not been
// written, and reports whether the execution is still the run's to follow.
func (r *run) recordStart(ctx context.Context) bool {
	if r.unrecorded == nil {
		return true
	}
	t := *r.unrecorded
	r.unrecorded = nil
	return r.record(ctx, t)
}

// record writes t, the engine's acceptance of the execution as RUNNING, and
// reports whether the execution is now RUNNING and the run's to follow.
func (r *run) record(ctx context.Context, t store.Transition) bool {
	delay := r.c.opts.RetryMin
	for {
		row, err := r.c.store.TransitionExecution(ctx, r.e.ID, t)
		switch {
		case err == nil:
			r.e = *row
			return true
		case errors.Is(err, store.ErrStale):
			r.lostRow(ctx, t.EngineExecutionID)
			return false
		}
		// The engine runs the execution while its row still says PENDING:
		// keep trying, and if the run must stop, the next owner dispatches
		// again with the same idempotency key and records what the engine
		// answers. No owner comes for a row that ended, which a lease
		// renewal that stopped the run may have found: that is lostRow's.
		if ctx.Err() == nil {
			level.Warn(r.logger).Log("msg", "dispatch not recorded; retrying", "err", err)
		}
		if !sleep(ctx, delay) {
			r.lostRow(ctx, t.EngineExecutionID)
			return false
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
}

// lostRow handles a row that changed under the run after the engine accepted
// the execution. If the row ended without naming the engine's run (as a
// replica of an earlier version ended it, cancelling a PENDING execution
// without asking the engine), that run is cancelled too, by this replica
// if the row still names it the owner; if another replica adopted the row,
// that one carries on. As in lostUnanswered, a lease renewal that found the
// row ended may have stopped the run already: this works on a context of
// its own, or the orphan would be left running.
func (r *run) lostRow(ctx context.Context, engineID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dispatchTimeout)
	defer cancel()
	row, ok := r.endedElsewhere(ctx)
	if !ok {
		return
	}
	if row.EngineExecutionID != engineID && row.OwnerInstance == r.c.opts.InstanceID {
		r.e = *row
		r.cancelOrphan(ctx, engineID)
	}
	r.unlock()
}

// lostUnanswered is lostRow for a dispatch whose answer did not come back
// (maybeSent) when the row changed under the run: the engine may run the
// execution all the same, and nobody else will stop it if the row ended
// without naming an engine run. Its run is found as a cancellation finds it
// (stopInEngine), by dispatching req again with the same idempotency key;
// one that never arrived is started by that and cancelled at once.
//
// The run's context may have ended by then: a lease renewal that finds the
// row ended stops the run, as the replica's stop does (which leaves the row
// to an adopter, not ended). So this works on a context of its own, bounded
// as a dispatch in flight is.
func (r *run) lostUnanswered(ctx context.Context, req engine.ExecuteRequest) {
	if !r.maybeSent {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dispatchTimeout)
	defer cancel()
	row, ok := r.endedElsewhere(ctx)
	if !ok || row.EngineExecutionID != "" || row.OwnerInstance != r.c.opts.InstanceID {
		return
	}
	r.e = *row
	delay := r.c.opts.RetryMin
	for range maxOrphanCancels {
		acc, err := r.c.engine.Execute(ctx, req)
		switch {
		case errors.Is(err, engine.ErrRejected):
			// The engine refuses to run it: there is nothing to stop.
			return
		case err == nil && acc.Status.Terminal():
			return
		case err == nil:
			r.cancelOrphan(ctx, acc.EngineExecutionID)
			return
		}
		if !sleep(ctx, delay) {
			break
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
	level.Error(r.logger).Log("msg", "the engine's run of an ended execution not found, so not cancelled")
}

// endedElsewhere reads the row that changed under the run and returns it
// when it has ended; an adopted row is the adopter's to carry on.
func (r *run) endedElsewhere(ctx context.Context) (*workflow.Execution, bool) {
	row, err := r.c.store.GetExecution(ctx, r.e.ID)
	if err != nil {
		level.Warn(r.logger).Log("msg", "execution changed under its run and could not be read", "err", err)
		return nil, false
	}
	return row, row.Status.Terminal()
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
	started := r.e.Due()
	if r.e.StartedTime != nil {
		started = *r.e.StartedTime
	}
	deadline := started.Add(r.dep.timeout)
	if r.late {
		deadline = r.c.opts.Now()
	}
	delay := r.c.opts.PollMin
	for {
		if !sleep(ctx, min(delay, deadline.Sub(r.c.opts.Now()))) {
			r.stopping(ctx)
			return
		}
		if !r.c.opts.Now().Before(deadline) {
			if r.recordStart(ctx) {
				r.timeOut(ctx)
			}
			return
		}
		st, err := r.status(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				r.stopping(ctx)
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
		if !r.recordStart(ctx) {
			return
		}
		delay = backoff(delay, r.c.opts.PollMax)
	}
}

// stopping records, as the replica stops, the RUNNING that accepted put off,
// on a context of its own as a dispatch in flight is: the row then says what
// the engine does, and the replica that adopts it follows the engine run
// instead of sending the dispatch again.
func (r *run) stopping(ctx context.Context) {
	if r.unrecorded == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dispatchTimeout)
	defer cancel()
	r.recordStart(rctx)
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
// the engine, declining, reports that it ended in time after all. It asks
// the engine again while the engine cannot be reached, keeping the row
// RUNNING (and the workflow's turn and lock) until the engine has answered,
// and only while the execution is still this replica's.
func (r *run) timeOut(ctx context.Context) {
	reason := fmt.Sprintf("execution timeout of %v exceeded", r.dep.timeout)
	if r.late {
		reason = fmt.Sprintf("not accepted by the engine within the execution timeout of %v", r.dep.timeout)
	}
	delay := r.c.opts.RetryMin
	for {
		err := r.owns(ctx, workflow.ExecutionRunning)
		if err == nil {
			err = r.c.engine.Cancel(ctx, r.e.EngineExecutionID, reason)
			switch {
			case err == nil:
				r.end(ctx, workflow.ExecutionTimedOut, reason, nil)
				return
			case errors.Is(err, engine.ErrRejected):
				r.declined(ctx, reason, err)
				return
			}
		}
		if errors.Is(err, errNotOwned) || ctx.Err() != nil {
			return
		}
		level.Warn(r.logger).Log("msg", "timed-out execution not cancelled in the engine yet; retrying", "err", err)
		if !sleep(ctx, delay) {
			return
		}
		delay = backoff(delay, r.c.opts.RetryMax)
	}
}

// declined records the end of a timed-out execution whose cancellation the
// engine declined: the end the engine reports, or TIMED_OUT if it reports
// none, since the engine will not stop it either way.
func (r *run) declined(ctx context.Context, reason string, cause error) {
	st, err := r.c.engine.Status(ctx, r.e.EngineExecutionID)
	if err == nil && st.Terminal() {
		r.end(ctx, st.State, "", &st)
		return
	}
	level.Error(r.logger).Log("msg", "the engine declined to cancel a timed-out execution", "err", cause)
	r.end(ctx, workflow.ExecutionTimedOut, reason, nil)
}

// skip records SKIPPED: the overlap policy kept the execution from running.
func (r *run) skip(ctx context.Context, reason string) {
	now := r.c.opts.Now().UTC()
	r.write(ctx, store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionSkipped,
		Owner: r.c.opts.InstanceID, FinishedTime: &now, SkipReason: reason,
	})
}

// end records the execution's terminal status: from st when the engine
// reported it, else with message as its error.
func (r *run) end(ctx context.Context, to workflow.ExecutionStatus, message string, st *engine.Status) {
	now := r.c.opts.Now().UTC()
	t := store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending, workflow.ExecutionRunning}, To: to,
		Owner: r.c.opts.InstanceID, FinishedTime: &now, ErrorMessage: message,
	}
	if st != nil {
		t = finish(t, *st, now)
	}
	if u := r.unrecorded; u != nil {
		// Ended by its first status check: the engine's acceptance is
		// written with the end, in its one write.
		t.EngineExecutionID, t.StartedTime = u.EngineExecutionID, u.StartedTime
		r.unrecorded = nil
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
		row, next, err := r.transition(ctx, t)
		switch {
		case err == nil:
			r.e = *row
			r.finished()
			if next != nil {
				r.retry(*next)
			} else {
				r.countEnd(ctx)
			}
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

// transition applies t, and writes the next attempt with it when the
// deployment's retry policy says that this end retries: in one
// transaction, so that a failure is never recorded without its retry.
func (r *run) transition(ctx context.Context, t store.Transition) (ended, next *workflow.Execution, err error) {
	if r.dep == nil || !r.dep.retry.Retries(r.e.Attempt, t.To) {
		ended, err = r.c.store.TransitionExecution(ctx, r.e.ID, t)
		return ended, nil, err
	}
	now := r.c.opts.Now().UTC()
	return r.c.store.RetryExecution(ctx, r.e.ID, t, now, now.Add(r.dep.retry.Interval(r.e.Attempt)), r.c.opts.Lease)
}

// retry runs next, the attempt written with this one's end, on this replica.
func (r *run) retry(next workflow.Execution) {
	level.Info(r.logger).Log("msg", "execution_retry_scheduled", "retry_execution_id", next.ID, "attempt", next.Attempt,
		"not_before", next.NotBefore)
	r.c.start(next, false, trace.SpanContext{}, false)
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
