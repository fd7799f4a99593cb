package scheduling

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// startFireSpan starts the span of one fire, its retries included, as the
// root of a trace whose id becomes the fire's trace id: the execution row's
// and its log lines', as a request's does.
func startFireSpan(ctx context.Context, ct workflow.CronTrigger, slot time.Time) (context.Context, trace.Span) {
	ctx, span := tracing.StartSpan(ctx, "scheduling.Fire", trace.SpanKindInternal)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("workflow_runtime.workflow_id", ct.WorkflowID),
			attribute.String("workflow_runtime.trigger_id", ct.TriggerID),
			attribute.String("workflow_runtime.scheduled_time", slot.UTC().Format(time.RFC3339Nano)))
	}
	ctx, _ = tracing.Start(ctx)
	return ctx, span
}
