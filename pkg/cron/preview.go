package cron

import (
	"errors"
	"fmt"
	"time"
)

// LocalTimeLayout is how Upcoming.LocalTime writes a local date and time: it
// has no offset, since a skipped local time has none.
const LocalTimeLayout = "2006-01-02T15:04:05"

// Upcoming is one entry of a trigger's preview: a fire, or a slot that the
// SKIP policy drops.
type Upcoming struct {
	// Slot is the nominal slot (an execution's scheduled_time); for a
	// Skipped entry, the instant the clocks jumped.
	Slot time.Time
	// Fire is Slot plus the workflow's jitter; zero for a Skipped entry.
	Fire time.Time
	// LocalTime is the local date and time the expression names, in
	// LocalTimeLayout: Slot's own local time differs for Shifted and Skipped.
	LocalTime string
	Effect    Effect
	// Note says in a sentence what a daylight-saving change did to the slot;
	// empty when the slot is Unaffected.
	Note string
}

// Preview lists the trigger's next n fires at or after from, in order, with
// the slots the SKIP policy drops among them. ended reports that the schedule
// ran out before n fires.
func (t *Trigger) Preview(from time.Time, n int) (list []Upcoming, ended bool, err error) {
	first, _, err := t.NextFire(from.Add(-time.Nanosecond))
	if errors.Is(err, ErrEnded) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	// The first fire's slot again, with how DST touched it.
	slot, err := t.nextSlot(first.Add(-time.Nanosecond))
	if err != nil {
		return nil, false, err
	}
	after := from.Add(-time.Nanosecond)
	for range n {
		list = append(list, t.dropped(after, slot.Time)...)
		next, nextErr := t.nextSlot(slot.Time)
		list = append(list, Upcoming{
			Slot:      slot.Time,
			Fire:      slot.Time.Add(t.offset(slot.Time, next.Time, nextErr)),
			LocalTime: slot.wall.Format(LocalTimeLayout),
			Effect:    slot.Effect,
			Note:      t.note(slot),
		})
		if errors.Is(nextErr, ErrEnded) {
			return list, true, nil
		}
		if nextErr != nil {
			return nil, false, nextErr
		}
		after, slot = slot.Time, next
	}
	return list, false, nil
}

// dropped lists the slots in (after, until] that the SKIP policy drops: the
// local times that a jump of the clocks in that span skipped.
func (t *Trigger) dropped(after, until time.Time) []Upcoming {
	if !t.schedule.fixedTime || t.rules.skipped() != SkippedSkip {
		return nil
	}
	var out []Upcoming
	for z := zoneAt(after, t.loc); !z.end.IsZero() && !z.end.After(until); {
		jump, next := z.end, zoneAt(z.end, t.loc)
		inBounds := !jump.Before(t.rules.Start) && (t.rules.End.IsZero() || jump.Before(t.rules.End))
		if next.offset > z.offset && inBounds {
			gapEnd := jump.Add(next.offset)
			for wall, err := t.schedule.nextWall(jump.Add(z.offset - time.Nanosecond)); err == nil && wall.Before(gapEnd); wall, err = t.schedule.nextWall(wall) {
				out = append(out, Upcoming{
					Slot:      jump.In(t.loc),
					LocalTime: wall.Format(LocalTimeLayout),
					Effect:    Skipped,
					Note:      t.gapNote(wall, jump, z.offset, next.offset) + "; it does not fire (skipped-time policy SKIP)",
				})
			}
		}
		z = next
	}
	return out
}

// note says what a daylight-saving change did to slot, or "" when nothing.
func (t *Trigger) note(slot Slot) string {
	z := zoneAt(slot.Time, t.loc)
	at := slot.Time.In(t.loc).Format("15:04 -07:00")
	switch slot.Effect {
	case Shifted:
		before := zoneAt(z.start.Add(-time.Nanosecond), t.loc).offset
		return t.gapNote(slot.wall, z.start, before, z.offset) + "; it fires at " + at + " instead (skipped-time policy SHIFT)"
	case FirstOccurrence:
		after := zoneAt(z.end, t.loc).offset
		n := t.foldNote(slot.wall, z.end, z.offset, after) + "; this is the first, at " + at
		if t.rules.repeated() == RepeatedBoth {
			return n + ", and the second fires too (repeated-time policy BOTH)"
		}
		return n + ", and the second does not fire (repeated-time policy FIRST)"
	case SecondOccurrence:
		before := zoneAt(z.start.Add(-time.Nanosecond), t.loc).offset
		n := t.foldNote(slot.wall, z.start, before, z.offset) + "; this is the second, at " + at
		if t.rules.repeated() == RepeatedBoth {
			return n + ", and the first fired too (repeated-time policy BOTH)"
		}
		return n + ", and the first did not fire (repeated-time policy LAST)"
	case Unaffected, Skipped:
		// An unaffected slot needs no note; a skipped one gets its own where
		// the preview lists the gap.
	}
	return ""
}

// gapNote and foldNote describe a change of the clocks at instant at from
// offset from to offset to, and the local time wall (read as UTC) it touched.
func (t *Trigger) gapNote(wall, at time.Time, from, to time.Duration) string {
	return fmt.Sprintf("%s does not occur on %s in %s: the clocks jump from %s to %s",
		clock(wall), wall.Format(time.DateOnly), t.loc, clock(at.UTC().Add(from)), clock(at.UTC().Add(to)))
}

func (t *Trigger) foldNote(wall, at time.Time, from, to time.Duration) string {
	return fmt.Sprintf("%s occurs twice on %s in %s: the clocks go back from %s to %s",
		clock(wall), wall.Format(time.DateOnly), t.loc, clock(at.UTC().Add(from)), clock(at.UTC().Add(to)))
}

// clock writes a wall time (read as UTC) as 15:04, with seconds when it has any.
func clock(wall time.Time) string {
	if wall.Second() != 0 {
		return wall.Format("15:04:05")
	}
	return wall.Format("15:04")
}
