package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// testClaimExecutions: a claim takes queued rows (PENDING, written without
// an owner), of any workflow, oldest fired first and by id among rows fired
// together, up to its limit; it leaves owned rows, live or expired, to
// their owners and to adoption, and ended rows alone, also one that was
// queued, which counts nothing against its limit.
func testClaimExecutions(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-claim", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-claim-other", workflow.StatusDeployed))
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	expired, live := new(time.Now().Add(-time.Minute).UTC()), new(time.Now().Add(time.Hour).UTC())

	// Queued, written out of order; two fired at the same time go by id.
	originals := map[string]*workflow.Execution{}
	var queued []*workflow.Execution
	for _, fired := range []int{3, 0, 1, 1, 2} {
		wf := d
		if fired%2 == 1 {
			wf = other
		}
		e := leased(t, s, wf, workflow.ExecutionPending, at(fired), "", nil)
		queued = append(queued, e)
		originals[e.ID] = e
	}
	inOrder := func(es []*workflow.Execution) []string {
		sorted := append([]*workflow.Execution(nil), es...)
		for i := range sorted {
			for j := i + 1; j < len(sorted); j++ {
				a, b := sorted[i], sorted[j]
				if b.FiredTime.Before(a.FiredTime) || b.FiredTime.Equal(a.FiredTime) && b.ID < a.ID {
					sorted[i], sorted[j] = b, a
				}
			}
		}
		ids := make([]string, len(sorted))
		for i, e := range sorted {
			ids[i] = e.ID
		}
		return ids
	}
	want := inOrder(queued)
	// Queued, then cancelled before any claim: it leaves the queue, and
	// takes no place in a claim's limit.
	cancelled := leased(t, s, d, workflow.ExecutionPending, at(-1), "", nil)
	_, err := s.TransitionExecution(ctx, cancelled.ID, store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionCancelled})
	require.NoError(t, err)
	cancelled = mustGetExecution(t, s, cancelled.ID)

	// Owned once, their owner gone: adoption's, not a claim's.
	abandoned := []string{
		leased(t, s, d, workflow.ExecutionPending, at(-10), "dead", expired).ID,
		leased(t, s, d, workflow.ExecutionRunning, at(-8), "dead", nil).ID,
	}
	untouched := map[string]*workflow.Execution{}
	for _, e := range []*workflow.Execution{
		leased(t, s, d, workflow.ExecutionPending, at(-9), "alive", live),     // owned
		ended(t, s, d, workflow.ExecutionSkipped, at(-7), "", nil),            // over, never owned
		ended(t, s, d, workflow.ExecutionCancelled, at(-6), "", nil),          // over, never owned
		leased(t, s, other, workflow.ExecutionPending, at(-5), "alive", live), // owned
		cancelled, // queued, then over
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
				t.Errorf("claimed execution (-want +got):\n%s", diff)
			}
			requireLeaseWithin(t, &e, before.Add(lease), after.Add(lease))
			if diff := cmp.Diff(&e, mustGetExecution(t, s, e.ID), jsonEqual); diff != "" {
				t.Errorf("claimed row as stored (-returned +stored):\n%s", diff)
			}
		}
	}

	none, err := s.ClaimExecutions(ctx, "me", lease, 0)
	require.NoError(t, err)
	require.Empty(t, none, "a limit of 0 claims nothing")

	before := time.Now()
	first, err := s.ClaimExecutions(ctx, "me", lease, 3)
	after := time.Now()
	require.NoError(t, err)
	require.Equal(t, want[:3], idsOf(first), "the three oldest, in order")
	check(first, before, after)

	adopted, err := s.AdoptExecutions(ctx, "adopter", lease, 100)
	require.NoError(t, err)
	require.Equal(t, abandoned, idsOf(adopted), "adoption takes no queued row, and no claimed one while its lease lives")

	before = time.Now()
	rest, err := s.ClaimExecutions(ctx, "me", lease, 100)
	after = time.Now()
	require.NoError(t, err)
	require.Equal(t, want[3:], idsOf(rest), "the rest, in order, and nothing else")
	check(rest, before, after)

	again, err := s.ClaimExecutions(ctx, "someone-else", lease, 100)
	require.NoError(t, err)
	require.Empty(t, again, "claimed rows are owned")
	for id, want := range untouched {
		if diff := cmp.Diff(want, mustGetExecution(t, s, id), jsonEqual); diff != "" {
			t.Errorf("ClaimExecutions changed execution %s (-want +got):\n%s", id, diff)
		}
	}
	// The claimer owns them: renewal and release work as for any owned row.
	lost, err := s.RenewLeases(ctx, "me", want, time.Minute)
	require.NoError(t, err)
	require.Empty(t, lost)
	_, err = s.TransitionExecution(ctx, want[0], store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning, Owner: "me"})
	require.NoError(t, err)
}

// testClaimConcurrently races three claimers over one queue: every queued
// row is claimed exactly once, and each claimer's rows come oldest first.
func testClaimConcurrently(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-claim-race", workflow.StatusDeployed))
	const rows = 60
	var all []string
	for i := range rows {
		all = append(all, leased(t, s, d, workflow.ExecutionPending, base.Add(time.Duration(i)*time.Second), "", nil).ID)
	}

	owners := []string{"replica-a", "replica-b", "replica-c"}
	claimed := make([][]workflow.Execution, len(owners))
	errs := make([]error, len(owners))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, owner := range owners {
		wg.Go(func() {
			<-start
			for {
				got, err := s.ClaimExecutions(ctx, owner, time.Minute, 4)
				if err != nil || len(got) == 0 {
					errs[i] = err
					return
				}
				claimed[i] = append(claimed[i], got...)
			}
		})
	}
	close(start)
	wg.Wait()

	seen := map[string]string{}
	for i, owner := range owners {
		require.NoError(t, errs[i], owner)
		for k, e := range claimed[i] {
			if prev, ok := seen[e.ID]; ok {
				t.Fatalf("execution %s claimed by %s and by %s", e.ID, prev, owner)
			}
			seen[e.ID] = owner
			require.Equal(t, owner, mustGetExecution(t, s, e.ID).OwnerInstance)
			if k > 0 {
				require.False(t, e.FiredTime.Before(claimed[i][k-1].FiredTime), "%s claims oldest first", owner)
			}
		}
	}
	got := make([]string, 0, len(seen))
	for id := range seen {
		got = append(got, id)
	}
	require.ElementsMatch(t, all, got, "every queued row claimed once")
}
