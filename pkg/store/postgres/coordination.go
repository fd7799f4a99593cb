package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

const findByKeySQL = `SELECT ` + executionColumns + `
FROM executions WHERE workflow_id = $1 AND idempotency_key = $2`

// FindExecutionByKey returns workflowID's execution with idempotency key key.
func (s *Store) FindExecutionByKey(ctx context.Context, workflowID, key string) (_ *workflow.Execution, err error) {
	defer classify(&err)
	var r executionRow
	if err := s.db.GetContext(ctx, &r, findByKeySQL, workflowID, key); err != nil {
		return nil, notFound("find execution by key", err)
	}
	return r.execution(), nil
}

// transitionsSQL is the compare-and-set of every status change, for a batch
// of executions at once (a group commit): per row, the expected statuses
// (comma-separated), the expected owner (empty: any) and whether the row
// must not hold its workflow's turn. Its rows are locked
// in id order first, as the lease statements lock theirs: batches that share
// rows then wait for each other instead of deadlocking. A terminal row never
// moves, whatever its expected statuses say. NULL fields keep their value. A
// terminal status ends the lease but keeps the owner, the last replica that
// answered for the execution.
var transitionsSQL = `
UPDATE executions e SET
	status = v.to_status,
	engine_execution_id = COALESCE(v.engine_execution_id, e.engine_execution_id),
	started_time = COALESCE(v.started_time, e.started_time),
	finished_time = COALESCE(v.finished_time, e.finished_time),
	error_message = COALESCE(v.error_message, e.error_message),
	skip_reason = COALESCE(v.skip_reason, e.skip_reason),
	result = COALESCE(v.result::jsonb, e.result),
	lease_expires_at = CASE WHEN v.to_status IN ('PENDING', 'RUNNING') THEN e.lease_expires_at END
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
	$8::text[], $9::text[], $10::text[], $11::bool[])
	AS v(id, to_status, from_statuses, owner, engine_execution_id, started_time, finished_time,
		error_message, skip_reason, result, without_turn)
WHERE e.id = v.id AND e.status = ANY(string_to_array(v.from_statuses, ',')) AND e.status IN ('PENDING', 'RUNNING')
	AND (v.owner = '' OR e.owner_instance = v.owner) AND NOT (v.without_turn AND e.holds_turn)
	AND e.id IN (SELECT id FROM executions WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE)
RETURNING ` + qualified("e", executionColumns)

// transition is one execution's compare-and-set.
type transition struct {
	id string
	t  store.Transition
}

// TransitionExecution applies t to execution id, or returns store.ErrStale.
// Concurrent calls are written together (see group); two for one execution
// never share a batch, so that each sees the other's outcome.
func (s *Store) TransitionExecution(ctx context.Context, id string, t store.Transition) (_ *workflow.Execution, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrStale
	}
	return s.transitions.do(ctx, transition{id: id, t: t})
}

// transitionExecutions writes a batch of transitions.
func (s *Store) transitionExecutions(ctx context.Context, ts []transition) ([]*workflow.Execution, []error, error) {
	n := len(ts)
	ids, to, from, owners := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	engineIDs, errMsgs, skips, results := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	started, finished := make([]*time.Time, n), make([]*time.Time, n)
	withoutTurn := make([]bool, n)
	for i, tr := range ts {
		ids[i], to[i], owners[i], withoutTurn[i] = tr.id, string(tr.t.To), tr.t.Owner, tr.t.WithoutTurn
		statuses := make([]string, len(tr.t.From))
		for j, st := range tr.t.From {
			statuses[j] = string(st)
		}
		from[i] = strings.Join(statuses, ",")
		engineIDs[i], errMsgs[i], skips[i] = nullString(tr.t.EngineExecutionID), nullString(tr.t.ErrorMessage), nullString(tr.t.SkipReason)
		if len(tr.t.Result) > 0 {
			results[i] = nullString(string(tr.t.Result))
		}
		started[i], finished[i] = tr.t.StartedTime, tr.t.FinishedTime
	}
	var rows []executionRow
	err := s.db.SelectContext(ctx, &rows, transitionsSQL, pq.Array(ids), pq.Array(to), pq.Array(from), pq.Array(owners),
		pq.Array(engineIDs), pq.Array(started), pq.Array(finished), pq.Array(errMsgs), pq.Array(skips), pq.Array(results),
		pq.Array(withoutTurn))
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: transition executions: %w", err)
	}
	byID := make(map[string]*workflow.Execution, len(rows))
	for i := range rows {
		byID[rows[i].ID] = rows[i].execution()
	}
	out, errs := make([]*workflow.Execution, n), make([]error, n)
	for i, tr := range ts {
		if out[i] = byID[tr.id]; out[i] == nil {
			errs[i] = store.ErrStale
		}
	}
	return out, errs, nil
}

// qualified prefixes each of a comma-separated list of columns with table.
func qualified(table, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
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
	id, ok := store.CanonicalID(id)
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
func (s *Store) ListUnfinishedExecutions(ctx context.Context, workflowID string) (_ []workflow.Execution, err error) {
	defer classify(&err)
	var rows []executionRow
	if err := s.db.SelectContext(ctx, &rows, listUnfinishedSQL, workflowID); err != nil {
		return nil, fmt.Errorf("postgres: list unfinished executions: %w", err)
	}
	return executions(rows), nil
}

// Leases run on the database's clock, one clock for every replica, so that
// a replica whose clock runs ahead does not adopt its peers' executions early.
// A row another transaction has locked is skipped, neither renewed nor lost:
// a transition or an adoption is writing it, and the next renewal, a third of
// a lease later, learns which. Waiting instead queued each renewal behind
// every batch that held one of its rows, and each later batch behind the
// renewal: under load one renewal held its rows for over a second.
const renewLeasesSQL = `
WITH asked AS (
	SELECT DISTINCT unnest($2::uuid[]) AS id
), locked AS (
	SELECT id, owner_instance = $1 AND status IN ('PENDING', 'RUNNING') AS mine
	FROM executions WHERE id = ANY($2::uuid[])
	FOR UPDATE SKIP LOCKED
), renewed AS (
	UPDATE executions e SET lease_expires_at = now() + $3 * interval '1 millisecond'
	FROM locked l WHERE e.id = l.id AND l.mine
)
SELECT a.id FROM asked a LEFT JOIN locked l ON l.id = a.id
WHERE NOT COALESCE(l.mine, false)
	AND (l.id IS NOT NULL OR NOT EXISTS (SELECT 1 FROM executions e WHERE e.id = a.id))`

// RenewLeases extends owner's leases on ids by lease and returns the ids
// that are not owner's PENDING or RUNNING executions, in canonical form; an
// id that is not a UUID names none and comes back as given.
func (s *Store) RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (lost []string, err error) {
	defer classify(&err)
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if canonical, ok := store.CanonicalID(id); ok {
			valid = append(valid, canonical)
		} else {
			lost = append(lost, id)
		}
	}
	if len(valid) == 0 {
		return lost, nil
	}
	var gone []string
	if err := s.db.SelectContext(ctx, &gone, renewLeasesSQL, owner, pq.Array(valid), lease.Milliseconds()); err != nil {
		return nil, fmt.Errorf("postgres: renew leases: %w", err)
	}
	return append(lost, gone...), nil
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
func (s *Store) AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) (_ []workflow.Execution, err error) {
	defer classify(&err)
	var rows []executionRow
	if err := s.db.SelectContext(ctx, &rows, adoptSQL, owner, lease.Milliseconds(), limit); err != nil {
		return nil, fmt.Errorf("postgres: adopt executions: %w", err)
	}
	return executions(rows), nil
}

const releaseLeasesSQL = `
UPDATE executions SET lease_expires_at = now()
WHERE id = ANY($2::uuid[]) AND owner_instance = $1 AND status IN ('PENDING', 'RUNNING')
	AND id IN (SELECT id FROM executions WHERE id = ANY($2::uuid[]) ORDER BY id FOR UPDATE)`

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
		if id, ok := store.CanonicalID(id); ok {
			out = append(out, id)
		}
	}
	return out
}

func executions(rows []executionRow) []workflow.Execution {
	out := make([]workflow.Execution, len(rows))
	for i := range rows {
		out[i] = *rows[i].execution()
	}
	return out
}
