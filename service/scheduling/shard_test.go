package scheduling

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/generic"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/fanout"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/shard"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestShardedReplicasShareTriggers runs three sharded schedulers over one
// database and Redis, their recorders wired to the slot lock as the
// service wires them: the owners' fires take no lock, so that the ownership
// alone keeps fires apart: each holds the triggers the owner function gives it,
// a deploy announced by one is held by its owner only, and when one leaves
// the others take its triggers and catch its slots up (policy ALL). Every
// slot due in the run has exactly one execution, and at most a stray fire
// found its slot taken.
func TestShardedReplicasShareTriggers(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis; runs about 12 s")
	}
	ctx := context.Background()
	st := pgtest.NewStore(t)
	rdb, prefix := redistest.New(t)
	const every = "* * * * * ?"
	window := int32(1)
	deploy := func(i int) workflow.CronTrigger {
		d := &workflow.Deployment{
			WorkflowID: fmt.Sprintf("wf-shard-%02d", i), Status: workflow.StatusDeployed, Version: 1,
			Definition: []byte(`{"nodes": []}`),
			Triggers: []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{
				Expression: every, JitterWindowSeconds: &window, CatchupPolicy: workflow.CatchupAll}}},
		}
		require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
		list, err := st.ListCronTriggers(ctx, d.ID)
		require.NoError(t, err)
		return list[0]
	}
	var cts []workflow.CronTrigger
	for i := range 30 {
		cts = append(cts, deploy(i))
	}

	duplicates := generic.NewCounter("duplicates")
	type replica struct {
		id    string
		sched *Scheduler
		m     *shard.Membership
	}
	start := func(id string) replica {
		r := lock.NewReplicas(rdb, prefix+"replicas", id)
		r.SetTiming(250*time.Millisecond, 1500*time.Millisecond)
		m, err := shard.NewMembership(r, id, nil, nil)
		require.NoError(t, err)
		rec := &Recorder{Store: st, Locker: lock.NewSlots(rdb), KeyPrefix: prefix, Duplicates: duplicates}
		t.Cleanup(func() { _ = rec.Stop(context.Background()) })
		s := New(st, rec.Record, Options{Broadcaster: fanout.NewRedis(rdb, prefix+"events"), Membership: m,
			ResyncInterval: time.Second, Slots: st, CatchUps: st, InstanceID: id, CatchupLease: time.Second})
		require.NoError(t, m.Start(ctx))
		require.NoError(t, s.Start(ctx))
		t.Cleanup(func() {
			_ = s.Stop(context.Background())
			_ = m.Stop(context.Background())
		})
		return replica{id: id, sched: s, m: m}
	}
	begin := time.Now()
	all := []replica{start("r1"), start("r2"), start("r3")}
	ids := []string{"r1", "r2", "r3"}
	settled := func(rs []replica, live []string) func() bool {
		return func() bool {
			for _, r := range rs {
				want := 0
				for _, ct := range cts {
					if shard.Owner(ct.TriggerID, live) == r.id {
						want++
					}
				}
				if r.sched.Mode() != "sharded" || r.sched.Held() != want {
					return false
				}
			}
			return true
		}
	}
	require.Eventually(t, settled(all, ids), 5*time.Second, 20*time.Millisecond, "each replica holds what it owns")

	// A deploy announced by one replica is held by its owner alone.
	ct := deploy(30)
	cts = append(cts, ct)
	require.NoError(t, all[0].sched.DeploymentChanged(ctx, &workflow.Deployment{ID: ct.DeploymentID}))
	require.Eventually(t, settled(all, ids), 5*time.Second, 20*time.Millisecond, "the new trigger reached its owner")

	<-time.After(3 * time.Second)
	// r3 stops as a SIGTERM stops it: the scheduler, then the heartbeat.
	require.NoError(t, all[2].sched.Stop(ctx))
	require.NoError(t, all[2].m.Stop(ctx))
	require.Eventually(t, settled(all[:2], ids[:2]), 5*time.Second, 20*time.Millisecond, "r3's triggers went to the others")
	end := time.Now().Add(2 * time.Second)
	// The catch-up of r3's slots runs one a second after the take-over.
	<-time.After(6 * time.Second)
	for _, r := range all[:2] {
		require.NoError(t, r.sched.Stop(ctx))
	}

	recorded := map[string]int{}
	rows, err := st.DB().QueryContext(ctx, `SELECT trigger_id, scheduled_time, count(*) FROM executions GROUP BY 1, 2`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var trigger string
		var slot time.Time
		var n int
		require.NoError(t, rows.Scan(&trigger, &slot, &n))
		recorded[trigger+"@"+slot.UTC().Format(time.RFC3339Nano)] = n
	}
	require.NoError(t, rows.Err())
	sched, err := cron.Parse(every)
	require.NoError(t, err)
	var due atomic.Int64
	for _, ct := range cts[:30] {
		trig := cron.NewTrigger(sched, time.UTC, ct.WorkflowID, time.Second, cron.Rules{})
		for after := begin.Add(time.Second); ; {
			slot, at, err := trig.NextFire(after)
			require.NoError(t, err)
			if at.After(end) {
				break
			}
			due.Add(1)
			if n := recorded[ct.TriggerID+"@"+slot.UTC().Format(time.RFC3339Nano)]; n != 1 {
				var missed []string
				require.NoError(t, st.DB().SelectContext(ctx, &missed, `SELECT reason FROM missed_slots WHERE trigger_id = $1`, ct.TriggerID))
				t.Errorf("trigger %s (owner among 3: %s) slot %s: %d executions; missed runs %v", ct.TriggerID,
					shard.Owner(ct.TriggerID, ids), slot.Format(time.RFC3339), n, missed)
			}
			after = at
		}
	}
	require.Greater(t, due.Load(), int64(30*2))
	// Ownership keeps the replicas apart; under load a late beat fences a
	// replica, and a fire of its in flight at that moment may be fired
	// again by the catch-up of the trigger's next holder: the slot key keeps
	// it to one run, as the rows above show.
	require.LessOrEqual(t, duplicates.Value(), 2.0, "fires that found their slot taken")
	locks, err := rdb.Keys(ctx, prefix+"slot:*").Result()
	require.NoError(t, err)
	require.Empty(t, locks, "an owner's fires take no slot lock")
}
