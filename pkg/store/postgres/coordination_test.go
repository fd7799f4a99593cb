package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// coordBase is the fired time the coordination tests lay their rows out from.
var coordBase = time.Date(2026, time.June, 1, 12, 0, 0, 0, time.UTC)

// leasedExecution is an execution of d in status, fired at fired, owned by
// owner (none when empty) until lease (no lease when nil).
func leasedExecution(d *workflow.Deployment, status workflow.ExecutionStatus, fired time.Time, owner string, lease *time.Time) *workflow.Execution {
	return &workflow.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerType: workflow.TriggerManual, Status: status, FiredTime: fired,
		OwnerInstance: owner, LeaseExpiresAt: lease,
	}
}

// dbNow reads the database's clock, the one leases run on.
func dbNow(t *testing.T, s *postgres.Store) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, s.DB().GetContext(context.Background(), &now, `SELECT clock_timestamp()`))
	return now.UTC()
}

// mustGetExecution reads execution id back.
func mustGetExecution(t *testing.T, s *postgres.Store, id string) *workflow.Execution {
	t.Helper()
	e, err := s.GetExecution(context.Background(), id)
	require.NoError(t, err)
	return e
}

// requireLeaseWithin checks that e's lease ends within [from, to].
func requireLeaseWithin(t *testing.T, e *workflow.Execution, from, to time.Time) {
	t.Helper()
	require.NotNil(t, e.LeaseExpiresAt, "execution %s has no lease", e.ID)
	require.False(t, e.LeaseExpiresAt.Before(from) || e.LeaseExpiresAt.After(to),
		"execution %s: lease expires at %v, want within [%v, %v]", e.ID, e.LeaseExpiresAt, from, to)
}

func idsOf(es []workflow.Execution) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func TestFindExecutionByKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-key", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-key-other", workflow.StatusDeployed))

	e := &workflow.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerType: workflow.TriggerWebhook, Status: workflow.ExecutionPending, FiredTime: coordBase,
		IdempotencyKey: "key-1", TraceID: "trace-1", TriggeredBy: "webhook", OwnerInstance: "replica-1",
		LeaseExpiresAt: ptr(coordBase.Add(time.Minute)), Input: json.RawMessage(`{"a": 1}`),
	}
	created, err := s.CreateExecution(ctx, e)
	require.NoError(t, err)
	require.True(t, created)
	// Another execution of the workflow, without a key, and one of another
	// workflow under another key.
	insertExecution(t, s, leasedExecution(d, workflow.ExecutionPending, coordBase, "", nil))
	insertExecution(t, s, &workflow.Execution{WorkflowID: other.WorkflowID, DeploymentID: other.ID, DeploymentVersion: 1,
		TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: coordBase, IdempotencyKey: "key-2"})

	got, err := s.FindExecutionByKey(ctx, "wf-key", "key-1")
	require.NoError(t, err)
	if diff := cmp.Diff(e, got, jsonEqual); diff != "" {
		t.Errorf("FindExecutionByKey (-want +got):\n%s", diff)
	}

	for _, tc := range []struct{ workflow, key string }{
		{"wf-key", "key-2"},         // another workflow's key
		{"wf-key-other", "key-1"},   // the key under another workflow
		{"wf-key", "KEY-1"},         // keys are compared exactly
		{"wf-key", ""},              // no key names the rows without one
		{"wf-none", "key-1"},        // no such workflow
		{"wf-key", "key-1' OR '1'"}, // parameters, not SQL
	} {
		_, err := s.FindExecutionByKey(ctx, tc.workflow, tc.key)
		require.ErrorIs(t, err, store.ErrNotFound, "workflow %q, key %q", tc.workflow, tc.key)
	}
}

func TestCreateExecutionOncePerKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-once", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-once-other", workflow.StatusDeployed))
	count := func(workflowID string) int {
		t.Helper()
		var n int
		require.NoError(t, s.DB().GetContext(ctx, &n, `SELECT count(*) FROM executions WHERE workflow_id = $1`, workflowID))
		return n
	}
	manual := func(d *workflow.Deployment, key, by string) *workflow.Execution {
		return &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
			TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: coordBase,
			IdempotencyKey: key, TriggeredBy: by}
	}

	first := manual(d, "key-1", "alice")
	created, err := s.CreateExecution(ctx, first)
	require.NoError(t, err)
	require.True(t, created)

	again := manual(d, "key-1", "bob")
	created, err = s.CreateExecution(ctx, again)
	require.NoError(t, err, "a repeated key is not an error")
	require.False(t, created, "a second row for one idempotency key")
	require.Empty(t, again.ID)
	require.Equal(t, 1, count("wf-once"), "nothing written for the repeated key")
	got, err := s.FindExecutionByKey(ctx, "wf-once", "key-1")
	require.NoError(t, err)
	require.Equal(t, first.ID, got.ID)
	require.Equal(t, "alice", got.TriggeredBy, "the first row is left as it was")

	// The key is the workflow's: another workflow may use it, and another key is another run.
	created, err = s.CreateExecution(ctx, manual(other, "key-1", "alice"))
	require.NoError(t, err)
	require.True(t, created)
	created, err = s.CreateExecution(ctx, manual(d, "key-2", "alice"))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, 2, count("wf-once"))

	// Writers racing on one key: exactly one creates the row.
	const writers = 8
	var wg sync.WaitGroup
	results := make([]bool, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			results[i], errs[i] = s.CreateExecution(ctx, manual(d, "key-race", "racer"))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var winners int
	for _, created := range results {
		if created {
			winners++
		}
	}
	require.Equal(t, 1, winners, "writers that created the row: %v", results)
	require.Equal(t, 3, count("wf-once"))
}

func TestTransitionExecution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-move", workflow.StatusDeployed))
	lease := coordBase.Add(time.Hour)
	started := coordBase.Add(3*time.Second + 250*time.Microsecond)
	finished := coordBase.Add(time.Minute)

	pending := func(owner string) *workflow.Execution {
		e := leasedExecution(d, workflow.ExecutionPending, coordBase, owner, ptr(lease))
		e.TraceID, e.Input = "trace-1", json.RawMessage(`{"in": [1, 2]}`)
		return e
	}
	running := func(owner string) *workflow.Execution {
		e := pending(owner)
		e.Status, e.EngineExecutionID, e.StartedTime = workflow.ExecutionRunning, "engine-1", ptr(started)
		return e
	}
	// full has every field a transition may write already set.
	full := func() *workflow.Execution {
		e := running("replica-1")
		e.FinishedTime, e.ErrorMessage, e.SkipReason = ptr(finished), "retrying", "overlap"
		e.Result = json.RawMessage(`{"partial": true}`)
		return e
	}
	succeeded := func() *workflow.Execution {
		e := running("replica-1")
		e.Status, e.FinishedTime, e.LeaseExpiresAt = workflow.ExecutionSucceeded, ptr(finished), nil
		return e
	}
	from := func(ss ...workflow.ExecutionStatus) []workflow.ExecutionStatus { return ss }

	for _, tc := range []struct {
		name  string
		row   *workflow.Execution
		t     store.Transition
		stale bool
		// want edits the inserted row into the expected one.
		want func(e *workflow.Execution)
	}{
		{
			name: "pending to running sets the engine id and start",
			row:  pending("replica-1"),
			t: store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "replica-1",
				EngineExecutionID: "engine-7", StartedTime: ptr(started)},
			want: func(e *workflow.Execution) {
				e.Status, e.EngineExecutionID, e.StartedTime = workflow.ExecutionRunning, "engine-7", ptr(started)
			},
		},
		{
			name: "one of several expected statuses",
			row:  running("replica-1"),
			t:    store.Transition{From: from(workflow.ExecutionPending, workflow.ExecutionRunning), To: workflow.ExecutionRunning},
			want: func(*workflow.Execution) {},
		},
		{
			name:  "status not expected",
			row:   running("replica-1"),
			t:     store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "replica-1"},
			stale: true,
		},
		{
			name:  "no expected status",
			row:   pending("replica-1"),
			t:     store.Transition{To: workflow.ExecutionRunning, Owner: "replica-1"},
			stale: true,
		},
		{
			name:  "another owner's row",
			row:   running("replica-1"),
			t:     store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionFailed, Owner: "replica-2", FinishedTime: ptr(finished)},
			stale: true,
		},
		{
			name:  "an owner expected, the row has none",
			row:   pending(""),
			t:     store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "replica-1"},
			stale: true,
		},
		{
			name: "no owner expected matches any owner",
			row:  running("replica-1"),
			t: store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionCancelled,
				FinishedTime: ptr(finished), ErrorMessage: "cancelled: by user"},
			want: func(e *workflow.Execution) {
				e.Status, e.FinishedTime, e.ErrorMessage, e.LeaseExpiresAt = workflow.ExecutionCancelled, ptr(finished), "cancelled: by user", nil
			},
		},
		{
			name: "no owner expected matches a row without one",
			row:  pending(""),
			t:    store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, EngineExecutionID: "engine-2"},
			want: func(e *workflow.Execution) { e.Status, e.EngineExecutionID = workflow.ExecutionRunning, "engine-2" },
		},
		{
			name: "terminal status ends the lease, keeps the owner, stores the result",
			row:  running("replica-1"),
			t: store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionSucceeded, Owner: "replica-1",
				FinishedTime: ptr(finished), Result: json.RawMessage(`{"out": {"rows": [1, 2, 3]}, "ok": true}`)},
			want: func(e *workflow.Execution) {
				e.Status, e.FinishedTime, e.LeaseExpiresAt = workflow.ExecutionSucceeded, ptr(finished), nil
				e.Result = json.RawMessage(`{"ok": true, "out": {"rows": [1, 2, 3]}}`)
			},
		},
		{
			name: "skipped with its reason",
			row:  pending("replica-1"),
			t: store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionSkipped, Owner: "replica-1",
				FinishedTime: ptr(coordBase), SkipReason: "overlap: SKIP"},
			want: func(e *workflow.Execution) {
				e.Status, e.FinishedTime, e.SkipReason, e.LeaseExpiresAt = workflow.ExecutionSkipped, ptr(coordBase), "overlap: SKIP", nil
			},
		},
		{
			name: "unset fields keep their values",
			row:  full(),
			t:    store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionRunning, Owner: "replica-1"},
			want: func(*workflow.Execution) {},
		},
		{
			name: "unset fields keep their values at the end too",
			row:  full(),
			t:    store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionTimedOut, Owner: "replica-1"},
			want: func(e *workflow.Execution) { e.Status, e.LeaseExpiresAt = workflow.ExecutionTimedOut, nil },
		},
		{
			name: "set fields replace the values",
			row:  full(),
			t: store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionFailed, Owner: "replica-1",
				EngineExecutionID: "engine-9", StartedTime: ptr(started.Add(time.Second)), FinishedTime: ptr(finished.Add(time.Second)),
				ErrorMessage: "node n1 failed", SkipReason: "none", Result: json.RawMessage(`{"error": "boom"}`)},
			want: func(e *workflow.Execution) {
				e.Status, e.LeaseExpiresAt, e.EngineExecutionID = workflow.ExecutionFailed, nil, "engine-9"
				e.StartedTime, e.FinishedTime = ptr(started.Add(time.Second)), ptr(finished.Add(time.Second))
				e.ErrorMessage, e.SkipReason, e.Result = "node n1 failed", "none", json.RawMessage(`{"error": "boom"}`)
			},
		},
		{
			name: "a terminal row is not moved by a late writer",
			row:  succeeded(),
			t: store.Transition{From: from(workflow.ExecutionPending, workflow.ExecutionRunning), To: workflow.ExecutionFailed,
				FinishedTime: ptr(finished.Add(time.Hour)), ErrorMessage: "late"},
			stale: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := insertExecution(t, s, tc.row)
			before := mustGetExecution(t, s, id)
			got, err := s.TransitionExecution(ctx, id, tc.t)
			if tc.stale {
				require.ErrorIs(t, err, store.ErrStale)
				require.Nil(t, got)
				if diff := cmp.Diff(before, mustGetExecution(t, s, id), jsonEqual); diff != "" {
					t.Errorf("a stale transition changed the row (-before +after):\n%s", diff)
				}
				return
			}
			require.NoError(t, err)
			want := *before
			tc.want(&want)
			if diff := cmp.Diff(&want, got, jsonEqual); diff != "" {
				t.Errorf("TransitionExecution returned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(&want, mustGetExecution(t, s, id), jsonEqual); diff != "" {
				t.Errorf("row after TransitionExecution (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a whole life, then nothing moves it", func(t *testing.T) {
		t.Parallel()
		id := insertExecution(t, s, pending("replica-1"))
		row, err := s.TransitionExecution(ctx, strings.ToUpper(id), store.Transition{
			From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "replica-1", StartedTime: ptr(started)})
		require.NoError(t, err, "ids are UUIDs, whatever their case")
		require.Equal(t, id, row.ID)
		row, err = s.TransitionExecution(ctx, id, store.Transition{
			From: from(workflow.ExecutionRunning), To: workflow.ExecutionSucceeded, Owner: "replica-1", FinishedTime: ptr(finished)})
		require.NoError(t, err)
		require.Nil(t, row.LeaseExpiresAt)
		require.Equal(t, "replica-1", row.OwnerInstance)
		for _, to := range []workflow.ExecutionStatus{workflow.ExecutionRunning, workflow.ExecutionFailed, workflow.ExecutionCancelled} {
			_, err := s.TransitionExecution(ctx, id, store.Transition{
				From: from(workflow.ExecutionPending, workflow.ExecutionRunning), To: to})
			require.ErrorIs(t, err, store.ErrStale, "to %s", to)
		}
		if diff := cmp.Diff(row, mustGetExecution(t, s, id)); diff != "" {
			t.Errorf("the finished row changed (-want +got):\n%s", diff)
		}
	})

	t.Run("no such execution", func(t *testing.T) {
		t.Parallel()
		for _, id := range []string{uuid.NewString(), "not-a-uuid", "", d.ID} {
			got, err := s.TransitionExecution(ctx, id, store.Transition{
				From: from(workflow.ExecutionPending, workflow.ExecutionRunning), To: workflow.ExecutionRunning})
			require.ErrorIs(t, err, store.ErrStale, "id %q", id)
			require.Nil(t, got)
		}
	})
}

func TestListUnfinishedExecutions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-open", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-open-other", workflow.StatusDeployed))
	at := func(minutes int) time.Time { return coordBase.Add(time.Duration(minutes) * time.Minute) }

	var want []workflow.Execution
	add := func(d *workflow.Deployment, status workflow.ExecutionStatus, fired time.Time, listed bool) {
		e := leasedExecution(d, status, fired, "replica-1", ptr(fired.Add(time.Minute)))
		insertExecution(t, s, e)
		if listed {
			want = append(want, *e)
		}
	}
	// Inserted out of order; three share a fired time.
	add(d, workflow.ExecutionRunning, at(5), true)
	add(d, workflow.ExecutionSucceeded, at(0), false)
	add(d, workflow.ExecutionPending, at(1), true)
	add(d, workflow.ExecutionFailed, at(2), false)
	add(d, workflow.ExecutionPending, at(3), true)
	add(d, workflow.ExecutionRunning, at(3), true)
	add(d, workflow.ExecutionPending, at(3), true)
	add(d, workflow.ExecutionCancelled, at(4), false)
	add(d, workflow.ExecutionTimedOut, at(6), false)
	add(d, workflow.ExecutionSkipped, at(7), false)
	add(other, workflow.ExecutionRunning, at(0), false)
	add(other, workflow.ExecutionPending, at(8), false)
	slices.SortFunc(want, func(a, b workflow.Execution) int {
		if c := a.FiredTime.Compare(b.FiredTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})

	got, err := s.ListUnfinishedExecutions(ctx, "wf-open")
	require.NoError(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListUnfinishedExecutions (-want +got):\n%s", diff)
	}

	got, err = s.ListUnfinishedExecutions(ctx, "wf-none")
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestRenewLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-renew", workflow.StatusDeployed))
	past, future := ptr(coordBase), ptr(time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond))

	minePending := insertExecution(t, s, leasedExecution(d, workflow.ExecutionPending, coordBase, "me", past))
	mineRunning := insertExecution(t, s, leasedExecution(d, workflow.ExecutionRunning, coordBase, "me", future))
	mineUnleased := insertExecution(t, s, leasedExecution(d, workflow.ExecutionRunning, coordBase, "me", nil))
	untouched := map[string]*workflow.Execution{}
	for _, e := range []*workflow.Execution{
		leasedExecution(d, workflow.ExecutionSucceeded, coordBase, "me", past),      // over
		leasedExecution(d, workflow.ExecutionFailed, coordBase, "me", nil),          // over
		leasedExecution(d, workflow.ExecutionRunning, coordBase, "replica-2", past), // adopted by another
		leasedExecution(d, workflow.ExecutionPending, coordBase, "", nil),           // nobody's
	} {
		id := insertExecution(t, s, e)
		untouched[id] = mustGetExecution(t, s, id)
	}
	ids := []string{"not-a-uuid", strings.ToUpper(minePending), mineRunning, mineUnleased, uuid.NewString(), "", mineRunning}
	for id := range untouched {
		ids = append(ids, id)
	}

	const lease = 30 * time.Second
	before := dbNow(t, s)
	lost, err := s.RenewLeases(ctx, "me", ids, lease)
	after := dbNow(t, s)
	require.NoError(t, err)
	wantLost := []string{"not-a-uuid", "", ids[4]}
	for id := range untouched {
		wantLost = append(wantLost, id)
	}
	require.ElementsMatch(t, wantLost, lost, "every id that is not my unfinished execution, once")
	for _, id := range []string{minePending, mineRunning, mineUnleased} {
		e := mustGetExecution(t, s, id)
		requireLeaseWithin(t, e, before.Add(lease), after.Add(lease))
		require.Equal(t, "me", e.OwnerInstance)
	}
	for id, want := range untouched {
		if diff := cmp.Diff(want, mustGetExecution(t, s, id)); diff != "" {
			t.Errorf("RenewLeases changed execution %s (-want +got):\n%s", id, diff)
		}
	}

	// Shorter leases are set, not added to.
	lost, err = s.RenewLeases(ctx, "me", []string{mineRunning}, 10*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, lost)
	requireLeaseWithin(t, mustGetExecution(t, s, mineRunning), before, dbNow(t, s).Add(10*time.Millisecond))

	for _, none := range [][]string{nil, {}} {
		lost, err := s.RenewLeases(ctx, "me", none, lease)
		require.NoError(t, err, "ids %q", none)
		require.Nil(t, lost, "ids %q", none)
	}
	lost, err = s.RenewLeases(ctx, "nobody", []string{minePending, mineRunning}, lease)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{minePending, mineRunning}, lost, "only the owner renews")
}

// TestRenewLeasesSkipsLockedRows: a renewal does not wait for a row another
// transaction is writing; it neither renews it nor calls it lost, and renews
// the rest.
func TestRenewLeasesSkipsLockedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-renew-locked", workflow.StatusDeployed))
	past := ptr(coordBase)
	busy := insertExecution(t, s, leasedExecution(d, workflow.ExecutionRunning, coordBase, "me", past))
	free := insertExecution(t, s, leasedExecution(d, workflow.ExecutionRunning, coordBase, "me", past))

	tx, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT 1 FROM executions WHERE id = $1 FOR UPDATE`, busy)
	require.NoError(t, err)

	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lost, err := s.RenewLeases(rctx, "me", []string{busy, free}, time.Minute)
	require.NoError(t, err, "the renewal must not wait for the locked row")
	require.Empty(t, lost)
	require.Equal(t, past, mustGetExecution(t, s, busy).LeaseExpiresAt, "the locked row is left alone")
	require.True(t, mustGetExecution(t, s, free).LeaseExpiresAt.After(*past), "the other row is renewed")
}

func TestAdoptExecutions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-adopt", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-adopt-other", workflow.StatusDeployed))
	at := func(minutes int) time.Time { return coordBase.Add(time.Duration(minutes) * time.Minute) }
	expired, live := ptr(time.Now().Add(-time.Second).UTC()), ptr(time.Now().Add(time.Hour).UTC())

	// Adoptable, by fired time: expired leases and none, of any workflow.
	adoptable := []string{
		insertExecution(t, s, leasedExecution(d, workflow.ExecutionRunning, at(0), "dead", expired)),
		insertExecution(t, s, leasedExecution(other, workflow.ExecutionPending, at(1), "", nil)),
		insertExecution(t, s, leasedExecution(d, workflow.ExecutionPending, at(2), "dead", expired)),
		insertExecution(t, s, leasedExecution(d, workflow.ExecutionRunning, at(3), "dead", nil)),
		insertExecution(t, s, leasedExecution(other, workflow.ExecutionRunning, at(4), "gone", expired)),
	}
	untouched := map[string]*workflow.Execution{}
	for _, e := range []*workflow.Execution{
		leasedExecution(d, workflow.ExecutionRunning, at(-10), "alive", live),    // live lease, however old
		leasedExecution(d, workflow.ExecutionPending, at(-9), "alive", live),     // live lease
		leasedExecution(d, workflow.ExecutionSucceeded, at(-8), "dead", nil),     // over
		leasedExecution(d, workflow.ExecutionFailed, at(-7), "dead", expired),    // over, with a stale lease
		leasedExecution(d, workflow.ExecutionSkipped, at(-6), "", nil),           // over, never owned
		leasedExecution(d, workflow.ExecutionCancelled, at(-5), "", expired),     // over
		leasedExecution(d, workflow.ExecutionTimedOut, at(-4), "dead", nil),      // over
		leasedExecution(other, workflow.ExecutionRunning, at(-3), "alive", live), // live lease
	} {
		id := insertExecution(t, s, e)
		untouched[id] = mustGetExecution(t, s, id)
	}
	originals := map[string]*workflow.Execution{}
	for _, id := range adoptable {
		originals[id] = mustGetExecution(t, s, id)
	}

	const lease = 45 * time.Second
	check := func(got []workflow.Execution, before, after time.Time) {
		t.Helper()
		for _, e := range got {
			want := *originals[e.ID]
			want.OwnerInstance, want.LeaseExpiresAt = "me", e.LeaseExpiresAt
			if diff := cmp.Diff(&want, &e); diff != "" {
				t.Errorf("adopted execution (-want +got):\n%s", diff)
			}
			requireLeaseWithin(t, &e, before.Add(lease), after.Add(lease))
			if diff := cmp.Diff(&e, mustGetExecution(t, s, e.ID)); diff != "" {
				t.Errorf("adopted row as stored (-returned +stored):\n%s", diff)
			}
		}
	}

	none, err := s.AdoptExecutions(ctx, "me", lease, 0)
	require.NoError(t, err)
	require.Empty(t, none, "a limit of 0 adopts nothing")

	before := dbNow(t, s)
	first, err := s.AdoptExecutions(ctx, "me", lease, 2)
	after := dbNow(t, s)
	require.NoError(t, err)
	require.ElementsMatch(t, adoptable[:2], idsOf(first), "the two oldest fired")
	check(first, before, after)

	before = dbNow(t, s)
	rest, err := s.AdoptExecutions(ctx, "me", lease, 100)
	after = dbNow(t, s)
	require.NoError(t, err)
	require.ElementsMatch(t, adoptable[2:], idsOf(rest), "the rest, and nothing else")
	check(rest, before, after)

	again, err := s.AdoptExecutions(ctx, "someone-else", lease, 100)
	require.NoError(t, err)
	require.Empty(t, again, "adopted rows carry a live lease")
	for id, want := range untouched {
		if diff := cmp.Diff(want, mustGetExecution(t, s, id)); diff != "" {
			t.Errorf("AdoptExecutions changed execution %s (-want +got):\n%s", id, diff)
		}
	}
}

// TestAdoptExecutionsConcurrently races two adopters over the same expired
// rows, a few rounds over: SKIP LOCKED shares the rows out, so that every row
// is adopted once, by one of them.
func TestAdoptExecutionsConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-race", workflow.StatusDeployed))
	const rows = 300
	_, err := s.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
SELECT gen_random_uuid(), 'wf-race', $1, 1, 'MANUAL', (ARRAY['PENDING', 'RUNNING'])[i % 2 + 1],
	$2::timestamptz + (i % 37) * interval '1 second'
FROM generate_series(1, $3) AS i`, d.ID, coordBase, rows)
	require.NoError(t, err)
	var all []string
	require.NoError(t, s.DB().SelectContext(ctx, &all, `SELECT id FROM executions`))

	owners := []string{"replica-a", "replica-b"}
	for round := range 5 {
		if round > 0 {
			_, err := s.DB().ExecContext(ctx, `UPDATE executions SET owner_instance = 'dead', lease_expires_at = now() - interval '1 second'`)
			require.NoError(t, err)
		}
		adopted := make([][]workflow.Execution, len(owners))
		errs := make([]error, len(owners))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, owner := range owners {
			wg.Go(func() {
				<-start
				// Again until nothing is left, as the coordinator does.
				for {
					got, err := s.AdoptExecutions(ctx, owner, time.Minute, rows)
					if err != nil || len(got) == 0 {
						errs[i] = err
						return
					}
					adopted[i] = append(adopted[i], got...)
				}
			})
		}
		close(start)
		wg.Wait()

		seen := map[string]string{}
		for i, owner := range owners {
			require.NoError(t, errs[i], "round %d, %s", round, owner)
			for _, e := range adopted[i] {
				if prev, ok := seen[e.ID]; ok {
					t.Fatalf("round %d: execution %s adopted by %s and by %s", round, e.ID, prev, owner)
				}
				seen[e.ID] = owner
				require.Equal(t, owner, e.OwnerInstance)
			}
		}
		require.ElementsMatch(t, all, slices.Collect(maps.Keys(seen)), "round %d: every expired row adopted once", round)
		var stored []struct {
			ID    string `db:"id"`
			Owner string `db:"owner_instance"`
		}
		require.NoError(t, s.DB().SelectContext(ctx, &stored, `SELECT id, owner_instance FROM executions`))
		for _, r := range stored {
			require.Equal(t, seen[r.ID], r.Owner, "round %d: the stored owner of %s is the one that adopted it", round, r.ID)
		}
	}
}

// TestAdoptExecutionsSkipsLockedRows holds a row lock on one expired row, as
// an adopter in the middle of its statement does: another adopter takes the
// other rows at once instead of waiting for it.
func TestAdoptExecutionsSkipsLockedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-locked", workflow.StatusDeployed))
	locked := insertExecution(t, s, leasedExecution(d, workflow.ExecutionRunning, coordBase, "dead", nil))
	free := insertExecution(t, s, leasedExecution(d, workflow.ExecutionPending, coordBase.Add(time.Minute), "dead", nil))

	tx, err := s.DB().BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT id FROM executions WHERE id = $1 FOR UPDATE`, locked)
	require.NoError(t, err)

	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := s.AdoptExecutions(actx, "me", time.Minute, 10)
	require.NoError(t, err, "the locked row is skipped, not waited for")
	require.Equal(t, []string{free}, idsOf(got))

	require.NoError(t, tx.Rollback())
	got, err = s.AdoptExecutions(ctx, "me", time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []string{locked}, idsOf(got), "once unlocked, the row is adopted")
}

func TestReleaseLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-release", workflow.StatusDeployed))
	at := func(minutes int) time.Time { return coordBase.Add(time.Duration(minutes) * time.Minute) }
	live := ptr(time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond))

	mine := []string{
		insertExecution(t, s, leasedExecution(d, workflow.ExecutionRunning, at(0), "me", live)),
		insertExecution(t, s, leasedExecution(d, workflow.ExecutionPending, at(1), "me", live)),
	}
	untouched := map[string]*workflow.Execution{}
	for _, e := range []*workflow.Execution{
		leasedExecution(d, workflow.ExecutionRunning, at(2), "replica-2", live), // another's
		leasedExecution(d, workflow.ExecutionSucceeded, at(3), "me", live),      // over
		leasedExecution(d, workflow.ExecutionPending, at(4), "", live),          // nobody's
		leasedExecution(d, workflow.ExecutionRunning, at(5), "me-too", live),    // owner names compare whole
	} {
		id := insertExecution(t, s, e)
		untouched[id] = mustGetExecution(t, s, id)
	}
	ids := []string{"not-a-uuid", strings.ToUpper(mine[0]), mine[1], uuid.NewString()}
	for id := range untouched {
		ids = append(ids, id)
	}

	adopted, err := s.AdoptExecutions(ctx, "replica-3", time.Minute, 100)
	require.NoError(t, err)
	require.Empty(t, adopted, "every lease is live")

	before := dbNow(t, s)
	require.NoError(t, s.ReleaseLeases(ctx, "me", ids))
	after := dbNow(t, s)
	for _, id := range mine {
		e := mustGetExecution(t, s, id)
		requireLeaseWithin(t, e, before, after)
		require.Equal(t, "me", e.OwnerInstance, "released, not disowned")
	}
	for id, want := range untouched {
		if diff := cmp.Diff(want, mustGetExecution(t, s, id)); diff != "" {
			t.Errorf("ReleaseLeases changed execution %s (-want +got):\n%s", id, diff)
		}
	}

	adopted, err = s.AdoptExecutions(ctx, "replica-3", time.Minute, 100)
	require.NoError(t, err)
	require.ElementsMatch(t, mine, idsOf(adopted), "released leases are adopted at once")

	for _, none := range [][]string{nil, {}, {"not-a-uuid"}} {
		require.NoError(t, s.ReleaseLeases(ctx, "me", none), "ids %q", none)
	}
}

// TestCoordinationUnreachable extends TestUnreachableServer to the
// coordination methods: each reports store.ErrUnavailable, except those
// given no id worth asking about, which do not ask.
func TestCoordinationUnreachable(t *testing.T) {
	t.Parallel()
	db, err := sqlx.Open("postgres", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	s := postgres.New(db)
	defer s.Close()
	ctx := context.Background()
	id := uuid.NewString()
	ids := []string{id}

	_, findErr := s.FindExecutionByKey(ctx, "wf", "key")
	_, transitionErr := s.TransitionExecution(ctx, id, store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning})
	_, listErr := s.ListUnfinishedExecutions(ctx, "wf")
	_, renewErr := s.RenewLeases(ctx, "me", ids, time.Minute)
	_, adoptErr := s.AdoptExecutions(ctx, "me", time.Minute, 10)
	for name, err := range map[string]error{
		"FindExecutionByKey": findErr, "TransitionExecution": transitionErr, "ListUnfinishedExecutions": listErr,
		"RenewLeases": renewErr, "AdoptExecutions": adoptErr, "ReleaseLeases": s.ReleaseLeases(ctx, "me", ids),
	} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: error %v does not wrap store.ErrUnavailable", name, err)
		}
	}

	// Nothing to ask about: no query, so no error.
	lost, err := s.RenewLeases(ctx, "me", []string{"not-a-uuid"}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []string{"not-a-uuid"}, lost)
	lost, err = s.RenewLeases(ctx, "me", nil, time.Minute)
	require.NoError(t, err)
	require.Nil(t, lost)
	require.NoError(t, s.ReleaseLeases(ctx, "me", nil))
	require.NoError(t, s.ReleaseLeases(ctx, "me", []string{"not-a-uuid"}))
	_, err = s.TransitionExecution(ctx, "not-a-uuid", store.Transition{To: workflow.ExecutionRunning})
	require.ErrorIs(t, err, store.ErrStale, "an id that is not a UUID names no row, without asking")
}
