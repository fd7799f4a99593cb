package monitoring

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestScheduleReportAccount lays out the outcomes of two hourly triggers
// without jitter and reads them back: ran (on time or late), SKIPPED, a
// missed run, a slot with no outcome (UNRECORDED), an execution inside a
// missed run (the run wins), max_runs ending what is due, and a range
// that starts before the deployment.
func TestScheduleReportAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wfr.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })

	base := time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC)
	deployed, now := base.Add(30*time.Second), base.Add(10*time.Hour)
	none := int32(0)
	d := &workflow.Deployment{WorkflowID: "wf-report", Status: workflow.StatusDeployed, Version: 1, Definition: []byte(`{"nodes": []}`),
		DeployedAt: &deployed,
		Triggers: []workflow.Trigger{
			{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "0 * * * *", JitterWindowSeconds: &none}},
			{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "30 * * * *", JitterWindowSeconds: &none, MaxRuns: 2}},
			{Type: workflow.TriggerManual, Enabled: true},
		}}
	require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	hourly, limited := d.Triggers[0].ID, d.Triggers[1].ID
	run := func(trigger string, slot time.Time, lag time.Duration, status workflow.ExecutionStatus) {
		created, err := st.CreateExecution(ctx, &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
			TriggerID: trigger, TriggerType: workflow.TriggerCron, Status: status, ScheduledTime: &slot, FiredTime: slot.Add(lag)})
		require.NoError(t, err)
		require.True(t, created)
	}
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	run(hourly, at(1), 200*time.Millisecond, workflow.ExecutionSucceeded)
	run(hourly, at(2), 0, workflow.ExecutionSkipped)
	// 03:00 has no outcome; 04:00 to 06:00 are one missed run, of which
	// 05:00 also ran (another replica's judgement): it counts as ran.
	require.NoError(t, st.RecordMissedSlots(ctx, workflow.MissedSlots{TriggerID: hourly, DeploymentID: d.ID, From: at(4), To: at(6), Count: 3,
		Reason: workflow.MissedReplicaDown, RecordedAt: at(6)}))
	run(hourly, at(5), 3*time.Second, workflow.ExecutionSucceeded)
	for h := 7; h <= 9; h++ {
		run(hourly, at(h), 10*time.Millisecond, workflow.ExecutionSucceeded)
	}
	run(limited, at(1).Add(30*time.Minute), 0, workflow.ExecutionSucceeded)
	run(limited, at(2).Add(30*time.Minute), 0, workflow.ExecutionSucceeded)

	svc := New(st, nil, nil, Options{Now: func() time.Time { return now }})
	got, err := svc.ScheduleReport(ctx, ScheduleReportRequest{DeploymentID: d.ID, StartTime: base.Add(-24 * time.Hour)})
	require.NoError(t, err)
	want := ScheduleReport{StartTime: base.Add(-24 * time.Hour), EndTime: now, Triggers: []TriggerScheduleReport{
		{TriggerID: hourly, DeploymentID: d.ID, WorkflowID: d.WorkflowID,
			// 01:00 to 09:00: the range ends at now, 10:00, exclusive; 00:00
			// fired before the deployment.
			SlotsDue: 9, SlotsRan: 5, SlotsSkipped: 1, SlotsMissed: 3,
			MissedByReason: map[string]int64{Unrecorded: 1, string(workflow.MissedReplicaDown): 2},
			// 01:00 and 07:00-09:00 within a second; 05:00 three seconds late.
			OnTimePercent: 400.0 / 9, FireLagP50MS: 10, FireLagP99MS: 3000},
		// 00:30 has no outcome; 01:30 and 02:30 used up max_runs: nothing
		// after them is due.
		{TriggerID: limited, DeploymentID: d.ID, WorkflowID: d.WorkflowID,
			SlotsDue: 3, SlotsRan: 2, SlotsMissed: 1, MissedByReason: map[string]int64{Unrecorded: 1}, OnTimePercent: 200.0 / 3},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report mismatch (-want +got):\n%s", diff)
	}

	one, err := svc.ScheduleReport(ctx, ScheduleReportRequest{TriggerID: hourly, StartTime: at(3), EndTime: at(5)})
	require.NoError(t, err)
	require.Len(t, one.Triggers, 1)
	require.Equal(t, map[string]int64{Unrecorded: 1, string(workflow.MissedReplicaDown): 1}, one.Triggers[0].MissedByReason,
		"[03:00, 05:00): a run is clipped to the range")

	for name, req := range map[string]ScheduleReportRequest{
		"neither":        {},
		"both":           {DeploymentID: d.ID, TriggerID: hourly},
		"end before":     {DeploymentID: d.ID, StartTime: at(2), EndTime: at(1)},
		"manual trigger": {TriggerID: d.Triggers[2].ID},
		"unknown":        {DeploymentID: "00000000-0000-0000-0000-000000000001"},
	} {
		_, err := svc.ScheduleReport(ctx, req)
		want := errors.Invalid
		if name == "manual trigger" || name == "unknown" {
			want = errors.NotFound
		}
		require.Equal(t, want, errors.KindOf(err), "%s: %v", name, err)
	}
}
