package scheduling

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/fanout"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestTwoReplicasFireEverySlotOnce runs two schedulers against one database
// and one Redis: 50 deployments fire every second with a 2 s jitter window
// for 15 s, and every slot due in that time has exactly one execution row.
func TestTwoReplicasFireEverySlotOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis; runs 15 s")
	}
	ctx := context.Background()
	st := pgtest.NewStore(t)
	rdb, prefix := redistest.New(t)

	const deployments, every = 50, "* * * * * ?"
	window := int32(2)
	var cts []workflow.CronTrigger
	for i := range deployments {
		d := &workflow.Deployment{
			WorkflowID: fmt.Sprintf("wf-every-second-%02d", i), Status: workflow.StatusDeployed, Version: 1,
			Definition: []byte(`{"nodes": []}`),
			Triggers:   []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: every, JitterWindowSeconds: &window}}},
		}
		require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
		list, err := st.ListCronTriggers(ctx, d.ID)
		require.NoError(t, err)
		cts = append(cts, list...)
	}

	// The replicas' logs, shown if the test fails: a run once found no
	// slot recorded by either for its last 9 s, and nothing to say why.
	var logs logtest.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replicas' logs:\n%s", logs.String())
		}
	})
	replica := func(name string) *Scheduler {
		logger := log.With(log.NewLogfmtLogger(&logs), "ts", log.DefaultTimestampUTC, "replica", name)
		rec := &Recorder{Store: st, Locker: lock.NewSlots(rdb), KeyPrefix: prefix, Logger: logger}
		// Its confirmations of slots the other replica took would fire after
		// the test, on a closed Redis client.
		t.Cleanup(func() { _ = rec.Stop(context.Background()) })
		return New(st, rec.Record, Options{Broadcaster: fanout.NewRedis(rdb, prefix+"events"), ResyncInterval: time.Second, Logger: logger})
	}
	a, b := replica("a"), replica("b")
	start := time.Now()
	require.NoError(t, a.Start(ctx))
	require.NoError(t, b.Start(ctx))
	<-time.After(15 * time.Second)
	end := time.Now()
	require.NoError(t, a.Stop(context.Background()))
	require.NoError(t, b.Stop(context.Background()))

	rows, err := st.DB().QueryContext(ctx, `SELECT trigger_id, scheduled_time, count(*) FROM executions GROUP BY 1, 2`)
	require.NoError(t, err)
	defer rows.Close()
	recorded := map[string]int{}
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
	expected, missing := 0, 0
	for _, ct := range cts {
		trig := cron.NewTrigger(sched, time.UTC, ct.WorkflowID, time.Duration(window)*time.Second, cron.Rules{})
		// Fires due well inside the run: the first and last second belong to start-up and stop.
		for after := start.Add(time.Second); ; {
			slot, at, err := trig.NextFire(after)
			require.NoError(t, err)
			if at.After(end.Add(-time.Second)) {
				break
			}
			expected++
			switch n := recorded[ct.TriggerID+"@"+slot.UTC().Format(time.RFC3339Nano)]; n {
			case 0:
				missing++
				t.Errorf("trigger %s: slot %s (due %s) has no execution", ct.TriggerID, slot.Format(time.RFC3339), at.Format(time.RFC3339Nano))
			case 1:
			default:
				t.Errorf("trigger %s: slot %s has %d executions", ct.TriggerID, slot.Format(time.RFC3339), n)
			}
			after = at
		}
	}
	t.Logf("%d deployments, 2 replicas, %.1f s: %d slots due, %d missing, %d rows in all", deployments, end.Sub(start).Seconds(), expected, missing, len(recorded))
	require.Greater(t, expected, deployments*12)
}

// TestChangesReachOtherReplicas: a change one replica is told about reaches
// the other through Redis at once, long before its resync.
func TestChangesReachOtherReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	ctx := context.Background()
	st := pgtest.NewStore(t)
	rdb, prefix := redistest.New(t)
	replica := func() *Scheduler {
		s := New(st, func(context.Context, Fire) error { return nil },
			Options{Broadcaster: fanout.NewRedis(rdb, prefix+"events"), ResyncInterval: time.Hour})
		require.NoError(t, s.Start(ctx))
		t.Cleanup(func() { _ = s.Stop(context.Background()) })
		return s
	}
	a, b := replica(), replica()

	d := &workflow.Deployment{WorkflowID: "wf-fanout", Status: workflow.StatusDeployed, Version: 1, Definition: []byte(`{"nodes": []}`),
		Triggers: []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "@hourly"}}}}
	require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	// The subscription starts asynchronously: announce until the other replica holds the trigger.
	require.Eventually(t, func() bool {
		require.NoError(t, a.DeploymentChanged(ctx, d))
		return b.Held() == 1
	}, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, 1, a.Held())

	_, err := st.UpdateDeployment(ctx, d.ID, func(cur *workflow.Deployment) (workflow.Event, error) {
		cur.Status, cur.Version = workflow.StatusPaused, cur.Version+1
		return workflow.Event{Action: workflow.ActionPause}, nil
	})
	require.NoError(t, err)
	require.NoError(t, a.DeploymentChanged(ctx, d))
	require.Zero(t, a.Held())
	require.Eventually(t, func() bool { return b.Held() == 0 }, 5*time.Second, 10*time.Millisecond, "the pause never reached the other replica")
}

// TestRestart: a stopped scheduler starts again with every trigger.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	st := pgtest.NewStore(t)
	d := &workflow.Deployment{WorkflowID: "wf-restart", Status: workflow.StatusDeployed, Version: 1, Definition: []byte(`{"nodes": []}`),
		Triggers: []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "@daily"}}}}
	require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	s := New(st, func(context.Context, Fire) error { return nil }, Options{})
	for range 2 {
		require.NoError(t, s.Start(ctx))
		require.Equal(t, 1, s.Held())
		require.NoError(t, s.Stop(context.Background()))
		require.Zero(t, s.Held())
	}
	require.NoError(t, s.Stop(context.Background()))
}
