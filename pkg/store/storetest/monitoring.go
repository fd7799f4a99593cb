package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

var monitoringCases = []testCase{
	{"DeploymentStats and CronFireStats", testMonitoringAggregates},
	{"UnfinishedByStatus", testUnfinishedByStatus},
}

func testMonitoringAggregates(t *testing.T, s Store) {
	ctx := context.Background()
	empty, err := s.DeploymentStats(ctx, base)
	require.NoError(t, err)
	require.Equal(t, store.DeploymentStats{
		ByStatus: map[store.DeploymentStatus]int64{}, TriggersByType: map[store.TriggerType]int64{},
		ExecutionsByStatus: map[store.ExecutionStatus]int64{},
	}, empty, "an empty store has empty counts, not nil maps")
	fires, err := s.CronFireStats(ctx, base, base.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.CronFireStats{}, fires)

	d := mustCreate(t, s, newDeployment("wf-mon", store.StatusDeployed, cronTrigger("* * * * *"), cronTrigger("0 * * * *"),
		webhookTrigger("/mon"), manualTrigger(), store.Trigger{Type: store.TriggerWebhook, Enabled: false, Webhook: &store.WebhookSpec{Path: "/off"}}))
	mustCreate(t, s, newDeployment("wf-draft", store.StatusDraft, cronTrigger("* * * * *")))
	mustCreate(t, s, newDeployment("wf-arch", store.StatusArchived, cronTrigger("* * * * *"), webhookTrigger("/arch")))
	mustCreate(t, s, newDeployment("wf-arch", store.StatusArchived))
	exec := func(tt store.TriggerType, status store.ExecutionStatus, fired time.Time) {
		e := &store.Execution{WorkflowID: "wf-mon", DeploymentID: d.ID, DeploymentVersion: d.Version,
			TriggerType: tt, Status: store.ExecutionPending, FiredTime: fired}
		if tt == store.TriggerCron {
			e.TriggerID, e.ScheduledTime = d.Triggers[0].ID, ptr(fired.Truncate(time.Minute))
		}
		mustCreateExecution(t, s, e)
		if status != store.ExecutionPending {
			_, err := s.TransitionExecution(ctx, e.ID, store.Transition{From: from(store.ExecutionPending), To: status})
			require.NoError(t, err)
		}
	}
	exec(store.TriggerCron, store.ExecutionSucceeded, base.Add(-time.Microsecond))
	exec(store.TriggerCron, store.ExecutionSucceeded, base)
	exec(store.TriggerCron, store.ExecutionSkipped, base.Add(time.Minute))
	exec(store.TriggerManual, store.ExecutionSkipped, base.Add(time.Minute))
	exec(store.TriggerWebhook, store.ExecutionPending, base.Add(2*time.Minute))
	exec(store.TriggerCron, store.ExecutionFailed, base.Add(time.Hour))

	stats, err := s.DeploymentStats(ctx, base)
	require.NoError(t, err)
	require.Equal(t, store.DeploymentStats{
		ByStatus:       map[store.DeploymentStatus]int64{store.StatusDeployed: 1, store.StatusDraft: 1, store.StatusArchived: 2},
		Total:          4,
		TriggersByType: map[store.TriggerType]int64{store.TriggerCron: 3, store.TriggerWebhook: 1, store.TriggerManual: 1},
		ExecutionsByStatus: map[store.ExecutionStatus]int64{store.ExecutionSucceeded: 1, store.ExecutionSkipped: 2,
			store.ExecutionPending: 1, store.ExecutionFailed: 1},
	}, stats, "executions fired at or after the time asked for; enabled triggers of deployments not ARCHIVED")

	fires, err = s.CronFireStats(ctx, base, base.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.CronFireStats{Fires: 2, SkippedOverlap: 1}, fires, "start inclusive, end exclusive, cron only")
	fires, err = s.CronFireStats(ctx, base.Add(-time.Hour), base.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.CronFireStats{Fires: 4, SkippedOverlap: 1}, fires)
	fires, err = s.CronFireStats(ctx, base.Add(2*time.Hour), base.Add(3*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.CronFireStats{}, fires)
}

func testUnfinishedByStatus(t *testing.T, s Store) {
	ctx := context.Background()
	counts, err := s.UnfinishedByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, map[store.ExecutionStatus]int64{store.ExecutionPending: 0, store.ExecutionRunning: 0}, counts,
		"both statuses, zero when none")

	d := mustCreate(t, s, newDeployment("wf-count", store.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-count-other", store.StatusDeployed))
	leased(t, s, d, store.ExecutionPending, base, "r1", nil)
	leased(t, s, d, store.ExecutionRunning, base, "r1", nil)
	leased(t, s, other, store.ExecutionRunning, base, "r2", nil)
	ended(t, s, d, store.ExecutionSucceeded, base, "r1", nil)
	ended(t, s, d, store.ExecutionFailed, base, "r1", nil)
	ended(t, s, other, store.ExecutionSkipped, base, "", nil)

	counts, err = s.UnfinishedByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, map[store.ExecutionStatus]int64{store.ExecutionPending: 1, store.ExecutionRunning: 2}, counts,
		"every replica's unfinished executions")
}
