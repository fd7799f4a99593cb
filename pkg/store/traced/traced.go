// Package traced wraps a store so that every call services make is a client
// span, whichever database is behind it.
package traced

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Backend is what Store wraps: the calls services make.
type Backend interface {
	store.Store
	store.MonitoringStore
}

// Store is a Backend with a client span around every call that services
// make: one per call rather than per statement, since a call is the unit a
// trace reader thinks in and its statements are the store's business. Ping
// and Close pass through untraced, so that health checks do not fill traces. A
// store that batches writes traces its batches itself.
// The backend is not embedded, so that a store method nobody wrapped does not
// pass through untraced: it fails to compile where a service needs it.
type Store struct {
	s Backend
	// name prefixes span names ("postgres.GetDeployment"); system is the
	// db.system.name attribute ("postgresql").
	name, system string
}

var (
	_ store.Store           = (*Store)(nil)
	_ store.MonitoringStore = (*Store)(nil)
)

// New returns s with its calls traced as spans named name.<Call>, carrying
// db.system.name = system (OpenTelemetry's well-known value, e.g.
// "postgresql" or "sqlite").
func New(s Backend, name, system string) *Store { return &Store{s: s, name: name, system: system} }

// start starts the span of the store call op.
func (t *Store) start(ctx context.Context, op string) (context.Context, trace.Span) {
	ctx, span := tracing.StartSpan(ctx, t.name+"."+op, trace.SpanKindClient)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("db.system.name", t.system), attribute.String("db.operation.name", op))
	}
	return ctx, span
}

// CreateDeployment traces Store.CreateDeployment.
func (t *Store) CreateDeployment(ctx context.Context, d *workflow.Deployment, ev workflow.Event) (err error) {
	ctx, span := t.start(ctx, "CreateDeployment")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.CreateDeployment(ctx, d, ev)
}

// UpdateDeployment traces Store.UpdateDeployment.
func (t *Store) UpdateDeployment(ctx context.Context, id string, m store.Mutation) (_ *workflow.Deployment, err error) {
	ctx, span := t.start(ctx, "UpdateDeployment")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.UpdateDeployment(ctx, id, m)
}

// GetDeployment traces Store.GetDeployment.
func (t *Store) GetDeployment(ctx context.Context, id string) (_ *workflow.Deployment, err error) {
	ctx, span := t.start(ctx, "GetDeployment")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.GetDeployment(ctx, id)
}

// GetDeploymentVersion traces Store.GetDeploymentVersion.
func (t *Store) GetDeploymentVersion(ctx context.Context, id string, version int64) (_ *workflow.DeploymentVersion, err error) {
	ctx, span := t.start(ctx, "GetDeploymentVersion")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.GetDeploymentVersion(ctx, id, version)
}

// GetActiveDeployment traces Store.GetActiveDeployment.
func (t *Store) GetActiveDeployment(ctx context.Context, workflowID string) (_ *workflow.Deployment, err error) {
	ctx, span := t.start(ctx, "GetActiveDeployment")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.GetActiveDeployment(ctx, workflowID)
}

// ListDeployments traces Store.ListDeployments.
func (t *Store) ListDeployments(ctx context.Context, f workflow.ListFilter) (_ workflow.Page, err error) {
	ctx, span := t.start(ctx, "ListDeployments")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListDeployments(ctx, f)
}

// ListEvents traces Store.ListEvents.
func (t *Store) ListEvents(ctx context.Context, deploymentID string) (_ []workflow.Event, err error) {
	ctx, span := t.start(ctx, "ListEvents")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListEvents(ctx, deploymentID)
}

// LastExecution traces Store.LastExecution.
func (t *Store) LastExecution(ctx context.Context, deploymentID string) (_ *workflow.Execution, err error) {
	ctx, span := t.start(ctx, "LastExecution")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.LastExecution(ctx, deploymentID)
}

// CountUnfinishedExecutions traces Store.CountUnfinishedExecutions.
func (t *Store) CountUnfinishedExecutions(ctx context.Context, deploymentID string) (_ int64, err error) {
	ctx, span := t.start(ctx, "CountUnfinishedExecutions")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.CountUnfinishedExecutions(ctx, deploymentID)
}

// ListCronTriggers traces Store.ListCronTriggers.
func (t *Store) ListCronTriggers(ctx context.Context, deploymentID string) (_ []workflow.CronTrigger, err error) {
	ctx, span := t.start(ctx, "ListCronTriggers")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListCronTriggers(ctx, deploymentID)
}

// ListWebhookTriggers traces Store.ListWebhookTriggers.
func (t *Store) ListWebhookTriggers(ctx context.Context, deploymentID string) (_ []workflow.WebhookTrigger, err error) {
	ctx, span := t.start(ctx, "ListWebhookTriggers")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListWebhookTriggers(ctx, deploymentID)
}

// ExpireIdempotencyKey traces Store.ExpireIdempotencyKey.
func (t *Store) ExpireIdempotencyKey(ctx context.Context, id string, before time.Time) (_ bool, err error) {
	ctx, span := t.start(ctx, "ExpireIdempotencyKey")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ExpireIdempotencyKey(ctx, id, before)
}

// CreateExecution traces Store.CreateExecution.
func (t *Store) CreateExecution(ctx context.Context, e *workflow.Execution) (_ bool, err error) {
	ctx, span := t.start(ctx, "CreateExecution")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.CreateExecution(ctx, e)
}

// FindExecutionByKey traces Store.FindExecutionByKey.
func (t *Store) FindExecutionByKey(ctx context.Context, workflowID, key string) (_ *workflow.Execution, err error) {
	ctx, span := t.start(ctx, "FindExecutionByKey")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.FindExecutionByKey(ctx, workflowID, key)
}

// TransitionExecution traces Store.TransitionExecution.
func (t *Store) TransitionExecution(ctx context.Context, id string, tr store.Transition) (_ *workflow.Execution, err error) {
	ctx, span := t.start(ctx, "TransitionExecution")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.TransitionExecution(ctx, id, tr)
}

// TakeTurn traces Store.TakeTurn.
func (t *Store) TakeTurn(ctx context.Context, id, owner string) (_ string, err error) {
	ctx, span := t.start(ctx, "TakeTurn")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.TakeTurn(ctx, id, owner)
}

// ListUnfinishedExecutions traces Store.ListUnfinishedExecutions.
func (t *Store) ListUnfinishedExecutions(ctx context.Context, workflowID string) (_ []workflow.Execution, err error) {
	ctx, span := t.start(ctx, "ListUnfinishedExecutions")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListUnfinishedExecutions(ctx, workflowID)
}

// RenewLeases traces Store.RenewLeases.
func (t *Store) RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (_ []string, err error) {
	ctx, span := t.start(ctx, "RenewLeases")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.RenewLeases(ctx, owner, ids, lease)
}

// AdoptExecutions traces Store.AdoptExecutions.
func (t *Store) AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) (_ []workflow.Execution, err error) {
	ctx, span := t.start(ctx, "AdoptExecutions")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.AdoptExecutions(ctx, owner, lease, limit)
}

// ReleaseLeases traces Store.ReleaseLeases.
func (t *Store) ReleaseLeases(ctx context.Context, owner string, ids []string) (err error) {
	ctx, span := t.start(ctx, "ReleaseLeases")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ReleaseLeases(ctx, owner, ids)
}

// GetExecution traces Store.GetExecution.
func (t *Store) GetExecution(ctx context.Context, id string) (_ *workflow.Execution, err error) {
	ctx, span := t.start(ctx, "GetExecution")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.GetExecution(ctx, id)
}

// ListExecutions traces Store.ListExecutions.
func (t *Store) ListExecutions(ctx context.Context, f workflow.ExecutionFilter) (_ workflow.ExecutionPage, err error) {
	ctx, span := t.start(ctx, "ListExecutions")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListExecutions(ctx, f)
}

// DeploymentStats traces Store.DeploymentStats.
func (t *Store) DeploymentStats(ctx context.Context, executionsSince time.Time) (_ workflow.DeploymentStats, err error) {
	ctx, span := t.start(ctx, "DeploymentStats")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.DeploymentStats(ctx, executionsSince)
}

// CronFireStats traces Store.CronFireStats.
func (t *Store) CronFireStats(ctx context.Context, start, end time.Time) (_ workflow.CronFireStats, err error) {
	ctx, span := t.start(ctx, "CronFireStats")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.CronFireStats(ctx, start, end)
}

// Ping passes through untraced: health checks every few seconds would fill
// the traces.
func (t *Store) Ping(ctx context.Context) error { return t.s.Ping(ctx) }

// Close passes through untraced.
func (t *Store) Close() error { return t.s.Close() }
