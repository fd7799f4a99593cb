package lock

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
)

// startSpan starts the client span of the lock operation name on key.
func startSpan(ctx context.Context, name, key string) (context.Context, trace.Span) {
	ctx, span := tracing.StartSpan(ctx, name, trace.SpanKindClient)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("db.system.name", "redis"), attribute.String("workflow_runtime.lock.key", key))
	}
	return ctx, span
}

// endSpan ends a lock operation's span. A lock found held by another is an
// answer, not a failure: contention is what the lock is for.
func endSpan(span trace.Span, err error) {
	if errors.Is(err, ErrLockHeld) {
		span.SetAttributes(attribute.Bool("workflow_runtime.lock.acquired", false))
		err = nil
	}
	tracing.EndSpan(span, err)
}
