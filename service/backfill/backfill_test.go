package backfill_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/backfill"
)

// now is the tests' present: the slots they backfill lie before it.
var now = time.Date(2026, time.November, 2, 12, 0, 0, 0, time.UTC)

// ending is a fake coordinator: it records each slot's execution and ends
// it at once, as an engine that runs nothing would.
type ending struct {
	st      store.Store
	mu      sync.Mutex
	created int
}

func (x *ending) CreateExecution(ctx context.Context, e *workflow.Execution) (bool, error) {
	e.Status, e.OwnerInstance = workflow.ExecutionPending, "test"
	created, err := x.st.CreateExecution(ctx, e)
	if err != nil || !created {
		return created, err
	}
	x.mu.Lock()
	x.created++
	x.mu.Unlock()
	_, err = x.st.TransitionExecution(ctx, e.ID, store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending},
		To: workflow.ExecutionSucceeded, FinishedTime: new(time.Now())})
	return true, err
}

func deploy(t *testing.T, st store.Store, workflowID string, status workflow.DeploymentStatus, triggers ...workflow.Trigger) *workflow.Deployment {
	t.Helper()
	d := &workflow.Deployment{WorkflowID: workflowID, Status: status, Version: 1,
		Definition: []byte(`{"name": "w", "nodes": [], "connections": {}}`), Triggers: triggers}
	require.NoError(t, st.CreateDeployment(context.Background(), d, workflow.Event{Action: workflow.ActionDeploy, Actor: "test"}))
	return d
}

func cronTrigger(expr string) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: expr, Timezone: "UTC"}}
}

// startRunner starts a runner, stopped when t ends.
func startRunner(t *testing.T, st backfill.Store, execs backfill.Executions, opts backfill.Options) *backfill.Runner {
	t.Helper()
	r := backfill.New(st, execs, opts)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, r.Stop(context.Background())) })
	return r
}

// waitCompleted waits for backfill id to complete and returns it.
func waitCompleted(t *testing.T, svc backfill.Service, id string) workflow.Backfill {
	t.Helper()
	var got workflow.Backfill
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		got, err = svc.Get(context.Background(), backfill.GetRequest{BackfillID: id})
		require.NoError(c, err)
		require.NotNil(c, got.CompletedAt, "%+v", got)
	}, 10*time.Second, 5*time.Millisecond)
	return got
}

func count(t *testing.T, st *postgres.Store, query string) int {
	t.Helper()
	var n int
	require.NoError(t, st.DB().Get(&n, query))
	return n
}

// TestBackfillRefusesBadInput: each bad request gets its field and code,
// and writes nothing.
func TestBackfillRefusesBadInput(t *testing.T) {
	t.Parallel()
	st := pgtest.NewStore(t)
	week := 7 * 24 * time.Hour
	svc := backfill.New(st, &ending{st: st}, backfill.Options{Now: clock.NewFake(now).Now, Retention: week})
	cron := deploy(t, st, "bf.cron", workflow.StatusDeployed, cronTrigger("* * * * *"))
	manual := deploy(t, st, "bf.manual", workflow.StatusDeployed, workflow.Trigger{Type: workflow.TriggerManual, Enabled: true})
	paused := deploy(t, st, "bf.paused", workflow.StatusPaused, cronTrigger("0 * * * *"))
	day := now.Add(-24 * time.Hour)

	for _, tc := range []struct {
		name  string
		req   backfill.Request
		kind  errors.Kind
		field string
	}{
		{"deployment id not a UUID", backfill.Request{DeploymentID: "d-1", Start: day, End: now}, errors.Invalid, "deployment_id"},
		{"no start", backfill.Request{DeploymentID: cron.ID, End: now}, errors.Invalid, "start_time"},
		{"no end", backfill.Request{DeploymentID: cron.ID, Start: day}, errors.Invalid, "end_time"},
		{"end before start", backfill.Request{DeploymentID: cron.ID, Start: now.Add(-time.Hour), End: day}, errors.Invalid, "end_time"},
		{"empty range", backfill.Request{DeploymentID: cron.ID, Start: day, End: day}, errors.Invalid, "end_time"},
		{"range in the future", backfill.Request{DeploymentID: cron.ID, Start: day, End: now.Add(time.Minute)}, errors.Invalid, "end_time"},
		{"more than 10,000 slots", backfill.Request{DeploymentID: cron.ID, Start: now.Add(-10001 * time.Minute), End: now}, errors.Invalid, "end_time"},
		{"range older than the retention", backfill.Request{DeploymentID: cron.ID, Start: now.Add(-week - time.Minute), End: now.Add(-week + time.Hour)}, errors.Invalid, "start_time"},
		{"unknown overlap policy", backfill.Request{DeploymentID: cron.ID, Start: day, End: now, OverlapPolicy: "NEVER"}, errors.Invalid, "overlap_policy"},
		{"no cron trigger", backfill.Request{DeploymentID: manual.ID, Start: day, End: now}, errors.Invalid, "deployment_id"},
		{"unknown deployment", backfill.Request{DeploymentID: "00000000-0000-4000-8000-000000000000", Start: day, End: now}, errors.NotFound, ""},
		{"paused deployment", backfill.Request{DeploymentID: paused.ID, Start: day, End: now}, errors.FailedPrecondition, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := svc.Backfill(context.Background(), tc.req)
			require.Error(t, err)
			require.Equal(t, tc.kind, errors.KindOf(err), "%v", err)
			if tc.field != "" {
				require.Contains(t, err.Error(), tc.field)
			}
			// Only refusals run beside each other: no one writes.
			require.Zero(t, count(t, st, `SELECT count(*) FROM backfills`), "a refused backfill wrote a row")
			require.Zero(t, count(t, st, `SELECT count(*) FROM backfill_chunks`), "a refused backfill wrote a chunk")
		})
	}
}

// TestBackfillTakesTenThousandSlots: the bound is inclusive; an unset policy
// is the deployment's.
func TestBackfillTakesTenThousandSlots(t *testing.T) {
	t.Parallel()
	st := pgtest.NewStore(t)
	svc := backfill.New(st, &ending{st: st}, backfill.Options{Now: clock.NewFake(now).Now})
	cron := deploy(t, st, "bf.cron", workflow.StatusDeployed, cronTrigger("* * * * *"))
	b, err := svc.Backfill(context.Background(), backfill.Request{DeploymentID: cron.ID, Start: now.Add(-10000 * time.Minute), End: now})
	require.NoError(t, err)
	require.EqualValues(t, 10000, b.Planned)
	require.Equal(t, workflow.OverlapSkip, b.OverlapPolicy, "the deployment's policy")
	_, err = svc.Get(context.Background(), backfill.GetRequest{BackfillID: "b-1"})
	require.Equal(t, errors.Invalid, errors.KindOf(err))
	_, err = svc.Get(context.Background(), backfill.GetRequest{BackfillID: "00000000-0000-4000-8000-000000000000"})
	require.Equal(t, errors.NotFound, errors.KindOf(err))
}

// TestBackfillRunsEachSlotOnce: two runners share a backfill whose range
// holds a slot the live schedule ran and a chunk a dead replica held; each
// slot runs once, and a second backfill of the range runs nothing.
func TestBackfillRunsEachSlotOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, db := pgtest.NewStoreWithClock(t)
	fake := clock.NewFake(now)
	d := deploy(t, st, "bf.once", workflow.StatusDeployed, cronTrigger("* * * * *"), cronTrigger("*/2 * * * *"))
	start := now.Add(-2 * time.Hour)
	live := start.Add(10 * time.Minute)
	liveRun := &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
		TriggerID: d.Triggers[0].ID, TriggerType: workflow.TriggerCron, Status: workflow.ExecutionPending, ScheduledTime: &live,
		FiredTime: live, TriggeredBy: "cron:" + d.Triggers[0].ID}
	created, err := st.CreateExecution(ctx, liveRun)
	require.NoError(t, err)
	require.True(t, created)
	liveID := liveRun.ID

	execs := &ending{st: st}
	opts := backfill.Options{Lease: time.Minute, Rate: 10000, Poll: 10 * time.Millisecond, Now: fake.Now}
	svc := backfill.New(st, execs, opts)
	b, err := svc.Backfill(ctx, backfill.Request{DeploymentID: d.ID, Start: start, End: now, OverlapPolicy: workflow.OverlapAllowAll})
	require.NoError(t, err)
	require.EqualValues(t, 180, b.Planned, "120 + 60 slots")
	require.Nil(t, b.CompletedAt)

	// A replica took the first chunk, whose 50 slots hold the live one, and
	// died.
	dead, err := st.ClaimBackfillChunk(ctx, "dead", time.Minute)
	require.NoError(t, err)
	require.Equal(t, 0, dead.Seq)

	for _, id := range []string{"a", "b"} {
		o := opts
		o.InstanceID = id
		startRunner(t, st, execs, o)
	}
	waitFor := func(what string, ok func(b workflow.Backfill) bool) workflow.Backfill {
		t.Helper()
		var got workflow.Backfill
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			got, err = svc.Get(ctx, backfill.GetRequest{BackfillID: b.ID})
			require.NoError(c, err)
			require.True(c, ok(got), "%s: %+v", what, got)
		}, 10*time.Second, 5*time.Millisecond)
		return got
	}
	got := waitFor("all but the dead replica's chunk", func(b workflow.Backfill) bool { return b.Started == 180-50 })
	require.Nil(t, got.CompletedAt, "a chunk is still leased")
	require.False(t, got.Handled)

	// Its lease runs out on the database's clock: another runner takes over.
	db.Set(t, 2*time.Minute)
	got = waitFor("completed", func(b workflow.Backfill) bool { return b.CompletedAt != nil })
	require.Equal(t, [4]int64{180, 179, 179, 1}, [4]int64{got.Planned, got.Started, got.Finished, got.Skipped})
	require.Equal(t, 180, count(t, st, `SELECT count(*) FROM executions`))
	require.Equal(t, 180, count(t, st, `SELECT count(DISTINCT (trigger_id, scheduled_time)) FROM executions`))
	require.Equal(t, 179, execs.created)

	// Again, under the deployment's policy (SKIP) once the live run ended:
	// every slot is held, nothing runs.
	_, err = st.TransitionExecution(ctx, liveID, store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending},
		To: workflow.ExecutionSucceeded, FinishedTime: new(now)})
	require.NoError(t, err)
	again, err := svc.Backfill(ctx, backfill.Request{DeploymentID: d.ID, Start: start, End: now})
	require.NoError(t, err)
	b = again
	got = waitFor("the second backfill completed", func(b workflow.Backfill) bool { return b.CompletedAt != nil })
	require.Equal(t, [4]int64{180, 0, 0, 180}, [4]int64{got.Planned, got.Started, got.Finished, got.Skipped})
	require.Equal(t, 179, execs.created)
}

// overlapping is a fake coordinator whose executions run for a moment; it
// counts the slots it was given while another execution of the workflow was
// unfinished.
type overlapping struct {
	st       store.Store
	wg       sync.WaitGroup
	mu       sync.Mutex
	overlaps int
}

func (x *overlapping) CreateExecution(ctx context.Context, e *workflow.Execution) (bool, error) {
	unfinished, err := x.st.ListUnfinishedExecutions(ctx, e.WorkflowID)
	if err != nil {
		return false, err
	}
	x.mu.Lock()
	x.overlaps += len(unfinished)
	x.mu.Unlock()
	e.Status, e.OwnerInstance = workflow.ExecutionPending, "test"
	created, err := x.st.CreateExecution(ctx, e)
	if err != nil || !created {
		return created, err
	}
	x.wg.Go(func() {
		time.Sleep(5 * time.Millisecond) // the run
		_, _ = x.st.TransitionExecution(context.Background(), e.ID, store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending},
			To: workflow.ExecutionSucceeded, FinishedTime: new(time.Now())})
	})
	return true, nil
}

// TestBackfillRunsOneSlotAtATime: under a policy other than ALLOW_ALL, a
// slot starts once the one before has ended, so that the policy does not
// skip the backfill's own slots.
func TestBackfillRunsOneSlotAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	d := deploy(t, st, "bf.serial", workflow.StatusDeployed, cronTrigger("* * * * *"))
	execs := &overlapping{st: st}
	t.Cleanup(execs.wg.Wait)
	r := startRunner(t, st, execs, backfill.Options{InstanceID: "a", Rate: 10000, Poll: 10 * time.Millisecond, Now: clock.NewFake(now).Now})
	b, err := r.Backfill(ctx, backfill.Request{DeploymentID: d.ID, Start: now.Add(-20 * time.Minute), End: now, OverlapPolicy: workflow.OverlapSkip})
	require.NoError(t, err)
	waitCompleted(t, r, b.ID)
	execs.mu.Lock()
	defer execs.mu.Unlock()
	require.Zero(t, execs.overlaps, "slots started while another ran")
}

func setStatus(t *testing.T, st store.Store, id string, status workflow.DeploymentStatus, action string) {
	t.Helper()
	_, err := st.UpdateDeployment(context.Background(), id, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = status
		d.Version++
		return workflow.Event{Action: action, Actor: "test"}, nil
	})
	require.NoError(t, err)
}

// pausing is ending that pauses the deployment as it is given slot pauseAt.
type pausing struct {
	ending
	t       *testing.T
	calls   int
	pauseAt int
}

func (x *pausing) CreateExecution(ctx context.Context, e *workflow.Execution) (bool, error) {
	x.mu.Lock()
	x.calls++
	pause := x.calls == x.pauseAt
	x.mu.Unlock()
	if pause {
		setStatus(x.t, x.st, e.DeploymentID, workflow.StatusPaused, workflow.ActionPause)
	}
	return x.ending.CreateExecution(ctx, e)
}

// watched signals the first time a runner finds the deployment paused.
type watched struct {
	backfill.Store
	once   sync.Once
	paused chan struct{}
}

func (w *watched) GetDeployment(ctx context.Context, id string) (*workflow.Deployment, error) {
	d, err := w.Store.GetDeployment(ctx, id)
	if err == nil && d.Status == workflow.StatusPaused {
		w.once.Do(func() { close(w.paused) })
	}
	return d, err
}

// TestBackfillWaitsOutAPause: the slots that come while the deployment is
// paused run once it is resumed; they are not counted as held by others.
func TestBackfillWaitsOutAPause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	d := deploy(t, st, "bf.pause", workflow.StatusDeployed, cronTrigger("* * * * *"))
	w := &watched{Store: st, paused: make(chan struct{})}
	execs := &pausing{ending: ending{st: st}, t: t, pauseAt: 3}
	r := startRunner(t, w, execs, backfill.Options{InstanceID: "a", Lease: 200 * time.Millisecond, Rate: 10000, Poll: 10 * time.Millisecond,
		Now: clock.NewFake(now).Now})
	b, err := r.Backfill(ctx, backfill.Request{DeploymentID: d.ID, Start: now.Add(-10 * time.Minute), End: now, OverlapPolicy: workflow.OverlapAllowAll})
	require.NoError(t, err)

	select {
	case <-w.paused:
	case <-time.After(10 * time.Second):
		t.Fatal("the runner never found the deployment paused")
	}
	got, err := r.Get(ctx, backfill.GetRequest{BackfillID: b.ID})
	require.NoError(t, err)
	require.Equal(t, [2]int64{2, 0}, [2]int64{got.Started, got.Skipped}, "started, skipped while paused")
	require.False(t, got.Handled)

	setStatus(t, st, d.ID, workflow.StatusDeployed, workflow.ActionResume)
	got = waitCompleted(t, r, b.ID)
	require.Equal(t, [3]int64{10, 10, 0}, [3]int64{got.Started, got.Finished, got.Skipped})
}

// TestStopHandsTheChunkOver: a stopping runner gives its chunk up, so that
// another replica takes it at once rather than after the lease.
func TestStopHandsTheChunkOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	d := deploy(t, st, "bf.stop", workflow.StatusDeployed, cronTrigger("* * * * *"))
	r := backfill.New(st, &ending{st: st}, backfill.Options{InstanceID: "a", Lease: time.Hour, Rate: 20, Poll: 10 * time.Millisecond,
		Now: clock.NewFake(now).Now})
	require.NoError(t, r.Start(ctx))
	b, err := r.Backfill(ctx, backfill.Request{DeploymentID: d.ID, Start: now.Add(-30 * time.Minute), End: now, OverlapPolicy: workflow.OverlapAllowAll})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := r.Get(ctx, backfill.GetRequest{BackfillID: b.ID})
		require.NoError(c, err)
		require.Positive(c, got.Started)
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, r.Stop(ctx))

	c, err := st.ClaimBackfillChunk(ctx, "b", time.Hour)
	require.NoError(t, err, "the chunk was not given up")
	require.Equal(t, b.ID, c.BackfillID)
	got, err := r.Get(ctx, backfill.GetRequest{BackfillID: b.ID})
	require.NoError(t, err)
	require.Less(t, got.Started, int64(30), "stopped before the end")
}

// TestBackfillKeepsBounds: a backfill runs no slot outside its trigger's
// bounds, on either store. Of an hour of slots, the every-minute trigger
// bounded to forty minutes of it runs those forty; the every-two-minutes
// trigger with max_runs 5, which ran once live, runs four more. The other
// slots are out of bounds, counted as skipped and never started.
func TestBackfillKeepsBounds(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) backfillStore{
		"postgres": func(t *testing.T) backfillStore { return pgtest.NewStore(t) },
		"sqlite": func(t *testing.T) backfillStore {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wfr.db"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			start := now.Add(-2 * time.Hour)
			from, until := start.Add(10*time.Minute), start.Add(50*time.Minute)
			bounded, limited := cronTrigger("* * * * *"), cronTrigger("*/2 * * * *")
			bounded.Cron.StartTime, bounded.Cron.EndTime = &from, &until
			limited.Cron.MaxRuns = 5
			d := deploy(t, st, "bf.bounds."+name, workflow.StatusDeployed, bounded, limited)
			live := start.Add(90 * time.Minute)
			_, err := st.CreateExecution(ctx, &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
				TriggerID: d.Triggers[1].ID, TriggerType: workflow.TriggerCron, Status: workflow.ExecutionPending, ScheduledTime: &live,
				FiredTime: live, TriggeredBy: "cron:" + d.Triggers[1].ID})
			require.NoError(t, err)

			execs := &ending{st: st}
			r := startRunner(t, st, execs, backfill.Options{InstanceID: "r1", Rate: 10000, Poll: 10 * time.Millisecond, Now: func() time.Time { return now }})
			b, err := r.Backfill(ctx, backfill.Request{DeploymentID: d.ID, Start: start, End: start.Add(time.Hour), OverlapPolicy: workflow.OverlapAllowAll})
			require.NoError(t, err)
			require.EqualValues(t, 90, b.Planned, "60 + 30 slots in the range")
			got := waitCompleted(t, r, b.ID)
			require.Equal(t, [4]int64{44, 44, 46, 46}, [4]int64{got.Started, got.Finished, got.Skipped, got.OutOfBounds},
				"started, finished, skipped, out of bounds: %+v", got)

			runs, err := st.ListSlotExecutions(ctx, d.Triggers[0].ID, start, now)
			require.NoError(t, err)
			require.Len(t, runs, 40)
			for _, e := range runs {
				require.False(t, e.Slot.Before(from) || !e.Slot.Before(until), "slot %s is outside the trigger's bounds", e.Slot)
			}
			ran, err := st.CountSlotRuns(ctx, d.Triggers[1].ID, now)
			require.NoError(t, err)
			require.EqualValues(t, 5, ran, "max_runs: the live run and four backfilled")
		})
	}
}

// backfillStore is what TestBackfillKeepsBounds needs of either store.
type backfillStore interface {
	store.Store
	store.SlotStore
	backfill.Store
}
