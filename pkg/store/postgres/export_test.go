package postgres

import (
	"context"
	"strings"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// ExplainListExecutions returns the plan of the statement ListExecutions
// sends for f, with the same parameters, explained with options (such as
// "ANALYZE, BUFFERS" or "FORMAT JSON"), one line of the plan a line.
func (s *Store) ExplainListExecutions(ctx context.Context, f workflow.ExecutionFilter, options string) (string, error) {
	query, args, _, err := s.ListExecutionsStatement(f)
	if err != nil {
		return "", err
	}
	var lines []string
	if err := s.db.SelectContext(ctx, &lines, "EXPLAIN ("+options+") "+query, args...); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// ExplainTransitions returns the plan of the statement TransitionExecution
// sends for transitions ts[i] of executions ids[i], explained (not run) with
// options, one line of the plan a line.
func (s *Store) ExplainTransitions(ctx context.Context, ids []string, ts []store.Transition, options string) (string, error) {
	query, args := s.TransitionsStatement(ids, ts)
	var lines []string
	if err := s.db.SelectContext(ctx, &lines, "EXPLAIN ("+options+") "+query, args...); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// Kind and Unique are the dialect's error classification.
var (
	Kind   = kind
	Unique = unique
)
