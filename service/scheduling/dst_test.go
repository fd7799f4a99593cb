package scheduling

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/reugn/go-quartz/quartz"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// manualQuartz is a quartz.Scheduler on a simulated clock. go-quartz's own
// waits on real timers; this one runs the due jobs when advanced, the way
// go-quartz's loop does (the job's run time in its context, then the next
// one asked of the trigger), so that a test fires a scheduler's real jobs
// across months at once.
type manualQuartz struct {
	clock *atomic.Int64
	jobs  *jobQueue
}

var _ quartz.Scheduler = (*manualQuartz)(nil)

type manualJob struct {
	detail  *quartz.JobDetail
	trigger quartz.Trigger
	at      int64
}

func (j *manualJob) JobDetail() *quartz.JobDetail { return j.detail }
func (j *manualJob) Trigger() quartz.Trigger      { return j.trigger }
func (j *manualJob) NextRunTime() int64           { return j.at }

var errManual = errors.New("not supported by the manual scheduler")

func (m *manualQuartz) Start(context.Context) {}
func (m *manualQuartz) IsStarted() bool       { return true }
func (m *manualQuartz) Wait(context.Context)  {}
func (m *manualQuartz) Stop()                 {}
func (m *manualQuartz) Clear() error          { return m.jobs.Clear() }

func (m *manualQuartz) ScheduleJob(detail *quartz.JobDetail, trigger quartz.Trigger) error {
	at, err := trigger.NextFireTime(m.clock.Load())
	if err != nil {
		return err
	}
	return m.jobs.Push(&manualJob{detail: detail, trigger: trigger, at: at})
}

func (m *manualQuartz) GetJobKeys(...quartz.Matcher[quartz.ScheduledJob]) ([]*quartz.JobKey, error) {
	return nil, errManual
}

func (m *manualQuartz) GetScheduledJob(key *quartz.JobKey) (quartz.ScheduledJob, error) {
	return m.jobs.Get(key)
}

func (m *manualQuartz) DeleteJob(key *quartz.JobKey) error {
	_, err := m.jobs.Remove(key)
	return err
}

func (m *manualQuartz) PauseJob(*quartz.JobKey) error  { return errManual }
func (m *manualQuartz) ResumeJob(*quartz.JobKey) error { return errManual }

// advance runs every job due up to until in order, each with the clock at
// its run time, then leaves the clock at until.
func (m *manualQuartz) advance(t *testing.T, until time.Time) {
	t.Helper()
	for {
		head, err := m.jobs.Head()
		if err != nil || head.NextRunTime() > until.UnixNano() {
			break
		}
		job, err := m.jobs.Pop()
		require.NoError(t, err)
		m.clock.Store(job.NextRunTime())
		ctx := context.WithValue(context.Background(), quartz.JobMetadataContextKey, quartz.JobMetadata{RunTime: job.NextRunTime()})
		require.NoError(t, job.JobDetail().Job().Execute(ctx))
		if next, err := job.Trigger().NextFireTime(job.NextRunTime()); err == nil {
			require.NoError(t, m.jobs.Push(&manualJob{detail: job.JobDetail(), trigger: job.Trigger(), at: next}))
		}
	}
	m.clock.Store(until.UnixNano())
}

// simulated is a scheduler over a fake store whose clock and go-quartz are
// simulated, started at from.
type simulated struct {
	s     *Scheduler
	q     *manualQuartz
	st    *fakeStore
	fires *fires
	clock *atomic.Int64
}

func newSimulated(t *testing.T, from time.Time, cts ...workflow.CronTrigger) *simulated {
	t.Helper()
	sim := &simulated{clock: &atomic.Int64{}, st: &fakeStore{cts: map[string][]workflow.CronTrigger{}}, fires: &fires{ch: make(chan Fire, 100)}}
	sim.clock.Store(from.UnixNano())
	sim.q = &manualQuartz{clock: sim.clock, jobs: newJobQueue()}
	for _, ct := range cts {
		sim.st.cts[ct.DeploymentID] = append(sim.st.cts[ct.DeploymentID], ct)
	}
	sim.s = New(sim.st, sim.fires.handle, Options{Now: func() time.Time { return time.Unix(0, sim.clock.Load()) }, quartz: sim.q})
	t.Cleanup(func() { _ = sim.s.Stop(context.Background()) })
	require.NoError(t, sim.s.Start(context.Background()))
	return sim
}

// fired returns the slots fired so far, in loc.
func (sim *simulated) fired(loc *time.Location) []string {
	var out []string
	for {
		select {
		case f := <-sim.fires.ch:
			out = append(out, f.Slot.In(loc).Format(time.RFC3339))
		default:
			return out
		}
	}
}

// TestFireAcrossDST fires cron triggers through the scheduler's own jobs
// across the 2026 changes of three zones, under each DST policy, without
// jitter, and compares the slots fired with instants worked out by hand:
//
//	America/New_York     03-08 02:00 EST -> 03:00 EDT; 11-01 02:00 EDT -> 01:00 EST
//	Europe/London        03-29 01:00 GMT -> 02:00 BST; 10-25 02:00 BST -> 01:00 GMT
//	Australia/Lord_Howe  10-04 02:00 +10:30 -> 02:30 +11:00; 04-05 02:00 +11:00 -> 01:30 +10:30
//
// A time repeated when the clocks go back fires at its first occurrence
// (FIRST), its second (LAST) or both (BOTH); a time skipped when they jump
// forward fires as long after the jump as it lay after the last moment
// before it (SHIFT) or not at all (SKIP). Every-half-hour schedules follow
// elapsed time whatever the policy.
func TestFireAcrossDST(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		zone, policy, expr, from, until string
		want                            []string
	}{
		{"America/New_York", "FIRST", "30 1 * * *", "2026-10-31T00:00:00-04:00", "2026-11-03T00:00:00-05:00",
			[]string{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"America/New_York", "LAST", "30 1 * * *", "2026-10-31T00:00:00-04:00", "2026-11-03T00:00:00-05:00",
			[]string{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"}},
		{"America/New_York", "BOTH", "30 1 * * *", "2026-10-31T00:00:00-04:00", "2026-11-03T00:00:00-05:00",
			[]string{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"}},
		{"America/New_York", "SHIFT", "30 2 * * *", "2026-03-07T00:00:00-05:00", "2026-03-10T00:00:00-04:00",
			[]string{"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"America/New_York", "SKIP", "30 2 * * *", "2026-03-07T00:00:00-05:00", "2026-03-10T00:00:00-04:00",
			[]string{"2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00"}},
		{"America/New_York", "BOTH", "*/30 * * * *", "2026-11-01T00:45:00-04:00", "2026-11-01T02:15:00-05:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"}},
		{"America/New_York", "SKIP", "*/30 * * * *", "2026-03-08T01:15:00-05:00", "2026-03-08T03:45:00-04:00",
			[]string{"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"}},

		{"Europe/London", "FIRST", "30 1 * * *", "2026-10-24T00:00:00+01:00", "2026-10-27T00:00:00Z",
			[]string{"2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00Z"}},
		{"Europe/London", "LAST", "30 1 * * *", "2026-10-24T00:00:00+01:00", "2026-10-27T00:00:00Z",
			[]string{"2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"}},
		{"Europe/London", "BOTH", "30 1 * * *", "2026-10-24T00:00:00+01:00", "2026-10-27T00:00:00Z",
			[]string{"2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"}},
		{"Europe/London", "SHIFT", "30 1 * * *", "2026-03-28T00:00:00Z", "2026-03-31T00:00:00+01:00",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T02:30:00+01:00", "2026-03-30T01:30:00+01:00"}},
		{"Europe/London", "SKIP", "30 1 * * *", "2026-03-28T00:00:00Z", "2026-03-31T00:00:00+01:00",
			[]string{"2026-03-28T01:30:00Z", "2026-03-30T01:30:00+01:00"}},
		{"Europe/London", "LAST", "*/30 * * * *", "2026-10-25T00:45:00+01:00", "2026-10-25T02:15:00Z",
			[]string{"2026-10-25T01:00:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"}},
		{"Europe/London", "SHIFT", "*/30 * * * *", "2026-03-29T00:15:00Z", "2026-03-29T02:45:00+01:00",
			[]string{"2026-03-29T00:30:00Z", "2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00"}},

		// Lord Howe moves by half an hour: 01:30 repeats from 02:00 +11:00,
		// and 02:15 falls into the gap from 02:00 to 02:30.
		{"Australia/Lord_Howe", "FIRST", "30 1 * * *", "2026-04-04T00:00:00+11:00", "2026-04-07T00:00:00+10:30",
			[]string{"2026-04-04T01:30:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-06T01:30:00+10:30"}},
		{"Australia/Lord_Howe", "LAST", "30 1 * * *", "2026-04-04T00:00:00+11:00", "2026-04-07T00:00:00+10:30",
			[]string{"2026-04-04T01:30:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-06T01:30:00+10:30"}},
		{"Australia/Lord_Howe", "BOTH", "30 1 * * *", "2026-04-04T00:00:00+11:00", "2026-04-07T00:00:00+10:30",
			[]string{"2026-04-04T01:30:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-06T01:30:00+10:30"}},
		{"Australia/Lord_Howe", "SHIFT", "15 2 * * *", "2026-10-03T00:00:00+10:30", "2026-10-06T00:00:00+11:00",
			[]string{"2026-10-03T02:15:00+10:30", "2026-10-04T02:45:00+11:00", "2026-10-05T02:15:00+11:00"}},
		{"Australia/Lord_Howe", "SKIP", "15 2 * * *", "2026-10-03T00:00:00+10:30", "2026-10-06T00:00:00+11:00",
			[]string{"2026-10-03T02:15:00+10:30", "2026-10-05T02:15:00+11:00"}},
		{"Australia/Lord_Howe", "FIRST", "*/30 * * * *", "2026-04-05T00:45:00+11:00", "2026-04-05T02:15:00+10:30",
			[]string{"2026-04-05T01:00:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-05T02:00:00+10:30"}},
		{"Australia/Lord_Howe", "SKIP", "*/30 * * * *", "2026-10-04T00:45:00+10:30", "2026-10-04T03:15:00+11:00",
			[]string{"2026-10-04T01:00:00+10:30", "2026-10-04T01:30:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T03:00:00+11:00"}},
	} {
		t.Run(fmt.Sprintf("%s/%s/%s/%s", tc.zone, tc.from[:10], tc.expr, tc.policy), func(t *testing.T) {
			t.Parallel()
			loc, err := time.LoadLocation(tc.zone)
			require.NoError(t, err)
			from, until := mustParse(t, tc.from), mustParse(t, tc.until)
			ct := cronTrigger("t1", "d1", tc.expr, 1)
			none := int32(0)
			ct.Spec.Timezone, ct.Spec.JitterWindowSeconds, ct.ScheduledSince = tc.zone, &none, from
			switch tc.policy {
			case "FIRST", "LAST", "BOTH":
				ct.Spec.RepeatedTimePolicy = tc.policy
			default:
				ct.Spec.SkippedTimePolicy = tc.policy
			}
			sim := newSimulated(t, from, ct)
			sim.q.advance(t, until)
			if diff := cmp.Diff(tc.want, sim.fired(loc)); diff != "" {
				t.Errorf("slots fired (-want +got):\n%s", diff)
			}
		})
	}
}

func mustParse(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return at
}

// TestFireWithinBounds: a trigger fires no slot before its start nor from
// its end on, and once past its end its job is gone.
func TestFireWithinBounds(t *testing.T) {
	t.Parallel()
	from := mustParse(t, "2026-06-01T00:00:00Z")
	start, end := from.Add(2*time.Hour), from.Add(5*time.Hour)
	ct := cronTrigger("t1", "d1", "0 * * * *", 1)
	ct.Spec.StartTime, ct.Spec.EndTime, ct.ScheduledSince = &start, &end, from
	sim := newSimulated(t, from, ct)
	sim.q.advance(t, from.Add(8*time.Hour))
	want := []string{"2026-06-01T02:00:00Z", "2026-06-01T03:00:00Z", "2026-06-01T04:00:00Z"}
	if diff := cmp.Diff(want, sim.fired(time.UTC)); diff != "" {
		t.Errorf("slots fired (-want +got):\n%s", diff)
	}
	_, err := sim.q.GetScheduledJob(quartz.NewJobKey("t1"))
	require.ErrorIs(t, err, quartz.ErrJobNotFound, "the job left the queue after its last fire")
	_, _, ok := sim.s.NextFire("t1")
	require.False(t, ok)
}

// TestEndedTrigger: a trigger whose end passed is held without a job, not
// retried as a failure at every resync; its last slot, missed while no
// replica held it, is still caught up; an update that ends a running
// trigger takes its job away.
func TestEndedTrigger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := mustParse(t, "2026-06-01T12:00:30Z")
	end := now.Add(-time.Second)
	ended := cronTrigger("t1", "d1", "* * * * *", 1)
	ended.Spec.EndTime, ended.ScheduledSince = &end, now.Add(-time.Hour)
	none := int32(0)
	ended.Spec.JitterWindowSeconds = &none
	sim := newSimulated(t, now, ended)
	require.Equal(t, 1, sim.s.Held())
	require.Equal(t, "2026-06-01T12:00:00Z", sim.fires.next(t).Slot.UTC().Format(time.RFC3339), "the last slot before the end is caught up")
	require.NoError(t, sim.s.Resync(ctx))
	require.NoError(t, sim.s.ScheduleWorkflow(ctx, "d1"))
	sim.q.advance(t, now.Add(time.Hour))
	require.Empty(t, sim.fired(time.UTC))

	later := time.Unix(0, sim.clock.Load())
	running := cronTrigger("t2", "d2", "0 * * * *", 1)
	running.ScheduledSince = later
	sim.st.set("d2", running)
	require.NoError(t, sim.s.ScheduleWorkflow(ctx, "d2"))
	_, err := sim.q.GetScheduledJob(quartz.NewJobKey("t2"))
	require.NoError(t, err)
	// Its last slot before this end, 12:00, fired long ago.
	endBefore := later.Add(-2 * time.Minute)
	running.DeploymentVersion, running.Spec.EndTime = 2, &endBefore
	sim.st.set("d2", running)
	require.NoError(t, sim.s.ScheduleWorkflow(ctx, "d2"))
	_, err = sim.q.GetScheduledJob(quartz.NewJobKey("t2"))
	require.ErrorIs(t, err, quartz.ErrJobNotFound, "the ended version's job is gone")
	require.Equal(t, 2, sim.s.Held())
}
