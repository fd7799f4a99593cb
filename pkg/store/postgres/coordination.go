package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

const findByKeySQL = `SELECT ` + executionColumns + `
FROM executions WHERE workflow_id = $1 AND idempotency_key = $2`

// FindExecutionByKey returns workflowID's execution with idempotency key key.
func (s *Store) FindExecutionByKey(ctx context.Context, workflowID, key string) (_ *store.Execution, err error) {
	defer classify(&err)
	var r executionRow
	if err := s.db.GetContext(ctx, &r, findByKeySQL, workflowID, key); err != nil {
		return nil, notFound("find execution by key", err)
	}
	return r.execution(), nil
}

// transitionSQL is the compare-and-set of every status change: $3 the
// expected statuses, $4 the expected owner (empty: any). A terminal row
// never moves, whatever $3 says. Fields given as NULL
// keep their value. A terminal status ends the lease but keeps the owner, the
// last replica that answered for the execution.
const transitionSQL = `
UPDATE executions SET
	status = $2::text,
	engine_execution_id = COALESCE($5, engine_execution_id),
	started_time = COALESCE($6::timestamptz, started_time),
	finished_time = COALESCE($7::timestamptz, finished_time),
	error_message = COALESCE($8, error_message),
	skip_reason = COALESCE($9, skip_reason),
	result = COALESCE($10::jsonb, result),
	lease_expires_at = CASE WHEN $2::text IN ('PENDING', 'RUNNING') THEN lease_expires_at END
WHERE id = $1 AND status = ANY($3::text[]) AND status IN ('PENDING', 'RUNNING')
	AND ($4::text = '' OR owner_instance = $4::text)
RETURNING ` + executionColumns

// TransitionExecution applies t to execution id, or returns store.ErrStale.
func (s *Store) TransitionExecution(ctx context.Context, id string, t store.Transition) (_ *store.Execution, err error) {
	defer classify(&err)
	id, ok := parseID(id)
	if !ok {
		return nil, store.ErrStale
	}
	from := make([]string, len(t.From))
	for i, st := range t.From {
		from[i] = string(st)
	}
	var result *string
	if len(t.Result) > 0 {
		r := string(t.Result)
		result = &r
	}
	var r executionRow
	err = s.db.GetContext(ctx, &r, transitionSQL, id, string(t.To), pq.Array(from), t.Owner,
		nullString(t.EngineExecutionID), t.StartedTime, t.FinishedTime, nullString(t.ErrorMessage),
		nullString(t.SkipReason), result)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrStale
		}
		return nil, fmt.Errorf("postgres: transition execution %s to %s: %w", id, t.To, err)
	}
	return r.execution(), nil
}

const (
	takeTurnSQL = `
UPDATE executions SET holds_turn = true
WHERE id = $1 AND status = 'PENDING' AND owner_instance = $2
RETURNING id`
	turnHolderSQL = `
SELECT id FROM executions
WHERE workflow_id = (SELECT workflow_id FROM executions WHERE id = $1)
	AND holds_turn AND status IN ('PENDING', 'RUNNING') AND id <> $1`
)

// TakeTurn gives execution id its workflow's turn, or names the holder; the
// unique index on the turn decides between executions taking it at once.
func (s *Store) TakeTurn(ctx context.Context, id, owner string) (_ string, err error) {
	defer classify(&err)
	id, ok := parseID(id)
	if !ok {
		return "", store.ErrStale
	}
	var got string
	err = s.db.GetContext(ctx, &got, takeTurnSQL, id, owner)
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, sql.ErrNoRows):
		return "", store.ErrStale
	case pqCode(err) != codeUniqueViolation:
		return "", fmt.Errorf("postgres: take turn: %w", err)
	}
	var holder string
	err = s.db.GetContext(ctx, &holder, turnHolderSQL, id)
	if errors.Is(err, sql.ErrNoRows) {
		// The holder ended between the two statements: the turn is free.
		return "", fmt.Errorf("postgres: take turn: %w: its holder just ended", store.ErrConcurrentChange)
	}
	if err != nil {
		return "", fmt.Errorf("postgres: take turn: %w", err)
	}
	return holder, nil
}

const listUnfinishedSQL = `SELECT ` + executionColumns + `
FROM executions
WHERE workflow_id = $1 AND status IN ('PENDING', 'RUNNING')
ORDER BY fired_time, id`

// ListUnfinishedExecutions returns workflowID's PENDING and RUNNING
// executions, oldest fired first. The partial index on unfinished statuses
// keeps this to the few rows that are not over.
func (s *Store) ListUnfinishedExecutions(ctx context.Context, workflowID string) (_ []store.Execution, err error) {
	defer classify(&err)
	var rows []executionRow
	if err := s.db.SelectContext(ctx, &rows, listUnfinishedSQL, workflowID); err != nil {
		return nil, fmt.Errorf("postgres: list unfinished executions: %w", err)
	}
	return executions(rows), nil
}

// Leases run on the database's clock, one clock for every replica, so that
// a replica whose clock runs ahead does not adopt its peers' executions early.
const renewLeasesSQL = `
UPDATE executions SET lease_expires_at = now() + $3 * interval '1 millisecond'
WHERE id = ANY($2::uuid[]) AND owner_instance = $1 AND status IN ('PENDING', 'RUNNING')
RETURNING id`

// RenewLeases extends owner's leases on ids by lease and returns the ids renewed.
func (s *Store) RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (_ []string, err error) {
	defer classify(&err)
	valid := uuids(ids)
	if len(valid) == 0 {
		return nil, nil
	}
	var renewed []string
	if err := s.db.SelectContext(ctx, &renewed, renewLeasesSQL, owner, pq.Array(valid), lease.Milliseconds()); err != nil {
		return nil, fmt.Errorf("postgres: renew leases: %w", err)
	}
	return renewed, nil
}

// adoptSQL locks the expired rows it takes with SKIP LOCKED, so that replicas
// adopting at the same moment share the rows out instead of queueing on
// them; the partial index on unfinished statuses finds them. The subquery
// names its column apart so that RETURNING's names are the table's alone.
const adoptSQL = `
UPDATE executions e SET owner_instance = $1, lease_expires_at = now() + $2 * interval '1 millisecond'
FROM (
	SELECT id AS expired_id FROM executions
	WHERE status IN ('PENDING', 'RUNNING') AND (lease_expires_at IS NULL OR lease_expires_at < now())
	ORDER BY fired_time, id
	LIMIT $3
	FOR UPDATE SKIP LOCKED
) expired
WHERE e.id = expired.expired_id
RETURNING ` + executionColumns

// AdoptExecutions makes owner the owner of up to limit executions whose lease expired.
func (s *Store) AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) (_ []store.Execution, err error) {
	defer classify(&err)
	var rows []executionRow
	if err := s.db.SelectContext(ctx, &rows, adoptSQL, owner, lease.Milliseconds(), limit); err != nil {
		return nil, fmt.Errorf("postgres: adopt executions: %w", err)
	}
	return executions(rows), nil
}

const releaseLeasesSQL = `
UPDATE executions SET lease_expires_at = now()
WHERE id = ANY($2::uuid[]) AND owner_instance = $1 AND status IN ('PENDING', 'RUNNING')`

// ReleaseLeases ends owner's leases on ids now.
func (s *Store) ReleaseLeases(ctx context.Context, owner string, ids []string) (err error) {
	defer classify(&err)
	valid := uuids(ids)
	if len(valid) == 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, releaseLeasesSQL, owner, pq.Array(valid)); err != nil {
		return fmt.Errorf("postgres: release leases: %w", err)
	}
	return nil
}

// uuids keeps the ids that are UUIDs: any other names no execution, and
// would fail the whole statement's cast.
func uuids(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id, ok := parseID(id); ok {
			out = append(out, id)
		}
	}
	return out
}

func executions(rows []executionRow) []store.Execution {
	out := make([]store.Execution, len(rows))
	for i := range rows {
		out[i] = *rows[i].execution()
	}
	return out
}
