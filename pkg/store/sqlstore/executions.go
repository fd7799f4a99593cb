package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// insertExecutionsSQL writes a batch of executions, one per row v of the
// dialect's InsertRows, in one statement: a group commit. Each row v goes to
// the DEPLOYED deployment d that InsertRows joins it to: its own, or, for a
// row without a deployment id, its workflow's at its current version, and a
// MANUAL one without a trigger to that deployment's first MANUAL trigger, so
// that a manual trigger costs no read of the deployment before it. A row
// with a lease length (lease_us) gets its lease from the database's clock,
// which every renewal and adoption reads. The statement writes nothing for a
// slot or an idempotency key already recorded (ON CONFLICT without a target
// covers both unique guards: the (trigger_id, scheduled_time) constraint and
// the partial (workflow_id, idempotency_key) index; a repeat within the
// batch is skipped the same way).
func insertExecutionsSQL(d Dialect) string {
	return `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, scheduled_time, fired_time, jitter_seconds, skip_reason, trace_id, idempotency_key,
	triggered_by, owner_instance, lease_expires_at, input, overlap_policy, on_behalf_of)
SELECT v.id, v.workflow_id, d.id, CASE WHEN v.deployment_id IS NULL THEN d.version ELSE v.deployment_version END,
	COALESCE(v.trigger_id, CASE WHEN v.trigger_type = 'MANUAL' THEN (SELECT t.id FROM deployment_triggers t
		WHERE t.deployment_id = d.id AND t.type = 'MANUAL' ORDER BY t.position LIMIT 1) END),
	v.trigger_type, v.status, v.scheduled_time, v.fired_time, v.jitter_seconds, v.skip_reason, v.trace_id,
	v.idempotency_key, v.triggered_by, v.owner_instance,
	CASE WHEN v.lease_us > 0 THEN ` + d.Later("v.lease_us") + ` ELSE v.lease_expires_at END, v.input, v.overlap_policy,
	COALESCE(v.on_behalf_of, '')
FROM ` + d.InsertRows + `
ON CONFLICT DO NOTHING
RETURNING id, deployment_id, deployment_version, trigger_id, lease_expires_at`
}

// CreateExecution inserts e with a new id, and the deployment's id, version
// and MANUAL trigger when e names only its workflow. For a slot or
// idempotency key another writer has already recorded, or a deployment that
// is not DEPLOYED, it writes nothing and returns false: a replica whose view
// of a pause is late cannot record a run for it. Concurrent calls are
// written together (see group); each returns once its row is committed.
func (s *Store) CreateExecution(ctx context.Context, e *workflow.Execution) (created bool, err error) {
	ctx, end := s.begin(ctx, "CreateExecution")
	defer end(&err)
	row := *e
	row.ID = uuid.NewString()
	row.FiredTime, row.ScheduledTime, row.LeaseExpiresAt = at(e.FiredTime), atPtr(e.ScheduledTime), atPtr(e.LeaseExpiresAt)
	// A malformed id names no deployment or trigger, so nothing is written;
	// sent, it would fail the whole batch.
	for _, id := range []*string{&row.DeploymentID, &row.TriggerID} {
		if *id == "" {
			continue
		}
		c, ok := store.CanonicalID(*id)
		if !ok {
			return false, nil
		}
		*id = c
	}
	got, err := s.inserts.do(ctx, row)
	if err != nil || got.ID == "" {
		return false, err
	}
	e.ID, e.DeploymentID, e.DeploymentVersion, e.TriggerID = got.ID, got.DeploymentID, got.DeploymentVersion, got.TriggerID
	e.Attempt, e.FirstAttemptID = 1, got.ID
	// As stored: whoever compares fire times, with this row or with others
	// read back, compares the same microseconds.
	e.FiredTime, e.ScheduledTime = row.FiredTime, row.ScheduledTime
	if e.Lease > 0 {
		e.LeaseExpiresAt = got.LeaseExpiresAt
	}
	return true, nil
}

// insertExecutions writes a batch; an execution not written comes back zero.
func (s *Store) insertExecutions(ctx context.Context, es []workflow.Execution) ([]workflow.Execution, []error, error) {
	stmt, release, err := s.insertStmt.get(ctx) //nolint:sqlclosecheck // the store's, closed by Close
	if err != nil {
		return nil, nil, fmt.Errorf("create executions: %w", err)
	}
	defer release()
	rows, err := stmt.QueryContext(ctx, s.d.InsertArgs(es)...)
	if err != nil {
		return nil, nil, fmt.Errorf("create executions: %w", err)
	}
	defer rows.Close()
	written := make(map[string]workflow.Execution, len(es))
	for rows.Next() {
		var (
			e       workflow.Execution
			trigger *string
			lease   dbTime
		)
		if err := rows.Scan(&e.ID, &e.DeploymentID, &e.DeploymentVersion, &trigger, &lease); err != nil {
			return nil, nil, fmt.Errorf("create executions: %w", err)
		}
		if trigger != nil {
			e.TriggerID = *trigger
		}
		e.LeaseExpiresAt = lease.ptr()
		written[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("create executions: %w", err)
	}
	out := make([]workflow.Execution, len(es))
	for i, e := range es {
		out[i] = written[e.ID]
	}
	return out, make([]error, len(es)), nil
}

// transition is one execution's compare-and-set.
type transition struct {
	id string
	t  store.Transition
}

// TransitionExecution applies t to execution id, or returns store.ErrStale.
// Concurrent calls are written together (see group); two for one execution
// never share a batch, so that each sees the other's outcome.
func (s *Store) TransitionExecution(ctx context.Context, id string, t store.Transition) (_ *workflow.Execution, err error) {
	ctx, end := s.begin(ctx, "TransitionExecution")
	defer end(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrStale
	}
	t.StartedTime, t.FinishedTime = atPtr(t.StartedTime), atPtr(t.FinishedTime)
	return s.transitions.do(ctx, transition{id: id, t: t})
}

// leavable is the statuses of from that a row can leave: a terminal row
// never moves, whatever its expected statuses say. The statement leaves
// that to its expected statuses rather than testing the row's status as
// unfinished itself: such a test matches executions_unfinished_status_idx,
// which PostgreSQL, from statistics that saw few unfinished rows in a big
// table, took as the way in, probing the batch's ids for every unfinished
// row (issue 16: seconds per batch once thousands were unfinished).
func leavable(from []workflow.ExecutionStatus) []workflow.ExecutionStatus {
	return slices.DeleteFunc(slices.Clone(from), workflow.ExecutionStatus.Terminal)
}

// transitionsSQL is the compare-and-set of every status change, for a batch
// of executions at once (a group commit): per row v of the dialect's
// TransitionRows (execution_id, to_status, from_statuses, owner,
// without_turn and the set_ fields), the expected statuses (unfinished
// ones only, see leavable), the expected owner (empty: any) and whether the
// row must not hold its workflow's turn. Its rows are locked in id order
// first ($1 lists them), as the lease statements lock theirs: batches that
// share rows then wait for each other instead of deadlocking. NULL fields
// keep their value. A terminal status ends the lease but keeps the owner,
// the last replica that answered for the execution.
func transitionsSQL(d Dialect) string {
	return `
UPDATE executions AS e SET
	status = v.to_status,
	engine_execution_id = COALESCE(v.set_engine_execution_id, e.engine_execution_id),
	started_time = COALESCE(v.set_started_time, e.started_time),
	finished_time = COALESCE(v.set_finished_time, e.finished_time),
	error_message = COALESCE(v.set_error_message, e.error_message),
	skip_reason = COALESCE(v.set_skip_reason, e.skip_reason),
	result = COALESCE(v.set_result, e.result),
	lease_expires_at = CASE WHEN v.to_status IN ('PENDING', 'RUNNING') THEN e.lease_expires_at END
FROM ` + d.TransitionRows + `
WHERE e.id = v.execution_id AND ` + d.In("e.status", "v.from_statuses") + `
	AND (v.owner = '' OR e.owner_instance = v.owner)
	AND NOT (v.without_turn AND (e.holds_turn OR e.concurrency_slot IS NOT NULL))
	AND e.id IN (SELECT id FROM executions WHERE ` + d.In("id", "$1") + ` ORDER BY id` + d.ForUpdate + `)
RETURNING ` + ExecutionColumns
}

// TransitionsStatement is the statement of transitions ts[i] of executions
// ids[i] (the one transitionStmt prepares), and its arguments.
func (s *Store) TransitionsStatement(ids []string, ts []store.Transition) (query string, args []any) {
	ts = slices.Clone(ts)
	for i := range ts {
		ts[i].From = leavable(ts[i].From)
	}
	return s.transitionSQL, append([]any{s.d.List(ids)}, s.d.TransitionArgs(ids, ts)...)
}

// transitionExecutions writes a batch of transitions.
func (s *Store) transitionExecutions(ctx context.Context, ts []transition) ([]*workflow.Execution, []error, error) {
	ids, trs := make([]string, len(ts)), make([]store.Transition, len(ts))
	for i, tr := range ts {
		ids[i], trs[i] = tr.id, tr.t
	}
	stmt, release, err := s.transitionStmt.get(ctx) //nolint:sqlclosecheck // the store's, closed by Close
	if err != nil {
		return nil, nil, fmt.Errorf("transition executions: %w", err)
	}
	defer release()
	_, args := s.TransitionsStatement(ids, trs)
	var rows []executionRow
	if err := stmt.SelectContext(ctx, &rows, args...); err != nil {
		return nil, nil, fmt.Errorf("transition executions: %w", err)
	}
	byID := make(map[string]*workflow.Execution, len(rows))
	for i := range rows {
		e := rows[i].execution()
		byID[e.ID] = &e
	}
	out, errs := make([]*workflow.Execution, len(ts)), make([]error, len(ts))
	for i, tr := range ts {
		if out[i] = byID[tr.id]; out[i] == nil {
			errs[i] = store.ErrStale
		}
	}
	return out, errs, nil
}

// retrySQL writes the next attempt of execution $1, which the same
// transaction has just ended, if its deployment is still DEPLOYED: a paused
// deployment runs no retry, as it records no fire. The slot key, which
// includes the attempt, keeps it to one row per attempt of a cron slot.
func retrySQL(d Dialect) string {
	return `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, scheduled_time, fired_time, jitter_seconds, trace_id, triggered_by, owner_instance,
	lease_expires_at, input, attempt, first_attempt_id, not_before, overlap_policy, on_behalf_of)
SELECT $2, e.workflow_id, e.deployment_id, e.deployment_version, e.trigger_id, e.trigger_type,
	'PENDING', e.scheduled_time, $3, e.jitter_seconds, e.trace_id, e.triggered_by, $4,
	` + d.Later("$5") + `, e.input, e.attempt + 1, COALESCE(e.first_attempt_id, e.id), $6, e.overlap_policy, e.on_behalf_of
FROM executions e JOIN deployments dep ON dep.id = e.deployment_id AND dep.status = 'DEPLOYED'
WHERE e.id = $1
ON CONFLICT DO NOTHING
RETURNING ` + ExecutionColumns
}

// RetryExecution ends execution id by t and writes its next attempt, in one
// transaction. It goes around the group commit of transitions: a retry is
// rare, and its two writes must commit together.
func (s *Store) RetryExecution(ctx context.Context, id string, t store.Transition, firedAt, notBefore time.Time,
	lease time.Duration) (ended, next *workflow.Execution, err error) {
	ctx, end := s.begin(ctx, "RetryExecution")
	defer end(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, nil, store.ErrStale
	}
	t.StartedTime, t.FinishedTime = atPtr(t.StartedTime), atPtr(t.FinishedTime)
	ids := []string{id}
	err = s.inTx(ctx, func(tx *sqlx.Tx, _ time.Time) error {
		var rows []executionRow
		query, args := s.TransitionsStatement(ids, []store.Transition{t})
		if err := tx.SelectContext(ctx, &rows, query, args...); err != nil {
			return fmt.Errorf("end execution: %w", err)
		}
		if len(rows) == 0 {
			return store.ErrStale
		}
		e := rows[0].execution()
		ended = &e
		var retry []executionRow
		if err := tx.SelectContext(ctx, &retry, s.retrySQL, id, uuid.NewString(), at(firedAt), t.Owner,
			lease.Microseconds(), at(notBefore)); err != nil {
			return fmt.Errorf("write retry: %w", err)
		}
		if len(retry) == 1 {
			n := retry[0].execution()
			next = &n
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ended, next, nil
}

// TakeTurnSQL and TakeSlotSQL find the row by its id alone and test its
// status in what they write and return, not in WHERE: a status test there
// let PostgreSQL's planner, whose statistics of a table of finished rows
// see no PENDING one, enter through executions_unfinished_status_idx and
// read every unfinished row (2.5 ms at 12,000, against 0.05 by the primary
// key). A row that is no longer PENDING is written unchanged and reported
// not taken. TurnHolderSQL and SlotsTakenSQL read the tables that triggers
// keep from holds_turn and concurrency_slot (migration 00020) by their
// primary keys: until then SlotsTakenSQL read the slots from executions,
// through executions_unfinished_status_idx when the statistics saw no
// unfinished row (1.3 to 1.8 ms at 12,000 unfinished rows). All four are
// exported for the PostgreSQL plan test.
const (
	TakeTurnSQL = `
UPDATE executions SET holds_turn = holds_turn OR status = 'PENDING'
WHERE id = $1 AND owner_instance = $2
RETURNING status = 'PENDING' AS took`
	TakeSlotSQL = `
UPDATE executions
SET concurrency_slot = CASE WHEN status = 'PENDING' AND concurrency_slot IS NULL THEN $3 ELSE concurrency_slot END
WHERE id = $1 AND owner_instance = $2
RETURNING status = 'PENDING' AND concurrency_slot = $3 AS took`
	TurnHolderSQL = `
SELECT execution_id FROM workflow_turns
WHERE workflow_id = (SELECT workflow_id FROM executions WHERE id = $1) AND execution_id <> $1`
	SlotsTakenSQL = `
SELECT slot, execution_id = $1 AS mine FROM workflow_slots
WHERE workflow_id = (SELECT workflow_id FROM executions WHERE id = $1)`
)

// TakeTurn gives execution id its workflow's turn, or names the holder;
// the primary key of workflow_turns, which a trigger writes from the row's
// holds_turn (migration 00020), decides between executions taking it at
// once.
func (s *Store) TakeTurn(ctx context.Context, id, owner string) (_ string, err error) {
	ctx, end := s.begin(ctx, "TakeTurn")
	defer end(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return "", store.ErrStale
	}
	var took bool
	err = s.w.GetContext(ctx, &took, TakeTurnSQL, id, owner)
	switch index, _, _ := s.d.Unique(err); {
	case errors.Is(err, sql.ErrNoRows) || err == nil && !took:
		return "", store.ErrStale
	case err == nil:
		return "", nil
	case index != TurnIndex:
		return "", err
	}
	var holder string
	err = s.r.GetContext(ctx, &holder, TurnHolderSQL, id)
	if errors.Is(err, sql.ErrNoRows) {
		// The holder ended between the two statements: the turn is free.
		return "", fmt.Errorf("%w: its holder just ended", store.ErrConcurrentChange)
	}
	return holder, err
}

// TakeSlot gives execution id a free one of its workflow's n slots, if it
// holds none, or reports that none is free; the primary key of
// workflow_slots, which a trigger writes from the row's concurrency_slot,
// decides between executions taking the same one at once, and the loser
// tries the next.
func (s *Store) TakeSlot(ctx context.Context, id, owner string, n int32) (_ bool, err error) {
	ctx, end := s.begin(ctx, "TakeSlot")
	defer end(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return false, store.ErrStale
	}
	var held []struct {
		Slot int32 `db:"slot"`
		Mine bool  `db:"mine"`
	}
	if err := s.w.SelectContext(ctx, &held, SlotsTakenSQL, id); err != nil {
		return false, err
	}
	taken := make([]int32, len(held))
	for i, h := range held {
		if h.Mine {
			return true, nil
		}
		taken[i] = h.Slot
	}
	for k := range n {
		if slices.Contains(taken, k) {
			continue
		}
		var took bool
		err := s.w.GetContext(ctx, &took, TakeSlotSQL, id, owner, k)
		if index, _, _ := s.d.Unique(err); index == SlotIndex {
			continue
		}
		if errors.Is(err, sql.ErrNoRows) || err == nil && !took {
			return false, store.ErrStale
		}
		return err == nil, err
	}
	return false, nil
}

const listUnfinishedSQL = `SELECT ` + ExecutionColumns + `
FROM executions
WHERE workflow_id = $1 AND status IN ('PENDING', 'RUNNING')
ORDER BY fired_time, id`

// ListUnfinishedExecutions returns workflowID's PENDING and RUNNING
// executions, oldest fired first. The partial index on unfinished statuses
// keeps this to the few rows that are not over.
func (s *Store) ListUnfinishedExecutions(ctx context.Context, workflowID string) (_ []workflow.Execution, err error) {
	ctx, end := s.begin(ctx, "ListUnfinishedExecutions")
	defer end(&err)
	var rows []executionRow
	if err := s.r.SelectContext(ctx, &rows, listUnfinishedSQL, workflowID); err != nil {
		return nil, err
	}
	return executions(rows), nil
}

// RenewLeases extends owner's leases on ids by lease, from the database's
// clock, and returns the ids that are not owner's PENDING or RUNNING
// executions, in canonical form; an id that is not a UUID names none and
// comes back as given.
func (s *Store) RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (lost []string, err error) {
	ctx, end := s.begin(ctx, "RenewLeases")
	defer end(&err)
	valid, lost := canonicalIDs(ids)
	if len(valid) == 0 {
		return lost, nil
	}
	gone, err := s.d.RenewLeases(ctx, s.w, owner, valid, lease)
	if err != nil {
		return nil, err
	}
	return append(lost, gone...), nil
}

// adoptSQL takes the expired rows, found through the partial index on
// unfinished statuses, skipping those another replica is adopting at the
// same moment, so that adopters share the rows out instead of queueing on
// them. The subquery names its column apart so that RETURNING's names are
// the table's alone. A lease that ends at this very microsecond has ended:
// one just released is adopted at once. A row that never had an owner is
// queued, not abandoned: claimSQL takes it.
func adoptSQL(d Dialect) string {
	return `
UPDATE executions AS e SET owner_instance = $1, lease_expires_at = ` + d.Later("$2") + `
FROM (
	SELECT id AS expired_id FROM executions
	WHERE status IN ('PENDING', 'RUNNING') AND (lease_expires_at IS NULL OR lease_expires_at <= now())
		AND owner_instance IS NOT NULL
	ORDER BY fired_time, id
	LIMIT $3` + d.SkipLocked + `
) AS expired
WHERE e.id = expired.expired_id
RETURNING ` + ExecutionColumns
}

// AdoptExecutions makes owner the owner of up to limit executions whose
// lease expired, oldest fired first.
func (s *Store) AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) (_ []workflow.Execution, err error) {
	ctx, end := s.begin(ctx, "AdoptExecutions")
	defer end(&err)
	if limit < 0 {
		return nil, fmt.Errorf("negative limit %d", limit)
	}
	var rows []executionRow
	if err := s.w.SelectContext(ctx, &rows, s.adoptSQL, owner, lease.Microseconds(), limit); err != nil {
		return nil, err
	}
	// RETURNING comes in no promised order.
	slices.SortFunc(rows, func(a, b executionRow) int {
		return cmp.Or(a.FiredTime.t.Compare(b.FiredTime.t), strings.Compare(a.ID, b.ID))
	})
	return executions(rows), nil
}

// leaseExpiredSQL is adoption's condition, for one row. A lease that ends at
// this very microsecond has ended: one just released is adopted at once.
const leaseExpiredSQL = `
SELECT status IN ('PENDING', 'RUNNING') AND (lease_expires_at IS NULL OR lease_expires_at <= now())
FROM executions WHERE id = $1`

// LeaseExpired reports whether execution id is unfinished with a lease that
// ran out by the database's clock.
func (s *Store) LeaseExpired(ctx context.Context, id string) (_ bool, err error) {
	ctx, end := s.begin(ctx, "LeaseExpired")
	defer end(&err)
	defer named(&err, "execution "+id)
	id, ok := store.CanonicalID(id)
	if !ok {
		return false, store.ErrNotFound
	}
	var expired bool
	return expired, notFound(s.r.GetContext(ctx, &expired, leaseExpiredSQL, id))
}

// ReleaseLeases ends owner's leases on ids now. Its rows are locked in id
// order first, as every batch of transitions locks its rows, so that the two
// wait for each other instead of deadlocking.
func (s *Store) ReleaseLeases(ctx context.Context, owner string, ids []string) (err error) {
	ctx, end := s.begin(ctx, "ReleaseLeases")
	defer end(&err)
	valid, _ := canonicalIDs(ids)
	if len(valid) == 0 {
		return nil
	}
	_, err = s.w.ExecContext(ctx, `
UPDATE executions SET lease_expires_at = now()
WHERE owner_instance = $1 AND status IN ('PENDING', 'RUNNING')
	AND id IN (SELECT id FROM executions WHERE `+s.d.In("id", "$2")+` ORDER BY id`+s.d.ForUpdate+`)`,
		owner, s.d.List(valid))
	return err
}

const endLeasesSQL = `
UPDATE executions SET lease_expires_at = now()
WHERE status IN ('PENDING', 'RUNNING') AND (lease_expires_at IS NULL OR lease_expires_at > now())`

// EndLeases ends now the lease of every PENDING or RUNNING execution,
// whoever owns it, so that the next adoption takes them all, and returns how
// many it ended. It is for a process that knows their owners are gone: in
// embedded mode, the one that holds the data directory's lock, before its
// coordinator starts.
func (s *Store) EndLeases(ctx context.Context) (_ int64, err error) {
	ctx, end := s.begin(ctx, "EndLeases")
	defer end(&err)
	res, err := s.w.ExecContext(ctx, endLeasesSQL)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

const findByKeySQL = `SELECT ` + ExecutionColumns + `
FROM executions WHERE workflow_id = $1 AND idempotency_key = $2`

// FindExecutionByKey returns workflowID's execution with idempotency key key.
func (s *Store) FindExecutionByKey(ctx context.Context, workflowID, key string) (_ *workflow.Execution, err error) {
	ctx, end := s.begin(ctx, "FindExecutionByKey")
	defer end(&err)
	defer named(&err, fmt.Sprintf("execution of workflow %s with idempotency key %q", workflowID, key))
	var r executionRow
	if err := s.r.GetContext(ctx, &r, findByKeySQL, workflowID, key); err != nil {
		return nil, notFound(err)
	}
	e := r.execution()
	return &e, nil
}

const expireKeySQL = `
UPDATE executions SET idempotency_key = NULL
WHERE id = $1 AND idempotency_key IS NOT NULL AND fired_time < $2`

// ExpireIdempotencyKey frees execution id's idempotency key if it was fired
// before before.
func (s *Store) ExpireIdempotencyKey(ctx context.Context, id string, before time.Time) (_ bool, err error) {
	ctx, end := s.begin(ctx, "ExpireIdempotencyKey")
	defer end(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return false, nil
	}
	res, err := s.w.ExecContext(ctx, expireKeySQL, id, at(before))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const selectExecutionSQL = `SELECT ` + ExecutionColumns + ` FROM executions WHERE id = $1`

// GetExecution returns execution id, or store.ErrNotFound (also for an id
// that is not a UUID).
func (s *Store) GetExecution(ctx context.Context, id string) (_ *workflow.Execution, err error) {
	ctx, end := s.begin(ctx, "GetExecution")
	defer end(&err)
	defer named(&err, "execution "+id)
	return s.getExecution(ctx, selectExecutionSQL, id)
}

// getExecution runs query, which selects the execution of id $1, a UUID.
func (s *Store) getExecution(ctx context.Context, query, id string) (*workflow.Execution, error) {
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	var r executionRow
	if err := s.r.GetContext(ctx, &r, query, id); err != nil {
		return nil, notFound(err)
	}
	e := r.execution()
	return &e, nil
}
