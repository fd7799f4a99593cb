package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

func testListDeploymentVersions(t *testing.T, s Store) {
	ctx := context.Background()
	hook := webhookTrigger("/hooks/versions")
	hook.Webhook.Secrets = []string{"s3cret"}
	d := mustCreate(t, s, newDeployment("wf-version-list", workflow.StatusDeployed, cronTrigger("0 * * * *"), hook))
	v1Triggers := workflow.CloneTriggers(d.Triggers)
	_, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Version++
		d.Triggers = []workflow.Trigger{manualTrigger()}
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.NoError(t, err)
	cur, err := s.UpdateDeployment(ctx, d.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)

	v1, err := s.GetDeploymentVersion(ctx, d.ID, 1)
	require.NoError(t, err)
	require.True(t, v1.TriggersKept)
	noLastFire := cmpopts.IgnoreFields(workflow.Trigger{}, "LastFireTime")
	if diff := cmp.Diff(v1Triggers, v1.Triggers, noLastFire); diff != "" {
		t.Errorf("version 1 triggers, secrets included (-want +got):\n%s", diff)
	}

	var versions []int64
	page := workflow.VersionPage{Next: ""}
	for first := true; first || page.Next != ""; first = false {
		page, err = s.ListDeploymentVersions(ctx, workflow.VersionFilter{DeploymentID: d.ID, Limit: 2, After: page.Next}, 0)
		require.NoError(t, err)
		for _, v := range page.Versions {
			versions = append(versions, v.Version)
		}
	}
	require.Equal(t, []int64{3, 2, 1}, versions)
	newest, err := s.ListDeploymentVersions(ctx, workflow.VersionFilter{DeploymentID: d.ID, Limit: 1}, 0)
	require.NoError(t, err)
	if diff := cmp.Diff(cur.Triggers, newest.Versions[0].Triggers, noLastFire); diff != "" {
		t.Errorf("version 3 triggers (-want +got):\n%s", diff)
	}

	// A byte budget below one definition still gives one version a page.
	tight, err := s.ListDeploymentVersions(ctx, workflow.VersionFilter{DeploymentID: d.ID, Limit: 10}, 1)
	require.NoError(t, err)
	require.Len(t, tight.Versions, 1)
	require.NotEmpty(t, tight.Next)

	for _, id := range []string{"not-a-uuid", "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"} {
		none, err := s.ListDeploymentVersions(ctx, workflow.VersionFilter{DeploymentID: id}, 0)
		require.NoError(t, err)
		require.Empty(t, none.Versions, id)
	}
	for _, c := range seqBadCursors() {
		if _, err := s.ListDeploymentVersions(ctx, workflow.VersionFilter{DeploymentID: d.ID, After: c}, 0); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListDeploymentVersions after %q: %v, want ErrBadCursor", c, err)
		}
	}
}

// seqBadCursors are event and version page tokens no store makes.
func seqBadCursors() []string {
	return append(badCursors(), store.EncodeCursor(time.Unix(1, 0), "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"), "MA")
}

func testListDeploymentEvents(t *testing.T, s Store) {
	ctx := context.Background()
	first := mustCreate(t, s, newDeployment("wf-events", workflow.StatusDeployed))
	_, err := s.UpdateDeployment(ctx, first.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status, d.Version = workflow.StatusArchived, d.Version+1
		return workflow.Event{Action: workflow.ActionArchive, Actor: "bob", Reason: "replaced"}, nil
	})
	require.NoError(t, err)
	second := mustCreate(t, s, newDeployment("wf-events", workflow.StatusDeployed))
	_, err = s.UpdateDeployment(ctx, second.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)
	mustCreate(t, s, newDeployment("wf-other", workflow.StatusDeployed))

	want := []workflow.Event{
		{DeploymentID: second.ID, WorkflowID: "wf-events", Action: workflow.ActionPause, FromStatus: workflow.StatusDeployed,
			ToStatus: workflow.StatusPaused, Version: 2, FromVersion: 1, Actor: "bob"},
		{DeploymentID: second.ID, WorkflowID: "wf-events", Action: workflow.ActionDeploy, ToStatus: workflow.StatusDeployed,
			Version: 1, Actor: "alice"},
		{DeploymentID: first.ID, WorkflowID: "wf-events", Action: workflow.ActionArchive, FromStatus: workflow.StatusDeployed,
			ToStatus: workflow.StatusArchived, Version: 2, FromVersion: 1, Actor: "bob", Reason: "replaced"},
		{DeploymentID: first.ID, WorkflowID: "wf-events", Action: workflow.ActionDeploy, ToStatus: workflow.StatusDeployed,
			Version: 1, Actor: "alice"},
	}
	var got []workflow.Event
	page := workflow.EventPage{}
	for pages := 0; pages == 0 || page.Next != ""; pages++ {
		require.Less(t, pages, 3)
		page, err = s.ListDeploymentEvents(ctx, workflow.EventFilter{WorkflowID: "wf-events", Limit: 2, After: page.Next})
		require.NoError(t, err)
		got = append(got, page.Events...)
	}
	if diff := cmp.Diff(want, got, ignoreEventIDAndTime); diff != "" {
		t.Errorf("workflow events (-want +got):\n%s", diff)
	}
	for _, e := range got {
		require.False(t, e.At.IsZero())
	}

	byDeployment, err := s.ListDeploymentEvents(ctx, workflow.EventFilter{DeploymentID: first.ID})
	require.NoError(t, err)
	if diff := cmp.Diff(want[2:], byDeployment.Events, ignoreEventIDAndTime); diff != "" {
		t.Errorf("deployment events (-want +got):\n%s", diff)
	}
	require.Empty(t, byDeployment.Next)

	for _, f := range []workflow.EventFilter{{DeploymentID: "not-a-uuid"}, {DeploymentID: "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"}, {WorkflowID: "wf-none"}} {
		none, err := s.ListDeploymentEvents(ctx, f)
		require.NoError(t, err)
		require.Empty(t, none.Events, "%+v", f)
	}
	for _, c := range seqBadCursors() {
		if _, err := s.ListDeploymentEvents(ctx, workflow.EventFilter{WorkflowID: "wf-events", After: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListDeploymentEvents after %q: %v, want ErrBadCursor", c, err)
		}
	}
}
