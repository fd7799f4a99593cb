package monitoring

import (
	"context"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/discard"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/health"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/shard"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/deployment"
	"github.com/workflow-runtime/workflow-runtime/service/scheduling"
)

// testNow is the injected clock.
var testNow = time.Date(2026, time.March, 14, 10, 17, 23, 0, time.UTC)

func definition() map[string]any {
	return map[string]any{
		"nodes":       []any{map[string]any{"id": "act", "name": "Act", "type": "ACTION"}},
		"connections": map[string]any{},
	}
}

func cronTrigger(expr string, window *int32) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: expr, JitterWindowSeconds: window}}
}

// fixture is a database with one deployment of every status and some
// executions, and a monitoring service over it.
type fixture struct {
	st      *postgres.Store
	sched   *scheduling.Scheduler
	checker *health.Checker
	svc     Service
	window  *Window
	cron    *workflow.Deployment
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	deps := deployment.New(st, deployment.Options{JitterWindow: 300 * time.Second})
	deploy := func(wid string, draft bool, triggers ...workflow.Trigger) *workflow.Deployment {
		d, err := deps.Deploy(ctx, deployment.DeployRequest{WorkflowID: wid, Definition: definition(), Triggers: triggers, Draft: draft})
		require.NoError(t, err)
		return d.Deployment
	}
	sixty := int32(60)
	f := &fixture{st: st}
	f.cron = deploy("cron", false, cronTrigger("*/5 * * * *", nil),
		workflow.Trigger{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "hooks/cron"}})
	deploy("own-window", false, cronTrigger("0 * * * *", &sixty))
	deploy("manual", false, workflow.Trigger{Type: workflow.TriggerManual})
	deploy("draft", true, cronTrigger("0 * * * *", nil))
	paused := deploy("paused", false, cronTrigger("0 * * * *", nil))
	st1 := workflow.StatusPaused
	_, err := deps.Update(ctx, deployment.UpdateRequest{DeploymentID: paused.ID, Status: &st1})
	require.NoError(t, err)
	archived := deploy("archived", false, cronTrigger("0 * * * *", nil))
	_, err = deps.Delete(ctx, deployment.DeleteRequest{DeploymentID: archived.ID})
	require.NoError(t, err)

	cronID := f.cron.Triggers[0].ID
	for i, e := range []struct {
		status workflow.ExecutionStatus
		ago    time.Duration
	}{
		{workflow.ExecutionSucceeded, 10 * time.Minute},
		{workflow.ExecutionSkipped, 15 * time.Minute},
		{workflow.ExecutionFailed, 20 * time.Minute},
		{workflow.ExecutionSucceeded, 3 * time.Hour},
		{workflow.ExecutionSucceeded, 25 * time.Hour},
	} {
		slot := testNow.Add(-e.ago).Truncate(5 * time.Minute).Add(-time.Duration(i) * 5 * time.Minute)
		ex := &workflow.Execution{
			WorkflowID: "cron", DeploymentID: f.cron.ID, DeploymentVersion: f.cron.Version, TriggerID: cronID,
			TriggerType: workflow.TriggerCron, Status: e.status, ScheduledTime: &slot, FiredTime: testNow.Add(-e.ago),
		}
		created, err := st.CreateExecution(ctx, ex)
		require.NoError(t, err)
		require.True(t, created)
	}
	created, err := st.CreateExecution(ctx, &workflow.Execution{WorkflowID: "manual", TriggerType: workflow.TriggerManual,
		Status: workflow.ExecutionPending, FiredTime: testNow.Add(-time.Minute)})
	require.NoError(t, err)
	require.True(t, created)

	sched := scheduling.New(st, func(context.Context, scheduling.Fire) error { return nil }, scheduling.Options{})
	require.NoError(t, sched.Start(ctx))
	t.Cleanup(func() { _ = sched.Stop(context.Background()) })

	f.window = NewWindow()
	f.window.now = func() time.Time { return testNow }
	opts.Window, opts.Now = f.window, func() time.Time { return testNow }
	f.sched = sched
	f.checker = health.NewChecker("v-test", time.Second,
		health.Dependency{Name: "database", Check: st.Ping, Critical: true},
		health.Dependency{Name: "redis"},
	)
	f.svc = New(st, sched, f.checker, opts)
	return f
}

// rowCounts counts what a read-only call must leave alone.
func (f *fixture) rowCounts(t *testing.T) [3]int {
	t.Helper()
	var n [3]int
	for i, table := range []string{"deployments", "deployment_events", "executions"} {
		require.NoError(t, f.st.DB().Get(&n[i], "SELECT count(*) FROM "+table))
	}
	return n
}

func TestService(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	f := newFixture(t, Options{InstanceID: "replica-a"})

	t.Run("DeploymentStats", func(t *testing.T) {
		got, err := f.svc.DeploymentStats(ctx, DeploymentStatsRequest{})
		require.NoError(t, err)
		require.Equal(t, workflow.DeploymentStats{
			ByStatus: map[workflow.DeploymentStatus]int64{
				workflow.StatusDeployed: 3, workflow.StatusDraft: 1, workflow.StatusPaused: 1, workflow.StatusArchived: 1,
			},
			Total: 6,
			// The archived deployment's trigger is left out; draft and paused count.
			TriggersByType: map[workflow.TriggerType]int64{workflow.TriggerCron: 4, workflow.TriggerWebhook: 1, workflow.TriggerManual: 1},
			// The execution fired 25 h ago is left out.
			ExecutionsByStatus: map[workflow.ExecutionStatus]int64{
				workflow.ExecutionSucceeded: 2, workflow.ExecutionSkipped: 1, workflow.ExecutionFailed: 1, workflow.ExecutionPending: 1,
			},
			UnfinishedByStatus: map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 1, workflow.ExecutionRunning: 0},
		}, got)
	})

	t.Run("DeploymentStats since a time", func(t *testing.T) {
		got, err := f.svc.DeploymentStats(ctx, DeploymentStatsRequest{StartTime: testNow.Add(-12 * time.Minute)})
		require.NoError(t, err)
		require.Equal(t, map[workflow.ExecutionStatus]int64{workflow.ExecutionSucceeded: 1, workflow.ExecutionPending: 1}, got.ExecutionsByStatus,
			"the executions fired in the last 12 minutes")
		require.Equal(t, map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 1, workflow.ExecutionRunning: 0}, got.UnfinishedByStatus,
			"unfinished counts ignore the start")
	})

	t.Run("SchedulingMetrics", func(t *testing.T) {
		// Misfires are the cluster's, from the database: another replica's
		// count here as this one's.
		require.NoError(t, f.st.RecordMissedSlots(ctx, workflow.MissedSlots{TriggerID: f.cron.Triggers[0].ID, DeploymentID: f.cron.ID,
			From: testNow.Add(-time.Hour), To: testNow.Add(-55 * time.Minute), Count: 2, Reason: workflow.MissedOutsideCatchupWindow,
			RecordedAt: testNow.Add(-time.Minute)}))
		f.window.Duplicates(discard.NewCounter()).Add(1)
		f.window.Lag(discard.NewHistogram()).Observe(0.004)
		got, err := f.svc.SchedulingMetrics(ctx, SchedulingMetricsRequest{})
		require.NoError(t, err)
		require.Equal(t, int64(2), got.ScheduledTriggers, "the DEPLOYED cron triggers")
		require.Equal(t, int64(3), got.Fires, "cron executions of the last hour; the manual one is not a fire")
		require.Equal(t, int64(1), got.SkippedOverlap)
		require.Equal(t, int64(2), got.Misfires)
		require.Equal(t, int64(1), got.Deduplicated)
		require.Equal(t, 4.0, got.LagMaxMS)
		require.InEpsilon(t, 4, got.LagP50MS, 0.05)
		require.Equal(t, "replica-a", got.InstanceID)

		got, err = f.svc.SchedulingMetrics(ctx, SchedulingMetricsRequest{EndTime: testNow.Add(-time.Hour)})
		require.NoError(t, err)
		require.Equal(t, []int64{0, 0, 0}, []int64{got.Fires, got.Misfires, got.Deduplicated}, "the hour before the last")
		got, err = f.svc.SchedulingMetrics(ctx, SchedulingMetricsRequest{StartTime: testNow.Add(-4 * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, int64(4), got.Fires, "from a start to now")
	})

	t.Run("JitterDistribution", func(t *testing.T) {
		got, err := f.svc.JitterDistribution(ctx, JitterRequest{})
		require.NoError(t, err)
		require.Equal(t, int32(300), got.WindowSeconds)
		require.Len(t, got.Buckets, 10)
		// Only "cron" is DEPLOYED with the service's window.
		require.Equal(t, int64(1), got.Total)
		offset := int32(cron.JitterSeconds("cron", 300))
		for _, b := range got.Buckets {
			want := int64(0)
			if offset >= b.StartSecond && offset < b.StartSecond+30 {
				want = 1
			}
			require.Equal(t, want, b.Count, "bucket at %d", b.StartSecond)
		}
		require.InDelta(t, 9, got.ChiSquare, 1e-9, "one in ten buckets: 9·0.1 + 0.9²/0.1")
		require.InDelta(t, ChiSquareSurvival(9, 9), got.PValue, 1e-15)

		got, err = f.svc.JitterDistribution(ctx, JitterRequest{BucketSeconds: 300})
		require.NoError(t, err)
		require.Equal(t, []JitterBucket{{0, 1}}, got.Buckets)
		require.Equal(t, 1.0, got.PValue)
	})

	t.Run("LoadDistribution", func(t *testing.T) {
		start := time.Date(2026, time.March, 14, 11, 0, 0, 0, time.UTC)
		got, err := f.svc.LoadDistribution(ctx, LoadRequest{StartTime: start, BucketSeconds: 600})
		require.NoError(t, err)
		require.Len(t, got.Buckets, 6)
		var with, without int64
		for _, b := range got.Buckets {
			with += b.FiresWithJitter
			without += b.FiresWithoutJitter
		}
		// "cron" fires 12 times an hour, "own-window" once.
		require.Equal(t, int64(13), without)
		require.Equal(t, int64(13), with)
		require.Equal(t, int64(2), got.PeakPerSecondWithoutJitter, "both fire at 11:00:00 nominally")
		require.Equal(t, int64(1), got.PeakPerSecondWithJitter)
		require.Equal(t, start, got.Buckets[0].Start)

		got, err = f.svc.LoadDistribution(ctx, LoadRequest{})
		require.NoError(t, err)
		require.Len(t, got.Buckets, 60, "the next hour from now, by minute")
	})

	t.Run("SystemHealth", func(t *testing.T) {
		got, err := f.svc.SystemHealth(ctx, SystemHealthRequest{})
		require.NoError(t, err)
		require.Equal(t, health.StatusHealthy, got.Status)
		require.Equal(t, "v-test", got.Version)
		require.Equal(t, health.StatusHealthy, got.Dependencies["database"].Status)
		require.Positive(t, got.Dependencies["database"].LatencyMS)
		require.Equal(t, health.StatusDisabled, got.Dependencies["redis"].Status)
		require.Equal(t, []string{"replica-a"}, got.LiveInstances, "without Redis only this replica")
		require.Equal(t, int64(0), got.UptimeSeconds)
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		before := f.rowCounts(t)
		for name, call := range map[string]func() error{
			"end before start": func() error {
				_, err := f.svc.SchedulingMetrics(ctx, SchedulingMetricsRequest{StartTime: testNow, EndTime: testNow.Add(-time.Second)})
				return err
			},
			"negative jitter bucket": func() error {
				_, err := f.svc.JitterDistribution(ctx, JitterRequest{BucketSeconds: -1})
				return err
			},
			"jitter bucket over the window": func() error {
				_, err := f.svc.JitterDistribution(ctx, JitterRequest{BucketSeconds: 301})
				return err
			},
			"load range over a day": func() error {
				_, err := f.svc.LoadDistribution(ctx, LoadRequest{StartTime: testNow, EndTime: testNow.Add(25 * time.Hour)})
				return err
			},
			"load bucket negative": func() error {
				_, err := f.svc.LoadDistribution(ctx, LoadRequest{BucketSeconds: -60})
				return err
			},
		} {
			err := call()
			require.Error(t, err, name)
			require.Equal(t, errors.Invalid, errors.KindOf(err), "%s: %v", name, err)
		}
		require.Equal(t, before, f.rowCounts(t))
	})

	t.Run("store unavailable", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := f.svc.DeploymentStats(cctx, DeploymentStatsRequest{})
		require.Equal(t, errors.Unavailable, errors.KindOf(err), "%v", err)
		_, err = f.svc.SchedulingMetrics(cctx, SchedulingMetricsRequest{})
		require.Equal(t, errors.Unavailable, errors.KindOf(err), "%v", err)
		_, err = f.svc.JitterDistribution(cctx, JitterRequest{})
		require.Equal(t, errors.Unavailable, errors.KindOf(err), "%v", err)
		_, err = f.svc.LoadDistribution(cctx, LoadRequest{})
		require.Equal(t, errors.Unavailable, errors.KindOf(err), "%v", err)
	})

	t.Run("store failure", func(t *testing.T) {
		closed, err := postgres.Open(ctx, pgtest.NewDatabase(t), 4)
		require.NoError(t, err)
		require.NoError(t, closed.Close())
		_, err = New(closed, f.sched, f.checker, Options{}).DeploymentStats(ctx, DeploymentStatsRequest{})
		require.Equal(t, errors.Internal, errors.KindOf(err), "%v", err)
	})
}

// shardedScheduler is the fixture's scheduler as a sharded replica's reads.
type shardedScheduler struct{ Scheduler }

func (shardedScheduler) Mode() string { return "sharded" }

func TestSystemHealthLiveReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	key := prefix + "replicas"
	a, b := lock.NewReplicas(rdb, key, "replica-a"), lock.NewReplicas(rdb, key, "replica-b")
	require.NoError(t, b.Beat(ctx))
	f := newFixture(t, Options{InstanceID: "replica-a", Replicas: a})
	got, err := f.svc.SystemHealth(ctx, SystemHealthRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"replica-a", "replica-b"}, got.LiveInstances, "this replica counts before its first beat")
	require.Equal(t, "all", got.CronMode, "a scheduler without a membership fires everything")
	require.Equal(t, []ReplicaOwnership{{"replica-a", 2}, {"replica-b", 2}}, got.Replicas, "unsharded, every replica fires both triggers")

	// Sharded, the two DEPLOYED cron triggers are each counted for their owner.
	cts, err := f.st.ListCronTriggers(ctx, "")
	require.NoError(t, err)
	require.Len(t, cts, 2)
	want := map[string]int64{}
	for _, ct := range cts {
		want[shard.Owner(ct.TriggerID, got.LiveInstances)]++
	}
	got, err = New(f.st, shardedScheduler{f.sched}, f.checker, Options{InstanceID: "replica-a", Replicas: a}).SystemHealth(ctx, SystemHealthRequest{})
	require.NoError(t, err)
	require.Equal(t, "sharded", got.CronMode)
	require.Equal(t, []ReplicaOwnership{{"replica-a", want["replica-a"]}, {"replica-b", want["replica-b"]}}, got.Replicas)

	// With Redis gone the list falls back to this replica.
	addr, stop := redistest.Private(t)
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	gone := lock.NewReplicas(client, key, "replica-c")
	stop()
	svc := New(f.st, f.sched, f.checker, Options{InstanceID: "replica-c", Replicas: gone})
	got, err = svc.SystemHealth(ctx, SystemHealthRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"replica-c"}, got.LiveInstances)
	require.Equal(t, []ReplicaOwnership{{"replica-c", 2}}, got.Replicas, "without the live set this replica fires every trigger")
}
