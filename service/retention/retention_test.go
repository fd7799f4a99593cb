package retention_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	kitprometheus "github.com/go-kit/kit/metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/retention"
)

// now is the tests' present.
var now = time.Date(2026, time.November, 2, 12, 0, 0, 0, time.UTC)

const month = 30 * 24 * time.Hour

type testStore interface {
	store.Store
	store.SlotStore
	store.RetentionStore
}

// stores are the two databases each test runs on.
var stores = map[string]func(t *testing.T) testStore{
	"postgres": func(t *testing.T) testStore { return pgtest.NewStore(t) },
	"sqlite": func(t *testing.T) testStore {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wfr.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	},
}

func deploy(t *testing.T, st store.Store) *workflow.Deployment {
	t.Helper()
	d := &workflow.Deployment{WorkflowID: "wf", Status: workflow.StatusDeployed, Version: 1,
		Definition: []byte(`{"name": "w", "nodes": [], "connections": {}}`),
		Triggers: []workflow.Trigger{
			{Type: workflow.TriggerManual, Enabled: true},
			{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "* * * * *", Timezone: "UTC"}},
		}}
	require.NoError(t, st.CreateDeployment(context.Background(), d, workflow.Event{Action: workflow.ActionDeploy, Actor: "test"}))
	return d
}

// executions creates n executions of d in status, fired at fired and a
// second apart before it, and returns their ids.
func executions(t *testing.T, st store.Store, d *workflow.Deployment, n int, status workflow.ExecutionStatus, fired time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		e := &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
			TriggerType: workflow.TriggerManual, Status: status, FiredTime: fired.Add(-time.Duration(i) * time.Second)}
		created, err := st.CreateExecution(context.Background(), e)
		require.NoError(t, err)
		require.True(t, created)
		ids[i] = e.ID
	}
	return ids
}

// kept returns those of ids that are still stored.
func kept(t *testing.T, st store.Store, ids []string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		_, err := st.GetExecution(context.Background(), id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		require.NoError(t, err)
		out = append(out, id)
	}
	return out
}

func missed(t *testing.T, st store.SlotStore, d *workflow.Deployment, to time.Time) {
	t.Helper()
	require.NoError(t, st.RecordMissedSlots(context.Background(), workflow.MissedSlots{
		TriggerID: d.Triggers[1].ID, DeploymentID: d.ID, From: to.Add(-time.Minute), To: to, Count: 2,
		Reason: workflow.MissedReplicaDown, RecordedAt: to}))
}

type testMetrics struct {
	removed  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics() (retention.Metrics, testMetrics) {
	m := testMetrics{
		removed:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "removed_total", Help: "Rows removed."}, []string{"table"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pass_duration_seconds", Help: "Pass durations."}, nil),
	}
	return retention.Metrics{Removed: kitprometheus.NewCounter(m.removed), PassDuration: kitprometheus.NewHistogram(m.duration)}, m
}

// TestPass: a pass removes the finished executions and the missed runs
// older than the retention, by the Remover's clock, in batches, and counts
// them; it keeps the unfinished and the young, which a later pass removes
// once they are old.
func TestPass(t *testing.T) {
	t.Parallel()
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			d := deploy(t, st)
			old := executions(t, st, d, 250, workflow.ExecutionSucceeded, now.Add(-month-time.Hour))
			unfinished := append(executions(t, st, d, 2, workflow.ExecutionPending, now.Add(-2*month)),
				executions(t, st, d, 1, workflow.ExecutionRunning, now.Add(-3*month))...)
			young := executions(t, st, d, 3, workflow.ExecutionFailed, now.Add(-month+24*time.Hour))
			missed(t, st, d, now.Add(-month-time.Hour))
			missed(t, st, d, now.Add(-time.Hour))

			fake := clock.NewFake(now)
			metrics, m := newMetrics()
			r := retention.New(st, retention.Options{InstanceID: "r1", Retention: month, Batch: retention.MinBatch,
				Pause: time.Millisecond, Now: fake.Now, Metrics: metrics})
			res, err := r.Pass(ctx)
			require.NoError(t, err)
			require.True(t, res.Held)
			require.Equal(t, int64(250), res.Executions, "three batches and more")
			require.Equal(t, int64(1), res.MissedSlots)
			require.Empty(t, kept(t, st, old))
			require.Equal(t, unfinished, kept(t, st, unfinished), "PENDING and RUNNING stay, however old")
			require.Equal(t, young, kept(t, st, young))
			got, err := st.ListMissedSlots(ctx, d.Triggers[1].ID, now.Add(-3*month), now)
			require.NoError(t, err)
			require.Len(t, got, 1)
			require.Equal(t, 250.0, counterValue(t, m.removed.WithLabelValues("executions")))
			require.Equal(t, 1.0, counterValue(t, m.removed.WithLabelValues("missed_slots")))

			res, err = r.Pass(ctx)
			require.NoError(t, err)
			require.Equal(t, retention.Result{Held: true, Duration: res.Duration}, res, "nothing left to remove")

			// Two days on, the young ones are old too.
			fake.Advance(48 * time.Hour)
			res, err = r.Pass(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(3), res.Executions)
			require.Empty(t, kept(t, st, young))
			require.Equal(t, unfinished, kept(t, st, unfinished))
			require.Equal(t, uint64(3), histogramCount(t, m.duration), "every pass is timed")
		})
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var out dto.Metric
	require.NoError(t, c.Write(&out))
	return out.GetCounter().GetValue()
}

func histogramCount(t *testing.T, h *prometheus.HistogramVec) uint64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	h.Collect(ch)
	var out dto.Metric
	require.NoError(t, (<-ch).Write(&out))
	return out.GetHistogram().GetSampleCount()
}

// TestKeepEverything: a retention of 0 removes nothing, and Start starts
// nothing.
func TestKeepEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := stores["sqlite"](t)
	d := deploy(t, st)
	old := executions(t, st, d, 3, workflow.ExecutionSucceeded, now.Add(-10*month))
	r := retention.New(st, retention.Options{InstanceID: "r1", Now: clock.NewFake(now).Now})
	require.NoError(t, r.Start(ctx))
	res, err := r.Pass(ctx)
	require.NoError(t, err)
	require.Equal(t, retention.Result{}, res)
	require.NoError(t, r.Stop(ctx))
	require.Equal(t, old, kept(t, st, old))
}

// TestStartStop: the first pass comes at Start; Stop ends the passes and
// gives the lease up.
func TestStartStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := stores["postgres"](t)
	d := deploy(t, st)
	old := executions(t, st, d, 3, workflow.ExecutionSucceeded, now.Add(-2*month))
	r := retention.New(st, retention.Options{InstanceID: "r1", Retention: month, Interval: time.Hour, Now: clock.NewFake(now).Now})
	require.NoError(t, r.Start(ctx))
	require.Eventually(t, func() bool { return len(kept(t, st, old)) == 0 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, r.Stop(ctx))
	took, err := st.TakeLease(ctx, retention.LeaseName, "r2", time.Minute)
	require.NoError(t, err)
	require.True(t, took, "the lease was given up")
}

// blocking holds the first delete of its store until release closes, and
// says when it has begun.
type blocking struct {
	testStore
	begun, release chan struct{}
}

func (b *blocking) DeleteExpiredExecutions(ctx context.Context, from, before time.Time, limit int) (int64, time.Time, error) {
	if b.begun != nil {
		close(b.begun)
		b.begun = nil
		<-b.release
	}
	return b.testStore.DeleteExpiredExecutions(ctx, from, before, limit)
}

// TestOneReplicaAtATime: while one replica makes a pass, another's pass
// does nothing; once it is done, the other's may.
func TestOneReplicaAtATime(t *testing.T) {
	t.Parallel()
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			d := deploy(t, st)
			old := executions(t, st, d, 5, workflow.ExecutionSucceeded, now.Add(-2*month))
			opts := retention.Options{Retention: month, Pause: time.Millisecond, Now: clock.NewFake(now).Now}
			slow := &blocking{testStore: st, begun: make(chan struct{}), release: make(chan struct{})}
			opts.InstanceID = "r1"
			r1 := retention.New(slow, opts)
			opts.InstanceID = "r2"
			r2 := retention.New(st, opts)

			begun := slow.begun
			type passed struct {
				res retention.Result
				err error
			}
			done := make(chan passed)
			go func() {
				res, err := r1.Pass(ctx)
				done <- passed{res, err}
			}()
			<-begun
			res, err := r2.Pass(ctx)
			require.NoError(t, err)
			require.Equal(t, retention.Result{}, res, "r1 holds the lease")
			require.Len(t, kept(t, st, old), 5)

			close(slow.release)
			p := <-done
			require.NoError(t, p.err)
			res = p.res
			require.True(t, res.Held)
			require.Equal(t, int64(5), res.Executions)

			executions(t, st, d, 2, workflow.ExecutionSucceeded, now.Add(-2*month-time.Hour))
			res, err = r2.Pass(ctx)
			require.NoError(t, err)
			require.True(t, res.Held, "r1 gave the lease up")
			require.Equal(t, int64(2), res.Executions)
		})
	}
}

// TestLeaseLost: a pass whose lease another replica took (it ran out during
// a slow batch) stops at its next batch.
func TestLeaseLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := stores["postgres"](t)
	d := deploy(t, st)
	executions(t, st, d, 150, workflow.ExecutionSucceeded, now.Add(-2*month))
	stealer := &stealing{testStore: st}
	r := retention.New(stealer, retention.Options{InstanceID: "r1", Retention: month, Batch: retention.MinBatch,
		Pause: time.Millisecond, Now: clock.NewFake(now).Now})
	res, err := r.Pass(ctx)
	require.ErrorIs(t, err, retention.ErrLeaseLost)
	require.Equal(t, int64(retention.MinBatch), res.Executions, "the first batch only")
}

// stealing gives the lease to another replica during its first delete.
type stealing struct {
	testStore
	stolen bool
}

func (s *stealing) DeleteExpiredExecutions(ctx context.Context, from, before time.Time, limit int) (int64, time.Time, error) {
	if !s.stolen {
		s.stolen = true
		if err := s.ReleaseLease(ctx, retention.LeaseName, "r1"); err != nil {
			return 0, time.Time{}, err
		}
		if _, err := s.TakeLease(ctx, retention.LeaseName, "r2", time.Minute); err != nil {
			return 0, time.Time{}, err
		}
	}
	return s.testStore.DeleteExpiredExecutions(ctx, from, before, limit)
}
