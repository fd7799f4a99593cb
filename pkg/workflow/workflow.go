// Package workflow holds workflow-runtime's domain model: deployments, their
// triggers and executions, with the rules every layer shares about them (ids,
// webhook paths, page sizes). Services take and return these types; the store
// persists them; transports convert them to and from protobuf.
package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
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

// IDProblem says what is wrong with a caller's workflow id, which
// must be 1-128 of [A-Za-z0-9_.:-], or returns "" when nothing is.
func IDProblem(id string) string {
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

// NormalizeWebhookPath strips one leading and one trailing slash and checks
// what is left: segments of ASCII letters, digits and . _ ~ : @ -. Case is
// kept: paths are compared by WebhookPathKey. The error reads as a predicate
// of the path, e.g. "must not be empty".
func NormalizeWebhookPath(p string) (string, error) {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	if p == "" {
		return "", errors.New("must not be empty")
	}
	if len(p) > MaxWebhookPathBytes {
		return "", fmt.Errorf("is %d bytes long; at most %d", len(p), MaxWebhookPathBytes)
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return "", errors.New("must not contain an empty segment (//)")
		case ".", "..":
			// Proxies and clients may resolve dot segments before the path
			// reaches us, so such a path could never be matched reliably.
			return "", fmt.Errorf("must not contain a %q segment", seg)
		}
		if i := strings.IndexFunc(seg, notWebhookPathChar); i >= 0 {
			_, size := utf8.DecodeRuneInString(seg[i:])
			return "", fmt.Errorf("must not contain %q: segments may use only A-Z, a-z, 0-9 and . _ ~ : @ -", seg[i:i+size])
		}
	}
	return p, nil
}

func notWebhookPathChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("._~:@-", r)
}

// WebhookPathKey is what webhook paths are compared by: the normalised path
// with its ASCII letters lower-cased. Only a path NormalizeWebhookPath
// accepted may be looked up by it: full Unicode case folding would make
// look-alikes such as "\u212aelvin" (KELVIN SIGN) equal "kelvin", and a
// gateway's rule for one path could then be walked around through another.
func WebhookPathKey(p string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, p)
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
	// OverlapBufferAll queues every overlapping run, in order, up to
	// Config.MaxBuffered.
	OverlapBufferAll = "BUFFER_ALL"

	ResponseAsync = "ASYNC"
	ResponseSync  = "SYNC"
)

// Config is a deployment's execution settings; zero values mean the service defaults.
type Config struct {
	OverlapPolicy           string `json:"overlap_policy,omitempty"`
	ExecutionTimeoutSeconds int32  `json:"execution_timeout_seconds,omitempty"`
	CatchupWindowSeconds    int32  `json:"catchup_window_seconds,omitempty"`
	// Retry, when set, runs a failed execution again; nil runs it once.
	Retry *RetryPolicy `json:"retry_policy,omitempty"`
	// PauseAfterFailures, when positive, pauses the deployment once that
	// many runs in a row ended FAILED or TIMED_OUT after their retries.
	PauseAfterFailures int32 `json:"pause_after_failures,omitempty"`
	// MaxConcurrency, when positive, bounds the ALLOW_ALL runs of the
	// workflow at once, across replicas; the rest wait as under BUFFER_ALL.
	MaxConcurrency int32 `json:"max_concurrency,omitempty"`
	// MaxBuffered bounds the runs that wait under BUFFER_ALL or
	// MaxConcurrency (0: DefaultMaxBuffered); one more is SKIPPED.
	MaxBuffered int32 `json:"max_buffered,omitempty"`
}

// DefaultMaxBuffered is Config.MaxBuffered's default.
const DefaultMaxBuffered = 100

// RetryPolicy says how often and when an execution that ended in one of
// RetryOn runs again. Each attempt is an execution of its own; the next one
// is due Interval(attempt) after the previous one ended.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt: 1 never retries.
	MaxAttempts        int32         `json:"max_attempts,omitempty"`
	InitialInterval    time.Duration `json:"initial_interval,omitempty"`
	BackoffCoefficient float64       `json:"backoff_coefficient,omitempty"`
	MaxInterval        time.Duration `json:"max_interval,omitempty"`
	// RetryOn are the outcomes that retry: FAILED and TIMED_OUT, never
	// CANCELLED (someone meant it to stop) nor SKIPPED (it did not run).
	RetryOn []ExecutionStatus `json:"retry_on,omitempty"`
}

// Retries reports whether the attempt numbered n, ended in st, runs again
// under p (nil: never).
func (p *RetryPolicy) Retries(n int32, st ExecutionStatus) bool {
	return p != nil && n < p.MaxAttempts && slices.Contains(p.RetryOn, st)
}

// Interval is how long after the attempt numbered n ended the next one is
// due: InitialInterval × BackoffCoefficient^(n-1), at most MaxInterval.
func (p *RetryPolicy) Interval(n int32) time.Duration {
	d := float64(p.InitialInterval) * math.Pow(p.BackoffCoefficient, float64(n-1))
	if d >= float64(p.MaxInterval) {
		return p.MaxInterval
	}
	return time.Duration(d)
}

// Catch-up policies of a cron trigger, stored as bare names; empty means CatchupLatest.
const (
	CatchupLatest = "LATEST"
	CatchupAll    = "ALL"
	CatchupNone   = "NONE"
)

// CronSpec is a cron trigger's schedule. Its policies are stored as the
// names of package cron's and of the Catchup constants, empty for the
// default, so that a spec stored before they existed reads the same.
type CronSpec struct {
	Expression string `json:"expression"`
	Timezone   string `json:"timezone,omitempty"`
	// JitterWindowSeconds nil means the service default; 0 disables jitter.
	JitterWindowSeconds *int32 `json:"jitter_window_seconds,omitempty"`
	// CatchupPolicy says which slots missed while no replica held the
	// trigger still run.
	CatchupPolicy string `json:"catchup_policy,omitempty"`
	// RepeatedTimePolicy and SkippedTimePolicy are the DST policy (cron.DST).
	RepeatedTimePolicy string `json:"repeated_time_policy,omitempty"`
	SkippedTimePolicy  string `json:"skipped_time_policy,omitempty"`
	// StartTime and EndTime, when set, bound the nominal slots to
	// [StartTime, EndTime); they are stored in UTC.
	StartTime *time.Time `json:"start_time,omitempty"`
	EndTime   *time.Time `json:"end_time,omitempty"`
	// MaxRuns, when positive, is how many slots the trigger runs in all.
	MaxRuns int32 `json:"max_runs,omitempty"`
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
	// ExecutionTimeoutSeconds, when positive, is the timeout of the
	// trigger's executions, overriding the deployment's.
	ExecutionTimeoutSeconds int32
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
	// OnBehalfOf is the deployed_by the request gave when an authenticated
	// caller (DeployedBy) named someone else; empty otherwise.
	OnBehalfOf string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	DeployedAt *time.Time
	Triggers   []Trigger
	// ConsecutiveFailures counts the runs in a row that ended failed, while
	// Config.PauseAfterFailures is set; PauseReason says why the runtime
	// paused the deployment. Resuming clears both.
	ConsecutiveFailures int32
	PauseReason         string
}

// DeploymentVersion is a deployment's settings as they were at one version:
// what an execution created for that version runs with.
type DeploymentVersion struct {
	DeploymentID string
	Version      int64
	// Definition is the workflow definition as JSON.
	Definition json.RawMessage
	Config     Config
	// Triggers are the version's triggers as written, secrets included;
	// TriggersKept is false for a version written before the store kept
	// them (Triggers is then empty and says nothing).
	Triggers     []Trigger
	TriggersKept bool
	// CreatedAt is when the version was written; nil when not known.
	CreatedAt *time.Time
	// CreatedBy and OnBehalfOf are the actor of the change that wrote the
	// version and whom it named; empty when not known.
	CreatedBy, OnBehalfOf string
}

// VersionFilter selects one page of a deployment's versions, newest first.
type VersionFilter struct {
	DeploymentID string
	// Limit is the page size; the caller has clamped it.
	Limit int
	// After is the cursor returned with the previous page; empty for the first.
	After string
}

// VersionPage is one page of versions.
type VersionPage struct {
	Versions []DeploymentVersion
	// Next is the cursor of the next page; empty on the last.
	Next string
}

// EventFilter selects one page of deployment events, newest first: of one
// deployment, or of every deployment of one workflow.
type EventFilter struct {
	DeploymentID string
	WorkflowID   string
	// Limit is the page size; the caller has clamped it.
	Limit int
	// After is the cursor returned with the previous page; empty for the first.
	After string
}

// EventPage is one page of events.
type EventPage struct {
	Events []Event
	// Next is the cursor of the next page; empty on the last.
	Next string
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
	// FromVersion is the version the change started from; 0 for the
	// creating event and for events written before it was kept.
	FromVersion int64
	Actor       string
	// OnBehalfOf is the name the request gave when an authenticated
	// caller (Actor) named someone else; empty otherwise.
	OnBehalfOf string
	// Reason says why, for a change that was not simply asked for (a
	// rollback, an adoption, a pause on failure); empty otherwise.
	Reason string
	At     time.Time
}

// Deployment events' actions.
const (
	ActionDeploy  = "DEPLOY"
	ActionUpdate  = "UPDATE"
	ActionPause   = "PAUSE"
	ActionResume  = "RESUME"
	ActionPromote = "PROMOTE"
	ActionArchive = "ARCHIVE"
	// ActionRollback restores a past version (RollbackDeployment), or undoes
	// a change whose scheduling failed.
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
	// OnBehalfOf is the triggered_by the request gave when an
	// authenticated caller (TriggeredBy) named someone else.
	OnBehalfOf     string
	OwnerInstance  string
	LeaseExpiresAt *time.Time
	// Lease, when positive, asks CreateExecution for a first lease of this
	// length, counted on the store's clock as every renewal and adoption
	// after it is, so that no replica's clock decides a lease; the store
	// then fills in LeaseExpiresAt. It is not stored: a read leaves it zero.
	Lease  time.Duration
	Input  json.RawMessage
	Result json.RawMessage
	// HoldsTurn is set once the execution took its workflow's turn (see
	// TakeTurn); an unfinished execution without it is waiting or ALLOW_ALL.
	HoldsTurn bool
	// Attempt numbers the execution among the attempts of one run, from 1;
	// FirstAttemptID is the run's first attempt (the execution itself for
	// attempt 1). Reads and CreateExecution, which writes first attempts,
	// fill both in.
	Attempt        int32
	FirstAttemptID string
	// NotBefore, set on a retry, is when it is due: it waits PENDING until then.
	NotBefore *time.Time
	// HoldsSlot is set once the execution took one of its workflow's
	// max_concurrency slots (see TakeSlot).
	HoldsSlot bool
	// OverlapPolicy, when set, is the run's own policy, overriding its
	// deployment's: a manual trigger's override.
	OverlapPolicy string
}

// Due is when the execution may start: when it fired, or its retry's NotBefore.
func (e Execution) Due() time.Time {
	if e.NotBefore != nil && e.NotBefore.After(e.FiredTime) {
		return *e.NotBefore
	}
	return e.FiredTime
}

// Terminal reports whether an execution in this status is over: no
// transition leaves it.
func (s ExecutionStatus) Terminal() bool {
	return s != ExecutionPending && s != ExecutionRunning
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
	// FirstAttemptID, when set, selects the attempts of one run: that
	// execution and its retries.
	FirstAttemptID string
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
	// LastMissed is the last slot of the trigger's latest run of missed
	// slots; nil when none is recorded.
	LastMissed *time.Time
	// ScheduledSince is when the deployment last changed: slots before it
	// (while it was paused, say) were never due.
	ScheduledSince time.Time
}

// LastAccounted is the latest slot with a recorded outcome, an execution
// or a miss; nil when none has one.
func (ct CronTrigger) LastAccounted() *time.Time {
	if ct.LastMissed != nil && (ct.LastSlot == nil || ct.LastMissed.After(*ct.LastSlot)) {
		return ct.LastMissed
	}
	return ct.LastSlot
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

// DeploymentStats counts deployments, the triggers of active deployments and
// recent executions, each keyed by its status or type name ("DEPLOYED", "CRON").
type DeploymentStats struct {
	ByStatus map[DeploymentStatus]int64
	Total    int64
	// TriggersByType counts the enabled triggers of deployments that are not ARCHIVED.
	TriggersByType map[TriggerType]int64
	// ExecutionsByStatus counts the executions fired since the time asked for.
	ExecutionsByStatus map[ExecutionStatus]int64
	// UnfinishedByStatus counts the executions PENDING and RUNNING now,
	// whenever they were fired.
	UnfinishedByStatus map[ExecutionStatus]int64
}

// CronFireStats counts the cron executions fired in a time range: one row per
// slot, whichever replica recorded it.
type CronFireStats struct {
	Fires int64
	// SkippedOverlap counts those that the overlap policy SKIPPED.
	SkippedOverlap int64
}

// CloneTriggers deep-copies ts, so that a mutation editing specs in place
// cannot hide its changes from a store comparing before and after.
func CloneTriggers(ts []Trigger) []Trigger {
	out := make([]Trigger, len(ts))
	for i, t := range ts {
		if t.Cron != nil {
			c := *t.Cron
			c.JitterWindowSeconds = clonePtr(c.JitterWindowSeconds)
			c.StartTime, c.EndTime = clonePtr(c.StartTime), clonePtr(c.EndTime)
			t.Cron = &c
		}
		if t.Webhook != nil {
			w := *t.Webhook
			w.Methods = append([]string(nil), w.Methods...)
			w.Secrets = append([]string(nil), w.Secrets...)
			t.Webhook = &w
		}
		out[i] = t
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Name returns the definition's top-level "name" when it is a
// non-empty string, else the workflow id.
func Name(def json.RawMessage, workflowID string) string {
	var v struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(def, &v) == nil && v.Name != "" {
		return v.Name
	}
	return workflowID
}
