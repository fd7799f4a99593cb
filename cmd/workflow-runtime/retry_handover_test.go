//go:build multiprocess

package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// rhRetryAfter is the retry's backoff: long enough that the replica that
// wrote the retry is killed while it waits, and that its lease (rhLease)
// runs out before the retry is due.
const (
	rhRetryAfter = 6 * time.Second
	rhLease      = 2 * time.Second
)

// TestRetryRunsOnceAfterReplicaDeath kills (SIGKILL) the replica that owns
// a retry waiting for its due time: the other replica adopts the retry's
// row and runs it once, not before it is due, and the engine sees it once.
//
// Build tag multiprocess: it builds the binaries and needs PostgreSQL and
// Redis.
func TestRetryRunsOnceAfterReplicaDeath(t *testing.T) {
	// Parallel with the other multi-process tests: its database, Redis
	// prefix, ports and directories are its own, and its replicas\' pools
	// are small (eoEnv).
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL and Redis")
	}
	logDir := t.TempDir()
	runtimeBin, simBin := eoBuild(t)
	dbURL := pgtest.NewDatabase(t)
	prefix := fmt.Sprintf("wfr_retry_%d_%d:", os.Getpid(), time.Now().UnixNano())

	sim := eoStartProc(t, "engine-sim", logDir, simBin, eoEnv(map[string]string{
		"ENGINE_SIM_GRPC_ADDR": "127.0.0.1:0", "ENGINE_SIM_HTTP_ADDR": "127.0.0.1:0",
		"ENGINE_SIM_FAILURE_RATE": "1", "ENGINE_SIM_MIN_DURATION": "0s", "ENGINE_SIM_MAX_DURATION": "0s",
	}))
	simGRPC, simHTTP := sim.servingAddrs(t)
	eoWaitHTTP(t, sim, "http://"+simHTTP+"/healthz")
	replica := func(name string) (*eoProc, string) {
		p := eoStartProc(t, name, logDir, runtimeBin, eoEnv(map[string]string{
			"WFR_DATABASE_URL": dbURL, "WFR_REDIS_URL": "redis://127.0.0.1:6379/0", "WFR_REDIS_PREFIX": prefix,
			"WFR_GRPC_ADDR": "127.0.0.1:0", "WFR_HTTP_ADDR": "127.0.0.1:0", "WFR_ENGINE_ADDR": simGRPC,
			"WFR_INSTANCE_ID": name, "WFR_LEASE": rhLease.String(), "WFR_DRAIN_DELAY": "0s", "WFR_LOG_LEVEL": "info",
		}), "serve")
		grpcAddr, httpAddr := p.servingAddrs(t)
		eoWaitHTTP(t, p, "http://"+httpAddr+"/readyz")
		return p, grpcAddr
	}
	a, aAddr := replica("replica-a")
	b, _ := replica("replica-b")
	eoLogsOnFailure(t, func() []*eoProc { return []*eoProc{sim, a, b} })

	conn, err := grpc.NewClient(aAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewWorkflowRuntimeServiceClient(conn)
	db, err := sql.Open("postgres", dbURL)
	require.NoError(t, err)
	defer db.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	def, err := structpb.NewStruct(map[string]any{"nodes": []any{map[string]any{"id": "a", "name": "Act", "type": "ACTION"}}})
	require.NoError(t, err)
	_, err = client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: "retry-handover", WorkflowDefinition: def,
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}},
		Config: &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL, RetryPolicy: &pb.RetryPolicy{
			MaxAttempts: 2, InitialInterval: durationpb.New(rhRetryAfter), MaxInterval: durationpb.New(rhRetryAfter),
		}},
	})
	require.NoError(t, err)
	first := orTrigger(t, client, "retry-handover")

	// The first attempt fails at once; replica a writes the retry with the failure, and owns it.
	var retry string
	var notBefore time.Time
	require.Eventually(t, func() bool {
		err := db.QueryRow(`SELECT id, not_before FROM executions WHERE first_attempt_id = $1`, first).Scan(&retry, &notBefore)
		return err == nil
	}, 15*time.Second, 20*time.Millisecond, "no retry written")
	require.Equal(t, "replica-a", rhOwner(t, db, retry))
	require.NoError(t, a.cmd.Process.Kill())
	killed := time.Now()
	require.True(t, a.waitExit(10*time.Second))
	require.True(t, killed.Before(notBefore), "the retry was due before the replica died: the scenario did not happen")
	t.Logf("SIGKILL replica-a %v before its retry %s was due", notBefore.Sub(killed).Round(time.Millisecond), retry)

	orWait(t, db, 30*time.Second, `SELECT status = 'FAILED' FROM executions WHERE id = $1`, retry)
	require.Equal(t, "replica-b", rhOwner(t, db, retry), "the other replica ran the retry")
	calls := eoCalls(t, "http://"+simHTTP+"/calls")
	require.Equal(t, 1, calls.Calls[retry], "the retry reached the engine once")
	require.Empty(t, calls.Duplicates)
	var started time.Time
	require.NoError(t, db.QueryRow(`SELECT started_time FROM executions WHERE id = $1`, retry).Scan(&started))
	require.False(t, started.Before(notBefore), "the retry started at %v, before it was due at %v", started, notBefore)
	var attempts int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM executions WHERE id = $1 OR first_attempt_id = $1`, first).Scan(&attempts))
	require.Equal(t, 2, attempts, "max_attempts in all, none doubled")
	t.Logf("retry %s ran once on replica-b, %v after it was due", retry, started.Sub(notBefore).Round(time.Millisecond))
}

func rhOwner(t *testing.T, db *sql.DB, id string) string {
	t.Helper()
	var owner string
	require.NoError(t, db.QueryRow(`SELECT owner_instance FROM executions WHERE id = $1`, id).Scan(&owner))
	return owner
}
