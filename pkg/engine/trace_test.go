package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing/tracingtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// TestCallsAreTraced checks that each call is a span under the caller's,
// each attempt a client span under it, and that the engine receives the
// caller's trace both in the gRPC metadata and in the request's.
func TestCallsAreTraced(t *testing.T) {
	exp := tracingtest.Install(t)
	var rec simtest.Recorder
	client := simtest.Client(t, simtest.Serve(t, enginesim.New(enginesim.Config{MaxDuration: time.Hour}), "127.0.0.1:0", rec.Option()))

	ctx, parent := tracing.StartSpan(context.Background(), "dispatch", trace.SpanKindInternal)
	traceID := parent.SpanContext().TraceID()
	acc, err := client.Execute(ctx, engine.ExecuteRequest{
		ExecutionID: "e1", WorkflowID: "w1", TriggerType: workflow.TriggerManual, TriggeredBy: "test",
		TraceID: traceID.String(), TraceParent: "00-" + traceID.String() + "-00f067aa0ba902b7-01",
	})
	require.NoError(t, err)
	_, err = client.Status(ctx, acc.EngineExecutionID)
	require.NoError(t, err)
	err = client.Cancel(ctx, "unknown", "test")
	require.ErrorIs(t, err, engine.ErrRejected)
	parent.End()

	spans := byName(exp.GetSpans())
	execute := spans["engine.Execute"]
	for name, want := range map[string]trace.SpanContext{
		"engine.Execute": parent.SpanContext(),
		"engine.Status":  parent.SpanContext(),
		"engine.Cancel":  parent.SpanContext(),
		"workflow_engine.WorkflowService/ExecuteWorkflow": execute.SpanContext,
	} {
		s, ok := spans[name]
		if !ok {
			t.Errorf("no span %q among %v", name, names(exp.GetSpans()))
			continue
		}
		if s.Parent.SpanID() != want.SpanID() || s.SpanContext.TraceID() != traceID {
			t.Errorf("span %q: parent %v of trace %v, want %v of %v", name, s.Parent.SpanID(), s.SpanContext.TraceID(), want.SpanID(), traceID)
		}
	}
	if got := spans["engine.Cancel"].Status.Code; got != codes.Error {
		t.Errorf("rejected Cancel span status = %v, want Error", got)
	}
	if got := spans["engine.Execute"].Status.Code; got != codes.Unset {
		t.Errorf("Execute span status = %v, want Unset", got)
	}

	calls := rec.Calls()
	require.NotEmpty(t, calls)
	call := calls[0]
	require.Equal(t, "/workflow_engine.WorkflowService/ExecuteWorkflow", call.Method)
	attempt := spans["workflow_engine.WorkflowService/ExecuteWorkflow"].SpanContext
	want := map[string]string{
		"grpc metadata":    tracing.TraceParent(attempt),
		"request metadata": tracing.TraceParent(execute.SpanContext),
	}
	got := map[string]string{
		"grpc metadata":    strings.Join(call.Metadata.Get("traceparent"), ","),
		"request metadata": call.Request.(*pb.ExecuteWorkflowRequest).GetMetadata()[engine.MetaTraceParent],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("traceparents the engine received mismatch (-want +got):\n%s", diff)
	}
}

func byName(spans tracetest.SpanStubs) map[string]tracetest.SpanStub {
	m := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		m[s.Name] = s
	}
	return m
}

func names(spans tracetest.SpanStubs) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name)
	}
	return n
}

// TestUntracedCallsCarryTheTrace: with tracing off (the no-op provider
// Setup installs without an endpoint), the connection has no otelgrpc
// handler, and the engine still receives the caller's trace in the gRPC
// metadata and in the request's.
func TestUntracedCallsCarryTheTrace(t *testing.T) {
	stop, err := tracing.Setup(context.Background(), func(string) string { return "" }, "test", log.NewNopLogger())
	require.NoError(t, err)
	t.Cleanup(func() { _ = stop(context.Background()) })
	require.False(t, tracing.Recording())
	var rec simtest.Recorder
	client := simtest.Client(t, simtest.Serve(t, enginesim.New(enginesim.Config{MaxDuration: time.Hour}), "127.0.0.1:0", rec.Option()))

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := tracing.Resume(context.Background(), traceID, trace.SpanContext{})
	_, err = client.Execute(ctx, engine.ExecuteRequest{
		ExecutionID: "e1", WorkflowID: "w1", TriggerType: workflow.TriggerManual, TriggeredBy: "test", TraceID: traceID,
	})
	require.NoError(t, err)
	calls := rec.Calls()
	require.Len(t, calls, 1)
	sc := trace.SpanContextFromContext(ctx)
	require.Equal(t, []string{tracing.TraceParent(sc)}, calls[0].Metadata.Get("traceparent"))
	require.Equal(t, tracing.TraceParent(sc), calls[0].Request.(*pb.ExecuteWorkflowRequest).GetMetadata()[engine.MetaTraceParent])

	// A call under no trace sends none.
	_, err = client.Status(context.Background(), "unknown")
	require.NoError(t, err)
	calls = rec.Calls()
	require.Len(t, calls, 2)
	require.Empty(t, calls[1].Metadata.Get("traceparent"))
}
