package storetest

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// testPendingBacklog: PENDING executions due now, per workflow, whoever
// owns them; RUNNING and ended ones, and retries not yet due, are not
// counted; a workflow whose turn is held says so.
func testPendingBacklog(t *testing.T, s Store) {
	ctx := context.Background()
	now := base.Add(time.Hour)
	got, err := s.PendingBacklog(ctx, now)
	require.NoError(t, err)
	require.Empty(t, got, "no executions, no backlog")

	d := mustCreate(t, s, newDeployment("wf-backlog", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-backlog-other", workflow.StatusDeployed))
	leased(t, s, d, workflow.ExecutionPending, base.Add(-time.Minute), "r1", nil)
	leased(t, s, d, workflow.ExecutionPending, base, "r2", nil)
	leased(t, s, d, workflow.ExecutionRunning, base, "r1", nil)
	ended(t, s, d, workflow.ExecutionSucceeded, base, "r1", nil)
	for _, notBefore := range []time.Time{now, now.Add(time.Second)} {
		failed := leased(t, s, d, workflow.ExecutionRunning, base, "a", nil)
		_, _, err := s.RetryExecution(ctx, failed.ID, failAt(base), base, notBefore, time.Minute)
		require.NoError(t, err)
	}
	turn := leased(t, s, other, workflow.ExecutionPending, base, "r1", nil)
	leased(t, s, other, workflow.ExecutionPending, base, "r1", nil)
	_, err = s.TakeTurn(ctx, turn.ID, "r1")
	require.NoError(t, err)

	got, err = s.PendingBacklog(ctx, now)
	require.NoError(t, err)
	slices.SortFunc(got, func(a, b store.WorkflowBacklog) int { return cmp.Compare(a.WorkflowID, b.WorkflowID) })
	require.Equal(t, []store.WorkflowBacklog{
		{WorkflowID: "wf-backlog", Pending: 3, Oldest: base.Add(-time.Minute)},
		{WorkflowID: "wf-backlog-other", Pending: 2, TurnHeld: true, Oldest: base},
	}, got)
}
