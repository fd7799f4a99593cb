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
// takes it, as one that may have reached the engine.
func claimSQL(d Dialect) string {
	return `
UPDATE executions AS e SET owner_instance = $1, lease_expires_at = ` + d.Later("$2") + `
FROM (
	SELECT id AS queued_id FROM executions
	WHERE status = 'PENDING' AND owner_instance IS NULL
	ORDER BY fired_time, id
	LIMIT $3` + d.SkipLocked + `
) AS queued
WHERE e.id = queued.queued_id
RETURNING ` + ExecutionColumns
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
	if err := s.w.SelectContext(ctx, &rows, s.claimSQL, owner, lease.Microseconds(), limit); err != nil {
		return nil, err
	}
	// RETURNING comes in no promised order.
	slices.SortFunc(rows, func(a, b executionRow) int {
		return cmp.Or(a.FiredTime.t.Compare(b.FiredTime.t), strings.Compare(a.ID, b.ID))
	})
	return executions(rows), nil
}
