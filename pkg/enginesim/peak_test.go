package enginesim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// TestPeak counts the runs of one workflow alive at once on the engine's
// clock: back to back is one at a time, and other workflows do not count.
func TestPeak(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Config{MinDuration: time.Second, MaxDuration: time.Second, Now: func() time.Time { return now }})
	start := func(wf, key string) {
		_, err := s.ExecuteWorkflow(context.Background(), &pb.ExecuteWorkflowRequest{WorkflowId: wf, Metadata: map[string]string{MetaIdempotencyKey: key}})
		require.NoError(t, err)
	}
	require.Zero(t, s.Peak("wf"))
	start("wf", "a")
	start("wf", "b")
	start("other", "x")
	now = now.Add(time.Second)
	start("wf", "c") // a and b end as c starts
	require.Equal(t, 2, s.Peak("wf"))
	now = now.Add(500 * time.Millisecond)
	start("wf", "d")
	start("wf", "e")
	require.Equal(t, 3, s.Peak("wf"), "c, d and e run at once")
	require.Equal(t, 1, s.Peak("other"))
}

// TestPeakOverHTTP: GET /peak serves Peak for the workflow it names, and
// refuses a call that names none.
func TestPeakOverHTTP(t *testing.T) {
	t.Parallel()
	s := New(Config{HangRate: 1})
	for _, key := range []string{"a", "b"} {
		_, err := s.ExecuteWorkflow(context.Background(), &pb.ExecuteWorkflowRequest{WorkflowId: "wf", Metadata: map[string]string{MetaIdempotencyKey: key}})
		require.NoError(t, err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/peak?workflow_id=wf", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"workflow_id": "wf", "peak": 2}`, rec.Body.String())

	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/peak", nil))
	require.Equal(t, http.StatusBadRequest, rec.Code)
}
