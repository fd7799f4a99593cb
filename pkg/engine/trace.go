package engine

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
)

// traced gives every call to the engine a span, whose attempts are the
// spans of otelgrpc's client handler (see Dial) under it. An Execute request
// also carries that span's traceparent in its metadata, so that an engine
// which reads the trace from there rather than from the gRPC metadata joins
// the same trace.
type traced struct{ Client }

func (t traced) Execute(ctx context.Context, req ExecuteRequest) (_ Accepted, err error) {
	ctx, span := tracing.StartSpan(ctx, "engine.Execute", trace.SpanKindInternal)
	defer func() { tracing.EndSpan(span, err) }()
	if tp := tracing.TraceParent(span.SpanContext()); tp != "" {
		req.TraceParent = tp
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.String("workflow_runtime.execution_id", req.ExecutionID),
			attribute.String("workflow_runtime.workflow_id", req.WorkflowID))
	}
	return t.Client.Execute(ctx, req)
}

func (t traced) Status(ctx context.Context, engineExecutionID string) (_ Status, err error) {
	ctx, span := tracing.StartSpan(ctx, "engine.Status", trace.SpanKindInternal)
	defer func() { tracing.EndSpan(span, err) }()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("workflow_runtime.engine_execution_id", engineExecutionID))
	}
	return t.Client.Status(ctx, engineExecutionID)
}

func (t traced) Cancel(ctx context.Context, engineExecutionID, reason string) (err error) {
	ctx, span := tracing.StartSpan(ctx, "engine.Cancel", trace.SpanKindInternal)
	defer func() { tracing.EndSpan(span, err) }()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("workflow_runtime.engine_execution_id", engineExecutionID))
	}
	return t.Client.Cancel(ctx, engineExecutionID, reason)
}
