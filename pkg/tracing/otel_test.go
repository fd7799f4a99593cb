package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing/tracingtest"
)

const (
	traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentID = "00f067aa0ba902b7"
)

func remote(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceID)
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex(parentID)
	require.NoError(t, err)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

func TestStartAgreesWithTheSpan(t *testing.T) {
	exp := tracingtest.Install(t)

	t.Run("caller's trace", func(t *testing.T) {
		ctx, span := tracing.StartSpan(trace.ContextWithRemoteSpanContext(context.Background(), remote(t)), "rpc", trace.SpanKindServer)
		// Headers that say otherwise lose to the span, which the transport
		// made from the same traceparent.
		ctx = tracing.WithHeaders(ctx, tracing.Headers{RequestID: "req-1"})
		ctx, id := tracing.Start(ctx)
		span.End()
		if diff := cmp.Diff(traceID, id); diff != "" {
			t.Errorf("Start() id mismatch (-want +got):\n%s", diff)
		}
		if got := tracing.TraceID(ctx); got != traceID {
			t.Errorf("TraceID() = %q, want %q", got, traceID)
		}
	})
	t.Run("new trace", func(t *testing.T) {
		ctx, span := tracing.StartSpan(context.Background(), "rpc", trace.SpanKindServer)
		_, id := tracing.Start(tracing.WithHeaders(ctx, tracing.Headers{RequestID: "req-1"}))
		span.End()
		if want := span.SpanContext().TraceID().String(); id != want {
			t.Errorf("Start() id = %q, want the span's %q", id, want)
		}
	})
	if n := len(exp.GetSpans()); n != 2 {
		t.Errorf("recorded %d spans, want 2", n)
	}
}

func TestStartWithoutASpanContinuesItsID(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		headers tracing.Headers
		// span reports whether the id becomes ctx's span context.
		span bool
	}{
		{name: "traceparent", headers: tracing.Headers{TraceParent: "00-" + traceID + "-" + parentID + "-01"}, span: true},
		{name: "generated", span: true},
		{name: "request id", headers: tracing.Headers{RequestID: "req-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx, id := tracing.Start(tracing.WithHeaders(context.Background(), tt.headers))
			sc := trace.SpanContextFromContext(ctx)
			if !tt.span {
				if sc.IsValid() {
					t.Errorf("span context = %v, want none for id %q", sc, id)
				}
				return
			}
			if got := sc.TraceID().String(); got != id {
				t.Errorf("span context trace id = %q, want Start's id %q", got, id)
			}
			if !sc.IsSampled() {
				t.Error("span context not sampled")
			}
		})
	}
}

func TestResume(t *testing.T) {
	t.Parallel()

	other := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})
	tests := []struct {
		name   string
		id     string
		parent trace.SpanContext
		// wantParent is the span id ctx must carry; zero means a new one.
		wantParent trace.SpanID
		wantNone   bool
	}{
		{name: "parent of the trace", id: traceID, parent: remote(t), wantParent: remote(t).SpanID()},
		{name: "parent of another trace", id: traceID, parent: other},
		{name: "no parent", id: traceID},
		{name: "request id", id: "req-1", parent: remote(t), wantNone: true},
		{name: "empty", id: "", wantNone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := tracing.Resume(context.Background(), tt.id, tt.parent)
			sc := trace.SpanContextFromContext(ctx)
			if tt.wantNone {
				if sc.IsValid() || tracing.TraceID(ctx) != "" {
					t.Errorf("Resume(%q) = span %v, trace id %q; want ctx unchanged", tt.id, sc, tracing.TraceID(ctx))
				}
				return
			}
			if got := sc.TraceID().String(); got != tt.id {
				t.Errorf("span context trace id = %q, want %q", got, tt.id)
			}
			if got := tracing.TraceID(ctx); got != tt.id {
				t.Errorf("TraceID() = %q, want %q", got, tt.id)
			}
			switch {
			case tt.wantParent.IsValid() && sc.SpanID() != tt.wantParent:
				t.Errorf("span id = %v, want the parent's %v", sc.SpanID(), tt.wantParent)
			case !tt.wantParent.IsValid() && (!sc.SpanID().IsValid() || sc.SpanID() == other.SpanID()):
				t.Errorf("span id = %v, want a new one", sc.SpanID())
			}
		})
	}
}

func TestSpans(t *testing.T) {
	exp := tracingtest.Install(t)

	ctx, parent := tracing.StartSpan(context.Background(), "parent", trace.SpanKindServer)
	_, ok := tracing.StartSpan(ctx, "ok", trace.SpanKindClient)
	tracing.EndSpan(ok, nil)
	_, failed := tracing.StartSpan(ctx, "failed", trace.SpanKind(42))
	tracing.EndSpan(failed, errors.New("boom"))
	tracing.EndSpan(parent, nil)

	type got struct {
		Name   string
		Kind   trace.SpanKind
		Status codes.Code
		Child  bool
		Events int
	}
	var spans []got
	for _, s := range exp.GetSpans() {
		spans = append(spans, got{Name: s.Name, Kind: s.SpanKind, Status: s.Status.Code,
			Child: s.Parent.SpanID() == parent.SpanContext().SpanID(), Events: len(s.Events)})
	}
	want := []got{
		{Name: "ok", Kind: trace.SpanKindClient, Status: codes.Unset, Child: true},
		{Name: "failed", Kind: trace.SpanKindInternal, Status: codes.Error, Child: true, Events: 1},
		{Name: "parent", Kind: trace.SpanKindServer, Status: codes.Unset},
	}
	if diff := cmp.Diff(want, spans); diff != "" {
		t.Errorf("spans mismatch (-want +got):\n%s", diff)
	}
}

func TestTraceParent(t *testing.T) {
	t.Parallel()

	if got, want := tracing.TraceParent(remote(t)), "00-"+traceID+"-"+parentID+"-01"; got != want {
		t.Errorf("TraceParent() = %q, want %q", got, want)
	}
	if got := tracing.TraceParent(trace.SpanContext{}); got != "" {
		t.Errorf("TraceParent(invalid) = %q, want \"\"", got)
	}
}

// TestSetupWithoutEndpoint checks that nothing records, let alone exports,
// unless an endpoint is configured, while a caller's trace still carries on.
func TestSetupWithoutEndpoint(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"},
	} {
		stop, err := tracing.Setup(context.Background(), func(k string) string { return env[k] }, "test", log.NewNopLogger())
		require.NoError(t, err)
		ctx, span := tracing.StartSpan(trace.ContextWithRemoteSpanContext(context.Background(), remote(t)), "rpc", trace.SpanKindServer)
		if span.IsRecording() {
			t.Errorf("env %v: span is recording, want a no-op provider", env)
		}
		carrier := propagation.MapCarrier{}
		otel.GetTextMapPropagator().Inject(ctx, carrier)
		if got, want := carrier.Get("traceparent"), "00-"+traceID+"-"+parentID+"-01"; got != want {
			t.Errorf("env %v: injected traceparent = %q, want the caller's %q", env, got, want)
		}
		_, root := tracing.StartSpan(context.Background(), "root", trace.SpanKindInternal)
		if root.SpanContext().IsValid() {
			t.Errorf("env %v: a root span has trace %v, want none: no-op spans cost nothing", env, root.SpanContext().TraceID())
		}
		require.NoError(t, stop(context.Background()))
	}
}

func TestSetupExportsToTheEndpoint(t *testing.T) {
	collector := tracingtest.NewCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.Endpoint())
	var logs bytes.Buffer
	logger := log.NewLogfmtLogger(&logs)
	stop, err := tracing.Setup(context.Background(), func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.Endpoint()}[k]
	}, "test", logger)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = tracing.Setup(context.Background(), func(string) string { return "" }, "", log.NewNopLogger())
	})

	_, span := tracing.StartSpan(trace.ContextWithRemoteSpanContext(context.Background(), remote(t)), "exported", trace.SpanKindServer)
	tracing.EndSpan(span, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, stop(ctx))

	spans := collector.Spans()
	require.Len(t, spans, 1)
	if got := trace.TraceID(spans[0].GetTraceId()).String(); spans[0].GetName() != "exported" || got != traceID {
		t.Errorf("collector got span %q of trace %s, want \"exported\" of %s", spans[0].GetName(), got, traceID)
	}
	require.NoError(t, stop(ctx), "a second stop")

	otel.Handle(errors.New("collector away"))
	require.Contains(t, logs.String(), "collector away", "the SDK's errors go to the logger")
}

// BenchmarkSpan measures what a traced call adds: a span started and ended
// under a request's span, with tracing off (the no-op provider Setup
// installs without an endpoint) and with a recording provider.
func BenchmarkSpan(b *testing.B) {
	run := func(b *testing.B) {
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true}))
		b.ReportAllocs()
		for b.Loop() {
			_, span := tracing.StartSpan(ctx, "postgres.GetDeployment", trace.SpanKindClient)
			tracing.EndSpan(span, nil)
		}
	}
	b.Run("off", func(b *testing.B) {
		stop, err := tracing.Setup(context.Background(), func(string) string { return "" }, "bench", log.NewNopLogger())
		require.NoError(b, err)
		b.Cleanup(func() { _ = stop(context.Background()) })
		run(b)
	})
	b.Run("recording", func(b *testing.B) {
		// No processor: the span is recorded and then dropped, so that the
		// figure is the span's cost, not an exporter's.
		tp := sdktrace.NewTracerProvider()
		otel.SetTracerProvider(tp)
		b.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
		run(b)
	})
}

// TestSetupRefusesABadResource: a malformed OTEL_RESOURCE_ATTRIBUTES stops
// the start, as a bad setting does.
func TestSetupRefusesABadResource(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign")
	_, err := tracing.Setup(context.Background(), func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}[k]
	}, "test", log.NewNopLogger())
	require.ErrorContains(t, err, "resource")
}

// BenchmarkServerHandler measures what otelgrpc's stats handler adds to an
// RPC with tracing off, the caller's traceparent included.
func BenchmarkServerHandler(b *testing.B) {
	stop, err := tracing.Setup(context.Background(), func(string) string { return "" }, "bench", log.NewNopLogger())
	require.NoError(b, err)
	b.Cleanup(func() { _ = stop(context.Background()) })
	h := otelgrpc.NewServerHandler()
	md := metadata.Pairs("traceparent", "00-"+traceID+"-"+parentID+"-01")
	info := &stats.RPCTagInfo{FullMethodName: "/workflowruntime.v1.WorkflowRuntimeService/TriggerWorkflow"}
	b.ReportAllocs()
	for b.Loop() {
		ctx := h.TagRPC(metadata.NewIncomingContext(context.Background(), md), info)
		h.HandleRPC(ctx, &stats.Begin{})
		h.HandleRPC(ctx, &stats.End{})
	}
}
