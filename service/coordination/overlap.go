package coordination

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Overlaps are decided by decideOverlap, a pure function of what the run
// knows of its workflow, fed by a run that gathers that knowledge (decide).
// Taking the workflow has two steps. The seed's per-workflow Redis lock,
// whose value names the execution that holds it, comes first: it answers
// "busy" without a database write, which is what most SKIP decisions are.
// The workflow's turn in PostgreSQL (store.TakeTurn) then decides: it holds
// across replicas that disagree on whether Redis is up, and while Redis is
// down it is the whole decision (ARCHITECTURE "Redis down").

// overlap is what a run knows of its workflow when it decides: all that
// decideOverlap reads.
type overlap struct {
	policy string
	// holdsTurn is set when the execution holds its workflow's turn
	// already: it was adopted with it.
	holdsTurn bool
	// buffered is, when waitsBehindBuffer, an execution of the workflow
	// fired before this one that waits for its turn; "" when none does.
	buffered string
	// tried is set once the run has tried to take the workflow. holder is
	// then the execution that holds it, "" when the run took it, and
	// holderOver tells whether that execution is over: its lock or turn
	// outlived it.
	tried      bool
	holder     string
	holderOver bool
	// ahead counts, under BUFFER_ALL, the executions of the workflow fired
	// before this one that wait for their turn; queued those of them that
	// are buffered: all but the first when the turn is free, which it is
	// about to take. maxBuffered is how many may be buffered.
	ahead, queued, maxBuffered int
}

// waitsBehindBuffer reports whether the execution would queue behind one
// already buffered: under BUFFER_ONE, unless it holds the turn.
func (o overlap) waitsBehindBuffer() bool {
	return o.policy == workflow.OverlapBufferOne && !o.holdsTurn
}

// step is what decideOverlap tells a run to do next.
type step int

const (
	stepTake    step = iota // try to take the workflow: its lock, then its turn
	stepStart               // run: the workflow is the run's, or ALLOW_ALL needs it not
	stepSkip                // end SKIPPED, for the decision's reason
	stepWait                // BUFFER_ONE: wait for the holder to end, then decide again
	stepFree                // release what the holder outlived, then decide again
	stepReplace             // CANCEL_OTHER: cancel the holder, then decide again
)

// decision is decideOverlap's answer: a step, and a SKIPPED execution's reason.
type decision struct {
	step   step
	reason string
}

// decideOverlap applies the overlap policy to what the run knows: it reads
// no clock and calls nothing, so that a table states the policies whole.
func decideOverlap(o overlap) decision {
	switch {
	case o.policy == workflow.OverlapAllowAll:
		return decision{step: stepStart}
	case o.policy == workflow.OverlapBufferAll && !o.holdsTurn && o.queued >= o.maxBuffered:
		return decision{step: stepSkip, reason: bufferFull(o.queued)}
	case o.policy == workflow.OverlapBufferAll && !o.holdsTurn && o.ahead > 0:
		// Those fired before go first.
		return decision{step: stepWait}
	case o.waitsBehindBuffer() && o.buffered != "":
		// The one buffered goes first: a newcomer does not overtake it.
		return decision{step: stepSkip, reason: "execution " + o.buffered + " is already buffered"}
	case !o.tried:
		return decision{step: stepTake}
	case o.holder == "":
		return decision{step: stepStart}
	case o.holderOver:
		return decision{step: stepFree}
	case o.policy == workflow.OverlapBufferOne, o.policy == workflow.OverlapBufferAll:
		return decision{step: stepWait}
	case o.policy == workflow.OverlapCancelOther:
		return decision{step: stepReplace}
	}
	return decision{step: stepSkip, reason: "workflow is running execution " + o.holder}
}

// bufferFull is the skip reason of a run that finds max_buffered runs
// waiting before it.
func bufferFull(queued int) string {
	return fmt.Sprintf("%d executions are already buffered, as many as max_buffered allows", queued)
}

// outcome is what one attempt at the run's turn came to.
type outcome int

const (
	outcomeStart outcome = iota // the run may start
	outcomeSkip                 // the run is SKIPPED for reason
	outcomeWait                 // BUFFER_ONE: wait for the running one
	outcomeAgain                // the state changed: decide again now
	outcomeRetry                // a dependency failed: decide again later
	outcomeStop                 // the row is no longer this run's: step aside
)

type verdict struct {
	outcome outcome
	reason  string
	err     error
}

// claim waits for the run's turn under the overlap policy. It reports false
// when the run ended instead: skipped, timed out, or stopped.
func (r *run) claim(ctx context.Context, deadline time.Time) bool {
	delay := r.c.opts.RetryMin
	for {
		// A row that holds its turn already (an adopted one) takes it back at once.
		if !r.e.HoldsTurn && !r.c.opts.Now().Before(deadline) {
			r.end(ctx, workflow.ExecutionTimedOut, fmt.Sprintf("did not start within the execution timeout of %v", r.dep.timeout), nil)
			return false
		}
		v := r.decide(ctx)
		switch v.outcome {
		case outcomeStart:
			return true
		case outcomeSkip:
			r.admit(AdmissionSkipped)
			r.skip(ctx, v.reason)
			return false
		case outcomeStop:
			return false
		case outcomeAgain:
			delay = r.c.opts.RetryMin
		case outcomeWait:
			r.admit(AdmissionWaiting)
			r.unplace()
			r.c.signals.signal(r.c.signals.waiting, r.e.ID)
			if !sleep(ctx, r.c.opts.BufferRetry) {
				return false
			}
		case outcomeRetry:
			if ctx.Err() != nil {
				return false
			}
			level.Warn(r.logger).Log("msg", "overlap not decided; retrying", "err", v.err)
			if !sleep(ctx, delay) {
				return false
			}
			delay = backoff(delay, r.c.opts.RetryMax)
		}
	}
}

// decide makes one attempt at the run's turn: it learns what decideOverlap
// asks for, and carries out the steps it answers.
func (r *run) decide(ctx context.Context) verdict {
	o := overlap{policy: r.dep.policy, holdsTurn: r.e.HoldsTurn, maxBuffered: r.dep.maxBuffered}
	if o.waitsBehindBuffer() || (o.policy == workflow.OverlapBufferAll && !o.holdsTurn) {
		w, err := r.waitingBefore(ctx)
		if err != nil {
			return verdict{outcome: outcomeRetry, err: err}
		}
		o.ahead, o.queued = len(w.ids), w.buffered(1-w.turns)
		if len(w.ids) > 0 {
			o.buffered = w.ids[0]
		}
	}
	if r.e.OverlapPolicy != "" && o.policy != workflow.OverlapAllowAll && !o.holdsTurn {
		// An override's run may find runs of the workflow that took no
		// turn: ALLOW_ALL ones, the deployment's or another override's.
		// The turn would not name them, so they are looked for first, and
		// one found stands for the holder.
		beside, err := r.runningBeside(ctx)
		if err != nil {
			return verdict{outcome: outcomeRetry, err: err}
		}
		if beside != "" {
			o.tried, o.holder = true, beside
			o.holderOver = r.leaked(ctx, beside)
		}
	}
	for {
		d := decideOverlap(o)
		switch d.step {
		case stepTake:
			holder, v := r.take(ctx)
			if v != nil {
				return *v
			}
			o.tried, o.holder = true, holder
			o.holderOver = holder != "" && r.leaked(ctx, holder)
		case stepStart:
			return verdict{outcome: outcomeStart}
		case stepSkip:
			return verdict{outcome: outcomeSkip, reason: d.reason}
		case stepWait:
			return verdict{outcome: outcomeWait}
		case stepFree:
			r.dropLock(r.heldBy(o.holder))
			level.Warn(r.logger).Log("msg", "the execution holding the workflow is over: its lock is released", "holder", o.holder)
			return verdict{outcome: outcomeAgain}
		case stepReplace:
			if err := r.replace(ctx, o.holder); err != nil {
				return verdict{outcome: outcomeRetry, err: err}
			}
			// The cancelled execution's lock goes with it; its run's own
			// release then finds the lock gone, which is harmless.
			r.dropLock(r.heldBy(o.holder))
			return verdict{outcome: outcomeAgain}
		}
	}
}

// take tries to take the workflow: its Redis lock, then its turn. It
// returns the execution that holds the workflow, "" when the run took it,
// or the verdict of an attempt that could not tell.
func (r *run) take(ctx context.Context) (string, *verdict) {
	sent := r.c.opts.Now()
	l, holder, err := r.lockFirst(ctx)
	if err != nil {
		return "", &verdict{outcome: outcomeRetry, err: err}
	}
	if holder != "" {
		return holder, nil
	}
	holder, err = r.c.store.TakeTurn(ctx, r.e.ID, r.c.opts.InstanceID)
	switch {
	case err == nil && holder == "":
		r.e.HoldsTurn = true
		if l != nil {
			r.keep(ctx, l, sent)
		}
		return "", nil
	case err == nil:
		// The database knows a holder that the Redis lock did not name:
		// one started while this replica or another found Redis down.
		r.dropLock(l)
		return holder, nil
	}
	r.dropLock(l)
	switch {
	case errors.Is(err, store.ErrStale):
		return "", &verdict{outcome: outcomeStop}
	case errors.Is(err, store.ErrConcurrentChange):
		return "", &verdict{outcome: outcomeAgain}
	}
	return "", &verdict{outcome: outcomeRetry, err: err}
}

// lockFirst tries the workflow's Redis lock. It returns the lock when the run
// took it, the holder when another execution has it, and neither when Redis
// cannot say, so that the turn in the database decides alone.
func (r *run) lockFirst(ctx context.Context) (*lock.Lock, string, error) {
	if !r.c.redisUsable() {
		return nil, "", nil
	}
	locks, wf := r.c.locks, r.e.WorkflowID
	l, err := locks.AcquireLockFor(ctx, wf, r.e.ID, r.lockTTL())
	switch {
	case err == nil:
		r.c.opts.Metrics.Locks.With("outcome", "acquired").Add(1)
		return l, "", nil
	case errors.Is(err, lock.ErrUnavailable):
		r.c.opts.Metrics.Locks.With("outcome", "unavailable").Add(1)
		r.c.redisFailed(err)
		return nil, "", nil
	case !errors.Is(err, lock.ErrLockHeld):
		return nil, "", err
	}
	holder, err := locks.Holder(ctx, wf)
	switch {
	case errors.Is(err, lock.ErrUnavailable):
		r.c.redisFailed(err)
		return nil, "", nil
	case err != nil:
		return nil, "", err
	case holder == "":
		// Freed meanwhile: the database decides.
		return nil, "", nil
	case holder == r.e.ID:
		// An earlier owner of this execution took the lock before it died.
		l = locks.HeldBy(wf, holder)
		if err := locks.ExtendLock(ctx, l, r.lockTTL()); err != nil {
			if errors.Is(err, lock.ErrUnavailable) {
				r.c.redisFailed(err)
			}
			return nil, "", nil
		}
		return l, "", nil
	}
	r.c.opts.Metrics.Locks.With("outcome", "held").Add(1)
	return nil, holder, nil
}

// heldBy is the Redis lock that execution id has on the run's workflow, or
// nil without Redis.
func (r *run) heldBy(id string) *lock.Lock {
	if r.c.locks == nil {
		return nil
	}
	return r.c.locks.HeldBy(r.e.WorkflowID, id)
}

// dropLock releases l, if any, unless Redis is known to be down; a lock that
// is no longer l's holder's is left alone.
func (r *run) dropLock(l *lock.Lock) {
	if l == nil || !r.c.redisUsable() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := r.c.locks.ReleaseLock(ctx, l); err != nil && !errors.Is(err, lock.ErrNotHolder) {
		level.Warn(r.logger).Log("msg", "workflow lock not released", "holder", l.Token, "err", err)
	}
}

// leaked reports whether holder, the execution that holds the workflow, is
// over: its row is terminal or unknown (a lock that outlived its execution),
// or its owner is gone (its lease ran out) and the engine reports its end,
// which is then recorded here rather than after the adoption that would
// follow.
func (r *run) leaked(ctx context.Context, holder string) bool {
	e, err := r.c.store.GetExecution(ctx, holder)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return true
	case err != nil:
		return false
	case e.Status.Terminal():
		return true
	case e.Status != workflow.ExecutionRunning:
		return false
	}
	// The lease runs on the database's clock: only the database can tell
	// whether it ran out.
	if expired, err := r.c.store.LeaseExpired(ctx, holder); err != nil || !expired {
		return false
	}
	st, err := r.c.engine.Status(ctx, e.EngineExecutionID)
	if err != nil || !st.Found || !st.Terminal() {
		return false
	}
	t := finish(store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionRunning}, Owner: e.OwnerInstance}, st, r.c.opts.Now().UTC())
	hr := r.c.newRun(*e)
	if hr.dep, err = r.c.deployments.get(ctx, e.DeploymentID, e.DeploymentVersion); err != nil {
		return false
	}
	// Its retry, if it has one, is written for the dead owner, whose lease
	// on it runs out: it is adopted as the owner's other rows are.
	row, _, err := hr.transition(ctx, t)
	switch {
	case err == nil:
		hr.e = *row
		hr.finished()
		return true
	case errors.Is(err, store.ErrStale):
		// Recorded or adopted meanwhile: over in the engine either way.
		return true
	}
	return false
}

// waiting is what a run knows of the executions of its workflow that wait
// before it.
type waiting struct {
	// ids are the executions fired before the run that wait for the turn
	// or a slot, oldest first.
	ids []string
	// turns and slots count the others that hold the turn, or a slot.
	turns, slots int
}

// buffered is how many of w.ids are buffered while free places (the turn,
// or slots) are free: the first free of them are about to take those.
func (w waiting) buffered(free int) int {
	return max(0, len(w.ids)-max(0, free))
}

// waitingBefore reads which executions of the workflow fired before this
// one wait for their turn or a slot: PENDING, holding neither, and due (a
// retry not yet due waits for its time, not its turn); and how many others
// hold the turn or a slot.
func (r *run) waitingBefore(ctx context.Context) (waiting, error) {
	rows, err := r.c.store.ListUnfinishedExecutions(ctx, r.e.WorkflowID)
	if err != nil {
		return waiting{}, err
	}
	now := r.c.opts.Now()
	var w waiting
	for _, x := range rows {
		switch {
		case x.ID == r.e.ID:
		case x.HoldsTurn:
			w.turns++
		case x.HoldsSlot:
			w.slots++
		case x.Status == workflow.ExecutionPending && r.after(x) && !x.Due().After(now):
			w.ids = append(w.ids, x.ID)
		}
	}
	return w, nil
}

// runningBeside returns an execution of the workflow that is going on
// without holding its turn, or "" when none is: one RUNNING, one that holds
// a concurrency slot, or a due PENDING one whose policy dispatches it at
// once (unbounded ALLOW_ALL). Those that hold the turn are left to take,
// which finds them with their lock.
func (r *run) runningBeside(ctx context.Context) (string, error) {
	rows, err := r.c.store.ListUnfinishedExecutions(ctx, r.e.WorkflowID)
	if err != nil {
		return "", err
	}
	now := r.c.opts.Now()
	for _, x := range rows {
		switch {
		case x.ID == r.e.ID, x.HoldsTurn:
		case x.Status == workflow.ExecutionRunning, x.HoldsSlot:
			return x.ID, nil
		case x.Due().After(now):
		default:
			waits, err := r.c.waitsForTurn(ctx, &x)
			if err != nil {
				return "", err
			}
			if !waits {
				return x.ID, nil
			}
		}
	}
	return "", nil
}

// after reports whether the run's execution was fired after x: the order in
// which buffered executions of a workflow take their turn.
func (r *run) after(x workflow.Execution) bool {
	if !x.FiredTime.Equal(r.e.FiredTime) {
		return x.FiredTime.Before(r.e.FiredTime)
	}
	return x.ID < r.e.ID
}

// replace cancels execution id for CANCEL_OTHER; one that is over already
// is no obstacle.
func (r *run) replace(ctx context.Context, id string) error {
	_, err := r.c.cancel(ctx, id, "replaced by execution "+r.e.ID)
	if err == nil || errors.Is(err, errAlreadyOver) || errors.Is(err, store.ErrNotFound) {
		level.Info(r.logger).Log("msg", "execution_replaced", "cancelled_execution_id", id)
		return nil
	}
	return err
}

// keep renews the run's workflow lock until the run releases it. A lost
// lock cannot stop what the engine runs; the turn in the database still
// keeps the workflow's next executions out. It is counted, as outcome
// "lost", because it means Redis lost or gave away a lock in use.
func (r *run) keep(ctx context.Context, l *lock.Lock, sent time.Time) {
	var held context.Context
	held, r.release = r.c.locks.Keep(ctx, l, r.lockTTL(), sent)
	context.AfterFunc(held, func() {
		if errors.Is(context.Cause(held), lock.ErrLockLost) {
			r.c.opts.Metrics.Locks.With("outcome", "lost").Add(1)
		}
	})
}

// rejoin takes the workflow lock back for an adopted RUNNING execution: it
// is still there, under the execution's id, unless it ran out.
func (r *run) rejoin(ctx context.Context) {
	if !r.usesLock() || !r.c.redisUsable() {
		return
	}
	locks, l, sent := r.c.locks, r.c.locks.HeldBy(r.e.WorkflowID, r.e.ID), r.c.opts.Now()
	err := locks.ExtendLock(ctx, l, r.lockTTL())
	if errors.Is(err, lock.ErrNotHolder) {
		_, err = locks.AcquireLockFor(ctx, r.e.WorkflowID, r.e.ID, r.lockTTL())
	}
	if err != nil {
		level.Warn(r.logger).Log("msg", "adopted execution runs without its workflow lock; its turn still holds", "err", err)
		return
	}
	r.keep(ctx, l, sent)
}
