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
)

// ignoreEventIDAndTime leaves out what the store chooses for an event.
var ignoreEventIDAndTime = cmpopts.IgnoreFields(store.Event{}, "ID", "At")

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
	{"reads of what does not exist", testNotFound},
	{"ListDeployments/filters and paging", testListDeployments},
	{"ListDeployments/byte budget", testListDeploymentsByteBudget},
	{"ListDeployments/bad cursor", testListDeploymentsBadCursor},
	{"ListCronTriggers", testListCronTriggers},
	{"ListWebhookTriggers", testListWebhookTriggers},
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

func testConcurrentCreate(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 8
	ds := make([]*store.Deployment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ds[i] = newDeployment("wf-race", store.StatusDeployed, webhookTrigger(fmt.Sprintf("/race/%d", i)))
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
	d := mustCreate(t, s, newDeployment("wf-1", store.StatusDraft, cronTrigger("0 * * * *"), webhookTrigger("/life")))
	deployedAt := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

	steps := []struct {
		action string
		m      store.Mutation
		want   store.DeploymentStatus
	}{
		{store.ActionPromote, func(d *store.Deployment) (store.Event, error) {
			d.Status, d.DeployedAt = store.StatusDeployed, &deployedAt
			d.Version++
			d.Config.OverlapPolicy = store.OverlapAllowAll
			d.Definition = definition("Renamed")
			return store.Event{Action: store.ActionPromote, Actor: "bob", At: deployedAt}, nil
		}, store.StatusDeployed},
		{store.ActionPause, setStatus(store.StatusPaused, store.ActionPause), store.StatusPaused},
		{store.ActionResume, setStatus(store.StatusDeployed, store.ActionResume), store.StatusDeployed},
		{store.ActionArchive, setStatus(store.StatusArchived, store.ActionArchive), store.StatusArchived},
	}
	prev := d
	for i, step := range steps {
		got, err := s.UpdateDeployment(ctx, d.ID, step.m)
		require.NoError(t, err, step.action)
		want := *prev
		want.Status, want.Version, want.UpdatedAt = step.want, prev.Version+1, got.UpdatedAt
		if i == 0 {
			want.DeployedAt = &deployedAt
			want.Config.OverlapPolicy = store.OverlapAllowAll
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
	ev := func(action string, from, to store.DeploymentStatus, version int64, actor string) store.Event {
		return store.Event{DeploymentID: d.ID, WorkflowID: "wf-1", Action: action, FromStatus: from, ToStatus: to, Version: version, Actor: actor}
	}
	want := []store.Event{
		ev(store.ActionDeploy, "", store.StatusDraft, 1, "alice"),
		ev(store.ActionPromote, store.StatusDraft, store.StatusDeployed, 2, "bob"),
		ev(store.ActionPause, store.StatusDeployed, store.StatusPaused, 3, "bob"),
		ev(store.ActionResume, store.StatusPaused, store.StatusDeployed, 4, "bob"),
		ev(store.ActionArchive, store.StatusDeployed, store.StatusArchived, 5, "bob"),
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
	d := mustCreate(t, s, newDeployment("wf-1", store.StatusDraft))
	_, err := s.UpdateDeployment(ctx, d.ID, func(d *store.Deployment) (store.Event, error) {
		d.ID, d.WorkflowID = "ignored", "ignored" // not writable
		d.Version = 7
		return store.Event{Action: store.ActionUpdate, FromStatus: store.StatusPaused, ToStatus: store.StatusDeployed, Version: 9}, nil
	})
	require.NoError(t, err)
	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	if got.ID != d.ID || got.WorkflowID != "wf-1" || got.Version != 7 {
		t.Errorf("after the update: id %s, workflow %s, version %d; want %s, wf-1, 7", got.ID, got.WorkflowID, got.Version, d.ID)
	}
	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	want := store.Event{DeploymentID: d.ID, WorkflowID: "wf-1", Action: store.ActionUpdate,
		FromStatus: store.StatusPaused, ToStatus: store.StatusDeployed, Version: 9}
	if diff := cmp.Diff(want, events[len(events)-1], ignoreEventIDAndTime); diff != "" {
		t.Errorf("recorded event (-want +got):\n%s", diff)
	}
}

func testUpdateRollsBack(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", store.StatusDeployed, cronTrigger("@daily"), webhookTrigger("/keep")))
	before, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)

	errRefused := errors.New("refused")
	got, err := s.UpdateDeployment(ctx, d.ID, func(d *store.Deployment) (store.Event, error) {
		d.Status = store.StatusArchived
		d.Version = 99
		d.Triggers = []store.Trigger{manualTrigger()}
		return store.Event{Action: store.ActionArchive}, errRefused
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
	err = s.CreateDeployment(ctx, newDeployment("wf-2", store.StatusDraft, webhookTrigger("/keep")), deployEvent())
	var we *store.WebhookPathError
	require.ErrorAs(t, err, &we)
}

// errVersion is what a service's mutation returns when the caller's expected
// version is not the stored one.
var errVersion = errors.New("version conflict")

// expectVersion is the service's optimistic check: the mutation sees the
// stored version, under the lock, and refuses a stale one.
func expectVersion(expected int64) store.Mutation {
	return func(d *store.Deployment) (store.Event, error) {
		if d.Version != expected {
			return store.Event{}, errVersion
		}
		d.Version++
		d.DeployedBy = fmt.Sprintf("v%d", expected)
		return store.Event{Action: store.ActionUpdate}, nil
	}
}

func testUpdateExpectedVersion(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", store.StatusDeployed))

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
	d := mustCreate(t, s, newDeployment("wf-1", store.StatusDeployed,
		cronTrigger("0 0 * * *"), webhookTrigger("/one"), manualTrigger(), webhookTrigger("/two")))
	cron, one, manual, two := d.Triggers[0], d.Triggers[1], d.Triggers[2], d.Triggers[3]

	// An unchanged list keeps the triggers and their ids.
	got, err := s.UpdateDeployment(ctx, d.ID, setStatus(store.StatusDeployed, store.ActionUpdate))
	require.NoError(t, err)
	if diff := cmp.Diff(d.Triggers, got.Triggers); diff != "" {
		t.Errorf("unchanged triggers (-want +got):\n%s", diff)
	}

	// Edits in place, through the specs' pointers too, are written.
	got, err = s.UpdateDeployment(ctx, d.ID, func(d *store.Deployment) (store.Event, error) {
		d.Triggers[0].Cron.Expression = "0 12 * * *"
		d.Triggers[0].Cron.JitterWindowSeconds = ptr[int32](300)
		d.Triggers[1].Webhook.Methods = []string{"POST"}
		return store.Event{Action: store.ActionUpdate}, nil
	})
	require.NoError(t, err)
	got, err = s.UpdateDeployment(ctx, d.ID, func(d *store.Deployment) (store.Event, error) {
		*d.Triggers[0].Cron.JitterWindowSeconds = 60
		d.Triggers[1].Webhook.Methods[0] = "PUT"
		return store.Event{Action: store.ActionUpdate}, nil
	})
	require.NoError(t, err)
	cron.Cron = &store.CronSpec{Expression: "0 12 * * *", JitterWindowSeconds: ptr[int32](60)}
	one.Webhook = &store.WebhookSpec{Path: "/one", Methods: []string{"PUT"}}
	if diff := cmp.Diff([]store.Trigger{cron, one, manual, two}, got.Triggers); diff != "" {
		t.Errorf("triggers edited in place (-want +got):\n%s", diff)
	}

	// Replace: drop the cron trigger, swap the webhooks' paths and reorder
	// them, disable the manual trigger, add a new cron trigger.
	added := cronTrigger("*/5 * * * *")
	got, err = s.UpdateDeployment(ctx, d.ID, func(d *store.Deployment) (store.Event, error) {
		one, manual, two := d.Triggers[1], d.Triggers[2], d.Triggers[3]
		one.Webhook.Path, two.Webhook.Path = "/TWO", "/one"
		manual.Enabled = false
		d.Triggers = []store.Trigger{two, added, one, manual}
		return store.Event{Action: store.ActionUpdate}, nil
	})
	require.NoError(t, err)
	one.Webhook = &store.WebhookSpec{Path: "/TWO", Methods: []string{"PUT"}}
	two.Webhook = &store.WebhookSpec{Path: "/one"}
	manual.Enabled = false
	require.Len(t, got.Triggers, 4)
	added.ID, added.DeploymentID = got.Triggers[1].ID, d.ID
	if added.ID == "" || slices.Contains([]string{cron.ID, one.ID, two.ID, manual.ID}, added.ID) {
		t.Errorf("added trigger id %q, want a new id", added.ID)
	}
	want := []store.Trigger{two, added, one, manual}
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
	other := mustCreate(t, s, newDeployment("wf-2", store.StatusDeployed, manualTrigger()))
	for name, m := range map[string]store.Mutation{
		"another deployment's trigger": func(d *store.Deployment) (store.Event, error) {
			d.Triggers = append(d.Triggers, other.Triggers[0])
			return store.Event{Action: store.ActionUpdate}, nil
		},
		"a trigger listed twice": func(d *store.Deployment) (store.Event, error) {
			d.Triggers = append(d.Triggers, d.Triggers[0])
			return store.Event{Action: store.ActionUpdate}, nil
		},
		"a cron trigger without a spec": func(d *store.Deployment) (store.Event, error) {
			d.Triggers = []store.Trigger{{Type: store.TriggerCron}}
			return store.Event{Action: store.ActionUpdate}, nil
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

func cronIDs(cs []store.CronTrigger) []string {
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
		_, err := s.UpdateDeployment(ctx, id, func(*store.Deployment) (store.Event, error) {
			called = true
			return store.Event{}, nil
		})
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Errorf("UpdateDeployment(%q) = %v, mutation called: %v; want ErrNotFound without calling it", id, err, called)
		}
	}
}

func testConcurrentUpdates(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", store.StatusDeployed))
	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				_, err := s.UpdateDeployment(ctx, d.ID, setStatus(store.StatusDeployed, store.ActionUpdate))
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
		err := s.CreateDeployment(ctx, newDeployment("wf-1", store.StatusDraft), deployEvent())
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
	mustCreate(t, s, newDeployment("wf-1", store.StatusDeployed))
	for _, id := range []string{"5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", "not-a-uuid", "", "'; DROP TABLE deployments; --"} {
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
	var all []*store.Deployment
	for i := range 12 {
		wf := fmt.Sprintf("wf-%02d", i)
		if i%4 == 0 {
			wf = "wf-even"
		}
		triggers := []store.Trigger{cronTrigger("@hourly")}
		if i%2 == 0 {
			triggers = append(triggers, webhookTrigger(fmt.Sprintf("/list/%d", i)))
		}
		status := []store.DeploymentStatus{store.StatusDraft, store.StatusDeployed, store.StatusPaused}[i%3]
		if i%4 == 0 && i != 8 {
			status = store.StatusArchived // wf-even: 0 and 4 archived, 8 active
		}
		all = append(all, mustCreate(t, s, newDeployment(wf, status, triggers...)))
	}
	// Newest first; creations within one clock tick may come in either
	// order, so the expectation follows the store's ids only where times tie.
	slices.SortFunc(all, func(a, b *store.Deployment) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	where := func(keep func(d *store.Deployment) bool) []store.Deployment {
		var out []store.Deployment
		for _, d := range all {
			if keep(d) {
				out = append(out, *d)
			}
		}
		return out
	}
	hasType := func(d *store.Deployment, tt store.TriggerType) bool {
		return slices.ContainsFunc(d.Triggers, func(t store.Trigger) bool { return t.Type == tt })
	}
	every := []store.DeploymentStatus{store.StatusDraft, store.StatusDeployed, store.StatusPaused, store.StatusArchived}

	for _, tc := range []struct {
		name string
		f    store.ListFilter
		want []store.Deployment
	}{
		{"default: active only", store.ListFilter{},
			where(func(d *store.Deployment) bool { return d.Status.Active() })},
		{"archived", store.ListFilter{Statuses: []store.DeploymentStatus{store.StatusArchived}},
			where(func(d *store.Deployment) bool { return d.Status == store.StatusArchived })},
		{"every status", store.ListFilter{Statuses: every}, where(func(*store.Deployment) bool { return true })},
		{"paused or draft", store.ListFilter{Statuses: []store.DeploymentStatus{store.StatusPaused, store.StatusDraft}},
			where(func(d *store.Deployment) bool {
				return d.Status == store.StatusPaused || d.Status == store.StatusDraft
			})},
		{"workflow", store.ListFilter{WorkflowID: "wf-even"},
			where(func(d *store.Deployment) bool { return d.WorkflowID == "wf-even" && d.Status.Active() })},
		{"workflow, archived too", store.ListFilter{WorkflowID: "wf-even", Statuses: every},
			where(func(d *store.Deployment) bool { return d.WorkflowID == "wf-even" })},
		{"webhook", store.ListFilter{TriggerType: store.TriggerWebhook},
			where(func(d *store.Deployment) bool { return hasType(d, store.TriggerWebhook) && d.Status.Active() })},
		{"manual: none", store.ListFilter{TriggerType: store.TriggerManual}, nil},
		{"unknown workflow", store.ListFilter{WorkflowID: "wf-none"}, nil},
	} {
		for _, limit := range []int{1, 3, 5, 100} {
			f := tc.f
			f.Limit = limit
			var got []store.Deployment
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
	first, err := s.ListDeployments(ctx, store.ListFilter{Statuses: every, Limit: 4})
	require.NoError(t, err)
	mustCreate(t, s, newDeployment("wf-late", store.StatusDraft))
	second, err := s.ListDeployments(ctx, store.ListFilter{Statuses: every, Limit: 4, After: first.Next})
	require.NoError(t, err)
	require.Equal(t, []string{all[4].ID, all[5].ID, all[6].ID, all[7].ID}, deploymentIDs(second.Deployments))

	// Without a limit, the default page size holds them all.
	page, err := s.ListDeployments(ctx, store.ListFilter{Statuses: every})
	require.NoError(t, err)
	if len(page.Deployments) != len(all)+1 || page.Next != "" {
		t.Errorf("ListDeployments without a limit: %d deployments, next %q; want all %d, no next", len(page.Deployments), page.Next, len(all)+1)
	}
}

func deploymentIDs(ds []store.Deployment) []string {
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
		d := newDeployment(fmt.Sprintf("wf-big-%d", i), store.StatusDeployed)
		d.Definition = json.RawMessage(fmt.Sprintf(`{"name": %q, "nodes": []}`, big))
		mustCreate(t, s, d)
	}
	seen := map[string]bool{}
	var pages []int
	after := ""
	for range 10 {
		page, err := s.ListDeployments(ctx, store.ListFilter{Limit: 50, After: after, MaxBytes: 25_000})
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

	page, err := s.ListDeployments(ctx, store.ListFilter{Limit: 50, MaxBytes: 1})
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
	mustCreate(t, s, newDeployment("wf-1", store.StatusDraft))
	for _, c := range badCursors() {
		if _, err := s.ListDeployments(ctx, store.ListFilter{Limit: 2, After: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListDeployments after %q: %v, want ErrBadCursor", c, err)
		}
	}
}

func testListCronTriggers(t *testing.T, s Store) {
	ctx := context.Background()
	window := int32(60)
	deployed := newDeployment("wf-cron", store.StatusDeployed,
		store.Trigger{Type: store.TriggerCron, Enabled: true, Cron: &store.CronSpec{Expression: "0 * * * *", Timezone: "Europe/London", JitterWindowSeconds: &window}},
		webhookTrigger("hooks/a"), cronTrigger("*/5 * * * *"),
		store.Trigger{Type: store.TriggerCron, Enabled: false, Cron: &store.CronSpec{Expression: "@daily"}})
	deployed.Config = store.Config{OverlapPolicy: store.OverlapSkip, CatchupWindowSeconds: 120}
	mustCreate(t, s, deployed)
	mustCreate(t, s, newDeployment("wf-draft", store.StatusDraft, cronTrigger("0 * * * *")))
	paused := mustCreate(t, s, newDeployment("wf-paused", store.StatusDeployed, cronTrigger("0 * * * *")))
	_, err := s.UpdateDeployment(ctx, paused.ID, setStatus(store.StatusPaused, store.ActionPause))
	require.NoError(t, err)
	other := mustCreate(t, s, newDeployment("wf-other", store.StatusDeployed, cronTrigger("@daily")))
	mustCreate(t, s, newDeployment("wf-archived", store.StatusArchived, cronTrigger("@daily")))

	slot := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	mustCreateExecution(t, s, cronExecution(deployed, deployed.Triggers[0].ID, slot))
	mustCreateExecution(t, s, cronExecution(deployed, deployed.Triggers[0].ID, slot.Add(-time.Hour)))

	all, err := s.ListCronTriggers(ctx, "")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{deployed.Triggers[0].ID, deployed.Triggers[2].ID, other.Triggers[0].ID}, cronIDs(all),
		"enabled cron triggers of DEPLOYED deployments only")

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
	if diff := cmp.Diff(want, mine, roundedTime); diff != "" {
		t.Errorf("ListCronTriggers (-want +got):\n%s", diff)
	}

	for _, id := range []string{paused.ID, "not-a-uuid", "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"} {
		none, err := s.ListCronTriggers(ctx, id)
		require.NoError(t, err)
		require.Empty(t, none, id)
	}

	// Resuming schedules the triggers again, from the resumption on.
	resumed, err := s.UpdateDeployment(ctx, paused.ID, setStatus(store.StatusDeployed, store.ActionResume))
	require.NoError(t, err)
	got, err := s.ListCronTriggers(ctx, paused.ID)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.EqualValues(t, 3, got[0].DeploymentVersion)
	require.True(t, got[0].ScheduledSince.Equal(resumed.UpdatedAt), "ScheduledSince %v, want the resumption %v", got[0].ScheduledSince, resumed.UpdatedAt)
}

func testListWebhookTriggers(t *testing.T, s Store) {
	ctx := context.Background()
	spec := store.WebhookSpec{Path: "/Hooks/A", Methods: []string{"POST"}, Secrets: []string{"s1"}, ResponseMode: store.ResponseSync, SyncTimeoutSeconds: 5}
	deployed := mustCreate(t, s, newDeployment("wf-deployed", store.StatusDeployed,
		store.Trigger{Type: store.TriggerWebhook, Enabled: true, Webhook: &spec}, cronTrigger("@daily"),
		webhookTrigger("/b"), store.Trigger{Type: store.TriggerWebhook, Enabled: false, Webhook: &store.WebhookSpec{Path: "/off"}}))
	draft := mustCreate(t, s, newDeployment("wf-draft", store.StatusDraft, webhookTrigger("/draft")))
	paused := mustCreate(t, s, newDeployment("wf-paused", store.StatusDeployed, webhookTrigger("/paused")))
	paused, err := s.UpdateDeployment(ctx, paused.ID, setStatus(store.StatusPaused, store.ActionPause))
	require.NoError(t, err)
	archived := mustCreate(t, s, newDeployment("wf-archived", store.StatusArchived, webhookTrigger("/archived")))

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
	want := []store.WebhookTrigger{
		{TriggerID: deployed.Triggers[0].ID, DeploymentID: deployed.ID, DeploymentVersion: 1, WorkflowID: "wf-deployed",
			DeploymentStatus: store.StatusDeployed, Spec: spec},
		{TriggerID: deployed.Triggers[2].ID, DeploymentID: deployed.ID, DeploymentVersion: 1, WorkflowID: "wf-deployed",
			DeploymentStatus: store.StatusDeployed, Spec: store.WebhookSpec{Path: "/b"}},
	}
	if diff := cmp.Diff(want, mine); diff != "" {
		t.Errorf("ListWebhookTriggers of a deployment (-want +got):\n%s", diff)
	}
	one, err := s.ListWebhookTriggers(ctx, paused.ID)
	require.NoError(t, err)
	require.Len(t, one, 1)
	require.Equal(t, store.StatusPaused, one[0].DeploymentStatus)
	require.EqualValues(t, 2, one[0].DeploymentVersion)

	for _, id := range []string{archived.ID, "not-a-uuid", "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"} {
		none, err := s.ListWebhookTriggers(ctx, id)
		require.NoError(t, err)
		require.Empty(t, none, id)
	}
}
