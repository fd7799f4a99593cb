package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

const findByKeySQL = `SELECT ` + executionColumns + `
FROM executions WHERE workflow_id = ?1 AND idempotency_key = ?2`

// FindExecutionByKey returns workflowID's execution with idempotency key key.
func (s *Store) FindExecutionByKey(ctx context.Context, workflowID, key string) (_ *workflow.Execution, err error) {
	defer classify(&err)
	var r executionRow
	if err := s.r.GetContext(ctx, &r, findByKeySQL, workflowID, key); err != nil {
		return nil, notFound("find execution by key", err)
	}
	return r.execution(), nil
}

// transitionSQL is the compare-and-set of every status change: ?3 the
// expected statuses as a JSON array, ?4 the expected owner (empty: any), ?11
// whether the row must not hold its workflow's turn. A
// terminal row never moves, whatever its expected statuses say. NULL fields
// keep their value. A terminal status ends the lease but keeps the owner,
// the last replica that answered for the execution.
const transitionSQL = `
UPDATE executions SET
	status = ?2,
	engine_execution_id = COALESCE(?5, engine_execution_id),
	started_time = COALESCE(?6, started_time),
	finished_time = COALESCE(?7, finished_time),
	error_message = COALESCE(?8, error_message),
	skip_reason = COALESCE(?9, skip_reason),
	result = COALESCE(?10, result),
	lease_expires_at = CASE WHEN ?2 IN ('PENDING', 'RUNNING') THEN lease_expires_at END
WHERE id = ?1 AND status IN (SELECT value FROM json_each(?3)) AND status IN ('PENDING', 'RUNNING')
	AND (?4 = '' OR owner_instance = ?4) AND NOT (?11 AND holds_turn)
RETURNING ` + executionColumns

// TransitionExecution applies t to execution id, or returns store.ErrStale.
// The statement is one write transaction, so two transitions of one
// execution see each other's outcome.
func (s *Store) TransitionExecution(ctx context.Context, id string, t store.Transition) (_ *workflow.Execution, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrStale
	}
	var result *string
	if len(t.Result) > 0 {
		result = nullString(string(t.Result))
	}
	var r executionRow
	err = s.w.GetContext(ctx, &r, transitionSQL, id, string(t.To), jsonList(t.From), t.Owner,
		nullString(t.EngineExecutionID), microsPtr(t.StartedTime), microsPtr(t.FinishedTime),
		nullString(t.ErrorMessage), nullString(t.SkipReason), result, t.WithoutTurn)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrStale
	case err != nil:
		return nil, fmt.Errorf("sqlite: transition execution: %w", err)
	}
	return r.execution(), nil
}

const (
	takeTurnSQL = `
UPDATE executions SET holds_turn = 1
WHERE id = ?1 AND status = 'PENDING' AND owner_instance = ?2
RETURNING id`
	turnHolderSQL = `
SELECT id FROM executions
WHERE workflow_id = (SELECT workflow_id FROM executions WHERE id = ?1)
	AND holds_turn AND status IN ('PENDING', 'RUNNING') AND id <> ?1`
)

// turnColumns are the columns of executions_workflow_turn_key, as SQLite
// names them in a violation.
const turnColumns = "executions.workflow_id"

// TakeTurn gives execution id its workflow's turn, or names the holder; the
// unique index on the turn decides, and the holder is read in the same
// transaction, so it cannot have ended in between.
func (s *Store) TakeTurn(ctx context.Context, id, owner string) (_ string, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return "", store.ErrStale
	}
	var holder string
	err = s.inTx(ctx, func(tx *sqlx.Tx, _ int64) error {
		var got string
		err := tx.GetContext(ctx, &got, takeTurnSQL, id, owner)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrStale
		case !uniqueViolation(err, turnColumns):
			return err
		}
		// A failed statement is undone alone; the transaction goes on.
		return tx.GetContext(ctx, &holder, turnHolderSQL, id)
	})
	switch {
	case errors.Is(err, store.ErrStale):
		return "", err
	case err != nil:
		return "", fmt.Errorf("sqlite: take turn: %w", err)
	}
	return holder, nil
}

const listUnfinishedSQL = `SELECT ` + executionColumns + `
FROM executions
WHERE workflow_id = ?1 AND status IN ('PENDING', 'RUNNING')
ORDER BY fired_time, id`

// ListUnfinishedExecutions returns workflowID's PENDING and RUNNING
// executions, oldest fired first.
func (s *Store) ListUnfinishedExecutions(ctx context.Context, workflowID string) (_ []workflow.Execution, err error) {
	defer classify(&err)
	var rows []executionRow
	if err := s.r.SelectContext(ctx, &rows, listUnfinishedSQL, workflowID); err != nil {
		return nil, fmt.Errorf("sqlite: list unfinished executions: %w", err)
	}
	return executions(rows), nil
}

// Leases run on the database's clock, which in embedded mode is the
// process's: the transaction's time, read once it holds the write lock.
// PostgreSQL skips the rows another writer holds; here no writer holds a row
// past its own transaction, so a renewal waits only for the one in progress,
// a single statement or a short transaction.
const (
	renewLeasesSQL = `
UPDATE executions SET lease_expires_at = ?3
WHERE id IN (SELECT value FROM json_each(?2)) AND owner_instance = ?1 AND status IN ('PENDING', 'RUNNING')`
	lostLeasesSQL = `
SELECT DISTINCT a.value FROM json_each(?2) a
WHERE NOT EXISTS (SELECT 1 FROM executions e
	WHERE e.id = a.value AND e.owner_instance = ?1 AND e.status IN ('PENDING', 'RUNNING'))`
)

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
	err = s.inTx(ctx, func(tx *sqlx.Tx, now int64) error {
		if _, err := tx.ExecContext(ctx, renewLeasesSQL, owner, jsonList(valid), now+lease.Microseconds()); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &gone, lostLeasesSQL, owner, jsonList(valid))
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: renew leases: %w", err)
	}
	return append(lost, gone...), nil
}

// adoptSQL takes the expired rows, found through the partial index on
// unfinished statuses. A lease that ends at this very microsecond has ended:
// one just released is adopted at once.
const adoptSQL = `
UPDATE executions SET owner_instance = ?1, lease_expires_at = ?2 + ?3
WHERE id IN (
	SELECT id FROM executions
	WHERE status IN ('PENDING', 'RUNNING') AND (lease_expires_at IS NULL OR lease_expires_at <= ?2)
	ORDER BY fired_time, id
	LIMIT ?4)
RETURNING ` + executionColumns

// AdoptExecutions makes owner the owner of up to limit executions whose
// lease expired, oldest fired first. Being one write transaction, an
// adoption cannot take a row another adoption takes.
func (s *Store) AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) (_ []workflow.Execution, err error) {
	defer classify(&err)
	if limit < 0 {
		return nil, fmt.Errorf("sqlite: adopt executions: negative limit %d", limit)
	}
	var rows []executionRow
	err = s.inTx(ctx, func(tx *sqlx.Tx, now int64) error {
		return tx.SelectContext(ctx, &rows, adoptSQL, owner, now, lease.Microseconds(), limit)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: adopt executions: %w", err)
	}
	// RETURNING comes in no promised order.
	slices.SortFunc(rows, func(a, b executionRow) int {
		return cmp.Or(cmp.Compare(a.FiredTime, b.FiredTime), strings.Compare(a.ID, b.ID))
	})
	return executions(rows), nil
}

const releaseLeasesSQL = `
UPDATE executions SET lease_expires_at = ?3
WHERE id IN (SELECT value FROM json_each(?2)) AND owner_instance = ?1 AND status IN ('PENDING', 'RUNNING')`

// ReleaseLeases ends owner's leases on ids now.
func (s *Store) ReleaseLeases(ctx context.Context, owner string, ids []string) (err error) {
	defer classify(&err)
	valid := uuids(ids)
	if len(valid) == 0 {
		return nil
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx, now int64) error {
		_, err := tx.ExecContext(ctx, releaseLeasesSQL, owner, jsonList(valid), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: release leases: %w", err)
	}
	return nil
}

// uuids keeps the ids that are UUIDs, in canonical form: any other names no
// execution.
func uuids(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id, ok := store.CanonicalID(id); ok {
			out = append(out, id)
		}
	}
	return out
}
