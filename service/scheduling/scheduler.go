// Package scheduling fires deployed cron triggers at their jittered times on
// go-quartz. With a Membership each replica holds the DEPLOYED cron triggers
// it owns among the live replicas; without one (no Redis) every replica
// holds every one. PostgreSQL's one-row-per-slot constraint is the last word
// on which fire counts.
package scheduling

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/kit/metrics/discard"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/google/uuid"
	"github.com/reugn/go-quartz/quartz"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/shard"
	"github.com/workflow-runtime/workflow-runtime/pkg/startstop"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Store is what the scheduler reads.
type Store interface {
	ListCronTriggers(ctx context.Context, deploymentID string) ([]workflow.CronTrigger, error)
	// ListOwnedCronTriggers returns the cron triggers of every DEPLOYED
	// deployment that owns reports true for, decoding no other.
	ListOwnedCronTriggers(ctx context.Context, owns func(triggerID string) bool) ([]workflow.CronTrigger, error)
	ChangedDeployments(ctx context.Context, within time.Duration) ([]string, error)
}

// Broadcaster tells the other replicas that a deployment changed, and hears them.
type Broadcaster interface {
	Publish(ctx context.Context, deploymentID string) error
	Subscribe(ctx context.Context, handle func(deploymentID string)) error
}

// Membership tells which cron triggers this replica owns (shard.Membership).
type Membership interface {
	View() shard.View
	// MayFire reports whether this replica may fire the trigger now.
	MayFire(triggerID string) bool
	// OnChange makes f hear every change of view.
	OnChange(f func(shard.View))
}

// Fire is one due fire of a cron trigger.
type Fire struct {
	Trigger workflow.CronTrigger
	// Slot is the nominal time; At is Slot plus the workflow's jitter.
	Slot, At time.Time
	// Lag is how late the fire is acted on: now - At.
	Lag time.Duration
	// Owned is set when this replica fires the trigger as its owner among
	// the live replicas (sharded), so that no other replica fires the slot.
	Owned bool
}

// FireHandler acts on a fire that is not a misfire. It is called from many
// goroutines at once; an error makes the scheduler retry the fire while it is
// still within its catch-up window.
type FireHandler func(ctx context.Context, f Fire) error

// Metrics are the scheduler's instruments.
type Metrics struct {
	Fires    metrics.Counter
	Misfires metrics.Counter
	// Lag observes seconds between a fire's due time and the moment it is acted on.
	Lag metrics.Histogram
}

// Options configure a Scheduler; zero values take the defaults in brackets.
type Options struct {
	// JitterWindow applies to triggers without a window of their own [300s].
	JitterWindow time.Duration
	// CatchupWindow applies to deployments without one of their own [300s].
	CatchupWindow time.Duration
	// ResyncInterval is how often the deployments changed since the last
	// resync are reloaded from the store [30s]; every fullResyncEvery-th
	// resync reloads every trigger.
	ResyncInterval time.Duration
	// Broadcaster, when set, carries changes between replicas.
	Broadcaster Broadcaster
	// Membership, when set, shares the triggers among the live replicas:
	// this one holds only those it owns. Without it, it holds all.
	Membership Membership
	Logger     log.Logger
	Metrics    Metrics
	// Now is the clock that judges lateness [time.Now].
	Now func() time.Time
	// Slots, when set, records the slots that never ran and counts those
	// that did for max_runs; without it misses are only counted and logged.
	Slots SlotStore
	// CatchUps, when set, keeps the catch-up plans of the ALL policy in the
	// database, shared by the replicas, so that one that dies mid-way
	// leaves its plan to the others; without it a plan lives in this
	// replica's memory only.
	CatchUps CatchUpStore
	// InstanceID names this replica as the holder of catch-up plans [a
	// random id].
	InstanceID string
	// CatchupLease is how long a catch-up plan stays this replica's past its
	// next fire without word from it [30s]; another replica takes it over
	// after that.
	CatchupLease time.Duration
	// queue replaces the O(log n) job queue, so that the benchmark can
	// compare go-quartz's own.
	queue quartz.JobQueue
	// quartz replaces go-quartz's scheduler, whose clock is the real one,
	// so that tests can fire slots on a simulated clock.
	quartz quartz.Scheduler
	// retryInterval replaces fireRetryInterval, so that tests need not wait.
	retryInterval time.Duration
}

// A resync rereads only the deployments changed since the one before, and
// the whole list of triggers every fullResyncEvery-th time (hourly by
// default) or when more than maxChangedReads deployments changed: a full
// read of 400,000 triggers takes a replica's and the database's CPU for
// seconds, and delayed fires by up to 300 ms when it came every 30 s. The
// announcements of changes carry them in the normal case; resyncs make good
// a lost one, and the full read anything a reread missed.
const (
	fullResyncEvery = 120
	maxChangedReads = 1000
)

// outdatedThreshold switches off go-quartz's own misfire handling, which
// drops any fire more than 100 ms late without a word: lateness is judged
// here, against each deployment's catch-up window.
const outdatedThreshold = 100 * 365 * 24 * time.Hour

// A fire whose handler fails (the database blinked) is tried again, each time
// judged against the catch-up window anew; fireTimeout bounds one attempt.
const (
	fireAttempts      = 4
	fireRetryInterval = time.Second
	fireTimeout       = 30 * time.Second
)

type held struct {
	ct      workflow.CronTrigger
	trigger *cron.Trigger
	window  time.Duration
	catchup time.Duration
}

// Scheduler holds the cron triggers of DEPLOYED deployments and fires them.
type Scheduler struct {
	store  Store
	handle FireHandler
	opts   Options

	mu           sync.Mutex
	quartz       quartz.Scheduler
	held         map[string]*held           // by trigger id
	byDeployment map[string]map[string]bool // deployment id → trigger ids
	schedules    map[string]*cron.Schedule  // by expression
	zones        map[string]*time.Location  // by name
	// gen counts ScheduleWorkflow calls; touched holds, per deployment, the
	// count at its latest one, so that a resync that read the store earlier
	// does not put back what that call changed.
	gen     uint64
	touched map[string]uint64
	ctx     context.Context // ends at Stop: fires started outside go-quartz use it
	stop    context.CancelFunc
	loops   sync.WaitGroup
	// reshard asks the reshard loop to take the triggers a new view gives.
	reshard chan struct{}
}

// New returns a stopped Scheduler that reads st and hands fires to handle.
func New(st Store, handle FireHandler, opts Options) *Scheduler {
	if opts.JitterWindow == 0 {
		opts.JitterWindow = 300 * time.Second
	}
	if opts.CatchupWindow == 0 {
		opts.CatchupWindow = 300 * time.Second
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Metrics.Fires == nil {
		opts.Metrics.Fires = discard.NewCounter()
	}
	if opts.Metrics.Misfires == nil {
		opts.Metrics.Misfires = discard.NewCounter()
	}
	if opts.Metrics.Lag == nil {
		opts.Metrics.Lag = discard.NewHistogram()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.retryInterval == 0 {
		opts.retryInterval = fireRetryInterval
	}
	if opts.InstanceID == "" {
		opts.InstanceID = uuid.NewString()
	}
	if opts.CatchupLease == 0 {
		opts.CatchupLease = 30 * time.Second
	}
	s := &Scheduler{store: st, handle: handle, opts: opts, reshard: make(chan struct{}, 1)}
	if m := opts.Membership; m != nil {
		m.OnChange(s.membershipChanged)
	}
	return s
}

// view is what this replica fires now: everything without a Membership.
func (s *Scheduler) view() shard.View {
	if m := s.opts.Membership; m != nil {
		return m.View()
	}
	return shard.View{Mode: shard.ModeAll}
}

// mayFire reports whether this replica may fire the trigger now.
func (s *Scheduler) mayFire(triggerID string) bool {
	m := s.opts.Membership
	return m == nil || m.MayFire(triggerID)
}

// membershipChanged gives up at once the triggers that v makes another
// replica's, and has the reshard loop load the ones it makes this one's:
// their slots since they were last accounted for are caught up as after an
// outage, which covers those their old owner left unfired.
func (s *Scheduler) membershipChanged(v shard.View) {
	s.mu.Lock()
	if s.quartz != nil {
		for tid := range s.held {
			if !v.Owns(tid) {
				s.release(tid)
			}
		}
	}
	s.mu.Unlock()
	select {
	case s.reshard <- struct{}{}:
	default:
	}
}

func (s *Scheduler) reshardLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.reshard:
			if err := s.Resync(ctx); err != nil {
				level.Warn(s.opts.Logger).Log("msg", "triggers of a new membership not loaded; the next resync loads them", "err", err)
			}
		}
	}
}

// Start loads every DEPLOYED cron trigger, fires what downtime missed within
// the catch-up windows, and starts firing, resyncing and listening to the
// other replicas until Stop (startstop.Service): ctx bounds the load only.
func (s *Scheduler) Start(ctx context.Context) error {
	q := s.opts.quartz
	if q == nil {
		queue := s.opts.queue
		if queue == nil {
			queue = newJobQueue()
		}
		var err error
		q, err = quartz.NewStdScheduler(
			quartz.WithQueue(queue, &sync.Mutex{}),
			quartz.WithJobMetadata(),
			quartz.WithOutdatedThreshold(outdatedThreshold),
			quartz.WithLogger(quartzLogger{s.opts.Logger}),
		)
		if err != nil {
			return fmt.Errorf("scheduling: %w", err)
		}
	}
	// The work runs until Stop, not until the start's context ends.
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Lock()
	s.quartz, s.ctx, s.stop = q, run, cancel
	s.held, s.byDeployment = map[string]*held{}, map[string]map[string]bool{}
	s.schedules, s.zones = map[string]*cron.Schedule{}, map[string]*time.Location{}
	s.touched = map[string]uint64{}
	s.mu.Unlock()
	// Firing starts before the load, so that triggers loaded first fire on
	// time while the rest load.
	q.Start(run)
	loaded := time.Now()
	if err := s.Resync(ctx); err != nil {
		_ = s.Stop(ctx)
		return err
	}
	s.loops.Go(func() { s.resyncLoop(run, loaded) })
	s.loops.Go(func() { s.reshardLoop(run) })
	if s.opts.CatchUps != nil {
		s.loops.Go(func() { s.takeOverLoop(run) })
	}
	if b := s.opts.Broadcaster; b != nil {
		s.loops.Go(func() {
			_ = b.Subscribe(run, func(id string) {
				if err := s.ScheduleWorkflow(run, id); err != nil {
					level.Warn(s.opts.Logger).Log("msg", "reload after a change announced by another replica failed", "deployment_id", id, "err", err)
				}
			})
		})
	}
	return nil
}

// Stop stops firing and returns once the fires in flight have finished, or
// when ctx ends. A stopped Scheduler may be started again.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	q, stop := s.quartz, s.stop
	s.mu.Unlock()
	if q == nil {
		return nil
	}
	stop()
	q.Stop()
	q.Wait(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	s.loops.Wait()
	s.mu.Lock()
	s.quartz, s.held, s.byDeployment = nil, nil, nil
	s.mu.Unlock()
	return nil
}

// resyncLoop resyncs every ResyncInterval from loaded, when the full read
// of Start began. A reread covers the time since the last resync that
// succeeded, plus an interval: a change committed later than its
// transaction's clock says is still read.
func (s *Scheduler) resyncLoop(ctx context.Context, loaded time.Time) {
	last, n := loaded, 0
	startstop.Every(ctx, s.opts.ResyncInterval, func(ctx context.Context) {
		began := time.Now()
		n++
		var err error
		if n%fullResyncEvery == 0 {
			err = s.Resync(ctx)
		} else {
			err = s.resyncChanged(ctx, began.Sub(last)+s.opts.ResyncInterval)
		}
		if err != nil {
			level.Warn(s.opts.Logger).Log("msg", "resync failed; triggers stay as they were", "err", err)
			return
		}
		last = began
	})
}

// resyncChanged rereads the deployments changed in the last within, or
// every trigger when too many did for one read each.
func (s *Scheduler) resyncChanged(ctx context.Context, within time.Duration) error {
	ids, err := s.store.ChangedDeployments(ctx, within)
	if err != nil {
		return fmt.Errorf("scheduling: resync: %w", err)
	}
	if len(ids) > maxChangedReads {
		return s.Resync(ctx)
	}
	for _, id := range ids {
		if err := s.ScheduleWorkflow(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// DeploymentChanged reschedules deployment d after a committed change and
// announces the change to the other replicas. Only the local rescheduling can
// fail the call: a lost announcement is made good by the others' resync.
func (s *Scheduler) DeploymentChanged(ctx context.Context, d *workflow.Deployment) error {
	if err := s.ScheduleWorkflow(ctx, d.ID); err != nil {
		return err
	}
	if b := s.opts.Broadcaster; b != nil {
		if err := b.Publish(ctx, d.ID); err != nil {
			level.Warn(s.opts.Logger).Log("msg", "change not announced; other replicas pick it up at their resync", "deployment_id", d.ID, "err", err)
		}
	}
	return nil
}

// ScheduleWorkflow makes the held triggers of one deployment match the store:
// all its cron triggers while it is DEPLOYED, none otherwise. The read and the
// change happen under the scheduler's lock, so that two calls for one
// deployment cannot apply their reads out of order.
func (s *Scheduler) ScheduleWorkflow(ctx context.Context, deploymentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quartz == nil {
		return nil
	}
	before := s.view()
	cts, err := s.store.ListCronTriggers(ctx, deploymentID)
	if err != nil {
		return fmt.Errorf("scheduling: load deployment %s: %w", deploymentID, err)
	}
	s.gen++
	s.touched[deploymentID] = s.gen
	return s.apply(deploymentID, owned(cts, before, s.view()))
}

// UnscheduleWorkflow stops firing a deployment's triggers.
func (s *Scheduler) UnscheduleWorkflow(deploymentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quartz == nil {
		return nil
	}
	return s.apply(deploymentID, nil)
}

// Resync makes every held trigger match the store. Only a failure to read
// the store fails it: a trigger that cannot be scheduled is logged and left
// out, so that one bad row cannot stop a replica from firing the others. The
// store is read without the lock (100k rows take a while); a deployment that
// ScheduleWorkflow changed meanwhile keeps that newer state.
func (s *Scheduler) Resync(ctx context.Context) error {
	s.mu.Lock()
	started := s.gen
	s.mu.Unlock()
	before := s.view()
	cts, err := s.store.ListOwnedCronTriggers(ctx, before.Owns)
	if err != nil {
		return fmt.Errorf("scheduling: resync: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quartz == nil {
		return nil
	}
	byDeployment := map[string][]workflow.CronTrigger{}
	for _, ct := range owned(cts, before, s.view()) {
		byDeployment[ct.DeploymentID] = append(byDeployment[ct.DeploymentID], ct)
	}
	for id := range s.byDeployment {
		if _, ok := byDeployment[id]; !ok && s.touched[id] <= started {
			_ = s.apply(id, nil)
		}
	}
	for id, list := range byDeployment {
		if s.touched[id] > started {
			continue
		}
		if err := s.apply(id, list); err != nil {
			level.Error(s.opts.Logger).Log("msg", "cron trigger not scheduled", "deployment_id", id, "err", err)
		}
	}
	for id, gen := range s.touched {
		if gen <= started {
			delete(s.touched, id)
		}
	}
	return nil
}

// owned keeps, in place, the triggers that this replica owns both under the
// view before the store was read and under the one now: a trigger gained
// meanwhile was read before its old owner stopped, with a last accounted
// slot that may miss that owner's last fires, and is left to the reshard
// that the change asked for.
func owned(cts []workflow.CronTrigger, before, now shard.View) []workflow.CronTrigger {
	if before.Mode == shard.ModeAll && now.Mode == shard.ModeAll {
		return cts
	}
	return slices.DeleteFunc(cts, func(ct workflow.CronTrigger) bool {
		return !before.Owns(ct.TriggerID) || !now.Owns(ct.TriggerID)
	})
}

// apply holds exactly cts for deployment id. A trigger held at the same
// deployment version is left alone, so its timing is undisturbed. s.mu is held.
func (s *Scheduler) apply(id string, cts []workflow.CronTrigger) error {
	want := make(map[string]bool, len(cts))
	var errs []error
	for _, ct := range cts {
		want[ct.TriggerID] = true
		if h, ok := s.held[ct.TriggerID]; ok && h.ct.DeploymentVersion == ct.DeploymentVersion {
			continue
		}
		if err := s.hold(ct); err != nil {
			errs = append(errs, err)
		}
	}
	for tid := range s.byDeployment[id] {
		if !want[tid] {
			s.release(tid)
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) hold(ct workflow.CronTrigger) error {
	sched, err := s.schedule(ct.Spec.Expression)
	if err != nil {
		return fmt.Errorf("scheduling: trigger %s: %w", ct.TriggerID, err)
	}
	loc, err := s.zone(ct.Spec.Timezone)
	if err != nil {
		return fmt.Errorf("scheduling: trigger %s: %w", ct.TriggerID, err)
	}
	window := s.opts.JitterWindow
	if w := ct.Spec.JitterWindowSeconds; w != nil {
		window = time.Duration(*w) * time.Second
	}
	catchup := s.opts.CatchupWindow
	if c := ct.Config.CatchupWindowSeconds; c > 0 {
		catchup = time.Duration(c) * time.Second
	}
	rules := cron.NewRules(ct.Spec.RepeatedTimePolicy, ct.Spec.SkippedTimePolicy, ct.Spec.StartTime, ct.Spec.EndTime)
	h := &held{ct: ct, trigger: cron.NewTrigger(sched, loc, ct.WorkflowID, window, rules), window: window, catchup: catchup}
	// A replaced job may have a fire that came due and is not yet taken: its
	// slot must not be lost to the new job, which starts after now.
	since, replaced := s.pendingSlot(ct.TriggerID)
	var pausedUntil time.Time
	if !replaced {
		since = ct.ScheduledSince
		if last := ct.LastAccounted(); last != nil {
			if last.After(since) {
				since = *last
			} else {
				// Slots were accounted for before the deployment last
				// changed and none after: it was paused meanwhile.
				since, pausedUntil = *last, ct.ScheduledSince
			}
		}
	}
	opts := quartz.NewDefaultJobDetailOptions()
	opts.Replace = true
	detail := quartz.NewJobDetailWithOptions(&job{s: s, h: h}, quartz.NewJobKey(ct.TriggerID), opts)
	switch err := s.quartz.ScheduleJob(detail, h.trigger); {
	case errors.Is(err, cron.ErrEnded):
		// Past its end: held without a job, so that resyncs leave it be,
		// while the catch-up below may still fire its last slots. A job
		// of an older version would fire on.
		_ = s.quartz.DeleteJob(quartz.NewJobKey(ct.TriggerID))
	case err != nil:
		return fmt.Errorf("scheduling: trigger %s: %w", ct.TriggerID, err)
	}
	s.held[ct.TriggerID] = h
	if s.byDeployment[ct.DeploymentID] == nil {
		s.byDeployment[ct.DeploymentID] = map[string]bool{}
	}
	s.byDeployment[ct.DeploymentID][ct.TriggerID] = true
	if !since.IsZero() {
		s.catchUp(h, since, pausedUntil)
	}
	return nil
}

// pendingSlot returns the instant just before the slot of a held trigger's
// queued fire when that fire is already due, and whether the trigger is held.
// s.mu is held.
func (s *Scheduler) pendingSlot(triggerID string) (time.Time, bool) {
	old, ok := s.held[triggerID]
	if !ok {
		return time.Time{}, false
	}
	queued, err := s.quartz.GetScheduledJob(quartz.NewJobKey(triggerID))
	if err != nil || time.Unix(0, queued.NextRunTime()).After(s.opts.Now()) {
		return time.Time{}, true
	}
	slot, err := old.trigger.Slot(time.Unix(0, queued.NextRunTime()))
	if err != nil {
		return time.Time{}, true
	}
	return slot.Add(-time.Nanosecond), true
}

// schedule parses expr once per distinct expression: thousands of triggers
// share a handful of them. s.mu is held.
func (s *Scheduler) schedule(expr string) (*cron.Schedule, error) {
	if sched, ok := s.schedules[expr]; ok {
		return sched, nil
	}
	sched, err := cron.Parse(expr)
	if err == nil {
		s.schedules[expr] = sched
	}
	return sched, err
}

// zone loads a time zone once: time.LoadLocation reads the zone database on
// every call. s.mu is held.
func (s *Scheduler) zone(name string) (*time.Location, error) {
	if loc, ok := s.zones[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err == nil {
		s.zones[name] = loc
	}
	return loc, err
}

func (s *Scheduler) release(triggerID string) {
	h, ok := s.held[triggerID]
	if !ok {
		return
	}
	_ = s.quartz.DeleteJob(quartz.NewJobKey(triggerID))
	_ = s.quartz.DeleteJob(catchupKey(triggerID))
	delete(s.held, triggerID)
	ids := s.byDeployment[h.ct.DeploymentID]
	delete(ids, triggerID)
	if len(ids) == 0 {
		delete(s.byDeployment, h.ct.DeploymentID)
	}
}

// fireWithRetries fires a slot, trying again while the handler fails and,
// when judge is set, the fire is still within its catch-up window. The
// attempts run on a context that a Stop does not cancel, so that a fire in
// flight when the replica stops still records its slot; fireTimeout bounds
// each one. A slot whose every attempt failed is MISSED, REPLICA_DOWN, unless
// another replica records it.
func (s *Scheduler) fireWithRetries(ctx context.Context, h *held, slot, at time.Time, judge bool) {
	attemptCtx, span := startFireSpan(context.WithoutCancel(ctx), h.ct, slot)
	var err error
	defer func() { tracing.EndSpan(span, err) }()
	for attempt := 1; attempt <= fireAttempts; attempt++ {
		actx, cancel := context.WithTimeout(attemptCtx, fireTimeout)
		err = s.fire(actx, h, slot, at, attempt == 1, judge)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			attempt = fireAttempts
		case <-time.After(s.opts.retryInterval):
		}
	}
	level.Error(s.opts.Logger).Log("msg", "fire failed", "workflow_id", h.ct.WorkflowID, "trigger_id", h.ct.TriggerID,
		"slot", slot.UTC().Format(time.RFC3339Nano), "err", err, "error_kind", "fire failed")
	s.recordMissed(ctx, oneSlot(h, slot, workflow.MissedReplicaDown))
}

// fire judges one due fire against the catch-up window, unless told not to,
// and against max_runs, and hands it on; the first attempt of a fire is the
// one measured.
func (s *Scheduler) fire(ctx context.Context, h *held, slot, at time.Time, first, judge bool) error {
	lag := s.opts.Now().Sub(at)
	if first {
		s.opts.Metrics.Lag.Observe(lag.Seconds())
	}
	if judge && lag > h.catchup {
		if first {
			s.recordMissed(ctx, oneSlot(h, slot, workflow.MissedOutsideCatchupWindow))
		}
		return nil
	}
	switch done, err := s.exhausted(ctx, h, slot); {
	case err != nil:
		return err
	case done:
		level.Debug(s.opts.Logger).Log("msg", "max_runs reached; slot not fired", "trigger_id", h.ct.TriggerID,
			"slot", slot.UTC().Format(time.RFC3339Nano))
		return nil
	}
	if first {
		s.opts.Metrics.Fires.Add(1)
	}
	return s.handle(ctx, Fire{Trigger: h.ct, Slot: slot, At: at, Lag: lag, Owned: s.view().Mode == shard.ModeSharded})
}

func oneSlot(h *held, slot time.Time, reason workflow.MissReason) workflow.MissedSlots {
	return workflow.MissedSlots{TriggerID: h.ct.TriggerID, DeploymentID: h.ct.DeploymentID,
		From: slot.UTC(), To: slot.UTC(), Count: 1, Reason: reason}
}

// Held reports how many triggers the scheduler holds.
func (s *Scheduler) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// NextFire returns the held trigger's next nominal slot and its jittered
// fire time; ok is false when the trigger is not held.
func (s *Scheduler) NextFire(triggerID string) (slot, at time.Time, ok bool) {
	s.mu.Lock()
	h, held := s.held[triggerID]
	s.mu.Unlock()
	if !held {
		return time.Time{}, time.Time{}, false
	}
	slot, at, err := h.trigger.NextFire(s.opts.Now())
	return slot, at, err == nil
}

// job is the quartz.Job of one held trigger.
type job struct {
	s *Scheduler
	h *held
}

// Execute fires the slot whose jittered time go-quartz ran the job for:
// quartz.WithJobMetadata puts that time in ctx.
func (j *job) Execute(ctx context.Context) error {
	md, ok := ctx.Value(quartz.JobMetadataContextKey).(quartz.JobMetadata)
	if !ok {
		return fmt.Errorf("scheduling: job of trigger %s ran without its run time", j.h.ct.TriggerID)
	}
	at := time.Unix(0, md.RunTime)
	slot, err := j.h.trigger.Slot(at)
	if err != nil {
		return fmt.Errorf("scheduling: trigger %s: %w", j.h.ct.TriggerID, err)
	}
	// Another replica's now, or this one's beat too old to be sure it is
	// not: the slot is left to the catch-up of whoever takes the trigger.
	if !j.s.mayFire(j.h.ct.TriggerID) {
		return nil
	}
	j.s.fireWithRetries(ctx, j.h, slot, at, true)
	return nil
}

// Description names the job in go-quartz's logs.
func (j *job) Description() string { return "cron trigger " + j.h.ct.TriggerID }

// quartzLogger passes go-quartz's warnings and errors (a job that failed, a
// trigger that expired) to the service's log; its chatter stays out.
type quartzLogger struct{ logger log.Logger }

func (quartzLogger) Trace(string, ...any) {}
func (quartzLogger) Debug(string, ...any) {}
func (quartzLogger) Info(string, ...any)  {}

func (l quartzLogger) Warn(msg string, args ...any) {
	level.Warn(l.logger).Log(append([]any{"msg", msg, "component", "go-quartz"}, args...)...)
}

func (l quartzLogger) Error(msg string, args ...any) {
	level.Error(l.logger).Log(append([]any{"msg", msg, "component", "go-quartz"}, args...)...)
}

// Mode names how this replica picks the triggers it holds: all (no
// membership, or the live set unknown), none (fenced or joining) or sharded.
func (s *Scheduler) Mode() string { return s.view().Mode.String() }
