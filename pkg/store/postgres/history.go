package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

const selectExecutionSQL = `SELECT ` + executionColumns + ` FROM executions WHERE id = $1`

// GetExecution returns execution id, or store.ErrNotFound (also for an id
// that is not a UUID).
func (s *Store) GetExecution(ctx context.Context, id string) (_ *workflow.Execution, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	var r executionRow
	if err := s.db.GetContext(ctx, &r, selectExecutionSQL, id); err != nil {
		return nil, notFound("get execution", err)
	}
	return r.execution(), nil
}

// listExecutionsSQL selects a page of executions: $1 the workflow id (empty:
// any), $2 the deployment id (NULL: any), $3 the statuses (empty: any), $4
// the trigger type (empty: any), $5 and $6 the inclusive lower and exclusive
// upper bound on fired_time (NULL: none), $7 and $8 the keyset cursor's
// fired_time and id (NULL on the first page), $9 the row limit.
//
// Every statement lib/pq sends is planned with its parameters' values, so an
// unused filter folds away and the planner sees only the conditions that are
// set: filtered by deployment, it walks (deployment_id, fired_time DESC)
// between the time bounds. The cursor repeats its bound as a plain
// fired_time <= $7 because the row comparison alone is no condition on
// those indexes, and without it a deep page would read every row of the
// pages before it.
const listExecutionsSQL = `SELECT ` + executionColumns + `
FROM executions
WHERE ($1::text = '' OR workflow_id = $1::text)
	AND ($2::uuid IS NULL OR deployment_id = $2::uuid)
	AND (cardinality($3::text[]) = 0 OR status = ANY($3::text[]))
	AND ` + listExecutionsConditions + `
ORDER BY fired_time DESC, id DESC
LIMIT $9`

// listWorkflowExecutionsSQL is listExecutionsSQL for one workflow ($1) and
// statuses ($3, every status when the filter names none). It reads the
// newest $9 of each status from (workflow_id, status, fired_time DESC) and
// keeps the newest $9 of those: PostgreSQL before 17 takes no order from an
// index scan with status = ANY(...) on its second column, and would fetch
// and sort every row of the statuses in the time range instead.
var listWorkflowExecutionsSQL = `SELECT ` + qualified("e", executionColumns) + `
FROM unnest($3::text[]) AS s (status)
CROSS JOIN LATERAL (
	SELECT ` + executionColumns + `
	FROM executions
	WHERE workflow_id = $1::text AND status = s.status
		AND ($2::uuid IS NULL OR deployment_id = $2::uuid)
		AND ` + listExecutionsConditions + `
	ORDER BY fired_time DESC, id DESC
	LIMIT $9
) e
ORDER BY e.fired_time DESC, e.id DESC
LIMIT $9`

// listExecutionsConditions are the conditions both listings share.
const listExecutionsConditions = `($4::text = '' OR trigger_type = $4::text)
	AND ($5::timestamptz IS NULL OR fired_time >= $5::timestamptz)
	AND ($6::timestamptz IS NULL OR fired_time < $6::timestamptz)
	AND ($7::timestamptz IS NULL OR (fired_time <= $7::timestamptz
		AND (fired_time, id) < ($7::timestamptz, $8::uuid)))`

// allExecutionStatuses is every status an execution row may have (the
// executions_status_check constraint).
var allExecutionStatuses = []string{
	string(workflow.ExecutionPending), string(workflow.ExecutionRunning), string(workflow.ExecutionSucceeded),
	string(workflow.ExecutionFailed), string(workflow.ExecutionCancelled), string(workflow.ExecutionTimedOut),
	string(workflow.ExecutionSkipped),
}

// ListExecutions returns one page of the executions matching f, newest fired
// first (ties broken by id), and, unless it is the last page, the cursor of
// the next one. A cursor ListExecutions did not make yields
// store.ErrBadCursor; a deployment id that is not a UUID matches nothing;
// f.Limit <= 0 means 50. The page is one statement, hence one snapshot.
func (s *Store) ListExecutions(ctx context.Context, f workflow.ExecutionFilter) (_ workflow.ExecutionPage, err error) {
	defer classify(&err)
	query, args, limit, ok, err := listExecutionsQuery(f)
	if err != nil {
		return workflow.ExecutionPage{}, err
	}
	if !ok {
		return workflow.ExecutionPage{Executions: []workflow.Execution{}}, nil
	}
	var rows []executionRow
	if err := s.db.SelectContext(ctx, &rows, query, args...); err != nil {
		return workflow.ExecutionPage{}, fmt.Errorf("postgres: list executions: %w", err)
	}
	var page workflow.ExecutionPage
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		page.Next = store.EncodeCursor(last.FiredTime, last.ID)
	}
	page.Executions = make([]workflow.Execution, len(rows))
	for i := range rows {
		page.Executions[i] = *rows[i].execution()
	}
	return page, nil
}

// listExecutionsQuery returns the statement listing f and its parameters,
// and the page size, or ok false when f can match nothing.
func listExecutionsQuery(f workflow.ExecutionFilter) (query string, args []any, limit int, ok bool, err error) {
	var (
		afterTime *time.Time
		afterID   *string
	)
	if f.After != "" {
		t, id, err := store.DecodeCursor(f.After)
		if err != nil {
			return "", nil, 0, false, err
		}
		afterTime, afterID = &t, &id
	}
	var deploymentID *string
	if f.DeploymentID != "" {
		id, ok := store.CanonicalID(f.DeploymentID)
		if !ok {
			return "", nil, 0, false, nil
		}
		deploymentID = &id
	}
	limit = f.Limit
	if limit <= 0 {
		limit = workflow.DefaultPageSize
	}
	statuses := make([]string, len(f.Statuses))
	for i, st := range f.Statuses {
		statuses[i] = string(st)
	}
	// A status named twice would be read twice by listWorkflowExecutionsSQL.
	slices.Sort(statuses)
	statuses = slices.Compact(statuses)
	query = listExecutionsSQL
	if f.WorkflowID != "" {
		query = listWorkflowExecutionsSQL
		if len(statuses) == 0 {
			statuses = allExecutionStatuses
		}
	}
	return query, []any{f.WorkflowID, deploymentID, pq.Array(statuses), string(f.TriggerType),
		microCeil(f.From), microCeil(f.To), afterTime, afterID, limit + 1}, limit, true, nil
}

// microCeil returns nil for the zero time, else t rounded up to PostgreSQL's
// microsecond precision: PostgreSQL would round a finer bound to the nearest
// microsecond, and rounding down would let fired_time >= From take in a row
// fired before From. For every stored microsecond value, >= and < against the
// rounded-up bound agree with the exact comparison.
func microCeil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return &c
}

// unfinishedByStatusSQL reads executions_unfinished_status_idx alone, whose
// predicate it repeats, so that its cost follows the backlog, not the table.
const unfinishedByStatusSQL = `
SELECT status, count(*) AS n FROM executions
WHERE status IN ('PENDING', 'RUNNING')
GROUP BY status`

// UnfinishedByStatus returns how many executions of every replica are
// PENDING and how many RUNNING; both are present, zero or not.
func (s *Store) UnfinishedByStatus(ctx context.Context) (_ map[workflow.ExecutionStatus]int64, err error) {
	defer classify(&err)
	var rows []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &rows, unfinishedByStatusSQL); err != nil {
		return nil, fmt.Errorf("postgres: unfinished executions by status: %w", err)
	}
	counts := map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 0, workflow.ExecutionRunning: 0}
	for _, r := range rows {
		counts[workflow.ExecutionStatus(r.Status)] = r.N
	}
	return counts, nil
}
