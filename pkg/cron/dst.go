package cron

import (
	"fmt"
	"time"

	"github.com/reugn/go-quartz/quartz"
)

// ErrEnded is in the chain of the error of a schedule or trigger that has no
// slot left: its year field lies in the past, or its end bound has passed. It
// wraps quartz.ErrTriggerExpired, which tells go-quartz to drop the job.
var ErrEnded = fmt.Errorf("the schedule has no slot left: %w", quartz.ErrTriggerExpired)

// RepeatedTime is what a fixed-time schedule does with a local time that
// occurs twice, when the clocks go back. Its values are the names the API
// and the store use; the empty one means RepeatedFirst.
type RepeatedTime string

// Policies for a repeated local time.
const (
	// RepeatedFirst fires at the first occurrence only: the rule of Vixie cron.
	RepeatedFirst RepeatedTime = "FIRST"
	// RepeatedLast fires at the second occurrence only.
	RepeatedLast RepeatedTime = "LAST"
	// RepeatedBoth fires at both.
	RepeatedBoth RepeatedTime = "BOTH"
)

// SkippedTime is what a fixed-time schedule does with a local time that does
// not occur, when the clocks jump forward. Its values are the names the API
// and the store use; the empty one means SkippedShift.
type SkippedTime string

// Policies for a skipped local time.
const (
	// SkippedShift fires as long after the jump as the time lay after the
	// last moment before it: the rule of Vixie cron.
	SkippedShift SkippedTime = "SHIFT"
	// SkippedSkip does not fire that day.
	SkippedSkip SkippedTime = "SKIP"
)

// Valid reports whether r names a policy; empty does, the default.
func (r RepeatedTime) Valid() bool {
	return r == "" || r == RepeatedFirst || r == RepeatedLast || r == RepeatedBoth
}

// Valid reports whether s names a policy; empty does, the default.
func (s SkippedTime) Valid() bool {
	return s == "" || s == SkippedShift || s == SkippedSkip
}

// DST is a fixed-time schedule's policy at daylight-saving changes. Its zero
// value is RepeatedFirst and SkippedShift. Schedules whose hour field is "*"
// or a step over the whole day follow elapsed time whatever the policy.
type DST struct {
	Repeated RepeatedTime
	Skipped  SkippedTime
}

func (d DST) repeated() RepeatedTime {
	if d.Repeated == "" {
		return RepeatedFirst
	}
	return d.Repeated
}

func (d DST) skipped() SkippedTime {
	if d.Skipped == "" {
		return SkippedShift
	}
	return d.Skipped
}

// Effect is how a daylight-saving change touched a slot. Its values are the
// names the API uses.
type Effect string

// Effects of a daylight-saving change on a slot.
const (
	// Unaffected slots are at the local time the expression names.
	Unaffected Effect = "NONE"
	// Shifted slots name a local time that did not occur and fire past the
	// jump instead (SkippedShift).
	Shifted Effect = "SHIFTED"
	// Skipped slots name a local time that did not occur and do not fire
	// (SkippedSkip); only a preview lists them.
	Skipped Effect = "SKIPPED"
	// FirstOccurrence and SecondOccurrence slots name a local time that
	// occurred twice and fire at its first and its second occurrence.
	FirstOccurrence  Effect = "REPEATED_FIRST"
	SecondOccurrence Effect = "REPEATED_SECOND"
)

// Slot is a nominal slot and how DST touched it.
type Slot struct {
	Time   time.Time
	Effect Effect
	// wall is the local time the expression names, read as UTC: Time's own
	// wall clock differs from it for a Shifted slot.
	wall time.Time
}
