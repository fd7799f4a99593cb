package scheduling

import (
	"context"
	"errors"
	"time"

	"github.com/go-kit/log/level"
	"github.com/reugn/go-quartz/quartz"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// SlotStore records the slots that never ran and counts those that did:
// with the executions, the account of every slot.
type SlotStore interface {
	RecordMissedSlots(ctx context.Context, m workflow.MissedSlots) error
	CountSlotRuns(ctx context.Context, triggerID string, before time.Time) (int64, error)
}

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
	case len(due) == 0:
	case policy == workflow.CatchupAll:
		s.catchUpAll(h, due, now)
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

// catchUpAll fires due, a trigger's missed slots inside its catch-up
// window, oldest first, on a job of their own: the first after the jitter
// of the oldest, so that the triggers of a replica that comes back start
// their catch-up spread as their slots are, then one every catchupSpacing.
// They were judged against the window now, and are not judged again when
// they fire. s.mu is held.
func (s *Scheduler) catchUpAll(h *held, due []Fire, now time.Time) {
	start := now.Add(due[0].At.Sub(due[0].Slot))
	times := make([]int64, len(due))
	for i := range due {
		times[i] = start.Add(time.Duration(i+1) * catchupSpacing).UnixNano()
	}
	opts := quartz.NewDefaultJobDetailOptions()
	opts.Replace = true
	detail := quartz.NewJobDetailWithOptions(&catchupJob{s: s, h: h, fires: due, times: times}, catchupKey(h.ct.TriggerID), opts)
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

// catchupJob fires a trigger's missed slots, one per run of the job.
type catchupJob struct {
	s     *Scheduler
	h     *held
	fires []Fire
	times []int64
}

func (j *catchupJob) Execute(ctx context.Context) error {
	md, ok := ctx.Value(quartz.JobMetadataContextKey).(quartz.JobMetadata)
	if !ok {
		return errors.New("scheduling: catch-up job ran without its run time")
	}
	for i, t := range j.times {
		if t == md.RunTime {
			j.s.fireWithRetries(ctx, j.h, j.fires[i].Slot, j.fires[i].At, false)
			return nil
		}
	}
	return nil
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
