package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// ignoreEventIDAndTime leaves out what the store chooses for an event.
var ignoreEventIDAndTime = cmpopts.IgnoreFields(store.Event{}, "ID", "At")

// roundedTime accepts a store that keeps times to the microsecond.
var roundedTime = cmpopts.EquateApproxTime(time.Microsecond)

var deploymentCases = []testCase{
	{"CreateDeployment/fills in and reads back", testCreateAndGet},
	{"CreateDeployment/one active deployment per workflow", testActiveDeploymentConflict},
	{"CreateDeployment/webhook path unique among active deployments", testWebhookPathConflict},
}

func testCreateAndGet(t *testing.T, s Store) {
	ctx := context.Background()
	deployedAt := time.Date(2026, 3, 8, 7, 30, 0, 123456789, time.FixedZone("EST", -5*3600))
	d := &store.Deployment{
		WorkflowID: "wf-orders",
		Status:     store.StatusDeployed,
		Version:    1,
		Definition: json.RawMessage(`{"nodes":[{"id":"a","name":"A","type":"TRIGGER"}],"name":"Orders","connections":{}}`),
		Config: store.Config{
			OverlapPolicy:           store.OverlapBufferOne,
			ExecutionTimeoutSeconds: 600,
			CatchupWindowSeconds:    120,
		},
		DeployedBy: "alice",
		DeployedAt: &deployedAt,
		Triggers: []store.Trigger{
			{Type: store.TriggerCron, Enabled: true, Cron: &store.CronSpec{
				Expression: "30 2 * * *", Timezone: "America/New_York", JitterWindowSeconds: ptr[int32](0)}},
			{Type: store.TriggerWebhook, Enabled: false, Webhook: &store.WebhookSpec{
				Path: "/Hooks/Orders", Methods: []string{"POST", "PUT"}, Secrets: []string{"whsec_c2VjcmV0"},
				ResponseMode: store.ResponseSync, SyncTimeoutSeconds: 30}},
			manualTrigger(),
			cronTrigger("@hourly"),
		},
	}
	start := time.Now()
	require.NoError(t, s.CreateDeployment(ctx, d, store.Event{Action: store.ActionDeploy, Actor: "alice"}))

	require.NotEmpty(t, d.ID)
	if d.CreatedAt.Before(start.Add(-time.Minute)) || d.CreatedAt.After(time.Now().Add(time.Minute)) || !d.UpdatedAt.Equal(d.CreatedAt) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v; want now, twice", d.CreatedAt, d.UpdatedAt)
	}
	if d.DeployedAt == nil || d.DeployedAt.Sub(deployedAt).Abs() > time.Microsecond {
		t.Errorf("DeployedAt = %v, want %v to the microsecond", d.DeployedAt, deployedAt)
	}
	ids := map[string]bool{d.ID: true}
	for i, tr := range d.Triggers {
		if tr.ID == "" || ids[tr.ID] {
			t.Errorf("trigger %d id %q: not a fresh id", i, tr.ID)
		}
		ids[tr.ID] = true
		if tr.DeploymentID != d.ID {
			t.Errorf("trigger %d DeploymentID = %q, want %q", i, tr.DeploymentID, d.ID)
		}
	}

	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(d, got, jsonEqual, roundedTime); diff != "" {
		t.Errorf("GetDeployment (-want +got):\n%s", diff)
	}
	active, err := s.GetActiveDeployment(ctx, "wf-orders")
	require.NoError(t, err)
	if diff := cmp.Diff(d, active, jsonEqual, roundedTime); diff != "" {
		t.Errorf("GetActiveDeployment (-want +got):\n%s", diff)
	}

	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	wantEvents := []store.Event{{DeploymentID: d.ID, WorkflowID: "wf-orders", Action: store.ActionDeploy,
		ToStatus: store.StatusDeployed, Version: 1, Actor: "alice"}}
	if diff := cmp.Diff(wantEvents, events, ignoreEventIDAndTime); diff != "" {
		t.Errorf("ListEvents (-want +got):\n%s", diff)
	}
	if !events[0].At.Equal(d.CreatedAt) {
		t.Errorf("event At = %v, want the creation time %v", events[0].At, d.CreatedAt)
	}

	// A bare deployment, without triggers, reads back as bare.
	bare := &store.Deployment{WorkflowID: "wf-bare", Status: store.StatusDraft, Version: 1, Definition: json.RawMessage(`{"nodes": []}`)}
	require.NoError(t, s.CreateDeployment(ctx, bare, store.Event{Action: store.ActionDeploy}))
	got, err = s.GetDeployment(ctx, bare.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(bare, got, jsonEqual, roundedTime); diff != "" {
		t.Errorf("GetDeployment of a bare deployment (-want +got):\n%s", diff)
	}
}

func testActiveDeploymentConflict(t *testing.T, s Store) {
	ctx := context.Background()
	first := mustCreate(t, s, newDeployment("wf-1", store.StatusDraft, webhookTrigger("/a")))
	mustCreate(t, s, newDeployment("wf-2", store.StatusDeployed)) // another workflow is no conflict

	second := newDeployment("wf-1", store.StatusDeployed, webhookTrigger("/b"))
	err := s.CreateDeployment(ctx, second, deployEvent())
	var ae *store.ActiveDeploymentError
	require.ErrorAs(t, err, &ae)
	if diff := cmp.Diff(&store.ActiveDeploymentError{WorkflowID: "wf-1", DeploymentID: first.ID}, ae); diff != "" {
		t.Errorf("ActiveDeploymentError (-want +got):\n%s", diff)
	}
	if second.ID != "" || second.Triggers[0].ID != "" {
		t.Errorf("failed CreateDeployment filled in ids: %+v", second)
	}
	// Nothing of the failed deployment was written: its path is free.
	mustCreate(t, s, newDeployment("wf-3", store.StatusDeployed, webhookTrigger("/b")))

	// An archived deployment does not count.
	archived := mustCreate(t, s, newDeployment("wf-1", store.StatusArchived))
	got, err := s.GetActiveDeployment(ctx, "wf-1")
	require.NoError(t, err)
	require.Equal(t, first.ID, got.ID)

	_, err = s.UpdateDeployment(ctx, first.ID, setStatus(store.StatusArchived, store.ActionArchive))
	require.NoError(t, err)
	_, err = s.GetActiveDeployment(ctx, "wf-1")
	require.ErrorIs(t, err, store.ErrNotFound)
	second = newDeployment("wf-1", store.StatusDeployed, webhookTrigger("/c"))
	require.NoError(t, s.CreateDeployment(ctx, second, deployEvent()))
	got, err = s.GetActiveDeployment(ctx, "wf-1")
	require.NoError(t, err)
	require.Equal(t, second.ID, got.ID)

	// Reviving an archived deployment while another is active conflicts too.
	_, err = s.UpdateDeployment(ctx, archived.ID, setStatus(store.StatusDraft, store.ActionUpdate))
	require.ErrorAs(t, err, &ae)
	if diff := cmp.Diff(&store.ActiveDeploymentError{WorkflowID: "wf-1", DeploymentID: second.ID}, ae); diff != "" {
		t.Errorf("ActiveDeploymentError from UpdateDeployment (-want +got):\n%s", diff)
	}
	got, err = s.GetDeployment(ctx, archived.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusArchived, got.Status, "the refused revival wrote nothing")
	// Updating an archived deployment otherwise is fine.
	_, err = s.UpdateDeployment(ctx, archived.ID, func(d *store.Deployment) (store.Event, error) {
		d.DeployedBy = "carol"
		return store.Event{Action: store.ActionUpdate}, nil
	})
	require.NoError(t, err)
	got, err = s.GetActiveDeployment(ctx, "wf-1")
	require.NoError(t, err)
	require.Equal(t, second.ID, got.ID)
}

func testWebhookPathConflict(t *testing.T, s Store) {
	ctx := context.Background()
	owner := mustCreate(t, s, newDeployment("wf-1", store.StatusDeployed, webhookTrigger("/Hooks/Orders")))

	clash := newDeployment("wf-2", store.StatusDraft, cronTrigger("* * * * *"), webhookTrigger("/hooks/ORDERS"))
	err := s.CreateDeployment(ctx, clash, deployEvent())
	var we *store.WebhookPathError
	require.ErrorAs(t, err, &we)
	if diff := cmp.Diff(&store.WebhookPathError{Path: "/hooks/ORDERS", DeploymentID: owner.ID}, we); diff != "" {
		t.Errorf("WebhookPathError (-want +got):\n%s", diff)
	}
	if _, err := s.GetActiveDeployment(ctx, "wf-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetActiveDeployment after the failed create: %v, want ErrNotFound", err)
	}

	// An archived deployment may share a path with an active one...
	mustCreate(t, s, newDeployment("wf-3", store.StatusArchived, webhookTrigger("/hooks/orders")))

	// ...and one path twice in a deployment is a clash with itself.
	twice := newDeployment("wf-4", store.StatusDraft, webhookTrigger("/x"), webhookTrigger("/X"))
	err = s.CreateDeployment(ctx, twice, deployEvent())
	require.ErrorAs(t, err, &we)
	if we.Path != "/X" || we.DeploymentID == "" {
		t.Errorf("WebhookPathError for a path listed twice = %+v, want path /X and the new deployment's id", we)
	}

	// Adding the path in an update clashes too, and writes nothing.
	other := mustCreate(t, s, newDeployment("wf-5", store.StatusDeployed, webhookTrigger("/other")))
	_, err = s.UpdateDeployment(ctx, other.ID, func(d *store.Deployment) (store.Event, error) {
		d.Triggers = append(d.Triggers, webhookTrigger("/HOOKS/orders"))
		return store.Event{Action: store.ActionUpdate}, nil
	})
	require.ErrorAs(t, err, &we)
	if diff := cmp.Diff(&store.WebhookPathError{Path: "/HOOKS/orders", DeploymentID: owner.ID}, we); diff != "" {
		t.Errorf("WebhookPathError from UpdateDeployment (-want +got):\n%s", diff)
	}
	got, err := s.GetDeployment(ctx, other.ID)
	require.NoError(t, err)
	require.Len(t, got.Triggers, 1, "the refused update wrote nothing")

	// Archiving the owner frees the path.
	_, err = s.UpdateDeployment(ctx, owner.ID, setStatus(store.StatusArchived, store.ActionArchive))
	require.NoError(t, err)
	clash.Triggers = []store.Trigger{webhookTrigger("/hooks/ORDERS")}
	require.NoError(t, s.CreateDeployment(ctx, clash, deployEvent()))

	// And the archived owner cannot come back while the path is taken.
	_, err = s.UpdateDeployment(ctx, owner.ID, func(d *store.Deployment) (store.Event, error) {
		d.Status = store.StatusDeployed
		return store.Event{Action: store.ActionUpdate}, nil
	})
	require.ErrorAs(t, err, &we)
	if diff := cmp.Diff(&store.WebhookPathError{Path: "/Hooks/Orders", DeploymentID: clash.ID}, we); diff != "" {
		t.Errorf("WebhookPathError when reviving (-want +got):\n%s", diff)
	}
}
