package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// recordMissedSlotsSQL keeps, of two runs recorded from one first slot, the
// one that ends later: replicas that come back at different moments see the
// same outage end at different slots.
const recordMissedSlotsSQL = `
INSERT INTO missed_slots (trigger_id, deployment_id, from_slot, to_slot, slot_count, reason, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (trigger_id, from_slot) DO UPDATE
SET to_slot = excluded.to_slot, slot_count = excluded.slot_count, reason = excluded.reason, recorded_at = excluded.recorded_at
WHERE excluded.to_slot > missed_slots.to_slot`

// RecordMissedSlots records a run of missed slots (store.SlotStore).
func (s *Store) RecordMissedSlots(ctx context.Context, m workflow.MissedSlots) (err error) {
	ctx, end := s.begin(ctx, "RecordMissedSlots")
	defer end(&err)
	var v errors.Violations
	tid, ok := store.CanonicalID(m.TriggerID)
	if !ok {
		v.Addf("trigger_id", "is not a UUID")
	}
	did, ok := store.CanonicalID(m.DeploymentID)
	if !ok {
		v.Addf("deployment_id", "is not a UUID")
	}
	if m.Count <= 0 {
		v.Addf("count", "must be positive")
	}
	if m.To.Before(m.From) {
		v.Addf("to", "is before from")
	}
	if !slices.Contains(workflow.MissReasons, m.Reason) {
		v.Addf("reason", "is not a known reason")
	}
	if err := v.Err("RecordMissedSlots"); err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, recordMissedSlotsSQL, tid, did, at(m.From), at(m.To), m.Count, string(m.Reason), at(m.RecordedAt))
	return err
}

const listMissedSlotsSQL = `
SELECT trigger_id, deployment_id, from_slot, to_slot, slot_count, reason, recorded_at
FROM missed_slots
WHERE trigger_id = $1 AND from_slot < $3 AND to_slot >= $2
ORDER BY from_slot`

// ListMissedSlots returns the trigger's missed runs overlapping [start, end).
func (s *Store) ListMissedSlots(ctx context.Context, triggerID string, start, end time.Time) (_ []workflow.MissedSlots, err error) {
	ctx, done := s.begin(ctx, "ListMissedSlots")
	defer done(&err)
	tid, ok := store.CanonicalID(triggerID)
	if !ok {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, listMissedSlotsSQL, tid, at(start), at(end))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []workflow.MissedSlots
	for rows.Next() {
		var (
			m                  workflow.MissedSlots
			from, to, recorded dbTime
			reason             string
		)
		if err := rows.Scan(&m.TriggerID, &m.DeploymentID, &from, &to, &m.Count, &reason, &recorded); err != nil {
			return nil, err
		}
		m.From, m.To, m.RecordedAt, m.Reason = from.t, to.t, recorded.t, workflow.MissReason(reason)
		out = append(out, m)
	}
	return out, rows.Err()
}

// listSlotExecutionsSQL walks the (trigger_id, scheduled_time) index. A
// slot may have several executions (retried attempts): the first fired
// comes first.
const listSlotExecutionsSQL = `
SELECT scheduled_time, fired_time, jitter_seconds, status
FROM executions
WHERE trigger_id = $1 AND scheduled_time >= $2 AND scheduled_time < $3
ORDER BY scheduled_time, fired_time`

// ListSlotExecutions returns the first execution of each of the trigger's
// slots in [start, end).
func (s *Store) ListSlotExecutions(ctx context.Context, triggerID string, start, end time.Time) (_ []workflow.SlotExecution, err error) {
	ctx, done := s.begin(ctx, "ListSlotExecutions")
	defer done(&err)
	tid, ok := store.CanonicalID(triggerID)
	if !ok {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, listSlotExecutionsSQL, tid, at(start), at(end))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []workflow.SlotExecution
	for rows.Next() {
		var (
			e           workflow.SlotExecution
			slot, fired dbTime
			status      string
		)
		if err := rows.Scan(&slot, &fired, &e.JitterSeconds, &status); err != nil {
			return nil, err
		}
		e.Slot, e.FiredTime, e.Status = slot.t, fired.t, workflow.ExecutionStatus(status)
		if n := len(out); n > 0 && out[n-1].Slot.Equal(e.Slot) {
			continue
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// countSlotRunsSQL counts slots, not executions: a slot retried is one run.
const countSlotRunsSQL = `
SELECT count(DISTINCT scheduled_time) FROM executions
WHERE trigger_id = $1 AND scheduled_time < $2 AND status <> 'SKIPPED'`

// CountSlotRuns counts the trigger's slots earlier than before that ran.
func (s *Store) CountSlotRuns(ctx context.Context, triggerID string, before time.Time) (_ int64, err error) {
	ctx, done := s.begin(ctx, "CountSlotRuns")
	defer done(&err)
	tid, ok := store.CanonicalID(triggerID)
	if !ok {
		return 0, nil
	}
	var n int64
	err = s.r.GetContext(ctx, &n, countSlotRunsSQL, tid, at(before))
	return n, err
}

const cronTriggerDeploymentSQL = `
SELECT deployment_id FROM deployment_triggers WHERE id = $1 AND type = 'CRON'`

// CronTriggerDeployment returns the deployment of cron trigger triggerID.
func (s *Store) CronTriggerDeployment(ctx context.Context, triggerID string) (_ string, err error) {
	ctx, done := s.begin(ctx, "CronTriggerDeployment")
	defer done(&err)
	tid, ok := store.CanonicalID(triggerID)
	if !ok {
		return "", store.ErrNotFound
	}
	var id string
	err = s.r.GetContext(ctx, &id, cronTriggerDeploymentSQL, tid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return id, err
}

const countMissedSlotsSQL = `
SELECT coalesce(sum(slot_count), 0) FROM missed_slots WHERE recorded_at >= $1 AND recorded_at < $2`

// CountMissedSlots counts the slots of the runs recorded in [start, end).
func (s *Store) CountMissedSlots(ctx context.Context, start, end time.Time) (_ int64, err error) {
	ctx, done := s.begin(ctx, "CountMissedSlots")
	defer done(&err)
	var n int64
	err = s.r.GetContext(ctx, &n, countMissedSlotsSQL, at(start), at(end))
	return n, err
}
