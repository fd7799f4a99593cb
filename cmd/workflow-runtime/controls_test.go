package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestControlCharactersRefused sends NUL and the other control characters in
// every text field of every request, over gRPC and REST, on both stores:
// each is refused with INVALID_ARGUMENT naming the field, and nothing is
// written. NUL once answered 500 from PostgreSQL, after the engine had
// already been told to cancel. Where a field may hold some controls (a
// cancel reason may break lines, a header value may hold a tab, a
// definition or a payload is the caller's JSON), those are accepted.
func TestControlCharactersRefused(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	for _, db := range []string{"postgres", "sqlite"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			testControlCharacters(t, db == "sqlite")
		})
	}
}

func testControlCharacters(t *testing.T, embedded bool) {
	// An engine whose executions never end keeps one RUNNING to cancel.
	s, db := startStackOver(t, enginesim.Config{HangRate: 1}, embedded)

	ctx := context.Background()
	c := s.client
	dep, err := c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "texts", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{Path: "texts/hook"}}}})
	require.NoError(t, err)
	deploymentID := dep.GetDeployment().GetDeploymentId()
	running, err := c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "texts", TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL})
	require.NoError(t, err)
	executionID := running.GetExecutionId()
	require.Eventually(t, func() bool {
		e, err := c.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: executionID})
		return err == nil && e.GetExecution().GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_RUNNING
	}, 10*time.Second, 20*time.Millisecond)
	before := snapshot(t, db)

	// withDefinition deploys a definition whose node carries a parameter.
	withDefinition := func(key string, value any) *structpb.Struct {
		node := map[string]any{"id": "n", "name": "N", "type": "ACTION", "parameters": map[string]any{key: value}}
		def, err := structpb.NewStruct(map[string]any{"nodes": []any{node}})
		require.NoError(t, err)
		return def
	}
	cronTrigger := func(expr, zone string) []*pb.Trigger {
		return []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: expr, Timezone: zone}}}
	}
	hookTrigger := func(spec *pb.WebhookSpec) []*pb.Trigger {
		return []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: spec}}
	}
	deploy := func(r *pb.DeployWorkflowRequest) func() error {
		if r.GetWorkflowId() == "" {
			r.WorkflowId = "texts-new"
		}
		if r.GetWorkflowDefinition() == nil {
			r.WorkflowDefinition = definition(t, actionNode)
		}
		return rpc(ctx, c.DeployWorkflow, r)
	}
	update := func(r *pb.UpdateDeploymentRequest) func() error {
		if r.GetDeploymentId() == "" {
			r.DeploymentId = deploymentID
		}
		return rpc(ctx, c.UpdateDeployment, r)
	}
	manual := func(r *pb.TriggerWorkflowRequest) func() error {
		if r.GetWorkflowId() == "" {
			r.WorkflowId = "texts"
		}
		r.TriggerType = pb.TriggerType_TRIGGER_TYPE_MANUAL
		return rpc(ctx, c.TriggerWorkflow, r)
	}
	webhook := func(r *pb.TriggerWorkflowRequest) func() error {
		if r.GetWebhookPath() == "" && r.GetWorkflowId() == "" {
			r.WebhookPath = "texts/hook"
		}
		r.TriggerType = pb.TriggerType_TRIGGER_TYPE_WEBHOOK
		return rpc(ctx, c.TriggerWorkflow, r)
	}
	cancel := func(id, reason string) func() error {
		return rpc(ctx, c.CancelExecution, &pb.CancelExecutionRequest{ExecutionId: id, Reason: reason})
	}

	type refused struct {
		name  string
		call  func() error
		field string
	}
	cases := []refused{
		{"deploy workflow_id", deploy(&pb.DeployWorkflowRequest{WorkflowId: "texts\x00new"}), "workflow_id"},
		{"deploy definition value", deploy(&pb.DeployWorkflowRequest{WorkflowDefinition: withDefinition("note", "a\x00b")}),
			"workflow_definition.nodes[0].parameters.note"},
		{"deploy definition key", deploy(&pb.DeployWorkflowRequest{WorkflowDefinition: withDefinition("no\x00te", "a")}),
			"workflow_definition.nodes[0].parameters"},
		{"deploy cron expression", deploy(&pb.DeployWorkflowRequest{Triggers: cronTrigger("0 * * * *\x00", "")}), "triggers[0].cron.expression"},
		{"deploy cron expression with tabs", deploy(&pb.DeployWorkflowRequest{Triggers: cronTrigger("0\t*\t*\t*\t*", "")}), "triggers[0].cron.expression"},
		{"deploy cron time zone", deploy(&pb.DeployWorkflowRequest{Triggers: cronTrigger("0 * * * *", "UTC\x00")}), "triggers[0].cron.timezone"},
		{"deploy webhook path", deploy(&pb.DeployWorkflowRequest{Triggers: hookTrigger(&pb.WebhookSpec{Path: "texts/new\x00"})}), "triggers[0].webhook.path"},
		{"deploy webhook method", deploy(&pb.DeployWorkflowRequest{Triggers: hookTrigger(&pb.WebhookSpec{Path: "texts/new", Methods: []string{"POST\x00"}})}),
			"triggers[0].webhook.methods[0]"},
		{"deploy webhook secret", deploy(&pb.DeployWorkflowRequest{Triggers: hookTrigger(&pb.WebhookSpec{Path: "texts/new", Secrets: []string{"s\x00"}})}),
			"triggers[0].webhook.secrets[0]"},
		{"update deployment_id", update(&pb.UpdateDeploymentRequest{DeploymentId: "\x00", Config: &pb.DeploymentConfig{}}), "deployment_id"},
		{"update definition", update(&pb.UpdateDeploymentRequest{WorkflowDefinition: withDefinition("note", "\x00")}),
			"workflow_definition.nodes[0].parameters.note"},
		{"update cron expression", update(&pb.UpdateDeploymentRequest{Triggers: cronTrigger("\x00", "")}), "triggers[0].cron.expression"},
		{"update mask", update(&pb.UpdateDeploymentRequest{UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"config\x00"}}}), "update_mask"},
		{"delete deployment_id", rpc(ctx, c.DeleteDeployment, &pb.DeleteDeploymentRequest{DeploymentId: deploymentID + "\x00"}), "deployment_id"},
		{"status deployment_id", rpc(ctx, c.GetDeploymentStatus, &pb.GetDeploymentStatusRequest{DeploymentId: "\x00"}), "deployment_id"},
		{"status workflow_id", rpc(ctx, c.GetDeploymentStatus, &pb.GetDeploymentStatusRequest{WorkflowId: "texts\x00"}), "workflow_id"},
		{"list workflow_id", rpc(ctx, c.ListDeployments, &pb.ListDeploymentsRequest{WorkflowId: "texts\x00"}), "workflow_id"},
		{"list page_token", rpc(ctx, c.ListDeployments, &pb.ListDeploymentsRequest{PageToken: "\x00"}), "page_token"},
		{"history workflow_id", rpc(ctx, c.GetExecutionHistory, &pb.GetExecutionHistoryRequest{WorkflowId: "texts\x00"}), "workflow_id"},
		{"history deployment_id", rpc(ctx, c.GetExecutionHistory, &pb.GetExecutionHistoryRequest{DeploymentId: deploymentID + "\x00"}), "deployment_id"},
		{"history page_token", rpc(ctx, c.GetExecutionHistory, &pb.GetExecutionHistoryRequest{PageToken: "\x00"}), "page_token"},
		{"get execution_id", rpc(ctx, c.GetExecution, &pb.GetExecutionRequest{ExecutionId: executionID + "\x00"}), "execution_id"},
		{"cancel execution_id", cancel(executionID+"\x00", ""), "execution_id"},
		{"manual workflow_id", manual(&pb.TriggerWorkflowRequest{WorkflowId: "texts\x00"}), "workflow_id"},
		{"manual trigger_data", manual(&pb.TriggerWorkflowRequest{TriggerData: "{\"a\": \"\x00\"}"}), "trigger_data"},
		{"manual webhook_path", manual(&pb.TriggerWorkflowRequest{WebhookPath: "texts/hook\x00"}), "webhook_path"},
		{"manual http_method", manual(&pb.TriggerWorkflowRequest{HttpMethod: "PO\x00ST"}), "http_method"},
		{"manual header name", manual(&pb.TriggerWorkflowRequest{Headers: map[string]string{"x\x00note": "a"}}), "headers"},
		{"manual header value", manual(&pb.TriggerWorkflowRequest{Headers: map[string]string{"x-note": "a\x00"}}), "headers.x-note"},
		{"webhook workflow_id", webhook(&pb.TriggerWorkflowRequest{WorkflowId: "texts\x00"}), "workflow_id"},
		{"webhook webhook_path", webhook(&pb.TriggerWorkflowRequest{WebhookPath: "texts/hook\x00"}), "webhook_path"},
		{"webhook triggered_by", webhook(&pb.TriggerWorkflowRequest{TriggeredBy: "\x00"}), "triggered_by"},
		{"webhook http_method", webhook(&pb.TriggerWorkflowRequest{HttpMethod: "POST\x00"}), "http_method"},
		{"webhook header name", webhook(&pb.TriggerWorkflowRequest{Headers: map[string]string{"webhook id": "msg_1"}}), "headers"},
		{"webhook webhook-id", webhook(&pb.TriggerWorkflowRequest{Headers: map[string]string{"webhook-id": "msg\x00"}}), "headers.webhook-id"},
		// A header value may hold a tab; an idempotency key may not.
		{"webhook webhook-id with a tab", webhook(&pb.TriggerWorkflowRequest{Headers: map[string]string{"Webhook-Id": "msg\t1"}}), "headers.webhook-id"},
		{"resolve path", rpc(ctx, c.ResolveWebhook, &pb.ResolveWebhookRequest{Path: "texts/hook\x00"}), "path"},
		{"resolve method", rpc(ctx, c.ResolveWebhook, &pb.ResolveWebhookRequest{Path: "texts/hook", Method: "POST\x00"}), "method"},
	}
	// Every C0 control, and DEL, in the fields whose own rule is only "text".
	controls := []rune{0x7f}
	for r := range rune(0x20) {
		controls = append(controls, r)
	}
	for _, r := range controls {
		ch := string(r)
		cases = append(cases,
			refused{fmt.Sprintf("deploy deployed_by %U", r), deploy(&pb.DeployWorkflowRequest{DeployedBy: "al" + ch + "ice"}), "deployed_by"},
			refused{fmt.Sprintf("manual idempotency_key %U", r), manual(&pb.TriggerWorkflowRequest{IdempotencyKey: "k" + ch}), "idempotency_key"},
			refused{fmt.Sprintf("manual triggered_by %U", r), manual(&pb.TriggerWorkflowRequest{TriggeredBy: "bob" + ch}), "triggered_by"},
			refused{fmt.Sprintf("webhook idempotency_key %U", r), webhook(&pb.TriggerWorkflowRequest{IdempotencyKey: ch + "k"}), "idempotency_key"},
		)
		if r != '\t' {
			cases = append(cases, refused{fmt.Sprintf("webhook header value %U", r),
				webhook(&pb.TriggerWorkflowRequest{Headers: map[string]string{"x-note": "a" + ch}}), "headers.x-note"})
		}
		if r != '\t' && r != '\n' && r != '\r' {
			cases = append(cases, refused{fmt.Sprintf("cancel reason %U", r), cancel(executionID, "stop"+ch), "reason"})
		}
	}
	for _, tc := range cases {
		st := requireCode(t, tc.call(), codes.InvalidArgument)
		if diff := cmp.Diff([]string{tc.field}, violations(st)); diff != "" {
			t.Errorf("%s: violations (-want +got):\n%s", tc.name, diff)
		}
	}

	// Over REST the same: percent-encoded in a query, escaped in JSON.
	api := s.httpBase + "/api/v1"
	for _, step := range []struct{ method, path, body string }{
		{"POST", "/workflows/texts/trigger", `{"idempotency_key": "k\u0000"}`},
		{"POST", "/workflows/texts/trigger", `{"triggered_by": "bob\u001b[2J"}`},
		{"POST", "/webhooks/trigger", `{"webhook_path": "texts/hook", "headers": {"webhook-id": "msg\u0000"}}`},
		{"POST", "/executions/" + executionID + "/cancel", `{"reason": "\u0000"}`},
		{"GET", "/executions?workflow_id=" + url.QueryEscape("texts\x00"), ""},
		{"GET", "/deployments?page_token=%00", ""},
		{"POST", "/deployments", `{"workflow_id": "texts-new", "deployed_by": "al\nice", "workflow_definition": {"nodes": [{"id": "a", "name": "A", "type": "ACTION"}]}}`},
		{"POST", "/deployments", `{"workflow_id": "texts-new", "workflow_definition": {"nodes": [{"id": "a", "name": "A\u0000", "type": "ACTION"}]}}`},
		// A look-alike of texts/hook: KELVIN SIGN for the last k.
		{"GET", "/webhooks/resolve?path=texts/hoo%E2%84%AA", ""},
	} {
		code, body := doJSON(t, step.method, api+step.path, step.body)
		require.Equal(t, http.StatusBadRequest, code, "%s %s %s: %v", step.method, step.path, step.body, body)
	}
	require.Equal(t, before, snapshot(t, db), "a refused request changed what is stored")

	// What the fields may hold.
	_, err = c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "texts-prose", DeployedBy: "Zoë",
		WorkflowDefinition: withDefinition("prompt", "Answer:\n\t- briefly\x01")})
	require.NoError(t, err, "a definition may hold control characters but NUL")
	_, err = c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "texts", TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL,
		TriggerData: `{"note": "\u0000 escaped"}`, Headers: map[string]string{"x-note": "a\tb"}})
	require.NoError(t, err, "a payload is kept as sent, escapes and all; a header value may hold a tab")
	_, err = c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WebhookPath: "texts/hook", TriggerData: `{"note": "\u0000"}`})
	require.NoError(t, err)
	done, err := c.CancelExecution(ctx, &pb.CancelExecutionRequest{ExecutionId: executionID, Reason: "first line\r\n\tsecond line"})
	require.NoError(t, err, "a reason may break lines")
	require.Equal(t, "cancelled: first line\r\n\tsecond line", done.GetExecution().GetErrorMessage())
}

// rpc binds a client method to its request, for a table of calls.
func rpc[Req, Resp any](ctx context.Context, method func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) func() error {
	return func() error {
		_, err := method(ctx, req)
		return err
	}
}

// snapshot is what the database holds, in a form two reads can compare.
func snapshot(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT CAST(id AS TEXT) || ' ' || status || ' ' || CAST(version AS TEXT) FROM deployments ORDER BY 1`,
		`SELECT CAST(count(*) AS TEXT) FROM deployment_triggers`,
		`SELECT CAST(count(*) AS TEXT) FROM deployment_events`,
		`SELECT CAST(id AS TEXT) || ' ' || status || ' ' || COALESCE(error_message, '') || ' ' || COALESCE(idempotency_key, '') FROM executions ORDER BY 1`,
	} {
		var rows []string
		require.NoError(t, db.Select(&rows, q), q)
		out = append(out, strings.Join(rows, "\n"))
	}
	return strings.Join(out, "\n--\n")
}
