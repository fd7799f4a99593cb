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
// owner, which the coordinator writes when its dispatch pool is full.
// Claimers skip the rows another is claiming at the same moment
// (PostgreSQL's SKIP LOCKED; SQLite's single writer runs one claim at a
// time), so that replicas share a backlog out instead of queueing on it. A
// claimed row has an owner from then on: if that replica dies, adoption
// takes it, as one that may have reached the engine. It reads
// executions_unfinished_status_idx (status, owner_instance, fired_time, id)
// from the first queued row on and stops at its LIMIT: its cost follows
// what it claims, not the backlog. It orders by owner_instance too, though
// every row it reads has none, because PostgreSQL takes IS NULL for no
// equality and would not see otherwise that the index gives the rows in
// (fired_time, id) order: it would read every queued row and sort them.
func claimSQL(d Dialect) string {
	return `
UPDATE executions AS e SET owner_instance = $1, lease_expires_at = ` + d.Later("$2") + `
FROM (
	SELECT id AS queued_id FROM executions
	WHERE status = 'PENDING' AND owner_instance IS NULL
	ORDER BY owner_instance, fired_time, id
	LIMIT $3` + d.SkipLocked + `
) AS queued
WHERE e.id = queued.queued_id
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
	// RETURNING comes in no promised order.
	slices.SortFunc(rows, func(a, b executionRow) int {
		return cmp.Or(a.FiredTime.t.Compare(b.FiredTime.t), strings.Compare(a.ID, b.ID))
	})
	return executions(rows), nil
}
