package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// takeLeaseSQL takes or renews a lease in one statement: the insert, or the
// update of a lease that ran out or is the holder's own, returns the row;
// a lease that another holds still returns none.
func takeLeaseSQL(d Dialect) string {
	return `
INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, ` + d.Later("$3") + `)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= now()
RETURNING holder`
}

// TakeLease takes or renews lease name for holder (store.RetentionStore).
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (_ bool, err error) {
	ctx, end := s.begin(ctx, "TakeLease")
	defer end(&err)
	if name == "" || holder == "" || ttl <= 0 {
		return false, errors.Errorf("TakeLease", errors.Invalid, "a lease needs a name, a holder and a positive ttl")
	}
	var got string
	err = s.w.GetContext(ctx, &got, takeLeaseSQL(s.d), name, holder, ttl.Microseconds())
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// ReleaseLease ends holder's lease name now (store.RetentionStore).
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) (err error) {
	ctx, end := s.begin(ctx, "ReleaseLease")
	defer end(&err)
	_, err = s.w.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	return err
}

// deleteExpiredExecutionsSQL walks executions_fired_time_idx from $3, where
// the pass's last batch ended: from the oldest row, the walk would step over
// the entries of every row the pass deleted, which stay in the index until
// a vacuum (62 ms a batch after 600,000 rows, so that small batches removed
// about 1,000 rows a second on an idle host). A retried run's attempts share
// first_attempt_id (NULL, or its own id, on the first), and attempt n+1 is
// written when attempt n ends: an attempt goes when no later attempt of its
// run is unfinished or young. The NOT EXISTS reads
// executions_first_attempt_idx.
func deleteExpiredExecutionsSQL(d Dialect) string {
	return `
DELETE FROM executions WHERE ` + d.InSubquery("id", `
	SELECT e.id FROM executions e
	WHERE e.fired_time >= $3 AND e.fired_time < $1 AND e.status NOT IN ('PENDING', 'RUNNING')
		AND NOT EXISTS (
			SELECT 1 FROM executions r
			WHERE r.first_attempt_id = COALESCE(e.first_attempt_id, e.id) AND r.attempt > e.attempt
				AND (r.status IN ('PENDING', 'RUNNING') OR r.fired_time >= $1))
	ORDER BY e.fired_time
	LIMIT $2`+d.SkipLocked) + `
RETURNING fired_time`
}

// DeleteExpiredExecutions deletes a batch of expired executions
// (store.RetentionStore).
func (s *Store) DeleteExpiredExecutions(ctx context.Context, from, before time.Time, limit int) (_ int64, last time.Time, err error) {
	ctx, end := s.begin(ctx, "DeleteExpiredExecutions")
	defer end(&err)
	if err := checkLimit(limit); err != nil {
		return 0, time.Time{}, err
	}
	var fired []dbTime
	err = s.lazily(ctx, func(q sqlx.ExtContext) error {
		return sqlx.SelectContext(ctx, q, &fired, deleteExpiredExecutionsSQL(s.d), at(before), limit, at(from))
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	for _, f := range fired {
		if f.t.After(last) {
			last = f.t
		}
	}
	return int64(len(fired)), last, nil
}

// deleteExpiredMissedSlotsSQL walks missed_slots_to_slot_idx. Its rows are
// deleted through a join on their key, which PostgreSQL may plan as a scan
// of the table: a small one, of a row per outage of a trigger.
func deleteExpiredMissedSlotsSQL(d Dialect) string {
	return `
DELETE FROM missed_slots WHERE (trigger_id, from_slot) IN (
	SELECT trigger_id, from_slot FROM missed_slots
	WHERE to_slot < $1
	ORDER BY to_slot
	LIMIT $2` + d.SkipLocked + `)`
}

// DeleteExpiredMissedSlots deletes a batch of expired missed runs
// (store.RetentionStore).
func (s *Store) DeleteExpiredMissedSlots(ctx context.Context, before time.Time, limit int) (_ int64, err error) {
	ctx, end := s.begin(ctx, "DeleteExpiredMissedSlots")
	defer end(&err)
	return s.deleteBatch(ctx, deleteExpiredMissedSlotsSQL(s.d), before, limit)
}

func checkLimit(limit int) error {
	if limit <= 0 {
		return errors.Errorf("", errors.Invalid, "limit must be positive, got %d", limit)
	}
	return nil
}

func (s *Store) deleteBatch(ctx context.Context, query string, before time.Time, limit int) (n int64, err error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	err = s.lazily(ctx, func(q sqlx.ExtContext) error {
		res, err := q.ExecContext(ctx, query, at(before), limit)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return n, err
}

// lazily runs f, one statement of retention's, in a transaction that
// commits lazily where the dialect can (Dialect.Lazy), else on its own: a
// crash that undoes the statement leaves rows that the next pass deletes.
func (s *Store) lazily(ctx context.Context, f func(q sqlx.ExtContext) error) error {
	if s.d.Lazy == "" {
		return f(s.w)
	}
	tx, err := s.w.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer rollback(tx)
	if _, err := tx.ExecContext(ctx, s.d.Lazy); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
