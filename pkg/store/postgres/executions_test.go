package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

func cronExecution(d *store.Deployment, triggerID string, slot time.Time) *store.Execution {
	return &store.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerID: triggerID, TriggerType: store.TriggerCron, Status: store.ExecutionPending,
		ScheduledTime: &slot, FiredTime: slot.Add(1500 * time.Millisecond), JitterSeconds: 1,
		TraceID: "trace-1", TriggeredBy: "cron:" + triggerID,
	}
}

func TestCreateExecutionOncePerSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-slots", store.StatusDeployed, cronTrigger("* * * * *")))
	trig := d.Triggers[0].ID
	slot := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

	first := cronExecution(d, trig, slot)
	created, err := s.CreateExecution(ctx, first)
	require.NoError(t, err)
	require.True(t, created)
	require.NotEmpty(t, first.ID)

	again := cronExecution(d, trig, slot)
	created, err = s.CreateExecution(ctx, again)
	require.NoError(t, err)
	require.False(t, created, "a second row for one slot")
	require.Empty(t, again.ID)

	next := cronExecution(d, trig, slot.Add(time.Minute))
	created, err = s.CreateExecution(ctx, next)
	require.NoError(t, err)
	require.True(t, created)

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
		created, err = s.CreateExecution(ctx, manual)
		require.NoError(t, err)
		require.True(t, created, "executions without a slot are never deduplicated here")
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
	n, err = s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
}

func TestListCronTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	window := int32(60)
	deployed := newDeployment("wf-cron", store.StatusDeployed,
		store.Trigger{Type: store.TriggerCron, Enabled: true, Cron: &store.CronSpec{Expression: "0 * * * *", Timezone: "Europe/London", JitterWindowSeconds: &window}},
		webhookTrigger("hooks/a"), cronTrigger("*/5 * * * *"))
	deployed.Config = store.Config{OverlapPolicy: store.OverlapSkip, CatchupWindowSeconds: 120}
	mustCreate(t, s, deployed)
	mustCreate(t, s, newDeployment("wf-draft", store.StatusDraft, cronTrigger("0 * * * *")))
	paused := mustCreate(t, s, newDeployment("wf-paused", store.StatusDeployed, cronTrigger("0 * * * *")))
	_, err := s.UpdateDeployment(ctx, paused.ID, setStatus(store.StatusPaused, store.ActionPause))
	require.NoError(t, err)
	other := mustCreate(t, s, newDeployment("wf-other", store.StatusDeployed, cronTrigger("@daily")))

	slot := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	_, err = s.CreateExecution(ctx, cronExecution(deployed, deployed.Triggers[0].ID, slot))
	require.NoError(t, err)
	_, err = s.CreateExecution(ctx, cronExecution(deployed, deployed.Triggers[0].ID, slot.Add(-time.Hour)))
	require.NoError(t, err)

	all, err := s.ListCronTriggers(ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 3, "cron triggers of DEPLOYED deployments only")

	mine, err := s.ListCronTriggers(ctx, deployed.ID)
	require.NoError(t, err)
	want := []store.CronTrigger{
		{
			TriggerID: deployed.Triggers[0].ID, DeploymentID: deployed.ID, DeploymentVersion: 1, WorkflowID: "wf-cron",
			Spec: *deployed.Triggers[0].Cron, Config: deployed.Config, LastSlot: &slot, ScheduledSince: deployed.UpdatedAt,
		},
		{
			TriggerID: deployed.Triggers[2].ID, DeploymentID: deployed.ID, DeploymentVersion: 1, WorkflowID: "wf-cron",
			Spec: store.CronSpec{Expression: "*/5 * * * *"}, Config: deployed.Config, ScheduledSince: deployed.UpdatedAt,
		},
	}
	if diff := cmp.Diff(want, mine); diff != "" {
		t.Errorf("ListCronTriggers (-want +got):\n%s", diff)
	}

	for _, id := range []string{paused.ID, "not-a-uuid", "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"} {
		none, err := s.ListCronTriggers(ctx, id)
		require.NoError(t, err)
		require.Empty(t, none, id)
	}
	one, err := s.ListCronTriggers(ctx, other.ID)
	require.NoError(t, err)
	require.Len(t, one, 1)
}
