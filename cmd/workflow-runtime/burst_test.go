//go:build multiprocess

package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestBurstSurvivesAKilledReplica: three replicas, each a process with a
// dispatch pool of 8, take a burst of 300 triggers over gRPC, far more than
// their pools hold at once, so that most are queued; one replica is
// SIGKILLed mid-burst. A call the dead replica left unanswered is sent again
// to another replica with the same idempotency key, as the gateway does.
// Afterwards every trigger answered OK has exactly one row, which ends
// SUCCEEDED, and engine-sim started exactly one execution for each; the
// triggers the service refused (bad payloads, mixed in) have no row.
//
// Build tag multiprocess: it builds the binaries and needs PostgreSQL and
// Redis.
func TestBurstSurvivesAKilledReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL and Redis")
	}
	const (
		wf       = "burst"
		n        = 300
		callers  = 32
		killAt   = 100 // answered triggers before the SIGKILL
		refuseBy = 25  // every refuseBy-th trigger carries a payload the service refuses
	)
	c := newCluster(t, "burst", map[string]string{"ENGINE_SIM_MIN_DURATION": "20ms", "ENGINE_SIM_MAX_DURATION": "60ms"})
	// A short lease: the dead replica's own runs are adopted within seconds.
	settings := map[string]string{"WFR_LOG_LEVEL": "info", "WFR_DISPATCH_CONCURRENCY": "8", "WFR_LEASE": "3s"}
	names := []string{"replica-a", "replica-b", "replica-c"}
	procs := make([]*eoProc, len(names))
	clients := make([]pb.WorkflowRuntimeServiceClient, len(names))
	for i, name := range names {
		p, grpcAddr := c.replica(name, settings)
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		procs[i], clients[i] = p, pb.NewWorkflowRuntimeServiceClient(conn)
	}
	victim := len(names) - 1
	db, err := sql.Open("postgres", c.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	def, err := structpb.NewStruct(map[string]any{"nodes": []any{map[string]any{"id": "a", "name": "Act", "type": "ACTION"}}})
	require.NoError(t, err)
	_, err = clients[0].DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: wf, WorkflowDefinition: def,
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}},
		Config:   &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL, ExecutionTimeoutSeconds: 600},
	})
	require.NoError(t, err)

	var (
		killed   atomic.Bool
		answered atomic.Int64
		killOnce sync.Once
		mu       sync.Mutex
		ok       = map[string]string{} // idempotency key → execution id
		refused  []string
		resent   int
	)
	// Both run on the callers' goroutines: assert, not require.
	kill := func() {
		if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Errorf("SIGKILL %s: %v", names[victim], err)
		}
		assert.True(t, procs[victim].waitExit(eoExit), "%s did not die of SIGKILL", names[victim])
		killed.Store(true)
		t.Logf("SIGKILL %s after %d answers", names[victim], answered.Load())
	}
	// trigger sends trigger i until a replica answers: a call the dead
	// replica left unanswered goes to the next replica, same key.
	trigger := func(i int) {
		key, data := fmt.Sprintf("burst-%d", i), `{"i": `+fmt.Sprint(i)+`}`
		if i%refuseBy == 0 {
			key, data = fmt.Sprintf("refused-%d", i), `[1]`
		}
		for attempt := 0; ; attempt++ {
			to := (i + attempt) % len(clients)
			if to == victim && killed.Load() {
				continue
			}
			resp, err := clients[to].TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: wf, TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL,
				IdempotencyKey: key, TriggerData: data})
			switch code := status.Code(err); {
			case err == nil:
				mu.Lock()
				ok[key] = resp.GetExecutionId()
				resent += min(attempt, 1)
				mu.Unlock()
			case code == codes.Unavailable && to == victim, code == codes.Canceled && to == victim:
				continue
			default:
				assert.Equal(t, codes.InvalidArgument, code, "trigger %d: %v", i, err)
				mu.Lock()
				refused = append(refused, key)
				mu.Unlock()
			}
			if answered.Add(1) == killAt {
				go killOnce.Do(kill)
			}
			return
		}
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for i := range work {
				trigger(i)
			}
		})
	}
	start := time.Now()
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	killOnce.Do(kill)
	accepted := time.Since(start)
	require.Len(t, ok, n-n/refuseBy, "every valid trigger answered OK in the end")
	require.Len(t, refused, n/refuseBy)

	// Every one ends: the test fails only when none has ended for 20 s.
	ended, deadline := 0, time.Now().Add(20*time.Second)
	for {
		var done, open int
		require.NoError(t, db.QueryRow(`SELECT count(*) FILTER (WHERE status NOT IN ('PENDING', 'RUNNING')), count(*) FILTER (WHERE status IN ('PENDING', 'RUNNING'))
			FROM executions WHERE workflow_id = $1`, wf).Scan(&done, &open))
		if open == 0 {
			break
		}
		if done > ended {
			ended, deadline = done, time.Now().Add(20*time.Second)
		}
		require.True(t, time.Now().Before(deadline), "%d executions ended, %d still open, none ended for 20 s", ended, open)
		time.Sleep(100 * time.Millisecond)
	}
	drained := time.Since(start)

	rows, err := db.Query(`SELECT idempotency_key, id, status, owner_instance FROM executions WHERE workflow_id = $1`, wf)
	require.NoError(t, err)
	defer rows.Close()
	byKey, owners := map[string]int{}, map[string]int{}
	for rows.Next() {
		var key, id, st, owner string
		require.NoError(t, rows.Scan(&key, &id, &st, &owner))
		byKey[key]++
		owners[owner]++
		require.Equal(t, "SUCCEEDED", st, "execution %s (%s)", id, key)
		if want, answered := ok[key]; answered {
			require.Equal(t, want, id, "the row of %s is the execution its answer named", key)
		}
	}
	require.NoError(t, rows.Err())
	for key := range ok {
		require.Equal(t, 1, byKey[key], "trigger %s answered OK: one row", key)
	}
	for _, key := range refused {
		require.Zero(t, byKey[key], "trigger %s was refused: no row", key)
	}
	require.Len(t, byKey, len(ok), "no row of a trigger that was not answered OK")

	calls := eoCalls(t, "http://"+c.simHTTP+"/calls")
	for _, id := range ok {
		require.GreaterOrEqual(t, calls.Calls[id], 1, "execution %s reached the engine", id)
	}
	require.Equal(t, len(ok), calls.Executions, "engine-sim started one execution per trigger answered OK")

	queued := 0
	for _, p := range procs {
		queued += eoCountLines(p.logPath, `"queued":true`)
	}
	require.Positive(t, queued, "the burst overflowed the pools: some triggers were queued")
	c.checkLogs()
	t.Logf("%d triggers (%d refused) over 3 replicas with pools of 8, %s SIGKILLed after %d answers: %d answered OK (%d resent after the kill), %d queued; "+
		"accepted in %v, all SUCCEEDED after %v; rows by final owner %v; engine-sim: %d executions, %d keys called more than once",
		n, len(refused), names[victim], killAt, len(ok), resent, queued, accepted.Round(time.Millisecond), drained.Round(time.Millisecond), owners,
		calls.Executions, len(calls.Duplicates))
}
