package postgres

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/lib/pq"

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

// ExplainTransitions returns the plans of the statement TransitionExecution
// sends for transitions ts[i] of executions ids[i], explained (not run)
// with options: the plan for these arguments, and the generic plan that a
// statement prepared on a connection comes to use, one line of a plan a
// line.
func (s *Store) ExplainTransitions(ctx context.Context, ids []string, ts []store.Transition, options string) (custom, generic string, err error) {
	query, args := s.TransitionsStatement(ids, ts)
	return s.ExplainStatement(ctx, query, args, options)
}

// ExplainStatement returns the plans of query with args, explained (not
// run) with options: the plan for these arguments, and the generic plan
// that a statement prepared on a connection comes to use.
func (s *Store) ExplainStatement(ctx context.Context, query string, args []any, options string) (custom, generic string, err error) {
	var lines []string
	if err := s.db.SelectContext(ctx, &lines, "EXPLAIN ("+options+") "+query, args...); err != nil {
		return "", "", err
	}
	custom = strings.Join(lines, "\n")
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	// EXECUTE takes no parameters of the protocol: the arguments go as
	// literals, the arrays' text.
	params := make([]string, len(args))
	for i, a := range args {
		v := driver.Value(a)
		if valuer, ok := a.(driver.Valuer); ok {
			if v, err = valuer.Value(); err != nil {
				return "", "", err
			}
		}
		params[i] = "NULL"
		if v != nil {
			params[i] = pq.QuoteLiteral(fmt.Sprint(v))
		}
	}
	lines = nil
	for _, q := range []string{"PREPARE explained AS " + query, "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return "", "", err
		}
	}
	if err := conn.SelectContext(ctx, &lines, "EXPLAIN ("+options+") EXECUTE explained("+strings.Join(params, ", ")+")"); err != nil {
		return "", "", err
	}
	for _, q := range []string{"DEALLOCATE explained", "RESET plan_cache_mode"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return "", "", err
		}
	}
	return custom, strings.Join(lines, "\n"), nil
}

// Kind and Unique are the dialect's error classification.
var (
	Kind   = kind
	Unique = unique
)

// Texts and NullTexts are the store's text[] parameters.
func Texts(xs []string) driver.Valuer { return texts(xs) }

// NullTexts is Texts with NULL elements: nil ones.
func NullTexts(xs []*string) driver.Valuer { return nullTexts(xs) }
