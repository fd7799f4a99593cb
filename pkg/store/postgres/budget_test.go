package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

// TestListDeploymentsByteBudget checks that a page ends before its
// definitions pass MaxBytes, always holds one deployment, and that paging
// through such pages still yields every deployment once.
func TestListDeploymentsByteBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	big := strings.Repeat("x", 10_000)
	for i := range 5 {
		d := newDeployment(fmt.Sprintf("wf-big-%d", i), store.StatusDeployed)
		d.Definition = json.RawMessage(fmt.Sprintf(`{"name": %q, "nodes": []}`, big))
		mustCreate(t, s, d)
	}
	seen := map[string]bool{}
	var pages []int
	after := ""
	for range 10 {
		page, err := s.ListDeployments(ctx, store.ListFilter{Limit: 50, After: after, MaxBytes: 25_000})
		require.NoError(t, err)
		require.EqualValues(t, 5, page.Total)
		pages = append(pages, len(page.Deployments))
		for _, d := range page.Deployments {
			require.False(t, seen[d.ID], "deployment %s on two pages", d.ID)
			seen[d.ID] = true
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	require.Equal(t, []int{2, 2, 1}, pages, "two 10 kB definitions fit in 25 kB, three do not")
	require.Len(t, seen, 5)

	page, err := s.ListDeployments(ctx, store.ListFilter{Limit: 50, MaxBytes: 1})
	require.NoError(t, err)
	require.Len(t, page.Deployments, 1, "a page holds one deployment however large")
	require.NotEmpty(t, page.Next)
}
