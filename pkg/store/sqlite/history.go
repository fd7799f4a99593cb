package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

const selectExecutionSQL = `SELECT ` + executionColumns + ` FROM executions WHERE id = ?1`

// GetExecution returns execution id, or store.ErrNotFound (also for an id
// that is not a UUID).
func (s *Store) GetExecution(ctx context.Context, id string) (_ *store.Execution, err error) {
	defer classify(&err)
	id, ok := parseID(id)
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
// value: the planner then sees only the conditions that are set, and picks
// (workflow_id, status, fired_time DESC) or (deployment_id, fired_time DESC)
// when they are. The cursor repeats its bound as a plain fired_time <= :after
// so that the index range starts at the cursor.
const (
	condWorkflow   = `workflow_id = :workflow`
	condDeployment = `deployment_id = :deployment`
	condStatuses   = `status IN (SELECT value FROM json_each(:statuses))`
	condType       = `trigger_type = :type`
	condFrom       = `fired_time >= :from`
	condTo         = `fired_time < :to`
	condAfter      = `fired_time <= :after AND (fired_time, id) < (:after, :after_id)`
)

// ListExecutions returns one page of the executions matching f, newest fired
// first (ties broken by id), and, unless it is the last page, the cursor of
// the next one. A cursor ListExecutions did not make yields
// store.ErrBadCursor; a deployment id that is not a UUID matches nothing;
// f.Limit <= 0 means 50. The page is one statement, hence one snapshot.
func (s *Store) ListExecutions(ctx context.Context, f store.ExecutionFilter) (_ store.ExecutionPage, err error) {
	defer classify(&err)
	query, args, limit, ok, err := listExecutionsQuery(f)
	if err != nil {
		return store.ExecutionPage{}, err
	}
	if !ok {
		return store.ExecutionPage{Executions: []store.Execution{}}, nil
	}
	stmt, err := s.r.PrepareNamedContext(ctx, query)
	if err != nil {
		return store.ExecutionPage{}, fmt.Errorf("sqlite: list executions: %w", err)
	}
	defer stmt.Close()
	var rows []executionRow
	if err := stmt.SelectContext(ctx, &rows, args); err != nil {
		return store.ExecutionPage{}, fmt.Errorf("sqlite: list executions: %w", err)
	}
	var page store.ExecutionPage
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		page.Next = encodeCursor(fromMicros(last.FiredTime), last.ID)
	}
	page.Executions = executions(rows)
	return page, nil
}

// listExecutionsQuery returns the statement listing f and its named
// parameters, and the page size, or ok false when f can match nothing.
func listExecutionsQuery(f store.ExecutionFilter) (query string, args map[string]any, limit int, ok bool, err error) {
	args = map[string]any{}
	var conds []string
	if f.After != "" {
		t, id, err := decodeCursor(f.After)
		if err != nil {
			return "", nil, 0, false, err
		}
		conds = append(conds, condAfter)
		args["after"], args["after_id"] = t.UnixMicro(), id
	}
	if f.DeploymentID != "" {
		id, ok := parseID(f.DeploymentID)
		if !ok {
			return "", nil, 0, false, nil
		}
		conds = append(conds, condDeployment)
		args["deployment"] = id
	}
	if f.WorkflowID != "" {
		conds = append(conds, condWorkflow)
		args["workflow"] = f.WorkflowID
	}
	if len(f.Statuses) > 0 {
		statuses := slices.Clone(f.Statuses)
		slices.Sort(statuses)
		conds = append(conds, condStatuses)
		args["statuses"] = jsonList(slices.Compact(statuses))
	}
	if f.TriggerType != "" {
		conds = append(conds, condType)
		args["type"] = string(f.TriggerType)
	}
	if !f.From.IsZero() {
		conds = append(conds, condFrom)
		args["from"] = microCeil(f.From)
	}
	if !f.To.IsZero() {
		conds = append(conds, condTo)
		args["to"] = microCeil(f.To)
	}
	limit = f.Limit
	if limit <= 0 {
		limit = store.DefaultPageSize
	}
	args["limit"] = limit + 1
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, "\n\tAND ")
	}
	query = `SELECT ` + executionColumns + ` FROM executions ` + where + `
ORDER BY fired_time DESC, id DESC
LIMIT :limit`
	return query, args, limit, true, nil
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
func (s *Store) UnfinishedByStatus(ctx context.Context) (_ map[store.ExecutionStatus]int64, err error) {
	defer classify(&err)
	var rows []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := s.r.SelectContext(ctx, &rows, unfinishedByStatusSQL); err != nil {
		return nil, fmt.Errorf("sqlite: unfinished executions by status: %w", err)
	}
	counts := map[store.ExecutionStatus]int64{store.ExecutionPending: 0, store.ExecutionRunning: 0}
	for _, r := range rows {
		counts[store.ExecutionStatus(r.Status)] = r.N
	}
	return counts, nil
}
