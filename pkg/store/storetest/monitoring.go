package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var monitoringCases = []testCase{
	{"DeploymentStats and CronFireStats", testMonitoringAggregates},
	{"UnfinishedByStatus", testUnfinishedByStatus},
	{"PendingBacklog", testPendingBacklog},
	{"Ping", testPing},
}

func testPing(t *testing.T, s Store) {
	require.NoError(t, s.Ping(context.Background()))
}

func testMonitoringAggregates(t *testing.T, s Store) {
	ctx := context.Background()
	empty, err := s.DeploymentStats(ctx, base)
	require.NoError(t, err)
	require.Equal(t, workflow.DeploymentStats{
		ByStatus: map[workflow.DeploymentStatus]int64{}, TriggersByType: map[workflow.TriggerType]int64{},
		ExecutionsByStatus: map[workflow.ExecutionStatus]int64{},
	}, empty, "an empty store has empty counts, not nil maps")
	fires, err := s.CronFireStats(ctx, base, base.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, workflow.CronFireStats{}, fires)

	d := mustCreate(t, s, newDeployment("wf-mon", workflow.StatusDeployed, cronTrigger("* * * * *"), cronTrigger("0 * * * *"),
		webhookTrigger("/mon"), manualTrigger(), workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: false, Webhook: &workflow.WebhookSpec{Path: "/off"}}))
	mustCreate(t, s, newDeployment("wf-draft", workflow.StatusDraft, cronTrigger("* * * * *")))
	mustCreate(t, s, newDeployment("wf-arch", workflow.StatusArchived, cronTrigger("* * * * *"), webhookTrigger("/arch")))
	mustCreate(t, s, newDeployment("wf-arch", workflow.StatusArchived))
	exec := func(tt workflow.TriggerType, status workflow.ExecutionStatus, fired time.Time) {
		e := &workflow.Execution{WorkflowID: "wf-mon", DeploymentID: d.ID, DeploymentVersion: d.Version,
			TriggerType: tt, Status: workflow.ExecutionPending, FiredTime: fired}
		if tt == workflow.TriggerCron {
			e.TriggerID, e.ScheduledTime = d.Triggers[0].ID, new(fired.Truncate(time.Minute))
		}
		mustCreateExecution(t, s, e)
		if status != workflow.ExecutionPending {
			_, err := s.TransitionExecution(ctx, e.ID, store.Transition{From: from(workflow.ExecutionPending), To: status})
			require.NoError(t, err)
		}
	}
	exec(workflow.TriggerCron, workflow.ExecutionSucceeded, base.Add(-time.Microsecond))
	exec(workflow.TriggerCron, workflow.ExecutionSucceeded, base)
	exec(workflow.TriggerCron, workflow.ExecutionSkipped, base.Add(time.Minute))
	exec(workflow.TriggerManual, workflow.ExecutionSkipped, base.Add(time.Minute))
	exec(workflow.TriggerWebhook, workflow.ExecutionPending, base.Add(2*time.Minute))
	exec(workflow.TriggerCron, workflow.ExecutionFailed, base.Add(time.Hour))

	stats, err := s.DeploymentStats(ctx, base)
	require.NoError(t, err)
	require.Equal(t, workflow.DeploymentStats{
		ByStatus:       map[workflow.DeploymentStatus]int64{workflow.StatusDeployed: 1, workflow.StatusDraft: 1, workflow.StatusArchived: 2},
		Total:          4,
		TriggersByType: map[workflow.TriggerType]int64{workflow.TriggerCron: 3, workflow.TriggerWebhook: 1, workflow.TriggerManual: 1},
		ExecutionsByStatus: map[workflow.ExecutionStatus]int64{workflow.ExecutionSucceeded: 1, workflow.ExecutionSkipped: 2,
			workflow.ExecutionPending: 1, workflow.ExecutionFailed: 1},
	}, stats, "executions fired at or after the time asked for; enabled triggers of deployments not ARCHIVED")

	fires, err = s.CronFireStats(ctx, base, base.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, workflow.CronFireStats{Fires: 2, SkippedOverlap: 1}, fires, "start inclusive, end exclusive, cron only")
	fires, err = s.CronFireStats(ctx, base.Add(-time.Hour), base.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, workflow.CronFireStats{Fires: 4, SkippedOverlap: 1}, fires)
	fires, err = s.CronFireStats(ctx, base.Add(2*time.Hour), base.Add(3*time.Hour))
	require.NoError(t, err)
	require.Equal(t, workflow.CronFireStats{}, fires)
}

func testUnfinishedByStatus(t *testing.T, s Store) {
	ctx := context.Background()
	counts, err := s.UnfinishedByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 0, workflow.ExecutionRunning: 0}, counts,
		"both statuses, zero when none")

	d := mustCreate(t, s, newDeployment("wf-count", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-count-other", workflow.StatusDeployed))
	leased(t, s, d, workflow.ExecutionPending, base, "r1", nil)
	leased(t, s, d, workflow.ExecutionRunning, base, "r1", nil)
	leased(t, s, other, workflow.ExecutionRunning, base, "r2", nil)
	ended(t, s, d, workflow.ExecutionSucceeded, base, "r1", nil)
	ended(t, s, d, workflow.ExecutionFailed, base, "r1", nil)
	ended(t, s, other, workflow.ExecutionSkipped, base, "", nil)

	counts, err = s.UnfinishedByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 1, workflow.ExecutionRunning: 2}, counts,
		"every replica's unfinished executions")
}
