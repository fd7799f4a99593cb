package deployment

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Creating a migrated database costs about half a second, so each top-level
// test below uses one; its subtests share it and keep apart by using their
// own workflow ids and webhook paths.

// testNow is the injected clock: deliberately between slots of every cron used here.
var testNow = time.Date(2025, time.March, 14, 10, 17, 23, 0, time.UTC)

const testJitterWindow = 300 * time.Second

var allStatuses = []workflow.DeploymentStatus{workflow.StatusDraft, workflow.StatusDeployed, workflow.StatusPaused, workflow.StatusArchived}

// ignoreTriggerIDs compares triggers by what they are, not by their ids.
var ignoreTriggerIDs = cmpopts.IgnoreFields(workflow.Trigger{}, "ID", "DeploymentID")

// ignoreDefinition compares deployments without their definition's bytes:
// the service returns them as Go encoded them, the store as PostgreSQL's
// JSONB prints them. Tests compare definitions as JSON values instead.
var ignoreDefinition = cmpopts.IgnoreFields(workflow.Deployment{}, "Definition")

// ignoreEventIDs compares events without their row id and transaction time.
var ignoreEventIDs = cmpopts.IgnoreFields(workflow.Event{}, "ID", "At")

func newTestService(t *testing.T) (Service, *postgres.Store) {
	t.Helper()
	st := pgtest.NewStore(t)
	return New(st, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }}), st
}

// triggerNode is a TRIGGER node of the given subtype; params is a JSON object.
func triggerNode(id, subtype, params string) string {
	return fmt.Sprintf(`{"id": %q, "name": %q, "type": "TRIGGER", "subtype": %q, "parameters": %s}`, id, "Node "+id, subtype, params)
}

// workflowDef builds a definition from the given nodes plus one action node
// that every trigger node feeds, decoded as the transport would.
func workflowDef(t *testing.T, nodes ...string) map[string]any {
	t.Helper()
	nodes = append(slices.Clone(nodes), `{"id": "act", "name": "Act", "type": "ACTION"}`)
	js := `{"nodes": [` + strings.Join(nodes, ", ") + `], "connections": {}}`
	var def map[string]any
	require.NoError(t, json.Unmarshal([]byte(js), &def))
	return def
}

func cronTrigger(expr string) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: expr}}
}

func webhookTrigger(path string, secrets ...string) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: path, Secrets: secrets}}
}

// storedCron and storedWebhook are the normalised forms the service stores.
func storedCron(expr, zone string, window *int32) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: expr, Timezone: zone, JitterWindowSeconds: window}}
}

func storedWebhook(path string, secrets ...string) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{
		Path: path, Methods: []string{"POST"}, ResponseMode: workflow.ResponseAsync, Secrets: secrets,
	}}
}

func storedManual() workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerManual, Enabled: true}
}

func mustDeploy(t *testing.T, svc Service, req DeployRequest) Deployment {
	t.Helper()
	d, err := svc.Deploy(context.Background(), req)
	require.NoError(t, err)
	return d
}

func mustUpdate(t *testing.T, svc Service, req UpdateRequest) Deployment {
	t.Helper()
	d, err := svc.Update(context.Background(), req)
	require.NoError(t, err)
	return d
}

func mustEvents(t *testing.T, st store.Store, id string) []workflow.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), id)
	require.NoError(t, err)
	return evs
}

func mustGet(t *testing.T, st store.Store, id string) *workflow.Deployment {
	t.Helper()
	d, err := st.GetDeployment(context.Background(), id)
	require.NoError(t, err)
	return d
}

func triggerIDs(ts []workflow.Trigger) []string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}

func requireKind(t *testing.T, err error, want errors.Kind) {
	t.Helper()
	require.Error(t, err)
	if got := errors.KindOf(err); got != want {
		t.Fatalf("kind = %v, want %v (error: %v)", got, want, err)
	}
}

// errorFields is the sorted list of the violation fields of err.
func errorFields(err error) []string {
	var e *errors.Error
	if !errors.As(err, &e) {
		return nil
	}
	var fields []string
	for _, v := range e.Violations {
		fields = append(fields, v.Field)
	}
	slices.Sort(fields)
	return fields
}

// dbState is everything the service may write: every deployment, in every
// status, with its triggers and its events.
type dbState struct {
	Total       int64
	Deployments []workflow.Deployment
	Events      map[string][]workflow.Event
}

func snapshot(t *testing.T, st store.Store) dbState {
	t.Helper()
	page, err := st.ListDeployments(context.Background(), workflow.ListFilter{Statuses: allStatuses, Limit: workflow.MaxPageSize})
	require.NoError(t, err)
	require.Empty(t, page.Next, "snapshot must fit one page")
	s := dbState{Total: page.Total, Deployments: page.Deployments, Events: map[string][]workflow.Event{}}
	for _, d := range page.Deployments {
		s.Events[d.ID] = mustEvents(t, st, d.ID)
	}
	return s
}

// seeded names the deployments every error case starts from.
type seeded struct {
	deployed, draft, paused, archived Deployment
}

func seed(t *testing.T, svc Service) seeded {
	t.Helper()
	var s seeded
	s.deployed = mustDeploy(t, svc, DeployRequest{
		WorkflowID: "wf-deployed",
		Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "@hourly"}`), triggerNode("w", "WEBHOOK", `{"path": "orders/created"}`)),
	})
	s.draft = mustDeploy(t, svc, DeployRequest{
		WorkflowID: "wf-draft",
		Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
		Draft:      true,
	})
	s.paused = mustDeploy(t, svc, DeployRequest{
		WorkflowID: "wf-paused",
		Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "*/5 * * * *"}`)),
	})
	s.paused = mustUpdate(t, svc, UpdateRequest{DeploymentID: s.paused.ID, Status: new(workflow.StatusPaused)})
	s.archived = mustDeploy(t, svc, DeployRequest{
		WorkflowID: "wf-archived",
		Definition: workflowDef(t, triggerNode("w", "WEBHOOK", `{"path": "archived/path"}`)),
	})
	var err error
	s.archived, err = svc.Delete(context.Background(), DeleteRequest{DeploymentID: s.archived.ID})
	require.NoError(t, err)
	return s
}

// errorCase is a bad request and the error it must get.
type errorCase struct {
	name string
	call func(ctx context.Context) error
	kind errors.Kind
	// fields are the violations' paths, for Invalid.
	fields []string
	// msg lists what the error's text must contain.
	msg []string
}

// runErrorCases runs each case and checks its kind, its violations, and
// that it wrote nothing at all.
func runErrorCases(t *testing.T, st store.Store, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: each case compares the whole database before and
			// after its call, which a concurrent case's write would confuse.
			before := snapshot(t, st)
			err := tc.call(context.Background())
			requireKind(t, err, tc.kind)
			if diff := cmp.Diff(tc.fields, errorFields(err)); diff != "" {
				t.Errorf("violation fields (-want +got):\n%s\nerror: %v", diff, err)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
			if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
				t.Errorf("the failed call wrote to the store (-before +after):\n%s", diff)
			}
		})
	}
}

// TestServiceErrors runs every bad request against one seeded database.
func TestServiceErrors(t *testing.T) { //nolint:tparallel // runErrorCases runs its cases one at a time: each compares the whole database before and after its call
	t.Parallel()
	svc, st := newTestService(t)
	s := seed(t, svc)
	unknownID := uuid.NewString()
	manualDef := workflowDef(t, triggerNode("m", "MANUAL", `{}`))
	badCronNodeDef := workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "* * *", "timezone": "Nowhere/Town"}`))
	hookNodeDef := workflowDef(t, triggerNode("w", "WEBHOOK", `{"path": "ORDERS/created"}`))

	runErrorCases(t, st, []errorCase{
		// Deploy.
		{
			name: "deploy/bad workflow id",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "not ok!", Definition: manualDef})
				return err
			},
			kind: errors.Invalid, fields: []string{"workflow_id"},
		},
		{
			name: "deploy/empty definition",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-new", Definition: map[string]any{}})
				return err
			},
			kind: errors.Invalid, fields: []string{"workflow_definition"},
		},
		{
			name: "deploy/every violation at once",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{
					WorkflowID: "",
					Definition: nil,
					Triggers:   []workflow.Trigger{cronTrigger("61 * * * *")},
					Config:     workflow.Config{OverlapPolicy: "SOMETIMES"},
				})
				return err
			},
			kind:   errors.Invalid,
			fields: []string{"config.overlap_policy", "triggers[0].cron.expression", "workflow_definition", "workflow_id"},
		},
		{
			name: "deploy/bad cron in an explicit trigger",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{
					WorkflowID: "wf-new",
					Definition: manualDef,
					Triggers:   []workflow.Trigger{webhookTrigger("fine/path"), cronTrigger("not a cron")},
				})
				return err
			},
			kind: errors.Invalid, fields: []string{"triggers[1].cron.expression"},
		},
		{
			name: "deploy/unknown time zone",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{
					WorkflowID: "wf-new",
					Definition: manualDef,
					Triggers:   []workflow.Trigger{{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "@daily", Timezone: "Mars/Olympus_Mons"}}},
				})
				return err
			},
			kind: errors.Invalid, fields: []string{"triggers[0].cron.timezone"},
		},
		{
			name: "deploy/bad cron in a trigger node",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{
					WorkflowID: "wf-new",
					Definition: badCronNodeDef,
				})
				return err
			},
			kind: errors.Invalid, fields: []string{"workflow_definition.nodes[0].parameters.cron_expression", "workflow_definition.nodes[0].parameters.timezone"},
		},
		{
			name: "deploy/workflow has a DEPLOYED deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-deployed", Definition: manualDef})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.deployed.ID},
		},
		{
			name: "deploy/workflow has a DRAFT deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-draft", Definition: manualDef})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.draft.ID},
		},
		{
			name: "deploy/draft of a workflow with a PAUSED deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-paused", Definition: manualDef, Draft: true})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.paused.ID},
		},
		{
			name: "deploy/webhook path of another active deployment, in another case",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{
					WorkflowID: "wf-new",
					Definition: manualDef,
					Triggers:   []workflow.Trigger{webhookTrigger("/Orders/CREATED/")},
				})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.deployed.ID, "Orders/CREATED"},
		},
		{
			name: "deploy/webhook path of another active deployment, from a trigger node",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{
					WorkflowID: "wf-new",
					Definition: hookNodeDef,
				})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.deployed.ID},
		},

		// Update.
		{
			name: "update/stale expected version",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Status: new(workflow.StatusPaused), ExpectedVersion: 7})
				return err
			},
			kind: errors.Aborted, msg: []string{s.deployed.ID, "version 1", "expected 7"},
		},
		{
			name: "update/unknown mask path",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Mask: []string{"config", "deployed_by"}, Config: &workflow.Config{}})
				return err
			},
			kind: errors.Invalid, fields: []string{"update_mask"}, msg: []string{"deployed_by"},
		},
		{
			name: "update/nothing to update",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID})
				return err
			},
			kind: errors.Invalid, fields: []string{"update_mask"}, msg: []string{"nothing to update"},
		},
		{
			name: "update/no deployment id",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{Status: new(workflow.StatusPaused)})
				return err
			},
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},
		{
			name: "update/status ARCHIVED",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Status: new(workflow.StatusArchived)})
				return err
			},
			kind: errors.Invalid, fields: []string{"status"},
		},
		{
			name: "update/status DRAFT",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Status: new(workflow.StatusDraft)})
				return err
			},
			kind: errors.Invalid, fields: []string{"status"},
		},
		{
			name: "update/status in the mask but not set",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Mask: []string{"status"}})
				return err
			},
			kind: errors.Invalid, fields: []string{"status"},
		},
		{
			name: "update/definition in the mask but not set",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Mask: []string{"workflow_definition"}})
				return err
			},
			kind: errors.Invalid, fields: []string{"workflow_definition"},
		},
		{
			name: "update/bad triggers and config",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{
					DeploymentID: s.deployed.ID,
					Triggers:     []workflow.Trigger{{Type: "EMAIL"}},
					Config:       &workflow.Config{CatchupWindowSeconds: -1},
				})
				return err
			},
			kind: errors.Invalid, fields: []string{"config.catchup_window_seconds", "triggers[0].type"},
		},
		{
			name: "update/DRAFT to PAUSED",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.draft.ID, Status: new(workflow.StatusPaused)})
				return err
			},
			kind: errors.FailedPrecondition, msg: []string{"DRAFT", "PAUSED"},
		},
		{
			name: "update/DEPLOYED to DEPLOYED",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Status: new(workflow.StatusDeployed)})
				return err
			},
			kind: errors.FailedPrecondition,
		},
		{
			name: "update/PAUSED to PAUSED",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.paused.ID, Status: new(workflow.StatusPaused)})
				return err
			},
			kind: errors.FailedPrecondition,
		},
		{
			name: "update/ARCHIVED to DEPLOYED",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.archived.ID, Status: new(workflow.StatusDeployed)})
				return err
			},
			kind: errors.FailedPrecondition, msg: []string{s.archived.ID, "ARCHIVED"},
		},
		{
			name: "update/config of an ARCHIVED deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.archived.ID, Config: &workflow.Config{OverlapPolicy: workflow.OverlapAllowAll}})
				return err
			},
			kind: errors.FailedPrecondition,
		},
		{
			name: "update/definition of an ARCHIVED deployment at its version",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{
					DeploymentID: s.archived.ID, ExpectedVersion: s.archived.Version,
					Definition: manualDef,
				})
				return err
			},
			kind: errors.FailedPrecondition,
		},
		{
			name: "update/webhook path of another active deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.paused.ID, Triggers: []workflow.Trigger{webhookTrigger("orders/Created")}})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.deployed.ID},
		},
		{
			name: "update/unknown deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: unknownID, Status: new(workflow.StatusPaused)})
				return err
			},
			kind: errors.NotFound, msg: []string{unknownID},
		},
		{
			name: "update/malformed deployment id",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: "dep-42", Status: new(workflow.StatusPaused)})
				return err
			},
			kind: errors.Invalid, fields: []string{"deployment_id"}, msg: []string{"dep-42"},
		},

		// Delete.
		{
			name: "delete/twice",
			call: func(ctx context.Context) error {
				_, err := svc.Delete(ctx, DeleteRequest{DeploymentID: s.archived.ID})
				return err
			},
			kind: errors.FailedPrecondition, msg: []string{s.archived.ID},
		},
		{
			name: "delete/unknown deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Delete(ctx, DeleteRequest{DeploymentID: unknownID})
				return err
			},
			kind: errors.NotFound, msg: []string{unknownID},
		},
		{
			name: "delete/malformed deployment id",
			call: func(ctx context.Context) error {
				_, err := svc.Delete(ctx, DeleteRequest{DeploymentID: "not-a-uuid"})
				return err
			},
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},
		{
			name: "delete/no deployment id",
			call: func(ctx context.Context) error {
				_, err := svc.Delete(ctx, DeleteRequest{})
				return err
			},
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},

		// Status.
		{
			name: "status/neither id",
			call: func(ctx context.Context) error {
				_, err := svc.Status(ctx, StatusRequest{})
				return err
			},
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},
		{
			name: "status/both ids",
			call: func(ctx context.Context) error {
				_, err := svc.Status(ctx, StatusRequest{DeploymentID: s.deployed.ID, WorkflowID: "wf-deployed"})
				return err
			},
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},
		{
			name: "status/workflow whose only deployment is archived",
			call: func(ctx context.Context) error {
				_, err := svc.Status(ctx, StatusRequest{WorkflowID: "wf-archived"})
				return err
			},
			kind: errors.NotFound, msg: []string{"wf-archived"},
		},
		{
			name: "status/unknown workflow",
			call: func(ctx context.Context) error {
				_, err := svc.Status(ctx, StatusRequest{WorkflowID: "wf-never"})
				return err
			},
			kind: errors.NotFound, msg: []string{"wf-never"},
		},
		{
			name: "status/unknown deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Status(ctx, StatusRequest{DeploymentID: unknownID})
				return err
			},
			kind: errors.NotFound, msg: []string{unknownID},
		},
		{
			name: "status/malformed deployment id",
			call: func(ctx context.Context) error {
				_, err := svc.Status(ctx, StatusRequest{DeploymentID: "42"})
				return err
			},
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},

		{
			name: "status/malformed workflow id",
			call: func(ctx context.Context) error {
				_, err := svc.Status(ctx, StatusRequest{WorkflowID: "bad id!"})
				return err
			},
			kind: errors.Invalid, fields: []string{"workflow_id"},
		},
		{
			name: "list/malformed workflow id",
			call: func(ctx context.Context) error {
				_, err := svc.List(ctx, ListRequest{WorkflowID: "bad id!"})
				return err
			},
			kind: errors.Invalid, fields: []string{"workflow_id"},
		},

		// List.
		{
			name: "list/bad page token",
			call: func(ctx context.Context) error {
				_, err := svc.List(ctx, ListRequest{PageToken: "not-a-token"})
				return err
			},
			kind: errors.Invalid, fields: []string{"page_token"},
		},
		{
			name: "list/negative page size",
			call: func(ctx context.Context) error {
				_, err := svc.List(ctx, ListRequest{PageSize: -1})
				return err
			},
			kind: errors.Invalid, fields: []string{"page_size"},
		},
		{
			name: "list/unknown status",
			call: func(ctx context.Context) error {
				_, err := svc.List(ctx, ListRequest{Statuses: []workflow.DeploymentStatus{workflow.StatusDeployed, "RUNNING"}})
				return err
			},
			kind: errors.Invalid, fields: []string{"statuses"}, msg: []string{"statuses[1]"},
		},
		{
			name: "list/unknown trigger type",
			call: func(ctx context.Context) error {
				_, err := svc.List(ctx, ListRequest{TriggerType: "EMAIL"})
				return err
			},
			kind: errors.Invalid, fields: []string{"trigger_type"},
		},
	})
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	svc, st := newTestService(t)
	ctx := context.Background()

	t.Run("triggers derived from trigger nodes", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{
			WorkflowID: "wf-derived",
			Definition: workflowDef(t,
				triggerNode("c", "CRON", `{"cron_expression": "0 9 * * MON-FRI", "timezone": "Europe/Paris", "jitter_window_seconds": 60}`),
				triggerNode("w", "WEBHOOK", `{"path": "/derived/hook/"}`),
				triggerNode("m", "MANUAL", `{}`),
			),
		})
		want := []workflow.Trigger{storedCron("0 9 * * MON-FRI", "Europe/Paris", new(int32(60))), storedWebhook("derived/hook"), storedManual()}
		if diff := cmp.Diff(want, d.Triggers, ignoreTriggerIDs); diff != "" {
			t.Errorf("returned triggers (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, mustGet(t, st, d.ID).Triggers, ignoreTriggerIDs); diff != "" {
			t.Errorf("stored triggers (-want +got):\n%s", diff)
		}
		for _, tr := range d.Triggers {
			require.NotEmpty(t, tr.ID)
			require.Equal(t, d.ID, tr.DeploymentID)
		}
	})

	t.Run("explicit triggers win", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{
			WorkflowID: "wf-explicit",
			Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "@daily"}`)),
			Triggers: []workflow.Trigger{
				{ID: "caller-chosen", Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "explicit/signed", Secrets: []string{"s3cret"}}},
				webhookTrigger("explicit/open"),
			},
		})
		want := []workflow.Trigger{storedWebhook("explicit/signed", "s3cret"), storedWebhook("explicit/open")}
		if diff := cmp.Diff(want, d.Triggers, ignoreTriggerIDs); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
		require.NotEqual(t, "caller-chosen", d.Triggers[0].ID, "trigger ids are output only")
		got := []bool{d.TriggerStatuses[0].RequiresSignature, d.TriggerStatuses[1].RequiresSignature}
		if diff := cmp.Diff([]bool{true, false}, got); diff != "" {
			t.Errorf("RequiresSignature (-want +got):\n%s", diff)
		}
	})

	t.Run("draft", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{
			WorkflowID: "wf-draft",
			Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "@hourly"}`)),
			DeployedBy: "alice",
			Draft:      true,
		})
		require.Equal(t, workflow.StatusDraft, d.Status)
		require.Equal(t, int64(1), d.Version)
		require.Nil(t, d.DeployedAt)
		require.Len(t, d.TriggerStatuses, 1)
		require.Nil(t, d.TriggerStatuses[0].NextFireTime, "a DRAFT deployment fires nothing")
		require.Equal(t, int32(cron.JitterSeconds("wf-draft", 300)), d.TriggerStatuses[0].JitterSeconds)
		want := []workflow.Event{{DeploymentID: d.ID, WorkflowID: "wf-draft", Action: workflow.ActionDeploy, ToStatus: workflow.StatusDraft, Version: 1, Actor: "alice"}}
		if diff := cmp.Diff(want, mustEvents(t, st, d.ID), ignoreEventIDs); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("deployed", func(t *testing.T) {
		t.Parallel()
		def := workflowDef(t, triggerNode("m", "MANUAL", `{}`))
		d := mustDeploy(t, svc, DeployRequest{
			WorkflowID: "wf-deployed",
			Definition: def,
			Config:     workflow.Config{OverlapPolicy: workflow.OverlapBufferOne, ExecutionTimeoutSeconds: 60},
			DeployedBy: "bob",
		})
		require.Equal(t, workflow.StatusDeployed, d.Status)
		require.Equal(t, int64(1), d.Version)
		require.NotNil(t, d.DeployedAt)
		require.True(t, d.DeployedAt.Equal(testNow), "DeployedAt = %v, want the injected clock %v", d.DeployedAt, testNow)
		require.Equal(t, "bob", d.DeployedBy)
		if diff := cmp.Diff(workflow.Config{OverlapPolicy: workflow.OverlapBufferOne, ExecutionTimeoutSeconds: 60}, d.Config); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
		var gotDef map[string]any
		require.NoError(t, json.Unmarshal(d.Definition, &gotDef))
		if diff := cmp.Diff(def, gotDef); diff != "" {
			t.Errorf("definition (-want +got):\n%s", diff)
		}
		want := []workflow.Event{{DeploymentID: d.ID, WorkflowID: "wf-deployed", Action: workflow.ActionDeploy, ToStatus: workflow.StatusDeployed, Version: 1, Actor: "bob"}}
		if diff := cmp.Diff(want, mustEvents(t, st, d.ID), ignoreEventIDs); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(d.Deployment, mustGet(t, st, d.ID), ignoreDefinition); diff != "" {
			t.Errorf("returned deployment differs from the stored one (-returned +stored):\n%s", diff)
		}
	})

	// The default config is SKIP with the service's default timeouts.
	t.Run("default config", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-default-config", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`))})
		if diff := cmp.Diff(workflow.Config{OverlapPolicy: workflow.OverlapSkip}, d.Config); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
	})

	for _, tc := range []struct {
		name       string
		workflowID string
		trigger    workflow.Trigger
		// slot is the next nominal slot after testNow; gap the time to the one after.
		slot          time.Time
		gap           time.Duration
		wantJitter    func(workflowID string) int32
		wantOffsetMax time.Duration
	}{
		{
			name:       "hourly cron jitters by H mod 300",
			workflowID: "wf-hourly",
			trigger:    cronTrigger("0 * * * *"),
			slot:       time.Date(2025, time.March, 14, 11, 0, 0, 0, time.UTC),
			gap:        time.Hour,
			wantJitter: func(id string) int32 { return int32(cron.JitterSeconds(id, 300)) },
		},
		{
			name:       "every-minute cron is clamped below a minute",
			workflowID: "wf-every-minute",
			trigger:    cronTrigger("* * * * *"),
			slot:       time.Date(2025, time.March, 14, 10, 18, 0, 0, time.UTC),
			gap:        time.Minute,
			wantJitter: func(id string) int32 { return int32(cron.JitterSeconds(id, 60)) },
		},
		{
			name:       "jitter window 0 disables jitter",
			workflowID: "wf-nojitter",
			trigger:    workflow.Trigger{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "@hourly", JitterWindowSeconds: new(int32(0))}},
			slot:       time.Date(2025, time.March, 14, 11, 0, 0, 0, time.UTC),
			gap:        time.Hour,
			wantJitter: func(string) int32 { return 0 },
		},
		{
			name:       "own window and time zone",
			workflowID: "wf-zoned",
			trigger:    workflow.Trigger{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "0 9 * * *", Timezone: "America/New_York", JitterWindowSeconds: new(int32(120))}},
			// 09:00 EDT on 14 March 2025 (DST began on the 9th) is 13:00 UTC.
			slot:       time.Date(2025, time.March, 14, 13, 0, 0, 0, time.UTC),
			gap:        24 * time.Hour,
			wantJitter: func(id string) int32 { return int32(cron.JitterSeconds(id, 120)) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := mustDeploy(t, svc, DeployRequest{
				WorkflowID: tc.workflowID,
				Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
				Triggers:   []workflow.Trigger{tc.trigger},
			})
			require.Len(t, d.TriggerStatuses, 1)
			ts := d.TriggerStatuses[0]
			window := testJitterWindow
			if w := tc.trigger.Cron.JitterWindowSeconds; w != nil {
				window = time.Duration(*w) * time.Second
			}
			require.Equal(t, tc.wantJitter(tc.workflowID), ts.JitterSeconds)
			require.Less(t, time.Duration(ts.JitterSeconds)*time.Second, min(max(window, time.Second), tc.gap))
			require.NotNil(t, ts.NextFireTime)
			want := tc.slot.Add(cron.Offset(tc.workflowID, window, tc.gap))
			require.True(t, ts.NextFireTime.Equal(want), "NextFireTime = %v, want %v", ts.NextFireTime, want)
			require.Equal(t, int32(ts.NextFireTime.Sub(tc.slot)/time.Second), ts.JitterSeconds, "JitterSeconds is the offset's whole seconds")
		})
	}

	t.Run("every-minute clamp is visible for this workflow", func(t *testing.T) {
		t.Parallel()
		// Precondition of the case above: without the clamp its jitter would
		// be a minute or more.
		require.GreaterOrEqual(t, cron.JitterSeconds("wf-every-minute", 300), 60)
		require.NotZero(t, cron.JitterSeconds("wf-nojitter", 300))
	})

	t.Run("after archiving, workflow id and webhook path are free again", func(t *testing.T) {
		t.Parallel()
		req := DeployRequest{WorkflowID: "wf-again", Definition: workflowDef(t, triggerNode("w", "WEBHOOK", `{"path": "again/hook"}`))}
		first := mustDeploy(t, svc, req)
		_, err := svc.Deploy(ctx, req)
		requireKind(t, err, errors.AlreadyExists)
		_, err = svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-again-other", Definition: req.Definition})
		requireKind(t, err, errors.AlreadyExists)

		_, err = svc.Delete(ctx, DeleteRequest{DeploymentID: first.ID})
		require.NoError(t, err)
		second := mustDeploy(t, svc, req)
		require.NotEqual(t, first.ID, second.ID)
		// And the path, once that deployment is archived too, for another workflow.
		_, err = svc.Delete(ctx, DeleteRequest{DeploymentID: second.ID})
		require.NoError(t, err)
		mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-again-other", Definition: workflowDef(t, triggerNode("w", "WEBHOOK", `{"path": "AGAIN/hook"}`))})
	})
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	svc, st := newTestService(t)
	ctx := context.Background()

	hourlyAndHook := func(t *testing.T, path string) map[string]any {
		return workflowDef(t,
			triggerNode("c", "CRON", `{"cron_expression": "@hourly"}`),
			triggerNode("w", "WEBHOOK", fmt.Sprintf(`{"path": %q}`, path)))
	}

	t.Run("pause and resume", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-pause", Definition: hourlyAndHook(t, "pause/hook")})
		paused := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Status: new(workflow.StatusPaused), ExpectedVersion: 1})
		require.Equal(t, workflow.StatusPaused, paused.Status)
		require.Equal(t, int64(2), paused.Version)
		require.Nil(t, paused.TriggerStatuses[0].NextFireTime, "a PAUSED deployment fires nothing")
		require.Equal(t, triggerIDs(d.Triggers), triggerIDs(paused.Triggers), "pausing keeps the triggers")

		resumed := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Status: new(workflow.StatusDeployed)})
		require.Equal(t, workflow.StatusDeployed, resumed.Status)
		require.Equal(t, int64(3), resumed.Version)
		require.NotNil(t, resumed.TriggerStatuses[0].NextFireTime)
		require.Equal(t, triggerIDs(d.Triggers), triggerIDs(resumed.Triggers))

		want := []workflow.Event{
			{DeploymentID: d.ID, WorkflowID: "wf-pause", Action: workflow.ActionDeploy, ToStatus: workflow.StatusDeployed, Version: 1},
			{DeploymentID: d.ID, WorkflowID: "wf-pause", Action: workflow.ActionPause, FromStatus: workflow.StatusDeployed, ToStatus: workflow.StatusPaused, Version: 2, FromVersion: 1},
			{DeploymentID: d.ID, WorkflowID: "wf-pause", Action: workflow.ActionResume, FromStatus: workflow.StatusPaused, ToStatus: workflow.StatusDeployed, Version: 3, FromVersion: 2},
		}
		if diff := cmp.Diff(want, mustEvents(t, st, d.ID), ignoreEventIDs); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("promote a draft", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-promote", Definition: hourlyAndHook(t, "promote/hook"), Draft: true})
		require.Nil(t, d.DeployedAt)
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Mask: []string{FieldStatus}, Status: new(workflow.StatusDeployed)})
		require.Equal(t, workflow.StatusDeployed, got.Status)
		require.Equal(t, int64(2), got.Version)
		require.NotNil(t, got.DeployedAt)
		require.True(t, got.DeployedAt.Equal(testNow), "DeployedAt = %v, want %v", got.DeployedAt, testNow)
		require.NotNil(t, got.TriggerStatuses[0].NextFireTime)
		evs := mustEvents(t, st, d.ID)
		require.Len(t, evs, 2)
		want := workflow.Event{DeploymentID: d.ID, WorkflowID: "wf-promote", Action: workflow.ActionPromote, FromStatus: workflow.StatusDraft, ToStatus: workflow.StatusDeployed, Version: 2, FromVersion: 1}
		if diff := cmp.Diff(want, evs[1], ignoreEventIDs); diff != "" {
			t.Errorf("event (-want +got):\n%s", diff)
		}
	})

	t.Run("new definition brings the triggers it yields", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-newdef", Definition: hourlyAndHook(t, "newdef/hook")})
		def := workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "@daily"}`))
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Definition: def})
		require.Equal(t, int64(2), got.Version)
		require.Equal(t, workflow.StatusDeployed, got.Status)
		var gotDef map[string]any
		require.NoError(t, json.Unmarshal(got.Definition, &gotDef))
		if diff := cmp.Diff(def, gotDef); diff != "" {
			t.Errorf("definition (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]workflow.Trigger{storedCron("@daily", "", nil)}, got.Triggers, cmpopts.IgnoreFields(workflow.Trigger{}, "ID", "DeploymentID")); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
		evs := mustEvents(t, st, d.ID)
		require.Len(t, evs, 2)
		want := workflow.Event{DeploymentID: d.ID, WorkflowID: "wf-newdef", Action: workflow.ActionUpdate, FromStatus: workflow.StatusDeployed, ToStatus: workflow.StatusDeployed, Version: 2, FromVersion: 1}
		if diff := cmp.Diff(want, evs[1], ignoreEventIDs); diff != "" {
			t.Errorf("event (-want +got):\n%s", diff)
		}
	})

	t.Run("new definition keeps triggers given explicitly", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-newdef-explicit", Definition: hourlyAndHook(t, "newdef-explicit/hook"),
			Triggers: []workflow.Trigger{cronTrigger("*/5 * * * *")}})
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "@daily"}`))})
		if diff := cmp.Diff(d.Triggers, got.Triggers); diff != "" {
			t.Errorf("triggers (-before +after):\n%s", diff)
		}
	})

	t.Run("webhook triggers sent back without secrets keep them", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-keep-secrets", Definition: workflowDef(t),
			Triggers: []workflow.Trigger{webhookTrigger("keep/secrets", "s3cret"), cronTrigger("0 * * * *")}})
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID,
			Triggers: []workflow.Trigger{webhookTrigger("/keep/secrets/"), cronTrigger("*/10 * * * *")}})
		require.Equal(t, d.Triggers[0].ID, got.Triggers[0].ID, "the webhook trigger did not change")
		require.Equal(t, []string{"s3cret"}, got.Triggers[0].Webhook.Secrets)
		require.True(t, got.TriggerStatuses[0].RequiresSignature)
		rotated := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Triggers: []workflow.Trigger{webhookTrigger("keep/secrets", "n3w")}})
		require.Equal(t, []string{"n3w"}, rotated.Triggers[0].Webhook.Secrets, "secrets sent replace the stored ones")
	})

	t.Run("new triggers replace, an identical one keeps its id", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-replace", Definition: hourlyAndHook(t, "replace/hook")})
		require.Len(t, d.Triggers, 2)
		cronID, hookID := d.Triggers[0].ID, d.Triggers[1].ID
		got := mustUpdate(t, svc, UpdateRequest{
			DeploymentID: d.ID,
			// Trigger ids are output only: the cron claims the old cron's id
			// but is a new trigger; the webhook as the caller wrote it
			// normalises to the current one.
			Triggers: []workflow.Trigger{
				{ID: cronID, Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "@daily"}},
				{ID: "caller-chosen", Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "/replace/hook", Methods: []string{"post"}}},
			},
		})
		want := []workflow.Trigger{storedCron("@daily", "", nil), storedWebhook("replace/hook")}
		if diff := cmp.Diff(want, got.Triggers, ignoreTriggerIDs); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
		require.Equal(t, hookID, got.Triggers[1].ID, "the unchanged webhook keeps its id")
		require.NotEqual(t, cronID, got.Triggers[0].ID, "the new cron trigger gets a new id")
		require.NotEqual(t, hookID, got.Triggers[0].ID)
		if diff := cmp.Diff(got.Triggers, mustGet(t, st, d.ID).Triggers); diff != "" {
			t.Errorf("stored triggers (-returned +stored):\n%s", diff)
		}
		require.Equal(t, int64(2), got.Version)
	})

	t.Run("two identical new triggers take one current id", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{
			WorkflowID: "wf-twins",
			Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
			Triggers:   []workflow.Trigger{cronTrigger("@hourly")},
		})
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Triggers: []workflow.Trigger{cronTrigger("@hourly"), cronTrigger("@hourly")}})
		require.Len(t, got.Triggers, 2)
		require.Equal(t, d.Triggers[0].ID, got.Triggers[0].ID)
		require.NotEqual(t, d.Triggers[0].ID, got.Triggers[1].ID)
		require.NotEmpty(t, got.Triggers[1].ID)
	})

	t.Run("mask triggers without triggers re-derives them from the current definition", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{
			WorkflowID: "wf-rederive",
			Definition: hourlyAndHook(t, "rederive/hook"),
			Triggers:   []workflow.Trigger{webhookTrigger("rederive/explicit")},
		})
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Mask: []string{FieldTriggers}})
		want := []workflow.Trigger{storedCron("@hourly", "", nil), storedWebhook("rederive/hook")}
		if diff := cmp.Diff(want, got.Triggers, ignoreTriggerIDs); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
		require.JSONEq(t, string(d.Definition), string(got.Definition))
		require.Equal(t, int64(2), got.Version)
	})

	t.Run("mask triggers and definition derives from the new definition", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-derive-new", Definition: hourlyAndHook(t, "derive-new/hook")})
		hookID := d.Triggers[1].ID
		def := workflowDef(t, triggerNode("w", "WEBHOOK", `{"path": "derive-new/hook"}`), triggerNode("m", "MANUAL", `{}`))
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Mask: []string{FieldDefinition, FieldTriggers}, Definition: def})
		want := []workflow.Trigger{storedWebhook("derive-new/hook"), storedManual()}
		if diff := cmp.Diff(want, got.Triggers, ignoreTriggerIDs); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
		require.Equal(t, hookID, got.Triggers[0].ID, "the unchanged webhook keeps its id")
	})

	t.Run("mask config with no config resets it to the defaults", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{
			WorkflowID: "wf-reset-config",
			Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
			Config:     workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, ExecutionTimeoutSeconds: 60, CatchupWindowSeconds: 120},
		})
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Mask: []string{FieldConfig}})
		if diff := cmp.Diff(workflow.Config{OverlapPolicy: workflow.OverlapSkip}, got.Config); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(got.Config, mustGet(t, st, d.ID).Config); diff != "" {
			t.Errorf("stored config (-returned +stored):\n%s", diff)
		}
	})

	t.Run("empty mask applies only the fields that are set", func(t *testing.T) {
		t.Parallel()
		d := mustDeploy(t, svc, DeployRequest{
			WorkflowID: "wf-set-fields",
			Definition: hourlyAndHook(t, "set-fields/hook"),
			Config:     workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, ExecutionTimeoutSeconds: 60},
		})
		cfg := workflow.Config{OverlapPolicy: workflow.OverlapCancelOther, CatchupWindowSeconds: 30}
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Config: &cfg, ExpectedVersion: 1})
		if diff := cmp.Diff(cfg, got.Config); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
		require.Equal(t, workflow.StatusDeployed, got.Status)
		require.JSONEq(t, string(d.Definition), string(got.Definition))
		if diff := cmp.Diff(d.Triggers, got.Triggers); diff != "" {
			t.Errorf("triggers (-before +after):\n%s", diff)
		}
		require.Equal(t, int64(2), got.Version)

		// Status and triggers together, still without a mask: the config stays.
		got = mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Status: new(workflow.StatusPaused), Triggers: []workflow.Trigger{cronTrigger("@hourly")}})
		require.Equal(t, workflow.StatusPaused, got.Status)
		if diff := cmp.Diff([]workflow.Trigger{d.Triggers[0]}, got.Triggers); diff != "" {
			t.Errorf("triggers (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(cfg, got.Config); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
		require.Equal(t, int64(3), got.Version)
		evs := mustEvents(t, st, d.ID)
		require.Len(t, evs, 3)
		require.Equal(t, workflow.ActionUpdate, evs[1].Action)
		require.Equal(t, workflow.ActionPause, evs[2].Action)
	})

	t.Run("a path can move to another deployment once freed", func(t *testing.T) {
		t.Parallel()
		a := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-move-a", Definition: workflowDef(t, triggerNode("w", "WEBHOOK", `{"path": "move/hook"}`))})
		b := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-move-b", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`))})
		_, err := svc.Update(ctx, UpdateRequest{DeploymentID: b.ID, Triggers: []workflow.Trigger{webhookTrigger("Move/Hook")}})
		requireKind(t, err, errors.AlreadyExists)
		mustUpdate(t, svc, UpdateRequest{DeploymentID: a.ID, Triggers: []workflow.Trigger{webhookTrigger("move/other")}})
		got := mustUpdate(t, svc, UpdateRequest{DeploymentID: b.ID, Triggers: []workflow.Trigger{webhookTrigger("Move/Hook")}})
		require.Equal(t, "Move/Hook", got.Triggers[0].Webhook.Path)
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	svc, st := newTestService(t)
	ctx := context.Background()

	for _, tc := range []struct {
		name   string
		status workflow.DeploymentStatus
	}{
		{"deployed", workflow.StatusDeployed},
		{"draft", workflow.StatusDraft},
		{"paused", workflow.StatusPaused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wf := "wf-delete-" + tc.name
			d := mustDeploy(t, svc, DeployRequest{
				WorkflowID: wf,
				Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "@hourly"}`)),
				Draft:      tc.status == workflow.StatusDraft,
			})
			if tc.status == workflow.StatusPaused {
				d = mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Status: new(workflow.StatusPaused)})
			}
			before := len(mustEvents(t, st, d.ID))

			got, err := svc.Delete(ctx, DeleteRequest{DeploymentID: d.ID})
			require.NoError(t, err)
			require.Equal(t, workflow.StatusArchived, got.Status)
			require.Equal(t, d.Version+1, got.Version)
			require.Nil(t, got.TriggerStatuses[0].NextFireTime)
			require.Equal(t, triggerIDs(d.Triggers), triggerIDs(got.Triggers), "history keeps the triggers")

			evs := mustEvents(t, st, d.ID)
			require.Len(t, evs, before+1)
			want := workflow.Event{DeploymentID: d.ID, WorkflowID: wf, Action: workflow.ActionArchive, FromStatus: tc.status, ToStatus: workflow.StatusArchived, Version: d.Version + 1, FromVersion: d.Version}
			if diff := cmp.Diff(want, evs[len(evs)-1], ignoreEventIDs); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}

			// Still readable by id, but no longer the workflow's active deployment.
			status, err := svc.Status(ctx, StatusRequest{DeploymentID: d.ID})
			require.NoError(t, err)
			if diff := cmp.Diff(got.Deployment, status.Deployment.Deployment); diff != "" {
				t.Errorf("status (-deleted +read):\n%s", diff)
			}
			_, err = svc.Status(ctx, StatusRequest{WorkflowID: wf})
			requireKind(t, err, errors.NotFound)
		})
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	svc, st := newTestService(t)
	ctx := context.Background()

	d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-status", Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "@hourly"}`))})
	other := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-status-other", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`))})
	quiet := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-status-quiet", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`))})

	t.Run("no executions", func(t *testing.T) {
		t.Parallel()
		got, err := svc.Status(ctx, StatusRequest{WorkflowID: quiet.WorkflowID})
		require.NoError(t, err)
		require.Nil(t, got.LastExecution)
		require.Zero(t, got.RunningExecutions)
	})

	insert := func(t *testing.T, dep Deployment, status workflow.ExecutionStatus, fired time.Time) string {
		t.Helper()
		id := uuid.NewString()
		_, err := st.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, dep.WorkflowID, dep.ID, dep.Version, string(workflow.TriggerCron), string(status), fired)
		require.NoError(t, err)
		return id
	}
	base := testNow.Add(-time.Hour)
	insert(t, d, workflow.ExecutionSucceeded, base)
	insert(t, d, workflow.ExecutionRunning, base.Add(10*time.Minute))
	last := insert(t, d, workflow.ExecutionPending, base.Add(20*time.Minute))
	insert(t, d, workflow.ExecutionFailed, base.Add(5*time.Minute))
	// Another deployment's executions count for nothing here.
	insert(t, other, workflow.ExecutionRunning, base.Add(30*time.Minute))

	for _, tc := range []struct {
		name string
		req  StatusRequest
	}{
		{"by deployment id", StatusRequest{DeploymentID: d.ID}},
		{"by deployment id in upper case", StatusRequest{DeploymentID: strings.ToUpper(d.ID)}},
		{"by workflow id", StatusRequest{WorkflowID: "wf-status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := svc.Status(ctx, tc.req)
			require.NoError(t, err)
			if diff := cmp.Diff(d.Deployment, got.Deployment.Deployment, ignoreDefinition); diff != "" {
				t.Errorf("deployment (-deployed +read):\n%s", diff)
			}
			if diff := cmp.Diff(d.TriggerStatuses, got.Deployment.TriggerStatuses); diff != "" {
				t.Errorf("trigger statuses (-deployed +read):\n%s", diff)
			}
			require.NotNil(t, got.LastExecution)
			require.Equal(t, last, got.LastExecution.ID)
			require.Equal(t, workflow.ExecutionPending, got.LastExecution.Status)
			require.True(t, got.LastExecution.FiredTime.Equal(base.Add(20*time.Minute)))
			require.Equal(t, int64(2), got.RunningExecutions)
		})
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	svc, _ := newTestService(t)
	ctx := context.Background()

	// Created in this order, so listed newest first as c, b, a.
	a := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-a", Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "@hourly"}`))})
	b := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-b", Definition: workflowDef(t, triggerNode("w", "WEBHOOK", `{"path": "list/hook"}`)), Draft: true})
	c := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-c", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`), triggerNode("k", "CRON", `{"cron_expression": "@daily"}`))})
	c = mustUpdate(t, svc, UpdateRequest{DeploymentID: c.ID, Status: new(workflow.StatusPaused)})
	archived := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-a-old", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`))})
	archived, err := svc.Delete(ctx, DeleteRequest{DeploymentID: archived.ID})
	require.NoError(t, err)

	ids := func(ds []Deployment) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}

	for _, tc := range []struct {
		name      string
		req       ListRequest
		want      []string
		wantTotal int64
	}{
		{"default excludes ARCHIVED", ListRequest{}, []string{c.ID, b.ID, a.ID}, 3},
		{"ARCHIVED only", ListRequest{Statuses: []workflow.DeploymentStatus{workflow.StatusArchived}}, []string{archived.ID}, 1},
		{"every status", ListRequest{Statuses: allStatuses}, []string{archived.ID, c.ID, b.ID, a.ID}, 4},
		{"DRAFT and PAUSED", ListRequest{Statuses: []workflow.DeploymentStatus{workflow.StatusDraft, workflow.StatusPaused}}, []string{c.ID, b.ID}, 2},
		{"by workflow id", ListRequest{WorkflowID: "wf-b"}, []string{b.ID}, 1},
		{"by workflow id, archived excluded", ListRequest{WorkflowID: "wf-a-old"}, []string{}, 0},
		{"by trigger type CRON", ListRequest{TriggerType: workflow.TriggerCron}, []string{c.ID, a.ID}, 2},
		{"by trigger type WEBHOOK", ListRequest{TriggerType: workflow.TriggerWebhook}, []string{b.ID}, 1},
		{"by trigger type MANUAL, every status", ListRequest{TriggerType: workflow.TriggerManual, Statuses: allStatuses}, []string{archived.ID, c.ID}, 2},
		{"page size above the maximum is clamped, not refused", ListRequest{PageSize: 10_000}, []string{c.ID, b.ID, a.ID}, 3},
		{"page size 0 is the default", ListRequest{PageSize: 0}, []string{c.ID, b.ID, a.ID}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := svc.List(ctx, tc.req)
			require.NoError(t, err)
			if diff := cmp.Diff(tc.want, ids(got.Deployments)); diff != "" {
				t.Errorf("deployments (-want +got):\n%s", diff)
			}
			require.Equal(t, tc.wantTotal, got.TotalSize)
			require.Empty(t, got.NextPageToken)
		})
	}

	t.Run("views carry trigger statuses", func(t *testing.T) {
		t.Parallel()
		got, err := svc.List(ctx, ListRequest{WorkflowID: "wf-a"})
		require.NoError(t, err)
		require.Len(t, got.Deployments, 1)
		if diff := cmp.Diff(a.TriggerStatuses, got.Deployments[0].TriggerStatuses); diff != "" {
			t.Errorf("trigger statuses (-deployed +listed):\n%s", diff)
		}
	})

	t.Run("paging", func(t *testing.T) {
		t.Parallel()
		var (
			seen  []string
			token string
			pages int
		)
		for {
			got, err := svc.List(ctx, ListRequest{Statuses: allStatuses, PageSize: 2, PageToken: token})
			require.NoError(t, err)
			require.Equal(t, int64(4), got.TotalSize, "page %d", pages)
			require.LessOrEqual(t, len(got.Deployments), 2)
			seen = append(seen, ids(got.Deployments)...)
			pages++
			require.Less(t, pages, 10, "paging does not end")
			if got.NextPageToken == "" {
				break
			}
			token = got.NextPageToken
		}
		require.Equal(t, 2, pages)
		if diff := cmp.Diff([]string{archived.ID, c.ID, b.ID, a.ID}, seen); diff != "" {
			t.Errorf("deployments over all pages (-want +got):\n%s", diff)
		}
	})

	t.Run("default page size and clamp", func(t *testing.T) {
		t.Parallel()
		rec := &recordingStore{}
		s := New(rec, Options{})
		for _, tc := range []struct {
			size int32
			want int
		}{{0, workflow.DefaultPageSize}, {1, 1}, {workflow.MaxPageSize, workflow.MaxPageSize}, {workflow.MaxPageSize + 1, workflow.MaxPageSize}, {10_000, workflow.MaxPageSize}} {
			_, err := s.List(ctx, ListRequest{PageSize: tc.size})
			require.NoError(t, err)
			require.Equal(t, tc.want, rec.limit, "page size %d", tc.size)
		}
	})
}

// recordingStore records the limit List passes on.
type recordingStore struct {
	store.Store
	limit int
}

func (r *recordingStore) ListDeployments(_ context.Context, f workflow.ListFilter) (workflow.Page, error) {
	r.limit = f.Limit
	return workflow.Page{}, nil
}

// faultyStore answers reads of a deployment but fails the execution queries.
type faultyStore struct {
	store.Store
	d                 *workflow.Deployment
	lastErr, countErr error
}

func (f *faultyStore) GetDeployment(context.Context, string) (*workflow.Deployment, error) {
	return f.d, nil
}

func (f *faultyStore) LastExecution(context.Context, string) (*workflow.Execution, error) {
	return nil, f.lastErr
}

func (f *faultyStore) CountUnfinishedExecutions(context.Context, string) (int64, error) {
	return 0, f.countErr
}

func TestStatusExecutionQueriesFail(t *testing.T) {
	t.Parallel()
	d := &workflow.Deployment{ID: uuid.NewString(), WorkflowID: "wf", Status: workflow.StatusDeployed, Version: 1}
	for _, tc := range []struct {
		name              string
		lastErr, countErr error
		kind              errors.Kind
	}{
		{"last execution unreachable", errors.E(errors.Unavailable, fmt.Errorf("%w: %w", store.ErrUnavailable, &net.OpError{Op: "read", Err: fmt.Errorf("reset")})), nil, errors.Unavailable},
		{"last execution broken", fmt.Errorf("postgres: last execution: boom"), nil, errors.Internal},
		{"count unreachable", store.ErrNotFound, errors.E(errors.Unavailable, fmt.Errorf("%w: %w", store.ErrUnavailable, driver.ErrBadConn)), errors.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &faultyStore{d: d, lastErr: tc.lastErr, countErr: tc.countErr}
			_, err := New(st, Options{}).Status(context.Background(), StatusRequest{DeploymentID: d.ID})
			requireKind(t, err, tc.kind)
		})
	}
}

// TestUnreachableStore runs the service over a PostgreSQL that does not
// answer: every call that reaches the store fails as Unavailable.
func TestUnreachableStore(t *testing.T) {
	t.Parallel()
	db := sqlx.MustOpen("postgres", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1")
	st := postgres.New(db)
	t.Cleanup(func() { _ = st.Close() })
	svc := New(st, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }})
	def := map[string]any{"nodes": []any{map[string]any{"id": "m", "name": "M", "type": "TRIGGER", "subtype": "MANUAL"}}}
	id := uuid.NewString()

	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"deploy", func(ctx context.Context) error {
			_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf", Definition: def})
			return err
		}},
		{"update", func(ctx context.Context) error {
			_, err := svc.Update(ctx, UpdateRequest{DeploymentID: id, Status: new(workflow.StatusPaused)})
			return err
		}},
		{"delete", func(ctx context.Context) error {
			_, err := svc.Delete(ctx, DeleteRequest{DeploymentID: id})
			return err
		}},
		{"status by id", func(ctx context.Context) error {
			_, err := svc.Status(ctx, StatusRequest{DeploymentID: id})
			return err
		}},
		{"status by workflow", func(ctx context.Context) error {
			_, err := svc.Status(ctx, StatusRequest{WorkflowID: "wf"})
			return err
		}},
		{"list", func(ctx context.Context) error {
			_, err := svc.List(ctx, ListRequest{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := tc.call(ctx)
			requireKind(t, err, errors.Unavailable)
		})
	}
}

func TestTransition(t *testing.T) {
	t.Parallel()
	legal := map[[2]workflow.DeploymentStatus]string{
		{workflow.StatusDeployed, workflow.StatusPaused}: workflow.ActionPause,
		{workflow.StatusPaused, workflow.StatusDeployed}: workflow.ActionResume,
		{workflow.StatusDraft, workflow.StatusDeployed}:  workflow.ActionPromote,
	}
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			t.Run(string(from)+" to "+string(to), func(t *testing.T) {
				t.Parallel()
				action, err := transition(from, to)
				if want, ok := legal[[2]workflow.DeploymentStatus{from, to}]; ok {
					require.NoError(t, err)
					require.Equal(t, want, action)
					return
				}
				requireKind(t, err, errors.FailedPrecondition)
				require.Empty(t, action)
			})
		}
	}
}

func TestFieldsToApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		req    UpdateRequest
		want   []string
		ok     bool
		fields []string
	}{
		{"nothing set", UpdateRequest{}, nil, true, nil},
		{"set fields", UpdateRequest{Status: new(workflow.StatusPaused), Config: &workflow.Config{}}, []string{FieldConfig, FieldStatus}, true, nil},
		{"every set field", UpdateRequest{
			Status: new(workflow.StatusPaused), Definition: map[string]any{"nodes": nil},
			Triggers: []workflow.Trigger{{}}, Config: &workflow.Config{},
		}, []string{FieldConfig, FieldStatus, FieldTriggers, FieldDefinition}, true, nil},
		{"empty triggers are not set", UpdateRequest{Triggers: []workflow.Trigger{}}, nil, true, nil},
		{"mask wins over set fields", UpdateRequest{Status: new(workflow.StatusPaused), Mask: []string{FieldTriggers}}, []string{FieldTriggers}, true, nil},
		{"unknown paths", UpdateRequest{Mask: []string{"config", "name", "status.code"}}, []string{FieldConfig}, false, []string{"update_mask", "update_mask"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v errors.Violations
			apply, ok := fieldsToApply(&v, tc.req)
			var got []string
			for f, on := range apply {
				require.True(t, on)
				got = append(got, f)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			require.Equal(t, tc.ok, ok)
			var fields []string
			for _, x := range v {
				fields = append(fields, x.Field)
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestViewUnschedulableCron covers stored cron specs that yield no schedule:
// they cannot pass validation today, but a view must not fail on them.
func TestViewUnschedulableCron(t *testing.T) {
	t.Parallel()
	s := New(nil, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }}).(*service)
	const wf = "wf-view"
	for _, tc := range []struct {
		name       string
		spec       workflow.CronSpec
		wantJitter int32
		wantNext   *time.Time
	}{
		{"unparsable expression", workflow.CronSpec{Expression: "every day"}, 0, nil},
		{"unknown zone", workflow.CronSpec{Expression: "@daily", Timezone: "Nowhere/Town"}, 0, nil},
		{"no slot left", workflow.CronSpec{Expression: "0 0 0 1 1 ? 2020"}, 0, nil},
		{
			// The only slot has no successor: the jitter window alone bounds the offset.
			"last slot", workflow.CronSpec{Expression: "0 0 0 1 1 ? 2026"},
			int32(cron.JitterSeconds(wf, 300)),
			func() *time.Time {
				t := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC).Add(cron.Offset(wf, testJitterWindow, testJitterWindow))
				return &t
			}(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := tc.spec
			d := s.view(&workflow.Deployment{WorkflowID: wf, Status: workflow.StatusDeployed, Triggers: []workflow.Trigger{{Type: workflow.TriggerCron, Cron: &spec}}})
			require.Len(t, d.TriggerStatuses, 1)
			got := d.TriggerStatuses[0]
			require.Equal(t, tc.wantJitter, got.JitterSeconds)
			if diff := cmp.Diff(tc.wantNext, got.NextFireTime); diff != "" {
				t.Errorf("NextFireTime (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSameTrigger(t *testing.T) {
	t.Parallel()
	cron := func(id string, start time.Time) workflow.Trigger {
		return workflow.Trigger{ID: id, Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "0 * * * *", StartTime: &start}}
	}
	y2030 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	y10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		a, b workflow.Trigger
		want bool
	}{
		{"ids differ", cron("a", y2030), cron("b", y2030), true},
		{"specs differ", cron("a", y2030), cron("a", y2030.Add(time.Hour)), false},
		{"types differ", workflow.Trigger{Type: workflow.TriggerManual}, workflow.Trigger{Type: workflow.TriggerWebhook}, false},
		{"specs that cannot be encoded", cron("a", y10000), cron("a", y10000.Add(time.Hour)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, sameTrigger(tc.a, tc.b))
		})
	}
}

func TestNewDefaultsClock(t *testing.T) {
	t.Parallel()
	s := New(nil, Options{}).(*service)
	require.NotNil(t, s.opts.Now)
	require.WithinDuration(t, time.Now(), s.opts.Now(), time.Minute)
}

// TestNextFireOfPassedSlot checks that a slot that has passed, but whose
// jittered fire has not, is the next fire.
func TestNextFireOfPassedSlot(t *testing.T) {
	t.Parallel()
	const wf = "wf-passed-slot"
	slot := time.Date(2025, time.March, 14, 11, 0, 0, 0, time.UTC)
	offset := cron.Offset(wf, testJitterWindow, time.Hour)
	require.Greater(t, offset, 2*time.Second, "precondition: the workflow's offset leaves room after the slot")
	for _, tc := range []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"just after the slot", slot.Add(time.Second), slot.Add(offset)},
		{"just before the fire", slot.Add(offset - time.Millisecond), slot.Add(offset)},
		{"at the fire", slot.Add(offset), slot.Add(time.Hour + offset)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(nil, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return tc.now }}).(*service)
			d := s.view(&workflow.Deployment{WorkflowID: wf, Status: workflow.StatusDeployed, Triggers: []workflow.Trigger{cronTrigger("0 * * * *")}})
			got := d.TriggerStatuses[0].NextFireTime
			require.NotNil(t, got)
			require.True(t, got.Equal(tc.want), "NextFireTime = %v, want %v", got, tc.want)
		})
	}
}

// failingNotifier fails the changes to the deployments it is told to fail,
// and records every change it hears of.
type failingNotifier struct {
	mu    sync.Mutex
	fail  map[workflow.DeploymentStatus]bool
	heard []workflow.DeploymentStatus
}

func (n *failingNotifier) DeploymentChanged(_ context.Context, d *workflow.Deployment) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.heard = append(n.heard, d.Status)
	if n.fail[d.Status] {
		return fmt.Errorf("scheduler refused %s", d.Status)
	}
	return nil
}

// TestSchedulingFailureIsUndone checks the compensating update: a change the
// notifier refuses does not survive, and the caller gets UNAVAILABLE.
func TestSchedulingFailureIsUndone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	n := &failingNotifier{fail: map[workflow.DeploymentStatus]bool{}}
	svc := New(st, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }, Notifier: n})

	n.fail[workflow.StatusDeployed] = true
	_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-undo", Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "0 * * * *"}`))})
	requireKind(t, err, errors.Unavailable)
	require.Contains(t, err.Error(), "scheduler refused DEPLOYED")
	_, err = st.GetActiveDeployment(ctx, "wf-undo")
	require.ErrorIs(t, err, store.ErrNotFound, "a deployment whose scheduling failed stays active")

	n.fail[workflow.StatusDeployed] = false
	d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-undo", Definition: workflowDef(t, triggerNode("c", "CRON", `{"cron_expression": "0 * * * *"}`))})
	n.fail[workflow.StatusPaused] = true
	_, err = svc.Update(ctx, UpdateRequest{DeploymentID: d.ID, Status: new(workflow.StatusPaused)})
	requireKind(t, err, errors.Unavailable)
	got, err := st.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, workflow.StatusDeployed, got.Status)
	require.EqualValues(t, 3, got.Version, "the change and its undoing are both versions")
	require.Equal(t, d.Triggers[0].ID, got.Triggers[0].ID, "an unchanged trigger keeps its id through the undo")
	events, err := st.ListEvents(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, workflow.ActionRollback, events[len(events)-1].Action)
	require.Contains(t, events[len(events)-1].Reason, "undone: scheduling failed")

	n.fail[workflow.StatusArchived] = true
	_, err = svc.Delete(ctx, DeleteRequest{DeploymentID: d.ID})
	requireKind(t, err, errors.Unavailable)
	got, err = st.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, workflow.StatusDeployed, got.Status)
	if diff := cmp.Diff([]workflow.DeploymentStatus{
		workflow.StatusDeployed, workflow.StatusArchived, // refused deploy, then its undoing
		workflow.StatusDeployed,                        // second deploy
		workflow.StatusPaused, workflow.StatusDeployed, // refused pause, undone
		workflow.StatusArchived, workflow.StatusDeployed, // refused delete, undone
	}, n.heard); diff != "" {
		t.Errorf("changes heard (-want +got):\n%s", diff)
	}
}
