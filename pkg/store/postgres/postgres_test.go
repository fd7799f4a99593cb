package postgres_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// jsonEqual compares JSON documents by value: JSONB normalises spacing and
// key order.
var jsonEqual = cmp.Transformer("json", func(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(m, &v); err != nil {
		return "invalid JSON: " + string(m)
	}
	return v
})

var ignoreEventIDAndTime = cmpopts.IgnoreFields(workflow.Event{}, "ID", "At")

func ptr[T any](v T) *T { return &v }

func definition(name string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"name": %q, "nodes": [{"id": "n1", "name": "start", "type": "TRIGGER"}], "connections": {}}`, name))
}

func cronTrigger(expr string) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: expr}}
}

func webhookTrigger(path string) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{Path: path}}
}

func manualTrigger() workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerManual, Enabled: true}
}

func newDeployment(workflowID string, status workflow.DeploymentStatus, triggers ...workflow.Trigger) *workflow.Deployment {
	return &workflow.Deployment{
		WorkflowID: workflowID,
		Status:     status,
		Version:    1,
		Definition: definition("Workflow " + workflowID),
		DeployedBy: "alice",
		Triggers:   triggers,
	}
}

func deployEvent() workflow.Event {
	return workflow.Event{Action: workflow.ActionDeploy, Actor: "alice"}
}

func mustCreate(t *testing.T, s *postgres.Store, d *workflow.Deployment) *workflow.Deployment {
	t.Helper()
	require.NoError(t, s.CreateDeployment(context.Background(), d, deployEvent()))
	return d
}

// setStatus is a mutation moving a deployment to status with the given action.
func setStatus(status workflow.DeploymentStatus, action string) store.Mutation {
	return func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = status
		d.Version++
		return workflow.Event{Action: action, Actor: "bob"}, nil
	}
}

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

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
				Expression: "30 2 * * *", Timezone: "America/New_York", JitterWindowSeconds: ptr[int32](0)}},
			{Type: workflow.TriggerWebhook, Enabled: false, Webhook: &workflow.WebhookSpec{
				Path: "/Hooks/Orders", Methods: []string{"POST", "PUT"}, Secrets: []string{"whsec_c2VjcmV0"},
				ResponseMode: workflow.ResponseSync, SyncTimeoutSeconds: 30}},
			manualTrigger(),
			cronTrigger("@hourly"),
		},
	}
	ev := workflow.Event{Action: workflow.ActionDeploy, Actor: "alice"}
	start := time.Now()
	require.NoError(t, s.CreateDeployment(ctx, d, ev))

	// The caller's struct is filled in.
	if _, err := uuid.Parse(d.ID); err != nil {
		t.Errorf("d.ID = %q, not a UUID", d.ID)
	}
	if d.CreatedAt.Before(start.Add(-time.Minute)) || d.CreatedAt.After(time.Now().Add(time.Minute)) || !d.UpdatedAt.Equal(d.CreatedAt) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v; want now, twice", d.CreatedAt, d.UpdatedAt)
	}
	if want := deployedAt.Round(time.Microsecond); d.DeployedAt == nil || !d.DeployedAt.Equal(want) {
		t.Errorf("DeployedAt = %v, want %v", d.DeployedAt, want)
	}
	ids := map[string]bool{}
	for i, tr := range d.Triggers {
		if _, err := uuid.Parse(tr.ID); err != nil || ids[tr.ID] {
			t.Errorf("trigger %d id %q: not a fresh UUID", i, tr.ID)
		}
		ids[tr.ID] = true
		if tr.DeploymentID != d.ID {
			t.Errorf("trigger %d DeploymentID = %q, want %q", i, tr.DeploymentID, d.ID)
		}
	}

	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(d, got, jsonEqual); diff != "" {
		t.Errorf("GetDeployment (-want +got):\n%s", diff)
	}
	got, err = s.GetDeployment(ctx, strings.ToUpper(d.ID))
	require.NoError(t, err)
	if diff := cmp.Diff(d, got, jsonEqual); diff != "" {
		t.Errorf("GetDeployment of the upper-case id (-want +got):\n%s", diff)
	}
	active, err := s.GetActiveDeployment(ctx, "wf-orders")
	require.NoError(t, err)
	if diff := cmp.Diff(d, active, jsonEqual); diff != "" {
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
		t.Errorf("event At = %v, want the transaction time %v", events[0].At, d.CreatedAt)
	}

	// The workflows row mirrors the deployment.
	wantRow := workflowRow{Name: "Orders", Status: "DEPLOYED", DeployedAt: d.DeployedAt,
		Config: `{"overlap_policy": "BUFFER_ONE", "catchup_window_seconds": 120, "execution_timeout_seconds": 600}`}
	if diff := cmp.Diff(wantRow, readWorkflow(t, s, "wf-orders")); diff != "" {
		t.Errorf("workflows row (-want +got):\n%s", diff)
	}

	// Webhook paths are stored lower-cased, triggers active.
	var paths []string
	require.NoError(t, s.DB().SelectContext(ctx, &paths,
		`SELECT webhook_path FROM deployment_triggers WHERE deployment_id = $1 AND active AND webhook_path IS NOT NULL`, d.ID))
	if diff := cmp.Diff([]string{"/hooks/orders"}, paths); diff != "" {
		t.Errorf("stored webhook paths (-want +got):\n%s", diff)
	}
}

type workflowRow struct {
	Name       string     `db:"name"`
	Status     string     `db:"deployment_status"`
	DeployedAt *time.Time `db:"deployed_at"`
	Config     string     `db:"deployment_config"`
}

func readWorkflow(t *testing.T, s *postgres.Store, id string) workflowRow {
	t.Helper()
	var r workflowRow
	require.NoError(t, s.DB().GetContext(context.Background(), &r,
		`SELECT name, deployment_status, deployed_at, deployment_config::text AS deployment_config FROM workflows WHERE id = $1`, id))
	if r.DeployedAt != nil {
		u := r.DeployedAt.UTC()
		r.DeployedAt = &u
	}
	return r
}

func TestCreateWithoutTriggersOrName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

	d := &workflow.Deployment{WorkflowID: "wf-bare", Status: workflow.StatusDraft, Version: 1,
		Definition: json.RawMessage(`{"nodes": []}`)}
	require.NoError(t, s.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(d, got, jsonEqual); diff != "" {
		t.Errorf("GetDeployment (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(workflowRow{Name: "wf-bare", Status: "DRAFT", Config: "{}"}, readWorkflow(t, s, "wf-bare")); diff != "" {
		t.Errorf("workflows row (-want +got):\n%s", diff)
	}
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

	for _, tc := range []struct {
		name string
		d    *workflow.Deployment
		want string
	}{
		{"cron without spec", newDeployment("wf-1", workflow.StatusDraft, workflow.Trigger{Type: workflow.TriggerCron}),
			"CRON trigger without a cron spec"},
		{"webhook without spec", newDeployment("wf-1", workflow.StatusDraft, workflow.Trigger{Type: workflow.TriggerWebhook}),
			"WEBHOOK trigger without a webhook spec"},
		{"unknown trigger type", newDeployment("wf-1", workflow.StatusDraft, workflow.Trigger{Type: "SMOKE"}),
			`unknown trigger type "SMOKE"`},
		{"unknown status", newDeployment("wf-1", "LIVE"), "deployments_status_check"},
		{"definition not JSON", &workflow.Deployment{WorkflowID: "wf-1", Status: workflow.StatusDraft, Definition: json.RawMessage("{")},
			"upsert workflow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateDeployment(ctx, tc.d, deployEvent())
			if err == nil || !strings.HasPrefix(err.Error(), "postgres: create deployment: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CreateDeployment: %v, want a postgres: create deployment error mentioning %q", err, tc.want)
			}
			if tc.d.ID != "" {
				t.Errorf("failed CreateDeployment filled in ID %q", tc.d.ID)
			}
		})
	}
	var n int
	require.NoError(t, s.DB().GetContext(ctx, &n, `SELECT count(*) FROM workflows`))
	if n != 0 {
		t.Errorf("%d workflows rows after failed creations, want 0", n)
	}
}

func TestActiveDeploymentConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

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
	// Nothing of the failed deployment was written.
	var n int
	require.NoError(t, s.DB().GetContext(ctx, &n,
		`SELECT count(*) FROM deployment_triggers WHERE webhook_path = '/b'`))
	require.Zero(t, n)

	// An archived deployment does not count, and does not change the mirror.
	archived := mustCreate(t, s, newDeployment("wf-1", workflow.StatusArchived))
	if got := readWorkflow(t, s, "wf-1").Status; got != "DRAFT" {
		t.Errorf("workflows.deployment_status = %s after creating an archived deployment, want DRAFT", got)
	}
	_, err = s.UpdateDeployment(ctx, first.ID, setStatus(workflow.StatusArchived, workflow.ActionArchive))
	require.NoError(t, err)
	if got := readWorkflow(t, s, "wf-1").Status; got != "ARCHIVED" {
		t.Errorf("workflows.deployment_status = %s after archiving the active deployment, want ARCHIVED", got)
	}
	second.Triggers[0].ID = ""
	require.NoError(t, s.CreateDeployment(ctx, second, deployEvent()))
	if got := readWorkflow(t, s, "wf-1").Status; got != "DEPLOYED" {
		t.Errorf("workflows.deployment_status = %s, want DEPLOYED", got)
	}

	// Reviving an archived deployment while another is active conflicts too.
	_, err = s.UpdateDeployment(ctx, archived.ID, setStatus(workflow.StatusDraft, workflow.ActionUpdate))
	require.ErrorAs(t, err, &ae)
	if diff := cmp.Diff(&store.ActiveDeploymentError{WorkflowID: "wf-1", DeploymentID: second.ID}, ae); diff != "" {
		t.Errorf("ActiveDeploymentError from UpdateDeployment (-want +got):\n%s", diff)
	}
	// Updating an archived deployment does not overwrite the active one's mirror.
	_, err = s.UpdateDeployment(ctx, archived.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.DeployedBy = "carol"
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.NoError(t, err)
	if got := readWorkflow(t, s, "wf-1").Status; got != "DEPLOYED" {
		t.Errorf("workflows.deployment_status = %s after updating an archived deployment, want DEPLOYED", got)
	}
}

func TestWebhookPathConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

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

	// Adding the path in an update clashes too.
	other := mustCreate(t, s, newDeployment("wf-5", workflow.StatusDeployed, webhookTrigger("/other")))
	_, err = s.UpdateDeployment(ctx, other.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Triggers = append(d.Triggers, webhookTrigger("/HOOKS/orders"))
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.ErrorAs(t, err, &we)
	if diff := cmp.Diff(&store.WebhookPathError{Path: "/HOOKS/orders", DeploymentID: owner.ID}, we); diff != "" {
		t.Errorf("WebhookPathError from UpdateDeployment (-want +got):\n%s", diff)
	}

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

func TestUpdateDeploymentLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

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
		if diff := cmp.Diff(&want, got, jsonEqual); diff != "" {
			t.Errorf("%s: returned deployment (-want +got):\n%s", step.action, diff)
		}
		if got.UpdatedAt.Before(prev.UpdatedAt) {
			t.Errorf("%s: UpdatedAt went back from %v to %v", step.action, prev.UpdatedAt, got.UpdatedAt)
		}
		stored, err := s.GetDeployment(ctx, d.ID)
		require.NoError(t, err)
		if diff := cmp.Diff(got, stored, jsonEqual); diff != "" {
			t.Errorf("%s: stored deployment (-want +got):\n%s", step.action, diff)
		}
		var active []bool
		require.NoError(t, s.DB().SelectContext(ctx, &active,
			`SELECT DISTINCT active FROM deployment_triggers WHERE deployment_id = $1`, d.ID))
		if diff := cmp.Diff([]bool{step.want.Active()}, active); diff != "" {
			t.Errorf("%s: triggers' active flags (-want +got):\n%s", step.action, diff)
		}
		wantRow := workflowRow{Name: "Renamed", Status: string(step.want), DeployedAt: &deployedAt, Config: `{"overlap_policy": "ALLOW_ALL"}`}
		if diff := cmp.Diff(wantRow, readWorkflow(t, s, "wf-1")); diff != "" {
			t.Errorf("%s: workflows row (-want +got):\n%s", step.action, diff)
		}
		prev = got
	}

	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	base := workflow.Event{DeploymentID: d.ID, WorkflowID: "wf-1"}
	ev := func(action string, from, to workflow.DeploymentStatus, version int64, actor string) workflow.Event {
		e := base
		e.Action, e.FromStatus, e.ToStatus, e.Version, e.Actor = action, from, to, version, actor
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
	if _, err := s.GetActiveDeployment(ctx, "wf-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetActiveDeployment after archive: %v, want ErrNotFound", err)
	}
}

func TestUpdateDeploymentMutationErrorRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

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
	if err != errRefused || got != nil {
		t.Fatalf("UpdateDeployment = %v, %v; want nil and the mutation's error unchanged", got, err)
	}
	after, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(before, after, jsonEqual); diff != "" {
		t.Errorf("deployment after a failed mutation (-want +got):\n%s", diff)
	}
	events, err := s.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	if len(events) != 1 {
		t.Errorf("%d events after a failed mutation, want 1", len(events))
	}
	if got := readWorkflow(t, s, "wf-1").Status; got != "DEPLOYED" {
		t.Errorf("workflows.deployment_status = %s, want DEPLOYED", got)
	}
}

func TestUpdateDeploymentTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed,
		cronTrigger("0 0 * * *"), webhookTrigger("/one"), manualTrigger(), webhookTrigger("/two")))
	cron, one, manual, two := d.Triggers[0], d.Triggers[1], d.Triggers[2], d.Triggers[3]

	t.Run("unchanged list", func(t *testing.T) {
		got, err := s.UpdateDeployment(ctx, d.ID, setStatus(workflow.StatusDeployed, workflow.ActionUpdate))
		require.NoError(t, err)
		if diff := cmp.Diff(d.Triggers, got.Triggers); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
	})

	t.Run("edit in place", func(t *testing.T) {
		got, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
			d.Triggers[0].Cron.Expression = "0 12 * * *"
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		})
		require.NoError(t, err)
		cron.Cron = &workflow.CronSpec{Expression: "0 12 * * *"}
		if diff := cmp.Diff([]workflow.Trigger{cron, one, manual, two}, got.Triggers); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
	})

	t.Run("replace", func(t *testing.T) {
		// Drop the cron trigger, swap the webhooks' paths and reorder them,
		// disable the manual trigger, add a new cron trigger.
		added := cronTrigger("*/5 * * * *")
		got, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
			one, manual, two := d.Triggers[1], d.Triggers[2], d.Triggers[3]
			one.Webhook.Path, two.Webhook.Path = "/TWO", "/one"
			manual.Enabled = false
			d.Triggers = []workflow.Trigger{two, added, one, manual}
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		})
		require.NoError(t, err)
		one.Webhook = &workflow.WebhookSpec{Path: "/TWO"}
		two.Webhook = &workflow.WebhookSpec{Path: "/one"}
		manual.Enabled = false
		require.Len(t, got.Triggers, 4)
		added.ID, added.DeploymentID = got.Triggers[1].ID, d.ID
		if _, err := uuid.Parse(added.ID); err != nil || added.ID == cron.ID {
			t.Errorf("added trigger id %q, want a new UUID", added.ID)
		}
		if diff := cmp.Diff([]workflow.Trigger{two, added, one, manual}, got.Triggers); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
		var n int
		require.NoError(t, s.DB().GetContext(ctx, &n, `SELECT count(*) FROM deployment_triggers WHERE id = $1`, cron.ID))
		if n != 0 {
			t.Errorf("dropped trigger %s still stored", cron.ID)
		}
		var paths []string
		require.NoError(t, s.DB().SelectContext(ctx, &paths,
			`SELECT webhook_path FROM deployment_triggers WHERE deployment_id = $1 AND webhook_path IS NOT NULL ORDER BY position`, d.ID))
		if diff := cmp.Diff([]string{"/one", "/two"}, paths); diff != "" {
			t.Errorf("stored webhook paths (-want +got):\n%s", diff)
		}
	})

	t.Run("foreign trigger id", func(t *testing.T) {
		other := mustCreate(t, s, newDeployment("wf-2", workflow.StatusDeployed, manualTrigger()))
		_, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
			d.Triggers = append(d.Triggers, other.Triggers[0])
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		})
		if err == nil || !strings.Contains(err.Error(), "is not a trigger of deployment") {
			t.Errorf("UpdateDeployment with another deployment's trigger: %v", err)
		}
	})

	t.Run("trigger listed twice", func(t *testing.T) {
		_, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
			d.Triggers = append(d.Triggers, d.Triggers[0])
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		})
		if err == nil || !strings.Contains(err.Error(), "is not a trigger of deployment") {
			t.Errorf("UpdateDeployment listing a trigger twice: %v", err)
		}
	})

	t.Run("invalid trigger", func(t *testing.T) {
		_, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
			d.Triggers = []workflow.Trigger{{Type: workflow.TriggerCron}}
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		})
		if err == nil || !strings.HasPrefix(err.Error(), "postgres: update deployment: ") {
			t.Errorf("UpdateDeployment with a cron trigger without spec: %v", err)
		}
	})
}

func TestUpdateDeploymentInvalidStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDraft))
	_, err := s.UpdateDeployment(ctx, d.ID, setStatus("LIVE", workflow.ActionUpdate))
	if err == nil || !strings.HasPrefix(err.Error(), "postgres: update deployment: ") {
		t.Errorf("UpdateDeployment to an unknown status: %v", err)
	}
}

func TestListDeployments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

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
	// Newest first, as the store orders them.
	slices.SortFunc(all, func(a, b *workflow.Deployment) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
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
		{"every status", workflow.ListFilter{Statuses: []workflow.DeploymentStatus{workflow.StatusDraft, workflow.StatusDeployed,
			workflow.StatusPaused, workflow.StatusArchived}}, where(func(*workflow.Deployment) bool { return true })},
		{"paused or draft", workflow.ListFilter{Statuses: []workflow.DeploymentStatus{workflow.StatusPaused, workflow.StatusDraft}},
			where(func(d *workflow.Deployment) bool {
				return d.Status == workflow.StatusPaused || d.Status == workflow.StatusDraft
			})},
		{"workflow", workflow.ListFilter{WorkflowID: "wf-even"},
			where(func(d *workflow.Deployment) bool { return d.WorkflowID == "wf-even" && d.Status.Active() })},
		{"workflow, archived too", workflow.ListFilter{WorkflowID: "wf-even", Statuses: []workflow.DeploymentStatus{
			workflow.StatusArchived, workflow.StatusDraft, workflow.StatusDeployed, workflow.StatusPaused}},
			where(func(d *workflow.Deployment) bool { return d.WorkflowID == "wf-even" })},
		{"webhook", workflow.ListFilter{TriggerType: workflow.TriggerWebhook},
			where(func(d *workflow.Deployment) bool { return hasType(d, workflow.TriggerWebhook) && d.Status.Active() })},
		{"manual: none", workflow.ListFilter{TriggerType: workflow.TriggerManual}, nil},
		{"unknown workflow", workflow.ListFilter{WorkflowID: "wf-none"}, nil},
	} {
		for _, limit := range []int{1, 3, 5, 100} {
			t.Run(fmt.Sprintf("%s/limit %d", tc.name, limit), func(t *testing.T) {
				t.Parallel()
				f := tc.f
				f.Limit = limit
				var got []workflow.Deployment
				pages := 0
				for {
					page, err := s.ListDeployments(ctx, f)
					require.NoError(t, err)
					pages++
					if page.Total != int64(len(tc.want)) {
						t.Errorf("page %d: Total = %d, want %d", pages, page.Total, len(tc.want))
					}
					if len(page.Deployments) > limit {
						t.Errorf("page %d has %d deployments, limit %d", pages, len(page.Deployments), limit)
					}
					got = append(got, page.Deployments...)
					if page.Next == "" {
						break
					}
					require.Less(t, pages, 20, "too many pages")
					f.After = page.Next
				}
				if diff := cmp.Diff(tc.want, got, jsonEqual, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("deployments over %d pages (-want +got):\n%s", pages, diff)
				}
				if wantPages := max(1, (len(tc.want)+limit-1)/limit); pages != wantPages {
					t.Errorf("%d pages, want %d", pages, wantPages)
				}
			})
		}
	}

	t.Run("default limit", func(t *testing.T) {
		t.Parallel()
		page, err := s.ListDeployments(ctx, workflow.ListFilter{Statuses: []workflow.DeploymentStatus{workflow.StatusArchived, workflow.StatusDraft, workflow.StatusDeployed, workflow.StatusPaused}})
		require.NoError(t, err)
		if len(page.Deployments) != len(all) || page.Next != "" {
			t.Errorf("ListDeployments without a limit: %d deployments, next %q; want all %d, no next", len(page.Deployments), page.Next, len(all))
		}
	})

	t.Run("bad cursor", func(t *testing.T) {
		t.Parallel()
		enc := base64.RawURLEncoding.EncodeToString
		for _, c := range []string{
			"!!!",
			enc([]byte("no separator")),
			enc([]byte("soon:" + uuid.NewString())),
			enc([]byte("1700000000000000:not-a-uuid")),
			base64.StdEncoding.EncodeToString([]byte("1700000000000000:" + uuid.NewString())), // padded
		} {
			if _, err := s.ListDeployments(ctx, workflow.ListFilter{Limit: 2, After: c}); !errors.Is(err, store.ErrBadCursor) {
				t.Errorf("ListDeployments after %q: %v, want ErrBadCursor", c, err)
			}
		}
	})
}

func TestExecutions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed, cronTrigger("* * * * *")))
	other := mustCreate(t, s, newDeployment("wf-2", workflow.StatusDeployed))

	if _, err := s.LastExecution(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastExecution without executions: %v, want ErrNotFound", err)
	}

	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	insert := func(deploymentID string, status workflow.ExecutionStatus, fired time.Time) string {
		id := uuid.NewString()
		_, err := s.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
VALUES ($1, 'wf', $2, 1, 'MANUAL', $3, $4)`, id, deploymentID, string(status), fired)
		require.NoError(t, err)
		return id
	}
	insert(d.ID, workflow.ExecutionSucceeded, base)
	insert(d.ID, workflow.ExecutionRunning, base.Add(time.Minute))
	insert(d.ID, workflow.ExecutionPending, base.Add(2*time.Minute))
	insert(d.ID, workflow.ExecutionSkipped, base.Add(3*time.Minute))
	insert(other.ID, workflow.ExecutionRunning, base.Add(time.Hour)) // another deployment's
	insert(other.ID, workflow.ExecutionPending, base.Add(time.Hour))

	// The latest one, with every column set.
	want := &workflow.Execution{
		ID:                uuid.NewString(),
		WorkflowID:        "wf-1",
		DeploymentID:      d.ID,
		DeploymentVersion: 3,
		TriggerID:         d.Triggers[0].ID,
		TriggerType:       workflow.TriggerCron,
		Status:            workflow.ExecutionRunning,
		ScheduledTime:     ptr(base.Add(10 * time.Minute)),
		FiredTime:         base.Add(10*time.Minute + 42*time.Second),
		StartedTime:       ptr(base.Add(10*time.Minute + 43*time.Second)),
		FinishedTime:      ptr(base.Add(11 * time.Minute)),
		JitterSeconds:     42,
		EngineExecutionID: "engine-1",
		ErrorMessage:      "boom",
		SkipReason:        "overlap",
		TraceID:           "4bf92f3577b34da6a3ce929d0e0e4736",
		IdempotencyKey:    "key-1",
		TriggeredBy:       "scheduler",
		OwnerInstance:     "replica-1",
		LeaseExpiresAt:    ptr(base.Add(12 * time.Minute)),
		Input:             json.RawMessage(`{"a": 1}`),
		Result:            json.RawMessage(`{"ok": true}`),
	}
	_, err := s.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
	scheduled_time, fired_time, started_time, finished_time, jitter_seconds, engine_execution_id, error_message,
	skip_reason, trace_id, idempotency_key, triggered_by, owner_instance, lease_expires_at, input, result)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		want.ID, want.WorkflowID, want.DeploymentID, want.DeploymentVersion, want.TriggerID, string(want.TriggerType),
		string(want.Status), want.ScheduledTime, want.FiredTime, want.StartedTime, want.FinishedTime, want.JitterSeconds,
		want.EngineExecutionID, want.ErrorMessage, want.SkipReason, want.TraceID, want.IdempotencyKey, want.TriggeredBy,
		want.OwnerInstance, want.LeaseExpiresAt, string(want.Input), string(want.Result))
	require.NoError(t, err)

	got, err := s.LastExecution(ctx, d.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(want, got, jsonEqual); diff != "" {
		t.Errorf("LastExecution (-want +got):\n%s", diff)
	}
	n, err := s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	if n != 3 {
		t.Errorf("CountUnfinishedExecutions = %d, want 3", n)
	}

	// A minimal row reads back with empty optional fields.
	minimal := insert(other.ID, workflow.ExecutionSucceeded, base.Add(2*time.Hour))
	got, err = s.LastExecution(ctx, other.ID)
	require.NoError(t, err)
	wantMinimal := &workflow.Execution{ID: minimal, WorkflowID: "wf", DeploymentID: other.ID, DeploymentVersion: 1,
		TriggerType: workflow.TriggerManual, Status: workflow.ExecutionSucceeded, FiredTime: base.Add(2 * time.Hour)}
	if diff := cmp.Diff(wantMinimal, got); diff != "" {
		t.Errorf("LastExecution of a minimal row (-want +got):\n%s", diff)
	}

	// The slot guard: one execution per trigger and scheduled time.
	res, err := s.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
	scheduled_time, fired_time)
VALUES ($1, 'wf-1', $2, 1, $3, 'CRON', 'PENDING', $4, now())
ON CONFLICT (trigger_id, scheduled_time) DO NOTHING`, uuid.NewString(), d.ID, want.TriggerID, want.ScheduledTime)
	require.NoError(t, err)
	if rows, _ := res.RowsAffected(); rows != 0 {
		t.Errorf("second execution of one slot inserted %d rows, want 0", rows)
	}
}

func TestOpenPingClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)

	s, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	require.NoError(t, s.Ping(ctx))
	if st := s.DB().Stats(); st.MaxOpenConnections <= 0 {
		t.Errorf("MaxOpenConnections = %d, want a limit", st.MaxOpenConnections)
	}
	require.NoError(t, s.Close())
	if err := s.Ping(ctx); err == nil || !strings.HasPrefix(err.Error(), "postgres: ping: ") {
		t.Errorf("Ping after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// The schema is missing: queries fail with wrapped errors, not ErrNotFound.
	s, err = postgres.Open(ctx, url)
	require.NoError(t, err)
	defer s.Close()
	id := uuid.NewString()
	checks := map[string]error{}
	_, checks["GetDeployment"] = s.GetDeployment(ctx, id)
	_, checks["UpdateDeployment"] = s.UpdateDeployment(ctx, id, setStatus(workflow.StatusDraft, workflow.ActionUpdate))
	_, checks["ListDeployments"] = s.ListDeployments(ctx, workflow.ListFilter{})
	_, checks["ListEvents"] = s.ListEvents(ctx, id)
	_, checks["LastExecution"] = s.LastExecution(ctx, id)
	_, checks["CountUnfinishedExecutions"] = s.CountUnfinishedExecutions(ctx, id)
	checks["CreateDeployment"] = s.CreateDeployment(ctx, newDeployment("wf", workflow.StatusDraft), deployEvent())
	for name, err := range checks {
		if err == nil || errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("%s without a schema: %v, want a wrapped database error", name, err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.HasPrefix(err.Error(), "postgres: ping: ") {
		t.Errorf("Open of an unreachable server: %v, want a ping error", err)
	}
	_, err = postgres.Open(ctx, "mysql://nope")
	if err == nil {
		t.Error("Open of a non-postgres URL: nil error")
	}
}
