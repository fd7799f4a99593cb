package cron

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/reugn/go-quartz/quartz"
	"github.com/stretchr/testify/require"
)

const defaultWindow = 300 * time.Second

func mustTrigger(t *testing.T, expr string, loc *time.Location, id string, window time.Duration) *Trigger {
	t.Helper()
	s, err := Parse(expr)
	require.NoError(t, err)
	return NewTrigger(s, loc, id, window, Rules{})
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return at
}

// TestTriggerNextFire uses the workflow id "wf", whose hash gives 119 s in a
// 300 s window, 59 s in a 60 s one, and a 82 ms spread (jitterVectors).
func TestTriggerNextFire(t *testing.T) {
	t.Parallel()
	newYork := mustLoad(t, "America/New_York")
	for _, tc := range []struct {
		name, expr       string
		loc              *time.Location
		window           time.Duration
		after            string
		wantSlot, wantAt string
	}{
		{
			"hourly, before the slot", "0 * * * *", time.UTC, defaultWindow,
			"2026-01-01T09:30:00Z", "2026-01-01T10:00:00Z", "2026-01-01T10:01:59.082Z",
		},
		{
			"hourly, just after the slot, fire ahead", "0 * * * *", time.UTC, defaultWindow,
			"2026-01-01T10:00:00.5Z", "2026-01-01T10:00:00Z", "2026-01-01T10:01:59.082Z",
		},
		{
			"hourly, a millisecond before the fire", "0 * * * *", time.UTC, defaultWindow,
			"2026-01-01T10:01:59.081Z", "2026-01-01T10:00:00Z", "2026-01-01T10:01:59.082Z",
		},
		{
			"hourly, at the fire", "0 * * * *", time.UTC, defaultWindow,
			"2026-01-01T10:01:59.082Z", "2026-01-01T11:00:00Z", "2026-01-01T11:01:59.082Z",
		},
		{
			"hourly, window 0", "0 * * * *", time.UTC, 0,
			"2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2026-01-01T11:00:00Z",
		},
		{
			"hourly, negative window", "0 * * * *", nil, -time.Minute,
			"2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2026-01-01T11:00:00Z",
		},
		{
			"every minute, clamped to the gap", "* * * * *", time.UTC, defaultWindow,
			"2026-01-01T10:00:30Z", "2026-01-01T10:00:00Z", "2026-01-01T10:00:59.082Z",
		},
		{
			"every minute, at the fire", "* * * * *", time.UTC, defaultWindow,
			"2026-01-01T10:00:59.082Z", "2026-01-01T10:01:00Z", "2026-01-01T10:01:59.082Z",
		},
		{
			"every second, fire ahead", "* * * * * ?", time.UTC, defaultWindow,
			"2026-01-01T10:00:00.05Z", "2026-01-01T10:00:00Z", "2026-01-01T10:00:00.082Z",
		},
		{
			"every second, fire passed", "* * * * * ?", time.UTC, defaultWindow,
			"2026-01-01T10:00:00.5Z", "2026-01-01T10:00:01Z", "2026-01-01T10:00:01.082Z",
		},
		{
			// 00:01 is followed by a day-long gap, 00:00 by a minute: the
			// slot found behind after is further back than the gap ahead.
			"uneven slots, long gap behind", "0,1 0 * * *", time.UTC, defaultWindow,
			"2026-01-01T00:02:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:59.082Z",
		},
		{
			"uneven slots, short gap", "0,1 0 * * *", time.UTC, defaultWindow,
			"2025-12-31T23:59:00Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:59.082Z",
		},
		{
			"last slot takes the window as its gap", "0 0 12 1 1 ? 2030", time.UTC, defaultWindow,
			"2030-01-01T12:00:30Z", "2030-01-01T12:00:00Z", "2030-01-01T12:01:59.082Z",
		},
		{
			"spring forward, the gap's stand-in", "30 2 * * *", newYork, defaultWindow,
			"2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00", "2026-03-08T03:31:59.082-04:00",
		},
		{
			"fall back, hourly fires in the repeated hour", "0 * * * *", newYork, defaultWindow,
			"2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:01:59.082-05:00",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trigger := mustTrigger(t, tc.expr, tc.loc, "wf", tc.window)
			slot, fire, err := trigger.NextFire(mustTime(t, tc.after))
			require.NoError(t, err)
			want := []time.Time{mustTime(t, tc.wantSlot), mustTime(t, tc.wantAt)}
			if diff := cmp.Diff(want, []time.Time{slot, fire}, cmp.Comparer(time.Time.Equal)); diff != "" {
				t.Errorf("NextFire slot, fire (-want +got):\n%s", diff)
			}
			wantLoc := tc.loc
			if wantLoc == nil {
				wantLoc = time.UTC
			}
			require.Equal(t, wantLoc, slot.Location())

			next, err := trigger.NextFireTime(mustTime(t, tc.after).UnixNano())
			require.NoError(t, err)
			require.Equal(t, fire.UnixNano(), next)
		})
	}
}

// bruteNextFire finds the first fire later than the time after, the long
// way: every slot from a window before it, with its own gap.
func bruteNextFire(t *testing.T, s *Schedule, loc *time.Location, id string, window time.Duration, after time.Time) (slot, fire time.Time) {
	t.Helper()
	slot, err := s.Next(after.Add(-window-time.Second), loc)
	require.NoError(t, err)
	for range 100_000 {
		next, err := s.Next(slot, loc)
		require.NoError(t, err)
		if fire := slot.Add(Offset(id, window, next.Sub(slot))); fire.After(after) {
			return slot, fire
		}
		slot = next
	}
	require.FailNow(t, "no fire found")
	return
}

// TestTriggerMatchesBruteForce compares NextFire with bruteNextFire at
// instants spread over a day around a DST change, for schedules dense and
// sparse, even and uneven.
func TestTriggerMatchesBruteForce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr, zone string
		window     time.Duration
		start      string
		step       time.Duration
	}{
		{"* * * * * ?", "UTC", defaultWindow, "2026-01-01T00:00:00Z", 7*time.Minute + 3300*time.Millisecond},
		{"*/7 * * * * ?", "Europe/London", time.Hour, "2026-03-28T23:00:00Z", 13*time.Minute + 1700*time.Millisecond},
		{"* * * * *", "America/New_York", defaultWindow, "2026-03-08T00:00:00-05:00", 11*time.Minute + 4100*time.Millisecond},
		{"*/30 * * * *", "America/New_York", time.Hour, "2026-11-01T00:00:00-04:00", 3*time.Minute + 900*time.Millisecond},
		{"0-9 0 0 * * ?", "UTC", time.Hour, "2026-01-01T00:00:00Z", 20*time.Second + 300*time.Millisecond},
		{"0,1,30 * * * *", "Australia/Lord_Howe", defaultWindow, "2026-04-05T00:00:00+11:00", 37*time.Second + 100*time.Millisecond},
		{"30 2,3 * * *", "America/New_York", 2 * time.Hour, "2026-03-08T01:00:00-05:00", 4*time.Minute + 500*time.Millisecond},
	} {
		t.Run(tc.zone+"/"+tc.expr, func(t *testing.T) {
			t.Parallel()
			loc := mustLoad(t, tc.zone)
			s, err := Parse(tc.expr)
			require.NoError(t, err)
			for _, id := range []string{"wf", "a", "order-sync", "tenant:42:wf-7"} {
				trigger := NewTrigger(s, loc, id, tc.window, Rules{})
				after := mustTime(t, tc.start)
				for range 60 {
					wantSlot, wantFire := bruteNextFire(t, s, loc, id, tc.window, after)
					slot, fire, err := trigger.NextFire(after)
					require.NoError(t, err)
					require.True(t, wantSlot.Equal(slot) && wantFire.Equal(fire), "%s after %s: want %s, %s; got %s, %s",
						id, after.Format(time.RFC3339Nano), wantSlot, wantFire, slot, fire)
					after = after.Add(tc.step)
				}
			}
		})
	}
}

// TestTriggerFires walks each trigger from fire to fire: fires strictly
// increase, fall on whole milliseconds, never before their slot nor at or
// after the next one, and map back to their slot.
func TestTriggerFires(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr, zone, start string
		window            time.Duration
	}{
		{"0 * * * *", "America/New_York", "2026-11-01T00:00:00-04:00", defaultWindow},
		{"*/30 * * * *", "Australia/Lord_Howe", "2026-04-05T00:00:00+11:00", time.Hour},
		{"30 2,3 * * *", "America/New_York", "2026-03-06T00:00:00-05:00", 2 * time.Hour},
		{"30 1 * * *", "Europe/London", "2026-10-23T00:00:00+01:00", 3 * time.Hour},
		{"* * * * * ?", "UTC", "2026-01-01T00:00:00Z", defaultWindow},
		{"0 9 * * MON-FRI", "Europe/London", "2026-03-27T00:00:00Z", 24 * time.Hour},
	} {
		t.Run(tc.zone+"/"+tc.expr, func(t *testing.T) {
			t.Parallel()
			loc := mustLoad(t, tc.zone)
			for _, id := range []string{"wf", "a", "emoji-🚀"} {
				trigger := mustTrigger(t, tc.expr, loc, id, tc.window)
				prev := mustTime(t, tc.start).UnixNano()
				var lastSlot time.Time
				for range 50 {
					next, err := trigger.NextFireTime(prev)
					require.NoError(t, err)
					require.Greater(t, next, prev)
					require.Zero(t, next%int64(time.Millisecond), "fire %d", next)
					fire := time.Unix(0, next)
					slot, err := trigger.Slot(fire)
					require.NoError(t, err)
					require.True(t, slot.After(lastSlot), "slot %s after %s", slot, lastSlot)
					require.False(t, fire.Before(slot), "fire %s before slot %s", fire, slot)
					following, err := trigger.schedule.Next(slot, loc)
					require.NoError(t, err)
					require.True(t, fire.Before(following), "fire %s not before next slot %s", fire, following)
					require.Equal(t, Offset(id, tc.window, following.Sub(slot)), fire.Sub(slot))
					prev, lastSlot = next, slot
				}
			}
		})
	}
}

// TestTriggerEveryMinute: with the default window, an every-minute cron
// still fires once a minute, a minute apart, for 1,000 minutes.
func TestTriggerEveryMinute(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"wf", "tenant:42:wf-7", "9f8c6d1e-4b2a-4f3e-8c7d-1a2b3c4d5e6f"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			trigger := mustTrigger(t, "* * * * *", time.UTC, id, defaultWindow)
			prev := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).UnixNano()
			var lastFire time.Time
			for i := range 1000 {
				next, err := trigger.NextFireTime(prev)
				require.NoError(t, err)
				fire := time.Unix(0, next).UTC()
				require.Equal(t, time.Date(2026, 5, 1, 0, i, 0, 0, time.UTC), fire.Truncate(time.Minute), "fire %d", i)
				if i > 0 {
					require.InDelta(t, float64(time.Minute), float64(fire.Sub(lastFire)), float64(time.Second), "fire %d", i)
				}
				prev, lastFire = next, fire
			}
		})
	}
}

func TestTriggerSameIDSameOffset(t *testing.T) {
	t.Parallel()
	after := time.Date(2026, 2, 1, 10, 30, 0, 0, time.UTC)
	offsets := map[time.Duration]string{}
	for i := range 20 {
		id := fmt.Sprintf("workflow-%d", i)
		first, fire1, err := mustTrigger(t, "0 * * * *", time.UTC, id, defaultWindow).NextFire(after)
		require.NoError(t, err)
		second, fire2, err := mustTrigger(t, "0 * * * *", time.UTC, id, defaultWindow).NextFire(after)
		require.NoError(t, err)
		require.Equal(t, first, second)
		require.Equal(t, fire1, fire2)
		require.Equal(t, Offset(id, defaultWindow, time.Hour), fire1.Sub(first))
		offsets[fire1.Sub(first)] = id
	}
	// Twenty ids in 300,000 possible offsets: a clash would mean no spread.
	require.Len(t, offsets, 20)
}

func TestTriggerExpired(t *testing.T) {
	t.Parallel()
	trigger := mustTrigger(t, "0 0 12 1 1 ? 2030", time.UTC, "wf", defaultWindow)
	last := time.Date(2030, 1, 1, 12, 1, 59, 82_000_000, time.UTC)
	for _, after := range []time.Time{last, last.Add(time.Hour), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)} {
		_, err := trigger.NextFireTime(after.UnixNano())
		require.ErrorIs(t, err, quartz.ErrTriggerExpired, after)
		_, _, err = trigger.NextFire(after)
		require.ErrorIs(t, err, quartz.ErrTriggerExpired, after)
	}
	slot, err := trigger.Slot(last)
	require.NoError(t, err)
	require.Equal(t, time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC), slot)
	_, err = trigger.Slot(last.Add(time.Millisecond))
	require.ErrorIs(t, err, quartz.ErrTriggerExpired)
}

func TestTriggerSlot(t *testing.T) {
	t.Parallel()
	trigger := mustTrigger(t, "0 * * * *", time.UTC, "wf", defaultWindow)
	fire := time.Date(2026, 1, 1, 10, 1, 59, 82_000_000, time.UTC)
	slot, err := trigger.Slot(fire)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), slot)
	for _, notFire := range []time.Time{fire.Add(time.Millisecond), fire.Add(-time.Millisecond), fire.Add(-time.Minute)} {
		_, err := trigger.Slot(notFire)
		require.ErrorIs(t, err, ErrNoSlot, notFire)
		require.ErrorContains(t, err, `JitteredCronTrigger::"0 * * * *"::UTC::"wf"::5m0s at `)
	}
}

func TestTriggerDescription(t *testing.T) {
	t.Parallel()
	newYork := mustLoad(t, "America/New_York")
	base := mustTrigger(t, "0 * * * *", newYork, "wf", defaultWindow)
	require.Equal(t, `JitteredCronTrigger::"0 * * * *"::America/New_York::"wf"::5m0s`, base.Description())
	require.Equal(t, base.Description(), mustTrigger(t, "0 * * * *", newYork, "wf", defaultWindow).Description())
	seen := map[string]bool{base.Description(): true}
	for _, other := range []*Trigger{
		mustTrigger(t, "0 */2 * * *", newYork, "wf", defaultWindow),
		mustTrigger(t, "0 * * * *", nil, "wf", defaultWindow),
		mustTrigger(t, "0 * * * *", newYork, "wf2", defaultWindow),
		mustTrigger(t, "0 * * * *", newYork, "wf", time.Minute),
		// Separators inside free-form parts stay inside their quotes.
		mustTrigger(t, "0 * * * *", newYork, `wf"::America/New_York::"x`, defaultWindow),
		mustTrigger(t, "0 * * * *", newYork, `wf::5m0s`, defaultWindow),
	} {
		require.False(t, seen[other.Description()], other.Description())
		seen[other.Description()] = true
	}
}

type noopJob struct{}

func (noopJob) Execute(context.Context) error { return nil }
func (noopJob) Description() string           { return "noop" }

// TestTriggerInScheduler hands the trigger to go-quartz's scheduler, which
// asks it for the first fire from the current time.
func TestTriggerInScheduler(t *testing.T) {
	t.Parallel()
	scheduler, err := quartz.NewStdScheduler()
	require.NoError(t, err)
	trigger := mustTrigger(t, "* * * * * ?", time.UTC, "wf", defaultWindow)
	key := quartz.NewJobKey("wf")
	before := time.Now()
	require.NoError(t, scheduler.ScheduleJob(quartz.NewJobDetail(noopJob{}, key), trigger))
	job, err := scheduler.GetScheduledJob(key)
	require.NoError(t, err)
	fire := time.Unix(0, job.NextRunTime())
	require.True(t, fire.After(before), "fire %s before %s", fire, before)
	require.Less(t, fire.Sub(before), 2*time.Second)
	_, err = trigger.Slot(fire)
	require.NoError(t, err)
	require.Same(t, trigger, job.Trigger())
}

// TestTriggerBounds: slots before Start and from End on are not the
// trigger's; a trigger past its end has no fire left, and the last slot
// before the end takes the window as its gap.
func TestTriggerBounds(t *testing.T) {
	t.Parallel()
	start := mustTime(t, "2026-01-01T10:00:00Z")
	end := mustTime(t, "2026-01-01T13:00:00Z")
	trigger := mustTrigger(t, "0 * * * *", time.UTC, "wf", defaultWindow).withRules(Rules{Start: start, End: end})

	var slots []time.Time
	for after := mustTime(t, "2026-01-01T00:00:00Z"); ; {
		slot, err := trigger.NextSlot(after)
		if err != nil {
			require.ErrorIs(t, err, ErrEnded)
			require.ErrorIs(t, err, quartz.ErrTriggerExpired, "go-quartz drops the job")
			require.ErrorContains(t, err, "no slot before the end 2026-01-01T13:00:00Z")
			break
		}
		slots = append(slots, slot)
		after = slot
	}
	want := []time.Time{start, start.Add(time.Hour), start.Add(2 * time.Hour)}
	if diff := cmp.Diff(want, slots, cmp.Comparer(time.Time.Equal)); diff != "" {
		t.Errorf("slots (-want +got):\n%s", diff)
	}

	slot, fire, err := trigger.NextFire(mustTime(t, "2026-01-01T09:59:00Z"))
	require.NoError(t, err)
	require.True(t, slot.Equal(start), "the start itself is a slot: %s", slot)
	require.Equal(t, 119082*time.Millisecond, fire.Sub(slot))

	// 12:00 is the last slot; its fire is still ahead just after it.
	slot, fire, err = trigger.NextFire(mustTime(t, "2026-01-01T12:01:00Z"))
	require.NoError(t, err)
	require.True(t, slot.Equal(start.Add(2*time.Hour)))
	require.Equal(t, Offset("wf", defaultWindow, defaultWindow), fire.Sub(slot))
	_, _, err = trigger.NextFire(fire)
	require.ErrorIs(t, err, ErrEnded)
	_, err = trigger.NextFireTime(fire.UnixNano())
	require.ErrorIs(t, err, quartz.ErrTriggerExpired)

	list, ended, err := trigger.Preview(mustTime(t, "2026-01-01T11:30:00Z"), 10)
	require.NoError(t, err)
	require.True(t, ended)
	require.Len(t, list, 1, "only 12:00 is left")
	list, ended, err = trigger.Preview(end, 10)
	require.NoError(t, err)
	require.True(t, ended)
	require.Empty(t, list)
}

// TestTriggerPreviewJitter: a preview's fires are the trigger's own.
func TestTriggerPreviewJitter(t *testing.T) {
	t.Parallel()
	newYork := mustLoad(t, "America/New_York")
	trigger := mustTrigger(t, "30 2 * * *", newYork, "wf", defaultWindow)
	from := mustTime(t, "2026-03-06T00:00:00-05:00")
	list, ended, err := trigger.Preview(from, 5)
	require.NoError(t, err)
	require.False(t, ended)
	require.Len(t, list, 5)
	after := from.Add(-time.Nanosecond)
	for _, u := range list {
		slot, fire, err := trigger.NextFire(after)
		require.NoError(t, err)
		require.True(t, slot.Equal(u.Slot) && fire.Equal(u.Fire), "preview %s/%s, trigger %s/%s", u.Slot, u.Fire, slot, fire)
		after = fire
	}
	require.Equal(t, Shifted, list[2].Effect, "03-08 02:30 is shifted")

	// From a moment between a slot and its fire, that fire comes first.
	list, _, err = trigger.Preview(list[0].Slot.Add(time.Second), 1)
	require.NoError(t, err)
	require.True(t, list[0].Slot.Equal(mustTime(t, "2026-03-06T02:30:00-05:00")))
}

func TestNewRules(t *testing.T) {
	t.Parallel()
	require.Equal(t, Rules{}, NewRules("", "", nil, nil))
	start, end := mustTime(t, "2026-01-01T00:00:00Z"), mustTime(t, "2027-01-01T00:00:00Z")
	require.Equal(t, Rules{DST: DST{Repeated: RepeatedBoth, Skipped: SkippedSkip}, Start: start, End: end},
		NewRules("BOTH", "SKIP", &start, &end))
}

func TestTriggerDescriptionRules(t *testing.T) {
	t.Parallel()
	base := mustTrigger(t, "0 * * * *", time.UTC, "wf", defaultWindow)
	start := mustTime(t, "2026-01-01T00:00:00Z")
	seen := map[string]bool{base.Description(): true}
	for _, r := range []Rules{
		{DST: DST{Repeated: RepeatedLast}},
		{DST: DST{Skipped: SkippedSkip}},
		{Start: start},
		{End: start},
	} {
		d := base.withRules(r).Description()
		require.False(t, seen[d], d)
		seen[d] = true
	}
	require.Equal(t, `JitteredCronTrigger::"0 * * * *"::UTC::"wf"::5m0s::FIRST::SHIFT::2026-01-01T00:00:00Z::-`,
		base.withRules(Rules{Start: start}).Description())
}
