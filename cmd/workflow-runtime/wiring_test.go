package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	signature "github.com/workflow-runtime/workflow-runtime/pkg/webhook"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// stack is a whole workflow-runtime serving on free ports of 127.0.0.1.
type stack struct {
	dbURL    string
	httpBase string
	conn     *grpc.ClientConn
	client   pb.WorkflowRuntimeServiceClient
	stop     func() error
}

// listenLoopback returns a listener for each port on 127.0.0.1:0, closed
// with the test: serveWith takes them, so that no port is chosen before it
// is bound.
func listenLoopback(t *testing.T) (grpcLis, httpLis net.Listener) {
	t.Helper()
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { grpcLis.Close() })
	httpLis, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { httpLis.Close() })
	return grpcLis, httpLis
}

func startStack(t *testing.T, extraEnv map[string]string) *stack {
	t.Helper()
	return startStackOn(t, pgtest.NewDatabase(t), extraEnv)
}

// readyWait bounds a replica's start in the tests that serve one in this
// process: it migrates a fresh database and starts every component, which
// took over 20 s in CI with the package's tests in parallel under -race and
// coverage on 2 cores.
const readyWait = 90 * time.Second

// awaitReady waits until url, a replica's /readyz, answers 200 through
// client. It fails at once, with serve's result, when serve has returned it
// on done (which keeps it for the test's stop).
func awaitReady[T any](t *testing.T, client *http.Client, url string, done chan T) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case result := <-done:
			done <- result
			t.Fatalf("serve returned %v before %s answered 200 (last: %v)", result, url, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never became ready within %v (last: %v)", readyWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startStackOn is startStack on the database at dbURL, which a test may
// fill before the stack starts.
func startStackOn(t *testing.T, dbURL string, extraEnv map[string]string) *stack {
	t.Helper()
	// Quiet unless the test asks for a log level.
	logOut := io.Discard
	if _, ok := extraEnv["WFR_LOG_LEVEL"]; ok {
		logOut = os.Stderr
	}
	return startStackLogged(t, dbURL, extraEnv, logOut)
}

// startStackLogged is startStackOn with the replica's log written to logOut.
func startStackLogged(t *testing.T, dbURL string, extraEnv map[string]string, logOut io.Writer) *stack {
	t.Helper()
	_, prefix := redistest.New(t)
	grpcLis, httpLis := listenLoopback(t)
	grpcAddr, httpAddr := grpcLis.Addr().String(), httpLis.Addr().String()
	env := map[string]string{
		"WFR_REDIS_PREFIX":     prefix,
		"WFR_DATABASE_URL":     dbURL,
		"WFR_REDIS_URL":        "redis://127.0.0.1:6379/0",
		"WFR_INSTANCE_ID":      "wiring-test",
		"WFR_SHUTDOWN_TIMEOUT": "5s",
		"WFR_DRAIN_DELAY":      "0s",
	}
	maps.Copy(env, extraEnv)
	cfg, err := config.Load("serve", nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	logger, logLevel, err := logging.New(logOut, cfg.LogFormat, cfg.LogLevel, cfg.InstanceID)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, cfg, logger, logLevel, grpcLis, httpLis) }()

	s := &stack{dbURL: dbURL, httpBase: "http://" + httpAddr}
	s.stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return fmt.Errorf("serve did not stop")
		}
	})
	awaitReady(t, http.DefaultClient, s.httpBase+"/readyz", done)

	s.conn, err = grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	s.client = pb.NewWorkflowRuntimeServiceClient(s.conn)
	t.Cleanup(func() {
		s.conn.Close()
		_ = s.stop()
	})
	return s
}

func definition(t *testing.T, nodes ...map[string]any) *structpb.Struct {
	t.Helper()
	ns := make([]any, len(nodes))
	for i, n := range nodes {
		ns[i] = n
	}
	s, err := structpb.NewStruct(map[string]any{"name": "orders", "nodes": ns})
	require.NoError(t, err)
	return s
}

var (
	cronNode    = map[string]any{"id": "n1", "name": "Every hour", "type": "TRIGGER", "subtype": "CRON", "parameters": map[string]any{"cron_expression": "0 * * * *"}}
	actionNode  = map[string]any{"id": "n2", "name": "Ship", "type": "ACTION"}
	webhookSpec = &pb.Trigger{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{Path: "/orders/created/", Secrets: []string{"s3cret"}}}
)

func requireCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status error: %v", err)
	require.Equal(t, want, st.Code(), "message: %s", st.Message())
	return st
}

func violations(st *status.Status) []string {
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// TestWiringGRPC drives the deployment lifecycle through the real gRPC server.
func TestWiringGRPC(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	ctx := context.Background()
	c := s.client

	_, err := c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "bad id!", WorkflowDefinition: definition(t)})
	st := requireCode(t, err, codes.InvalidArgument)
	if diff := cmp.Diff([]string{"workflow_id", "workflow_definition.nodes"}, violations(st)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	list, err := c.ListDeployments(ctx, &pb.ListDeploymentsRequest{Statuses: []pb.DeploymentStatus{pb.DeploymentStatus_DEPLOYMENT_STATUS_DRAFT, pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED, pb.DeploymentStatus_DEPLOYMENT_STATUS_ARCHIVED}})
	require.NoError(t, err)
	require.Zero(t, list.GetTotalSize(), "a rejected deploy wrote something")

	dep, err := c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: "orders.sync", WorkflowDefinition: definition(t, cronNode, actionNode), DeployedBy: "alice",
	})
	require.NoError(t, err)
	d := dep.GetDeployment()
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, d.GetStatus())
	require.EqualValues(t, 1, d.GetVersion())
	require.Len(t, d.GetTriggers(), 1)
	require.EqualValues(t, cron.JitterSeconds("orders.sync", 300), d.GetTriggers()[0].GetJitterSeconds())
	require.NotNil(t, d.GetTriggers()[0].GetNextFireTime())

	// PreviewSchedule over gRPC, for the deployment and for a bare spec:
	// Lord Howe's clocks go back half an hour at 02:00 on 2026-04-05, so
	// LAST fires 01:45 at its second occurrence, +10:30.
	pv, err := c.PreviewSchedule(ctx, &pb.PreviewScheduleRequest{DeploymentId: d.GetDeploymentId(), Count: 2})
	require.NoError(t, err)
	require.Equal(t, d.GetTriggers()[0].GetTrigger().GetTriggerId(), pv.GetTriggers()[0].GetTriggerId())
	require.True(t, pv.GetTriggers()[0].GetFires()[0].GetFireTime().AsTime().Equal(d.GetTriggers()[0].GetNextFireTime().AsTime()))
	pv, err = c.PreviewSchedule(ctx, &pb.PreviewScheduleRequest{WorkflowId: "orders.sync", Count: 1, StartTime: timestamppb.New(time.Date(2026, 4, 4, 0, 0, 0, 0, time.UTC)),
		Cron: &pb.CronSpec{Expression: "45 1 * * *", Timezone: "Australia/Lord_Howe", RepeatedTimePolicy: pb.RepeatedTimePolicy_REPEATED_TIME_POLICY_LAST}})
	require.NoError(t, err)
	lordHowe := pv.GetTriggers()[0].GetFires()[0]
	require.Equal(t, pb.DstEffect_DST_EFFECT_REPEATED_SECOND, lordHowe.GetDstEffect())
	require.Equal(t, "2026-04-04T15:15:00Z", lordHowe.GetSlotTime().AsTime().Format(time.RFC3339))
	require.Contains(t, lordHowe.GetNote(), "01:45 occurs twice on 2026-04-05 in Australia/Lord_Howe")
	_, err = c.PreviewSchedule(ctx, &pb.PreviewScheduleRequest{WorkflowId: "orders.sync", Cron: &pb.CronSpec{Expression: "@daily", CatchupPolicy: 9}})
	st = requireCode(t, err, codes.InvalidArgument)
	require.Equal(t, []string{"cron.catchup_policy"}, violations(st))

	_, err = c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "orders.sync", WorkflowDefinition: definition(t, actionNode), ValidateOnly: true})
	requireCode(t, err, codes.AlreadyExists)
	_, err = c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "orders.sync", WorkflowDefinition: definition(t, actionNode)})
	st = requireCode(t, err, codes.AlreadyExists)
	require.Contains(t, st.Message(), d.GetDeploymentId())

	got, err := c.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{WorkflowId: "orders.sync"})
	require.NoError(t, err)
	require.Equal(t, d.GetDeploymentId(), got.GetDeployment().GetDeploymentId())
	_, err = c.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: "00000000-0000-0000-0000-000000000000"})
	requireCode(t, err, codes.NotFound)

	list, err = c.ListDeployments(ctx, &pb.ListDeploymentsRequest{TriggerType: pb.TriggerType_TRIGGER_TYPE_CRON})
	require.NoError(t, err)
	require.EqualValues(t, 1, list.GetTotalSize())

	paused := pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED
	up, err := c.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: d.GetDeploymentId(), Status: &paused, ExpectedVersion: 1})
	require.NoError(t, err)
	require.Equal(t, paused, up.GetDeployment().GetStatus())
	require.Nil(t, up.GetDeployment().GetTriggers()[0].GetNextFireTime(), "a paused deployment fires nothing")
	_, err = c.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: d.GetDeploymentId(), Status: &paused})
	requireCode(t, err, codes.FailedPrecondition)

	deployed := pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED
	up, err = c.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: d.GetDeploymentId(), Status: &deployed})
	require.NoError(t, err)
	require.EqualValues(t, 3, up.GetDeployment().GetVersion())

	_, err = c.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: d.GetDeploymentId(), Triggers: []*pb.Trigger{webhookSpec}, ExpectedVersion: 1})
	requireCode(t, err, codes.Aborted)
	up, err = c.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{
		DeploymentId: d.GetDeploymentId(),
		Triggers:     []*pb.Trigger{webhookSpec},
		Config:       &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"triggers", "config"}},
	})
	require.NoError(t, err)
	wh := up.GetDeployment().GetTriggers()[0]
	require.Equal(t, "orders/created", wh.GetTrigger().GetWebhook().GetPath())
	require.True(t, wh.GetRequiresSignature())
	require.Empty(t, wh.GetTrigger().GetWebhook().GetSecrets(), "secrets are write-only")
	require.Equal(t, pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL, up.GetDeployment().GetConfig().GetOverlapPolicy())

	_, err = c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "other", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{Path: "Orders/Created"}}}})
	st = requireCode(t, err, codes.AlreadyExists)
	require.Contains(t, st.Message(), d.GetDeploymentId())

	del, err := c.DeleteDeployment(ctx, &pb.DeleteDeploymentRequest{DeploymentId: d.GetDeploymentId()})
	require.NoError(t, err)
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_ARCHIVED, del.GetDeployment().GetStatus())
	_, err = c.DeleteDeployment(ctx, &pb.DeleteDeploymentRequest{DeploymentId: d.GetDeploymentId()})
	requireCode(t, err, codes.FailedPrecondition)
	_, err = c.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{WorkflowId: "orders.sync"})
	requireCode(t, err, codes.NotFound)

	// The whole stack fires: an every-second cron without jitter records its
	// slots, and the history and the execution read them back.
	noJitter := int32(0)
	_, err = c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "ticks", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "* * * * * ?", JitterWindowSeconds: &noJitter}}}})
	require.NoError(t, err)
	var history *pb.GetExecutionHistoryResponse
	require.Eventually(t, func() bool {
		history, err = c.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{WorkflowId: "ticks", TriggerType: pb.TriggerType_TRIGGER_TYPE_CRON})
		return err == nil && len(history.GetExecutions()) >= 2
	}, 5*time.Second, 50*time.Millisecond, "no cron executions recorded")
	newest, older := history.GetExecutions()[0], history.GetExecutions()[1]
	require.True(t, newest.GetScheduledTime().AsTime().After(older.GetScheduledTime().AsTime()), "history is newest first")
	got1, err := c.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: newest.GetExecutionId()})
	require.NoError(t, err)
	require.Equal(t, "ticks", got1.GetExecution().GetWorkflowId())
	require.Len(t, got1.GetExecution().GetTraceId(), 32)
	_, err = c.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: "nope"})
	requireCode(t, err, codes.InvalidArgument)

	// Fires are dispatched to the embedded engine and followed to their end.
	require.Eventually(t, func() bool {
		e, err := c.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: older.GetExecutionId()})
		return err == nil && e.GetExecution().GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED
	}, 10*time.Second, 50*time.Millisecond, "cron execution never finished")

	_, err = c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "orders.sync"})
	requireCode(t, err, codes.NotFound)
	// "ticks" runs every second under SKIP, so a manual run of it could be
	// skipped: this one has a workflow of its own.
	_, err = c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "by-hand", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}})
	require.NoError(t, err)
	trig, err := c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "by-hand", TriggerData: `{"order": 7}`, TriggeredBy: "ops"})
	require.NoError(t, err)
	require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_PENDING, trig.GetStatus())
	var manual *pb.Execution
	require.Eventually(t, func() bool {
		e, err := c.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: trig.GetExecutionId()})
		manual = e.GetExecution()
		return err == nil && manual.GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED
	}, 10*time.Second, 50*time.Millisecond, "manual execution never finished")
	require.Equal(t, pb.TriggerType_TRIGGER_TYPE_MANUAL, manual.GetTriggerType())
	require.Equal(t, "ops", manual.GetTriggeredBy())
	full, err := c.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: trig.GetExecutionId()})
	require.NoError(t, err)
	require.JSONEq(t, `{"order": 7}`, full.GetInputData())
	require.True(t, json.Valid([]byte(full.GetResultData())), "the engine's result: %q", full.GetResultData())
	_, err = c.CancelExecution(ctx, &pb.CancelExecutionRequest{ExecutionId: trig.GetExecutionId()})
	requireCode(t, err, codes.FailedPrecondition)
	sh, err := pb.NewMonitoringServiceClient(s.conn).GetSystemHealth(ctx, &pb.GetSystemHealthRequest{})
	require.NoError(t, err)
	require.Equal(t, "wiring-test", sh.GetInstanceId())

	hc, err := healthpb.NewHealthClient(s.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "workflowruntime.v1.WorkflowRuntimeService"})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hc.GetStatus())

	sctx, cancelStream := context.WithCancel(ctx)
	defer cancelStream()
	stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(sctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	refl, err := stream.Recv()
	require.NoError(t, err)
	var services []string
	for _, svc := range refl.GetListServicesResponse().GetService() {
		services = append(services, svc.GetName())
	}
	require.Subset(t, services, []string{"workflowruntime.v1.WorkflowRuntimeService", "workflowruntime.v1.MonitoringService", "grpc.health.v1.Health"})
	require.NoError(t, stream.CloseSend())
	cancelStream()

	require.NoError(t, s.stop())
}

func doJSON(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body: %s", raw)
	return resp.StatusCode, out
}

// TestWiringREST drives the same lifecycle through grpc-gateway and checks the
// plain HTTP endpoints.
func TestWiringREST(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	api := s.httpBase + "/api/v1"
	deploy := `{"workflow_id":"billing","deployed_by":"bob","workflow_definition":{"nodes":[
		{"id":"t","name":"Nightly","type":"TRIGGER","subtype":"CRON","parameters":{"cron_expression":"30 2 * * *","timezone":"America/New_York"}},
		{"id":"a","name":"Charge","type":"ACTION"}],
		"connections":{"Nightly":{"main":[{"node":"Charge","type":"MAIN","index":0}]}}}}`

	// A week of whole UTC days inside the default retention of 30 days.
	weekStart := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -8)
	steps := []struct {
		name, method, path, body string
		wantCode                 int
		check                    func(t *testing.T, body map[string]any)
	}{
		{name: "bad cron is 400", method: "POST", path: "/deployments", wantCode: 400,
			body: `{"workflow_id":"x","workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]},"triggers":[{"type":"TRIGGER_TYPE_CRON","cron":{"expression":"61 * * * *"}}]}`},
		{name: "deploy", method: "POST", path: "/deployments", body: deploy, wantCode: 200, check: func(t *testing.T, b map[string]any) {
			d := b["deployment"].(map[string]any)
			require.Equal(t, "DEPLOYMENT_STATUS_DEPLOYED", d["status"])
			require.Equal(t, "bob", d["deployed_by"])
		}},
		{name: "deploy again is 409", method: "POST", path: "/deployments", body: deploy, wantCode: 409},
		{name: "get by workflow", method: "GET", path: "/workflows/billing/deployment", wantCode: 200},
		{name: "unknown deployment is 404", method: "GET", path: "/deployments/5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", wantCode: 404},
		{name: "list", method: "GET", path: "/deployments?workflow_id=billing&page_size=10", wantCode: 200, check: func(t *testing.T, b map[string]any) {
			require.Equal(t, "1", b["total_size"])
		}},
		{name: "pause", method: "PATCH", path: "/deployments/{id}", body: `{"status":"DEPLOYMENT_STATUS_PAUSED"}`, wantCode: 200},
		{name: "pause twice is 400", method: "PATCH", path: "/deployments/{id}", body: `{"status":"DEPLOYMENT_STATUS_PAUSED"}`, wantCode: 400},
		{name: "resume", method: "PATCH", path: "/deployments/{id}", body: `{"status":"DEPLOYMENT_STATUS_DEPLOYED","expected_version":"2"}`, wantCode: 200},
		{name: "stale version is 409", method: "PATCH", path: "/deployments/{id}", body: `{"config":{"catchup_window_seconds":60},"expected_version":"1"}`, wantCode: 409},
		{name: "update config", method: "PATCH", path: "/deployments/{id}", body: `{"config":{"catchup_window_seconds":60}}`, wantCode: 200, check: func(t *testing.T, b map[string]any) {
			d := b["deployment"].(map[string]any)
			require.Equal(t, "4", d["version"])
			require.EqualValues(t, 60, d["config"].(map[string]any)["catchup_window_seconds"])
		}},
		{name: "preview the deployment across DST", method: "GET", path: "/deployments/{id}/upcoming?count=3&start_time=2026-03-07T05:00:00Z", wantCode: 200,
			check: func(t *testing.T, b map[string]any) {
				fires := b["triggers"].([]any)[0].(map[string]any)["fires"].([]any)
				require.Len(t, fires, 3)
				shifted := fires[1].(map[string]any)
				require.Equal(t, "DST_EFFECT_SHIFTED", shifted["dst_effect"])
				require.Equal(t, "2026-03-08T07:30:00Z", shifted["slot_time"], "02:30 does not occur: 03:30 EDT")
				require.Equal(t, "2026-03-08T02:30:00", shifted["local_time"])
			}},
		{name: "preview count over 1,000 is 400", method: "GET", path: "/deployments/{id}/upcoming?count=1001", wantCode: 400,
			check: func(t *testing.T, b map[string]any) { require.Contains(t, b["message"], "count: must be 0-1000") }},
		{name: "preview a bare spec", method: "POST", path: "/schedules/preview", wantCode: 200,
			body: `{"workflow_id":"billing","count":3,"start_time":"2026-10-24T00:00:00Z","cron":{"expression":"30 1 * * *",
				"timezone":"Europe/London","repeated_time_policy":"REPEATED_TIME_POLICY_BOTH","jitter_window_seconds":0}}`,
			check: func(t *testing.T, b map[string]any) {
				var got []string
				for _, f := range b["triggers"].([]any)[0].(map[string]any)["fires"].([]any) {
					got = append(got, fmt.Sprint(f.(map[string]any)["fire_time"], " ", f.(map[string]any)["dst_effect"]))
				}
				require.Equal(t, []string{"2026-10-24T00:30:00Z DST_EFFECT_NONE", "2026-10-25T00:30:00Z DST_EFFECT_REPEATED_FIRST",
					"2026-10-25T01:30:00Z DST_EFFECT_REPEATED_SECOND"}, got)
			}},
		{name: "preview a bare spec in an unknown zone is 400", method: "POST", path: "/schedules/preview", wantCode: 400,
			body: `{"workflow_id":"billing","cron":{"expression":"@daily","timezone":"Mars/Base"}}`,
			check: func(t *testing.T, b map[string]any) {
				require.Contains(t, b["message"], `cron.timezone: unknown time zone "Mars/Base"`)
			}},
		{name: "validate an update only", method: "PATCH", path: "/deployments/{id}", wantCode: 200,
			body: `{"validate_only":true,"triggers":[{"type":"TRIGGER_TYPE_CRON","cron":{"expression":"0 9 * * *","catchup_policy":"CATCHUP_POLICY_NONE",
				"skipped_time_policy":"SKIPPED_TIME_POLICY_SKIP","end_time":"2099-01-01T00:00:00Z","max_runs":3}}]}`,
			check: func(t *testing.T, b map[string]any) {
				d := b["deployment"].(map[string]any)
				require.Equal(t, "5", d["version"])
				spec := d["triggers"].([]any)[0].(map[string]any)["trigger"].(map[string]any)["cron"].(map[string]any)
				require.Equal(t, "CATCHUP_POLICY_NONE", spec["catchup_policy"])
				require.Equal(t, "REPEATED_TIME_POLICY_FIRST", spec["repeated_time_policy"], "the default is written out")
				require.Equal(t, "2099-01-01T00:00:00Z", spec["end_time"])
				require.Len(t, b["upcoming"].([]any)[0].(map[string]any)["fires"], 10)
			}},
		{name: "a validated update was not written", method: "GET", path: "/deployments/{id}", wantCode: 200, check: func(t *testing.T, b map[string]any) {
			require.Equal(t, "4", b["deployment"].(map[string]any)["version"])
		}},
		{name: "validate a deploy only", method: "POST", path: "/deployments", wantCode: 200,
			body: `{"workflow_id":"dry","validate_only":true,"workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]},
				"triggers":[{"type":"TRIGGER_TYPE_CRON","cron":{"expression":"@hourly"}}]}`,
			check: func(t *testing.T, b map[string]any) {
				require.NotContains(t, b["deployment"], "deployment_id")
				require.Len(t, b["upcoming"], 1)
			}},
		{name: "a validated deploy was not written", method: "GET", path: "/workflows/dry/deployment", wantCode: 404},
		{name: "backfill into the future is 400", method: "POST", path: "/deployments/{id}/backfill", wantCode: 400,
			body: `{"start_time":"2026-01-01T00:00:00Z","end_time":"2099-01-01T00:00:00Z"}`, check: func(t *testing.T, b map[string]any) {
				require.Contains(t, b["message"], "end_time: must not be in the future")
			}},
		{name: "backfill a week", method: "POST", path: "/deployments/{id}/backfill", wantCode: 200,
			body: fmt.Sprintf(`{"start_time":%q,"end_time":%q,"overlap_policy":"OVERLAP_POLICY_ALLOW_ALL"}`,
				weekStart.Format(time.RFC3339), weekStart.AddDate(0, 0, 7).Format(time.RFC3339)),
			check: func(t *testing.T, b map[string]any) {
				bf := b["backfill"].(map[string]any)
				require.Equal(t, "7", bf["planned_slots"], "02:30 New York time, once a day")
				require.Equal(t, "OVERLAP_POLICY_ALLOW_ALL", bf["overlap_policy"])
			}},
		{name: "unknown backfill is 404", method: "GET", path: "/backfills/5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", wantCode: 404},
		{name: "backfill progress", method: "GET", path: "/backfills/{backfill}", wantCode: 200, check: func(t *testing.T, b map[string]any) {
			require.Equal(t, "7", b["backfill"].(map[string]any)["planned_slots"])
		}},
		{name: "delete", method: "DELETE", path: "/deployments/{id}", wantCode: 200},
		{name: "after delete, get by id shows ARCHIVED", method: "GET", path: "/deployments/{id}", wantCode: 200, check: func(t *testing.T, b map[string]any) {
			require.Equal(t, "DEPLOYMENT_STATUS_ARCHIVED", b["deployment"].(map[string]any)["status"])
		}},
		{name: "execution history", method: "GET", path: "/executions?workflow_id=billing&statuses=EXECUTION_STATUS_PENDING&page_size=10", wantCode: 200},
		{name: "unknown execution is 404", method: "GET", path: "/executions/5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", wantCode: 404},
		{name: "malformed execution id is 400", method: "GET", path: "/executions/42", wantCode: 400},
		{name: "cancel of an unknown execution is 404", method: "POST", path: "/executions/5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11/cancel", body: `{"reason":"x"}`, wantCode: 404},
		{name: "trigger of a workflow without an active deployment is 404", method: "POST", path: "/workflows/billing/trigger", body: `{}`, wantCode: 404},
		{name: "trigger data that is not JSON is 400", method: "POST", path: "/workflows/billing/trigger", body: `{"trigger_data":"{nope"}`, wantCode: 400},
		{name: "unknown webhook path is 404", method: "POST", path: "/webhooks/trigger", body: `{"webhook_path":"a/b"}`, wantCode: 404},
		{name: "webhook path with .. is 400", method: "POST", path: "/webhooks/trigger", body: `{"webhook_path":"a/../b"}`, wantCode: 400},
		{name: "resolve of an unknown path is 404", method: "GET", path: "/webhooks/resolve?path=a/b", wantCode: 404},
		{name: "oversized body is refused, not rate limited", method: "POST", path: "/deployments", wantCode: 400,
			body: `{"workflow_id":"huge","deployed_by":"` + strings.Repeat("x", maxRequestBytes) + `"}`},
	}
	var id, backfillID string
	for _, step := range steps {
		path := strings.NewReplacer("{id}", id, "{backfill}", backfillID).Replace(step.path)
		code, body := doJSON(t, step.method, api+path, step.body)
		require.Equal(t, step.wantCode, code, "%s: %v", step.name, body)
		switch step.name {
		case "deploy":
			id = body["deployment"].(map[string]any)["deployment_id"].(string)
		case "backfill a week":
			backfillID = body["backfill"].(map[string]any)["backfill_id"].(string)
		}
		if step.check != nil {
			step.check(t, body)
		}
	}

	for _, c := range []struct {
		path, contains string
		code           int
	}{
		{"/livez", "ok", 200},
		{"/readyz", "ok", 200},
		{"/health", `"database":{"status":"healthy"`, 200},
		{"/metrics", `workflow_runtime_rpc_duration_seconds_count{code="AlreadyExists",method="DeployWorkflow"} 1`, 200},
		{"/openapi.json", `"/api/v1/deployments/{deployment_id}"`, 200},
		{"/docs/", "swagger-ui", 200},
		{"/docs/swagger-initializer.js", `url: "/openapi.json"`, 200},
	} {
		resp, err := http.Get(s.httpBase + c.path)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, c.code, resp.StatusCode, c.path)
		require.Contains(t, string(raw), c.contains, c.path)
	}
}

// TestServeStopsCleanly checks that Redis down degrades health without
// failing it, that a stop answers 503 on /readyz while it drains, and that
// serve returns.
func TestServeStopsCleanly(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, map[string]string{"WFR_REDIS_URL": "redis://127.0.0.1:1/0", "WFR_DRAIN_DELAY": "2s"})
	resp, err := http.Get(s.httpBase + "/health")
	require.NoError(t, err)
	var rep map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rep))
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "degraded", rep["status"], "Redis down must degrade, not fail")

	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.httpBase + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}, 2*time.Second, 10*time.Millisecond, "readiness never read 503 while draining")
	require.NoError(t, <-stopped)
	resp, err = http.Get(s.httpBase + "/readyz")
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err)
}

// TestStopLeavesNothingRunning: once serve has returned, no component of
// the replica still works on the store it closed. The backlog count, never
// stopped, went on every 250 ms and logged "database is closed".
func TestStopLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	var logs logtest.Buffer
	s := startStackLogged(t, pgtest.NewDatabase(t), map[string]string{"WFR_LOG_LEVEL": "warn"}, &logs)
	require.NoError(t, s.stop())
	// Two counts' worth of time for a count left running to fail.
	time.Sleep(600 * time.Millisecond)
	require.NotContains(t, logs.String(), "database is closed")
}

// TestRedisStoppedWhileServing: with Redis gone, health says degraded, the
// replica stays ready and executions still run, their overlaps decided by
// the database.
func TestRedisStoppedWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	addr, stopRedis := redistest.Private(t)
	s := startStack(t, map[string]string{"WFR_REDIS_URL": "redis://" + addr + "/0"})
	ctx := context.Background()
	_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "degraded", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}})
	require.NoError(t, err)
	hs := s.healthState(t)
	require.Equal(t, 200, hs.healthCode)
	require.Equal(t, "healthy", hs.health["status"])

	// Redis is optional: the replica stays ready.
	stopRedis()
	hs = s.healthState(t)
	require.Equal(t, 200, hs.healthCode)
	require.Equal(t, "degraded", hs.health["status"])
	require.Equal(t, "unhealthy", hs.dependency("redis"))
	require.Equal(t, "healthy", hs.dependency("workflow_engine"))
	require.Equal(t, 200, hs.readyCode)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hs.grpc)

	for range 2 {
		trig, err := s.client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "degraded"})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			e, err := s.client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: trig.GetExecutionId()})
			return err == nil && e.GetExecution().GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED
		}, 15*time.Second, 50*time.Millisecond, "execution did not finish without Redis")
	}
}

// TestWebhookOverGRPC: a deployment's webhook is resolved and triggered
// with a signed call, as the API Gateway does, and answers SYNC with the result.
func TestWebhookOverGRPC(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	ctx := context.Background()
	const secret = "whsec_c2VjcmV0LWtleQ=="
	_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "hooked", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{
			Path: "shop/orders", Secrets: []string{secret}, ResponseMode: pb.ResponseMode_RESPONSE_MODE_SYNC, SyncTimeoutSeconds: 10}}}})
	require.NoError(t, err)

	res, err := s.client.ResolveWebhook(ctx, &pb.ResolveWebhookRequest{Path: "/Shop/Orders", Method: "POST"})
	require.NoError(t, err)
	require.Equal(t, "hooked", res.GetWorkflowId())
	require.True(t, res.GetRequiresSignature())
	require.Equal(t, pb.ResponseMode_RESPONSE_MODE_SYNC, res.GetResponseMode())

	body := `{"order": 7}`
	now := time.Now()
	headers := map[string]string{"webhook-id": "msg_1", "webhook-timestamp": fmt.Sprint(now.Unix()),
		"webhook-signature": signature.Sign(secret, "msg_1", now, []byte(body))}
	resp, err := s.client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WebhookPath: "shop/orders", TriggerData: body,
		Headers: headers, HttpMethod: "POST"})
	require.NoError(t, err)
	require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED, resp.GetStatus())
	require.NotEmpty(t, resp.GetResultData())
	again, err := s.client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WebhookPath: "shop/orders", TriggerData: body,
		Headers: headers, HttpMethod: "POST"})
	require.NoError(t, err)
	require.True(t, again.GetDeduplicated())
	require.Equal(t, resp.GetExecutionId(), again.GetExecutionId())

	headers["webhook-signature"] = "v1,bm90IGl0"
	_, err = s.client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WebhookPath: "shop/orders", TriggerData: body, Headers: headers})
	requireCode(t, err, codes.PermissionDenied)
}

func TestRunCommands(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	env := func(string) string { return "" }
	require.Equal(t, 0, run(context.Background(), []string{"version"}, &out, &errOut, env))
	require.Equal(t, "dev\n", out.String())
	require.Equal(t, 2, run(context.Background(), nil, &out, &errOut, env))
	require.Equal(t, 2, run(context.Background(), []string{"bogus"}, &out, &errOut, env))
	errOut.Reset()
	require.Equal(t, 2, run(context.Background(), []string{"serve", "--grpc-addr", "nonsense"}, &out, &errOut, env))
	require.Contains(t, errOut.String(), "WFR_GRPC_ADDR")
	require.NotContains(t, errOut.String(), "WFR_DATABASE_URL", "the database URL is optional")
	errOut.Reset()
	require.Equal(t, 2, run(context.Background(), []string{"migrate", "up"}, &out, &errOut, env))
	require.Equal(t, "migrate works on PostgreSQL: set WFR_DATABASE_URL (the embedded SQLite database migrates itself on serve)\n", errOut.String())
}

func TestMigrateCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	url := pgtest.NewDatabase(t)
	env := func(k string) string {
		if k == "WFR_DATABASE_URL" {
			return url
		}
		return ""
	}
	var out, errOut bytes.Buffer
	for _, dir := range []string{"up", "status", "down", "up"} {
		require.Equal(t, 0, run(context.Background(), []string{"migrate", dir}, &out, &errOut, env), errOut.String())
	}
	require.Contains(t, out.String(), "00006")
	require.Equal(t, 2, run(context.Background(), []string{"migrate", "sideways"}, &out, &errOut, env))
}

// servingAddrs waits until the log at path says where the process that
// writes it serves gRPC and HTTP, as a process started on 127.0.0.1:0 does,
// and returns both addresses. exited tells whether the process is gone.
func servingAddrs(t *testing.T, path string, exited func() bool) (grpcAddr, httpAddr string) {
	t.Helper()
	addrOf := regexp.MustCompile(`addr\W+(\d+\.\d+\.\d+\.\d+:\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		for l := range strings.Lines(string(b)) {
			m := addrOf.FindStringSubmatch(l)
			switch {
			case m == nil:
			case strings.Contains(l, "grpc serving"):
				grpcAddr = m[1]
			case strings.Contains(l, "http serving"):
				httpAddr = m[1]
			}
		}
		if grpcAddr != "" && httpAddr != "" {
			return grpcAddr, httpAddr
		}
		if exited() || time.Now().After(deadline) {
			t.Fatalf("%s never said where it serves:\n%s", path, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
