//go:build multiprocess

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	enginepb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// The scenario of TestGracefulShutdown.
const (
	gsHeld       = 5               // executions that run until cancelled
	gsQuickRun   = 2 * time.Second // how long the in-flight SYNC call's execution runs
	gsDrainDelay = 2 * time.Second
	gsTimeout    = 15 * time.Second
	// gsLease is long enough that an adoption within the test can only
	// come from leases released at the stop, never from one running out.
	gsLease = time.Minute
)

// gsSteps are the log lines of the shutdown, in order (ARCHITECTURE.md
// "Shutdown").
var gsSteps = []string{
	"draining: not ready",
	"scheduler stopped: no new fires",
	"http stopped",
	"grpc stopped",
	"leases released",
	"coordinator stopped",
	"workflow locks:",
	"pools closed",
	"stopped",
}

// gsEngine is engine-sim with two behaviours: executions of workflow "held"
// run until cancelled, every other one runs gsQuickRun.
type gsEngine struct {
	enginepb.UnimplementedWorkflowServiceServer
	held, quick *enginesim.Sim
}

func (e *gsEngine) ExecuteWorkflow(ctx context.Context, req *enginepb.ExecuteWorkflowRequest) (*enginepb.ExecuteWorkflowResponse, error) {
	if req.GetWorkflowId() == "held" {
		return e.held.ExecuteWorkflow(ctx, req)
	}
	return e.quick.ExecuteWorkflow(ctx, req)
}

func (e *gsEngine) GetExecutionStatus(ctx context.Context, req *enginepb.GetExecutionStatusRequest) (*enginepb.GetExecutionStatusResponse, error) {
	if r, err := e.held.GetExecutionStatus(ctx, req); err != nil || r.GetFound() {
		return r, err
	}
	return e.quick.GetExecutionStatus(ctx, req)
}

func (e *gsEngine) CancelExecution(ctx context.Context, req *enginepb.CancelExecutionRequest) (*enginepb.CancelExecutionResponse, error) {
	if r, err := e.held.CancelExecution(ctx, req); err != nil || r.GetSuccess() {
		return r, err
	}
	return e.quick.CancelExecution(ctx, req)
}

// TestGracefulShutdown runs the workflow-runtime binary against an
// engine-sim that holds executions running, starts some, and sends SIGTERM
// while a SYNC webhook call waits for its execution. It checks that readiness
// and gRPC health drop at once, that the waiting call completes, that the
// process exits 0 within the shutdown timeout after logging each step of
// ARCHITECTURE.md "Shutdown", and that the executions still running are left
// with released leases, which a second replica then adopts at once.
//
// Build tag multiprocess: it builds the binary (with -race when the test
// has it) and needs PostgreSQL and Redis.
func TestGracefulShutdown(t *testing.T) {
	// Parallel with the other multi-process tests: its database, Redis
	// prefix, ports and directories are its own, and its replicas\' pools
	// are small (eoEnv).
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL and Redis")
	}
	dbURL := pgtest.NewDatabase(t)
	_, prefix := redistest.New(t)
	runtimeBin := eoBuildCommand(t, "workflow-runtime")
	logDir := t.TempDir()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	engineServer := grpc.NewServer()
	enginepb.RegisterWorkflowServiceServer(engineServer, &gsEngine{
		held:  enginesim.New(enginesim.Config{HangRate: 1}),
		quick: enginesim.New(enginesim.Config{MinDuration: gsQuickRun, MaxDuration: gsQuickRun}),
	})
	go func() { _ = engineServer.Serve(lis) }()
	t.Cleanup(engineServer.Stop)

	db, err := sql.Open("postgres", dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	type replica struct {
		*eoProc
		grpcAddr, httpAddr string
	}
	start := func(name string) replica {
		var r replica
		r.eoProc = eoStartProc(t, name, logDir, runtimeBin, eoEnv(map[string]string{
			"WFR_DATABASE_URL":     dbURL,
			"WFR_REDIS_URL":        "redis://" + redistest.Addr + "/0",
			"WFR_REDIS_PREFIX":     prefix,
			"WFR_GRPC_ADDR":        "127.0.0.1:0",
			"WFR_HTTP_ADDR":        "127.0.0.1:0",
			"WFR_ENGINE_ADDR":      lis.Addr().String(),
			"WFR_INSTANCE_ID":      name,
			"WFR_LEASE":            gsLease.String(),
			"WFR_DRAIN_DELAY":      gsDrainDelay.String(),
			"WFR_SHUTDOWN_TIMEOUT": gsTimeout.String(),
			"WFR_LOG_LEVEL":        "info",
		}), "serve")
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("---- last lines of %s ----\n%s", name, r.tail(60))
			}
		})
		r.grpcAddr, r.httpAddr = r.servingAddrs(t)
		eoWaitHTTP(t, r.eoProc, "http://"+r.httpAddr+"/readyz")
		return r
	}
	first := start("shutdown-1")

	conn, err := grpc.NewClient(first.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewWorkflowRuntimeServiceClient(conn)
	ctx := context.Background()
	manual := []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}
	_, err = client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "held", WorkflowDefinition: definition(t, actionNode),
		Triggers: manual, Config: &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL}})
	require.NoError(t, err)
	_, err = client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "quick", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{
			Path: "quick", ResponseMode: pb.ResponseMode_RESPONSE_MODE_SYNC, SyncTimeoutSeconds: 30}}}})
	require.NoError(t, err)

	for range gsHeld {
		_, err := client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "held"})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		return gsCount(t, db, "workflow_id = 'held' AND status = 'RUNNING'") == gsHeld
	}, 10*time.Second, 50*time.Millisecond, "the held executions never ran")

	type result struct {
		resp *pb.TriggerWorkflowResponse
		err  error
		at   time.Time
	}
	inFlight := make(chan result, 1)
	go func() {
		resp, err := client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WebhookPath: "quick", HttpMethod: "POST", TriggerData: `{}`})
		inFlight <- result{resp, err, time.Now()}
	}()
	require.Eventually(t, func() bool {
		return gsCount(t, db, "workflow_id = 'quick' AND status = 'RUNNING'") == 1
	}, 10*time.Second, 20*time.Millisecond, "the SYNC call's execution never ran")

	require.NoError(t, first.cmd.Process.Signal(syscall.SIGTERM))
	signalled := time.Now()

	// Within the drain delay, while both servers still answer, they say the
	// replica is going.
	hc := &http.Client{Timeout: time.Second}
	var readyz int
	for time.Since(signalled) < gsDrainDelay {
		resp, err := hc.Get("http://" + first.httpAddr + "/readyz")
		require.NoError(t, err, "the HTTP server closed before the drain delay")
		resp.Body.Close()
		if readyz = resp.StatusCode; readyz == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, http.StatusServiceUnavailable, readyz, "/readyz did not answer 503 within the drain delay")
	t.Logf("/readyz answered 503 %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	st, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, st.GetStatus())
	require.Less(t, time.Since(signalled), gsDrainDelay, "checks took longer than the drain delay")

	res := <-inFlight
	require.NoError(t, res.err, "the in-flight call failed")
	require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED, res.resp.GetStatus())
	require.True(t, res.at.After(signalled))
	t.Logf("the in-flight SYNC call completed %v after SIGTERM", res.at.Sub(signalled).Round(time.Millisecond))

	require.True(t, first.waitExit(gsDrainDelay+gsTimeout+5*time.Second), "no exit after SIGTERM")
	require.Equal(t, 0, first.cmd.ProcessState.ExitCode(), "exit status %v", first.cmd.ProcessState)
	t.Logf("exited 0 %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))

	// Every step is logged, in order, and none was cut short.
	var seen []string
	eoScanLines(first.logPath, func(line string) bool {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			return true
		}
		msg, _ := entry["msg"].(string)
		require.NotContains(t, msg, "cut off", "the drain overran the shutdown timeout")
		require.NotContains(t, msg, "before every dispatch in flight finished")
		step := len(seen)
		if step < len(gsSteps) && strings.HasPrefix(msg, gsSteps[step]) {
			seen = append(seen, msg)
			t.Logf("step %d: %s", step+1, line)
			if gsSteps[step] == "leases released" {
				require.EqualValues(t, gsHeld, entry["executions"], "leases released")
			}
		}
		return true
	})
	require.Len(t, seen, len(gsSteps), "shutdown steps logged: %q", seen)

	// Nothing is left waiting for a lease to run out: the held executions
	// are still RUNNING in the engine, dispatched, with their lease ended.
	require.Zero(t, gsCount(t, db, "status = 'PENDING'"), "executions left PENDING")
	require.Equal(t, gsHeld, gsCount(t, db, "status = 'RUNNING' AND engine_execution_id IS NOT NULL AND lease_expires_at <= now()"))
	require.Equal(t, gsHeld, gsCount(t, db, "status IN ('PENDING', 'RUNNING')"))

	// So another replica adopts them at once, not a lease later.
	second := start("shutdown-2")
	require.Eventually(t, func() bool {
		return gsCount(t, db, "status = 'RUNNING' AND owner_instance = 'shutdown-2' AND lease_expires_at > now()") == gsHeld
	}, 10*time.Second, 50*time.Millisecond, "the second replica did not adopt the held executions")
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	require.True(t, second.waitExit(gsDrainDelay+gsTimeout+5*time.Second), "no exit after SIGTERM")
	require.Equal(t, 0, second.cmd.ProcessState.ExitCode())
}

// gsCount counts the executions that match where.
func gsCount(t *testing.T, db *sql.DB, where string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM executions WHERE "+where).Scan(&n))
	return n
}
