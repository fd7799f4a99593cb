package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

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
	ctx, end := s.begin(ctx, "ListExecutions")
	defer end(&err)
	query, args, limit, err := s.ListExecutionsStatement(f)
	if err != nil || query == "" {
		return workflow.ExecutionPage{Executions: []workflow.Execution{}}, err
	}
	var rows []executionRow
	if err := s.r.SelectContext(ctx, &rows, query, args...); err != nil {
		return workflow.ExecutionPage{}, err
	}
	var page workflow.ExecutionPage
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = store.EncodeCursor(rows[limit-1].FiredTime.t, rows[limit-1].ID)
	}
	page.Executions = executions(rows)
	return page, nil
}

// ListExecutionsStatement returns the statement that ListExecutions sends for
// f, its arguments and the page size; the statement is "" when f can match
// nothing. The plan tests of each database explain it.
//
// Each filter that is set adds its condition, and one that is not adds
// none: the planner sees only the conditions that apply, whether it plans
// with the values (PostgreSQL) or before it sees them (SQLite). The cursor
// repeats its bound as a plain fired_time <= so that the index range starts
// at the cursor: the row comparison alone is no condition on the indexes,
// and without it a deep page would read every row of the pages before it.
//
// A workflow's listing is a branch per status asked for (each status, when
// none is), each the newest rows of that status read in the order of
// (workflow_id, status, fired_time DESC, id DESC), of which it keeps the
// newest: with the statuses in one list, neither database takes its order
// from that index, and both would read and sort every row of the workflow in
// the time range instead.
func (s *Store) ListExecutionsStatement(f workflow.ExecutionFilter) (query string, args []any, limit int, err error) {
	var (
		p     params
		conds []string
	)
	if f.DeploymentID != "" {
		id, ok := store.CanonicalID(f.DeploymentID)
		if !ok {
			return "", nil, 0, nil
		}
		conds = append(conds, `deployment_id = `+p.add(id))
	}
	if f.TriggerType != "" {
		conds = append(conds, `trigger_type = `+p.add(string(f.TriggerType)))
	}
	if f.FirstAttemptID != "" {
		id, ok := store.CanonicalID(f.FirstAttemptID)
		if !ok {
			return "", nil, 0, nil
		}
		first := p.add(id)
		conds = append(conds, `(id = `+first+` OR first_attempt_id = `+first+`)`)
	}
	if !f.From.IsZero() {
		conds = append(conds, `fired_time >= `+p.add(microCeil(f.From)))
	}
	if !f.To.IsZero() {
		conds = append(conds, `fired_time < `+p.add(microCeil(f.To)))
	}
	if f.After != "" {
		t, id, err := store.DecodeCursor(f.After)
		if err != nil {
			return "", nil, 0, err
		}
		after := p.add(t)
		conds = append(conds, `fired_time <= `+after+` AND (fired_time, id) < (`+after+`, `+p.add(id)+`)`)
	}
	limit = f.Limit
	if limit <= 0 {
		limit = workflow.DefaultPageSize
	}
	order := "\nORDER BY fired_time DESC, id DESC\nLIMIT " + p.add(limit+1)
	// A status named twice would be read twice by the workflow's branches.
	statuses := slices.Clone(f.Statuses)
	slices.Sort(statuses)
	statuses = slices.Compact(statuses)

	if f.WorkflowID == "" {
		if len(statuses) > 0 {
			conds = append(conds, s.d.In("status", p.add(s.d.List(strs(statuses)))))
		}
		return `SELECT ` + ExecutionColumns + ` FROM executions` + where(conds) + order, p, limit, nil
	}
	workflowID := p.add(f.WorkflowID)
	if len(statuses) == 0 {
		statuses = allExecutionStatuses
	}
	branches := make([]string, len(statuses))
	for i, st := range statuses {
		branch := append([]string{`workflow_id = ` + workflowID, `status = ` + p.add(string(st))}, conds...)
		branches[i] = fmt.Sprintf("SELECT * FROM (SELECT %s FROM executions%s%s) AS status%d",
			ExecutionColumns, where(branch), order, i)
	}
	return `SELECT * FROM (` + strings.Join(branches, "\nUNION ALL\n") + `) AS page` + order, p, limit, nil
}

// microCeil returns t rounded up to the microsecond: the stored times are
// whole microseconds, and for each of them >= and < against the rounded-up
// bound agree with the exact comparison, where the databases' own rounding
// to the nearest would let fired_time >= From take in a row fired before.
func microCeil(t time.Time) time.Time {
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
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
	ctx, end := s.begin(ctx, "UnfinishedByStatus")
	defer end(&err)
	var rows []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := s.r.SelectContext(ctx, &rows, unfinishedByStatusSQL); err != nil {
		return nil, err
	}
	counts := map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 0, workflow.ExecutionRunning: 0}
	for _, r := range rows {
		counts[workflow.ExecutionStatus(r.Status)] = r.N
	}
	return counts, nil
}

// deploymentStatsSQL counts in one statement, hence one snapshot, so that the
// figures agree with each other. Executions are found through
// executions_fired_time_idx; $1 is the lower bound on fired_time.
const deploymentStatsSQL = `
SELECT 'deployment', status, count(*) FROM deployments GROUP BY status
UNION ALL
SELECT 'trigger', t.type, count(*) FROM deployment_triggers t
WHERE t.active AND t.enabled GROUP BY t.type
UNION ALL
SELECT 'execution', status, count(*) FROM executions WHERE fired_time >= $1 GROUP BY status`

// DeploymentStats counts deployments by status, the enabled triggers of
// deployments that are not ARCHIVED by type, and the executions fired at or
// after executionsSince by status.
func (s *Store) DeploymentStats(ctx context.Context, executionsSince time.Time) (_ workflow.DeploymentStats, err error) {
	ctx, end := s.begin(ctx, "DeploymentStats")
	defer end(&err)
	rows, err := s.r.QueryContext(ctx, deploymentStatsSQL, at(executionsSince))
	if err != nil {
		return workflow.DeploymentStats{}, err
	}
	defer rows.Close()
	out := workflow.DeploymentStats{
		ByStatus:           map[workflow.DeploymentStatus]int64{},
		TriggersByType:     map[workflow.TriggerType]int64{},
		ExecutionsByStatus: map[workflow.ExecutionStatus]int64{},
	}
	for rows.Next() {
		var (
			kind, name string
			n          int64
		)
		if err := rows.Scan(&kind, &name, &n); err != nil {
			return workflow.DeploymentStats{}, err
		}
		switch kind {
		case "deployment":
			out.ByStatus[workflow.DeploymentStatus(name)] = n
			out.Total += n
		case "trigger":
			out.TriggersByType[workflow.TriggerType(name)] = n
		case "execution":
			out.ExecutionsByStatus[workflow.ExecutionStatus(name)] = n
		}
	}
	return out, rows.Err()
}

const cronFireStatsSQL = `
SELECT count(*), count(*) FILTER (WHERE status = 'SKIPPED')
FROM executions
WHERE trigger_type = 'CRON' AND fired_time >= $1 AND fired_time < $2`

// CronFireStats counts the cron executions fired in [start, end) and those
// of them that were SKIPPED: only the overlap policy skips a run.
func (s *Store) CronFireStats(ctx context.Context, start, end time.Time) (_ workflow.CronFireStats, err error) {
	ctx, done := s.begin(ctx, "CronFireStats")
	defer done(&err)
	var out workflow.CronFireStats
	err = s.r.QueryRowContext(ctx, cronFireStatsSQL, at(start), at(end)).Scan(&out.Fires, &out.SkippedOverlap)
	return out, err
}
