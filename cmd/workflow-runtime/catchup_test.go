//go:build multiprocess

package main

import (
	"context"
	"database/sql"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// The scenario of TestCatchUpAcrossReplicas.
const (
	// cuWindow is the deployment's catch-up window, in seconds, and
	// cuOutage how long every replica is down: the slots of the first
	// cuOutage-cuWindow seconds are older than the window when a replica
	// comes back.
	cuWindow = 12
	cuOutage = 20 * time.Second
	cuLease  = "2s"
	cuWait   = 60 * time.Second
)

// TestCatchUpAcrossReplicas runs engine-sim and two workflow-runtime
// replicas as processes over one PostgreSQL database and Redis, deploys a
// per-second cron workflow under CATCHUP_POLICY_ALL, and stops both
// replicas for an outage longer than the catch-up window. They come back
// three seconds apart; the first plans the catch-up and, a few slots into
// it, is SIGKILLed; the second takes the plan over when its lease runs out.
// It checks in SQL that every slot from the first fire to the pause ran
// once or is MISSED with its reason (the outage's older slots
// OUTSIDE_CATCHUP_WINDOW), never both, none doubled, none unrecorded.
//
// Build tag multiprocess: it builds the binaries (with -race when the test
// has it) and needs PostgreSQL and Redis.
func TestCatchUpAcrossReplicas(t *testing.T) {
	// Parallel with the other multi-process tests: its database, Redis
	// prefix, ports and directories are its own, and its replicas' pools
	// are small (eoEnv).
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL and Redis")
	}
	c := newCluster(t, "catchup", map[string]string{
		"ENGINE_SIM_MIN_DURATION": "20ms", "ENGINE_SIM_MAX_DURATION": "100ms", "ENGINE_SIM_SEED": "1",
	})
	start := func(name string) (*eoProc, string) {
		return c.replica(name, map[string]string{"WFR_LEASE": cuLease, "WFR_RESYNC_INTERVAL": "1s", "WFR_SHUTDOWN_TIMEOUT": "5s"})
	}
	stop := func(p *eoProc) {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		require.True(t, p.waitExit(eoExit), "%s did not stop", p.name)
	}
	r1, addr := start("replica-1")
	r2, _ := start("replica-2")

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewWorkflowRuntimeServiceClient(conn)
	ctx := context.Background()
	def, err := structpb.NewStruct(map[string]any{"name": "catch-up", "nodes": []any{map[string]any{"id": "a", "name": "Act", "type": "ACTION"}}})
	require.NoError(t, err)
	noJitter := int32(0)
	dep, err := client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: "catch-me-up", WorkflowDefinition: def,
		Config: &pb.DeploymentConfig{CatchupWindowSeconds: cuWindow, OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL},
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "* * * * * *", Timezone: "UTC",
			JitterWindowSeconds: &noJitter, CatchupPolicy: pb.CatchupPolicy_CATCHUP_POLICY_ALL}}},
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
		deadline := time.Now().Add(cuWait)
		for !ok() {
			require.False(t, time.Now().After(deadline), "%s: not within %v", what, cuWait)
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil("live fires", func() bool {
		return count(`SELECT count(*) FROM executions WHERE trigger_id = $1`, triggerID) >= 3
	})

	// Every replica goes down; they come back three seconds apart.
	stop(r1)
	stop(r2)
	down := time.Now()
	time.Sleep(cuOutage)
	back := time.Now()
	r1, _ = start("replica-1b")
	time.Sleep(3 * time.Second)
	_, addr = start("replica-2b")
	t.Logf("down %v, back at +%v and +%v", down.Format(time.RFC3339), back.Sub(down).Round(time.Millisecond), time.Since(down).Round(time.Millisecond))

	// A few slots into its catch-up, the first one back dies. Its plan is
	// known by its start: it need not be the trigger's first, as a replica
	// that loaded the trigger more than a slot after the deploy (on a
	// loaded host) planned the slots in between.
	var deadPlan time.Time
	waitUntil("replica-1b's catch-up under way", func() bool {
		err := db.QueryRowContext(ctx, `SELECT after_slot FROM catchups WHERE trigger_id = $1 AND owner_instance = 'replica-1b'
			AND done_at IS NULL AND fired >= 3 ORDER BY after_slot LIMIT 1`, triggerID).Scan(&deadPlan)
		if errors.Is(err, sql.ErrNoRows) {
			return false
		}
		require.NoError(t, err)
		return true
	})
	require.NoError(t, r1.cmd.Process.Signal(syscall.SIGKILL))
	require.True(t, r1.waitExit(eoExit), "replica-1b did not die of SIGKILL")
	require.Positive(t, count(`SELECT count(*) FROM catchups WHERE trigger_id = $1 AND done_at IS NULL`, triggerID),
		"precondition: the catch-up was not done when its holder died")
	waitUntil("the catch-up is taken over and done", func() bool {
		return count(`SELECT count(*) FROM catchups WHERE trigger_id = $1 AND done_at IS NULL`, triggerID) == 0
	})
	// The dead one's plan is the survivor's now. The survivor may have
	// planned a few slots of its own after it, when it came back before the
	// dead one's live fires of them were recorded.
	if !assert.Equal(t, 1, count(`SELECT count(*) FROM catchups WHERE trigger_id = $1 AND after_slot = $2
		AND owner_instance = 'replica-2b' AND done_at IS NOT NULL`, triggerID, deadPlan),
		"the survivor finished the plan") {
		logCatchUps(t, db, triggerID)
		t.FailNow()
	}

	// Stop the live schedule; the survivor confirms the slots the dead one
	// locked and did not record (ConfirmAfter), and every slot up to the
	// pause is then accounted for.
	conn2, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn2.Close()
	_, err = pb.NewWorkflowRuntimeServiceClient(conn2).UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: deploymentID,
		Status: pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED.Enum()})
	require.NoError(t, err)
	var first, last time.Time
	require.NoError(t, db.QueryRowContext(ctx, `SELECT min(scheduled_time), max(scheduled_time) FROM executions WHERE trigger_id = $1`,
		triggerID).Scan(&first, &last))
	// outcomes lists, per slot from the first fire to the last, its
	// executions and the reasons of the missed runs that hold it.
	type outcome struct {
		runs    int
		reasons []string
	}
	outcomes := func() map[time.Time]*outcome {
		out := map[time.Time]*outcome{}
		for s := first; !s.After(last); s = s.Add(time.Second) {
			out[s.UTC()] = &outcome{}
		}
		rows, err := db.QueryContext(ctx, `SELECT scheduled_time FROM executions WHERE trigger_id = $1`, triggerID)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var s time.Time
			require.NoError(t, rows.Scan(&s))
			if o := out[s.UTC()]; o != nil {
				o.runs++
			}
		}
		require.NoError(t, rows.Err())
		mrows, err := db.QueryContext(ctx, `SELECT from_slot, to_slot, reason FROM missed_slots WHERE trigger_id = $1`, triggerID)
		require.NoError(t, err)
		defer mrows.Close()
		for mrows.Next() {
			var from, to time.Time
			var reason string
			require.NoError(t, mrows.Scan(&from, &to, &reason))
			for s := from; !s.After(to); s = s.Add(time.Second) {
				if o := out[s.UTC()]; o != nil {
					o.reasons = append(o.reasons, reason)
				}
			}
		}
		require.NoError(t, mrows.Err())
		return out
	}
	waitUntil("every slot accounted for", func() bool {
		for _, o := range outcomes() {
			if o.runs+len(o.reasons) == 0 {
				return false
			}
		}
		return true
	})
	var ran, outside int
	for s, o := range outcomes() {
		require.Equal(t, 1, o.runs+len(o.reasons), "slot %s: %d runs, missed %v", s.Format(time.RFC3339), o.runs, o.reasons)
		ran += o.runs
		if len(o.reasons) == 1 && o.reasons[0] == "OUTSIDE_CATCHUP_WINDOW" {
			outside++
		}
	}
	// The outage ends when the first replica back plans the catch-up, not
	// when it was started: its start takes seconds on a loaded host, and the
	// window counts back from the plan.
	var planned time.Time
	require.NoError(t, db.QueryRowContext(ctx, `SELECT created_at FROM catchups WHERE trigger_id = $1 AND after_slot = $2`,
		triggerID, deadPlan).Scan(&planned))
	caughtUp := count(`SELECT count(*) FROM executions WHERE trigger_id = $1 AND scheduled_time > $2 AND scheduled_time <= $3`, triggerID, down, planned)
	t.Logf("catch-up planned %v after the replica was started", planned.Sub(back).Round(time.Millisecond))
	t.Logf("slots %s..%s: %d ran (%d of the outage caught up), %d older than the window", first.Format(time.RFC3339), last.Format(time.RFC3339), ran, caughtUp, outside)
	require.GreaterOrEqual(t, outside, int(cuOutage/time.Second)-cuWindow-2, "the outage's older slots are OUTSIDE_CATCHUP_WINDOW")
	require.GreaterOrEqual(t, caughtUp, cuWindow-2, "the outage's slots inside the window ran")
	c.checkLogs()
}

// logCatchUps writes the catch-up plans of trigger triggerID.
func logCatchUps(t *testing.T, db *sql.DB, triggerID string) {
	t.Helper()
	rows, err := db.Query(`SELECT after_slot, last_slot, owner_instance, fired, fire_count, done_at IS NOT NULL, created_at
		FROM catchups WHERE trigger_id = $1 ORDER BY after_slot`, triggerID)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var (
			after, last, created time.Time
			owner                string
			fired, fires         int
			done                 bool
		)
		require.NoError(t, rows.Scan(&after, &last, &owner, &fired, &fires, &done, &created))
		t.Logf("catch-up after %s to %s: owner %s, fired %d of %d, done %v, planned %s",
			after.Format(time.RFC3339), last.Format(time.RFC3339), owner, fired, fires, done, created.Format(time.RFC3339Nano))
	}
	require.NoError(t, rows.Err())
}
