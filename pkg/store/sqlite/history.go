package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

const selectExecutionSQL = `SELECT ` + executionColumns + ` FROM executions WHERE id = ?1`

// GetExecution returns execution id, or store.ErrNotFound (also for an id
// that is not a UUID).
func (s *Store) GetExecution(ctx context.Context, id string) (_ *workflow.Execution, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	var r executionRow
	if err := s.r.GetContext(ctx, &r, selectExecutionSQL, id); err != nil {
		return nil, notFound("get execution", err)
	}
	return r.execution(), nil
}

// Conditions of a listing of executions, one per filter that is set, each on
// its named parameters. SQLite plans a statement before it sees the values,
// so a condition that is not needed is left out rather than made true by its
// value: the planner then sees only the conditions that are set. The cursor
// repeats its bound as a plain fired_time <= :after so that the index range
// starts at the cursor.
const (
	condDeployment = `deployment_id = :deployment`
	condStatuses   = `status IN (SELECT value FROM json_each(:statuses))`
	condType       = `trigger_type = :type`
	condFrom       = `fired_time >= :from`
	condTo         = `fired_time < :to`
	condAfter      = `fired_time <= :after AND (fired_time, id) < (:after, :after_id)`
)

// listOrder is the order of every listing, that of its indexes.
const listOrder = `
ORDER BY fired_time DESC, id DESC
LIMIT :limit`

// workflowStatusBranch is one status's part of a workflow's listing: the
// newest :limit of that status, from (workflow_id, status, fired_time DESC,
// id DESC) in its order. %d numbers the status parameter; %s is the other
// conditions. A listing by workflow keeps the newest :limit of its branches,
// one per status asked for (each status, when none is): with the statuses in
// one IN list, SQLite would read and sort every row of the workflow in the
// time range instead.
const workflowStatusBranch = `SELECT * FROM (SELECT ` + executionColumns + ` FROM executions
	WHERE workflow_id = :workflow AND status = :status%d%s` + listOrder + `)`

// allExecutionStatuses is every status an execution row may have (the
// executions_status_check constraint).
var allExecutionStatuses = []workflow.ExecutionStatus{
	workflow.ExecutionPending, workflow.ExecutionRunning, workflow.ExecutionSucceeded, workflow.ExecutionFailed,
	workflow.ExecutionCancelled, workflow.ExecutionTimedOut, workflow.ExecutionSkipped,
}

// ListExecutions returns one page of the executions matching f, newest fired
// first (ties broken by id), and, unless it is the last page, the cursor of
// the next one. A cursor ListExecutions did not make yields
// store.ErrBadCursor; a deployment id that is not a UUID matches nothing;
// f.Limit <= 0 means 50. The page is one statement, hence one snapshot.
func (s *Store) ListExecutions(ctx context.Context, f workflow.ExecutionFilter) (_ workflow.ExecutionPage, err error) {
	defer classify(&err)
	query, params, limit, ok, err := listExecutionsQuery(f)
	if err != nil {
		return workflow.ExecutionPage{}, err
	}
	if !ok {
		return workflow.ExecutionPage{Executions: []workflow.Execution{}}, nil
	}
	query, args, err := sqlx.Named(query, params)
	if err != nil {
		return workflow.ExecutionPage{}, fmt.Errorf("sqlite: list executions: %w", err)
	}
	var rows []executionRow
	if err := s.r.SelectContext(ctx, &rows, query, args...); err != nil {
		return workflow.ExecutionPage{}, fmt.Errorf("sqlite: list executions: %w", err)
	}
	var page workflow.ExecutionPage
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		page.Next = store.EncodeCursor(fromMicros(last.FiredTime), last.ID)
	}
	page.Executions = executions(rows)
	return page, nil
}

// listExecutionsQuery returns the statement listing f and its named
// parameters, and the page size, or ok false when f can match nothing.
func listExecutionsQuery(f workflow.ExecutionFilter) (query string, params map[string]any, limit int, ok bool, err error) {
	params = map[string]any{}
	var conds []string
	if f.After != "" {
		t, id, err := store.DecodeCursor(f.After)
		if err != nil {
			return "", nil, 0, false, err
		}
		conds = append(conds, condAfter)
		params["after"], params["after_id"] = t.UnixMicro(), id
	}
	if f.DeploymentID != "" {
		id, ok := store.CanonicalID(f.DeploymentID)
		if !ok {
			return "", nil, 0, false, nil
		}
		conds = append(conds, condDeployment)
		params["deployment"] = id
	}
	if f.TriggerType != "" {
		conds = append(conds, condType)
		params["type"] = string(f.TriggerType)
	}
	if !f.From.IsZero() {
		conds = append(conds, condFrom)
		params["from"] = microCeil(f.From)
	}
	if !f.To.IsZero() {
		conds = append(conds, condTo)
		params["to"] = microCeil(f.To)
	}
	limit = f.Limit
	if limit <= 0 {
		limit = workflow.DefaultPageSize
	}
	params["limit"] = limit + 1
	// A status named twice would be read twice by the workflow's branches.
	statuses := slices.Clone(f.Statuses)
	slices.Sort(statuses)
	statuses = slices.Compact(statuses)

	if f.WorkflowID == "" {
		if len(statuses) > 0 {
			conds = append(conds, condStatuses)
			params["statuses"] = jsonList(statuses)
		}
		where := ""
		if len(conds) > 0 {
			where = "\nWHERE " + strings.Join(conds, " AND ")
		}
		return `SELECT ` + executionColumns + ` FROM executions` + where + listOrder, params, limit, true, nil
	}
	params["workflow"] = f.WorkflowID
	if len(statuses) == 0 {
		statuses = allExecutionStatuses
	}
	rest := ""
	if len(conds) > 0 {
		rest = " AND " + strings.Join(conds, " AND ")
	}
	branches := make([]string, len(statuses))
	for i, st := range statuses {
		branches[i] = fmt.Sprintf(workflowStatusBranch, i, rest)
		params[fmt.Sprintf("status%d", i)] = string(st)
	}
	return `SELECT * FROM (` + strings.Join(branches, "\nUNION ALL\n") + `)` + listOrder, params, limit, true, nil
}

// microCeil returns t in unix microseconds, rounded up: the stored times are
// whole microseconds, and for each of them >= and < against the rounded-up
// bound agree with the exact comparison.
func microCeil(t time.Time) int64 {
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c.UnixMicro()
}

// unfinishedByStatusSQL reads executions_unfinished_status_idx alone, whose
// predicate it repeats, so that its cost follows the backlog, not the table.
const unfinishedByStatusSQL = `
SELECT status, count(*) AS n FROM executions
WHERE status IN ('PENDING', 'RUNNING')
GROUP BY status`

// UnfinishedByStatus returns how many executions are PENDING and how many
// RUNNING; both are present, zero or not.
func (s *Store) UnfinishedByStatus(ctx context.Context) (_ map[workflow.ExecutionStatus]int64, err error) {
	defer classify(&err)
	var rows []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := s.r.SelectContext(ctx, &rows, unfinishedByStatusSQL); err != nil {
		return nil, fmt.Errorf("sqlite: unfinished executions by status: %w", err)
	}
	counts := map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 0, workflow.ExecutionRunning: 0}
	for _, r := range rows {
		counts[workflow.ExecutionStatus(r.Status)] = r.N
	}
	return counts, nil
}
