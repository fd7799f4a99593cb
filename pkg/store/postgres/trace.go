package postgres

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
)

// startSpan starts the span of a group commit batch named name
// ("postgres.insertExecutions"); the calls themselves are traced by
// pkg/store/traced.
func startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	ctx, span := tracing.StartSpan(ctx, name, trace.SpanKindClient)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("db.system.name", "postgresql"),
			attribute.String("db.operation.name", strings.TrimPrefix(name, "postgres.")))
	}
	return ctx, span
}
