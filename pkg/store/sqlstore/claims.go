package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// claimSQL takes the oldest queued rows: PENDING ones written without an
// owner, which the coordinator writes when its dispatch pool is full, and
// which triggers keep in execution_queue (migration 00019) until they get
// an owner or another status. It reads the queue's primary key in
// (fired_time, id) order and stops at its LIMIT, so that its cost follows
// what it claims, not the backlog, and writes only the owner and the
// lease, which no index of executions holds: a HOT update where the page
// has room. Claimers skip the rows another is claiming at the same moment
// (PostgreSQL's SKIP LOCKED; SQLite's single writer runs one claim at a
// time), so that replicas share a backlog out instead of queueing on it.
// Only the executions rows are locked: a cancellation locks its row before
// its trigger deletes the queue's, so the two never wait for each other in
// opposite orders, and a queue row locked here would be written twice, by
// its lock and by its delete. A row that another writer claimed or ended
// after this statement's snapshot comes back unchanged and not PENDING, or
// not at all, and counts against the LIMIT: racing claimers may come back
// short, and the coordinator then claims again at its next wake or
// ClaimPoll. Testing the owner in the subquery instead cost PostgreSQL
// twice the CPU in the one make bench-trigger run made with it, for a
// reason not known (the architecture doc's "Dispatch runs from a bounded
// pool"). The status is tested in what the statement writes, not in
// WHERE, where PostgreSQL's planner, whose statistics of a table of
// finished rows see no PENDING one, would enter through
// executions_unfinished_status_idx and read every unfinished row. A
// claimed row has an owner from then on: if that replica dies, adoption
// takes it, as one that may have reached the engine.
func claimSQL(d Dialect) string {
	return `
UPDATE executions SET
	owner_instance = CASE WHEN status = 'PENDING' THEN $1 ELSE owner_instance END,
	lease_expires_at = CASE WHEN status = 'PENDING' THEN ` + d.Later("$2") + ` ELSE lease_expires_at END
WHERE owner_instance IS NULL AND ` + d.InSubquery("id", `
	SELECT e.id FROM execution_queue AS q JOIN executions AS e ON e.id = q.id
	ORDER BY q.fired_time, q.id
	LIMIT $3`+d.SkipLockedOf("e")) + `
RETURNING ` + ExecutionColumns
}

// ClaimStatement is the statement of a claim of up to limit queued
// executions by owner for lease, and its arguments.
func (s *Store) ClaimStatement(owner string, lease time.Duration, limit int) (query string, args []any) {
	return s.claimSQL, []any{owner, lease.Microseconds(), limit}
}

// ClaimExecutions makes owner, for lease, the owner of up to limit queued
// executions, oldest fired first.
func (s *Store) ClaimExecutions(ctx context.Context, owner string, lease time.Duration, limit int) (_ []workflow.Execution, err error) {
	ctx, end := s.begin(ctx, "ClaimExecutions")
	defer end(&err)
	if limit < 0 {
		return nil, fmt.Errorf("negative limit %d", limit)
	}
	if owner == "" {
		return nil, fmt.Errorf("a claim needs an owner")
	}
	var rows []executionRow
	query, args := s.ClaimStatement(owner, lease, limit)
	if err := s.w.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	// Rows ended since the queue was read come back unchanged.
	rows = slices.DeleteFunc(rows, func(r executionRow) bool { return r.Status != string(workflow.ExecutionPending) })
	// RETURNING comes in no promised order.
	slices.SortFunc(rows, func(a, b executionRow) int {
		return cmp.Or(a.FiredTime.t.Compare(b.FiredTime.t), strings.Compare(a.ID, b.ID))
	})
	return executions(rows), nil
}
