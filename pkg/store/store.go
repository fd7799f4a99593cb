// Package store holds workflow-runtime's data model and the interface through
// which services read and write it. Implementations live in sub-packages
// (postgres now, an embedded one later); services never see SQL.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DeploymentStatus is stored as its bare name.
type DeploymentStatus string

// Deployment statuses.
const (
	StatusDraft    DeploymentStatus = "DRAFT"
	StatusDeployed DeploymentStatus = "DEPLOYED"
	StatusPaused   DeploymentStatus = "PAUSED"
	StatusArchived DeploymentStatus = "ARCHIVED"
)

// Active reports whether a deployment in this status is the workflow's
// current one: at most one deployment per workflow is active.
func (s DeploymentStatus) Active() bool { return s != StatusArchived }

// TriggerType is stored as its bare name.
type TriggerType string

// Trigger types.
const (
	TriggerCron    TriggerType = "CRON"
	TriggerWebhook TriggerType = "WEBHOOK"
	TriggerManual  TriggerType = "MANUAL"
)

// ExecutionStatus is stored as its bare name.
type ExecutionStatus string

// Execution statuses.
const (
	ExecutionPending   ExecutionStatus = "PENDING"
	ExecutionRunning   ExecutionStatus = "RUNNING"
	ExecutionSucceeded ExecutionStatus = "SUCCEEDED"
	ExecutionFailed    ExecutionStatus = "FAILED"
	ExecutionCancelled ExecutionStatus = "CANCELLED"
	ExecutionTimedOut  ExecutionStatus = "TIMED_OUT"
	ExecutionSkipped   ExecutionStatus = "SKIPPED"
)

// Overlap policies and webhook response modes, stored as bare names.
const (
	OverlapSkip        = "SKIP"
	OverlapAllowAll    = "ALLOW_ALL"
	OverlapBufferOne   = "BUFFER_ONE"
	OverlapCancelOther = "CANCEL_OTHER"

	ResponseAsync = "ASYNC"
	ResponseSync  = "SYNC"
)

// Config is a deployment's execution settings; zero values mean the service defaults.
type Config struct {
	OverlapPolicy           string `json:"overlap_policy,omitempty"`
	ExecutionTimeoutSeconds int32  `json:"execution_timeout_seconds,omitempty"`
	CatchupWindowSeconds    int32  `json:"catchup_window_seconds,omitempty"`
}

// CronSpec is a cron trigger's schedule.
type CronSpec struct {
	Expression string `json:"expression"`
	Timezone   string `json:"timezone,omitempty"`
	// JitterWindowSeconds nil means the service default; 0 disables jitter.
	JitterWindowSeconds *int32 `json:"jitter_window_seconds,omitempty"`
}

// WebhookSpec is a webhook trigger's settings. Path is normalised (see the
// deployment service) and compared case-insensitively.
type WebhookSpec struct {
	Path               string   `json:"path"`
	Methods            []string `json:"methods,omitempty"`
	Secrets            []string `json:"secrets,omitempty"`
	ResponseMode       string   `json:"response_mode,omitempty"`
	SyncTimeoutSeconds int32    `json:"sync_timeout_seconds,omitempty"`
}

// Trigger is one way to start a deployment's executions. Exactly one of Cron
// and Webhook is set for those types; MANUAL has neither.
type Trigger struct {
	ID           string
	DeploymentID string
	Type         TriggerType
	Cron         *CronSpec
	Webhook      *WebhookSpec
	Enabled      bool
	// LastFireTime is when the trigger's latest recorded slot fired; CRON only.
	LastFireTime *time.Time
}

// Deployment is a workflow definition deployed with its triggers.
type Deployment struct {
	ID         string
	WorkflowID string
	Status     DeploymentStatus
	Version    int64
	// Definition is the workflow definition as JSON.
	Definition json.RawMessage
	Config     Config
	DeployedBy string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	DeployedAt *time.Time
	Triggers   []Trigger
}

// Event is one row of a deployment's append-only history.
type Event struct {
	ID           int64
	DeploymentID string
	WorkflowID   string
	Action       string
	FromStatus   DeploymentStatus // empty for the creating event
	ToStatus     DeploymentStatus
	Version      int64
	Actor        string
	At           time.Time
}

// Deployment events' actions.
const (
	ActionDeploy  = "DEPLOY"
	ActionUpdate  = "UPDATE"
	ActionPause   = "PAUSE"
	ActionResume  = "RESUME"
	ActionPromote = "PROMOTE"
	ActionArchive = "ARCHIVE"
	// ActionRollback undoes a change whose scheduling failed.
	ActionRollback = "ROLLBACK"
)

// Execution is one run of a workflow.
type Execution struct {
	ID                string
	WorkflowID        string
	DeploymentID      string
	DeploymentVersion int64
	TriggerID         string
	TriggerType       TriggerType
	Status            ExecutionStatus
	ScheduledTime     *time.Time
	FiredTime         time.Time
	StartedTime       *time.Time
	FinishedTime      *time.Time
	JitterSeconds     int32
	EngineExecutionID string
	ErrorMessage      string
	SkipReason        string
	TraceID           string
	IdempotencyKey    string
	TriggeredBy       string
	OwnerInstance     string
	LeaseExpiresAt    *time.Time
	Input             json.RawMessage
	Result            json.RawMessage
}

// Page sizes of every listing (API.md): a request without one gets
// DefaultPageSize rows, and none gets more than MaxPageSize.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageLimit is the number of rows a page holds for a requested page size;
// rejecting a negative size is the caller's to do.
func PageLimit(requested int32) int {
	switch {
	case requested <= 0:
		return DefaultPageSize
	case requested > MaxPageSize:
		return MaxPageSize
	}
	return int(requested)
}

// ListFilter selects deployments for List.
type ListFilter struct {
	// Statuses empty means every active status.
	Statuses    []DeploymentStatus
	WorkflowID  string
	TriggerType TriggerType
	// Limit is the page size; the caller has clamped it.
	Limit int
	// MaxBytes, when positive, ends the page early once the encoded
	// definitions would pass it (a page holds at least one deployment), so
	// that a page of large definitions still fits in one response.
	MaxBytes int64
	// After is the cursor returned with the previous page; empty for the first.
	After string
}

// Page is one page of deployments, newest first.
type Page struct {
	Deployments []Deployment
	// Next is the cursor of the next page; empty on the last.
	Next  string
	Total int64
}

// ExecutionFilter selects executions for ListExecutions. Its zero fields
// select everything.
type ExecutionFilter struct {
	WorkflowID   string
	DeploymentID string
	// Statuses empty means every status.
	Statuses    []ExecutionStatus
	TriggerType TriggerType
	// From (inclusive) and To (exclusive) bound fired_time; zero means unbounded.
	From, To time.Time
	// Limit is the page size; the caller has clamped it. <= 0 means 50.
	Limit int
	// After is the cursor returned with the previous page; empty for the first.
	After string
}

// ExecutionPage is one page of executions, newest first. It carries no total:
// counting millions of executions for every page would cost more than the page.
type ExecutionPage struct {
	Executions []Execution
	// Next is the cursor of the next page; empty on the last.
	Next string
}

// CronTrigger is an enabled cron trigger of a DEPLOYED deployment: what the
// scheduler holds.
type CronTrigger struct {
	TriggerID         string
	DeploymentID      string
	DeploymentVersion int64
	WorkflowID        string
	Spec              CronSpec
	Config            Config
	// LastSlot is the latest slot recorded for the trigger; nil when none is.
	LastSlot *time.Time
	// ScheduledSince is when the deployment last changed: slots before it
	// (while it was paused, say) were never due.
	ScheduledSince time.Time
}

// Mutation changes a deployment read under a row lock inside a transaction.
// It edits d in place and returns the event to record; an error rolls back.
// When it replaces d.Triggers, triggers whose ID is empty are new.
type Mutation func(d *Deployment) (Event, error)

// Store is everything the services persist.
type Store interface {
	// CreateDeployment inserts d with its triggers and ev (ids, timestamps and
	// trigger ids are filled in), upserts the workflows row and mirrors the
	// deployment's status onto it, in one transaction.
	CreateDeployment(ctx context.Context, d *Deployment, ev Event) error
	// UpdateDeployment locks deployment id, applies m and writes the result
	// with its event in one transaction. It returns the stored deployment.
	UpdateDeployment(ctx context.Context, id string, m Mutation) (*Deployment, error)
	// GetDeployment returns the deployment with its triggers.
	GetDeployment(ctx context.Context, id string) (*Deployment, error)
	// GetActiveDeployment returns workflowID's active deployment.
	GetActiveDeployment(ctx context.Context, workflowID string) (*Deployment, error)
	// ListDeployments returns one page of deployments, newest first.
	ListDeployments(ctx context.Context, f ListFilter) (Page, error)
	// ListEvents returns a deployment's history, oldest first.
	ListEvents(ctx context.Context, deploymentID string) ([]Event, error)
	// LastExecution returns the deployment's most recently fired execution.
	LastExecution(ctx context.Context, deploymentID string) (*Execution, error)
	// CountUnfinishedExecutions counts the deployment's PENDING and RUNNING executions.
	CountUnfinishedExecutions(ctx context.Context, deploymentID string) (int64, error)
	// ListCronTriggers returns the cron triggers to schedule: of every DEPLOYED
	// deployment, or of deployment deploymentID only when it is set (none
	// when that deployment is not DEPLOYED).
	ListCronTriggers(ctx context.Context, deploymentID string) ([]CronTrigger, error)
	// CreateExecution inserts e, filling in its ID. For a cron execution (its
	// ScheduledTime set) whose slot is already recorded, nothing is written and
	// created is false: the slot's row is the guard for one run per slot.
	CreateExecution(ctx context.Context, e *Execution) (created bool, err error)
	// GetExecution returns execution id, or ErrNotFound (also for an id that
	// is not a UUID).
	GetExecution(ctx context.Context, id string) (*Execution, error)
	// ListExecutions returns one page of the executions matching f, newest
	// fired first. A cursor it did not make yields ErrBadCursor; a
	// DeploymentID that is not a UUID matches nothing.
	ListExecutions(ctx context.Context, f ExecutionFilter) (ExecutionPage, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnavailable is in the chain of an error caused by a database that cannot
// be reached or cannot serve now, rather than by the request.
var ErrUnavailable = errors.New("store unavailable")

// ErrConcurrentChange is in the chain of an error caused by another writer
// (a deadlock, a serialization failure): the same request may succeed again.
var ErrConcurrentChange = errors.New("concurrent change")

// ErrBadCursor is returned for a page cursor the store did not make.
var ErrBadCursor = errors.New("malformed page token")

// ActiveDeploymentError is returned when a workflow already has an active deployment.
type ActiveDeploymentError struct {
	WorkflowID   string
	DeploymentID string
}

func (e *ActiveDeploymentError) Error() string {
	return fmt.Sprintf("workflow %q already has an active deployment %s", e.WorkflowID, e.DeploymentID)
}

// WebhookPathError is returned when a webhook path is used by another active deployment.
type WebhookPathError struct {
	Path         string
	DeploymentID string
}

func (e *WebhookPathError) Error() string {
	return fmt.Sprintf("webhook path %q is used by active deployment %s", e.Path, e.DeploymentID)
}
