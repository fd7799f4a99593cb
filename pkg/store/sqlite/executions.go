package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// listCronTriggersSQL reads each trigger's latest slot through the unique
// (trigger_id, scheduled_time) index. ?1 is a deployment id, or NULL for all.
const listCronTriggersSQL = `
SELECT t.id, t.deployment_id, d.version, d.workflow_id, t.spec, d.config, d.updated_at,
	(SELECT max(e.scheduled_time) FROM executions e WHERE e.trigger_id = t.id) AS last_slot
FROM deployment_triggers t
JOIN deployments d ON d.id = t.deployment_id
WHERE d.status = 'DEPLOYED' AND t.type = 'CRON' AND t.enabled
	AND (?1 IS NULL OR d.id = ?1)
ORDER BY t.deployment_id, t.position`

// ListCronTriggers returns the enabled cron triggers of DEPLOYED deployments,
// or of deployment deploymentID when it is set; an id that is not a UUID
// names no deployment.
func (s *Store) ListCronTriggers(ctx context.Context, deploymentID string) (_ []workflow.CronTrigger, err error) {
	defer classify(&err)
	filter, ok := deploymentFilter(deploymentID)
	if !ok {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, listCronTriggersSQL, filter)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list cron triggers: %w", err)
	}
	defer rows.Close()
	var out []workflow.CronTrigger
	for rows.Next() {
		var (
			ct           workflow.CronTrigger
			spec, config []byte
			updatedAt    int64
			lastSlot     sql.NullInt64
		)
		if err := rows.Scan(&ct.TriggerID, &ct.DeploymentID, &ct.DeploymentVersion, &ct.WorkflowID, &spec, &config,
			&updatedAt, &lastSlot); err != nil {
			return nil, fmt.Errorf("sqlite: list cron triggers: %w", err)
		}
		ct.ScheduledSince, ct.LastSlot = fromMicros(updatedAt), fromNullMicros(lastSlot)
		if err := json.Unmarshal(spec, &ct.Spec); err != nil {
			return nil, fmt.Errorf("sqlite: trigger %s: spec: %w", ct.TriggerID, err)
		}
		if err := json.Unmarshal(config, &ct.Config); err != nil {
			return nil, fmt.Errorf("sqlite: deployment %s: config: %w", ct.DeploymentID, err)
		}
		out = append(out, ct)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list cron triggers: %w", err)
	}
	return out, nil
}

// insertExecutionSQL writes an execution, or nothing for a slot or an
// idempotency key already recorded (ON CONFLICT without a target covers both
// unique guards: the (trigger_id, scheduled_time) constraint and the partial
// (workflow_id, idempotency_key) index) nor for a deployment that is not
// DEPLOYED: a replica whose view of a pause is late cannot record a run for
// it.
//
// A row without a deployment id (?3 NULL) goes to its workflow's DEPLOYED
// deployment, at its current version, and a MANUAL one without a trigger to
// that deployment's first MANUAL trigger: a manual trigger costs no read of
// the deployment before it. A row with a lease length (?18, microseconds)
// gets its lease from the database's clock (?19), which renewals and
// adoption read.
const insertExecutionSQL = `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, scheduled_time, fired_time, jitter_seconds, skip_reason, trace_id, idempotency_key,
	triggered_by, owner_instance, lease_expires_at, input)
SELECT ?1, ?2, d.id, CASE WHEN ?3 IS NULL THEN d.version ELSE ?4 END,
	COALESCE(?5, CASE WHEN ?6 = 'MANUAL' THEN (SELECT t.id FROM deployment_triggers t
		WHERE t.deployment_id = d.id AND t.type = 'MANUAL' ORDER BY t.position LIMIT 1) END),
	?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, CASE WHEN ?18 > 0 THEN ?19 + ?18 ELSE ?16 END, ?17
FROM deployments d
WHERE d.status = 'DEPLOYED' AND CASE WHEN ?3 IS NULL THEN d.workflow_id = ?2 ELSE d.id = ?3 END
ON CONFLICT DO NOTHING
RETURNING id, deployment_id, deployment_version, COALESCE(trigger_id, ''), lease_expires_at`

// CreateExecution inserts e with a new id, and the deployment's id, version
// and MANUAL trigger when e names only its workflow. For a slot or
// idempotency key another writer has already recorded, or a deployment that
// is not DEPLOYED, it writes nothing and returns false.
func (s *Store) CreateExecution(ctx context.Context, e *workflow.Execution) (created bool, err error) {
	defer classify(&err)
	for _, id := range []string{e.DeploymentID, e.TriggerID} {
		if _, ok := store.CanonicalID(id); id != "" && !ok {
			return false, nil
		}
	}
	deploymentID, triggerID := canonical(e.DeploymentID), canonical(e.TriggerID)
	var input *string
	if len(e.Input) > 0 {
		input = nullString(string(e.Input))
	}
	var (
		got   workflow.Execution
		lease sql.NullInt64
	)
	err = s.w.QueryRowContext(ctx, insertExecutionSQL, uuid.NewString(), e.WorkflowID, deploymentID,
		e.DeploymentVersion, triggerID, string(e.TriggerType), string(e.Status), microsPtr(e.ScheduledTime),
		micros(e.FiredTime), e.JitterSeconds, nullString(e.SkipReason), nullString(e.TraceID),
		nullString(e.IdempotencyKey), nullString(e.TriggeredBy), nullString(e.OwnerInstance),
		microsPtr(e.LeaseExpiresAt), input, e.Lease.Microseconds(), micros(time.Now())).
		Scan(&got.ID, &got.DeploymentID, &got.DeploymentVersion, &got.TriggerID, &lease)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: create execution: %w", err)
	}
	e.ID, e.DeploymentID, e.DeploymentVersion, e.TriggerID = got.ID, got.DeploymentID, got.DeploymentVersion, got.TriggerID
	if e.Lease > 0 {
		e.LeaseExpiresAt = fromNullMicros(lease)
	}
	return true, nil
}

// canonical returns a UUID in canonical form, or nil for "": PostgreSQL
// stores a uuid canonically whatever its input form, and SQLite compares
// text as it is.
func canonical(id string) *string {
	if id == "" {
		return nil
	}
	c, _ := store.CanonicalID(id)
	return &c
}
