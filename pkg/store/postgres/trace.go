package postgres

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
)

// Traced is the Store with a client span around every call that services
// make: one per call rather than per statement, since a call is the unit a
// trace reader thinks in and its statements are the store's business. Ping
// and Close are left out, so that health checks do not fill traces. A call
// that waits for a group commit has its span; the batch has its own, linked
// to the spans of the calls it wrote (see group).
// Its store is not embedded, so that a store method nobody wrapped does not
// pass through untraced: it fails to compile where a service needs it.
type Traced struct{ s *Store }

var (
	_ store.Store           = (*Traced)(nil)
	_ store.MonitoringStore = (*Traced)(nil)
)

// NewTraced returns s with its calls traced.
func NewTraced(s *Store) *Traced { return &Traced{s: s} }

// startSpan starts the span of the store call named name ("postgres.Op").
func startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	ctx, span := tracing.StartSpan(ctx, name, trace.SpanKindClient)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("db.system.name", "postgresql"),
			attribute.String("db.operation.name", strings.TrimPrefix(name, "postgres.")))
	}
	return ctx, span
}

// CreateDeployment traces Store.CreateDeployment.
func (t *Traced) CreateDeployment(ctx context.Context, d *store.Deployment, ev store.Event) (err error) {
	ctx, span := startSpan(ctx, "postgres.CreateDeployment")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.CreateDeployment(ctx, d, ev)
}

// UpdateDeployment traces Store.UpdateDeployment.
func (t *Traced) UpdateDeployment(ctx context.Context, id string, m store.Mutation) (_ *store.Deployment, err error) {
	ctx, span := startSpan(ctx, "postgres.UpdateDeployment")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.UpdateDeployment(ctx, id, m)
}

// GetDeployment traces Store.GetDeployment.
func (t *Traced) GetDeployment(ctx context.Context, id string) (_ *store.Deployment, err error) {
	ctx, span := startSpan(ctx, "postgres.GetDeployment")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.GetDeployment(ctx, id)
}

// GetActiveDeployment traces Store.GetActiveDeployment.
func (t *Traced) GetActiveDeployment(ctx context.Context, workflowID string) (_ *store.Deployment, err error) {
	ctx, span := startSpan(ctx, "postgres.GetActiveDeployment")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.GetActiveDeployment(ctx, workflowID)
}

// ListDeployments traces Store.ListDeployments.
func (t *Traced) ListDeployments(ctx context.Context, f store.ListFilter) (_ store.Page, err error) {
	ctx, span := startSpan(ctx, "postgres.ListDeployments")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListDeployments(ctx, f)
}

// ListEvents traces Store.ListEvents.
func (t *Traced) ListEvents(ctx context.Context, deploymentID string) (_ []store.Event, err error) {
	ctx, span := startSpan(ctx, "postgres.ListEvents")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListEvents(ctx, deploymentID)
}

// LastExecution traces Store.LastExecution.
func (t *Traced) LastExecution(ctx context.Context, deploymentID string) (_ *store.Execution, err error) {
	ctx, span := startSpan(ctx, "postgres.LastExecution")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.LastExecution(ctx, deploymentID)
}

// CountUnfinishedExecutions traces Store.CountUnfinishedExecutions.
func (t *Traced) CountUnfinishedExecutions(ctx context.Context, deploymentID string) (_ int64, err error) {
	ctx, span := startSpan(ctx, "postgres.CountUnfinishedExecutions")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.CountUnfinishedExecutions(ctx, deploymentID)
}

// ListCronTriggers traces Store.ListCronTriggers.
func (t *Traced) ListCronTriggers(ctx context.Context, deploymentID string) (_ []store.CronTrigger, err error) {
	ctx, span := startSpan(ctx, "postgres.ListCronTriggers")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListCronTriggers(ctx, deploymentID)
}

// ListWebhookTriggers traces Store.ListWebhookTriggers.
func (t *Traced) ListWebhookTriggers(ctx context.Context, deploymentID string) (_ []store.WebhookTrigger, err error) {
	ctx, span := startSpan(ctx, "postgres.ListWebhookTriggers")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListWebhookTriggers(ctx, deploymentID)
}

// ExpireIdempotencyKey traces Store.ExpireIdempotencyKey.
func (t *Traced) ExpireIdempotencyKey(ctx context.Context, id string, before time.Time) (_ bool, err error) {
	ctx, span := startSpan(ctx, "postgres.ExpireIdempotencyKey")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ExpireIdempotencyKey(ctx, id, before)
}

// CreateExecution traces Store.CreateExecution.
func (t *Traced) CreateExecution(ctx context.Context, e *store.Execution) (_ bool, err error) {
	ctx, span := startSpan(ctx, "postgres.CreateExecution")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.CreateExecution(ctx, e)
}

// FindExecutionByKey traces Store.FindExecutionByKey.
func (t *Traced) FindExecutionByKey(ctx context.Context, workflowID, key string) (_ *store.Execution, err error) {
	ctx, span := startSpan(ctx, "postgres.FindExecutionByKey")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.FindExecutionByKey(ctx, workflowID, key)
}

// TransitionExecution traces Store.TransitionExecution.
func (t *Traced) TransitionExecution(ctx context.Context, id string, tr store.Transition) (_ *store.Execution, err error) {
	ctx, span := startSpan(ctx, "postgres.TransitionExecution")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.TransitionExecution(ctx, id, tr)
}

// TakeTurn traces Store.TakeTurn.
func (t *Traced) TakeTurn(ctx context.Context, id, owner string) (_ string, err error) {
	ctx, span := startSpan(ctx, "postgres.TakeTurn")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.TakeTurn(ctx, id, owner)
}

// ListUnfinishedExecutions traces Store.ListUnfinishedExecutions.
func (t *Traced) ListUnfinishedExecutions(ctx context.Context, workflowID string) (_ []store.Execution, err error) {
	ctx, span := startSpan(ctx, "postgres.ListUnfinishedExecutions")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListUnfinishedExecutions(ctx, workflowID)
}

// RenewLeases traces Store.RenewLeases.
func (t *Traced) RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (_ []string, err error) {
	ctx, span := startSpan(ctx, "postgres.RenewLeases")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.RenewLeases(ctx, owner, ids, lease)
}

// AdoptExecutions traces Store.AdoptExecutions.
func (t *Traced) AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) (_ []store.Execution, err error) {
	ctx, span := startSpan(ctx, "postgres.AdoptExecutions")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.AdoptExecutions(ctx, owner, lease, limit)
}

// ReleaseLeases traces Store.ReleaseLeases.
func (t *Traced) ReleaseLeases(ctx context.Context, owner string, ids []string) (err error) {
	ctx, span := startSpan(ctx, "postgres.ReleaseLeases")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ReleaseLeases(ctx, owner, ids)
}

// GetExecution traces Store.GetExecution.
func (t *Traced) GetExecution(ctx context.Context, id string) (_ *store.Execution, err error) {
	ctx, span := startSpan(ctx, "postgres.GetExecution")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.GetExecution(ctx, id)
}

// ListExecutions traces Store.ListExecutions.
func (t *Traced) ListExecutions(ctx context.Context, f store.ExecutionFilter) (_ store.ExecutionPage, err error) {
	ctx, span := startSpan(ctx, "postgres.ListExecutions")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.ListExecutions(ctx, f)
}

// DeploymentStats traces Store.DeploymentStats.
func (t *Traced) DeploymentStats(ctx context.Context, executionsSince time.Time) (_ store.DeploymentStats, err error) {
	ctx, span := startSpan(ctx, "postgres.DeploymentStats")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.DeploymentStats(ctx, executionsSince)
}

// CronFireStats traces Store.CronFireStats.
func (t *Traced) CronFireStats(ctx context.Context, start, end time.Time) (_ store.CronFireStats, err error) {
	ctx, span := startSpan(ctx, "postgres.CronFireStats")
	defer func() { tracing.EndSpan(span, err) }()
	return t.s.CronFireStats(ctx, start, end)
}

// Ping passes through untraced: health checks every few seconds would fill
// the traces.
func (t *Traced) Ping(ctx context.Context) error { return t.s.Ping(ctx) }

// Close passes through untraced.
func (t *Traced) Close() error { return t.s.Close() }
