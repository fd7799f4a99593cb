package sqlstore

import (
	"context"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// pendingBacklogSQL reads executions_unfinished_status_idx, whose predicate
// it narrows, so that its cost follows the backlog, not the history; the
// turn of each workflow is one probe of workflow_turns.
const pendingBacklogSQL = `
SELECT e.workflow_id, count(*) AS n,
	EXISTS (SELECT 1 FROM workflow_turns t WHERE t.workflow_id = e.workflow_id) AS turn_held,
	min(CASE WHEN e.not_before > e.fired_time THEN e.not_before ELSE e.fired_time END) AS oldest
FROM executions e
WHERE e.status = 'PENDING' AND (e.not_before IS NULL OR e.not_before <= $1)
GROUP BY e.workflow_id`

// PendingBacklog counts the PENDING executions due at now, per workflow.
func (s *Store) PendingBacklog(ctx context.Context, now time.Time) (_ []store.WorkflowBacklog, err error) {
	ctx, end := s.begin(ctx, "PendingBacklog")
	defer end(&err)
	rows, err := s.r.QueryContext(ctx, pendingBacklogSQL, at(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.WorkflowBacklog
	for rows.Next() {
		var (
			b      store.WorkflowBacklog
			oldest dbTime
		)
		if err := rows.Scan(&b.WorkflowID, &b.Pending, &b.TurnHeld, &oldest); err != nil {
			return nil, err
		}
		b.Oldest = oldest.t
		out = append(out, b)
	}
	return out, rows.Err()
}
