package main

import (
	"context"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestEmbeddedRestartTakesOverAtOnce: the executions of a process that had
// the embedded database, and died holding their leases, are adoptable as
// soon as the next process opens it, not a lease later.
func TestEmbeddedRestartTakesOverAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config.Config{DataDir: t.TempDir()}

	st, err := openStore(ctx, cfg, log.NewNopLogger())
	require.NoError(t, err)
	d := &workflow.Deployment{
		WorkflowID: "wf-restart", Status: workflow.StatusDeployed, Version: 1,
		Definition: []byte(`{"nodes":[{"id":"a","name":"A","type":"ACTION"}]}`),
		Triggers:   []workflow.Trigger{{Type: workflow.TriggerManual, Enabled: true}},
	}
	require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	var ids []string
	for _, status := range []workflow.ExecutionStatus{workflow.ExecutionPending, workflow.ExecutionRunning} {
		e := &workflow.Execution{WorkflowID: d.WorkflowID, TriggerType: workflow.TriggerManual, Status: status,
			FiredTime: time.Now().UTC(), OwnerInstance: "dead", Lease: time.Hour}
		created, err := st.CreateExecution(ctx, e)
		require.NoError(t, err)
		require.True(t, created)
		ids = append(ids, e.ID)
	}
	// The process dies: its leases stay as they were.
	st.close()

	st, err = openStore(ctx, cfg, log.NewNopLogger())
	require.NoError(t, err)
	defer st.close()
	adopted, err := st.AdoptExecutions(ctx, "heir", time.Minute, 10)
	require.NoError(t, err)
	var got []string
	for _, e := range adopted {
		got = append(got, e.ID)
	}
	require.ElementsMatch(t, ids, got, "the dead process's executions are adopted at start")
}
