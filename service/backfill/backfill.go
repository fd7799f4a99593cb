// Package backfill runs the past slots of a deployment's cron triggers on
// request: it plans a backfill's slots into chunks in the store, and every
// replica's Runner leases chunks and starts their slots through the
// coordinator, the path of the scheduler's own fires, so that each slot runs
// at most once ever and a backfill outlives the replica that ran it.
package backfill

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/startstop"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Service starts backfills and reports their progress, free of transport
// types.
type Service interface {
	Backfill(ctx context.Context, req Request) (workflow.Backfill, error)
	Get(ctx context.Context, req GetRequest) (workflow.Backfill, error)
}

// Request asks for every slot of a deployment's cron triggers in
// [Start, End). A zero time is a missing one.
type Request struct {
	DeploymentID string
	Start, End   time.Time
	// OverlapPolicy is the policy the backfill's executions run under;
	// empty means the deployment's.
	OverlapPolicy string
}

// GetRequest names a backfill.
type GetRequest struct {
	BackfillID string
}

// Store is what backfills read and write.
type Store interface {
	GetDeployment(ctx context.Context, id string) (*workflow.Deployment, error)
	ListUnfinishedExecutions(ctx context.Context, workflowID string) ([]workflow.Execution, error)
	// CountSlotRuns counts a trigger's runs, for its max_runs.
	CountSlotRuns(ctx context.Context, triggerID string, before time.Time) (int64, error)
	store.BackfillStore
}

// Executions creates the executions of slots: the coordinator, which runs
// them under their overlap policy.
type Executions interface {
	CreateExecution(ctx context.Context, e *workflow.Execution) (bool, error)
}

// Options tune a Runner; zero values take the defaults named below.
type Options struct {
	// InstanceID names this replica as the holder of the chunks it runs.
	InstanceID string
	// Lease is how long a chunk stays this replica's without a renewal
	// (default 30 s); another replica takes it over after that.
	Lease time.Duration
	// Rate is the slots per second this replica starts, all backfills
	// together (default 50): a backfill of 10,000 slots must not flood the
	// engine or starve the live schedule. Under a policy other than
	// ALLOW_ALL a backfill also runs one slot at a time (see startSlots).
	Rate float64
	// Poll is how often an idle replica looks for chunks (default 1 s); the
	// replica that takes a backfill looks at once.
	Poll   time.Duration
	Now    func() time.Time
	Logger log.Logger

	// Retention is WFR_EXECUTION_RETENTION: a backfill may not start
	// before now - Retention (0: no bound).
	Retention time.Duration
}

func (o Options) withDefaults() Options {
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 50
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	return o
}

// chunkSlots is how many slots one lease covers: small enough that the
// replica that takes over a dead one's chunk redoes little, large enough
// that leases cost little next to the slots' own writes.
const chunkSlots = 50

// Runner is the Service and the background component that runs the chunks
// of every backfill, on every replica.
type Runner struct {
	store   Store
	execs   Executions
	opts    Options
	limiter *rate.Limiter
	wake    chan struct{}
	loops   startstop.Loops
}

var (
	_ Service           = (*Runner)(nil)
	_ startstop.Service = (*Runner)(nil)
)

// New returns a Runner over st that starts slots through execs.
func New(st Store, execs Executions, opts Options) *Runner {
	opts = opts.withDefaults()
	return &Runner{store: st, execs: execs, opts: opts, limiter: rate.NewLimiter(rate.Limit(opts.Rate), 1), wake: make(chan struct{}, 1)}
}

var overlapPolicies = []string{workflow.OverlapSkip, workflow.OverlapAllowAll, workflow.OverlapBufferOne, workflow.OverlapCancelOther}

// Backfill plans req's slots and stores the backfill, which the replicas'
// Runners then run. Every bad field is reported at once, as Invalid, with
// nothing written; so is a range of more than workflow.MaxBackfillSlots
// slots or a deployment without a cron trigger. A deployment that is not
// DEPLOYED is FailedPrecondition.
func (r *Runner) Backfill(ctx context.Context, req Request) (workflow.Backfill, error) {
	const op errors.Op = "backfill.Backfill"
	var v errors.Violations
	if _, err := uuid.Parse(req.DeploymentID); err != nil {
		v.Addf("deployment_id", "must be a deployment id (a UUID)")
	}
	now := r.opts.Now()
	switch {
	case req.Start.IsZero():
		v.Addf("start_time", "is required")
	case req.End.IsZero():
		v.Addf("end_time", "is required")
	case !req.End.After(req.Start):
		v.Addf("end_time", "must be after start_time")
	case req.End.After(now):
		v.Addf("end_time", "must not be in the future (now is %s)", now.UTC().Format(time.RFC3339))
	}
	// The runs of slots older than the retention would stand alone in a
	// history that retention has pruned around them (the missed slots of
	// their range are gone), and would go at the first pass after they
	// age out: such a backfill is refused rather than half kept.
	if cutoff := now.Add(-r.opts.Retention); r.opts.Retention > 0 && !req.Start.IsZero() && req.Start.Before(cutoff) {
		v.Addf("start_time", "must be within the execution retention of %s (not before %s): older history is not kept",
			r.opts.Retention, cutoff.UTC().Format(time.RFC3339))
	}
	if req.OverlapPolicy != "" && !slices.Contains(overlapPolicies, req.OverlapPolicy) {
		v.Addf("overlap_policy", "must be one of %s", strings.Join(overlapPolicies, ", "))
	}
	if err := v.Err(op); err != nil {
		return workflow.Backfill{}, err
	}
	d, err := r.store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return workflow.Backfill{}, errors.E(op, err)
	}
	if d.Status != workflow.StatusDeployed {
		return workflow.Backfill{}, errors.Errorf(op, errors.FailedPrecondition, "deployment %s is %s: only a DEPLOYED deployment is backfilled", d.ID, d.Status)
	}
	chunks, planned, outside, err := plan(d, req.Start, req.End)
	if err != nil {
		return workflow.Backfill{}, errors.E(op, err)
	}
	b := &workflow.Backfill{
		DeploymentID: d.ID, WorkflowID: d.WorkflowID, Start: req.Start.UTC(), End: req.End.UTC(), Planned: int64(planned),
		OutOfBounds: int64(outside), OverlapPolicy: req.OverlapPolicy,
	}
	if b.OverlapPolicy == "" {
		b.OverlapPolicy = d.Config.OverlapPolicy
		if b.OverlapPolicy == "" {
			b.OverlapPolicy = workflow.OverlapSkip
		}
	}
	if err := r.store.CreateBackfill(ctx, b, chunks); err != nil {
		return workflow.Backfill{}, errors.E(op, err)
	}
	level.Info(r.opts.Logger).Log("msg", "backfill_created", "backfill_id", b.ID, "deployment_id", d.ID, "workflow_id", d.WorkflowID,
		"start", b.Start.Format(time.RFC3339), "end", b.End.Format(time.RFC3339), "slots", planned, "out_of_bounds", outside,
		"overlap_policy", b.OverlapPolicy)
	select {
	case r.wake <- struct{}{}:
	default:
	}
	stored, err := r.store.GetBackfill(ctx, b.ID)
	if err != nil {
		return workflow.Backfill{}, errors.E(op, err)
	}
	return *stored, nil
}

// plan lists the slots of d's enabled cron triggers in [start, end) and cuts
// them into chunks of one trigger each. The slots outside a trigger's
// [start_time, end_time) are counted in the total and in outside, and left
// out of the chunks: a backfill keeps to the bounds the trigger's own fires
// keep to, and says how many slots they kept it from.
func plan(d *workflow.Deployment, start, end time.Time) (chunks []workflow.BackfillChunk, total, outside int, err error) {
	crons := 0
	for i, t := range d.Triggers {
		if t.Type != workflow.TriggerCron || !t.Enabled || t.Cron == nil {
			continue
		}
		crons++
		// Only nominal slots are read: a backfilled slot runs when its turn
		// comes, without jitter. The bounds are the trigger's, checked
		// here, so that the slots outside them are counted.
		unbounded := *t.Cron
		unbounded.StartTime, unbounded.EndTime = nil, nil
		trig, err := cron.ForSpec(d.WorkflowID, &unbounded, 0)
		if err != nil {
			return nil, 0, 0, errors.Errorf("", errors.Internal, "trigger %d: %w", i, err)
		}
		var slots []time.Time
		for after := start.Add(-time.Nanosecond); ; {
			slot, err := trig.NextSlot(after)
			if errors.Is(err, cron.ErrEnded) || (err == nil && !slot.Before(end)) {
				break
			}
			if err != nil {
				return nil, 0, 0, errors.Errorf("", errors.Internal, "trigger %d: %w", i, err)
			}
			if total++; total > workflow.MaxBackfillSlots {
				return nil, 0, 0, errors.Violations{{Field: "end_time",
					Description: fmt.Sprintf("the range holds more than %d slots; backfill it in parts", workflow.MaxBackfillSlots)}}.Err("")
			}
			after = slot
			if s, e := t.Cron.StartTime, t.Cron.EndTime; (s != nil && slot.Before(*s)) || (e != nil && !slot.Before(*e)) {
				outside++
				continue
			}
			slots = append(slots, slot)
		}
		for len(slots) > 0 {
			n := min(chunkSlots, len(slots))
			chunks = append(chunks, workflow.BackfillChunk{Seq: len(chunks), TriggerID: t.ID, Slots: slots[:n]})
			slots = slots[n:]
		}
	}
	if crons == 0 {
		return nil, 0, 0, errors.Violations{{Field: "deployment_id", Description: "the deployment has no enabled cron trigger to backfill"}}.Err("")
	}
	return chunks, total, outside, nil
}

// Get returns a backfill with its progress: Invalid when the id is not a
// UUID, NotFound when no backfill has it.
func (r *Runner) Get(ctx context.Context, req GetRequest) (workflow.Backfill, error) {
	const op errors.Op = "backfill.Get"
	if _, err := uuid.Parse(req.BackfillID); err != nil {
		return workflow.Backfill{}, errors.Violations{{Field: "backfill_id", Description: "must be a backfill id (a UUID)"}}.Err(op)
	}
	b, err := r.store.GetBackfill(ctx, req.BackfillID)
	if err != nil {
		return workflow.Backfill{}, errors.E(op, err)
	}
	return *b, nil
}

// Start begins looking for chunks to run.
func (r *Runner) Start(ctx context.Context) error {
	r.loops.Go(ctx, r.work)
	return nil
}

// Stop ends the work; the chunk under way is given up so that another
// replica takes it at once.
func (r *Runner) Stop(ctx context.Context) error { return r.loops.Stop(ctx) }

func (r *Runner) work(ctx context.Context) {
	t := time.NewTicker(r.opts.Poll)
	defer t.Stop()
	for {
		for r.runOne(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// runOne claims a chunk and runs it; it reports whether another chunk may
// be waiting.
func (r *Runner) runOne(ctx context.Context) bool {
	c, err := r.store.ClaimBackfillChunk(ctx, r.opts.InstanceID, r.opts.Lease)
	switch {
	case errors.Is(err, store.ErrNotFound) || ctx.Err() != nil:
		return false
	case err != nil:
		level.Warn(r.opts.Logger).Log("msg", "backfill chunk not claimed", "err", err)
		return false
	}
	return r.runChunk(ctx, c)
}

// runChunk starts c's slots at the Runner's pace, renewing its lease, and
// marks it done. On any failure it gives the chunk up for the next claim.
func (r *Runner) runChunk(ctx context.Context, c *workflow.BackfillChunk) bool {
	logger := log.With(r.opts.Logger, "backfill_id", c.BackfillID, "chunk", c.Seq)
	giveUp := func(why string, err error) bool {
		level.Warn(logger).Log("msg", "backfill chunk given up: "+why, "err", err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.store.RenewBackfillChunk(rctx, c.BackfillID, c.Seq, r.opts.InstanceID, 0); err != nil && !errors.Is(err, store.ErrStale) {
			level.Warn(logger).Log("msg", "backfill chunk not released; its lease runs out", "err", err)
		}
		return false
	}
	d, err := r.store.GetDeployment(ctx, c.DeploymentID)
	if err != nil {
		return giveUp("deployment not read", err)
	}
	var outOfBounds int
	if d.Status == workflow.StatusDeployed {
		outOfBounds, err = r.startSlots(ctx, c, d)
	} else {
		err = notDeployedError(d.Status)
	}
	var nd notDeployedError
	switch {
	case errors.As(err, &nd) && nd == notDeployedError(workflow.StatusArchived):
		// The remaining slots are not started: they count as skipped.
	case errors.As(err, &nd):
		// Paused: set aside until the lease runs out, without holding up
		// the other chunks, and looked at again then.
		return true
	case errors.Is(err, store.ErrStale):
		level.Warn(logger).Log("msg", "backfill chunk lost to another replica", "err", err)
		return true
	case err != nil:
		return giveUp("slots not started", err)
	}
	if err := r.store.FinishBackfillChunk(ctx, c.BackfillID, c.Seq, r.opts.InstanceID, outOfBounds); err != nil {
		if errors.Is(err, store.ErrStale) {
			level.Warn(logger).Log("msg", "backfill chunk lost to another replica", "err", err)
			return true
		}
		return giveUp("not marked done", err)
	}
	level.Debug(logger).Log("msg", "backfill chunk done", "slots", len(c.Slots))
	return true
}

// startSlots starts c's slots of deployment d at the Runner's pace,
// renewing the chunk's lease; store.ErrStale says another replica took it.
// It returns how many slots it left out because the trigger had run its
// max_runs: those count as out of bounds. max_runs bounds the trigger's runs
// in all, live and backfilled, whichever came first, so that a backfill
// never takes a trigger past it.
// Under a policy other than ALLOW_ALL each slot waits until the workflow has
// no unfinished execution: the policy is to keep the backfill's runs from
// overlapping the live schedule's and other callers', and started at the
// Runner's pace they would mostly overlap, and skip or cancel, each other.
func (r *Runner) startSlots(ctx context.Context, c *workflow.BackfillChunk, d *workflow.Deployment) (outOfBounds int, err error) {
	renewed := r.opts.Now()
	renew := func() error {
		now := r.opts.Now()
		if now.Sub(renewed) < r.opts.Lease/3 {
			return nil
		}
		renewed = now
		return r.store.RenewBackfillChunk(ctx, c.BackfillID, c.Seq, r.opts.InstanceID, r.opts.Lease)
	}
	var maxRuns int64
	for _, t := range d.Triggers {
		if t.ID == c.TriggerID && t.Cron != nil {
			maxRuns = int64(t.Cron.MaxRuns)
		}
	}
	for i, slot := range c.Slots {
		if maxRuns > 0 {
			ran, err := r.store.CountSlotRuns(ctx, c.TriggerID, endOfTime)
			if err != nil {
				return 0, err
			}
			if ran >= maxRuns {
				return len(c.Slots) - i, nil
			}
		}
		if err := r.limiter.Wait(ctx); err != nil {
			return 0, err
		}
		if c.OverlapPolicy != workflow.OverlapAllowAll {
			if err := r.waitIdle(ctx, d.WorkflowID, renew); err != nil {
				return 0, err
			}
		}
		if err := renew(); err != nil {
			return 0, err
		}
		e := &workflow.Execution{
			WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version, TriggerID: c.TriggerID,
			TriggerType: workflow.TriggerCron, ScheduledTime: &slot, FiredTime: r.opts.Now().UTC(),
			TraceID: tracing.NewID(), TriggeredBy: workflow.BackfillTriggeredBy(c.BackfillID),
		}
		created, err := r.execs.CreateExecution(ctx, e)
		if err != nil {
			return 0, err
		}
		if !created {
			// Held by another run, or the deployment is no longer DEPLOYED:
			// a slot of a paused deployment must wait, not count as held.
			if d, err = r.store.GetDeployment(ctx, d.ID); err != nil {
				return 0, err
			}
			if d.Status != workflow.StatusDeployed {
				return 0, notDeployedError(d.Status)
			}
		}
	}
	return 0, nil
}

// endOfTime is later than any slot: CountSlotRuns before it counts every run.
var endOfTime = time.Date(9999, time.December, 31, 0, 0, 0, 0, time.UTC)

// notDeployedError is the status of a deployment whose slots cannot start now.
type notDeployedError workflow.DeploymentStatus

func (n notDeployedError) Error() string { return "deployment is " + string(n) }

// idlePoll is how often a slot waiting for its workflow to be idle looks;
// maxIdleWait is how long it waits at most before it starts all the same,
// leaving the policy to decide, so that a workflow that is never idle holds
// up neither its backfill nor the others behind it on this replica.
const (
	idlePoll    = 50 * time.Millisecond
	maxIdleWait = 30 * time.Second
)

// waitIdle waits until workflowID has no PENDING or RUNNING execution, or
// maxIdleWait, renewing the chunk's lease meanwhile.
func (r *Runner) waitIdle(ctx context.Context, workflowID string, renew func() error) error {
	t := time.NewTicker(idlePoll)
	defer t.Stop()
	giveUp := time.After(maxIdleWait)
	for {
		unfinished, err := r.store.ListUnfinishedExecutions(ctx, workflowID)
		if err != nil || len(unfinished) == 0 {
			return err
		}
		if err := renew(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-giveUp:
			return nil
		case <-t.C:
		}
	}
}
