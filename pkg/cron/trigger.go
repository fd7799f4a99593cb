package cron

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/reugn/go-quartz/quartz"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// ErrNoSlot is returned by Trigger.Slot for an instant at which no slot fires.
var ErrNoSlot = errors.New("no slot fires at this instant")

// Trigger is a quartz.Trigger that fires each slot of a schedule, in a time
// zone, under its rules, delayed by a workflow's hash jitter (ARCHITECTURE.md
// "Hash jitter"): slot S fires at S + Offset(workflowID, window, gap), gap
// being the time to the slot after S, or window after the last slot. Fires
// thus keep the slots' order, each before the next slot, at millisecond
// resolution. A Trigger is immutable and safe for concurrent use.
type Trigger struct {
	schedule   *Schedule
	loc        *time.Location
	workflowID string
	window     time.Duration
	rules      Rules
}

var _ quartz.Trigger = (*Trigger)(nil)

// Rules are a trigger's DST policy and the bounds of its slots. The zero
// value is the default policy, unbounded.
type Rules struct {
	DST
	// Start and End bound the nominal slots to [Start, End); a zero one
	// leaves that side open.
	Start, End time.Time
}

// NewRules builds Rules from their stored form: policy names (empty means
// the default) and optional bounds.
func NewRules(repeated, skipped string, start, end *time.Time) Rules {
	r := Rules{DST: DST{Repeated: RepeatedTime(repeated), Skipped: SkippedTime(skipped)}}
	if start != nil {
		r.Start = *start
	}
	if end != nil {
		r.End = *end
	}
	return r
}

// NewTrigger returns the trigger of workflowID for s in loc (nil means UTC)
// under rules, with the given jitter window; a window under one second
// disables jitter.
func NewTrigger(s *Schedule, loc *time.Location, workflowID string, window time.Duration, rules Rules) *Trigger {
	if loc == nil {
		loc = time.UTC
	}
	return &Trigger{schedule: s, loc: loc, workflowID: workflowID, window: max(window, 0), rules: rules}
}

// NextSlot returns the first nominal slot strictly later than after, under the
// trigger's rules, or an error wrapping ErrEnded when none is left.
func (t *Trigger) NextSlot(after time.Time) (time.Time, error) {
	slot, err := t.nextSlot(after)
	return slot.Time, err
}

func (t *Trigger) nextSlot(after time.Time) (Slot, error) {
	if start := t.rules.Start; !start.IsZero() && after.Before(start) {
		after = start.Add(-time.Nanosecond)
	}
	slot, err := t.schedule.NextSlot(after, t.loc, t.rules.DST)
	if err != nil {
		return Slot{}, err
	}
	if end := t.rules.End; !end.IsZero() && !slot.Time.Before(end) {
		return Slot{}, fmt.Errorf("cron %q: no slot before the end %s: %w", t.schedule.Expression(), end.Format(time.RFC3339), ErrEnded)
	}
	return slot, nil
}

// NextFireTime implements quartz.Trigger: it returns, in Unix nanoseconds,
// the first fire strictly after prev, or an error wrapping ErrEnded (and so
// quartz.ErrTriggerExpired) when no slot is left.
func (t *Trigger) NextFireTime(prev int64) (int64, error) {
	_, fire, err := t.NextFire(time.Unix(0, prev))
	if err != nil {
		return 0, err
	}
	return fire.UnixNano(), nil
}

// Description implements quartz.Trigger. It names the expression, zone,
// workflow and window, quoting the free-form parts so that no two triggers
// share a description.
func (t *Trigger) Description() string {
	d := "JitteredCronTrigger" + quartz.Sep + strconv.Quote(t.schedule.Expression()) +
		quartz.Sep + t.loc.String() + quartz.Sep + strconv.Quote(t.workflowID) + quartz.Sep + t.window.String()
	if t.rules != (Rules{}) {
		d += quartz.Sep + string(t.rules.repeated()) + quartz.Sep + string(t.rules.skipped()) +
			quartz.Sep + bound(t.rules.Start) + quartz.Sep + bound(t.rules.End)
	}
	return d
}

func bound(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// NextFire returns the first fire strictly after after, with the nominal slot
// it belongs to (the execution's scheduled_time). The slot may lie before
// after when its jittered fire is still ahead. Both are in the trigger's zone.
func (t *Trigger) NextFire(after time.Time) (slot, fire time.Time, err error) {
	// Every slot fires less than the window after itself and before the slot
	// that follows it, so among the slots up to after only the last one can
	// still have its fire ahead, and only if it lies within the window.
	slot, err = t.NextSlot(after.Add(-t.window))
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if !slot.After(after) {
		slot = t.lastUpTo(slot, after)
		next, nextErr := t.NextSlot(slot)
		if fire = slot.Add(t.offset(slot, next, nextErr)); fire.After(after) {
			return slot, fire, nil
		}
		if nextErr != nil {
			return time.Time{}, time.Time{}, nextErr
		}
		slot = next
	}
	next, nextErr := t.NextSlot(slot)
	return slot, slot.Add(t.offset(slot, next, nextErr)), nil
}

// Slot returns the nominal slot that fires at fire, for a job that learns only
// its fire time from the scheduler. It fails, wrapping ErrNoSlot, when fire is
// not one of the trigger's fires, or wrapping ErrEnded when no fire is left
// from fire on.
func (t *Trigger) Slot(fire time.Time) (time.Time, error) {
	slot, got, err := t.NextFire(fire.Add(-time.Nanosecond))
	if err != nil {
		return time.Time{}, err
	}
	if !got.Equal(fire) {
		return time.Time{}, fmt.Errorf("%s at %s: %w", t.Description(), fire.Format(time.RFC3339Nano), ErrNoSlot)
	}
	return slot, nil
}

// offset is the jitter of slot, whose successor is next unless nextErr says
// there is none.
func (t *Trigger) offset(slot, next time.Time, nextErr error) time.Duration {
	gap := t.window
	if nextErr == nil {
		gap = next.Sub(slot)
	}
	return Offset(t.workflowID, t.window, gap)
}

// lastUpTo returns the last slot at or before after, given slot, one of them.
// It bisects the time between, so that an every-second schedule costs a few
// steps, not one per second of the window.
func (t *Trigger) lastUpTo(slot, after time.Time) time.Time {
	// The last slot lies in [slot, hi]; slots fall on whole seconds, so once
	// that span is under a second it is slot. Each step halves the span.
	hi := after
	for hi.Sub(slot) >= time.Second {
		mid := slot.Add(hi.Sub(slot) / 2)
		if s, err := t.NextSlot(mid); err == nil && !s.After(after) {
			slot = s
		} else {
			hi = mid
		}
	}
	return slot
}

// ForSpec returns the trigger of workflowID for spec, a cron trigger as it is
// stored; a spec without a jitter window of its own takes window. The
// scheduler, the previews and the schedule report all build their triggers
// this way, so that they agree on every fire.
func ForSpec(workflowID string, spec *workflow.CronSpec, window time.Duration) (*Trigger, error) {
	sched, err := Parse(spec.Expression)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(spec.Timezone)
	if err != nil {
		return nil, err
	}
	if spec.JitterWindowSeconds != nil {
		window = time.Duration(*spec.JitterWindowSeconds) * time.Second
	}
	rules := NewRules(spec.RepeatedTimePolicy, spec.SkippedTimePolicy, spec.StartTime, spec.EndTime)
	return NewTrigger(sched, loc, workflowID, window, rules), nil
}
