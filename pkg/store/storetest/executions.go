package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

var executionCases = []testCase{
	{"CreateExecution/once per cron slot", testCreateExecutionOncePerSlot},
}

func cronExecution(d *store.Deployment, triggerID string, slot time.Time) *store.Execution {
	return &store.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerID: triggerID, TriggerType: store.TriggerCron, Status: store.ExecutionPending,
		ScheduledTime: &slot, FiredTime: slot.Add(1500 * time.Millisecond), JitterSeconds: 1,
		TraceID: "trace-1", TriggeredBy: "cron:" + triggerID,
	}
}

func testCreateExecutionOncePerSlot(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-slots", store.StatusDeployed, cronTrigger("* * * * *")))
	trig := d.Triggers[0].ID
	slot := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

	first := cronExecution(d, trig, slot)
	mustCreateExecution(t, s, first)
	require.NotEmpty(t, first.ID)

	again := cronExecution(d, trig, slot)
	created, err := s.CreateExecution(ctx, again)
	require.NoError(t, err)
	require.False(t, created, "a second row for one slot")
	require.Empty(t, again.ID)

	next := cronExecution(d, trig, slot.Add(time.Minute))
	mustCreateExecution(t, s, next)

	last, err := s.LastExecution(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, next.ID, last.ID)
	require.Equal(t, "trace-1", last.TraceID)
	require.Equal(t, "cron:"+trig, last.TriggeredBy)

	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Triggers[0].LastFireTime)
	require.True(t, got.Triggers[0].LastFireTime.Equal(next.FiredTime), "last fire %v, want %v", got.Triggers[0].LastFireTime, next.FiredTime)

	manual := &store.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
		TriggerType: store.TriggerManual, Status: store.ExecutionPending, FiredTime: slot, Input: []byte(`{"a":1}`)}
	for range 2 {
		manual.ID = ""
		created, err = s.CreateExecution(ctx, manual)
		require.NoError(t, err)
		require.True(t, created, "executions without a slot or key are never deduplicated")
	}
	n, err := s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)

	created, err = s.CreateExecution(ctx, &store.Execution{WorkflowID: d.WorkflowID, DeploymentID: "not-a-uuid"})
	require.NoError(t, err)
	require.False(t, created, "an id that is not a UUID names no deployment")

	_, err = s.UpdateDeployment(ctx, d.ID, setStatus(store.StatusPaused, store.ActionPause))
	require.NoError(t, err)
	late := cronExecution(d, trig, slot.Add(2*time.Minute))
	created, err = s.CreateExecution(ctx, late)
	require.NoError(t, err)
	require.False(t, created, "a PAUSED deployment records no run")
	require.Empty(t, late.ID)
	n, err = s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
}
