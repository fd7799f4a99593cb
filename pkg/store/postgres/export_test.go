package postgres

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// ExplainListExecutions returns the plan of the statement ListExecutions
// sends for f, with the same parameters, explained with options (such as
// "ANALYZE, BUFFERS" or "FORMAT JSON"), one line of the plan a line.
func (s *Store) ExplainListExecutions(ctx context.Context, f workflow.ExecutionFilter, options string) (string, error) {
	query, args, _, _, err := listExecutionsQuery(f)
	if err != nil {
		return "", err
	}
	var lines []string
	if err := s.db.SelectContext(ctx, &lines, "EXPLAIN ("+options+") "+query, args...); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

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
		classify(&errs[i])
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
		classify(&errs[i])
	}
	return errs
}
