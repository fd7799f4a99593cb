package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestListExecutionsUsesIndexes checks the plans of the listings: each
// walks the index that matches its filter in the page's order, and sorts at
// most the few rows of a page.
func TestListExecutionsUsesIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "wfr.db"))
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	const someID = "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"
	for _, tc := range []struct {
		f     workflow.ExecutionFilter
		index string
	}{
		{workflow.ExecutionFilter{}, "SCAN executions USING INDEX executions_fired_time_idx"},
		{workflow.ExecutionFilter{Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed}, From: time.Now()},
			"SEARCH executions USING INDEX executions_fired_time_idx (fired_time>?)"},
		{workflow.ExecutionFilter{DeploymentID: someID, After: store.EncodeCursor(time.Now(), someID)},
			"SEARCH executions USING INDEX executions_deployment_fired_idx (deployment_id=? AND fired_time<?)"},
		{workflow.ExecutionFilter{WorkflowID: "wf-1"},
			"SEARCH executions USING INDEX executions_workflow_status_fired_idx (workflow_id=? AND status=?)"},
		{workflow.ExecutionFilter{WorkflowID: "wf-1", Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed}, To: time.Now()},
			"SEARCH executions USING INDEX executions_workflow_status_fired_idx (workflow_id=? AND status=? AND fired_time<?)"},
	} {
		query, params, _, ok, err := listExecutionsQuery(tc.f)
		require.NoError(t, err)
		require.True(t, ok)
		query, args, err := sqlx.Named("EXPLAIN QUERY PLAN "+query, params)
		require.NoError(t, err)
		rows, err := s.r.QueryContext(ctx, query, args...)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		text := strings.Join(plan, "\n")
		require.Contains(t, plan, tc.index, "%+v:\n%s", tc.f, text)
		for _, step := range plan {
			require.False(t, strings.HasPrefix(step, "SCAN executions") && step != tc.index, "%+v:\n%s", tc.f, text)
		}
		if tc.f.WorkflowID == "" {
			require.NotContains(t, text, "TEMP B-TREE", "%+v: a sort of the whole range", tc.f)
		}
	}
}
