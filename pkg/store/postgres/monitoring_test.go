package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

func TestMonitoringAggregates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	base := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)

	empty, err := s.DeploymentStats(ctx, base)
	require.NoError(t, err)
	require.Equal(t, store.DeploymentStats{
		ByStatus: map[store.DeploymentStatus]int64{}, TriggersByType: map[store.TriggerType]int64{},
		ExecutionsByStatus: map[store.ExecutionStatus]int64{},
	}, empty, "an empty database has empty counts, not nil maps")

	d := mustCreate(t, s, newDeployment("wf-mon", store.StatusDeployed, cronTrigger("* * * * *"), cronTrigger("0 * * * *")))
	mustCreate(t, s, newDeployment("wf-arch", store.StatusArchived, cronTrigger("* * * * *")))
	exec := func(tt store.TriggerType, status store.ExecutionStatus, fired time.Time) {
		e := &store.Execution{WorkflowID: "wf-mon", DeploymentID: d.ID, DeploymentVersion: d.Version,
			TriggerType: tt, Status: status, FiredTime: fired}
		if tt == store.TriggerCron {
			e.TriggerID, e.ScheduledTime = d.Triggers[0].ID, ptr(fired.Truncate(time.Minute))
		}
		insertExecution(t, s, e)
	}
	exec(store.TriggerCron, store.ExecutionSucceeded, base.Add(-time.Microsecond))
	exec(store.TriggerCron, store.ExecutionSucceeded, base)
	exec(store.TriggerCron, store.ExecutionSkipped, base.Add(time.Minute))
	exec(store.TriggerManual, store.ExecutionSkipped, base.Add(time.Minute))
	exec(store.TriggerCron, store.ExecutionFailed, base.Add(time.Hour))

	stats, err := s.DeploymentStats(ctx, base)
	require.NoError(t, err)
	require.Equal(t, store.DeploymentStats{
		ByStatus:           map[store.DeploymentStatus]int64{store.StatusDeployed: 1, store.StatusArchived: 1},
		Total:              2,
		TriggersByType:     map[store.TriggerType]int64{store.TriggerCron: 2},
		ExecutionsByStatus: map[store.ExecutionStatus]int64{store.ExecutionSucceeded: 1, store.ExecutionSkipped: 2, store.ExecutionFailed: 1},
	}, stats)

	fires, err := s.CronFireStats(ctx, base, base.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.CronFireStats{Fires: 2, SkippedOverlap: 1}, fires, "start inclusive, end exclusive, cron only")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.DeploymentStats(cctx, base)
	require.Error(t, err)
	_, err = s.CronFireStats(cctx, base, base)
	require.Error(t, err)
}
