package scheduling

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/monitoring"
)

// simReplica is one replica of an outage test: a scheduler with its own
// simulated clock and go-quartz, recording into the shared database
// through the shared Redis.
type simReplica struct {
	s     *Scheduler
	q     *manualQuartz
	clock *atomic.Int64
}

func startReplica(t *testing.T, st *postgres.Store, locker SlotLocker, prefix string, at time.Time) *simReplica {
	t.Helper()
	r := &simReplica{clock: &atomic.Int64{}}
	r.clock.Store(at.UnixNano())
	now := func() time.Time { return time.Unix(0, r.clock.Load()) }
	r.q = &manualQuartz{clock: r.clock, jobs: newJobQueue()}
	// A replica kept out of a slot by the other's lock would confirm it
	// on real time; the holder records it at once here.
	rec := &Recorder{Store: st, Locker: locker, KeyPrefix: prefix, ConfirmAfter: time.Hour, Now: now}
	t.Cleanup(func() { _ = rec.Stop(context.Background()) })
	r.s = New(st, rec.Record, Options{Now: now, quartz: r.q, Slots: st, CatchUps: st, ResyncInterval: time.Hour})
	require.NoError(t, r.s.Start(context.Background()))
	return r
}

// runTogether moves the replicas' clocks to until, a second at a time, each
// running its due jobs: they fire side by side, as replicas do.
func runTogether(t *testing.T, until time.Time, rs ...*simReplica) {
	t.Helper()
	from := time.Unix(0, rs[0].clock.Load())
	for at := from.Add(time.Second); !at.After(until); at = at.Add(time.Second) {
		for _, r := range rs {
			r.q.advance(t, at)
		}
	}
}

func (r *simReplica) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.s.Stop(context.Background()))
}

// TestCatchUpAllAfterOutage: an every-minute trigger with catch-up ALL and
// a five-minute catch-up window runs on two replicas; both go down for ten
// minutes; one comes back, and the other not at all or two minutes later,
// as each would fire a catch-up it judged itself. Every slot from
// the deployment on has exactly one outcome: the slots due in the window
// before the first came back ran, once each, oldest first; the older ones of
// the outage are one MISSED run, OUTSIDE_CATCHUP_WINDOW; nothing is doubled,
// and GetScheduleReport agrees with counts made in SQL.
func TestCatchUpAllAfterOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	for _, tc := range []struct {
		name string
		// secondBack is how long after the first the second replica comes
		// back; none comes back when it is negative.
		secondBack time.Duration
	}{
		{"one replica comes back", -1},
		{"two replicas come back two minutes apart", 2 * time.Minute},
		{"two replicas come back ten seconds apart", 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testOutage(t, tc.secondBack)
		})
	}
}

func testOutage(t *testing.T, secondBack time.Duration) {
	ctx := context.Background()
	st := pgtest.NewStore(t)
	rdb, prefix := redistest.New(t)
	locker := lock.NewSlots(rdb)

	deployedAt := time.Now().UTC()
	d := &workflow.Deployment{
		WorkflowID: "wf-outage", Status: workflow.StatusDeployed, Version: 1, Definition: []byte(`{"nodes": []}`),
		Config:     workflow.Config{CatchupWindowSeconds: 300},
		DeployedAt: &deployedAt,
		Triggers: []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true,
			Cron: &workflow.CronSpec{Expression: "* * * * *", CatchupPolicy: workflow.CatchupAll}}},
	}
	require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	tid := d.Triggers[0].ID
	cts, err := st.ListCronTriggers(ctx, d.ID)
	require.NoError(t, err)
	ct := cts[0]

	// Five minutes on two replicas, then every replica down for ten.
	t0 := time.Now()
	a, b := startReplica(t, st, locker, prefix, t0), startReplica(t, st, locker, prefix, t0)
	runTogether(t, t0.Add(5*time.Minute), a, b)
	a.stop(t)
	b.stop(t)
	down := t0.Add(5 * time.Minute)
	backA := down.Add(10 * time.Minute)
	a = startReplica(t, st, locker, prefix, backA)
	end := backA.Add(5 * time.Minute)
	if secondBack < 0 {
		runTogether(t, end, a)
		a.stop(t)
	} else {
		backB := backA.Add(secondBack)
		runTogether(t, backB, a)
		b = startReplica(t, st, locker, prefix, backB)
		runTogether(t, end, a, b)
		a.stop(t)
		b.stop(t)
	}

	// Every slot from the deployment to the end has one outcome.
	ran := map[time.Time]int{}
	rows, err := st.DB().QueryContext(ctx, `SELECT scheduled_time FROM executions WHERE trigger_id = $1`, tid)
	require.NoError(t, err)
	for rows.Next() {
		var slot time.Time
		require.NoError(t, rows.Scan(&slot))
		ran[slot.UTC()]++
	}
	require.NoError(t, rows.Err())
	runs, err := st.ListMissedSlots(ctx, tid, deployedAt, end)
	require.NoError(t, err)
	missedBy := func(slot time.Time) []workflow.MissReason {
		var out []workflow.MissReason
		for _, m := range runs {
			if !slot.Before(m.From) && !slot.After(m.To) {
				out = append(out, m.Reason)
			}
		}
		return out
	}
	var due, inWindow, outside int
	for after := ct.ScheduledSince; ; {
		slot, at := jitteredFire(t, ct, after)
		if at.After(end) {
			break
		}
		after = at
		due++
		slot = slot.UTC()
		reasons := missedBy(slot)
		switch {
		case at.After(down) && !at.After(backA) && backA.Sub(at) <= 5*time.Minute:
			inWindow++
			require.Equal(t, 1, ran[slot], "slot %s, inside the window when the first replica came back, ran once", slot)
			require.Empty(t, reasons, "slot %s ran, and is not missed", slot)
		case at.After(down) && !at.After(backA):
			outside++
			require.Zero(t, ran[slot], "slot %s is older than the window", slot)
			require.Equal(t, []workflow.MissReason{workflow.MissedOutsideCatchupWindow}, reasons, "slot %s", slot)
		default:
			require.Equal(t, 1, ran[slot], "slot %s, fired live, ran once", slot)
			require.Empty(t, reasons, "slot %s", slot)
		}
	}
	require.GreaterOrEqual(t, inWindow, 4, "precondition: slots within the window")
	require.GreaterOrEqual(t, outside, 4, "precondition: slots older than the window")
	require.Len(t, runs, 1, "the outage's older slots are one run")

	// The report agrees with counts made in SQL. It starts before the
	// deployment: only the slots fired after it are due.
	from := deployedAt.Truncate(time.Hour)
	mon := monitoring.New(st, nil, nil, monitoring.Options{Now: func() time.Time { return end }})
	report, err := mon.ScheduleReport(ctx, monitoring.ScheduleReportRequest{DeploymentID: d.ID, StartTime: from, EndTime: end})
	require.NoError(t, err)
	require.Len(t, report.Triggers, 1)
	got := report.Triggers[0]
	var sqlRan, sqlSkipped, sqlMissed int64
	require.NoError(t, st.DB().QueryRowContext(ctx, `
SELECT count(*) FILTER (WHERE status <> 'SKIPPED'), count(*) FILTER (WHERE status = 'SKIPPED')
FROM executions WHERE trigger_id = $1 AND scheduled_time >= $2 AND scheduled_time < $3`, tid, from, end).Scan(&sqlRan, &sqlSkipped))
	require.NoError(t, st.DB().QueryRowContext(ctx, `
SELECT coalesce(sum(slot_count), 0) FROM missed_slots WHERE trigger_id = $1 AND reason = 'OUTSIDE_CATCHUP_WINDOW'`, tid).Scan(&sqlMissed))
	want := monitoring.TriggerScheduleReport{TriggerID: tid, DeploymentID: d.ID, WorkflowID: d.WorkflowID,
		SlotsDue: int64(due), SlotsRan: sqlRan, SlotsSkipped: sqlSkipped, SlotsMissed: sqlMissed,
		MissedByReason: map[string]int64{string(workflow.MissedOutsideCatchupWindow): sqlMissed}}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool {
		return strings.Contains(p.String(), "OnTime") || strings.Contains(p.String(), "FireLag")
	}, cmp.Ignore())); diff != "" {
		t.Errorf("schedule report mismatch (-want +got):\n%s", diff)
	}
	require.Equal(t, got.SlotsDue, got.SlotsRan+got.SlotsSkipped+got.SlotsMissed, "every slot due is accounted for")
	require.Less(t, got.OnTimePercent, 100.0, "the caught-up slots fired late")
	require.Greater(t, got.FireLagP99MS, got.FireLagP50MS)
	t.Log(formatReport(report))
}

// formatReport prints a schedule report the way the closing note shows it.
func formatReport(r monitoring.ScheduleReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule report %s .. %s\n", r.StartTime.Format(time.RFC3339), r.EndTime.Format(time.RFC3339))
	for _, t := range r.Triggers {
		fmt.Fprintf(&b, "trigger %s (%s): due %d, ran %d, skipped %d, missed %d %v, on time %.1f%%, fire lag p50 %.0f ms, p99 %.0f ms\n",
			t.TriggerID, t.WorkflowID, t.SlotsDue, t.SlotsRan, t.SlotsSkipped, t.SlotsMissed, t.MissedByReason,
			t.OnTimePercent, t.FireLagP50MS, t.FireLagP99MS)
	}
	return b.String()
}

// TestPauseIsAccounted: a deployment paused for five minutes and resumed
// records the slots whose fire came during the pause as one PAUSED run, and
// the report shows them so; the slots before and after ran.
func TestPauseIsAccounted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	st, dbClock := pgtest.NewStoreWithClock(t)
	deployedAt := time.Now().UTC()
	d := &workflow.Deployment{
		WorkflowID: "wf-pause", Status: workflow.StatusDeployed, Version: 1, Definition: []byte(`{"nodes": []}`),
		DeployedAt: &deployedAt,
		Triggers:   []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "* * * * *"}}},
	}
	require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	tid := d.Triggers[0].ID
	setStatus := func(status workflow.DeploymentStatus) time.Time {
		t.Helper()
		cur, err := st.UpdateDeployment(ctx, d.ID, func(cur *workflow.Deployment) (workflow.Event, error) {
			cur.Status, cur.Version = status, cur.Version+1
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		})
		require.NoError(t, err)
		return cur.UpdatedAt
	}

	t0 := time.Now()
	r := startReplica(t, st, nil, "", t0)
	runTogether(t, t0.Add(3*time.Minute), r)
	setStatus(workflow.StatusPaused)
	require.NoError(t, r.s.ScheduleWorkflow(ctx, d.ID))
	runTogether(t, t0.Add(8*time.Minute), r)
	// The database's clock keeps up with the replica's, so that the
	// resume's time is the simulated one; the replica's clock is never
	// behind a commit it reads, or a slot firing between the two would be
	// counted paused and run.
	dbClock.Set(t, time.Until(t0.Add(8*time.Minute)))
	resumed := setStatus(workflow.StatusDeployed)
	if resumed.UnixNano() > r.clock.Load() {
		r.clock.Store(resumed.UnixNano())
	}
	require.NoError(t, r.s.ScheduleWorkflow(ctx, d.ID))
	end := t0.Add(12 * time.Minute)
	runTogether(t, end, r)
	r.stop(t)

	runs, err := st.ListMissedSlots(ctx, tid, deployedAt, end)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, workflow.MissedPaused, runs[0].Reason)
	require.InDelta(t, 5, runs[0].Count, 1, "about five minutes of slots fired while paused")

	mon := monitoring.New(st, nil, nil, monitoring.Options{Now: func() time.Time { return end }})
	report, err := mon.ScheduleReport(ctx, monitoring.ScheduleReportRequest{TriggerID: tid, StartTime: deployedAt.Truncate(time.Hour), EndTime: end})
	require.NoError(t, err)
	got := report.Triggers[0]
	require.Equal(t, map[string]int64{string(workflow.MissedPaused): runs[0].Count}, got.MissedByReason)
	require.Equal(t, got.SlotsDue, got.SlotsRan+got.SlotsMissed, "every slot due ran or was paused")
	t.Log(formatReport(report))
}
