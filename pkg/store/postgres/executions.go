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
	filter, ok := deploymentFilter(deploymentID)
	if !ok {
		return nil, nil
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

// insertExecutionSQL writes nothing for a slot or an idempotency key already
// recorded (ON CONFLICT without a target covers both unique guards: the
// (trigger_id, scheduled_time) constraint and the partial (workflow_id,
// idempotency_key) index) nor for a deployment that is not DEPLOYED: a
// replica whose view of a pause is late cannot record a run for it.
//
// With a NULL deployment id ($3) the row goes to the workflow's DEPLOYED
// deployment, at its current version, and a MANUAL row without a trigger to
// that deployment's first MANUAL trigger: a manual trigger costs this one
// statement, not a read of the deployment before it.
const insertExecutionSQL = `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, scheduled_time, fired_time, jitter_seconds, skip_reason, trace_id, idempotency_key,
	triggered_by, owner_instance, lease_expires_at, input)
SELECT $1::uuid, $2::text, d.id, CASE WHEN $3::uuid IS NULL THEN d.version ELSE $4 END,
	COALESCE($5::uuid, CASE WHEN $6::text = 'MANUAL' THEN (SELECT t.id FROM deployment_triggers t
		WHERE t.deployment_id = d.id AND t.type = 'MANUAL' ORDER BY t.position LIMIT 1) END),
	$6::text, $7, $8::timestamptz, $9::timestamptz, $10, $11, $12, $13, $14, $15, $16::timestamptz, $17::jsonb
FROM deployments d
WHERE d.status = 'DEPLOYED' AND CASE WHEN $3::uuid IS NULL THEN d.workflow_id = $2::text ELSE d.id = $3::uuid END
ON CONFLICT DO NOTHING
RETURNING id, deployment_id, deployment_version, COALESCE(trigger_id::text, '')`

// CreateExecution inserts e with a new id, and the deployment's id, version
// and MANUAL trigger when e names only its workflow. For a slot or
// idempotency key another writer has already recorded, or a deployment that
// is not DEPLOYED, it writes nothing and returns false.
func (s *Store) CreateExecution(ctx context.Context, e *store.Execution) (created bool, err error) {
	defer classify(&err)
	var input *string
	if len(e.Input) > 0 {
		in := string(e.Input)
		input = &in
	}
	var id, deploymentID, triggerID string
	var version int64
	err = s.db.QueryRowContext(ctx, insertExecutionSQL,
		uuid.NewString(), e.WorkflowID, nullString(e.DeploymentID), e.DeploymentVersion, nullString(e.TriggerID),
		string(e.TriggerType), string(e.Status), e.ScheduledTime, e.FiredTime, e.JitterSeconds, nullString(e.SkipReason),
		nullString(e.TraceID), nullString(e.IdempotencyKey), nullString(e.TriggeredBy),
		nullString(e.OwnerInstance), e.LeaseExpiresAt, input).Scan(&id, &deploymentID, &version, &triggerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("postgres: create execution: %w", err)
	}
	e.ID, e.DeploymentID, e.DeploymentVersion, e.TriggerID = id, deploymentID, version, triggerID
	return true, nil
}
