package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

func TestMonitoringAggregates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	base := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)

	empty, err := s.DeploymentStats(ctx, base)
	require.NoError(t, err)
	require.Equal(t, workflow.DeploymentStats{
		ByStatus: map[workflow.DeploymentStatus]int64{}, TriggersByType: map[workflow.TriggerType]int64{},
		ExecutionsByStatus: map[workflow.ExecutionStatus]int64{},
	}, empty, "an empty database has empty counts, not nil maps")

	d := mustCreate(t, s, newDeployment("wf-mon", workflow.StatusDeployed, cronTrigger("* * * * *"), cronTrigger("0 * * * *")))
	mustCreate(t, s, newDeployment("wf-arch", workflow.StatusArchived, cronTrigger("* * * * *")))
	exec := func(tt workflow.TriggerType, status workflow.ExecutionStatus, fired time.Time) {
		e := &workflow.Execution{WorkflowID: "wf-mon", DeploymentID: d.ID, DeploymentVersion: d.Version,
			TriggerType: tt, Status: status, FiredTime: fired}
		if tt == workflow.TriggerCron {
			e.TriggerID, e.ScheduledTime = d.Triggers[0].ID, ptr(fired.Truncate(time.Minute))
		}
		insertExecution(t, s, e)
	}
	exec(workflow.TriggerCron, workflow.ExecutionSucceeded, base.Add(-time.Microsecond))
	exec(workflow.TriggerCron, workflow.ExecutionSucceeded, base)
	exec(workflow.TriggerCron, workflow.ExecutionSkipped, base.Add(time.Minute))
	exec(workflow.TriggerManual, workflow.ExecutionSkipped, base.Add(time.Minute))
	exec(workflow.TriggerCron, workflow.ExecutionFailed, base.Add(time.Hour))

	stats, err := s.DeploymentStats(ctx, base)
	require.NoError(t, err)
	require.Equal(t, workflow.DeploymentStats{
		ByStatus:           map[workflow.DeploymentStatus]int64{workflow.StatusDeployed: 1, workflow.StatusArchived: 1},
		Total:              2,
		TriggersByType:     map[workflow.TriggerType]int64{workflow.TriggerCron: 2},
		ExecutionsByStatus: map[workflow.ExecutionStatus]int64{workflow.ExecutionSucceeded: 1, workflow.ExecutionSkipped: 2, workflow.ExecutionFailed: 1},
	}, stats)

	fires, err := s.CronFireStats(ctx, base, base.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, workflow.CronFireStats{Fires: 2, SkippedOverlap: 1}, fires, "start inclusive, end exclusive, cron only")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.DeploymentStats(cctx, base)
	require.Error(t, err)
	_, err = s.CronFireStats(cctx, base, base)
	require.Error(t, err)
}
