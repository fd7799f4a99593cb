package storetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// ignoreEventIDAndTime leaves out what the store chooses for an event.
var ignoreEventIDAndTime = cmpopts.IgnoreFields(workflow.Event{}, "ID", "At")

// roundedTime accepts a store that keeps times to the microsecond.
var roundedTime = cmpopts.EquateApproxTime(time.Microsecond)

var deploymentCases = []testCase{
	{"CreateDeployment/fills in and reads back", testCreateAndGet},
	{"CreateDeployment/one active deployment per workflow", testActiveDeploymentConflict},
	{"CreateDeployment/webhook path unique among active deployments", testWebhookPathConflict},
	{"CreateDeployment/concurrent creations of one workflow: one wins", testConcurrentCreate},
	{"UpdateDeployment/status transitions, versions and events", testUpdateLifecycle},
	{"UpdateDeployment/what the mutation may not change and the event it names", testUpdateEventOverrides},
	{"UpdateDeployment/a mutation's error rolls back", testUpdateRollsBack},
	{"UpdateDeployment/expected version conflict", testUpdateExpectedVersion},
	{"UpdateDeployment/triggers kept, edited, replaced", testUpdateTriggers},
	{"UpdateDeployment/not found", testUpdateNotFound},
	{"UpdateDeployment/concurrent updates serialise", testConcurrentUpdates},
	{"GetDeploymentVersion/every version written is kept", testDeploymentVersions},
	{"ListDeploymentVersions/triggers kept, newest first, paged", testListDeploymentVersions},
	{"ListDeploymentEvents/by deployment and by workflow, newest first, paged", testListDeploymentEvents},
	{"reads of what does not exist", testNotFound},
	{"ListDeployments/filters and paging", testListDeployments},
	{"ListDeployments/byte budget", testListDeploymentsByteBudget},
	{"ListDeployments/bad cursor", testListDeploymentsBadCursor},
	{"ListCronTriggers", testListCronTriggers},
	{"ChangedDeployments/by the database's clock, whatever the status", testChangedDeployments},
	{"ListWebhookTriggers", testListWebhookTriggers},
}

func testCreateAndGet(t *testing.T, s Store) {
	ctx := context.Background()
	deployedAt := time.Date(2026, 3, 8, 7, 30, 0, 123456789, time.FixedZone("EST", -5*3600))
	d := &workflow.Deployment{
		WorkflowID: "wf-orders",
		Status:     workflow.StatusDeployed,
		Version:    1,
		Definition: json.RawMessage(`{"nodes":[{"id":"a","name":"A","type":"TRIGGER"}],"name":"Orders","connections":{}}`),
		Config: workflow.Config{
			OverlapPolicy:           workflow.OverlapBufferOne,
			ExecutionTimeoutSeconds: 600,
			CatchupWindowSeconds:    120,
		},
		DeployedBy: "alice",
		DeployedAt: &deployedAt,
		Triggers: []workflow.Trigger{
			{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{
				Expression: "30 2 * * *", Timezone: "America/New_York", JitterWindowSeconds: new(int32(0))}},
			{Type: workflow.TriggerWebhook, Enabled: false, Webhook: &workflow.WebhookSpec{
				Path: "/Hooks/Orders", Methods: []string{"POST", "PUT"}, Secrets: []string{"whsec_c2VjcmV0"},
				ResponseMode: workflow.ResponseSync, SyncTimeoutSeconds: 30}},
			manualTrigger(),
			cronTrigger("@hourly"),
		},
	}
	start := time.Now()
	require.NoError(t, s.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy, Actor: "alice"}))

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
	wantEvents := []workflow.Event{{DeploymentID: d.ID, WorkflowID: "wf-orders", Action: workflow.ActionDeploy,
		ToStatus: workflow.StatusDeployed, Version: 1, Actor: "alice"}}
	if diff := cmp.Diff(wantEvents, events, ignoreEventIDAndTime); diff != "" {
		t.Errorf("ListEvents (-want +got):\n%s", diff)
	}
	if !events[0].At.Equal(d.CreatedAt) {
		t.Errorf("event At = %v, want the creation time %v", events[0].At, d.CreatedAt)
	}

	// A bare deployment, without triggers, reads back as bare.
	bare := &workflow.Deployment{WorkflowID: "wf-bare", Status: workflow.StatusDraft, Version: 1, Definition: json.RawMessage(`{"nodes": []}`)}
	require.NoError(t, s.CreateDeployment(ctx, bare, workflow.Event{Action: workflow.ActionDeploy}))
	got, err = s.GetDeployment(ctx, bare.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(bare, got, jsonEqual, roundedTime); diff != "" {
		t.Errorf("GetDeployment of a bare deployment (-want +got):\n%s", diff)
	}
}

func testActiveDeploymentConflict(t *testing.T, s Store) {
	ctx := context.Background()
	first := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDraft, webhookTrigger("/a")))
	mustCreate(t, s, newDeployment("wf-2", workflow.StatusDeployed)) // another workflow is no conflict

	second := newDeployment("wf-1", workflow.StatusDeployed, webhookTrigger("/b"))
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
	mustCreate(t, s, newDeployment("wf-3", workflow.StatusDeployed, webhookTrigger("/b")))

	// An archived deployment does not count.
	archived := mustCreate(t, s, newDeployment("wf-1", workflow.StatusArchived))
	got, err := s.GetActiveDeployment(ctx, "wf-1")
	require.NoError(t, err)
	require.Equal(t, first.ID, got.ID)

	_, err = s.UpdateDeployment(ctx, first.ID, setStatus(workflow.StatusArchived, workflow.ActionArchive))
	require.NoError(t, err)
	_, err = s.GetActiveDeployment(ctx, "wf-1")
	require.ErrorIs(t, err, store.ErrNotFound)
	second = newDeployment("wf-1", workflow.StatusDeployed, webhookTrigger("/c"))
	require.NoError(t, s.CreateDeployment(ctx, second, deployEvent()))
	got, err = s.GetActiveDeployment(ctx, "wf-1")
	require.NoError(t, err)
	require.Equal(t, second.ID, got.ID)

	// Reviving an archived deployment while another is active conflicts too.
	_, err = s.UpdateDeployment(ctx, archived.ID, setStatus(workflow.StatusDraft, workflow.ActionUpdate))
	require.ErrorAs(t, err, &ae)
	if diff := cmp.Diff(&store.ActiveDeploymentError{WorkflowID: "wf-1", DeploymentID: second.ID}, ae); diff != "" {
		t.Errorf("ActiveDeploymentError from UpdateDeployment (-want +got):\n%s", diff)
	}
	got, err = s.GetDeployment(ctx, archived.ID)
	require.NoError(t, err)
	require.Equal(t, workflow.StatusArchived, got.Status, "the refused revival wrote nothing")
	// Updating an archived deployment otherwise is fine.
	_, err = s.UpdateDeployment(ctx, archived.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.DeployedBy = "carol"
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.NoError(t, err)
	got, err = s.GetActiveDeployment(ctx, "wf-1")
	require.NoError(t, err)
	require.Equal(t, second.ID, got.ID)
}

func testWebhookPathConflict(t *testing.T, s Store) {
	ctx := context.Background()
	owner := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed, webhookTrigger("/Hooks/Orders")))

	clash := newDeployment("wf-2", workflow.StatusDraft, cronTrigger("* * * * *"), webhookTrigger("/hooks/ORDERS"))
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
	mustCreate(t, s, newDeployment("wf-3", workflow.StatusArchived, webhookTrigger("/hooks/orders")))

	// ...and one path twice in a deployment is a clash with itself.
	twice := newDeployment("wf-4", workflow.StatusDraft, webhookTrigger("/x"), webhookTrigger("/X"))
	err = s.CreateDeployment(ctx, twice, deployEvent())
	require.ErrorAs(t, err, &we)
	if we.Path != "/X" || we.DeploymentID == "" {
		t.Errorf("WebhookPathError for a path listed twice = %+v, want path /X and the new deployment's id", we)
	}

	// Adding the path in an update clashes too, and writes nothing.
	other := mustCreate(t, s, newDeployment("wf-5", workflow.StatusDeployed, webhookTrigger("/other")))
	_, err = s.UpdateDeployment(ctx, other.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Triggers = append(d.Triggers, webhookTrigger("/HOOKS/orders"))
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.ErrorAs(t, err, &we)
	if diff := cmp.Diff(&store.WebhookPathError{Path: "/HOOKS/orders", DeploymentID: owner.ID}, we); diff != "" {
		t.Errorf("WebhookPathError from UpdateDeployment (-want +got):\n%s", diff)
	}
	got, err := s.GetDeployment(ctx, other.ID)
	require.NoError(t, err)
	require.Len(t, got.Triggers, 1, "the refused update wrote nothing")

	// Archiving the owner frees the path.
	_, err = s.UpdateDeployment(ctx, owner.ID, setStatus(workflow.StatusArchived, workflow.ActionArchive))
	require.NoError(t, err)
	clash.Triggers = []workflow.Trigger{webhookTrigger("/hooks/ORDERS")}
	require.NoError(t, s.CreateDeployment(ctx, clash, deployEvent()))

	// And the archived owner cannot come back while the path is taken.
	_, err = s.UpdateDeployment(ctx, owner.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = workflow.StatusDeployed
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.ErrorAs(t, err, &we)
	if diff := cmp.Diff(&store.WebhookPathError{Path: "/Hooks/Orders", DeploymentID: clash.ID}, we); diff != "" {
		t.Errorf("WebhookPathError when reviving (-want +got):\n%s", diff)
	}
}

func testConcurrentCreate(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 8
	ds := make([]*workflow.Deployment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ds[i] = newDeployment("wf-race", workflow.StatusDeployed, webhookTrigger(fmt.Sprintf("/race/%d", i)))
		wg.Go(func() {
			for {
				ds[i].ID = ""
				errs[i] = s.CreateDeployment(ctx, ds[i], deployEvent())
				if !errors.Is(errs[i], store.ErrConcurrentChange) {
					return
				}
			}
		})
	}
	wg.Wait()
	var winner string
	for i, err := range errs {
		if err == nil {
			if winner != "" {
				t.Errorf("two deployments of one workflow created: %s and %s", winner, ds[i].ID)
			}
			winner = ds[i].ID
		}
	}
	require.NotEmpty(t, winner, "no CreateDeployment succeeded: %v", errs)
	for i, err := range errs {
		var ae *store.ActiveDeploymentError
		if err != nil && (!errors.As(err, &ae) || ae.DeploymentID != winner) {
			t.Errorf("creation %d: %v, want ActiveDeploymentError naming %s", i, err, winner)
		}
	}
}

func testUpdateLifecycle(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDraft, cronTrigger("0 * * * *"), webhookTrigger("/life")))
	deployedAt := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

	steps := []struct {
		action string
		m      store.Mutation
		want   workflow.DeploymentStatus
	}{
		{workflow.ActionPromote, func(d *workflow.Deployment) (workflow.Event, error) {
			d.Status, d.DeployedAt = workflow.StatusDeployed, &deployedAt
			d.Version++
			d.Config.OverlapPolicy = workflow.OverlapAllowAll
			d.Definition = definition("Renamed")
			return workflow.Event{Action: workflow.ActionPromote, Actor: "bob", At: deployedAt}, nil
		}, workflow.StatusDeployed},
		{workflow.ActionPause, setStatus(workflow.StatusPaused, workflow.ActionPause), workflow.StatusPaused},
		{workflow.ActionResume, setStatus(workflow.StatusDeployed, workflow.ActionResume), workflow.StatusDeployed},
		{workflow.ActionArchive, setStatus(workflow.StatusArchived, workflow.ActionArchive), workflow.StatusArchived},
	}
	prev := d
	for i, step := range steps {
		got, err := s.UpdateDeployment(ctx, d.ID, step.m)
		require.NoError(t, err, step.action)
		want := *prev
		want.Status, want.Version, want.UpdatedAt = step.want, prev.Version+1, got.UpdatedAt
		if i == 0 {
			want.DeployedAt = &deployedAt
			want.Config.OverlapPolicy = workflow.OverlapAllowAll
			want.Definition = definition("Renamed")
		}
		if diff := cmp.Diff(&want, got, jsonEqual, roundedTime); diff != "" {
			t.Errorf("%s: returned deployment (-want +got):\n%s", step.action, diff)
		}
		if got.UpdatedAt.Before(prev.UpdatedAt) {
			t.Errorf("%s: UpdatedAt went back from %v to %v", step.action, prev.UpdatedAt, got.UpdatedAt)
		}
		stored, err := s.GetDeployment(ctx, d.ID)
		require.NoError(t, err)
		if diff := cmp.Diff(got, stored, jsonEqual, roundedTime); diff != "" {
			t.Errorf("%s: stored deployment (-want +got):\n%s", step.action, diff)
		}
		active, err := s.GetActiveDeployment(ctx, "wf-1")
		if step.want.Active() {
			require.NoError(t, err)
			require.Equal(t, d.ID, active.ID)
		} else {
			require.ErrorIs(t, err, store.ErrNotFound, "GetActiveDeployment after %s", step.action)
		}
		prev = got
	}

	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	ev := func(action string, from, to workflow.DeploymentStatus, version int64, actor string) workflow.Event {
		e := workflow.Event{DeploymentID: d.ID, WorkflowID: "wf-1", Action: action, FromStatus: from, ToStatus: to, Version: version, Actor: actor}
		if from != "" {
			e.FromVersion = version - 1
		}
		return e
	}
	want := []workflow.Event{
		ev(workflow.ActionDeploy, "", workflow.StatusDraft, 1, "alice"),
		ev(workflow.ActionPromote, workflow.StatusDraft, workflow.StatusDeployed, 2, "bob"),
		ev(workflow.ActionPause, workflow.StatusDeployed, workflow.StatusPaused, 3, "bob"),
		ev(workflow.ActionResume, workflow.StatusPaused, workflow.StatusDeployed, 4, "bob"),
		ev(workflow.ActionArchive, workflow.StatusDeployed, workflow.StatusArchived, 5, "bob"),
	}
	if diff := cmp.Diff(want, events, ignoreEventIDAndTime); diff != "" {
		t.Errorf("ListEvents (-want +got):\n%s", diff)
	}
	if !events[1].At.Equal(deployedAt) {
		t.Errorf("PROMOTE event At = %v, want the event's own time %v", events[1].At, deployedAt)
	}
	for i := 1; i < len(events); i++ {
		if events[i].ID <= events[i-1].ID {
			t.Errorf("event ids not increasing: %d then %d", events[i-1].ID, events[i].ID)
		}
	}
}

func testUpdateEventOverrides(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDraft))
	_, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.ID, d.WorkflowID = "ignored", "ignored" // not writable
		d.Version = 7
		return workflow.Event{Action: workflow.ActionUpdate, FromStatus: workflow.StatusPaused, ToStatus: workflow.StatusDeployed, Version: 9,
			FromVersion: 5, Reason: "a test says so"}, nil
	})
	require.NoError(t, err)
	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	if got.ID != d.ID || got.WorkflowID != "wf-1" || got.Version != 7 {
		t.Errorf("after the update: id %s, workflow %s, version %d; want %s, wf-1, 7", got.ID, got.WorkflowID, got.Version, d.ID)
	}
	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	want := workflow.Event{DeploymentID: d.ID, WorkflowID: "wf-1", Action: workflow.ActionUpdate,
		FromStatus: workflow.StatusPaused, ToStatus: workflow.StatusDeployed, Version: 9, FromVersion: 5, Reason: "a test says so"}
	if diff := cmp.Diff(want, events[len(events)-1], ignoreEventIDAndTime); diff != "" {
		t.Errorf("recorded event (-want +got):\n%s", diff)
	}
}

func testUpdateRollsBack(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed, cronTrigger("@daily"), webhookTrigger("/keep")))
	before, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)

	errRefused := errors.New("refused")
	got, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = workflow.StatusArchived
		d.Version = 99
		d.Triggers = []workflow.Trigger{manualTrigger()}
		return workflow.Event{Action: workflow.ActionArchive}, errRefused
	})
	if !errors.Is(err, errRefused) || got != nil {
		t.Fatalf("UpdateDeployment = %v, %v; want nil and the mutation's error", got, err)
	}
	after, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(before, after, jsonEqual); diff != "" {
		t.Errorf("deployment after a failed mutation (-want +got):\n%s", diff)
	}
	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	require.Len(t, events, 1, "no event for a failed mutation")
	active, err := s.GetActiveDeployment(ctx, "wf-1")
	require.NoError(t, err)
	require.Equal(t, d.ID, active.ID)
	// The webhook path is still the deployment's.
	err = s.CreateDeployment(ctx, newDeployment("wf-2", workflow.StatusDraft, webhookTrigger("/keep")), deployEvent())
	var we *store.WebhookPathError
	require.ErrorAs(t, err, &we)
}

// errVersion is what a service's mutation returns when the caller's expected
// version is not the stored one.
var errVersion = errors.New("version conflict")

// expectVersion is the service's optimistic check: the mutation sees the
// stored version, under the lock, and refuses a stale one.
func expectVersion(expected int64) store.Mutation {
	return func(d *workflow.Deployment) (workflow.Event, error) {
		if d.Version != expected {
			return workflow.Event{}, errVersion
		}
		d.Version++
		d.DeployedBy = fmt.Sprintf("v%d", expected)
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	}
}

func testUpdateExpectedVersion(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed))

	got, err := s.UpdateDeployment(ctx, d.ID, expectVersion(1))
	require.NoError(t, err)
	require.EqualValues(t, 2, got.Version)
	_, err = s.UpdateDeployment(ctx, d.ID, expectVersion(1))
	require.ErrorIs(t, err, errVersion, "the mutation sees the version the first update wrote")

	// Racing writers with the same expected version: exactly one applies.
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for {
				_, errs[i] = s.UpdateDeployment(ctx, d.ID, expectVersion(2))
				if !errors.Is(errs[i], store.ErrConcurrentChange) {
					return
				}
			}
		})
	}
	wg.Wait()
	applied := 0
	for _, err := range errs {
		if err == nil {
			applied++
		} else {
			require.ErrorIs(t, err, errVersion)
		}
	}
	require.Equal(t, 1, applied, "updates applied: %v", errs)
	got, err = s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, got.Version)
	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	require.Len(t, events, 3)
}

func testUpdateTriggers(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed,
		cronTrigger("0 0 * * *"), webhookTrigger("/one"), manualTrigger(), webhookTrigger("/two")))
	cron, one, manual, two := d.Triggers[0], d.Triggers[1], d.Triggers[2], d.Triggers[3]

	// An unchanged list keeps the triggers and their ids.
	got, err := s.UpdateDeployment(ctx, d.ID, setStatus(workflow.StatusDeployed, workflow.ActionUpdate))
	require.NoError(t, err)
	if diff := cmp.Diff(d.Triggers, got.Triggers); diff != "" {
		t.Errorf("unchanged triggers (-want +got):\n%s", diff)
	}

	// Edits in place, through the specs' pointers too, are written.
	got, err = s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Triggers[0].Cron.Expression = "0 12 * * *"
		d.Triggers[0].Cron.JitterWindowSeconds = new(int32(300))
		d.Triggers[1].Webhook.Methods = []string{"POST"}
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.NoError(t, err)
	cron.Cron = &workflow.CronSpec{Expression: "0 12 * * *", JitterWindowSeconds: new(int32(300))}
	one.Webhook = &workflow.WebhookSpec{Path: "/one", Methods: []string{"POST"}}
	if diff := cmp.Diff([]workflow.Trigger{cron, one, manual, two}, got.Triggers); diff != "" {
		t.Errorf("triggers edited (-want +got):\n%s", diff)
	}
	got, err = s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		*d.Triggers[0].Cron.JitterWindowSeconds = 60
		d.Triggers[1].Webhook.Methods[0] = "PUT"
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.NoError(t, err)
	cron.Cron = &workflow.CronSpec{Expression: "0 12 * * *", JitterWindowSeconds: new(int32(60))}
	one.Webhook = &workflow.WebhookSpec{Path: "/one", Methods: []string{"PUT"}}
	if diff := cmp.Diff([]workflow.Trigger{cron, one, manual, two}, got.Triggers); diff != "" {
		t.Errorf("triggers edited in place (-want +got):\n%s", diff)
	}

	// Replace: drop the cron trigger, swap the webhooks' paths and reorder
	// them, disable the manual trigger, add a new cron trigger.
	added := cronTrigger("*/5 * * * *")
	got, err = s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		one, manual, two := d.Triggers[1], d.Triggers[2], d.Triggers[3]
		one.Webhook.Path, two.Webhook.Path = "/TWO", "/one"
		manual.Enabled = false
		d.Triggers = []workflow.Trigger{two, added, one, manual}
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.NoError(t, err)
	one.Webhook = &workflow.WebhookSpec{Path: "/TWO", Methods: []string{"PUT"}}
	two.Webhook = &workflow.WebhookSpec{Path: "/one"}
	manual.Enabled = false
	require.Len(t, got.Triggers, 4)
	added.ID, added.DeploymentID = got.Triggers[1].ID, d.ID
	if added.ID == "" || slices.Contains([]string{cron.ID, one.ID, two.ID, manual.ID}, added.ID) {
		t.Errorf("added trigger id %q, want a new id", added.ID)
	}
	want := []workflow.Trigger{two, added, one, manual}
	if diff := cmp.Diff(want, got.Triggers); diff != "" {
		t.Errorf("replaced triggers (-want +got):\n%s", diff)
	}
	stored, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(want, stored.Triggers); diff != "" {
		t.Errorf("stored triggers (-want +got):\n%s", diff)
	}
	crons, err := s.ListCronTriggers(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, []string{added.ID}, cronIDs(crons), "the dropped cron trigger is gone")

	// Another deployment's trigger, or one listed twice, is refused.
	other := mustCreate(t, s, newDeployment("wf-2", workflow.StatusDeployed, manualTrigger()))
	for name, m := range map[string]store.Mutation{
		"another deployment's trigger": func(d *workflow.Deployment) (workflow.Event, error) {
			d.Triggers = append(d.Triggers, other.Triggers[0])
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		},
		"a trigger listed twice": func(d *workflow.Deployment) (workflow.Event, error) {
			d.Triggers = append(d.Triggers, d.Triggers[0])
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		},
		"a cron trigger without a spec": func(d *workflow.Deployment) (workflow.Event, error) {
			d.Triggers = []workflow.Trigger{{Type: workflow.TriggerCron}}
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		},
	} {
		_, err := s.UpdateDeployment(ctx, d.ID, m)
		require.Error(t, err, name)
		stored, err := s.GetDeployment(ctx, d.ID)
		require.NoError(t, err)
		if diff := cmp.Diff(want, stored.Triggers); diff != "" {
			t.Errorf("triggers after refusing %s (-want +got):\n%s", name, diff)
		}
	}
}

func cronIDs(cs []workflow.CronTrigger) []string {
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.TriggerID)
	}
	return ids
}

func testUpdateNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	for _, id := range []string{"5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", "not-a-uuid", ""} {
		called := false
		_, err := s.UpdateDeployment(ctx, id, func(*workflow.Deployment) (workflow.Event, error) {
			called = true
			return workflow.Event{}, nil
		})
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Errorf("UpdateDeployment(%q) = %v, mutation called: %v; want ErrNotFound without calling it", id, err, called)
		}
	}
}

func testConcurrentUpdates(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed))
	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				_, err := s.UpdateDeployment(ctx, d.ID, setStatus(workflow.StatusDeployed, workflow.ActionUpdate))
				if errors.Is(err, store.ErrConcurrentChange) {
					continue
				}
				if err != nil {
					t.Errorf("UpdateDeployment: %v", err)
				}
				return
			}
		})
	}
	// A creation for the same workflow races with the updates and loses cleanly.
	wg.Go(func() {
		err := s.CreateDeployment(ctx, newDeployment("wf-1", workflow.StatusDraft), deployEvent())
		var ae *store.ActiveDeploymentError
		if !errors.As(err, &ae) && !errors.Is(err, store.ErrConcurrentChange) {
			t.Errorf("concurrent CreateDeployment: %v, want ActiveDeploymentError", err)
		}
	})
	wg.Wait()
	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, n+1, got.Version, "every increment applied to the one before")
	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	require.Len(t, events, n+1)
	for i, e := range events {
		if e.Version != int64(i+1) {
			t.Errorf("event %d has version %d, want %d", i, e.Version, i+1)
		}
	}
}

func testNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed))
	for _, id := range []string{"5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", "not-a-uuid", "", "urn:uuid:5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", "'; DROP TABLE deployments; --"} {
		if _, err := s.GetDeployment(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetDeployment(%q): %v, want ErrNotFound", id, err)
		}
		if _, err := s.LastExecution(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LastExecution(%q): %v, want ErrNotFound", id, err)
		}
		if n, err := s.CountUnfinishedExecutions(ctx, id); err != nil || n != 0 {
			t.Errorf("CountUnfinishedExecutions(%q) = %d, %v; want 0, nil", id, n, err)
		}
		if events, err := s.ListEvents(ctx, id); err != nil || len(events) != 0 {
			t.Errorf("ListEvents(%q) = %v, %v; want none", id, events, err)
		}
		if _, err := s.GetActiveDeployment(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetActiveDeployment(%q): %v, want ErrNotFound", id, err)
		}
		if _, err := s.GetExecution(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetExecution(%q): %v, want ErrNotFound", id, err)
		}
	}
}

func testListDeployments(t *testing.T, s Store) {
	ctx := context.Background()
	// 12 deployments, created oldest first: every third is archived, a
	// deployment with an even index has a webhook, one with an index
	// divisible by 4 belongs to wf-even.
	var all []*workflow.Deployment
	for i := range 12 {
		wf := fmt.Sprintf("wf-%02d", i)
		if i%4 == 0 {
			wf = "wf-even"
		}
		triggers := []workflow.Trigger{cronTrigger("@hourly")}
		if i%2 == 0 {
			triggers = append(triggers, webhookTrigger(fmt.Sprintf("/list/%d", i)))
		}
		status := []workflow.DeploymentStatus{workflow.StatusDraft, workflow.StatusDeployed, workflow.StatusPaused}[i%3]
		if i%4 == 0 && i != 8 {
			status = workflow.StatusArchived // wf-even: 0 and 4 archived, 8 active
		}
		all = append(all, mustCreate(t, s, newDeployment(wf, status, triggers...)))
	}
	// Newest first. How a store orders deployments created at one instant
	// is its own choice, so the expected order is the store's full listing,
	// checked to hold every deployment, newest first.
	every := []workflow.DeploymentStatus{workflow.StatusDraft, workflow.StatusDeployed, workflow.StatusPaused, workflow.StatusArchived}
	full, err := s.ListDeployments(ctx, workflow.ListFilter{Statuses: every, Limit: 100})
	require.NoError(t, err)
	require.ElementsMatch(t, deploymentIDs(derefs(all)), deploymentIDs(full.Deployments))
	require.True(t, slices.IsSortedFunc(full.Deployments, func(a, b workflow.Deployment) int { return b.CreatedAt.Compare(a.CreatedAt) }),
		"deployments not newest first")
	byID := map[string]*workflow.Deployment{}
	for _, d := range all {
		byID[d.ID] = d
	}
	for i, d := range full.Deployments {
		all[i] = byID[d.ID]
	}
	where := func(keep func(d *workflow.Deployment) bool) []workflow.Deployment {
		var out []workflow.Deployment
		for _, d := range all {
			if keep(d) {
				out = append(out, *d)
			}
		}
		return out
	}
	hasType := func(d *workflow.Deployment, tt workflow.TriggerType) bool {
		return slices.ContainsFunc(d.Triggers, func(t workflow.Trigger) bool { return t.Type == tt })
	}

	for _, tc := range []struct {
		name string
		f    workflow.ListFilter
		want []workflow.Deployment
	}{
		{"default: active only", workflow.ListFilter{},
			where(func(d *workflow.Deployment) bool { return d.Status.Active() })},
		{"archived", workflow.ListFilter{Statuses: []workflow.DeploymentStatus{workflow.StatusArchived}},
			where(func(d *workflow.Deployment) bool { return d.Status == workflow.StatusArchived })},
		{"every status", workflow.ListFilter{Statuses: every}, where(func(*workflow.Deployment) bool { return true })},
		{"paused or draft", workflow.ListFilter{Statuses: []workflow.DeploymentStatus{workflow.StatusPaused, workflow.StatusDraft}},
			where(func(d *workflow.Deployment) bool {
				return d.Status == workflow.StatusPaused || d.Status == workflow.StatusDraft
			})},
		{"workflow", workflow.ListFilter{WorkflowID: "wf-even"},
			where(func(d *workflow.Deployment) bool { return d.WorkflowID == "wf-even" && d.Status.Active() })},
		{"workflow, archived too", workflow.ListFilter{WorkflowID: "wf-even", Statuses: every},
			where(func(d *workflow.Deployment) bool { return d.WorkflowID == "wf-even" })},
		{"webhook", workflow.ListFilter{TriggerType: workflow.TriggerWebhook},
			where(func(d *workflow.Deployment) bool { return hasType(d, workflow.TriggerWebhook) && d.Status.Active() })},
		{"manual: none", workflow.ListFilter{TriggerType: workflow.TriggerManual}, nil},
		{"unknown workflow", workflow.ListFilter{WorkflowID: "wf-none"}, nil},
	} {
		for _, limit := range []int{1, 3, 5, 100} {
			f := tc.f
			f.Limit = limit
			var got []workflow.Deployment
			pages := 0
			for {
				page, err := s.ListDeployments(ctx, f)
				require.NoError(t, err)
				pages++
				if page.Total != int64(len(tc.want)) {
					t.Errorf("%s, limit %d, page %d: Total = %d, want %d", tc.name, limit, pages, page.Total, len(tc.want))
				}
				if len(page.Deployments) > limit {
					t.Errorf("%s: page %d has %d deployments, limit %d", tc.name, pages, len(page.Deployments), limit)
				}
				got = append(got, page.Deployments...)
				if page.Next == "" {
					break
				}
				require.Less(t, pages, 20, "too many pages")
				f.After = page.Next
			}
			if diff := cmp.Diff(tc.want, got, jsonEqual, roundedTime, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: deployments over pages of %d (-want +got):\n%s", tc.name, limit, diff)
			}
			if wantPages := max(1, (len(tc.want)+limit-1)/limit); pages != wantPages {
				t.Errorf("%s: %d pages of %d, want %d", tc.name, pages, limit, wantPages)
			}
		}
	}

	// A cursor stays valid when newer deployments arrive.
	first, err := s.ListDeployments(ctx, workflow.ListFilter{Statuses: every, Limit: 4})
	require.NoError(t, err)
	mustCreate(t, s, newDeployment("wf-late", workflow.StatusDraft))
	second, err := s.ListDeployments(ctx, workflow.ListFilter{Statuses: every, Limit: 4, After: first.Next})
	require.NoError(t, err)
	require.Equal(t, []string{all[4].ID, all[5].ID, all[6].ID, all[7].ID}, deploymentIDs(second.Deployments))

	// Without a limit, the default page size holds them all.
	page, err := s.ListDeployments(ctx, workflow.ListFilter{Statuses: every})
	require.NoError(t, err)
	if len(page.Deployments) != len(all)+1 || page.Next != "" {
		t.Errorf("ListDeployments without a limit: %d deployments, next %q; want all %d, no next", len(page.Deployments), page.Next, len(all)+1)
	}
}

func derefs(ds []*workflow.Deployment) []workflow.Deployment {
	out := make([]workflow.Deployment, len(ds))
	for i, d := range ds {
		out[i] = *d
	}
	return out
}

func deploymentIDs(ds []workflow.Deployment) []string {
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

func testListDeploymentsByteBudget(t *testing.T, s Store) {
	ctx := context.Background()
	big := strings.Repeat("x", 10_000)
	for i := range 5 {
		d := newDeployment(fmt.Sprintf("wf-big-%d", i), workflow.StatusDeployed)
		d.Definition = json.RawMessage(fmt.Sprintf(`{"name": %q, "nodes": []}`, big))
		mustCreate(t, s, d)
	}
	seen := map[string]bool{}
	var pages []int
	after := ""
	for range 10 {
		page, err := s.ListDeployments(ctx, workflow.ListFilter{Limit: 50, After: after, MaxBytes: 25_000})
		require.NoError(t, err)
		require.EqualValues(t, 5, page.Total)
		pages = append(pages, len(page.Deployments))
		for _, d := range page.Deployments {
			require.False(t, seen[d.ID], "deployment %s on two pages", d.ID)
			seen[d.ID] = true
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	require.Equal(t, []int{2, 2, 1}, pages, "two 10 kB definitions fit in 25 kB, three do not")
	require.Len(t, seen, 5)

	page, err := s.ListDeployments(ctx, workflow.ListFilter{Limit: 50, MaxBytes: 1})
	require.NoError(t, err)
	require.Len(t, page.Deployments, 1, "a page holds one deployment however large")
	require.NotEmpty(t, page.Next)
}

// badCursors are page tokens no store makes.
func badCursors() []string {
	enc := base64.RawURLEncoding.EncodeToString
	return []string{"!!!", "not base64!", "%%%", enc([]byte("no separator")), enc([]byte("soon:5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"))}
}

func testListDeploymentsBadCursor(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreate(t, s, newDeployment("wf-1", workflow.StatusDraft))
	for _, c := range badCursors() {
		if _, err := s.ListDeployments(ctx, workflow.ListFilter{Limit: 2, After: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListDeployments after %q: %v, want ErrBadCursor", c, err)
		}
	}
}

func testListCronTriggers(t *testing.T, s Store) {
	ctx := context.Background()
	window := int32(60)
	deployed := newDeployment("wf-cron", workflow.StatusDeployed,
		workflow.Trigger{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "0 * * * *", Timezone: "Europe/London", JitterWindowSeconds: &window}},
		webhookTrigger("hooks/a"), cronTrigger("*/5 * * * *"),
		workflow.Trigger{Type: workflow.TriggerCron, Enabled: false, Cron: &workflow.CronSpec{Expression: "@daily"}})
	deployed.Config = workflow.Config{OverlapPolicy: workflow.OverlapSkip, CatchupWindowSeconds: 120}
	mustCreate(t, s, deployed)
	draft := mustCreate(t, s, newDeployment("wf-draft", workflow.StatusDraft, cronTrigger("0 * * * *")))
	paused := mustCreate(t, s, newDeployment("wf-paused", workflow.StatusDeployed, cronTrigger("0 * * * *")))
	_, err := s.UpdateDeployment(ctx, paused.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)
	other := mustCreate(t, s, newDeployment("wf-other", workflow.StatusDeployed, cronTrigger("@daily")))
	archived := mustCreate(t, s, newDeployment("wf-archived", workflow.StatusArchived, cronTrigger("@daily")))

	slot := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	mustCreateExecution(t, s, cronExecution(deployed, deployed.Triggers[0].ID, slot))
	mustCreateExecution(t, s, cronExecution(deployed, deployed.Triggers[0].ID, slot.Add(-time.Hour)))

	all, err := s.ListCronTriggers(ctx, "")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{deployed.Triggers[0].ID, deployed.Triggers[2].ID, other.Triggers[0].ID}, cronIDs(all),
		"enabled cron triggers of DEPLOYED deployments only")

	mine, err := s.ListCronTriggers(ctx, deployed.ID)
	require.NoError(t, err)
	want := []workflow.CronTrigger{
		{
			TriggerID: deployed.Triggers[0].ID, DeploymentID: deployed.ID, DeploymentVersion: 1, WorkflowID: "wf-cron",
			Spec: *deployed.Triggers[0].Cron, Config: deployed.Config, LastSlot: &slot, ScheduledSince: deployed.UpdatedAt,
		},
		{
			TriggerID: deployed.Triggers[2].ID, DeploymentID: deployed.ID, DeploymentVersion: 1, WorkflowID: "wf-cron",
			Spec: workflow.CronSpec{Expression: "*/5 * * * *"}, Config: deployed.Config, ScheduledSince: deployed.UpdatedAt,
		},
	}
	if diff := cmp.Diff(want, mine, roundedTime, cmpopts.SortSlices(func(a, b workflow.CronTrigger) bool { return a.TriggerID < b.TriggerID })); diff != "" {
		t.Errorf("ListCronTriggers (-want +got):\n%s", diff)
	}

	// A replica's share: only the triggers owns keeps, decoded as in full.
	share, err := s.ListOwnedCronTriggers(ctx, func(id string) bool { return id != deployed.Triggers[0].ID && id != other.Triggers[0].ID })
	require.NoError(t, err)
	if diff := cmp.Diff(want[1:], share, roundedTime); diff != "" {
		t.Errorf("ListOwnedCronTriggers (-want +got):\n%s", diff)
	}
	none, err := s.ListOwnedCronTriggers(ctx, func(string) bool { return false })
	require.NoError(t, err)
	require.Empty(t, none)

	for _, id := range []string{paused.ID, draft.ID, archived.ID, "not-a-uuid", "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"} {
		none, err := s.ListCronTriggers(ctx, id)
		require.NoError(t, err)
		require.Empty(t, none, id)
	}

	// Resuming schedules the triggers again, from the resumption on.
	resumed, err := s.UpdateDeployment(ctx, paused.ID, setStatus(workflow.StatusDeployed, workflow.ActionResume))
	require.NoError(t, err)
	got, err := s.ListCronTriggers(ctx, paused.ID)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.EqualValues(t, 3, got[0].DeploymentVersion)
	require.True(t, got[0].ScheduledSince.Equal(resumed.UpdatedAt), "ScheduledSince %v, want the resumption %v", got[0].ScheduledSince, resumed.UpdatedAt)
}

func testChangedDeployments(t *testing.T, s Store) {
	ctx := context.Background()
	old := mustCreate(t, s, newDeployment("wf-changed-old", workflow.StatusDeployed, cronTrigger("@daily")))
	time.Sleep(1500 * time.Millisecond)
	deployed := mustCreate(t, s, newDeployment("wf-changed-new", workflow.StatusDeployed, cronTrigger("@daily")))
	paused := mustCreate(t, s, newDeployment("wf-changed-paused", workflow.StatusDeployed, cronTrigger("@daily")))
	_, err := s.UpdateDeployment(ctx, paused.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)

	recent, err := s.ChangedDeployments(ctx, time.Second)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{deployed.ID, paused.ID}, recent, "changed in the last second, paused or not")
	all, err := s.ChangedDeployments(ctx, time.Hour)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{old.ID, deployed.ID, paused.ID}, all)
}

func testListWebhookTriggers(t *testing.T, s Store) {
	ctx := context.Background()
	spec := workflow.WebhookSpec{Path: "/Hooks/A", Methods: []string{"POST"}, Secrets: []string{"s1"}, ResponseMode: workflow.ResponseSync, SyncTimeoutSeconds: 5}
	deployed := mustCreate(t, s, newDeployment("wf-deployed", workflow.StatusDeployed,
		workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &spec}, cronTrigger("@daily"),
		webhookTrigger("/b"), workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: false, Webhook: &workflow.WebhookSpec{Path: "/off"}}))
	draft := mustCreate(t, s, newDeployment("wf-draft", workflow.StatusDraft, webhookTrigger("/draft")))
	paused := mustCreate(t, s, newDeployment("wf-paused", workflow.StatusDeployed, webhookTrigger("/paused")))
	paused, err := s.UpdateDeployment(ctx, paused.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)
	archived := mustCreate(t, s, newDeployment("wf-archived", workflow.StatusArchived, webhookTrigger("/archived")))

	all, err := s.ListWebhookTriggers(ctx, "")
	require.NoError(t, err)
	var got []string
	for _, w := range all {
		got = append(got, w.TriggerID)
	}
	require.ElementsMatch(t, []string{deployed.Triggers[0].ID, deployed.Triggers[2].ID, draft.Triggers[0].ID, paused.Triggers[0].ID}, got,
		"enabled webhook triggers of active deployments")

	mine, err := s.ListWebhookTriggers(ctx, deployed.ID)
	require.NoError(t, err)
	want := []workflow.WebhookTrigger{
		{TriggerID: deployed.Triggers[0].ID, DeploymentID: deployed.ID, DeploymentVersion: 1, WorkflowID: "wf-deployed",
			DeploymentStatus: workflow.StatusDeployed, Spec: spec},
		{TriggerID: deployed.Triggers[2].ID, DeploymentID: deployed.ID, DeploymentVersion: 1, WorkflowID: "wf-deployed",
			DeploymentStatus: workflow.StatusDeployed, Spec: workflow.WebhookSpec{Path: "/b"}},
	}
	if diff := cmp.Diff(want, mine, cmpopts.SortSlices(func(a, b workflow.WebhookTrigger) bool { return a.TriggerID < b.TriggerID })); diff != "" {
		t.Errorf("ListWebhookTriggers of a deployment (-want +got):\n%s", diff)
	}
	one, err := s.ListWebhookTriggers(ctx, paused.ID)
	require.NoError(t, err)
	require.Len(t, one, 1)
	require.Equal(t, workflow.StatusPaused, one[0].DeploymentStatus)
	require.EqualValues(t, 2, one[0].DeploymentVersion)

	for _, id := range []string{archived.ID, "not-a-uuid", "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"} {
		none, err := s.ListWebhookTriggers(ctx, id)
		require.NoError(t, err)
		require.Empty(t, none, id)
	}
}

func testDeploymentVersions(t *testing.T, s Store) {
	ctx := context.Background()
	d := newDeployment("wf-versions", workflow.StatusDeployed)
	d.Config = workflow.Config{OverlapPolicy: workflow.OverlapSkip, ExecutionTimeoutSeconds: 600}
	mustCreate(t, s, d)
	v1 := workflow.DeploymentVersion{DeploymentID: d.ID, Version: 1, Definition: d.Definition, Config: d.Config, TriggersKept: true,
		CreatedBy: "alice"}
	// A version's author is its event's actor, and whom the actor named.
	v2 := workflow.DeploymentVersion{DeploymentID: d.ID, Version: 2, Definition: definition("Changed"),
		Config: workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, ExecutionTimeoutSeconds: 5}, TriggersKept: true,
		CreatedBy: "ci", OnBehalfOf: "carol"}
	_, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Version, d.Definition, d.Config = v2.Version, v2.Definition, v2.Config
		return workflow.Event{Action: workflow.ActionUpdate, Actor: "ci", OnBehalfOf: "carol"}, nil
	})
	require.NoError(t, err)
	_, err = s.UpdateDeployment(ctx, d.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)
	v3 := v2
	v3.Version, v3.CreatedBy, v3.OnBehalfOf = 3, "bob", ""
	evs, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	require.Equal(t, [2]string{"ci", "carol"}, [2]string{evs[1].Actor, evs[1].OnBehalfOf}, "the event keeps whom its actor named")

	for _, want := range []workflow.DeploymentVersion{v1, v2, v3} {
		got, err := s.GetDeploymentVersion(ctx, d.ID, want.Version)
		require.NoError(t, err)
		if diff := cmp.Diff(want, *got, cmp.Transformer("json", func(m json.RawMessage) any {
			var v any
			require.NoError(t, json.Unmarshal(m, &v))
			return v
		}), cmpopts.EquateEmpty(), cmpopts.IgnoreFields(workflow.DeploymentVersion{}, "CreatedAt")); diff != "" {
			t.Errorf("version %d (-want +got):\n%s", want.Version, diff)
		}
		require.NotNil(t, got.CreatedAt, "version %d", want.Version)
	}
	for _, tc := range []struct {
		id      string
		version int64
	}{{d.ID, 4}, {d.ID, 0}, {"5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", 1}, {"not-a-uuid", 1}} {
		_, err := s.GetDeploymentVersion(ctx, tc.id, tc.version)
		require.ErrorIs(t, err, store.ErrNotFound, "%+v", tc)
	}
}
