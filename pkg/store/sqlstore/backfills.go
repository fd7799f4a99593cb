package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var _ store.BackfillStore = (*Store)(nil)

const insertBackfillSQL = `
INSERT INTO backfills (id, deployment_id, workflow_id, start_time, end_time, overlap_policy, planned_slots, out_of_bounds, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

const insertBackfillChunkSQL = `
INSERT INTO backfill_chunks (backfill_id, seq, trigger_id, first_slot, last_slot, slots, slot_count)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

// CreateBackfill inserts b and its chunks in one transaction.
func (s *Store) CreateBackfill(ctx context.Context, b *workflow.Backfill, chunks []workflow.BackfillChunk) (err error) {
	ctx, end := s.begin(ctx, "CreateBackfill")
	defer end(&err)
	id := uuid.NewString()
	err = s.inTx(ctx, func(tx *sqlx.Tx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, insertBackfillSQL, id, b.DeploymentID, b.WorkflowID, at(b.Start), at(b.End),
			b.OverlapPolicy, b.Planned, b.OutOfBounds, now); err != nil {
			return err
		}
		for _, c := range chunks {
			if len(c.Slots) == 0 {
				return fmt.Errorf("chunk %d has no slot", c.Seq)
			}
			micros := make([]int64, len(c.Slots))
			for i, t := range c.Slots {
				micros[i] = at(t).UnixMicro()
			}
			slots, err := json.Marshal(micros)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, insertBackfillChunkSQL, id, c.Seq, c.TriggerID,
				at(c.Slots[0]), at(c.Slots[len(c.Slots)-1]), string(slots), len(c.Slots)); err != nil {
				return err
			}
		}
		b.ID, b.CreatedAt = id, now
		return nil
	})
	return err
}

// backfillOwnSQL counts, by status, the executions of backfill $1 (whose
// triggered_by is $2), found through each chunk's range of the slots' unique
// index: a slot's first attempts, one per slot, not its retries.
const backfillOwnSQL = `
SELECT COALESCE(SUM(CASE WHEN e.status <> 'SKIPPED' THEN 1 ELSE 0 END), 0) AS started,
	COALESCE(SUM(CASE WHEN e.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT') THEN 1 ELSE 0 END), 0) AS finished,
	COALESCE(SUM(CASE WHEN e.status = 'SKIPPED' THEN 1 ELSE 0 END), 0) AS skipped,
	MAX(e.finished_time) AS last_finished
FROM backfill_chunks c
JOIN executions e ON e.trigger_id = c.trigger_id AND e.scheduled_time >= c.first_slot AND e.scheduled_time <= c.last_slot
	AND e.attempt = 1
WHERE c.backfill_id = $1 AND e.triggered_by = $2`

const backfillChunksSQL = `
SELECT COALESCE(SUM(CASE WHEN done_at IS NULL THEN 1 ELSE 0 END), 0) AS open,
	COALESCE(SUM(elsewhere), 0) AS elsewhere, COALESCE(SUM(out_of_bounds), 0) AS out_of_bounds, MAX(done_at) AS last_done
FROM backfill_chunks WHERE backfill_id = $1`

// GetBackfill returns backfill id with its progress, read from one snapshot.
func (s *Store) GetBackfill(ctx context.Context, id string) (_ *workflow.Backfill, err error) {
	ctx, end := s.begin(ctx, "GetBackfill")
	defer end(&err)
	defer named(&err, "backfill "+id)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	tx, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer rollback(tx)
	var (
		b struct {
			ID            string `db:"id"`
			DeploymentID  string `db:"deployment_id"`
			WorkflowID    string `db:"workflow_id"`
			Start         dbTime `db:"start_time"`
			End           dbTime `db:"end_time"`
			OverlapPolicy string `db:"overlap_policy"`
			Planned       int64  `db:"planned_slots"`
			OutOfBounds   int64  `db:"out_of_bounds"`
			CreatedAt     dbTime `db:"created_at"`
		}
		own struct {
			Started      int64  `db:"started"`
			Finished     int64  `db:"finished"`
			Skipped      int64  `db:"skipped"`
			LastFinished dbTime `db:"last_finished"`
		}
		chunks struct {
			Open        int64  `db:"open"`
			Elsewhere   int64  `db:"elsewhere"`
			OutOfBounds int64  `db:"out_of_bounds"`
			LastDone    dbTime `db:"last_done"`
		}
	)
	if err := tx.GetContext(ctx, &b, `SELECT id, deployment_id, workflow_id, start_time, end_time, overlap_policy,
	planned_slots, out_of_bounds, created_at FROM backfills WHERE id = $1`, id); err != nil {
		return nil, notFound(err)
	}
	if err := tx.GetContext(ctx, &chunks, backfillChunksSQL, id); err != nil {
		return nil, err
	}
	if err := tx.GetContext(ctx, &own, backfillOwnSQL, id, workflow.BackfillTriggeredBy(id)); err != nil {
		return nil, err
	}
	out := &workflow.Backfill{
		ID: b.ID, DeploymentID: b.DeploymentID, WorkflowID: b.WorkflowID, Start: b.Start.t, End: b.End.t,
		OverlapPolicy: b.OverlapPolicy, Planned: b.Planned, CreatedAt: b.CreatedAt.t,
		Started: own.Started, Finished: own.Finished, OutOfBounds: b.OutOfBounds + chunks.OutOfBounds,
		Handled: chunks.Open == 0,
	}
	out.Skipped = own.Skipped + chunks.Elsewhere + out.OutOfBounds
	if out.Handled && out.Finished == out.Started {
		done := b.CreatedAt.t
		for _, t := range []dbTime{chunks.LastDone, own.LastFinished} {
			if t.valid && t.t.After(done) {
				done = t.t
			}
		}
		out.CompletedAt = &done
	}
	return out, nil
}

// claimBackfillChunkSQL takes an open chunk whose lease ran out, skipping
// those another replica is claiming at the same moment; a lease that ends at
// this very microsecond has ended, so that a chunk given up is taken at once.
func claimBackfillChunkSQL(d Dialect) string {
	return `
UPDATE backfill_chunks AS c SET owner_instance = $1, lease_expires_at = ` + d.Later("$2") + `
FROM (
	SELECT backfill_id AS open_id, seq AS open_seq FROM backfill_chunks
	WHERE done_at IS NULL AND (lease_expires_at IS NULL OR lease_expires_at <= now())
	ORDER BY backfill_id, seq
	LIMIT 1` + d.SkipLocked + `
) AS open
WHERE c.backfill_id = open.open_id AND c.seq = open.open_seq
RETURNING backfill_id, seq, trigger_id, slots`
}

// ClaimBackfillChunk leases an open chunk to owner.
func (s *Store) ClaimBackfillChunk(ctx context.Context, owner string, lease time.Duration) (_ *workflow.BackfillChunk, err error) {
	ctx, end := s.begin(ctx, "ClaimBackfillChunk")
	defer end(&err)
	defer named(&err, "open backfill chunk")
	var row struct {
		BackfillID string `db:"backfill_id"`
		Seq        int    `db:"seq"`
		TriggerID  string `db:"trigger_id"`
		Slots      string `db:"slots"`
	}
	if err := s.w.GetContext(ctx, &row, claimBackfillChunkSQL(s.d), owner, lease.Microseconds()); err != nil {
		return nil, notFound(err)
	}
	var micros []int64
	if err := json.Unmarshal([]byte(row.Slots), &micros); err != nil {
		return nil, fmt.Errorf("backfill %s chunk %d: slots: %w", row.BackfillID, row.Seq, err)
	}
	c := &workflow.BackfillChunk{BackfillID: row.BackfillID, Seq: row.Seq, TriggerID: row.TriggerID, Slots: make([]time.Time, len(micros))}
	for i, us := range micros {
		c.Slots[i] = time.UnixMicro(us).UTC()
	}
	if err := s.w.QueryRowxContext(ctx, `SELECT deployment_id, workflow_id, overlap_policy FROM backfills WHERE id = $1`,
		row.BackfillID).Scan(&c.DeploymentID, &c.WorkflowID, &c.OverlapPolicy); err != nil {
		return nil, err
	}
	return c, nil
}

// RenewBackfillChunk extends or, with lease 0, ends owner's lease on a chunk.
func (s *Store) RenewBackfillChunk(ctx context.Context, backfillID string, seq int, owner string, lease time.Duration) (err error) {
	ctx, end := s.begin(ctx, "RenewBackfillChunk")
	defer end(&err)
	return s.changeChunk(ctx, `
UPDATE backfill_chunks SET lease_expires_at = `+s.d.Later("$4")+`
WHERE backfill_id = $1 AND seq = $2 AND owner_instance = $3 AND done_at IS NULL`, backfillID, seq, owner, lease.Microseconds())
}

// finishBackfillChunkSQL marks a chunk done with $5 slots out of bounds, and
// counts the other slots in its range that have no execution of this
// backfill ($4): another run held them.
const finishBackfillChunkSQL = `
UPDATE backfill_chunks SET done_at = now(), lease_expires_at = NULL, out_of_bounds = $5,
	elsewhere = slot_count - $5 - (SELECT COUNT(*) FROM executions e WHERE e.trigger_id = backfill_chunks.trigger_id
		AND e.scheduled_time >= backfill_chunks.first_slot AND e.scheduled_time <= backfill_chunks.last_slot
		AND e.attempt = 1 AND e.triggered_by = $4)
WHERE backfill_id = $1 AND seq = $2 AND owner_instance = $3 AND done_at IS NULL`

// FinishBackfillChunk marks owner's chunk done.
func (s *Store) FinishBackfillChunk(ctx context.Context, backfillID string, seq int, owner string, outOfBounds int) (err error) {
	ctx, end := s.begin(ctx, "FinishBackfillChunk")
	defer end(&err)
	return s.changeChunk(ctx, finishBackfillChunkSQL, backfillID, seq, owner, workflow.BackfillTriggeredBy(backfillID), outOfBounds)
}

// changeChunk runs a statement on one chunk of owner's, the chunk's key and
// owner being its first three parameters: ErrStale when it changed nothing.
func (s *Store) changeChunk(ctx context.Context, query, backfillID string, seq int, owner string, args ...any) error {
	id, ok := store.CanonicalID(backfillID)
	if !ok {
		return fmt.Errorf("backfill %s chunk %d: %w", backfillID, seq, store.ErrStale)
	}
	res, err := s.w.ExecContext(ctx, query, append([]any{id, seq, owner}, args...)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return fmt.Errorf("backfill %s chunk %d: %w", backfillID, seq, store.ErrStale)
	}
	return nil
}
