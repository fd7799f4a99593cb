package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var coordinationCases = []testCase{
	{"TransitionExecution/compare and set", testTransitionExecution},
	{"TransitionExecution/a whole life, then nothing moves it", testTransitionLife},
	{"TransitionExecution/no such execution", testTransitionMissing},
	{"TakeTurn/one turn per workflow", testTakeTurn},
	{"TakeTurn/concurrent takers: one wins", testTakeTurnConcurrently},
	{"ListUnfinishedExecutions/oldest fired first", testListUnfinished},
	{"RenewLeases", testRenewLeases},
	{"AdoptExecutions/expired only, oldest first, up to limit", testAdoptExecutions},
	{"AdoptExecutions/concurrent adopters share the rows", testAdoptConcurrently},
	{"ClaimExecutions/queued only, oldest first, up to limit", testClaimExecutions},
	{"ClaimExecutions/concurrent claimers share the queue", testClaimConcurrently},
	{"ReleaseLeases", testReleaseLeases},
	{"CreateExecution/the first lease runs on the store's clock", testFirstLease},
	{"LeaseExpired", testLeaseExpired},
	{"EndLeases/every owner's, for adoption at once", testEndLeases},
}

// clockSlack is how far the store's clock (the database's, for leases) may
// be from the test's.
const clockSlack = 2 * time.Second

// requireLeaseWithin checks that e's lease ends within [from, to], give or
// take clockSlack.
func requireLeaseWithin(t *testing.T, e *workflow.Execution, from, to time.Time) {
	t.Helper()
	require.NotNil(t, e.LeaseExpiresAt, "execution %s has no lease", e.ID)
	require.False(t, e.LeaseExpiresAt.Before(from.Add(-clockSlack)) || e.LeaseExpiresAt.After(to.Add(clockSlack)),
		"execution %s: lease expires at %v, want within [%v, %v]", e.ID, e.LeaseExpiresAt, from, to)
}

// leased creates an execution of d in status (PENDING or RUNNING), fired at
// fired, owned by owner until lease, and returns it as stored.
func leased(t *testing.T, s Store, d *workflow.Deployment, status workflow.ExecutionStatus, fired time.Time, owner string, lease *time.Time) *workflow.Execution {
	t.Helper()
	e := execution(d, fired, owner, lease)
	e.Status = status
	return mustGetExecution(t, s, mustCreateExecution(t, s, e))
}

// ended creates an execution of d owned by owner until lease and ends it in
// status.
func ended(t *testing.T, s Store, d *workflow.Deployment, status workflow.ExecutionStatus, fired time.Time, owner string, lease *time.Time) *workflow.Execution {
	t.Helper()
	e := leased(t, s, d, workflow.ExecutionRunning, fired, owner, lease)
	return finish(t, s, e.ID, status)
}

func from(ss ...workflow.ExecutionStatus) []workflow.ExecutionStatus { return ss }

func testTransitionExecution(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-move", workflow.StatusDeployed))
	lease := base.Add(time.Hour)
	started := base.Add(3*time.Second + 250*time.Microsecond)
	finished := base.Add(time.Minute)

	// pending is a new row; running, one an engine took; full, one with
	// every field a transition may write set.
	pending := func(owner string) string {
		e := execution(d, base, owner, new(lease))
		e.TraceID, e.Input = "trace-1", json.RawMessage(`{"in": [1, 2]}`)
		return mustCreateExecution(t, s, e)
	}
	running := func(owner string) string {
		id := pending(owner)
		_, err := s.TransitionExecution(ctx, id, store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning,
			EngineExecutionID: "engine-1", StartedTime: new(started)})
		require.NoError(t, err)
		return id
	}
	full := func() string {
		id := running("replica-1")
		_, err := s.TransitionExecution(ctx, id, store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionRunning,
			FinishedTime: new(finished), ErrorMessage: "retrying", SkipReason: "overlap", Result: json.RawMessage(`{"partial": true}`)})
		require.NoError(t, err)
		return id
	}
	succeeded := func() string {
		id := running("replica-1")
		finish(t, s, id, workflow.ExecutionSucceeded)
		return id
	}

	for _, tc := range []struct {
		name  string
		row   func() string
		t     store.Transition
		stale bool
		// want edits the row as it was into the expected one.
		want func(e *workflow.Execution)
	}{
		{
			name: "pending to running sets the engine id and start",
			row:  func() string { return pending("replica-1") },
			t: store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "replica-1",
				EngineExecutionID: "engine-7", StartedTime: new(started)},
			want: func(e *workflow.Execution) {
				e.Status, e.EngineExecutionID, e.StartedTime = workflow.ExecutionRunning, "engine-7", new(started)
			},
		},
		{
			name: "one of several expected statuses",
			row:  func() string { return running("replica-1") },
			t:    store.Transition{From: from(workflow.ExecutionPending, workflow.ExecutionRunning), To: workflow.ExecutionRunning},
			want: func(*workflow.Execution) {},
		},
		{
			name:  "status not expected",
			row:   func() string { return running("replica-1") },
			t:     store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "replica-1"},
			stale: true,
		},
		{
			name:  "no expected status",
			row:   func() string { return pending("replica-1") },
			t:     store.Transition{To: workflow.ExecutionRunning, Owner: "replica-1"},
			stale: true,
		},
		{
			name:  "another owner's row",
			row:   func() string { return running("replica-1") },
			t:     store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionFailed, Owner: "replica-2", FinishedTime: new(finished)},
			stale: true,
		},
		{
			name:  "owner names compare whole",
			row:   func() string { return running("replica-1") },
			t:     store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionFailed, Owner: "replica"},
			stale: true,
		},
		{
			name:  "an owner expected, the row has none",
			row:   func() string { return pending("") },
			t:     store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "replica-1"},
			stale: true,
		},
		{
			name: "no owner expected matches any owner",
			row:  func() string { return running("replica-1") },
			t: store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionCancelled,
				FinishedTime: new(finished), ErrorMessage: "cancelled: by user"},
			want: func(e *workflow.Execution) {
				e.Status, e.FinishedTime, e.ErrorMessage, e.LeaseExpiresAt = workflow.ExecutionCancelled, new(finished), "cancelled: by user", nil
			},
		},
		{
			name: "no owner expected matches a row without one",
			row:  func() string { return pending("") },
			t:    store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, EngineExecutionID: "engine-2"},
			want: func(e *workflow.Execution) { e.Status, e.EngineExecutionID = workflow.ExecutionRunning, "engine-2" },
		},
		{
			name: "terminal status ends the lease, keeps the owner, stores the result",
			row:  func() string { return running("replica-1") },
			t: store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionSucceeded, Owner: "replica-1",
				FinishedTime: new(finished), Result: json.RawMessage(`{"out": {"rows": [1, 2, 3]}, "ok": true}`)},
			want: func(e *workflow.Execution) {
				e.Status, e.FinishedTime, e.LeaseExpiresAt = workflow.ExecutionSucceeded, new(finished), nil
				e.Result = json.RawMessage(`{"ok": true, "out": {"rows": [1, 2, 3]}}`)
			},
		},
		{
			name: "skipped with its reason",
			row:  func() string { return pending("replica-1") },
			t: store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionSkipped, Owner: "replica-1",
				FinishedTime: new(base), SkipReason: "overlap: SKIP"},
			want: func(e *workflow.Execution) {
				e.Status, e.FinishedTime, e.SkipReason, e.LeaseExpiresAt = workflow.ExecutionSkipped, new(base), "overlap: SKIP", nil
			},
		},
		{
			name: "unset fields keep their values",
			row:  full,
			t:    store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionRunning, Owner: "replica-1"},
			want: func(*workflow.Execution) {},
		},
		{
			name: "unset fields keep their values at the end too",
			row:  full,
			t:    store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionTimedOut, Owner: "replica-1"},
			want: func(e *workflow.Execution) { e.Status, e.LeaseExpiresAt = workflow.ExecutionTimedOut, nil },
		},
		{
			name: "set fields replace the values",
			row:  full,
			t: store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionFailed, Owner: "replica-1",
				EngineExecutionID: "engine-9", StartedTime: new(started.Add(time.Second)), FinishedTime: new(finished.Add(time.Second)),
				ErrorMessage: "node n1 failed", SkipReason: "none", Result: json.RawMessage(`{"error": "boom"}`)},
			want: func(e *workflow.Execution) {
				e.Status, e.LeaseExpiresAt, e.EngineExecutionID = workflow.ExecutionFailed, nil, "engine-9"
				e.StartedTime, e.FinishedTime = new(started.Add(time.Second)), new(finished.Add(time.Second))
				e.ErrorMessage, e.SkipReason, e.Result = "node n1 failed", "none", json.RawMessage(`{"error": "boom"}`)
			},
		},
		{
			name: "a terminal row is not moved by a late writer",
			row:  succeeded,
			t: store.Transition{From: from(workflow.ExecutionPending, workflow.ExecutionRunning), To: workflow.ExecutionFailed,
				FinishedTime: new(finished.Add(time.Hour)), ErrorMessage: "late"},
			stale: true,
		},
		{
			name: "a terminal row is not moved even when its status is expected",
			row:  succeeded,
			t: store.Transition{From: from(workflow.ExecutionSucceeded, workflow.ExecutionRunning), To: workflow.ExecutionRunning,
				ErrorMessage: "revived"},
			stale: true,
		},
	} {
		id := tc.row()
		before := mustGetExecution(t, s, id)
		got, err := s.TransitionExecution(ctx, id, tc.t)
		if tc.stale {
			require.ErrorIs(t, err, store.ErrStale, tc.name)
			require.Nil(t, got, tc.name)
			if diff := cmp.Diff(before, mustGetExecution(t, s, id), jsonEqual); diff != "" {
				t.Errorf("%s: a stale transition changed the row (-before +after):\n%s", tc.name, diff)
			}
			continue
		}
		require.NoError(t, err, tc.name)
		want := *before
		tc.want(&want)
		if diff := cmp.Diff(&want, got, jsonEqual, roundedTime); diff != "" {
			t.Errorf("%s: TransitionExecution returned (-want +got):\n%s", tc.name, diff)
		}
		if diff := cmp.Diff(&want, mustGetExecution(t, s, id), jsonEqual, roundedTime); diff != "" {
			t.Errorf("%s: row after TransitionExecution (-want +got):\n%s", tc.name, diff)
		}
	}
}

func testTransitionLife(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-life", workflow.StatusDeployed))
	id := leased(t, s, d, workflow.ExecutionPending, base, "replica-1", new(time.Now().Add(time.Hour))).ID
	row, err := s.TransitionExecution(ctx, strings.ToUpper(id), store.Transition{
		From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "replica-1", StartedTime: new(base)})
	require.NoError(t, err, "an upper-case UUID is the same id")
	require.Equal(t, id, row.ID)
	row, err = s.TransitionExecution(ctx, id, store.Transition{
		From: from(workflow.ExecutionRunning), To: workflow.ExecutionSucceeded, Owner: "replica-1", FinishedTime: new(base.Add(time.Minute))})
	require.NoError(t, err)
	require.Nil(t, row.LeaseExpiresAt, "a terminal status ends the lease")
	require.Equal(t, "replica-1", row.OwnerInstance)
	for _, status := range []workflow.ExecutionStatus{workflow.ExecutionRunning, workflow.ExecutionFailed, workflow.ExecutionCancelled, workflow.ExecutionSucceeded} {
		for _, owner := range []string{"", "replica-1"} {
			_, err := s.TransitionExecution(ctx, id, store.Transition{
				From: from(workflow.ExecutionPending, workflow.ExecutionRunning, workflow.ExecutionSucceeded), To: status, Owner: owner})
			require.ErrorIs(t, err, store.ErrStale, "to %s by %q", status, owner)
		}
	}
	if diff := cmp.Diff(row, mustGetExecution(t, s, id), jsonEqual); diff != "" {
		t.Errorf("the finished row changed (-want +got):\n%s", diff)
	}
	// Nor may it be renewed, adopted or take a turn.
	lost, err := s.RenewLeases(ctx, "replica-1", []string{id}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []string{id}, lost)
	adopted, err := s.AdoptExecutions(ctx, "replica-2", time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, adopted)
	_, err = s.TakeTurn(ctx, id, "replica-1")
	require.ErrorIs(t, err, store.ErrStale)
}

func testTransitionMissing(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-none", workflow.StatusDeployed))
	for _, id := range []string{"5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", "not-a-uuid", "", d.ID} {
		got, err := s.TransitionExecution(ctx, id, store.Transition{
			From: from(workflow.ExecutionPending, workflow.ExecutionRunning), To: workflow.ExecutionRunning})
		require.ErrorIs(t, err, store.ErrStale, "id %q", id)
		require.Nil(t, got)
	}
}

// takeTurn is TakeTurn, again while the store reports a concurrent change.
func takeTurn(ctx context.Context, s Store, id, owner string) (string, error) {
	for {
		holder, err := s.TakeTurn(ctx, id, owner)
		if !errors.Is(err, store.ErrConcurrentChange) {
			return holder, err
		}
	}
}

func testTakeTurn(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-turn", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-turn-other", workflow.StatusDeployed))
	a := leased(t, s, d, workflow.ExecutionPending, base, "r1", nil).ID
	b := leased(t, s, d, workflow.ExecutionPending, base, "r1", nil).ID
	c := leased(t, s, other, workflow.ExecutionPending, base, "r1", nil).ID
	require.False(t, mustGetExecution(t, s, a).HoldsTurn, "a new execution holds no turn")

	holder, err := s.TakeTurn(ctx, a, "r1")
	require.NoError(t, err)
	require.Empty(t, holder)
	require.True(t, mustGetExecution(t, s, a).HoldsTurn)
	holder, err = s.TakeTurn(ctx, a, "r1")
	require.NoError(t, err)
	require.Empty(t, holder, "taking one's own turn again is no conflict")

	holder, err = s.TakeTurn(ctx, b, "r1")
	require.NoError(t, err)
	require.Equal(t, a, holder, "the holder is named")
	require.False(t, mustGetExecution(t, s, b).HoldsTurn, "a refused turn writes nothing")
	holder, err = s.TakeTurn(ctx, c, "r1")
	require.NoError(t, err)
	require.Empty(t, holder, "turns are per workflow")

	for _, tc := range []struct{ id, owner string }{{b, "r2"}, {b, ""}, {"not-a-uuid", "r1"}, {"5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", "r1"}} {
		_, err = s.TakeTurn(ctx, tc.id, tc.owner)
		require.ErrorIs(t, err, store.ErrStale, "%+v", tc)
	}

	// The turn holds while running; a RUNNING execution takes none.
	_, err = s.TransitionExecution(ctx, a, store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning})
	require.NoError(t, err)
	require.True(t, mustGetExecution(t, s, a).HoldsTurn)
	holder, err = s.TakeTurn(ctx, b, "r1")
	require.NoError(t, err)
	require.Equal(t, a, holder)
	_, err = s.TakeTurn(ctx, a, "r1")
	require.ErrorIs(t, err, store.ErrStale, "a RUNNING execution is not PENDING")

	finish(t, s, a, workflow.ExecutionSucceeded)
	holder, err = s.TakeTurn(ctx, b, "r1")
	require.NoError(t, err)
	require.Empty(t, holder, "an execution gives its turn up by ending")
	_, err = s.TakeTurn(ctx, a, "r1")
	require.ErrorIs(t, err, store.ErrStale, "an ended execution takes no turn")

	// ListUnfinishedExecutions shows who holds it.
	open, err := s.ListUnfinishedExecutions(ctx, "wf-turn")
	require.NoError(t, err)
	require.Equal(t, []string{b}, idsOf(open))
	require.True(t, open[0].HoldsTurn)

	// WithoutTurn ends only an execution that waits for its turn.
	cancel := store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionCancelled, WithoutTurn: true}
	_, err = s.TransitionExecution(ctx, b, cancel)
	require.ErrorIs(t, err, store.ErrStale, "b holds the turn")
	require.Equal(t, workflow.ExecutionPending, mustGetExecution(t, s, b).Status)
	waiting := leased(t, s, d, workflow.ExecutionPending, base, "r1", nil).ID
	row, err := s.TransitionExecution(ctx, waiting, cancel)
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionCancelled, row.Status)
}

func testTakeTurnConcurrently(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-turn", workflow.StatusDeployed))
	for round := range 3 {
		ids := make([]string, 8)
		for i := range ids {
			ids[i] = leased(t, s, d, workflow.ExecutionPending, base.Add(time.Duration(round)*time.Minute), "r1", nil).ID
		}
		holders := make([]string, len(ids))
		errs := make([]error, len(ids))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				<-start
				holders[i], errs[i] = takeTurn(ctx, s, id, "r1")
			})
		}
		close(start)
		wg.Wait()
		var winners []string
		for i, h := range holders {
			require.NoError(t, errs[i])
			if h == "" {
				winners = append(winners, ids[i])
			}
		}
		require.Len(t, winners, 1, "round %d: executions that took the turn", round)
		for i, h := range holders {
			if ids[i] != winners[0] {
				require.Equal(t, winners[0], h, "round %d: a loser names the winner", round)
			}
		}
		// The round's executions end, freeing the turn for the next.
		for _, id := range ids {
			finish(t, s, id, workflow.ExecutionSkipped)
		}
	}
}

func testListUnfinished(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-open", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-open-other", workflow.StatusDeployed))
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }

	var want []string
	fired := map[string]time.Time{}
	add := func(d *workflow.Deployment, status workflow.ExecutionStatus, when time.Time, listed bool) {
		var e *workflow.Execution
		if status.Terminal() {
			e = ended(t, s, d, status, when, "replica-1", new(when.Add(time.Minute)))
		} else {
			e = leased(t, s, d, status, when, "replica-1", new(when.Add(time.Minute)))
		}
		if listed {
			want = append(want, e.ID)
			fired[e.ID] = when
		}
	}
	// Created out of order; three share a fired time.
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

	got, err := s.ListUnfinishedExecutions(ctx, "wf-open")
	require.NoError(t, err)
	require.ElementsMatch(t, want, idsOf(got))
	require.True(t, slices.IsSortedFunc(got, func(a, b workflow.Execution) int { return a.FiredTime.Compare(b.FiredTime) }),
		"oldest fired first: %v", got)
	for _, e := range got {
		if diff := cmp.Diff(mustGetExecution(t, s, e.ID), &e, jsonEqual); diff != "" {
			t.Errorf("listed row against GetExecution (-want +got):\n%s", diff)
		}
	}

	got, err = s.ListUnfinishedExecutions(ctx, "wf-none")
	require.NoError(t, err)
	require.Empty(t, got)
}

func testRenewLeases(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-renew", workflow.StatusDeployed))
	past, future := new(base), new(time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond))

	minePending := leased(t, s, d, workflow.ExecutionPending, base, "me", past).ID
	mineRunning := leased(t, s, d, workflow.ExecutionRunning, base, "me", future).ID
	mineUnleased := leased(t, s, d, workflow.ExecutionRunning, base, "me", nil).ID
	untouched := map[string]*workflow.Execution{}
	for _, e := range []*workflow.Execution{
		ended(t, s, d, workflow.ExecutionSucceeded, base, "me", past),       // over
		ended(t, s, d, workflow.ExecutionFailed, base, "me", nil),           // over
		leased(t, s, d, workflow.ExecutionRunning, base, "replica-2", past), // adopted by another
		leased(t, s, d, workflow.ExecutionPending, base, "", nil),           // nobody's
		leased(t, s, d, workflow.ExecutionPending, base, "me-too", future),  // owner names compare whole
	} {
		untouched[e.ID] = e
	}
	unknown := "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"
	ids := []string{"not-a-uuid", strings.ToUpper(minePending), mineRunning, mineUnleased, unknown, "", mineRunning}
	for id := range untouched {
		ids = append(ids, strings.ToUpper(id))
	}

	const lease = 30 * time.Second
	before := time.Now()
	lost, err := s.RenewLeases(ctx, "me", ids, lease)
	after := time.Now()
	require.NoError(t, err)
	wantLost := []string{"not-a-uuid", "", unknown}
	for id := range untouched {
		wantLost = append(wantLost, id)
	}
	require.ElementsMatch(t, wantLost, lost,
		"every id that is not my unfinished execution, once, as a UUID in canonical form or as given when it is none")
	for _, id := range []string{minePending, mineRunning, mineUnleased} {
		e := mustGetExecution(t, s, id)
		requireLeaseWithin(t, e, before.Add(lease), after.Add(lease))
		require.Equal(t, "me", e.OwnerInstance)
	}
	for id, want := range untouched {
		if diff := cmp.Diff(want, mustGetExecution(t, s, id), jsonEqual); diff != "" {
			t.Errorf("RenewLeases changed execution %s (-want +got):\n%s", id, diff)
		}
	}

	// Shorter leases are set, not added to.
	lost, err = s.RenewLeases(ctx, "me", []string{mineRunning}, 10*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, lost)
	requireLeaseWithin(t, mustGetExecution(t, s, mineRunning), before, time.Now().Add(10*time.Millisecond))

	for _, none := range [][]string{nil, {}} {
		lost, err := s.RenewLeases(ctx, "me", none, lease)
		require.NoError(t, err, "ids %q", none)
		require.Empty(t, lost, "ids %q", none)
	}
	lost, err = s.RenewLeases(ctx, "nobody", []string{minePending, mineRunning}, lease)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{minePending, mineRunning}, lost, "only the owner renews")
}

func testAdoptExecutions(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-adopt", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-adopt-other", workflow.StatusDeployed))
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	expired, live := new(time.Now().Add(-time.Minute).UTC()), new(time.Now().Add(time.Hour).UTC())

	// Adoptable, by fired time: owned, with expired leases and none, of any workflow.
	var adoptable []string
	originals := map[string]*workflow.Execution{}
	for _, e := range []*workflow.Execution{
		leased(t, s, d, workflow.ExecutionRunning, at(0), "dead", expired),
		leased(t, s, other, workflow.ExecutionPending, at(1), "dead", nil),
		leased(t, s, d, workflow.ExecutionPending, at(2), "dead", expired),
		leased(t, s, d, workflow.ExecutionRunning, at(3), "dead", nil),
		leased(t, s, other, workflow.ExecutionRunning, at(4), "gone", expired),
	} {
		adoptable = append(adoptable, e.ID)
		originals[e.ID] = e
	}
	untouched := map[string]*workflow.Execution{}
	for _, e := range []*workflow.Execution{
		leased(t, s, d, workflow.ExecutionRunning, at(-10), "alive", live),    // live lease, however old
		leased(t, s, d, workflow.ExecutionPending, at(-9), "alive", live),     // live lease
		ended(t, s, d, workflow.ExecutionSucceeded, at(-8), "dead", nil),      // over
		ended(t, s, d, workflow.ExecutionFailed, at(-7), "dead", expired),     // over
		ended(t, s, d, workflow.ExecutionSkipped, at(-6), "", nil),            // over, never owned
		ended(t, s, d, workflow.ExecutionCancelled, at(-5), "", expired),      // over
		ended(t, s, d, workflow.ExecutionTimedOut, at(-4), "dead", nil),       // over
		leased(t, s, other, workflow.ExecutionRunning, at(-3), "alive", live), // live lease
		leased(t, s, other, workflow.ExecutionPending, at(-2), "", nil),       // queued: ClaimExecutions'
	} {
		untouched[e.ID] = e
	}

	const lease = 45 * time.Second
	check := func(got []workflow.Execution, before, after time.Time) {
		t.Helper()
		for _, e := range got {
			want := *originals[e.ID]
			want.OwnerInstance, want.LeaseExpiresAt = "me", e.LeaseExpiresAt
			if diff := cmp.Diff(&want, &e, jsonEqual); diff != "" {
				t.Errorf("adopted execution (-want +got):\n%s", diff)
			}
			requireLeaseWithin(t, &e, before.Add(lease), after.Add(lease))
			if diff := cmp.Diff(&e, mustGetExecution(t, s, e.ID), jsonEqual); diff != "" {
				t.Errorf("adopted row as stored (-returned +stored):\n%s", diff)
			}
		}
	}

	none, err := s.AdoptExecutions(ctx, "me", lease, 0)
	require.NoError(t, err)
	require.Empty(t, none, "a limit of 0 adopts nothing")

	before := time.Now()
	first, err := s.AdoptExecutions(ctx, "me", lease, 2)
	after := time.Now()
	require.NoError(t, err)
	require.ElementsMatch(t, adoptable[:2], idsOf(first), "the two oldest fired")
	check(first, before, after)

	before = time.Now()
	rest, err := s.AdoptExecutions(ctx, "me", lease, 100)
	after = time.Now()
	require.NoError(t, err)
	require.ElementsMatch(t, adoptable[2:], idsOf(rest), "the rest, and nothing else")
	check(rest, before, after)

	again, err := s.AdoptExecutions(ctx, "someone-else", lease, 100)
	require.NoError(t, err)
	require.Empty(t, again, "adopted rows carry a live lease")
	for id, want := range untouched {
		if diff := cmp.Diff(want, mustGetExecution(t, s, id), jsonEqual); diff != "" {
			t.Errorf("AdoptExecutions changed execution %s (-want +got):\n%s", id, diff)
		}
	}
	// The adopter owns them now: the old owner's writes are refused.
	_, err = s.TransitionExecution(ctx, adoptable[0], store.Transition{From: from(workflow.ExecutionRunning), To: workflow.ExecutionFailed, Owner: "dead"})
	require.ErrorIs(t, err, store.ErrStale)
	lost, err := s.RenewLeases(ctx, "dead", []string{adoptable[0]}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []string{adoptable[0]}, lost)
}

// testAdoptConcurrently races two adopters over the same expired rows, a few
// rounds over (each adopter releasing what it adopted in between): every row
// is adopted once per round, by one of them.
func testAdoptConcurrently(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-race", workflow.StatusDeployed))
	const rows = 60
	var all []string
	for i := range rows {
		status := []workflow.ExecutionStatus{workflow.ExecutionPending, workflow.ExecutionRunning}[i%2]
		all = append(all, leased(t, s, d, status, base.Add(time.Duration(i%7)*time.Second), "dead", nil).ID)
	}

	owners := []string{"replica-a", "replica-b"}
	for round := range 3 {
		adopted := make([][]workflow.Execution, len(owners))
		errs := make([]error, len(owners))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, owner := range owners {
			wg.Go(func() {
				<-start
				// Again until nothing is left, as the coordinator does.
				for {
					got, err := s.AdoptExecutions(ctx, owner, time.Minute, 7)
					if errors.Is(err, store.ErrConcurrentChange) {
						continue
					}
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
		got := make([]string, 0, len(seen))
		for id, owner := range seen {
			got = append(got, id)
			require.Equal(t, owner, mustGetExecution(t, s, id).OwnerInstance, "round %d: the stored owner of %s is the one that adopted it", round, id)
		}
		require.ElementsMatch(t, all, got, "round %d: every expired row adopted once", round)
		for i, owner := range owners {
			require.NoError(t, s.ReleaseLeases(ctx, owner, idsOf(adopted[i])))
		}
	}
}

func testReleaseLeases(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-release", workflow.StatusDeployed))
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	live := new(time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond))

	mine := []string{
		leased(t, s, d, workflow.ExecutionRunning, at(0), "me", live).ID,
		leased(t, s, d, workflow.ExecutionPending, at(1), "me", live).ID,
	}
	untouched := map[string]*workflow.Execution{}
	for _, e := range []*workflow.Execution{
		leased(t, s, d, workflow.ExecutionRunning, at(2), "replica-2", live), // another's
		ended(t, s, d, workflow.ExecutionSucceeded, at(3), "me", live),       // over
		leased(t, s, d, workflow.ExecutionPending, at(4), "", live),          // nobody's
		leased(t, s, d, workflow.ExecutionRunning, at(5), "me-too", live),    // owner names compare whole
	} {
		untouched[e.ID] = e
	}
	ids := []string{"not-a-uuid", strings.ToUpper(mine[0]), mine[1], "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"}
	for id := range untouched {
		ids = append(ids, id)
	}

	adopted, err := s.AdoptExecutions(ctx, "replica-3", time.Minute, 100)
	require.NoError(t, err)
	require.Empty(t, adopted, "every lease is live")

	before := time.Now()
	require.NoError(t, s.ReleaseLeases(ctx, "me", ids))
	after := time.Now()
	for _, id := range mine {
		e := mustGetExecution(t, s, id)
		requireLeaseWithin(t, e, before, after)
		require.Equal(t, "me", e.OwnerInstance, "released, not disowned")
	}
	for id, want := range untouched {
		if diff := cmp.Diff(want, mustGetExecution(t, s, id), jsonEqual); diff != "" {
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

// testFirstLease creates an execution with a lease length: its lease ends
// that long after the store's now, and until then no one adopts it.
func testFirstLease(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-lease", workflow.StatusDeployed))
	const lease = time.Hour
	e := execution(d, base, "me", new(base))
	e.Lease = lease
	before := time.Now()
	id := mustCreateExecution(t, s, e)
	after := time.Now()
	requireLeaseWithin(t, e, before.Add(lease), after.Add(lease))
	stored := mustGetExecution(t, s, id)
	require.Equal(t, e.LeaseExpiresAt, stored.LeaseExpiresAt, "the lease returned is the lease stored")
	adopted, err := s.AdoptExecutions(ctx, "other", lease, 10)
	require.NoError(t, err)
	require.Empty(t, adopted, "a fresh lease is not adopted")
}

func testLeaseExpired(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-expired", workflow.StatusDeployed))
	fresh := execution(d, base, "me", nil)
	fresh.Lease = time.Hour
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{"a fresh lease", mustCreateExecution(t, s, fresh), false},
		{"a lease that ran out", leased(t, s, d, workflow.ExecutionRunning, base, "dead", new(base)).ID, true},
		{"no lease", leased(t, s, d, workflow.ExecutionPending, base, "", nil).ID, true},
		{"a finished execution", ended(t, s, d, workflow.ExecutionSucceeded, base, "dead", new(base)).ID, false},
	} {
		got, err := s.LeaseExpired(ctx, tc.id)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
		_, err := s.LeaseExpired(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "LeaseExpired(%q)", id)
	}
}

func testEndLeases(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-end", workflow.StatusDeployed))
	live := new(time.Now().Add(time.Hour).UTC())
	ids := []string{
		leased(t, s, d, workflow.ExecutionPending, base, "gone", live).ID,
		leased(t, s, d, workflow.ExecutionRunning, base.Add(time.Second), "also-gone", live).ID,
	}
	over := ended(t, s, d, workflow.ExecutionSucceeded, base, "gone", live)
	n, err := s.EndLeases(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	adopted, err := s.AdoptExecutions(ctx, "heir", time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, ids, idsOf(adopted), "every unfinished execution is adopted at once")
	if diff := cmp.Diff(over, mustGetExecution(t, s, over.ID), jsonEqual); diff != "" {
		t.Errorf("EndLeases changed a finished execution (-want +got):\n%s", diff)
	}
	n, err = s.EndLeases(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "the heir's leases end too: every owner is gone")
}
