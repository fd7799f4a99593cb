package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
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
func (s *Store) ListCronTriggers(ctx context.Context, deploymentID string) (_ []workflow.CronTrigger, err error) {
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
	var out []workflow.CronTrigger
	for rows.Next() {
		var r cronTriggerRow
		if err := rows.Scan(&r.TriggerID, &r.DeploymentID, &r.DeploymentVersion, &r.WorkflowID, &r.Spec, &r.Config, &r.UpdatedAt, &r.LastSlot); err != nil {
			return nil, fmt.Errorf("postgres: list cron triggers: %w", err)
		}
		ct := workflow.CronTrigger{
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

// insertExecutionsSQL writes a batch of executions, one per element of its
// arrays, in one statement: a group commit. It writes nothing for a slot or
// an idempotency key already recorded (ON CONFLICT without a target covers
// both unique guards: the (trigger_id, scheduled_time) constraint and the
// partial (workflow_id, idempotency_key) index; a repeat within the batch
// is skipped the same way) nor for a deployment that is not DEPLOYED: a
// replica whose view of a pause is late cannot record a run for it.
//
// A row without a deployment id goes to its workflow's DEPLOYED deployment,
// at its current version, and a MANUAL one without a trigger to that
// deployment's first MANUAL trigger: a manual trigger costs no read of the
// deployment before it. Each branch of the lateral join is an index probe.
// A row with a lease length ($18, milliseconds) gets its lease from the
// database's clock, which every renewal and adoption reads.
const insertExecutionsSQL = `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, scheduled_time, fired_time, jitter_seconds, skip_reason, trace_id, idempotency_key,
	triggered_by, owner_instance, lease_expires_at, input)
SELECT v.id, v.workflow_id, d.id, CASE WHEN v.deployment_id IS NULL THEN d.version ELSE v.deployment_version END,
	COALESCE(v.trigger_id, CASE WHEN v.trigger_type = 'MANUAL' THEN (SELECT t.id FROM deployment_triggers t
		WHERE t.deployment_id = d.id AND t.type = 'MANUAL' ORDER BY t.position LIMIT 1) END),
	v.trigger_type, v.status, v.scheduled_time, v.fired_time, v.jitter_seconds, v.skip_reason, v.trace_id,
	v.idempotency_key, v.triggered_by, v.owner_instance,
	CASE WHEN v.lease_ms > 0 THEN now() + v.lease_ms * interval '1 millisecond' ELSE v.lease_expires_at END, v.input
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::uuid[], $6::text[], $7::text[],
	$8::timestamptz[], $9::timestamptz[], $10::int[], $11::text[], $12::text[], $13::text[], $14::text[],
	$15::text[], $16::timestamptz[], $17::text[], $18::bigint[])
	AS v(id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
		scheduled_time, fired_time, jitter_seconds, skip_reason, trace_id, idempotency_key, triggered_by,
		owner_instance, lease_expires_at, input, lease_ms)
JOIN LATERAL (
	SELECT d.id, d.version FROM deployments d
	WHERE v.deployment_id IS NOT NULL AND d.id = v.deployment_id AND d.status = 'DEPLOYED'
	UNION ALL
	SELECT d.id, d.version FROM deployments d
	WHERE v.deployment_id IS NULL AND d.workflow_id = v.workflow_id AND d.status = 'DEPLOYED'
) d ON true
ON CONFLICT DO NOTHING
RETURNING id, deployment_id, deployment_version, COALESCE(trigger_id::text, ''), lease_expires_at`

// CreateExecution inserts e with a new id, and the deployment's id, version
// and MANUAL trigger when e names only its workflow. For a slot or
// idempotency key another writer has already recorded, or a deployment that
// is not DEPLOYED, it writes nothing and returns false. Concurrent calls are
// written together (see group); each returns once its row is committed.
func (s *Store) CreateExecution(ctx context.Context, e *workflow.Execution) (created bool, err error) {
	defer classify(&err)
	// A malformed id would fail the whole batch's cast: it names no
	// deployment or trigger, so nothing is written.
	for _, id := range []string{e.DeploymentID, e.TriggerID} {
		if _, ok := store.CanonicalID(id); id != "" && !ok {
			return false, nil
		}
	}
	row := *e
	row.ID = uuid.NewString()
	got, err := s.inserts.do(ctx, row)
	if err != nil || got.ID == "" {
		return false, err
	}
	e.ID, e.DeploymentID, e.DeploymentVersion, e.TriggerID = got.ID, got.DeploymentID, got.DeploymentVersion, got.TriggerID
	if e.Lease > 0 {
		e.LeaseExpiresAt = got.LeaseExpiresAt
	}
	return true, nil
}

// insertExecutions writes a batch; an execution not written comes back zero.
func (s *Store) insertExecutions(ctx context.Context, es []workflow.Execution) ([]workflow.Execution, []error, error) {
	n := len(es)
	// One array per column, as unnest takes them.
	var c struct {
		ids, workflows, types, statuses                        []string
		deployments, triggers, skips, traces, keys, by, owners []*string
		inputs                                                 []*string
		versions, leaseMs                                      []int64
		jitters                                                []int32
		slots, leases                                          []*time.Time
		fired                                                  []time.Time
	}
	for _, e := range es {
		var input *string
		if len(e.Input) > 0 {
			input = nullString(string(e.Input))
		}
		c.ids, c.workflows = append(c.ids, e.ID), append(c.workflows, e.WorkflowID)
		c.types, c.statuses = append(c.types, string(e.TriggerType)), append(c.statuses, string(e.Status))
		c.deployments, c.triggers = append(c.deployments, nullString(e.DeploymentID)), append(c.triggers, nullString(e.TriggerID))
		c.skips, c.traces = append(c.skips, nullString(e.SkipReason)), append(c.traces, nullString(e.TraceID))
		c.keys, c.by = append(c.keys, nullString(e.IdempotencyKey)), append(c.by, nullString(e.TriggeredBy))
		c.owners, c.inputs = append(c.owners, nullString(e.OwnerInstance)), append(c.inputs, input)
		c.versions, c.jitters = append(c.versions, e.DeploymentVersion), append(c.jitters, e.JitterSeconds)
		c.slots, c.leases = append(c.slots, e.ScheduledTime), append(c.leases, e.LeaseExpiresAt)
		c.fired, c.leaseMs = append(c.fired, e.FiredTime), append(c.leaseMs, e.Lease.Milliseconds())
	}
	rows, err := s.db.QueryContext(ctx, insertExecutionsSQL, pq.Array(c.ids), pq.Array(c.workflows), pq.Array(c.deployments),
		pq.Array(c.versions), pq.Array(c.triggers), pq.Array(c.types), pq.Array(c.statuses), pq.Array(c.slots), pq.Array(c.fired),
		pq.Array(c.jitters), pq.Array(c.skips), pq.Array(c.traces), pq.Array(c.keys), pq.Array(c.by), pq.Array(c.owners),
		pq.Array(c.leases), pq.Array(c.inputs), pq.Array(c.leaseMs))
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: create executions: %w", err)
	}
	defer rows.Close()
	written := make(map[string]workflow.Execution, n)
	for rows.Next() {
		var (
			e     workflow.Execution
			lease sql.NullTime
		)
		if err := rows.Scan(&e.ID, &e.DeploymentID, &e.DeploymentVersion, &e.TriggerID, &lease); err != nil {
			return nil, nil, fmt.Errorf("postgres: create executions: %w", err)
		}
		if lease.Valid {
			e.LeaseExpiresAt = utcPtr(&lease.Time)
		}
		written[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("postgres: create executions: %w", err)
	}
	out := make([]workflow.Execution, n)
	for i, e := range es {
		out[i] = written[e.ID]
	}
	return out, make([]error, n), nil
}
