package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// CreateExecutionsInOneBatch is CreateExecution of each of es, written as
// one batch of the group commit; it returns each one's error.
func (s *Store) CreateExecutionsInOneBatch(es []*workflow.Execution) []error {
	batch := make([]*groupCall[workflow.Execution, workflow.Execution], len(es))
	for i, e := range es {
		row := *e
		row.ID = uuid.NewString()
		batch[i] = &groupCall[workflow.Execution, workflow.Execution]{in: row, done: make(chan struct{})}
	}
	s.inserts.flush(batch)
	errs := make([]error, len(es))
	for i, c := range batch {
		es[i].ID, errs[i] = c.out.ID, c.err
		s.fail("CreateExecution", &errs[i])
	}
	return errs
}

// TransitionInOneBatch is TransitionExecution of ids[i] by ts[i], written as
// one batch of the group commit; it returns each one's error.
func (s *Store) TransitionInOneBatch(ids []string, ts []store.Transition) []error {
	batch := make([]*groupCall[transition, *workflow.Execution], len(ids))
	for i, id := range ids {
		batch[i] = &groupCall[transition, *workflow.Execution]{in: transition{id: id, t: ts[i]}, done: make(chan struct{})}
	}
	s.transitions.flush(batch)
	errs := make([]error, len(ids))
	for i, c := range batch {
		errs[i] = c.err
		s.fail("TransitionExecution", &errs[i])
	}
	return errs
}

// Count counts the rows of table that match where (both the test's own).
func (s *Store) Count(table, where string) (n int, err error) {
	err = s.r.GetContext(context.Background(), &n, `SELECT count(*) FROM `+table+` WHERE `+where)
	return n, err
}

// Exec runs a statement of the test's own.
func (s *Store) Exec(query string, args ...any) error {
	_, err := s.w.ExecContext(context.Background(), query, args...)
	return err
}

// WorkflowRow is what a workflows row mirrors of its deployment.
type WorkflowRow struct {
	Name, Status string
	DeployedAt   *time.Time
	Config       workflow.Config
}

// Workflow reads the workflows row of id.
func (s *Store) Workflow(id string) (WorkflowRow, error) {
	var r struct {
		Name       string `db:"name"`
		Status     string `db:"deployment_status"`
		DeployedAt dbTime `db:"deployed_at"`
		Config     []byte `db:"deployment_config"`
	}
	if err := s.r.GetContext(context.Background(), &r,
		`SELECT name, deployment_status, deployed_at, deployment_config FROM workflows WHERE id = $1`, id); err != nil {
		return WorkflowRow{}, err
	}
	w := WorkflowRow{Name: r.Name, Status: r.Status, DeployedAt: r.DeployedAt.ptr()}
	return w, json.Unmarshal(r.Config, &w.Config)
}
