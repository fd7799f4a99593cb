package coordination

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// fakeStore records the filter it is asked for and answers with err or one
// execution; the methods it does not override are not called by these tests.
type fakeStore struct {
	Store
	got workflow.ExecutionFilter
	err error
}

func (f *fakeStore) GetExecution(_ context.Context, id string) (*workflow.Execution, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &workflow.Execution{ID: id, WorkflowID: "wf"}, nil
}

func (f *fakeStore) ListExecutions(_ context.Context, filter workflow.ExecutionFilter) (workflow.ExecutionPage, error) {
	f.got = filter
	if f.err != nil {
		return workflow.ExecutionPage{}, f.err
	}
	return workflow.ExecutionPage{Executions: []workflow.Execution{{ID: "e1"}}, Next: "cursor"}, nil
}

const execID = "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"

// found marks a case that succeeds: errors.Internal is the zero Kind.
const found errors.Kind = 255

func TestGetExecution(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		id       string
		storeErr error
		kind     errors.Kind // of the error; found: no error
	}{
		{"found", execID, nil, found},
		{"malformed id", "42", nil, errors.Invalid},
		{"unknown", execID, errors.E(errors.NotFound, fmt.Errorf("q: %w", store.ErrNotFound)), errors.NotFound},
		{"database down", execID, errors.E(errors.Unavailable, fmt.Errorf("%w: dial", store.ErrUnavailable)), errors.Unavailable},
		{"caller gone", execID, errors.E(errors.Unavailable, context.Canceled), errors.Unavailable},
		{"anything else", execID, fmt.Errorf("boom"), errors.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := newFake(&fakeStore{err: tc.storeErr}).GetExecution(context.Background(), GetRequest{ExecutionID: tc.id})
			if tc.kind == found {
				require.NoError(t, err)
				require.Equal(t, execID, e.ID)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.kind, errors.KindOf(err), "error: %v", err)
		})
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		req      HistoryRequest
		storeErr error
		want     workflow.ExecutionFilter
		kind     errors.Kind // found: no error
		fields   []string
	}{
		{name: "defaults", req: HistoryRequest{}, want: workflow.ExecutionFilter{Limit: workflow.DefaultPageSize}, kind: found},
		{name: "every filter passed on", req: HistoryRequest{
			WorkflowID: "wf", DeploymentID: execID, Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed, workflow.ExecutionTimedOut},
			TriggerType: workflow.TriggerCron, StartTime: from, EndTime: from.Add(time.Hour), PageSize: 20, PageToken: "t",
		}, want: workflow.ExecutionFilter{
			WorkflowID: "wf", DeploymentID: execID, Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed, workflow.ExecutionTimedOut},
			TriggerType: workflow.TriggerCron, From: from, To: from.Add(time.Hour), Limit: 20, After: "t",
		}, kind: found},
		{name: "page size clamped", req: HistoryRequest{PageSize: 10_000}, want: workflow.ExecutionFilter{Limit: workflow.MaxPageSize}, kind: found},
		{name: "everything wrong at once", req: HistoryRequest{
			DeploymentID: "d-1", Statuses: []workflow.ExecutionStatus{"DONE"}, TriggerType: "EMAIL",
			StartTime: from, EndTime: from, PageSize: -1,
		}, kind: errors.Invalid, fields: []string{"deployment_id", "statuses", "trigger_type", "end_time", "page_size"}},
		{name: "bad cursor", req: HistoryRequest{PageToken: "x"}, storeErr: store.ErrBadCursor, kind: errors.Invalid, fields: []string{"page_token"}},
		{name: "database down", storeErr: errors.E(errors.Unavailable, fmt.Errorf("%w: dial", store.ErrUnavailable)), kind: errors.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &fakeStore{err: tc.storeErr}
			resp, err := newFake(st).History(context.Background(), tc.req)
			if tc.kind != found {
				require.Error(t, err)
				require.Equal(t, tc.kind, errors.KindOf(err), "error: %v", err)
				var e *errors.Error
				require.True(t, errors.As(err, &e))
				var fields []string
				for _, v := range e.Violations {
					fields = append(fields, v.Field)
				}
				if diff := cmp.Diff(tc.fields, fields); diff != "" {
					t.Errorf("violations (-want +got):\n%s", diff)
				}
				return
			}
			require.NoError(t, err)
			if diff := cmp.Diff(tc.want, st.got); diff != "" {
				t.Errorf("filter (-want +got):\n%s", diff)
			}
			require.Equal(t, "cursor", resp.NextPageToken)
			require.Len(t, resp.Executions, 1)
		})
	}
}

func newFake(st *fakeStore) *Coordinator { return New(st, nil, nil, Options{}) }
