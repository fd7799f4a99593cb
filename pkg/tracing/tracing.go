// Package tracing carries a request's trace id and sets OpenTelemetry up.
//
// The trace id is that of the request's OpenTelemetry span: the caller's
// traceparent's when it sent one, else a new one. Without a span (a
// transport that starts none) it is the traceparent's trace id, else the
// caller's x-request-id, else a new random id. The same id is on every log
// line of the request, on the rows it writes, and in the traceparent the
// engine receives.
package tracing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

type headersKey struct{}
type traceIDKey struct{}

// Headers are the incoming values a trace id is derived from.
type Headers struct {
	TraceParent string
	RequestID   string
}

// WithHeaders stores a request's incoming trace headers for FromHeaders.
func WithHeaders(ctx context.Context, h Headers) context.Context {
	return context.WithValue(ctx, headersKey{}, h)
}

// Start returns ctx carrying the request's trace id, and that id: the trace
// id of ctx's span, or one derived from the headers stored by WithHeaders.
// A derived W3C id also becomes ctx's span context, so that the spans and
// the calls made under ctx continue that trace.
func Start(ctx context.Context) (context.Context, string) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		id := sc.TraceID().String()
		return context.WithValue(ctx, traceIDKey{}, id), id
	}
	h, _ := ctx.Value(headersKey{}).(Headers)
	id := traceParentID(h.TraceParent)
	if id == "" {
		id = requestID(h.RequestID)
	}
	if id == "" {
		id = NewID()
	}
	if sc, ok := spanContext(id); ok {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return context.WithValue(ctx, traceIDKey{}, id), id
}

// TraceID returns the trace id set by Start, or "".
func TraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceIDKey{}).(string)
	return id
}

// NewID returns a random 128-bit trace id in the W3C form (32 lower-case hex digits).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// traceParentID extracts the trace id of a W3C traceparent
// ("<version>-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"). Version
// ff and all-zero ids are invalid by the spec; a later version may append
// fields, so only version 00 must have exactly four.
func traceParentID(tp string) string {
	parts := strings.Split(strings.TrimSpace(tp), "-")
	if len(parts) < 4 || !isHex(parts[0], 2) || parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) ||
		!isHex(parts[1], 32) || !isHex(parts[2], 16) || !isHex(parts[3], 2) ||
		allZero(parts[1]) || allZero(parts[2]) {
		return ""
	}
	return parts[1]
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

// requestID accepts a caller's request id only when it is short and printable,
// because it ends up verbatim in logs and in the database.
func requestID(id string) string {
	id = strings.TrimSpace(id)
	if len(id) == 0 || len(id) > 128 {
		return ""
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return ""
		}
	}
	return id
}

// Parent returns a W3C traceparent that continues trace id with a new span
// id, for a call made on the trace's behalf later, or "" when id is not a
// W3C trace id (a caller's x-request-id, say).
func Parent(id string) string {
	if !isHex(id, 32) || allZero(id) {
		return ""
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "00-" + id + "-" + hex.EncodeToString(b[:]) + "-01"
}
