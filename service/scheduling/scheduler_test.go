package scheduling

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/generic"
	"github.com/reugn/go-quartz/quartz"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// fakeStore serves cron triggers from memory, per deployment.
type fakeStore struct {
	mu  sync.Mutex
	cts map[string][]workflow.CronTrigger
	err error
	// beforeAll, when set, runs after a full read, before it is returned.
	beforeAll func()
	// fullReads counts the reads of every trigger, deploymentReads those
	// of one deployment's.
	fullReads, deploymentReads atomic.Int64
}

func (f *fakeStore) ListCronTriggers(_ context.Context, deploymentID string) ([]workflow.CronTrigger, error) {
	if deploymentID != "" {
		f.deploymentReads.Add(1)
	}
	if deploymentID == "" && f.beforeAll != nil {
		defer f.beforeAll()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if deploymentID != "" {
		return f.cts[deploymentID], nil
	}
	var all []workflow.CronTrigger
	for _, cts := range f.cts {
		all = append(all, cts...)
	}
	return all, nil
}

func (f *fakeStore) ListOwnedCronTriggers(ctx context.Context, owns func(string) bool) ([]workflow.CronTrigger, error) {
	f.fullReads.Add(1)
	all, err := f.ListCronTriggers(ctx, "")
	return slices.DeleteFunc(all, func(ct workflow.CronTrigger) bool { return !owns(ct.TriggerID) }), err
}

// ChangedDeployments counts every deployment the fake knows as changed.
func (f *fakeStore) ChangedDeployments(context.Context, time.Duration) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Collect(maps.Keys(f.cts)), f.err
}

func (f *fakeStore) set(deploymentID string, cts ...workflow.CronTrigger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cts[deploymentID] = cts
}

// fires collects what the scheduler hands on.
type fires struct{ ch chan Fire }

func (f *fires) handle(_ context.Context, fire Fire) error {
	f.ch <- fire
	return nil
}

func (f *fires) next(t *testing.T) Fire {
	t.Helper()
	select {
	case fire := <-f.ch:
		return fire
	case <-time.After(5 * time.Second):
		t.Fatal("no fire")
		return Fire{}
	}
}

func (f *fires) none(t *testing.T) {
	t.Helper()
	select {
	case fire := <-f.ch:
		t.Fatalf("unexpected fire of slot %s", fire.Slot)
	default:
	}
}

func cronTrigger(id, deployment, expr string, version int64) workflow.CronTrigger {
	return workflow.CronTrigger{TriggerID: id, DeploymentID: deployment, DeploymentVersion: version, WorkflowID: "wf-" + id,
		Spec: workflow.CronSpec{Expression: expr}}
}

func newTestScheduler(t *testing.T, st Store, now func() time.Time) (*Scheduler, *fires, Metrics) {
	t.Helper()
	f := &fires{ch: make(chan Fire, 100)}
	m := Metrics{Fires: generic.NewCounter("fires"), Misfires: generic.NewCounter("misfires"), Lag: generic.NewHistogram("lag", 10)}
	s := New(st, f.handle, Options{Now: now, Metrics: m})
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s, f, m
}

func jitteredFire(t *testing.T, ct workflow.CronTrigger, after time.Time) (slot, at time.Time) {
	t.Helper()
	sched, err := cron.Parse(ct.Spec.Expression)
	require.NoError(t, err)
	slot, at, err = cron.NewTrigger(sched, time.UTC, ct.WorkflowID, 300*time.Second, cron.Rules{}).NextFire(after)
	require.NoError(t, err)
	return slot, at
}

// TestCatchUpAfterRestart: ten minutes down with an every-minute cron and a
// five-minute catch-up window: the most recent missed slot fires once, the
// other nine missed slots are misfires.
func TestCatchUpAfterRestart(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	ct := cronTrigger("t1", "d1", "* * * * *", 1)
	ct.LastSlot, ct.ScheduledSince = &last, last.Add(-time.Hour)
	now := last.Add(10*time.Minute + 30*time.Second)
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{"d1": {ct}}}
	s, f, m := newTestScheduler(t, st, func() time.Time { return now })
	require.NoError(t, s.Start(context.Background()))

	var due []time.Time // slots after the last recorded one whose fire has come
	var wantAt time.Time
	for after := last; ; {
		slot, at := jitteredFire(t, ct, after)
		if at.After(now) {
			break
		}
		if slot.After(last) {
			due, wantAt = append(due, slot), at
		}
		after = at
	}
	require.Len(t, due, 10, "precondition: ten slots came due while down")

	fire := f.next(t)
	require.True(t, fire.Slot.Equal(due[9]), "caught-up slot %s, want the most recent %s", fire.Slot, due[9])
	require.True(t, fire.At.Equal(wantAt))
	require.Equal(t, now.Sub(wantAt), fire.Lag)
	f.none(t)
	require.EqualValues(t, 9, m.Misfires.(*generic.Counter).Value())
}

// TestNoCatchUpBeyondWindow: a slot missed longer ago than the catch-up
// window is a misfire, not a fire.
func TestNoCatchUpBeyondWindow(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	ct := cronTrigger("t1", "d1", "0 * * * *", 1)
	ct.LastSlot, ct.Config.CatchupWindowSeconds = &last, 60
	now := last.Add(time.Hour + 20*time.Minute)
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{"d1": {ct}}}
	s, f, m := newTestScheduler(t, st, func() time.Time { return now })
	require.NoError(t, s.Start(context.Background()))
	require.Eventually(t, func() bool { return m.Misfires.(*generic.Counter).Value() == 1 }, 5*time.Second, time.Millisecond)
	f.none(t)
}

// TestFreshTriggerDoesNotCatchUp: slots before a deployment last changed
// (created, resumed) were never due.
func TestFreshTriggerDoesNotCatchUp(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 1, 12, 30, 30, 0, time.UTC)
	ct := cronTrigger("t1", "d1", "* * * * *", 1)
	ct.ScheduledSince = now.Add(-time.Second)
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{"d1": {ct}}}
	s, f, m := newTestScheduler(t, st, func() time.Time { return now })
	require.NoError(t, s.Start(context.Background()))
	f.none(t)
	require.Zero(t, m.Misfires.(*generic.Counter).Value())
}

// TestLateFires judges a fire by its lag: within the catch-up window it is
// handed on; beyond the window it is a misfire.
func TestLateFires(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	s, f, m := newTestScheduler(t, &fakeStore{}, func() time.Time { return now })
	h := &held{ct: cronTrigger("t1", "d1", "* * * * *", 1), catchup: time.Minute}

	require.NoError(t, s.fire(context.Background(), h, now.Add(-time.Minute), now.Add(-59*time.Second), true, true))
	require.Equal(t, 59*time.Second, f.next(t).Lag)
	require.NoError(t, s.fire(context.Background(), h, now.Add(-2*time.Minute), now.Add(-61*time.Second), true, true))
	f.none(t)
	// Judged again without the window, as a catch-up fire is, it runs.
	require.NoError(t, s.fire(context.Background(), h, now.Add(-2*time.Minute), now.Add(-61*time.Second), true, false))
	require.Equal(t, 61*time.Second, f.next(t).Lag)
	require.EqualValues(t, 1, m.Misfires.(*generic.Counter).Value())
	require.EqualValues(t, 2, m.Fires.(*generic.Counter).Value())
}

// TestResyncRereadsWhatChanged: a resync rereads the deployments changed
// since the one before, not every trigger, and holds a change that came
// without an announcement; when more changed than one read each is worth,
// it reads every trigger once.
func TestResyncRereadsWhatChanged(t *testing.T) {
	t.Parallel()
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{}}
	st.set("d1", cronTrigger("t1", "d1", "0 * * * *", 1))
	s := New(st, func(context.Context, Fire) error { return nil }, Options{ResyncInterval: 10 * time.Millisecond})
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })

	st.set("d2", cronTrigger("t2", "d2", "0 * * * *", 1))
	require.Eventually(t, func() bool { return s.Held() == 2 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	require.EqualValues(t, 1, st.fullReads.Load(), "only Start read every trigger")

	// The fake counts every deployment it knows as changed, so from here on
	// each resync finds more than maxChangedReads: none rereads them one by
	// one.
	before := st.deploymentReads.Load()
	for i := range maxChangedReads {
		id := fmt.Sprintf("many-%d", i)
		st.set(id, cronTrigger("t-"+id, id, "0 * * * *", 1))
	}
	require.Eventually(t, func() bool { return s.Held() == 2+maxChangedReads }, 5*time.Second, 5*time.Millisecond)
	require.GreaterOrEqual(t, st.fullReads.Load(), int64(2), "a resync with more than maxChangedReads changes reads every trigger")
	require.Less(t, st.deploymentReads.Load()-before, int64(maxChangedReads), "and rereads no deployment on its own")
}

// TestPauseUpdateDelete follows one deployment's changes through
// ScheduleWorkflow: a new version reschedules, pause (no DEPLOYED triggers)
// and delete unschedule.
func TestPauseUpdateDelete(t *testing.T) {
	t.Parallel()
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{}}
	s, _, _ := newTestScheduler(t, st, time.Now)
	ctx := context.Background()
	require.NoError(t, s.Start(ctx))
	require.Zero(t, s.Held())

	st.set("d1", cronTrigger("t1", "d1", "0 * * * *", 1), cronTrigger("t2", "d1", "30 * * * *", 1))
	require.NoError(t, s.DeploymentChanged(ctx, &workflow.Deployment{ID: "d1"}))
	require.Equal(t, 2, s.Held())
	slot1, _, ok := s.NextFire("t1")
	require.True(t, ok)
	require.Zero(t, slot1.Minute())

	st.set("d1", cronTrigger("t1", "d1", "15 * * * *", 2))
	require.NoError(t, s.ScheduleWorkflow(ctx, "d1"))
	require.Equal(t, 1, s.Held(), "a trigger dropped by an update is unscheduled")
	slot, _, ok := s.NextFire("t1")
	require.True(t, ok)
	require.Equal(t, 15, slot.Minute(), "an update reschedules")
	_, _, ok = s.NextFire("t2")
	require.False(t, ok)

	st.set("d1")
	require.NoError(t, s.ScheduleWorkflow(ctx, "d1"))
	require.Zero(t, s.Held(), "a paused deployment holds nothing")

	st.set("d1", cronTrigger("t1", "d1", "15 * * * *", 4))
	require.NoError(t, s.Resync(ctx))
	require.Equal(t, 1, s.Held(), "resync picks up what no announcement brought")
	require.NoError(t, s.UnscheduleWorkflow("d1"))
	require.Zero(t, s.Held())
}

func TestStoreFailure(t *testing.T) {
	t.Parallel()
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{}, err: errors.New("database down")}
	s, _, _ := newTestScheduler(t, st, time.Now)
	require.ErrorContains(t, s.Start(context.Background()), "database down")
	require.NoError(t, s.ScheduleWorkflow(context.Background(), "d1"), "a stopped scheduler holds nothing")

	st.err = nil
	require.NoError(t, s.Start(context.Background()))
	st.mu.Lock()
	st.err = errors.New("database down")
	st.mu.Unlock()
	require.ErrorContains(t, s.ScheduleWorkflow(context.Background(), "d1"), "database down")
	require.ErrorContains(t, s.Resync(context.Background()), "database down")
}

func TestBadStoredSpec(t *testing.T) {
	t.Parallel()
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{}}
	s, _, _ := newTestScheduler(t, st, time.Now)
	require.NoError(t, s.Start(context.Background()))
	st.set("d1", cronTrigger("t1", "d1", "not a cron", 1))
	require.ErrorContains(t, s.ScheduleWorkflow(context.Background(), "d1"), "t1")
	bad := cronTrigger("t2", "d2", "@hourly", 1)
	bad.Spec.Timezone = "Nowhere/Town"
	st.set("d2", bad)
	require.ErrorContains(t, s.ScheduleWorkflow(context.Background(), "d2"), "t2")
	require.Zero(t, s.Held())
}

// TestResyncSkipsBadTriggers: one trigger that cannot be scheduled does not
// keep the others from firing.
func TestResyncSkipsBadTriggers(t *testing.T) {
	t.Parallel()
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{
		"d1": {cronTrigger("t1", "d1", "not a cron", 1)},
		"d2": {cronTrigger("t2", "d2", "@hourly", 1)},
	}}
	s, _, _ := newTestScheduler(t, st, time.Now)
	require.NoError(t, s.Start(context.Background()))
	require.Equal(t, 1, s.Held())
	_, _, ok := s.NextFire("t2")
	require.True(t, ok)
}

// TestRetriesAndFailures: a fire whose handler fails is tried again and
// measured once; one that keeps failing is a misfire, logged.
func TestRetriesAndFailures(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	h := &held{ct: cronTrigger("t1", "d1", "* * * * *", 1), catchup: time.Hour}
	for _, tc := range []struct {
		name                    string
		failures                int
		wantCalls               int
		wantFires, wantMisfires float64
	}{
		{"a blip is retried", 1, 2, 1, 0},
		{"a lasting failure is a misfire", 10, fireAttempts, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls int
			var ctxErrs []error
			m := Metrics{Fires: generic.NewCounter("f"), Misfires: generic.NewCounter("m"), Lag: generic.NewHistogram("l", 10)}
			misses := &missLog{}
			s := New(&fakeStore{}, func(ctx context.Context, _ Fire) error {
				calls++
				ctxErrs = append(ctxErrs, ctx.Err())
				if calls <= tc.failures {
					return errors.New("database blinked")
				}
				return nil
			}, Options{Now: func() time.Time { return now }, Metrics: m, retryInterval: time.Millisecond, Slots: misses})
			slot := now.Add(-time.Minute)
			s.fireWithRetries(context.Background(), h, slot, now.Add(-30*time.Second), true)
			s.loops.Wait()
			require.Equal(t, tc.wantCalls, calls)
			if tc.wantMisfires > 0 {
				require.Equal(t, []workflow.MissedSlots{{TriggerID: "t1", DeploymentID: "d1", From: slot.UTC(), To: slot.UTC(), Count: 1,
					Reason: workflow.MissedReplicaDown}}, misses.runs, "a slot no attempt recorded is missed")
			} else {
				require.Empty(t, misses.runs)
			}
			require.Equal(t, tc.wantFires, m.Fires.(*generic.Counter).Value())
			require.Equal(t, tc.wantMisfires, m.Misfires.(*generic.Counter).Value())
			for _, err := range ctxErrs {
				require.NoError(t, err)
			}
		})
	}
}

// TestStopDoesNotCancelFireInFlight: a fire under way when the replica stops
// still gets to write its slot.
func TestStopDoesNotCancelFireInFlight(t *testing.T) {
	t.Parallel()
	now := time.Now()
	h := &held{ct: cronTrigger("t1", "d1", "* * * * *", 1), catchup: time.Hour}
	var got error
	s := New(&fakeStore{}, func(ctx context.Context, _ Fire) error {
		got = ctx.Err()
		return nil
	}, Options{Now: func() time.Time { return now }})
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	s.fireWithRetries(stopped, h, now.Add(-time.Minute), now.Add(-time.Second), true)
	require.NoError(t, got)
}

// TestStaleResyncKeepsNewerChange: a resync that read the store before a
// pause does not put the paused trigger back.
func TestStaleResyncKeepsNewerChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{}}
	s, _, _ := newTestScheduler(t, st, time.Now)
	require.NoError(t, s.Start(ctx))
	st.set("d1", cronTrigger("t1", "d1", "@hourly", 1))
	require.NoError(t, s.ScheduleWorkflow(ctx, "d1"))

	// The resync reads v1, then the pause lands before the resync applies its read.
	st.beforeAll = func() {
		st.beforeAll = nil
		st.set("d1")
		require.NoError(t, s.ScheduleWorkflow(ctx, "d1"))
		st.set("d1", cronTrigger("t1", "d1", "@hourly", 1))
	}
	require.NoError(t, s.Resync(ctx))
	require.Zero(t, s.Held(), "the stale read put a paused trigger back")

	require.NoError(t, s.Resync(ctx))
	require.Equal(t, 1, s.Held(), "a later resync applies what it reads")
}

// TestReplaceKeepsDueSlot: a trigger replaced (a new deployment version)
// while its fire is due but not yet taken still fires that slot.
func TestReplaceKeepsDueSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{}}
	s, f, _ := newTestScheduler(t, st, func() time.Time { return time.Unix(0, clock.Load()) })
	require.NoError(t, s.Start(ctx))
	v1 := cronTrigger("t1", "d1", "0 * * * *", 1)
	v1.ScheduledSince = time.Unix(0, clock.Load())
	st.set("d1", v1)
	require.NoError(t, s.ScheduleWorkflow(ctx, "d1"))
	queued, err := s.quartz.GetScheduledJob(quartz.NewJobKey("t1"))
	require.NoError(t, err)
	wantSlot, err := s.held["t1"].trigger.Slot(time.Unix(0, queued.NextRunTime()))
	require.NoError(t, err)

	// The fire came due a second ago and go-quartz has not taken it yet.
	clock.Store(queued.NextRunTime() + int64(time.Second))
	v2 := v1
	v2.DeploymentVersion = 2
	st.set("d1", v2)
	require.NoError(t, s.ScheduleWorkflow(ctx, "d1"))
	fire := f.next(t)
	require.True(t, fire.Slot.Equal(wantSlot), "fired %s, want the slot queued when replaced, %s", fire.Slot, wantSlot)
	f.none(t)
}

// TestCatchUpAfterLongOutage: thousands of missed slots do not hide the most
// recent one, and every one of them is counted.
func TestCatchUpAfterLongOutage(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 1, 12, 0, 0, 500_000_000, time.UTC)
	ct := cronTrigger("t1", "d1", "* * * * * ?", 1)
	ct.ScheduledSince = now.Add(-5 * time.Hour)
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{"d1": {ct}}}
	s, f, m := newTestScheduler(t, st, func() time.Time { return now })
	require.NoError(t, s.Start(context.Background()))
	fire := f.next(t)
	require.Less(t, now.Sub(fire.At), 2*time.Second, "the caught-up slot is the most recent one")
	// Five hours of one-second slots, less the one caught up (and the last
	// one, if its fire is still ahead).
	require.InDelta(t, 5*3600-1, m.Misfires.(*generic.Counter).Value(), 1)
}
