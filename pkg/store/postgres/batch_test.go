package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// A row PostgreSQL refuses (a NUL byte in text) fails alone: every other
// row of its batch is written, and the bad one gets an Invalid error.
func TestBatchWithARefusedRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-batch", workflow.StatusDeployed, manualTrigger()))
	fired := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)

	const bad = 5
	es := make([]*workflow.Execution, 12)
	for i := range es {
		es[i] = &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
			TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: fired,
			TriggeredBy: "caller", OwnerInstance: "me"}
	}
	es[bad].TriggeredBy = "nul\x00byte"
	errs := s.CreateExecutionsInOneBatch(es)
	for i, err := range errs {
		if i == bad {
			require.Error(t, err, "the refused row")
			require.Equal(t, errors.Invalid, errors.KindOf(err), "the refused row: %v", err)
			continue
		}
		require.NoError(t, err, "row %d beside the refused one", i)
		require.NotEmpty(t, es[i].ID, "row %d beside the refused one is created", i)
	}
	var n int
	require.NoError(t, s.DB().GetContext(ctx, &n, `SELECT count(*) FROM executions`))
	require.Equal(t, len(es)-1, n, "every good row is written, and nothing else")

	// The same for a batch of transitions.
	ids := make([]string, 0, len(es)-1)
	ts := make([]store.Transition, 0, len(es)-1)
	for i, e := range es {
		if i != bad {
			ids = append(ids, e.ID)
			ts = append(ts, store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending},
				To: workflow.ExecutionFailed, ErrorMessage: "failed"})
		}
	}
	ts[3].ErrorMessage = "nul\x00byte"
	errs = s.TransitionInOneBatch(ids, ts)
	for i, err := range errs {
		if i == 3 {
			require.Equal(t, errors.Invalid, errors.KindOf(err), "the refused transition: %v", err)
			continue
		}
		require.NoError(t, err, "transition %d beside the refused one", i)
	}
	require.NoError(t, s.DB().GetContext(ctx, &n, `SELECT count(*) FROM executions WHERE status = 'FAILED'`))
	require.Equal(t, len(ids)-1, n, "every good transition is written, and nothing else")
}
