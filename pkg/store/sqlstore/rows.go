package sqlstore

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// dbTime scans a timestamp as either database returns it: a time.Time
// (PostgreSQL's timestamptz) or unix microseconds (SQLite's INTEGER). NULL
// leaves it invalid.
type dbTime struct {
	t     time.Time
	valid bool
}

func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = dbTime{}
	case time.Time:
		*t = dbTime{t: v.UTC(), valid: true}
	case int64:
		*t = dbTime{t: time.UnixMicro(v).UTC(), valid: true}
	default:
		return fmt.Errorf("a time cannot be read from %T", src)
	}
	return nil
}

// ptr is the time, or nil for NULL.
func (t dbTime) ptr() *time.Time {
	if !t.valid {
		return nil
	}
	return &t.t
}

// at is t as the databases store it: rounded to the microsecond, as
// PostgreSQL rounds a timestamptz (SQLite's driver would truncate).
func at(t time.Time) time.Time { return t.Round(time.Microsecond) }

func atPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	r := at(*t)
	return &r
}

// nullString returns nil for "", so that an empty field is stored as NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// versionColumns is the column list every version query selects.
const versionColumns = `deployment_id, version, definition, config, triggers, created_at, created_by, on_behalf_of`

// versionRow is one row of deployment_versions.
type versionRow struct {
	DeploymentID string `db:"deployment_id"`
	Version      int64  `db:"version"`
	Definition   []byte `db:"definition"`
	Config       []byte `db:"config"`
	Triggers     []byte `db:"triggers"`
	CreatedAt    dbTime `db:"created_at"`
	CreatedBy    string `db:"created_by"`
	OnBehalfOf   string `db:"on_behalf_of"`
}

// versionTrigger is one trigger in a version's triggers column.
type versionTrigger struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Spec    json.RawMessage `json:"spec"`
	Enabled bool            `json:"enabled"`
}

// encodeVersionTriggers encodes ts, already encoded as vals, for a
// version's triggers column.
func encodeVersionTriggers(ts []workflow.Trigger, vals []store.TriggerColumns) (string, error) {
	out := make([]versionTrigger, len(ts))
	for i, t := range ts {
		out[i] = versionTrigger{ID: t.ID, Type: string(t.Type), Spec: json.RawMessage(vals[i].Spec), Enabled: t.Enabled}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode version triggers: %w", err)
	}
	return string(b), nil
}

func (r *versionRow) version() (*workflow.DeploymentVersion, error) {
	v := &workflow.DeploymentVersion{DeploymentID: r.DeploymentID, Version: r.Version, Definition: json.RawMessage(r.Definition),
		CreatedAt: r.CreatedAt.ptr(), CreatedBy: r.CreatedBy, OnBehalfOf: r.OnBehalfOf}
	if err := json.Unmarshal(r.Config, &v.Config); err != nil {
		return nil, fmt.Errorf("deployment %s version %d: config: %w", r.DeploymentID, r.Version, err)
	}
	if r.Triggers == nil {
		return v, nil
	}
	var ts []versionTrigger
	if err := json.Unmarshal(r.Triggers, &ts); err != nil {
		return nil, fmt.Errorf("deployment %s version %d: triggers: %w", r.DeploymentID, r.Version, err)
	}
	v.TriggersKept, v.Triggers = true, make([]workflow.Trigger, len(ts))
	for i, t := range ts {
		row := triggerRow{ID: t.ID, DeploymentID: r.DeploymentID, Type: t.Type, Spec: t.Spec, Enabled: t.Enabled}
		var err error
		if v.Triggers[i], err = row.trigger(); err != nil {
			return nil, fmt.Errorf("deployment %s version %d: %w", r.DeploymentID, r.Version, err)
		}
	}
	return v, nil
}

// deploymentColumns is the column list every deployment query selects.
const deploymentColumns = `id, workflow_id, status, version, definition, config, deployed_by, on_behalf_of,
	created_at, updated_at, deployed_at, consecutive_failures, pause_reason`

type deploymentRow struct {
	ID         string `db:"id"`
	WorkflowID string `db:"workflow_id"`
	Status     string `db:"status"`
	Version    int64  `db:"version"`
	Definition []byte `db:"definition"`
	Config     []byte `db:"config"`
	DeployedBy string `db:"deployed_by"`
	OnBehalfOf string `db:"on_behalf_of"`
	CreatedAt  dbTime `db:"created_at"`
	UpdatedAt  dbTime `db:"updated_at"`
	DeployedAt dbTime `db:"deployed_at"`

	ConsecutiveFailures int32          `db:"consecutive_failures"`
	PauseReason         sql.NullString `db:"pause_reason"`
}

func (r *deploymentRow) deployment() (*workflow.Deployment, error) {
	d := &workflow.Deployment{
		ID: r.ID, WorkflowID: r.WorkflowID, Status: workflow.DeploymentStatus(r.Status), Version: r.Version,
		Definition: json.RawMessage(r.Definition), DeployedBy: r.DeployedBy, OnBehalfOf: r.OnBehalfOf,
		CreatedAt: r.CreatedAt.t, UpdatedAt: r.UpdatedAt.t, DeployedAt: r.DeployedAt.ptr(),
		ConsecutiveFailures: r.ConsecutiveFailures, PauseReason: r.PauseReason.String,
	}
	if len(r.Config) > 0 {
		if err := json.Unmarshal(r.Config, &d.Config); err != nil {
			return nil, fmt.Errorf("deployment %s: config: %w", r.ID, err)
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

type triggerRow struct {
	ID           string `db:"id"`
	DeploymentID string `db:"deployment_id"`
	Type         string `db:"type"`
	Spec         []byte `db:"spec"`
	Enabled      bool   `db:"enabled"`
	LastFireTime dbTime `db:"last_fire_time"`
}

func (r *triggerRow) trigger() (workflow.Trigger, error) {
	t := workflow.Trigger{ID: r.ID, DeploymentID: r.DeploymentID, Type: workflow.TriggerType(r.Type),
		Enabled: r.Enabled, LastFireTime: r.LastFireTime.ptr()}
	var err error
	switch t.Type {
	case workflow.TriggerCron:
		t.Cron = new(workflow.CronSpec)
		err = json.Unmarshal(r.Spec, t.Cron)
	case workflow.TriggerWebhook:
		t.Webhook = new(workflow.WebhookSpec)
		err = json.Unmarshal(r.Spec, t.Webhook)
	case workflow.TriggerManual:
		// A manual trigger configures nothing of its own but the timeout below.
	}
	if err != nil {
		return workflow.Trigger{}, fmt.Errorf("trigger %s: spec: %w", r.ID, err)
	}
	var common struct {
		ExecutionTimeoutSeconds int32 `json:"execution_timeout_seconds"`
	}
	if err := json.Unmarshal(r.Spec, &common); err != nil {
		return workflow.Trigger{}, fmt.Errorf("trigger %s: spec: %w", r.ID, err)
	}
	t.ExecutionTimeoutSeconds = common.ExecutionTimeoutSeconds
	return t, nil
}

// eventColumns is the column list every event query selects.
const eventColumns = `id, deployment_id, workflow_id, action, from_status, to_status, version, from_version, actor, on_behalf_of,
	reason, at`

type eventRow struct {
	ID           int64          `db:"id"`
	DeploymentID string         `db:"deployment_id"`
	WorkflowID   string         `db:"workflow_id"`
	Action       string         `db:"action"`
	FromStatus   sql.NullString `db:"from_status"`
	ToStatus     string         `db:"to_status"`
	Version      int64          `db:"version"`
	FromVersion  sql.NullInt64  `db:"from_version"`
	Actor        string         `db:"actor"`
	OnBehalfOf   string         `db:"on_behalf_of"`
	Reason       sql.NullString `db:"reason"`
	At           dbTime         `db:"at"`
}

func (r *eventRow) event() workflow.Event {
	return workflow.Event{ID: r.ID, DeploymentID: r.DeploymentID, WorkflowID: r.WorkflowID, Action: r.Action,
		FromStatus: workflow.DeploymentStatus(r.FromStatus.String), ToStatus: workflow.DeploymentStatus(r.ToStatus),
		Version: r.Version, FromVersion: r.FromVersion.Int64, Actor: r.Actor, OnBehalfOf: r.OnBehalfOf, Reason: r.Reason.String, At: r.At.t}
}

// ExecutionColumns is the column list every execution query selects.
const ExecutionColumns = `id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, scheduled_time, fired_time, started_time, finished_time, jitter_seconds,
	engine_execution_id, error_message, skip_reason, trace_id, idempotency_key, triggered_by, on_behalf_of,
	owner_instance, lease_expires_at, input, result, holds_turn, attempt, first_attempt_id, not_before,
	concurrency_slot, overlap_policy`

type executionRow struct {
	ID                string         `db:"id"`
	WorkflowID        string         `db:"workflow_id"`
	DeploymentID      string         `db:"deployment_id"`
	DeploymentVersion int64          `db:"deployment_version"`
	TriggerID         sql.NullString `db:"trigger_id"`
	TriggerType       string         `db:"trigger_type"`
	Status            string         `db:"status"`
	ScheduledTime     dbTime         `db:"scheduled_time"`
	FiredTime         dbTime         `db:"fired_time"`
	StartedTime       dbTime         `db:"started_time"`
	FinishedTime      dbTime         `db:"finished_time"`
	JitterSeconds     int32          `db:"jitter_seconds"`
	EngineExecutionID sql.NullString `db:"engine_execution_id"`
	ErrorMessage      sql.NullString `db:"error_message"`
	SkipReason        sql.NullString `db:"skip_reason"`
	TraceID           sql.NullString `db:"trace_id"`
	IdempotencyKey    sql.NullString `db:"idempotency_key"`
	TriggeredBy       sql.NullString `db:"triggered_by"`
	OnBehalfOf        string         `db:"on_behalf_of"`
	OwnerInstance     sql.NullString `db:"owner_instance"`
	LeaseExpiresAt    dbTime         `db:"lease_expires_at"`
	HoldsTurn         bool           `db:"holds_turn"`
	Attempt           int32          `db:"attempt"`
	FirstAttemptID    sql.NullString `db:"first_attempt_id"`
	NotBefore         dbTime         `db:"not_before"`
	ConcurrencySlot   sql.NullInt32  `db:"concurrency_slot"`
	OverlapPolicy     sql.NullString `db:"overlap_policy"`
	Input             []byte         `db:"input"`
	Result            []byte         `db:"result"`
}

func (r *executionRow) execution() workflow.Execution {
	return workflow.Execution{
		ID: r.ID, WorkflowID: r.WorkflowID, DeploymentID: r.DeploymentID, DeploymentVersion: r.DeploymentVersion,
		TriggerID: r.TriggerID.String, TriggerType: workflow.TriggerType(r.TriggerType),
		Status: workflow.ExecutionStatus(r.Status), ScheduledTime: r.ScheduledTime.ptr(), FiredTime: r.FiredTime.t,
		StartedTime: r.StartedTime.ptr(), FinishedTime: r.FinishedTime.ptr(), JitterSeconds: r.JitterSeconds,
		EngineExecutionID: r.EngineExecutionID.String, ErrorMessage: r.ErrorMessage.String,
		SkipReason: r.SkipReason.String, TraceID: r.TraceID.String, IdempotencyKey: r.IdempotencyKey.String,
		TriggeredBy: r.TriggeredBy.String, OnBehalfOf: r.OnBehalfOf, OwnerInstance: r.OwnerInstance.String,
		LeaseExpiresAt: r.LeaseExpiresAt.ptr(), HoldsTurn: r.HoldsTurn,
		Input: json.RawMessage(r.Input), Result: json.RawMessage(r.Result),
		Attempt: r.Attempt, FirstAttemptID: cmp.Or(r.FirstAttemptID.String, r.ID), NotBefore: r.NotBefore.ptr(),
		HoldsSlot: r.ConcurrencySlot.Valid, OverlapPolicy: r.OverlapPolicy.String,
	}
}

func executions(rows []executionRow) []workflow.Execution {
	out := make([]workflow.Execution, len(rows))
	for i := range rows {
		out[i] = rows[i].execution()
	}
	return out
}
