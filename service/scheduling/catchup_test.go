package scheduling

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// missLog is a SlotStore in memory.
type missLog struct {
	mu   sync.Mutex
	runs []workflow.MissedSlots
}

func (l *missLog) RecordMissedSlots(_ context.Context, m workflow.MissedSlots) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	m.RecordedAt = time.Time{}
	l.runs = append(l.runs, m)
	return nil
}

func (l *missLog) CountSlotRuns(context.Context, string, time.Time) (int64, error) { return 0, nil }

// TestCatchUpPolicies: an every-minute trigger, ten minutes and a half
// after its last recorded slot, with a five-minute catch-up window. Every
// slot that came due meanwhile ends in one outcome: LATEST fires the most
// recent slot inside the window and records the older ones inside it as
// REPLICA_DOWN; ALL fires every slot inside the window, oldest first, one a
// second from the jitter of the oldest on; NONE fires none. The slots older
// than the window are one run. A deployment resumed after a pause records
// the slots of the pause as PAUSED and catches up only after.
func TestCatchUpPolicies(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	now := last.Add(10*time.Minute + 30*time.Second)
	base := cronTrigger("t1", "d1", "* * * * *", 1)
	base.LastSlot, base.ScheduledSince, base.Config.CatchupWindowSeconds = &last, last.Add(-time.Hour), 300

	// The slots after last whose fire came by now, split at the window.
	var old, oldAt, inside []time.Time
	var firstAt time.Time
	for after := last; ; {
		slot, at := jitteredFire(t, base, after)
		if at.After(now) {
			break
		}
		if slot.After(last) {
			if now.Sub(at) > 5*time.Minute {
				old, oldAt = append(old, slot), append(oldAt, at)
			} else {
				if len(inside) == 0 {
					firstAt = at
				}
				inside = append(inside, slot)
			}
		}
		after = at
	}
	require.Len(t, append(old, inside...), 10, "precondition: ten slots came due while down")
	require.Greater(t, len(old), 3)
	require.True(t, oldAt[2].After(old[2].Add(time.Second)), "precondition: the third slot fires after the resume")
	require.False(t, oldAt[1].After(old[2].Add(time.Second)), "precondition: the second slot fires before the resume")
	require.Greater(t, len(inside), 1)
	run := func(slots []time.Time, reason workflow.MissReason) workflow.MissedSlots {
		return workflow.MissedSlots{TriggerID: "t1", DeploymentID: "d1", From: slots[0], To: slots[len(slots)-1],
			Count: int64(len(slots)), Reason: reason}
	}
	outside := run(old, workflow.MissedOutsideCatchupWindow)

	for _, tc := range []struct {
		policy    string
		pausedAt  time.Time
		wantFired []time.Time
		wantMiss  []workflow.MissedSlots
	}{
		{policy: "", wantFired: inside[len(inside)-1:],
			wantMiss: []workflow.MissedSlots{outside, run(inside[:len(inside)-1], workflow.MissedReplicaDown)}},
		{policy: workflow.CatchupAll, wantFired: inside, wantMiss: []workflow.MissedSlots{outside}},
		{policy: workflow.CatchupNone, wantMiss: []workflow.MissedSlots{run(append(old, inside...), workflow.MissedPolicyNone)}},
		// Resumed after the second slot's fire: the first two were paused.
		// The third slot lies before the resume too, but fires after it.
		{policy: workflow.CatchupAll, pausedAt: old[2].Add(time.Second), wantFired: inside,
			wantMiss: []workflow.MissedSlots{run(old[:2], workflow.MissedPaused), run(old[2:], workflow.MissedOutsideCatchupWindow)}},
	} {
		name := tc.policy
		if !tc.pausedAt.IsZero() {
			name += "/paused"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ct := base
			ct.Spec.CatchupPolicy = tc.policy
			if !tc.pausedAt.IsZero() {
				ct.ScheduledSince = tc.pausedAt
			}
			clock := &atomic.Int64{}
			clock.Store(now.UnixNano())
			q := &manualQuartz{clock: clock, jobs: newJobQueue()}
			f := &fires{ch: make(chan Fire, 100)}
			misses := &missLog{}
			st := &fakeStore{cts: map[string][]workflow.CronTrigger{"d1": {ct}}}
			s := New(st, f.handle, Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }, quartz: q, Slots: misses})
			require.NoError(t, s.Start(context.Background()))
			// The catch-up runs on the simulated clock; the trigger's own
			// fires after now are not this test's.
			q.advance(t, now.Add(time.Minute))
			require.NoError(t, s.Stop(context.Background()))

			var fired []time.Time
			var firedAt []time.Time
			for _, fire := range drain(f) {
				if !fire.Slot.After(now) {
					fired, firedAt = append(fired, fire.Slot), append(firedAt, fire.At.Add(fire.Lag))
				}
			}
			if diff := cmp.Diff(tc.wantFired, fired); diff != "" {
				t.Errorf("slots fired (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMiss, misses.runs); diff != "" {
				t.Errorf("missed runs (-want +got):\n%s", diff)
			}
			if tc.policy == workflow.CatchupAll {
				require.Equal(t, now.Add(firstAt.Sub(inside[0])+time.Second), firedAt[0], "the first catch-up fire waits for the jitter")
				for i := 1; i < len(firedAt); i++ {
					require.Equal(t, time.Second, firedAt[i].Sub(firedAt[i-1]), "catch-up fires are spread")
				}
			}
		})
	}
}

func drain(f *fires) []Fire {
	var out []Fire
	for {
		select {
		case fire := <-f.ch:
			out = append(out, fire)
		default:
			return out
		}
	}
}

// runCounter is a SlotStore that counts as runs the slots handed on.
type runCounter struct {
	missLog
	ran atomic.Int64
}

func (c *runCounter) CountSlotRuns(context.Context, string, time.Time) (int64, error) {
	return c.ran.Load(), nil
}

// TestMaxRuns: a trigger fires no more once max_runs of its slots ran.
func TestMaxRuns(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	ct := cronTrigger("t1", "d1", "* * * * *", 1)
	ct.ScheduledSince, ct.Spec.MaxRuns = from, 2
	clock := &atomic.Int64{}
	clock.Store(from.UnixNano())
	q := &manualQuartz{clock: clock, jobs: newJobQueue()}
	counter := &runCounter{}
	f := &fires{ch: make(chan Fire, 100)}
	handle := func(ctx context.Context, fire Fire) error {
		counter.ran.Add(1)
		return f.handle(ctx, fire)
	}
	s := New(&fakeStore{cts: map[string][]workflow.CronTrigger{"d1": {ct}}}, handle,
		Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }, quartz: q, Slots: counter})
	require.NoError(t, s.Start(context.Background()))
	q.advance(t, from.Add(10*time.Minute))
	require.NoError(t, s.Stop(context.Background()))
	require.Len(t, drain(f), 2, "two runs, then none")

	// Back after an outage, it neither fires nor records a miss.
	clock.Store(from.Add(time.Hour).UnixNano())
	require.NoError(t, s.Start(context.Background()))
	q.advance(t, from.Add(time.Hour+time.Minute))
	require.NoError(t, s.Stop(context.Background()))
	require.Empty(t, drain(f))
	require.Empty(t, counter.runs, "slots after max_runs are not due")
}

// TestMillionMissedSlotsOneRow: a trigger that fires every second, down for
// twelve days, records the million slots older than its window as one run.
func TestMillionMissedSlotsOneRow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 13, 12, 0, 0, 500_000_000, time.UTC)
	last := now.Add(-12 * 24 * time.Hour).Truncate(time.Second)
	ct := cronTrigger("t1", "d1", "* * * * * ?", 1)
	ct.LastSlot, ct.ScheduledSince = &last, last.Add(-time.Hour)
	misses := &missLog{}
	f := &fires{ch: make(chan Fire, 100)}
	clock := &atomic.Int64{}
	clock.Store(now.UnixNano())
	s := New(&fakeStore{cts: map[string][]workflow.CronTrigger{"d1": {ct}}}, f.handle,
		Options{Now: func() time.Time { return now }, Slots: misses, quartz: &manualQuartz{clock: clock, jobs: newJobQueue()}})
	start := time.Now()
	require.NoError(t, s.Start(context.Background()))
	took := time.Since(start)
	require.NoError(t, s.Stop(context.Background()))
	require.NotEmpty(t, misses.runs)
	older := misses.runs[0]
	require.Equal(t, workflow.MissedOutsideCatchupWindow, older.Reason)
	require.Greater(t, older.Count, int64(1_000_000))
	require.Equal(t, older.Count, int64(older.To.Sub(older.From)/time.Second)+1, "one row for every slot from its first to its last")
	var total int64
	for _, r := range misses.runs {
		total += r.Count
	}
	fired := drain(f)
	want := int64(12 * 24 * 3600)
	if _, at := jitteredFire(t, ct, now.Truncate(time.Second).Add(-time.Nanosecond)); at.After(now) {
		want-- // the latest slot's fire is still ahead
	}
	require.Equal(t, want, total+int64(len(fired)), "every slot after the last recorded one whose fire came is missed or fired")
	t.Logf("%d missed slots in %d rows, counted in %s", total, len(misses.runs), took)
}

// TestCatchUpWindowEdge: a trigger without jitter whose slot lies exactly a
// catch-up window before the replica comes back. Its lag equals the window,
// which a live fire counts as inside it (only a lag over the window misses),
// so the catch-up runs it too: each slot has one outcome, and the edge slot's
// is the one a live fire would have given it.
func TestCatchUpWindowEdge(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	now := last.Add(10 * time.Minute)
	noJitter := int32(0)
	minutes := func(from, to int) []time.Time {
		var out []time.Time
		for m := from; m <= to; m++ {
			out = append(out, last.Add(time.Duration(m)*time.Minute))
		}
		return out
	}
	for _, tc := range []struct {
		policy    string
		wantFired []time.Time
		wantMiss  []workflow.MissedSlots
	}{
		{policy: workflow.CatchupAll, wantFired: minutes(5, 10), wantMiss: []workflow.MissedSlots{
			{TriggerID: "t1", DeploymentID: "d1", From: minutes(1, 1)[0], To: minutes(4, 4)[0], Count: 4, Reason: workflow.MissedOutsideCatchupWindow}}},
		{policy: workflow.CatchupLatest, wantFired: minutes(10, 10), wantMiss: []workflow.MissedSlots{
			{TriggerID: "t1", DeploymentID: "d1", From: minutes(1, 1)[0], To: minutes(4, 4)[0], Count: 4, Reason: workflow.MissedOutsideCatchupWindow},
			{TriggerID: "t1", DeploymentID: "d1", From: minutes(5, 5)[0], To: minutes(9, 9)[0], Count: 5, Reason: workflow.MissedReplicaDown}}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			ct := cronTrigger("t1", "d1", "* * * * *", 1)
			ct.LastSlot, ct.ScheduledSince, ct.Config.CatchupWindowSeconds = &last, last.Add(-time.Hour), 300
			ct.Spec.JitterWindowSeconds, ct.Spec.CatchupPolicy = &noJitter, tc.policy
			clock := &atomic.Int64{}
			clock.Store(now.UnixNano())
			q := &manualQuartz{clock: clock, jobs: newJobQueue()}
			f := &fires{ch: make(chan Fire, 100)}
			misses := &missLog{}
			s := New(&fakeStore{cts: map[string][]workflow.CronTrigger{"d1": {ct}}}, f.handle,
				Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }, quartz: q, Slots: misses})
			require.NoError(t, s.Start(context.Background()))
			q.advance(t, now.Add(30*time.Second))
			require.NoError(t, s.Stop(context.Background()))
			var fired []time.Time
			for _, fire := range drain(f) {
				fired = append(fired, fire.Slot.UTC())
			}
			if diff := cmp.Diff(tc.wantFired, fired); diff != "" {
				t.Errorf("slots fired (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMiss, misses.runs); diff != "" {
				t.Errorf("missed runs (-want +got):\n%s", diff)
			}
		})
	}
}
