package tracing

import (
	"context"
	"crypto/rand"
	"strings"
	"sync/atomic"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName is the service.name of the spans, unless OTEL_SERVICE_NAME
// names another.
const ServiceName = "workflow-runtime"

// Setup installs the process's tracer provider and the W3C trace context
// propagator, and returns the function that flushes and stops the provider
// (safe to call more than once).
//
// Spans are exported only when getenv gives OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: then to that OTLP/gRPC collector, in
// batches, as the SDK's other OTEL_* variables say (sampler, batch sizes,
// headers, TLS, timeouts, resource attributes). Otherwise, or with
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, the provider is a
// no-op: a span costs next to nothing and only carries its parent's trace
// on, so that the engine still receives the caller's traceparent. Errors of
// the SDK (a collector that cannot be reached, spans dropped) go to logger.
func Setup(ctx context.Context, getenv func(string) string, instanceID string, logger log.Logger) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		level.Warn(logger).Log("msg", "tracing failed", "err", err)
	}))
	if !exporting(getenv) {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, err
	}
	// Later sources win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the defaults.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", ServiceName), attribute.String("service.instance.id", instanceID)),
		resource.WithFromEnv(),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Recording reports whether spans may be recorded: false once Setup has
// installed the no-op provider, true for any other provider (a test's, or the
// global one that forwards to whatever is installed later). Instrumentation
// that costs something on every call whether or not a span is recorded
// (otelgrpc's stats handlers) is installed only when it is true.
func Recording() bool {
	_, off := otel.GetTracerProvider().(noop.TracerProvider)
	return !off
}

func exporting(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// scope names the instrumentation of the runtime's own spans.
const scope = "github.com/workflow-runtime/workflow-runtime"

// cachedTracer is the runtime's tracer of the provider installed last, kept
// because asking an SDK provider for a tracer takes a lock.
type cachedTracer struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
}

var current atomic.Pointer[cachedTracer]

func tracer() trace.Tracer {
	p := otel.GetTracerProvider()
	if c := current.Load(); c != nil && c.provider == p {
		return c.tracer
	}
	c := &cachedTracer{provider: p, tracer: p.Tracer(scope)}
	current.Store(c)
	return c.tracer
}

// kindOptions are the start options of each span kind, made once so that
// starting a span allocates nothing for them.
var kindOptions = func() [trace.SpanKindConsumer + 1][]trace.SpanStartOption {
	var o [trace.SpanKindConsumer + 1][]trace.SpanStartOption
	for k := range o {
		o[k] = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKind(k))}
	}
	return o
}()

// StartSpan starts a span named name under ctx's span, from the installed
// provider, and returns ctx carrying it. Callers add attributes only when
// span.IsRecording(), which keeps an untraced call free of them.
func StartSpan(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if kind < 0 || int(kind) >= len(kindOptions) {
		kind = trace.SpanKindInternal
	}
	return tracer().Start(ctx, name, kindOptions[kind]...)
}

// EndSpan ends span, marked failed with err unless err is nil.
func EndSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Resume returns ctx carrying trace id, as TraceID reports it and as the
// parent of the spans started under it, for work done on the trace's behalf
// after its request (an execution's dispatch, say): parent when it belongs to
// that trace, else the trace with a new span id. ctx is returned as it is
// when id is not a W3C trace id (a caller's x-request-id).
func Resume(ctx context.Context, id string, parent trace.SpanContext) context.Context {
	sc, ok := spanContext(id)
	if !ok {
		return ctx
	}
	ctx = context.WithValue(ctx, traceIDKey{}, id)
	if parent.IsValid() && parent.TraceID() == sc.TraceID() {
		return trace.ContextWithSpanContext(ctx, parent)
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// spanContext returns a sampled span context of trace id with a new span
// id: nothing is known of the sampling decision once only the id is left,
// and a trace that was worth a row is worth its spans.
func spanContext(id string) (trace.SpanContext, bool) {
	if !isHex(id, 32) || allZero(id) {
		return trace.SpanContext{}, false
	}
	tid, err := trace.TraceIDFromHex(id)
	if err != nil {
		return trace.SpanContext{}, false
	}
	var sid trace.SpanID
	_, _ = rand.Read(sid[:])
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}), true
}

// TraceParent returns sc as a W3C traceparent, or "" when sc is not valid.
func TraceParent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}
