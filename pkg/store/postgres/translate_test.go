package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// closedStore returns a store whose every query fails.
func closedStore(t *testing.T) *Store {
	t.Helper()
	db, err := sqlx.Open("postgres", "postgres://127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	return New(db)
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := closedStore(t)
	d := &workflow.Deployment{ID: "d1", WorkflowID: "wf",
		Triggers: []workflow.Trigger{{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "/A"}}}}
	unique := func(constraint, detail string) error {
		return &pq.Error{Code: codeUniqueViolation, Constraint: constraint, Detail: detail}
	}

	for _, tc := range []struct {
		name string
		d    *workflow.Deployment
		err  error
		want string
	}{
		{"other error", d, errors.New("boom"), "postgres: op: boom"},
		{"no deployment", nil, unique(activeDeploymentIndex, ""), "postgres: op: pq: "},
		{"other unique index", d, unique("deployments_pkey", ""), "postgres: op: pq: "},
		{"active lookup fails", d, unique(activeDeploymentIndex, ""), "postgres: op: find active deployment: "},
		{"path lookup fails", d, unique(webhookPathIndex, ""), "postgres: op: find webhook path owner: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.translate(ctx, "op", tc.d, tc.err)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("translate = %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

// When the owner of a path is gone by the time the store looks, the error
// names the path PostgreSQL reported.
func TestWebhookPathErrorFallback(t *testing.T) {
	t.Parallel()
	s := closedStore(t)
	pe := &pq.Error{Code: codeUniqueViolation, Constraint: webhookPathIndex,
		Detail: "Key (webhook_path)=(/hooks/a) already exists."}
	got := s.webhookPathError(context.Background(), "op", &workflow.Deployment{ID: "d1"}, pe)
	if diff := cmp.Diff(error(&store.WebhookPathError{Path: "/hooks/a"}), got); diff != "" {
		t.Errorf("webhookPathError (-want +got):\n%s", diff)
	}
}
