package cron

import (
	"errors"
	"fmt"
	"time"

	"github.com/reugn/go-quartz/quartz"
)

// Why Next does not hand loc to go-quartz: its CronTrigger steps through
// wall-clock fields and turns the result into an instant with time.Date,
// whose choice of offset for a missing or repeated local time is not
// guaranteed and, in Go 1.26, differs from zone to zone (for New York's gap
// it picks the earlier instant, not 03:30 EDT). Run across the 2026
// transitions (TestGoQuartzAcrossDST keeps the evidence):
//
//   - America/New_York, spring forward: a time in the gap lands an hour
//     BEFORE it, in EST. "30 2 * * *" fires at 01:30 EST, before 02:30 could
//     ever come; "0 */2 * * *" fires at 01:00 EST, an hour it never names;
//     and "*/30 * * * *" after 01:30 EST finds both candidates behind it and
//     returns ErrTriggerExpired, so the job silently leaves the scheduler.
//   - America/New_York, fall back: the repeated hour fires once (01:00 EDT,
//     not 01:00 EST), so wildcard-hour jobs lose a run.
//   - Europe/London and Australia/Lord_Howe, fall back: a repeated time gets
//     its SECOND occurrence ("30 1 * * *" fires at 01:30 GMT, an hour late;
//     "45 1 * * *" at 01:45 +10:30, half an hour late), and wildcard-hour
//     jobs lose the first occurrence instead.
//   - Australia/Lord_Howe, spring forward: "0 * * * *" and "0 */2 * * *"
//     fire at 02:30 +11:00 for the 02:00 that does not exist.
//
// It is right where a gap lands after itself: fixed times in the London and
// Lord Howe gaps ("30 1 * * *" at 02:30 BST, "15 2 * * *" at 02:45 +11:00),
// and on every day without a transition. Its arithmetic has no such trouble
// in UTC, which has no transitions; so the schedule's wall-clock times are
// enumerated there and mapped to instants in loc by the rules of Next.

// maxZoneChanges bounds Next's walk through a location's offset changes:
// about 250 years of twice-yearly DST, more than any slot is ever apart.
const maxZoneChanges = 512

// maxFold bounds how far the clocks ever went back at once: a day, when
// Alaska moved from Russian to American time in 1867; only slots that close
// to a zone's end are checked for a repeated time.
const maxFold = 48 * time.Hour

// Next returns the first nominal slot strictly after the instant after, in
// loc (nil means UTC), at second resolution, under the default DST policy.
// Across a DST change it follows Vixie cron: a run never fires early, nor
// twice for one slot. A fixed-time schedule fires once per matching local
// day: a local time skipped by the change fires as long after the change as
// it was meant to fire after the last moment before it (02:30 on a 02:00 to
// 03:00 jump fires at 03:30), a repeated one at its first occurrence, and
// slots that land on the same instant fire once. A schedule whose hour field
// is "*" or a step over the whole day follows elapsed time instead: skipped
// times do not occur and a repeated hour fires again. Next fails, wrapping
// ErrEnded, when the schedule has no slot left, e.g. when its year field lies
// in the past.
func (s *Schedule) Next(after time.Time, loc *time.Location) (time.Time, error) {
	slot, err := s.NextSlot(after, loc, DST{})
	return slot.Time, err
}

// NextSlot is Next under the DST policy dst, which applies to fixed-time
// schedules only, and tells how DST affected the slot it returns.
func (s *Schedule) NextSlot(after time.Time, loc *time.Location, dst DST) (Slot, error) {
	if loc == nil {
		loc = time.UTC
	}
	next, err := s.next(after, loc, dst)
	if err != nil {
		return Slot{}, fmt.Errorf("cron %q: no slot after %s: %w", s.expression, after.Format(time.RFC3339), err)
	}
	next.Time = next.Time.In(loc)
	return next, nil
}

// zone is a span of instants over which a location keeps one UTC offset.
type zone struct {
	offset time.Duration
	// start and end bound the span, end excluded; either is zero when the
	// span is unbounded on that side.
	start, end time.Time
}

func zoneAt(t time.Time, loc *time.Location) zone {
	lt := t.In(loc)
	_, offset := lt.Zone()
	start, end := lt.ZoneBounds()
	return zone{offset: time.Duration(offset) * time.Second, start: start, end: end}
}

// next walks the location's zones forward from after. Within one zone local
// time runs in step with real time, so the zone's slots are the wall-clock
// times after its start in order; a zone's slots all come before the next
// zone's, so the first zone with a slot holds the answer.
func (s *Schedule) next(after time.Time, loc *time.Location, dst DST) (Slot, error) {
	z := zoneAt(after, loc)
	from := after
	for range maxZoneChanges {
		slot, ok, err := s.nextInZone(z, from, loc, dst)
		if err != nil || ok {
			return slot, err
		}
		// A zone without a slot has an end: an unbounded one holds every
		// wall-clock time after its start.
		from = z.end.Add(-time.Nanosecond)
		z = zoneAt(z.end, loc)
	}
	return Slot{}, fmt.Errorf("more than %d changes of UTC offset in %s before the next slot", maxZoneChanges, loc)
}

// nextInZone returns the first slot after from that falls in z; ok is false
// when z has none. from lies in z or a nanosecond before its start. It
// assumes, as holds for every real zone, that a zone lasts longer than the
// shifts at its ends.
func (s *Schedule) nextInZone(z zone, from time.Time, loc *time.Location, dst DST) (slot Slot, ok bool, err error) {
	// Only fixed-time slots care how the clock moved at z's ends; before is
	// the offset it had until z.start.
	fixedStart, fixedEnd := s.fixedTime && !z.start.IsZero(), s.fixedTime && !z.end.IsZero()
	var before time.Duration
	if fixedStart {
		before = zoneAt(z.start.Add(-time.Nanosecond), loc).offset
	}
	// The clock went back at z.start: z's instants until z.start+before-offset
	// show wall times that came once already, before z.start.
	wentBack := fixedStart && before > z.offset

	wall, err := s.nextWall(from.Add(z.offset))
	if err == nil && wentBack && dst.repeated() == RepeatedFirst && wall.Before(z.start.Add(before)) {
		// A fixed-time slot fires only at the first occurrence of its time.
		wall, err = s.nextWall(z.start.Add(before - time.Nanosecond))
	}
	if err == nil {
		slot = Slot{Time: wall.Add(-z.offset), Effect: Unaffected, wall: wall}
		ok = z.end.IsZero() || slot.Time.Before(z.end)
		switch {
		case wentBack && slot.Time.Before(z.start.Add(before-z.offset)):
			slot.Effect = SecondOccurrence
		case fixedEnd && ok && z.end.Sub(slot.Time) <= maxFold:
			// The clock goes back at z.end: z's instants from
			// z.end+after-offset on show wall times that come again after it.
			if after := zoneAt(z.end, loc).offset; after < z.offset && !slot.Time.Before(z.end.Add(after-z.offset)) {
				if dst.repeated() == RepeatedLast {
					// It fires at the second occurrence, in the next zone;
					// every later slot of z is a first occurrence too.
					ok = false
				} else {
					slot.Effect = FirstOccurrence
				}
			}
		}
	}
	if fixedStart && before < z.offset && dst.skipped() == SkippedShift {
		// The clock jumped forward at z.start. A fixed-time slot in the gap
		// keeps the offset it had before, which puts it the same distance
		// past z.start as it lay past the last wall time before the jump.
		gapWall, gapErr := s.nextWall(from.Add(before))
		if gapErr == nil && gapWall.Before(z.start.Add(z.offset)) {
			gapSlot := gapWall.Add(-before)
			if !ok || gapSlot.Before(slot.Time) {
				return Slot{Time: gapSlot, Effect: Shifted, wall: gapWall}, true, nil
			}
		}
	}
	return slot, ok, err
}

// nextWall returns the schedule's first wall-clock time strictly after wall,
// both read as UTC.
func (s *Schedule) nextWall(wall time.Time) (time.Time, error) {
	// go-quartz truncates to whole seconds; Unix rounds down, also before
	// 1970, so every slot it returns lies strictly after wall.
	ns, err := s.wall.NextFireTime(wall.Unix() * int64(time.Second))
	if errors.Is(err, quartz.ErrTriggerExpired) {
		return time.Time{}, ErrEnded
	}
	if err != nil {
		return time.Time{}, err
	}
	next := time.Unix(0, ns).UTC()
	if !next.After(wall) {
		// go-quartz's result overflowed int64 nanoseconds, past the year 2262.
		return time.Time{}, ErrEnded
	}
	return next, nil
}
