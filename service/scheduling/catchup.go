package scheduling

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"
	"github.com/reugn/go-quartz/quartz"

	"github.com/workflow-runtime/workflow-runtime/pkg/startstop"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// SlotStore records the slots that never ran and counts those that did:
// with the executions, the account of every slot.
type SlotStore interface {
	RecordMissedSlots(ctx context.Context, m workflow.MissedSlots) error
	CountSlotRuns(ctx context.Context, triggerID string, before time.Time) (int64, error)
}

// CatchUpStore keeps the catch-up plans of the ALL policy, leased to the
// replica that runs them (store.CatchUpStore).
type CatchUpStore interface {
	PlanCatchUp(ctx context.Context, c *workflow.CatchUp, missed []workflow.MissedSlots, owner string, lease time.Duration) (covered time.Time, ok bool, err error)
	ClaimCatchUp(ctx context.Context, owner string, lease time.Duration) (*workflow.CatchUp, error)
	AdvanceCatchUp(ctx context.Context, triggerID string, after time.Time, owner string, fired int, lease time.Duration) error
	PruneCatchUps(ctx context.Context, before time.Time) (int64, error)
}

// catchupRetention is how long a finished catch-up plan is kept: long past
// the moment its slots' records make the triggers' last accounted slot
// cover them, so that a replica that read the trigger before cannot plan
// them again.
const catchupRetention = time.Hour

// maxMissedScan bounds the slots counted for one run of missed slots: a
// trigger that fires every second, down for 115 days. Past it the run is
// recorded up to the slot where the count stopped, and the next one from
// there.
const maxMissedScan = 10_000_000

// catchupSpacing separates the catch-up fires of one trigger under the ALL
// policy, so that a long outage is made good one slot at a time, oldest first.
const catchupSpacing = time.Second

// missedRuns gathers consecutive slots of one trigger into runs of one
// reason each. Slots are added oldest first and the ones that run all come
// after the missed ones, so consecutive slots of one reason form one run.
type missedRuns struct {
	h    *held
	runs []workflow.MissedSlots
}

func (m *missedRuns) add(from, to time.Time, n int64, reason workflow.MissReason) {
	if n == 0 {
		return
	}
	if last := len(m.runs) - 1; last >= 0 && m.runs[last].Reason == reason {
		m.runs[last].To, m.runs[last].Count = to, m.runs[last].Count+n
		return
	}
	m.runs = append(m.runs, workflow.MissedSlots{TriggerID: m.h.ct.TriggerID, DeploymentID: m.h.ct.DeploymentID,
		From: from.UTC(), To: to.UTC(), Count: n, Reason: reason})
}

// catchUp accounts for the slots after since that came due while the
// trigger was not held (downtime, a restart, a pause): those older than the
// catch-up window are MISSED; of those inside it, the LATEST policy fires
// the most recent (the others are MISSED, REPLICA_DOWN), ALL fires every one,
// oldest first, NONE none. Slots whose fire came during a pause are MISSED,
// PAUSED: ScheduledSince, later than the last slot accounted for, is when
// the deployment was resumed. s.mu is held.
func (s *Scheduler) catchUp(h *held, since time.Time, pausedUntil time.Time) {
	now := s.opts.Now()
	planFrom := since
	// A trigger that used up its max_runs has no slot due any more.
	ctx, cancel := context.WithTimeout(s.ctx, fireTimeout)
	done, err := s.exhausted(ctx, h, now)
	cancel()
	if err == nil && done {
		return
	}
	policy := h.ct.Spec.CatchupPolicy
	m := &missedRuns{h: h}
	if pausedUntil.After(since) {
		// By fire time: a slot just before a change whose fire came after
		// it was the running replicas' to fire.
		from, to, n := h.countFires(since, pausedUntil)
		m.add(from, to, n, workflow.MissedPaused)
		if n > 0 {
			since = to
		}
	}
	old := workflow.MissedOutsideCatchupWindow
	if policy == workflow.CatchupNone {
		old = workflow.MissedPolicyNone
	}
	// Slots up to floor are accounted for; the fires are searched from
	// after, which lies a jitter window earlier. A lag of exactly the
	// catch-up window is inside it (fire misses only a greater one), so the
	// slots counted here at once end a nanosecond before the last instant
	// whose slot could still have that lag: without jitter, the slot exactly
	// a window old would be recorded MISSED here and run by a live fire.
	floor, after := since, since
	if recent := now.Add(-(h.catchup + h.window + time.Nanosecond)); recent.After(since) {
		from, to, n := h.countSlots(since, recent)
		m.add(from, to, n, old)
		after = recent
		if n > 0 {
			floor = to
		}
	}
	var due []Fire
	for {
		slot, at, err := h.trigger.NextFire(after)
		if err != nil || at.After(now) {
			break
		}
		after = at
		if !slot.After(floor) {
			continue
		}
		if policy == workflow.CatchupNone || now.Sub(at) > h.catchup {
			m.add(slot, slot, 1, old)
			continue
		}
		due = append(due, Fire{Trigger: h.ct, Slot: slot, At: at})
	}
	switch {
	case policy == workflow.CatchupAll && s.opts.CatchUps != nil && (len(due) > 0 || len(m.runs) > 0):
		s.planCatchUp(h, planFrom, pausedUntil, due, m.runs, now)
		return
	case len(due) == 0:
	case policy == workflow.CatchupAll:
		s.catchUpAll(h, due, now, nil)
	default:
		for _, f := range due[:len(due)-1] {
			m.add(f.Slot, f.Slot, 1, workflow.MissedReplicaDown)
		}
		last := due[len(due)-1]
		ctx := s.ctx
		s.loops.Go(func() { s.fireWithRetries(ctx, h, last.Slot, last.At, true) })
	}
	s.recordMissed(s.ctx, m.runs...)
}

// countSlots returns the first and last slot in (since, until] and how many
// there are, up to maxMissedScan.
func (h *held) countSlots(since, until time.Time) (first, last time.Time, n int64) {
	for after := since; n < maxMissedScan; n++ {
		slot, err := h.trigger.NextSlot(after)
		if err != nil || slot.After(until) {
			break
		}
		if n == 0 {
			first = slot
		}
		last, after = slot, slot
	}
	return first, last, n
}

// countFires returns the first and last slot after since whose fire came
// by until, and how many there are, up to maxMissedScan.
func (h *held) countFires(since, until time.Time) (first, last time.Time, n int64) {
	for after := since; n < maxMissedScan; {
		slot, at, err := h.trigger.NextFire(after)
		if err != nil || at.After(until) {
			break
		}
		after = at
		if !slot.After(since) {
			continue
		}
		if n == 0 {
			first = slot
		}
		last = slot
		n++
	}
	return first, last, n
}

// recordMissed writes runs of missed slots, off the scheduler's lock, and
// counts and logs them. A run that cannot be written is logged: the slots
// stay unaccounted, which the schedule report shows as due but neither ran
// nor missed.
func (s *Scheduler) recordMissed(ctx context.Context, runs ...workflow.MissedSlots) {
	if len(runs) == 0 {
		return
	}
	now := s.opts.Now().UTC()
	for i := range runs {
		runs[i].RecordedAt = now
		r := runs[i]
		s.opts.Metrics.Misfires.Add(float64(r.Count))
		level.Warn(s.opts.Logger).Log("msg", "workflow_misfired", "trigger_id", r.TriggerID, "reason", r.Reason,
			"missed_slots", r.Count, "from", r.From.Format(time.RFC3339Nano), "to", r.To.Format(time.RFC3339Nano))
	}
	st := s.opts.Slots
	if st == nil {
		return
	}
	s.loops.Go(func() {
		for _, r := range runs {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fireTimeout)
			err := st.RecordMissedSlots(rctx, r)
			cancel()
			if err != nil {
				level.Error(s.opts.Logger).Log("msg", "missed slots not recorded", "trigger_id", r.TriggerID, "reason", r.Reason,
					"missed_slots", r.Count, "err", err)
			}
		}
	})
}

// planCatchUp stores the catch-up of the slots of h after since, under the
// ALL policy: runs, those not to run, recorded with the plan in one
// transaction, and due, those to run, leased to this replica until its
// first fire and a lease more. A replica whose plan loses to another's
// that covers later slots accounts again from the end of that one: the
// other plan's slots are its holder's, and only the slots after it, if any,
// this replica's. s.mu is held.
func (s *Scheduler) planCatchUp(h *held, since, pausedUntil time.Time, due []Fire, runs []workflow.MissedSlots, now time.Time) {
	c := &workflow.CatchUp{TriggerID: h.ct.TriggerID, DeploymentID: h.ct.DeploymentID, After: since, Last: since}
	for _, r := range runs {
		if r.To.After(c.Last) {
			c.Last = r.To
		}
	}
	for _, f := range due {
		c.Fires = append(c.Fires, workflow.CatchUpFire{Slot: f.Slot, At: f.At})
		if f.Slot.After(c.Last) {
			c.Last = f.Slot
		}
	}
	recorded := now.UTC()
	for i := range runs {
		runs[i].RecordedAt = recorded
	}
	var times []int64
	lease := s.opts.CatchupLease
	if len(due) > 0 {
		times = catchupTimes(now.Add(due[0].At.Sub(due[0].Slot)), len(due))
		lease += time.Unix(0, times[0]).Sub(now)
	}
	ctx, cancel := context.WithTimeout(s.ctx, fireTimeout)
	covered, ok, err := s.opts.CatchUps.PlanCatchUp(ctx, c, runs, s.opts.InstanceID, lease)
	cancel()
	switch {
	case err != nil:
		level.Error(s.opts.Logger).Log("msg", "catch-up not planned; its slots stay unaccounted until a replica plans them",
			"trigger_id", h.ct.TriggerID, "err", err)
	case !ok && covered.After(since):
		s.catchUp(h, covered, pausedUntil)
	case ok:
		for _, r := range runs {
			s.opts.Metrics.Misfires.Add(float64(r.Count))
			level.Warn(s.opts.Logger).Log("msg", "workflow_misfired", "trigger_id", r.TriggerID, "reason", r.Reason,
				"missed_slots", r.Count, "from", r.From.Format(time.RFC3339Nano), "to", r.To.Format(time.RFC3339Nano))
		}
		if len(due) > 0 {
			s.scheduleCatchUp(h, &catchupJob{s: s, h: h, fires: due, times: times, plan: c})
		}
	}
}

// catchupTimes are n fire times, catchupSpacing apart, the first one
// catchupSpacing after start.
func catchupTimes(start time.Time, n int) []int64 {
	times := make([]int64, n)
	for i := range times {
		times[i] = start.Add(time.Duration(i+1) * catchupSpacing).UnixNano()
	}
	return times
}

// catchUpAll fires due, a trigger's missed slots inside its catch-up
// window, oldest first, on a job of their own: the first after the jitter
// of the oldest, so that the triggers of a replica that comes back start
// their catch-up spread as their slots are, then one every catchupSpacing.
// They were judged against the window now, and are not judged again when
// they fire. s.mu is held.
func (s *Scheduler) catchUpAll(h *held, due []Fire, now time.Time, plan *workflow.CatchUp) {
	times := catchupTimes(now.Add(due[0].At.Sub(due[0].Slot)), len(due))
	s.scheduleCatchUp(h, &catchupJob{s: s, h: h, fires: due, times: times, plan: plan})
}

// scheduleCatchUp puts j on go-quartz, replacing the trigger's catch-up job
// if it has one. s.mu is held.
func (s *Scheduler) scheduleCatchUp(h *held, j *catchupJob) {
	times := j.times
	opts := quartz.NewDefaultJobDetailOptions()
	opts.Replace = true
	detail := quartz.NewJobDetailWithOptions(j, catchupKey(h.ct.TriggerID), opts)
	if err := s.quartz.ScheduleJob(detail, catchupTrigger(times)); err != nil {
		level.Error(s.opts.Logger).Log("msg", "catch-up not scheduled", "trigger_id", h.ct.TriggerID, "err", err)
	}
}

func catchupKey(triggerID string) *quartz.JobKey { return quartz.NewJobKey(triggerID + "/catch-up") }

// catchupTrigger fires at its times, in Unix nanoseconds, ascending.
type catchupTrigger []int64

var errCaughtUp = errors.New("catch-up done")

func (c catchupTrigger) NextFireTime(prev int64) (int64, error) {
	for _, t := range c {
		if t > prev {
			return t, nil
		}
	}
	return 0, errors.Join(quartz.ErrTriggerExpired, errCaughtUp)
}

func (c catchupTrigger) Description() string { return "CatchupTrigger" }

// catchupJob fires a trigger's missed slots, one per run of the job. With a
// plan, a stored one, it records its progress after each fire and extends
// its lease to the next fire and a lease more; once another replica took
// the plan over (lost), it fires no more.
type catchupJob struct {
	s     *Scheduler
	h     *held
	fires []Fire
	times []int64
	plan  *workflow.CatchUp
	lost  atomic.Bool
}

func (j *catchupJob) Execute(ctx context.Context) error {
	md, ok := ctx.Value(quartz.JobMetadataContextKey).(quartz.JobMetadata)
	if !ok {
		return errors.New("scheduling: catch-up job ran without its run time")
	}
	for i, t := range j.times {
		if t != md.RunTime || j.lost.Load() {
			continue
		}
		// Not advanced: the plan's lease runs out and the trigger's owner
		// takes the rest of it over.
		if !j.s.mayFire(j.h.ct.TriggerID) {
			return nil
		}
		j.s.fireWithRetries(ctx, j.h, j.fires[i].Slot, j.fires[i].At, false)
		if j.plan != nil {
			j.advance(ctx, i)
		}
		return nil
	}
	return nil
}

// advance records that the plan's fire of j.fires[i] ran.
func (j *catchupJob) advance(ctx context.Context, i int) {
	lease := j.s.opts.CatchupLease
	if i+1 < len(j.times) {
		lease += time.Unix(0, j.times[i+1]).Sub(time.Unix(0, j.times[i]))
	}
	fired := len(j.plan.Fires) - len(j.fires) + i + 1
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fireTimeout)
	defer cancel()
	err := j.s.opts.CatchUps.AdvanceCatchUp(actx, j.plan.TriggerID, j.plan.After, j.s.opts.InstanceID, fired, lease)
	switch {
	case errors.Is(err, store.ErrStale):
		j.lost.Store(true)
		level.Warn(j.s.opts.Logger).Log("msg", "catch-up taken over by another replica", "trigger_id", j.plan.TriggerID)
	case err != nil:
		level.Warn(j.s.opts.Logger).Log("msg", "catch-up progress not recorded; a replica that takes it over redoes the fire, which the slot's key keeps to one run",
			"trigger_id", j.plan.TriggerID, "err", err)
	}
}

// takeOverLoop takes over, every half lease, the catch-up plans whose
// holder's lease ran out, and prunes the finished ones.
func (s *Scheduler) takeOverLoop(ctx context.Context) {
	startstop.Every(ctx, s.opts.CatchupLease/2, func(ctx context.Context) {
		s.TakeOverCatchUps(ctx)
		if _, err := s.opts.CatchUps.PruneCatchUps(ctx, s.opts.Now().Add(-catchupRetention)); err != nil {
			level.Warn(s.opts.Logger).Log("msg", "finished catch-ups not pruned", "err", err)
		}
	})
}

// TakeOverCatchUps claims the catch-up plans whose lease ran out and fires
// the rest of their slots from now, one every catchupSpacing: they were
// judged inside the window when planned, and are not judged again. A plan
// of a trigger this replica does not hold (another replica's, when they
// share the triggers) is given back, which puts it last in the claim order,
// and the pass goes on until a plan given back comes round again: so each
// pass of each replica sees every open plan, and the owner of a plan takes
// it over at its first pass.
func (s *Scheduler) TakeOverCatchUps(ctx context.Context) {
	givenBack := map[string]bool{}
	for {
		c, err := s.opts.CatchUps.ClaimCatchUp(ctx, s.opts.InstanceID, s.opts.CatchupLease+catchupSpacing)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return
		case err != nil:
			level.Warn(s.opts.Logger).Log("msg", "catch-up not claimed", "err", err)
			return
		}
		s.mu.Lock()
		h := s.held[c.TriggerID]
		if h != nil && s.quartz != nil && c.Fired < len(c.Fires) {
			rest := c.Fires[c.Fired:]
			fires := make([]Fire, len(rest))
			for i, f := range rest {
				fires[i] = Fire{Trigger: h.ct, Slot: f.Slot, At: f.At}
			}
			level.Info(s.opts.Logger).Log("msg", "catch-up taken over", "trigger_id", c.TriggerID, "slots_left", len(rest))
			s.scheduleCatchUp(h, &catchupJob{s: s, h: h, fires: fires, times: catchupTimes(s.opts.Now(), len(fires)), plan: c})
		}
		s.mu.Unlock()
		// A plan whose fires all ran is marked done by this call; one of a
		// trigger not held is given back.
		if h == nil || c.Fired >= len(c.Fires) {
			if err := s.opts.CatchUps.AdvanceCatchUp(ctx, c.TriggerID, c.After, s.opts.InstanceID, c.Fired, 0); err != nil {
				level.Warn(s.opts.Logger).Log("msg", "catch-up not given back; its lease runs out", "err", err)
				return
			}
			if h == nil {
				if givenBack[c.TriggerID] {
					return
				}
				givenBack[c.TriggerID] = true
			}
		}
	}
}

func (j *catchupJob) Description() string { return "catch-up of cron trigger " + j.h.ct.TriggerID }

// exhausted reports whether the trigger has run its max_runs before slot:
// counted in the database, so that every replica stops at the same slot.
func (s *Scheduler) exhausted(ctx context.Context, h *held, slot time.Time) (bool, error) {
	if h.ct.Spec.MaxRuns <= 0 || s.opts.Slots == nil {
		return false, nil
	}
	n, err := s.opts.Slots.CountSlotRuns(ctx, h.ct.TriggerID, slot)
	return n >= int64(h.ct.Spec.MaxRuns), err
}
