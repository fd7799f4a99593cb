package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// listCronTriggersSQL reads each trigger's latest slot through the unique
// (trigger_id, scheduled_time) index, one backward index probe per trigger.
// $1 is a deployment id, or NULL for all.
const listCronTriggersSQL = `
SELECT t.id, t.deployment_id, d.version, d.workflow_id, t.spec, d.config, d.updated_at,
	(SELECT max(e.scheduled_time) FROM executions e WHERE e.trigger_id = t.id) AS last_slot
FROM deployment_triggers t
JOIN deployments d ON d.id = t.deployment_id
WHERE d.status = 'DEPLOYED' AND t.type = 'CRON' AND t.enabled
	AND ($1::uuid IS NULL OR d.id = $1::uuid)
ORDER BY t.deployment_id, t.position`

// cronTriggerRow is scanned by position: 100k rows at start, without reflection.
type cronTriggerRow struct {
	TriggerID, DeploymentID, WorkflowID string
	DeploymentVersion                   int64
	Spec, Config                        []byte
	UpdatedAt                           time.Time
	LastSlot                            sql.NullTime
}

// ListCronTriggers returns the enabled cron triggers of DEPLOYED deployments,
// or of deployment deploymentID when it is set; an id that is not a UUID
// names no deployment.
func (s *Store) ListCronTriggers(ctx context.Context, deploymentID string) (_ []store.CronTrigger, err error) {
	defer classify(&err)
	var filter *string
	if deploymentID != "" {
		id, ok := parseID(deploymentID)
		if !ok {
			return nil, nil
		}
		filter = &id
	}
	rows, err := s.db.QueryContext(ctx, listCronTriggersSQL, filter)
	if err != nil {
		return nil, fmt.Errorf("postgres: list cron triggers: %w", err)
	}
	defer rows.Close()
	var out []store.CronTrigger
	for rows.Next() {
		var r cronTriggerRow
		if err := rows.Scan(&r.TriggerID, &r.DeploymentID, &r.DeploymentVersion, &r.WorkflowID, &r.Spec, &r.Config, &r.UpdatedAt, &r.LastSlot); err != nil {
			return nil, fmt.Errorf("postgres: list cron triggers: %w", err)
		}
		ct := store.CronTrigger{
			TriggerID: r.TriggerID, DeploymentID: r.DeploymentID, DeploymentVersion: r.DeploymentVersion,
			WorkflowID: r.WorkflowID, ScheduledSince: r.UpdatedAt.UTC(),
		}
		if err := json.Unmarshal(r.Spec, &ct.Spec); err != nil {
			return nil, fmt.Errorf("postgres: trigger %s: spec: %w", r.TriggerID, err)
		}
		if err := json.Unmarshal(r.Config, &ct.Config); err != nil {
			return nil, fmt.Errorf("postgres: deployment %s: config: %w", r.DeploymentID, err)
		}
		if r.LastSlot.Valid {
			t := r.LastSlot.Time.UTC()
			ct.LastSlot = &t
		}
		out = append(out, ct)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list cron triggers: %w", err)
	}
	return out, nil
}

// insertExecutionSQL writes nothing for a slot already recorded (the conflict
// target is the (trigger_id, scheduled_time) constraint, so any other unique
// violation still fails loudly) nor for a deployment that is not DEPLOYED: a
// replica whose view of a pause is late cannot record a run for it.
const insertExecutionSQL = `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, scheduled_time, fired_time, jitter_seconds, skip_reason, trace_id, idempotency_key,
	triggered_by, owner_instance, lease_expires_at, input)
SELECT $1::uuid, $2, $3::uuid, $4, $5::uuid, $6, $7, $8::timestamptz, $9::timestamptz, $10, $11, $12, $13,
	$14, $15, $16::timestamptz, $17::jsonb
WHERE EXISTS (SELECT 1 FROM deployments d WHERE d.id = $3::uuid AND d.status = 'DEPLOYED')
ON CONFLICT ON CONSTRAINT executions_trigger_slot_key DO NOTHING
RETURNING id`

// CreateExecution inserts e with a new id. For a slot another writer has
// already recorded, or a deployment that is not DEPLOYED, it writes nothing
// and returns false.
func (s *Store) CreateExecution(ctx context.Context, e *store.Execution) (created bool, err error) {
	defer classify(&err)
	id := uuid.NewString()
	var input *string
	if len(e.Input) > 0 {
		in := string(e.Input)
		input = &in
	}
	var got string
	err = s.db.GetContext(ctx, &got, insertExecutionSQL,
		id, e.WorkflowID, e.DeploymentID, e.DeploymentVersion, nullString(e.TriggerID), string(e.TriggerType),
		string(e.Status), e.ScheduledTime, e.FiredTime, e.JitterSeconds, nullString(e.SkipReason),
		nullString(e.TraceID), nullString(e.IdempotencyKey), nullString(e.TriggeredBy),
		nullString(e.OwnerInstance), e.LeaseExpiresAt, input)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("postgres: create execution: %w", err)
	}
	e.ID = got
	return true, nil
}
