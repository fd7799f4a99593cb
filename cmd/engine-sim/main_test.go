package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// started runs run in the background on free loopback ports and returns the
// addresses it logged, the channel its exit code arrives on, and the log
// lines read so far (complete once the code has arrived).
func started(t *testing.T, ctx context.Context, args ...string) (grpcAddr, httpAddr string, exit <-chan int, logs func() []map[string]any) {
	t.Helper()
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, args...), io.Discard, pw)
		pw.Close()
	}()

	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		dec := json.NewDecoder(pr)
		for {
			var line map[string]any
			if dec.Decode(&line) != nil {
				return
			}
			lines <- line
		}
	}()
	var seen []map[string]any
	for grpcAddr == "" || httpAddr == "" {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "run ended before serving; log: %v", seen)
			seen = append(seen, line)
			switch line["msg"] {
			case "grpc serving":
				grpcAddr = line["addr"].(string)
			case "http serving":
				httpAddr = line["addr"].(string)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no serving lines in the log: %v", seen)
		}
	}
	// Keep draining so that run never blocks on its log.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for line := range lines {
			seen = append(seen, line)
		}
	}()
	return grpcAddr, httpAddr, code, func() []map[string]any {
		<-done
		return seen
	}
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	grpcAddr, httpAddr, exit, logs := started(t, ctx, "-min-duration", "1h", "-max-duration", "1h")

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewWorkflowServiceClient(conn)
	req := &pb.ExecuteWorkflowRequest{WorkflowId: "wf-1", Metadata: map[string]string{enginesim.MetaIdempotencyKey: "run-1"}}
	first, err := client.ExecuteWorkflow(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, pb.ExecutionStatus_RUNNING, first.GetStatus())
	again, err := client.ExecuteWorkflow(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, first.GetExecutionId(), again.GetExecutionId())

	health, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: pb.WorkflowService_ServiceDesc.ServiceName})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, health.GetStatus())

	httpReq, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+httpAddr+"/calls", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(httpReq)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var report enginesim.CallsReport
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&report))
	want := enginesim.CallsReport{Calls: map[string]int{"run-1": 2}, Executions: 1, Duplicates: []string{"run-1"}}
	if diff := cmp.Diff(want, report); diff != "" {
		t.Fatalf("GET /calls (-want +got):\n%s", diff)
	}

	_, err = client.GetExecutionStatus(t.Context(), &pb.GetExecutionStatusRequest{ExecutionId: first.GetExecutionId()})
	require.NoError(t, err)
	canceled, err := client.CancelExecution(t.Context(), &pb.CancelExecutionRequest{ExecutionId: first.GetExecutionId(), Reason: "test"})
	require.NoError(t, err)
	require.True(t, canceled.GetSuccess(), canceled.GetMessage())

	cancel()
	select {
	case code := <-exit:
		require.Equal(t, 0, code)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop after its context ended")
	}
	rpcs := map[any]int{}
	for _, line := range logs() {
		if line["msg"] != "rpc" {
			continue
		}
		rpcs[line["method"]]++
		require.Equal(t, first.GetExecutionId(), line["execution_id"], "line %v", line)
		if line["method"] == pb.WorkflowService_ExecuteWorkflow_FullMethodName {
			require.Equal(t, "run-1", line["idempotency_key"])
		}
	}
	wantRPCs := map[any]int{pb.WorkflowService_ExecuteWorkflow_FullMethodName: 2, pb.WorkflowService_CancelExecution_FullMethodName: 1}
	if diff := cmp.Diff(wantRPCs, rpcs); diff != "" {
		t.Fatalf("logged RPCs, polls and health checks left out (-want +got):\n%s", diff)
	}
}

func TestRunListenFailure(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	for _, flagName := range []string{"-grpc-addr", "-http-addr"} {
		var stderr bytes.Buffer
		args := []string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", flagName, taken.Addr().String()}
		require.Equal(t, 1, run(t.Context(), args, io.Discard, &stderr), flagName)
		require.Contains(t, stderr.String(), "listen", flagName)
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"-h"}, wantCode: 0, wantStdout: "ENGINE_SIM_GRPC_ADDR"},
		{name: "unknown flag", args: []string{"-nope"}, wantCode: 2, wantStderr: "flag provided but not defined: -nope"},
		{name: "bad value", args: []string{"-min-duration", "soon"}, wantCode: 2, wantStderr: "invalid value"},
		{name: "out of range", args: []string{"-failure-rate", "2"}, wantCode: 2, wantStderr: "failure rate 2 is outside 0..1"},
		{name: "arguments", args: []string{"extra"}, wantCode: 2, wantStderr: `unexpected arguments ["extra"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			require.Equal(t, tt.wantCode, run(t.Context(), tt.args, &stdout, &stderr))
			require.Contains(t, stdout.String(), tt.wantStdout)
			require.Contains(t, stderr.String(), tt.wantStderr)
		})
	}
}

func TestParseEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr string
	}{
		{
			name: "defaults",
			want: options{grpcAddr: ":50051", httpAddr: ":50052", sim: enginesim.Config{MinDuration: 2 * time.Second, MaxDuration: 2 * time.Second}},
		},
		{
			name: "environment",
			env: map[string]string{
				"ENGINE_SIM_GRPC_ADDR": ":1", "ENGINE_SIM_HTTP_ADDR": ":2", "ENGINE_SIM_MIN_DURATION": "1s",
				"ENGINE_SIM_MAX_DURATION": "5s", "ENGINE_SIM_FAILURE_RATE": "0.25", "ENGINE_SIM_HANG_RATE": "0.5", "ENGINE_SIM_SEED": "9",
				"ENGINE_SIM_ACCEPT_DELAY": "250ms",
			},
			want: options{grpcAddr: ":1", httpAddr: ":2", sim: enginesim.Config{
				MinDuration: time.Second, MaxDuration: 5 * time.Second, FailureRate: 0.25, HangRate: 0.5, Seed: 9,
				AcceptDelay: 250 * time.Millisecond,
			}},
		},
		{
			name: "flags override the environment",
			args: []string{"-seed", "3", "-max-duration", "3s"},
			env:  map[string]string{"ENGINE_SIM_SEED": "9", "ENGINE_SIM_MAX_DURATION": "5s"},
			want: options{grpcAddr: ":50051", httpAddr: ":50052", sim: enginesim.Config{MinDuration: 2 * time.Second, MaxDuration: 3 * time.Second, Seed: 3}},
		},
		{
			name:    "every bad variable is reported",
			env:     map[string]string{"ENGINE_SIM_SEED": "x", "ENGINE_SIM_HANG_RATE": "y"},
			wantErr: `ENGINE_SIM_HANG_RATE="y": invalid value for -hang-rate: parse error` + "\n" + `ENGINE_SIM_SEED="x": invalid value for -seed: parse error`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parse(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Fatalf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseHelp(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	_, err := parse([]string{"-help"}, func(string) string { return "" }, &stdout)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, name := range []string{"-grpc-addr", "-http-addr", "-min-duration", "-max-duration", "-failure-rate", "-hang-rate", "-seed", "-accept-delay"} {
		require.Contains(t, stdout.String(), name, "usage lists %s", name)
	}
}

// TestLogCalls: a dispatch is logged with its key, its answer and how long
// it took by the interceptor's clock; a status poll is not logged.
func TestLogCalls(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clk := clock.NewFake(time.Unix(0, 0))
	intercept := logCalls(log.NewJSONLogger(&buf), clk.Now)
	handler := func(context.Context, any) (any, error) {
		clk.Advance(1500 * time.Millisecond)
		return &pb.ExecuteWorkflowResponse{ExecutionId: "eng-1", Status: pb.ExecutionStatus_RUNNING}, nil
	}
	req := &pb.ExecuteWorkflowRequest{WorkflowId: "wf", Metadata: map[string]string{enginesim.MetaIdempotencyKey: "k1"}}
	_, err := intercept(t.Context(), req, &grpc.UnaryServerInfo{FullMethod: pb.WorkflowService_ExecuteWorkflow_FullMethodName}, handler)
	require.NoError(t, err)
	_, err = intercept(t.Context(), &pb.GetExecutionStatusRequest{}, &grpc.UnaryServerInfo{FullMethod: pb.WorkflowService_GetExecutionStatus_FullMethodName}, handler)
	require.NoError(t, err)

	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got), "one line: %s", buf.String())
	want := map[string]any{"level": "info", "msg": "rpc", "method": pb.WorkflowService_ExecuteWorkflow_FullMethodName, "code": "OK",
		"took": "1.5s", "workflow_id": "wf", "idempotency_key": "k1", "execution_id": "eng-1", "status": "RUNNING"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("log line (-want +got):\n%s", diff)
	}
}
