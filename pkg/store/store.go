// Package store holds workflow-runtime's data model and the interface through
// which services read and write it. Implementations live in sub-packages
// (postgres, and sqlite for the embedded mode); services never see SQL.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
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

// MaxWorkflowIDLen is the length of executions.workflow_id and its peers.
const MaxWorkflowIDLen = 128

var workflowIDChars = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// WorkflowIDProblem says what is wrong with a caller's workflow id, which
// must be 1-128 of [A-Za-z0-9_.:-], or returns "" when nothing is.
func WorkflowIDProblem(id string) string {
	switch {
	case id == "":
		return "is required"
	case len(id) > MaxWorkflowIDLen:
		return fmt.Sprintf("is %d characters long; at most %d", len(id), MaxWorkflowIDLen)
	case !workflowIDChars.MatchString(id):
		return "may contain only A-Z, a-z, 0-9, _, ., : and -"
	}
	return ""
}

// MaxWebhookPathBytes is the length of deployment_triggers.webhook_path.
const MaxWebhookPathBytes = 512

var webhookPathChar = regexp.MustCompile(`[^A-Za-z0-9._~:@-]`)

// NormalizeWebhookPath strips one leading and one trailing slash and checks
// what is left. Case is kept: paths are compared case-insensitively elsewhere.
// The error reads as a predicate of the path, e.g. "must not be empty".
func NormalizeWebhookPath(p string) (string, error) {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	if p == "" {
		return "", errors.New("must not be empty")
	}
	if len(p) > MaxWebhookPathBytes {
		return "", fmt.Errorf("is %d bytes long; at most %d", len(p), MaxWebhookPathBytes)
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return "", errors.New("must not contain an empty segment (//)")
		case ".", "..":
			// Proxies and clients may resolve dot segments before the path
			// reaches us, so such a path could never be matched reliably.
			return "", fmt.Errorf("must not contain a %q segment", seg)
		}
		if bad := webhookPathChar.FindString(seg); bad != "" {
			return "", fmt.Errorf("must not contain %q: segments may use only A-Z, a-z, 0-9 and . _ ~ : @ -", bad)
		}
	}
	return p, nil
}

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
	// HoldsTurn is set once the execution took its workflow's turn (see
	// TakeTurn); an unfinished execution without it is waiting or ALLOW_ALL.
	HoldsTurn bool
}

// Terminal reports whether an execution in this status is over: no
// transition leaves it.
func (s ExecutionStatus) Terminal() bool {
	return s != ExecutionPending && s != ExecutionRunning
}

// Transition is a compare-and-set change of an execution's status: it
// applies only while the row is in one of From (and owned by Owner, when
// set), so that a late writer cannot undo what another wrote.
type Transition struct {
	From []ExecutionStatus
	To   ExecutionStatus
	// Owner, when set, must be the row's owner_instance: a replica whose
	// lease another replica adopted no longer writes the row.
	Owner string
	// The fields below are written when set and left as they are otherwise.
	EngineExecutionID string
	StartedTime       *time.Time
	FinishedTime      *time.Time
	ErrorMessage      string
	SkipReason        string
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

// WebhookTrigger is an enabled webhook trigger of an active (not ARCHIVED)
// deployment: what the webhook index holds.
type WebhookTrigger struct {
	TriggerID         string
	DeploymentID      string
	DeploymentVersion int64
	WorkflowID        string
	DeploymentStatus  DeploymentStatus
	Spec              WebhookSpec
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
	// ListWebhookTriggers returns the webhook triggers to index: of every
	// active deployment, or of deployment deploymentID only when it is set
	// (none when that deployment is ARCHIVED).
	ListWebhookTriggers(ctx context.Context, deploymentID string) ([]WebhookTrigger, error)
	// ExpireIdempotencyKey frees the idempotency key of execution id if it
	// was fired before before, so that the key may start a new execution; it
	// reports whether it did.
	ExpireIdempotencyKey(ctx context.Context, id string, before time.Time) (bool, error)
	// CreateExecution inserts e, filling in its ID, if its deployment is
	// DEPLOYED. When e.DeploymentID is empty the execution is of e.WorkflowID's
	// DEPLOYED deployment, whose id and version are filled in, with its first
	// MANUAL trigger for a MANUAL execution without a TriggerID. Nothing is written and created is false when the deployment
	// is not, or when a row holds the same cron slot (trigger and
	// ScheduledTime) or the same IdempotencyKey for the workflow: those rows
	// are the guards for one run per slot and per key.
	CreateExecution(ctx context.Context, e *Execution) (created bool, err error)
	// FindExecutionByKey returns workflowID's execution with idempotency key
	// key, or ErrNotFound.
	FindExecutionByKey(ctx context.Context, workflowID, key string) (*Execution, error)
	// TransitionExecution applies t to execution id and returns the row as
	// written; ErrStale when the row is not in t.From, is terminal, is not
	// t.Owner's or does not exist. A transition to a terminal status ends
	// the lease.
	TransitionExecution(ctx context.Context, id string, t Transition) (*Execution, error)
	// TakeTurn gives execution id, PENDING and owner's, its workflow's turn:
	// the right to run that at most one unfinished execution of a workflow
	// holds, until it ends. It returns "" when id has the turn (already, or
	// now), else the id of the execution that holds it, writing nothing;
	// ErrStale when id is not PENDING or not owner's.
	TakeTurn(ctx context.Context, id, owner string) (holder string, err error)
	// ListUnfinishedExecutions returns workflowID's PENDING and RUNNING
	// executions, oldest fired first.
	ListUnfinishedExecutions(ctx context.Context, workflowID string) ([]Execution, error)
	// RenewLeases extends by lease, from the database's clock, owner's
	// leases on those of ids that are still PENDING or RUNNING and still
	// owner's, and returns the ids that are not (lost). It never waits for
	// a row another writer holds: such a row is neither renewed nor lost,
	// and a later renewal tells.
	RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (lost []string, err error)
	// AdoptExecutions makes owner, for lease, the owner of up to limit
	// PENDING or RUNNING executions whose lease has expired or that have
	// none, the oldest fired, and returns them. Rows another replica is
	// adopting at the same moment are skipped, not waited for.
	AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) ([]Execution, error)
	// ReleaseLeases ends owner's leases on ids now, so that another replica
	// adopts those executions without waiting for the leases to run out.
	ReleaseLeases(ctx context.Context, owner string, ids []string) error
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

// ErrStale is returned by a transition whose expected status or owner no
// longer matches the row.
var ErrStale = errors.New("execution changed: not in the expected status or owner")

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
