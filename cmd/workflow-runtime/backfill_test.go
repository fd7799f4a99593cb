//go:build multiprocess

package main

import (
	"context"
	"database/sql"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// The scenario of TestBackfillAcrossReplicas.
const (
	// bfSlots per-second slots are backfilled, the last few of which the
	// live schedule has fired already.
	bfSlots = 1000
	// bfRate is each replica's pace (WFR_BACKFILL_RATE): the two together
	// take about bfSlots/(2*bfRate) s.
	bfRate  = "100"
	bfLease = "2s"
	// bfLive is how long the live schedule fires before the backfill.
	bfLive = 3 * time.Second
	// bfWait bounds each wait below.
	bfWait = 60 * time.Second
)

// TestBackfillAcrossReplicas runs engine-sim and two workflow-runtime
// replicas as processes over one PostgreSQL database and Redis, deploys a
// per-second cron workflow, lets it fire for a few seconds and then
// backfills the 1,000 seconds up to now, which include those live fires.
// Halfway, while it holds a chunk of the backfill, one replica is SIGKILLed;
// the other takes its chunk over when the lease runs out. It checks in SQL
// that each of the 1,000 slots has exactly one execution, run to its end,
// that the live fires were counted as skipped rather than doubled, and that
// the engine started one run per execution.
//
// Build tag multiprocess: it builds the binaries (with -race when the test
// has it) and needs PostgreSQL and Redis.
func TestBackfillAcrossReplicas(t *testing.T) {
	// Parallel with the other multi-process tests: its database, Redis
	// prefix, ports and directories are its own, and its replicas\' pools
	// are small (eoEnv).
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL and Redis")
	}
	c := newCluster(t, "backfill", map[string]string{
		"ENGINE_SIM_MIN_DURATION": "50ms", "ENGINE_SIM_MAX_DURATION": "200ms", "ENGINE_SIM_SEED": "1",
	})

	type replica struct {
		*eoProc
		grpcAddr string
	}
	var replicas []replica
	for i := range 2 {
		name := fmt.Sprintf("replica-%d", i+1)
		p, grpcAddr := c.replica(name, map[string]string{
			"WFR_LEASE": bfLease, "WFR_BACKFILL_RATE": bfRate, "WFR_RESYNC_INTERVAL": "1s", "WFR_SHUTDOWN_TIMEOUT": "5s",
		})
		replicas = append(replicas, replica{p, grpcAddr})
	}
	survivor, killed := replicas[0], replicas[1]

	conn, err := grpc.NewClient(survivor.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewWorkflowRuntimeServiceClient(conn)
	ctx := context.Background()
	def, err := structpb.NewStruct(map[string]any{"name": "backfill", "nodes": []any{map[string]any{"id": "a", "name": "Act", "type": "ACTION"}}})
	require.NoError(t, err)
	noJitter := int32(0)
	dep, err := client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: "backfill-me", WorkflowDefinition: def,
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "* * * * * *", Timezone: "UTC", JitterWindowSeconds: &noJitter}}},
	})
	require.NoError(t, err)
	deploymentID, triggerID := dep.GetDeployment().GetDeploymentId(), dep.GetDeployment().GetTriggers()[0].GetTrigger().GetTriggerId()

	db, err := sql.Open("postgres", c.dbURL)
	require.NoError(t, err)
	defer db.Close()
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRowContext(ctx, query, args...).Scan(&n))
		return n
	}
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(bfWait)
		for !ok() {
			require.False(t, time.Now().After(deadline), "%s: not within %v", what, bfWait)
			require.False(t, survivor.exited(), "%s exited:\n%s", survivor.name, survivor.tail(40))
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil("live fires", func() bool {
		return count(`SELECT count(*) FROM executions WHERE trigger_id = $1`, triggerID) >= int(bfLive/time.Second)
	})

	end := time.Now().Truncate(time.Second)
	start := end.Add(-bfSlots * time.Second)
	resp, err := client.BackfillDeployment(ctx, &pb.BackfillDeploymentRequest{
		DeploymentId: deploymentID, StartTime: timestamppb.New(start), EndTime: timestamppb.New(end),
		OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL,
	})
	require.NoError(t, err)
	id := resp.GetBackfill().GetBackfillId()
	require.EqualValues(t, bfSlots, resp.GetBackfill().GetPlannedSlots())
	// progress reads the backfill, and logs it once a second at most (the
	// progress the closing note shows).
	began := time.Now()
	var logged time.Time
	progress := func() *pb.Backfill {
		t.Helper()
		r, err := client.GetBackfill(ctx, &pb.GetBackfillRequest{BackfillId: id})
		require.NoError(t, err)
		b := r.GetBackfill()
		if time.Since(logged) >= time.Second || b.GetState() == pb.BackfillState_BACKFILL_STATE_COMPLETED {
			logged = time.Now()
			t.Logf("t+%v %s: planned %d, started %d, finished %d, skipped %d", time.Since(began).Round(time.Millisecond),
				b.GetState(), b.GetPlannedSlots(), b.GetStartedSlots(), b.GetFinishedSlots(), b.GetSkippedSlots())
		}
		return b
	}
	progress()

	// Halfway, while it holds a chunk, the second replica dies.
	waitUntil("halfway, with a chunk held by "+killed.name, func() bool {
		return progress().GetStartedSlots() >= bfSlots/2 && count(`SELECT count(*) FROM backfill_chunks
			WHERE backfill_id = $1 AND owner_instance = $2 AND done_at IS NULL AND lease_expires_at > now()`, id, killed.name) > 0
	})
	require.NoError(t, killed.cmd.Process.Signal(syscall.SIGKILL))
	require.True(t, killed.waitExit(eoExit), "%s did not die of SIGKILL", killed.name)
	t.Logf("t+%v: SIGKILL %s", time.Since(began).Round(time.Millisecond), killed.name)
	logged = time.Time{}
	progress()

	var done *pb.Backfill
	waitUntil("the backfill completes", func() bool {
		done = progress()
		return done.GetState() == pb.BackfillState_BACKFILL_STATE_COMPLETED
	})

	// Stop the live schedule and let every execution end, the dead
	// replica's adopted by the survivor.
	_, err = client.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: deploymentID, Status: pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED.Enum()})
	require.NoError(t, err)
	waitUntil("every execution ends", func() bool {
		return count(`SELECT count(*) FROM executions WHERE status IN ('PENDING', 'RUNNING')`) == 0
	})

	inRange := `FROM executions WHERE trigger_id = $1 AND scheduled_time >= $2 AND scheduled_time < $3`
	require.Equal(t, bfSlots, count(`SELECT count(DISTINCT scheduled_time) `+inRange, triggerID, start, end), "slots with an execution")
	require.Equal(t, bfSlots, count(`SELECT count(*) `+inRange, triggerID, start, end), "executions of the slots")
	require.Equal(t, bfSlots, count(`SELECT count(*) `+inRange+` AND status = 'SUCCEEDED'`, triggerID, start, end), "slots run to success")
	live := count(`SELECT count(*) `+inRange+` AND triggered_by LIKE 'cron:%'`, triggerID, start, end)
	require.Positive(t, live, "the range holds live fires")
	require.Equal(t, bfSlots-live, count(`SELECT count(*) `+inRange+` AND triggered_by = $4`, triggerID, start, end, "backfill:"+id))
	require.Equal(t, [3]int64{int64(bfSlots - live), int64(bfSlots - live), int64(live)},
		[3]int64{done.GetStartedSlots(), done.GetFinishedSlots(), done.GetSkippedSlots()}, "started, finished, skipped")

	report := eoCalls(t, "http://"+c.simHTTP+"/calls")
	require.Equal(t, count(`SELECT count(*) FROM executions WHERE status <> 'SKIPPED'`), report.Executions, "engine runs, one per execution")
	c.checkLogs()
}
