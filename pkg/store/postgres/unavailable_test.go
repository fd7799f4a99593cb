package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

func TestMarkUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil stays nil", nil, false},
		{"network", fmt.Errorf("q: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), true},
		{"bad connection", driver.ErrBadConn, true},
		{"connection done", sql.ErrConnDone, true},
		{"connection cut mid-answer", io.ErrUnexpectedEOF, true},
		{"connection failure", &pq.Error{Code: "08006"}, true},
		{"too many connections", &pq.Error{Code: "53300"}, true},
		{"admin shutdown", &pq.Error{Code: "57P01"}, true},
		{"starting up", &pq.Error{Code: "57P03"}, true},
		{"unique violation", &pq.Error{Code: "23505"}, false},
		{"deadlock is not unavailability", &pq.Error{Code: "40P01"}, false},
		{"syntax error", &pq.Error{Code: "42601"}, false},
		{"no row", store.ErrNotFound, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.err
			classify(&err)
			if got := errors.Is(err, store.ErrUnavailable); got != tc.want {
				t.Fatalf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.want)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("the cause %v was lost: %v", tc.err, err)
			}
			before := err
			classify(&err)
			if err != before {
				t.Fatalf("marking twice changed the error: %v", err)
			}
		})
	}
}

// TestUnreachableServer checks, against a port where nothing listens, that
// every method a service calls reports store.ErrUnavailable.
func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	db, err := sqlx.Open("postgres", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	s := New(db)
	defer s.Close()
	ctx := context.Background()
	const id = "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"
	_, getErr := s.GetDeployment(ctx, id)
	_, activeErr := s.GetActiveDeployment(ctx, "wf")
	_, listErr := s.ListDeployments(ctx, workflow.ListFilter{Limit: 10})
	_, eventsErr := s.ListEvents(ctx, id)
	_, lastErr := s.LastExecution(ctx, id)
	_, countErr := s.CountUnfinishedExecutions(ctx, id)
	_, updateErr := s.UpdateDeployment(ctx, id, func(*workflow.Deployment) (workflow.Event, error) { return workflow.Event{}, nil })
	_, cronErr := s.ListCronTriggers(ctx, "")
	_, execErr := s.CreateExecution(ctx, &workflow.Execution{WorkflowID: "wf", DeploymentID: id})
	createErr := s.CreateDeployment(ctx, &workflow.Deployment{WorkflowID: "wf", Status: workflow.StatusDraft, Definition: []byte(`{}`)}, workflow.Event{})
	for name, err := range map[string]error{
		"Get": getErr, "GetActive": activeErr, "List": listErr, "ListEvents": eventsErr, "LastExecution": lastErr,
		"CountUnfinished": countErr, "Update": updateErr, "ListCronTriggers": cronErr, "CreateExecution": execErr, "Create": createErr, "Ping": s.Ping(ctx),
	} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: error %v does not wrap store.ErrUnavailable", name, err)
		}
	}
}

func TestClassifyConcurrentChange(t *testing.T) {
	t.Parallel()
	for _, code := range []pq.ErrorCode{"40001", "40P01"} {
		err := error(fmt.Errorf("update: %w", &pq.Error{Code: code}))
		classify(&err)
		if !errors.Is(err, store.ErrConcurrentChange) {
			t.Errorf("code %s: %v is not a concurrent change", code, err)
		}
	}
}
