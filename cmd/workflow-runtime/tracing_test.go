package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing/tracingtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestTracingEndToEnd drives the whole service, exporting to a fake OTLP
// collector, and follows a trace from the caller through the RPC, the
// store and the engine, over gRPC and over REST, and a trace the service
// starts itself for a caller that sent none.
func TestTracingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	collector := tracingtest.NewCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.Endpoint())
	var engineCalls simtest.Recorder
	engineAddr := simtest.Serve(t, enginesim.New(enginesim.Config{MaxDuration: time.Hour}), "127.0.0.1:0", engineCalls.Option())

	_, prefix := redistest.New(t)
	grpcLis, httpLis := listenLoopback(t)
	grpcAddr, httpAddr := grpcLis.Addr().String(), httpLis.Addr().String()
	env := map[string]string{
		"WFR_DATABASE_URL": pgtest.NewDatabase(t), "WFR_REDIS_URL": "redis://127.0.0.1:6379/0", "WFR_REDIS_PREFIX": prefix,
		"WFR_ENGINE_ADDR": engineAddr, "WFR_INSTANCE_ID": "tracing-test",
		"WFR_SHUTDOWN_TIMEOUT": "5s", "WFR_DRAIN_DELAY": "0s",
	}
	cfg, err := config.Load("serve", nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	var logs logtest.Buffer
	logger, logLevel, err := logging.New(&logs, "json", "info", cfg.InstanceID)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, cfg, logger, logLevel, grpcLis, httpLis) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return fmt.Errorf("serve did not stop")
		}
	})
	t.Cleanup(func() { _ = stop() })
	awaitReady(t, http.DefaultClient, "http://"+httpAddr+"/readyz", done)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	client := pb.NewWorkflowRuntimeServiceClient(conn)

	_, err = client.DeployWorkflow(context.Background(), &pb.DeployWorkflowRequest{WorkflowId: "traced", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}},
		// All three executions go to the engine at once.
		Config: &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL}})
	require.NoError(t, err)

	const (
		grpcTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
		grpcParent = "00f067aa0ba902b7"
		restTrace  = "0af7651916cd43dd8448eb211c80319c"
		restParent = "b7ad6b7169203331"
	)
	rowTrace := func(id string) string {
		e, err := client.GetExecution(context.Background(), &pb.GetExecutionRequest{ExecutionId: id})
		require.NoError(t, err)
		return e.GetExecution().GetTraceId()
	}
	traced, err := client.TriggerWorkflow(metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+grpcTrace+"-"+grpcParent+"-01"),
		&pb.TriggerWorkflowRequest{WorkflowId: "traced", IdempotencyKey: "grpc"})
	require.NoError(t, err)
	untraced, err := client.TriggerWorkflow(context.Background(), &pb.TriggerWorkflowRequest{WorkflowId: "traced", IdempotencyKey: "none"})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/api/v1/workflows/traced/trigger", strings.NewReader(`{"idempotency_key":"rest"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-"+restTrace+"-"+restParent+"-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))

	newTrace := rowTrace(untraced.GetExecutionId())
	rows := map[string]string{"grpc": rowTrace(traced.GetExecutionId()), "none": newTrace}
	require.NotContains(t, []string{"", grpcTrace, restTrace}, newTrace)
	var restResp struct {
		ExecutionID string `json:"execution_id"`
	}
	require.NoError(t, json.Unmarshal(body, &restResp))
	rows["rest"] = rowTrace(restResp.ExecutionID)
	// received returns the trace ids of the traceparents the engine got
	// with the dispatches, in the gRPC metadata.
	received := func() []string {
		var ids []string
		for _, c := range engineCalls.Calls() {
			if c.Method == "/workflow_engine.WorkflowService/ExecuteWorkflow" {
				tp := strings.Join(c.Metadata.Get("traceparent"), ",")
				ids = append(ids, strings.Split(tp+"--", "-")[1])
			}
		}
		return ids
	}
	require.Eventually(t, func() bool { return len(received()) >= 3 }, 10*time.Second, 20*time.Millisecond, "the engine did not get all three")
	require.NoError(t, stop())

	require.ElementsMatch(t, []string{grpcTrace, restTrace, newTrace}, received(), "trace ids of the traceparents the engine received")
	if diff := cmp.Diff(map[string]string{"grpc": grpcTrace, "rest": restTrace, "none": newTrace}, rows); diff != "" {
		t.Errorf("trace_id of the execution rows mismatch (-want +got):\n%s", diff)
	}

	spans := collector.Spans()
	find := func(trace, name string) *tracepb.Span {
		t.Helper()
		for _, s := range spans {
			if hex.EncodeToString(s.GetTraceId()) == trace && s.GetName() == name {
				return s
			}
		}
		t.Fatalf("no span %q in trace %s", name, trace)
		return nil
	}
	const rpc = "workflowruntime.v1.WorkflowRuntimeService/TriggerWorkflow"
	for _, tc := range []struct{ name, trace, parent string }{
		{"grpc", grpcTrace, grpcParent},
		{"rest", restTrace, restParent},
		{"none", newTrace, ""},
	} {
		server := find(tc.trace, rpc)
		serverID := hex.EncodeToString(server.GetSpanId())
		execute := find(tc.trace, "engine.Execute")
		got := map[string]string{
			"server span's parent":       hex.EncodeToString(server.GetParentSpanId()),
			"store call's parent":        hex.EncodeToString(find(tc.trace, "postgres.CreateExecution").GetParentSpanId()),
			"engine call's parent":       hex.EncodeToString(execute.GetParentSpanId()),
			"engine attempt's parent":    hex.EncodeToString(find(tc.trace, "workflow_engine.WorkflowService/ExecuteWorkflow").GetParentSpanId()),
			"server span's kind":         server.GetKind().String(),
			"trace_id of the rpc's logs": logged(logs.String(), tc.trace),
		}
		want := map[string]string{
			"server span's parent":       tc.parent,
			"store call's parent":        serverID,
			"engine call's parent":       serverID,
			"engine attempt's parent":    hex.EncodeToString(execute.GetSpanId()),
			"server span's kind":         tracepb.Span_SPAN_KIND_SERVER.String(),
			"trace_id of the rpc's logs": rpc,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: trace mismatch (-want +got):\n%s", tc.name, diff)
		}
	}
}

// logged returns the method of the rpc log line with trace id, or "".
func logged(logs, trace string) string {
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, `"msg":"rpc"`) && strings.Contains(line, `"trace_id":"`+trace+`"`) && strings.Contains(line, "TriggerWorkflow") {
			return "workflowruntime.v1.WorkflowRuntimeService/TriggerWorkflow"
		}
	}
	return ""
}

// TestUntracedTraceCarriedThrough: with tracing off, which installs no
// otelgrpc handler, the caller's traceparent still gives the execution row
// its trace id, and the engine still receives that trace in its gRPC
// metadata.
func TestUntracedTraceCarriedThrough(t *testing.T) {
	var engineCalls simtest.Recorder
	engineAddr := simtest.Serve(t, enginesim.New(enginesim.Config{MaxDuration: time.Hour}), "127.0.0.1:0", engineCalls.Option())
	s := startStack(t, map[string]string{"WFR_ENGINE_ADDR": engineAddr})
	ctx := context.Background()
	_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "untraced", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}})
	require.NoError(t, err)

	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, err := s.client.TriggerWorkflow(metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+trace+"-00f067aa0ba902b7-01"),
		&pb.TriggerWorkflowRequest{WorkflowId: "untraced"})
	require.NoError(t, err)
	e, err := s.client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: resp.GetExecutionId()})
	require.NoError(t, err)
	require.Equal(t, trace, e.GetExecution().GetTraceId())
	require.Eventually(t, func() bool {
		for _, c := range engineCalls.Calls() {
			if c.Method == "/workflow_engine.WorkflowService/ExecuteWorkflow" {
				return strings.HasPrefix(strings.Join(c.Metadata.Get("traceparent"), ","), "00-"+trace+"-")
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the engine did not get the trace in its gRPC metadata")
}
