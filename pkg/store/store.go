// Package store is the interface through which services persist the domain
// model of package workflow. Implementations live in sub-packages (postgres,
// and sqlite for the embedded mode); services never see SQL.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Transition is a compare-and-set change of an execution's status: it
// applies only while the row is in one of From (and owned by Owner, when
// set), so that a late writer cannot undo what another wrote.
type Transition struct {
	From []workflow.ExecutionStatus
	To   workflow.ExecutionStatus
	// Owner, when set, must be the row's owner_instance: a replica whose
	// lease another replica adopted no longer writes the row.
	Owner string
	// WithoutTurn, when set, requires that the row does not hold its
	// workflow's turn (see TakeTurn) or a concurrency slot (TakeSlot): a
	// PENDING execution of an overlap policy is dispatched only after it
	// takes the turn or a slot, so one that still waits has surely not
	// reached the engine.
	WithoutTurn bool
	// The fields below are written when set and left as they are otherwise.
	EngineExecutionID string
	StartedTime       *time.Time
	FinishedTime      *time.Time
	ErrorMessage      string
	SkipReason        string
	Result            json.RawMessage
}

// Mutation changes a deployment read under a row lock inside a transaction.
// It edits d in place and returns the event to record; an error rolls back.
// When it replaces d.Triggers, triggers whose ID is empty are new.
type Mutation func(d *workflow.Deployment) (workflow.Event, error)

// Store is everything the services persist.
type Store interface {
	// CreateDeployment inserts d with its triggers and ev, upserts the
	// workflows row (named after the definition's top-level "name", else the
	// workflow id) and mirrors d's status, deployment time and config onto
	// it, in one transaction. It fills in d's id and timestamps (DeployedAt
	// as stored, to the microsecond) and its triggers' ids. ev's
	// DeploymentID, WorkflowID, ToStatus and Version default to d's, a zero
	// ev.At to the transaction's time. It returns *ActiveDeploymentError when
	// d is active and the workflow has an active deployment, and
	// *WebhookPathError when one of d's webhook paths, compared
	// case-insensitively, is an active deployment's (or twice d's).
	CreateDeployment(ctx context.Context, d *workflow.Deployment, ev workflow.Event) error
	// UpdateDeployment locks deployment id, applies m and writes back, with
	// the event m returned, the status, version, definition, config,
	// deployed_by and deployed_at that m left, in one transaction; when m
	// changed the triggers, those no longer listed are deleted, listed ones
	// with an id updated in place and ones without inserted (an id the
	// deployment does not own is an error). The triggers are active while
	// the deployment is, and the workflows row mirrors it unless another
	// deployment of the workflow is the active one. The event defaults as
	// CreateDeployment's, its FromStatus to the status before m. It returns
	// the stored deployment, ErrNotFound for an unknown id, m's error
	// unchanged (nothing written), and CreateDeployment's conflicts.
	UpdateDeployment(ctx context.Context, id string, m Mutation) (*workflow.Deployment, error)
	// GetDeployment returns the deployment with its triggers.
	GetDeployment(ctx context.Context, id string) (*workflow.Deployment, error)
	// GetDeploymentVersion returns deployment id as it was at version, or
	// ErrNotFound. Every version written is kept, but of those written
	// before the store kept versions only each deployment's then current one.
	GetDeploymentVersion(ctx context.Context, id string, version int64) (*workflow.DeploymentVersion, error)
	// ListDeploymentVersions returns one page of f.DeploymentID's versions,
	// newest first, cut early once the definitions pass maxBytes (a page
	// holds at least one). An unknown deployment has none; a cursor it did
	// not make yields ErrBadCursor.
	ListDeploymentVersions(ctx context.Context, f workflow.VersionFilter, maxBytes int64) (workflow.VersionPage, error)
	// ListDeploymentEvents returns one page of the events of f.DeploymentID,
	// or else of f.WorkflowID's deployments, newest first. An unknown
	// deployment or workflow has none; a cursor it did not make yields
	// ErrBadCursor.
	ListDeploymentEvents(ctx context.Context, f workflow.EventFilter) (workflow.EventPage, error)
	// GetActiveDeployment returns workflowID's active deployment.
	GetActiveDeployment(ctx context.Context, workflowID string) (*workflow.Deployment, error)
	// ListDeployments returns one page of deployments, newest first.
	ListDeployments(ctx context.Context, f workflow.ListFilter) (workflow.Page, error)
	// CountRunEnd counts a run of deployment id that ended after its
	// retries: failed adds one to the deployment's ConsecutiveFailures,
	// anything else sets them to 0. It returns the count, and ErrNotFound
	// for a failure of an unknown deployment (a success of one is 0).
	CountRunEnd(ctx context.Context, id string, failed bool) (int32, error)
	// ListEvents returns a deployment's history, oldest first.
	ListEvents(ctx context.Context, deploymentID string) ([]workflow.Event, error)
	// LastExecution returns the deployment's most recently fired execution.
	LastExecution(ctx context.Context, deploymentID string) (*workflow.Execution, error)
	// CountUnfinishedExecutions counts the deployment's PENDING and RUNNING executions.
	CountUnfinishedExecutions(ctx context.Context, deploymentID string) (int64, error)
	// ListCronTriggers returns the cron triggers to schedule: of every DEPLOYED
	// deployment, or of deployment deploymentID only when it is set (none
	// when that deployment is not DEPLOYED).
	ListCronTriggers(ctx context.Context, deploymentID string) ([]workflow.CronTrigger, error)
	// ListOwnedCronTriggers returns the cron triggers of every DEPLOYED
	// deployment that owns reports true for, decoding no other.
	ListOwnedCronTriggers(ctx context.Context, owns func(triggerID string) bool) ([]workflow.CronTrigger, error)
	// ChangedDeployments returns the deployments whose row changed in the
	// last within by the database's clock, whatever their status.
	ChangedDeployments(ctx context.Context, within time.Duration) ([]string, error)
	// ListWebhookTriggers returns the webhook triggers to index: of every
	// active deployment, or of deployment deploymentID only when it is set
	// (none when that deployment is ARCHIVED).
	ListWebhookTriggers(ctx context.Context, deploymentID string) ([]workflow.WebhookTrigger, error)
	// ExpireIdempotencyKey frees the idempotency key of execution id if it
	// was fired before before, so that the key may start a new execution; it
	// reports whether it did.
	ExpireIdempotencyKey(ctx context.Context, id string, before time.Time) (bool, error)
	// CreateExecution inserts e, filling in its ID, if its deployment is
	// DEPLOYED. When e.DeploymentID is empty the execution is of e.WorkflowID's
	// DEPLOYED deployment, whose id and version are filled in, with its first
	// MANUAL trigger for a MANUAL execution without a TriggerID. Nothing is
	// written and created is false when the deployment is not, or when a row
	// holds the same cron slot (trigger and ScheduledTime) or the same
	// IdempotencyKey for the workflow: those rows are the guards for one run
	// per slot and per key. With e.Lease set, the lease runs that long from
	// the database's clock, and e.LeaseExpiresAt is filled in; without, it
	// is e.LeaseExpiresAt as given. The row is a first attempt: e.Attempt
	// becomes 1 and e.FirstAttemptID its id. e.FiredTime and
	// e.ScheduledTime become the times as stored, to the microsecond.
	CreateExecution(ctx context.Context, e *workflow.Execution) (created bool, err error)
	// FindExecutionByKey returns workflowID's execution with idempotency key
	// key, or ErrNotFound.
	FindExecutionByKey(ctx context.Context, workflowID, key string) (*workflow.Execution, error)
	// TransitionExecution applies t to execution id and returns the row as
	// written; ErrStale when the row is not in t.From, is terminal, is not
	// t.Owner's or does not exist. A transition to a terminal status ends
	// the lease.
	TransitionExecution(ctx context.Context, id string, t Transition) (*workflow.Execution, error)
	// RetryExecution applies t, which ends execution id, as
	// TransitionExecution does, and in the same transaction, if the
	// deployment is still DEPLOYED, writes the execution's next attempt: a
	// PENDING copy of it (workflow, deployment version, trigger, slot,
	// input, trace) with a new id, the next attempt number, the first
	// attempt's id, fired at firedAt, due at notBefore and owned by t.Owner
	// for lease from the database's clock. next is nil when the deployment
	// is not DEPLOYED. A failure that is recorded thus always has its retry
	// recorded with it: no replica's death can lose one.
	RetryExecution(ctx context.Context, id string, t Transition, firedAt, notBefore time.Time, lease time.Duration) (ended, next *workflow.Execution, err error)
	// TakeTurn gives execution id, PENDING and owner's, its workflow's turn:
	// the right to run that at most one unfinished execution of a workflow
	// holds, until it ends. It returns "" when id has the turn (already, or
	// now), else the id of the execution that holds it, writing nothing;
	// ErrStale when id is not PENDING or not owner's.
	TakeTurn(ctx context.Context, id, owner string) (holder string, err error)
	// TakeSlot gives execution id, PENDING and owner's, one of its
	// workflow's n concurrency slots: at most n unfinished executions of a
	// workflow hold one, each until it ends. It reports true when id holds
	// one (already, or now), false, writing nothing, when all n are held;
	// ErrStale when id is not PENDING or not owner's, told only while a
	// slot is free.
	TakeSlot(ctx context.Context, id, owner string, n int32) (bool, error)
	// ListUnfinishedExecutions returns workflowID's PENDING and RUNNING
	// executions, oldest fired first.
	ListUnfinishedExecutions(ctx context.Context, workflowID string) ([]workflow.Execution, error)
	// RenewLeases extends by lease, from the database's clock, owner's
	// leases on those of ids that are still PENDING or RUNNING and still
	// owner's, and returns the ids that are not (lost). It never waits for
	// a row another writer holds: such a row is neither renewed nor lost,
	// and a later renewal tells.
	RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (lost []string, err error)
	// AdoptExecutions makes owner, for lease, the owner of up to limit
	// PENDING or RUNNING executions that have an owner and whose lease has
	// expired or that have none, the oldest fired, and returns them. Rows
	// another replica is adopting at the same moment are skipped, not
	// waited for. Rows that never had an owner are ClaimExecutions'.
	AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) ([]workflow.Execution, error)
	// ClaimExecutions makes owner, for lease, the owner of up to limit
	// queued executions (PENDING, never owned: written without an owner),
	// the oldest fired first (then by id), and returns them in that order.
	// Rows another replica is claiming at the same moment are skipped, not
	// waited for.
	ClaimExecutions(ctx context.Context, owner string, lease time.Duration, limit int) ([]workflow.Execution, error)
	// LeaseExpired reports whether AdoptExecutions may take execution id:
	// it is PENDING or RUNNING and its lease has run out by the database's
	// clock (or it has none). ErrNotFound for an unknown id.
	LeaseExpired(ctx context.Context, id string) (bool, error)
	// ReleaseLeases ends owner's leases on ids now, so that another replica
	// adopts those executions without waiting for the leases to run out.
	ReleaseLeases(ctx context.Context, owner string, ids []string) error
	// GetExecution returns execution id, or ErrNotFound (also for an id that
	// is not a UUID).
	GetExecution(ctx context.Context, id string) (*workflow.Execution, error)
	// ListExecutions returns one page of the executions matching f, newest
	// fired first. A cursor it did not make yields ErrBadCursor; a
	// DeploymentID that is not a UUID matches nothing.
	ListExecutions(ctx context.Context, f workflow.ExecutionFilter) (workflow.ExecutionPage, error)
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
var ErrConcurrentChange = errors.New("a concurrent change got in the way, retry")

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
