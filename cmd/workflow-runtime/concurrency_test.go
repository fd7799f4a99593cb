//go:build multiprocess

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestMaxConcurrencyThreeProcesses: three replicas, each its own process,
// take 50 triggers of an ALLOW_ALL workflow with max_concurrency 3 at once,
// spread over the three: the engine (engine-sim, a process too) never runs
// more than 3 of them at once, by its own count, every one ends SUCCEEDED,
// and none reaches the engine twice.
//
// Build tag multiprocess: it builds the binaries and needs PostgreSQL and
// Redis.
func TestMaxConcurrencyThreeProcesses(t *testing.T) {
	// Parallel with the other multi-process tests: its database, Redis
	// prefix, ports and directories are its own, and its replicas\' pools
	// are small (eoEnv).
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL and Redis")
	}
	const (
		wf    = "max-concurrency"
		limit = 3
		n     = 50
	)
	c := newCluster(t, "maxconc", map[string]string{"ENGINE_SIM_MIN_DURATION": "50ms", "ENGINE_SIM_MAX_DURATION": "150ms"})
	var clients []pb.WorkflowRuntimeServiceClient
	for _, name := range []string{"replica-a", "replica-b", "replica-c"} {
		_, grpcAddr := c.replica(name, map[string]string{"WFR_LOG_LEVEL": "info"})
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		clients = append(clients, pb.NewWorkflowRuntimeServiceClient(conn))
	}
	db, err := sql.Open("postgres", c.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	def, err := structpb.NewStruct(map[string]any{"nodes": []any{map[string]any{"id": "a", "name": "Act", "type": "ACTION"}}})
	require.NoError(t, err)
	_, err = clients[0].DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: wf, WorkflowDefinition: def,
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}},
		// The last of the queue waits for the 49 before it: the default
		// execution timeout must not end it before it starts on a slow machine.
		Config: &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL, MaxConcurrency: limit,
			ExecutionTimeoutSeconds: 600},
	})
	require.NoError(t, err)

	// All at once: each goroutine waits for the others before it calls.
	ids, errs := make([]string, n), make([]error, n)
	var ready, wg sync.WaitGroup
	ready.Add(n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			ready.Done()
			<-start
			resp, err := clients[i%len(clients)].TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: wf, TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL})
			ids[i], errs[i] = resp.GetExecutionId(), err
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	// Every one ends: the test fails only when none has ended for 30 s.
	ended, deadline := 0, time.Now().Add(30*time.Second)
	for ended < n {
		var done int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM executions WHERE workflow_id = $1 AND status NOT IN ('PENDING', 'RUNNING')`, wf).Scan(&done))
		if done > ended {
			ended, deadline = done, time.Now().Add(30*time.Second)
		}
		require.True(t, time.Now().Before(deadline), "%d of %d executions ended, then none for 30 s", ended, n)
		time.Sleep(50 * time.Millisecond)
	}
	var succeeded, replicas int
	require.NoError(t, db.QueryRow(`SELECT count(*) FILTER (WHERE status = 'SUCCEEDED'), count(DISTINCT owner_instance) FROM executions WHERE workflow_id = $1`, wf).
		Scan(&succeeded, &replicas))
	require.Equal(t, n, succeeded, "every run SUCCEEDED")

	calls := eoCalls(t, "http://"+c.simHTTP+"/calls")
	for _, id := range ids {
		require.Equal(t, 1, calls.Calls[id], "execution %s reached the engine once", id)
	}
	require.Empty(t, calls.Duplicates, "no execution doubled")
	require.Equal(t, n, calls.Executions)
	peak := mcPeak(t, "http://"+c.simHTTP+"/peak?workflow_id="+url.QueryEscape(wf))
	require.LessOrEqual(t, peak, limit, "never more than max_concurrency running in the engine")
	t.Logf("max_concurrency %d, 3 replica processes, %d triggers at once: %d SUCCEEDED, run by %d replicas, none doubled; engine-sim peak = %d",
		limit, n, succeeded, replicas, peak)
}

// mcPeak reads engine-sim's GET /peak.
func mcPeak(t *testing.T, url string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var r enginesim.PeakReport
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return r.Peak
}
