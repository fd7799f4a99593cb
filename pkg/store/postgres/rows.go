package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// deploymentColumns is the column list every deployment query selects, in
// deploymentRow's order.
const deploymentColumns = `id, workflow_id, status, version, definition, config, deployed_by,
	created_at, updated_at, deployed_at`

// deploymentRow is one row of deployments.
type deploymentRow struct {
	ID         string     `db:"id"`
	WorkflowID string     `db:"workflow_id"`
	Status     string     `db:"status"`
	Version    int64      `db:"version"`
	Definition []byte     `db:"definition"`
	Config     []byte     `db:"config"`
	DeployedBy string     `db:"deployed_by"`
	CreatedAt  time.Time  `db:"created_at"`
	UpdatedAt  time.Time  `db:"updated_at"`
	DeployedAt *time.Time `db:"deployed_at"`
}

func (r *deploymentRow) deployment() (*workflow.Deployment, error) {
	d := &workflow.Deployment{
		ID:         r.ID,
		WorkflowID: r.WorkflowID,
		Status:     workflow.DeploymentStatus(r.Status),
		Version:    r.Version,
		Definition: json.RawMessage(r.Definition),
		DeployedBy: r.DeployedBy,
		CreatedAt:  r.CreatedAt.UTC(),
		UpdatedAt:  r.UpdatedAt.UTC(),
		DeployedAt: utcPtr(r.DeployedAt),
	}
	if len(r.Config) > 0 {
		if err := json.Unmarshal(r.Config, &d.Config); err != nil {
			return nil, fmt.Errorf("postgres: deployment %s: config: %w", r.ID, err)
		}
	}
	return d, nil
}

// triggerColumns is the column list every trigger query selects, from
// deployment_triggers t. A cron trigger's last fire is the fired time of its
// latest slot, found backwards through the (trigger_id, scheduled_time) index.
const triggerColumns = `t.id, t.deployment_id, t.type, t.spec, t.enabled,
	(SELECT e.fired_time FROM executions e
		WHERE e.trigger_id = t.id AND e.scheduled_time IS NOT NULL
		ORDER BY e.scheduled_time DESC LIMIT 1) AS last_fire_time`

// triggerRow is one row of deployment_triggers, as read.
type triggerRow struct {
	ID           string     `db:"id"`
	DeploymentID string     `db:"deployment_id"`
	Type         string     `db:"type"`
	Spec         []byte     `db:"spec"`
	Enabled      bool       `db:"enabled"`
	LastFireTime *time.Time `db:"last_fire_time"`
}

func (r *triggerRow) trigger() (workflow.Trigger, error) {
	t := workflow.Trigger{
		ID:           r.ID,
		DeploymentID: r.DeploymentID,
		Type:         workflow.TriggerType(r.Type),
		Enabled:      r.Enabled,
		LastFireTime: utcPtr(r.LastFireTime),
	}
	var err error
	switch t.Type {
	case workflow.TriggerCron:
		t.Cron = new(workflow.CronSpec)
		err = json.Unmarshal(r.Spec, t.Cron)
	case workflow.TriggerWebhook:
		t.Webhook = new(workflow.WebhookSpec)
		err = json.Unmarshal(r.Spec, t.Webhook)
	}
	if err != nil {
		return workflow.Trigger{}, fmt.Errorf("postgres: trigger %s: spec: %w", r.ID, err)
	}
	return t, nil
}

// eventColumns is the column list every event query selects.
const eventColumns = `id, deployment_id, workflow_id, action, from_status, to_status, version, actor, at`

// eventRow is one row of deployment_events.
type eventRow struct {
	ID           int64     `db:"id"`
	DeploymentID string    `db:"deployment_id"`
	WorkflowID   string    `db:"workflow_id"`
	Action       string    `db:"action"`
	FromStatus   *string   `db:"from_status"`
	ToStatus     string    `db:"to_status"`
	Version      int64     `db:"version"`
	Actor        string    `db:"actor"`
	At           time.Time `db:"at"`
}

func (r *eventRow) event() workflow.Event {
	return workflow.Event{
		ID:           r.ID,
		DeploymentID: r.DeploymentID,
		WorkflowID:   r.WorkflowID,
		Action:       r.Action,
		FromStatus:   workflow.DeploymentStatus(deref(r.FromStatus)),
		ToStatus:     workflow.DeploymentStatus(r.ToStatus),
		Version:      r.Version,
		Actor:        r.Actor,
		At:           r.At.UTC(),
	}
}

// executionColumns is the column list every execution query selects.
const executionColumns = `id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, scheduled_time, fired_time, started_time, finished_time, jitter_seconds,
	engine_execution_id, error_message, skip_reason, trace_id, idempotency_key, triggered_by,
	owner_instance, lease_expires_at, input, result, holds_turn`

// executionRow is one row of executions.
type executionRow struct {
	ID                string     `db:"id"`
	WorkflowID        string     `db:"workflow_id"`
	DeploymentID      string     `db:"deployment_id"`
	DeploymentVersion int64      `db:"deployment_version"`
	TriggerID         *string    `db:"trigger_id"`
	TriggerType       string     `db:"trigger_type"`
	Status            string     `db:"status"`
	ScheduledTime     *time.Time `db:"scheduled_time"`
	FiredTime         time.Time  `db:"fired_time"`
	StartedTime       *time.Time `db:"started_time"`
	FinishedTime      *time.Time `db:"finished_time"`
	JitterSeconds     int32      `db:"jitter_seconds"`
	EngineExecutionID *string    `db:"engine_execution_id"`
	ErrorMessage      *string    `db:"error_message"`
	SkipReason        *string    `db:"skip_reason"`
	TraceID           *string    `db:"trace_id"`
	IdempotencyKey    *string    `db:"idempotency_key"`
	TriggeredBy       *string    `db:"triggered_by"`
	OwnerInstance     *string    `db:"owner_instance"`
	LeaseExpiresAt    *time.Time `db:"lease_expires_at"`
	HoldsTurn         bool       `db:"holds_turn"`
	Input             []byte     `db:"input"`
	Result            []byte     `db:"result"`
}

func (r *executionRow) execution() *workflow.Execution {
	return &workflow.Execution{
		ID:                r.ID,
		WorkflowID:        r.WorkflowID,
		DeploymentID:      r.DeploymentID,
		DeploymentVersion: r.DeploymentVersion,
		TriggerID:         deref(r.TriggerID),
		TriggerType:       workflow.TriggerType(r.TriggerType),
		Status:            workflow.ExecutionStatus(r.Status),
		ScheduledTime:     utcPtr(r.ScheduledTime),
		FiredTime:         r.FiredTime.UTC(),
		StartedTime:       utcPtr(r.StartedTime),
		FinishedTime:      utcPtr(r.FinishedTime),
		JitterSeconds:     r.JitterSeconds,
		EngineExecutionID: deref(r.EngineExecutionID),
		ErrorMessage:      deref(r.ErrorMessage),
		SkipReason:        deref(r.SkipReason),
		TraceID:           deref(r.TraceID),
		IdempotencyKey:    deref(r.IdempotencyKey),
		TriggeredBy:       deref(r.TriggeredBy),
		OwnerInstance:     deref(r.OwnerInstance),
		LeaseExpiresAt:    utcPtr(r.LeaseExpiresAt),
		HoldsTurn:         r.HoldsTurn,
		Input:             json.RawMessage(r.Input),
		Result:            json.RawMessage(r.Result),
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nullString returns nil for "", so that an empty field is stored as NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
