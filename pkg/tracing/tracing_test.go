package tracing

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

const (
	validTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	validParent  = "00-" + validTraceID + "-00f067aa0ba902b7-01"
)

func TestStart(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		headers *Headers // nil: WithHeaders is not called
		// want is the expected id; "" means a newly generated one.
		want string
	}{
		{name: "valid traceparent", headers: &Headers{TraceParent: validParent}, want: validTraceID},
		{name: "valid traceparent wins over request id", headers: &Headers{TraceParent: validParent, RequestID: "req-1"}, want: validTraceID},
		{name: "traceparent with surrounding spaces", headers: &Headers{TraceParent: "  " + validParent + "\t"}, want: validTraceID},
		{name: "traceparent trace id too short", headers: &Headers{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent trace id too long", headers: &Headers{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e47360-00f067aa0ba902b7-01", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent upper-case hex", headers: &Headers{TraceParent: "00-" + strings.ToUpper(validTraceID) + "-00f067aa0ba902b7-01", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent non-hex", headers: &Headers{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent all-zero trace id", headers: &Headers{TraceParent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent three parts", headers: &Headers{TraceParent: "00-" + validTraceID + "-00f067aa0ba902b7", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent five parts", headers: &Headers{TraceParent: validParent + "-extra", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent version ff", headers: &Headers{TraceParent: "ff-" + validTraceID + "-00f067aa0ba902b7-01", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent bad parent id", headers: &Headers{TraceParent: "00-" + validTraceID + "-x-01", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent all-zero parent id", headers: &Headers{TraceParent: "00-" + validTraceID + "-0000000000000000-01", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent bad flags", headers: &Headers{TraceParent: "00-" + validTraceID + "-00f067aa0ba902b7-1", RequestID: "req-1"}, want: "req-1"},
		{name: "traceparent of a later version may append fields", headers: &Headers{TraceParent: "01-" + validTraceID + "-00f067aa0ba902b7-01-future"}, want: validTraceID},
		{name: "traceparent garbage", headers: &Headers{TraceParent: "garbage", RequestID: "req-1"}, want: "req-1"},
		{name: "request id only", headers: &Headers{RequestID: "9f1c-ABC_def.42:x"}, want: "9f1c-ABC_def.42:x"},
		{name: "request id trimmed", headers: &Headers{RequestID: "  req-2 \n"}, want: "req-2"},
		{name: "request id of 128 characters", headers: &Headers{RequestID: strings.Repeat("r", 128)}, want: strings.Repeat("r", 128)},
		{name: "request id of 129 characters", headers: &Headers{RequestID: strings.Repeat("r", 129)}},
		{name: "request id with a space", headers: &Headers{RequestID: "req 1"}},
		{name: "request id with a tab", headers: &Headers{RequestID: "req\t1"}},
		{name: "request id with a newline", headers: &Headers{RequestID: "req\n1"}},
		{name: "request id with a NUL", headers: &Headers{RequestID: "req\x001"}},
		{name: "request id with DEL", headers: &Headers{RequestID: "req\x7f"}},
		{name: "request id with non-ASCII", headers: &Headers{RequestID: "réq"}},
		{name: "request id only spaces", headers: &Headers{RequestID: "   "}},
		{name: "empty headers", headers: &Headers{}},
		{name: "no headers", headers: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			if tt.headers != nil {
				ctx = WithHeaders(ctx, *tt.headers)
			}
			gotCtx, got := Start(ctx)

			if tt.want == "" {
				if !generatedID.MatchString(got) {
					t.Errorf("Start() id = %q, want a generated 32-hex id", got)
				}
				if tt.headers != nil && got == strings.TrimSpace(tt.headers.RequestID) {
					t.Errorf("Start() id = %q, want the request id ignored", got)
				}
			} else if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Start() id mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got, TraceID(gotCtx)); diff != "" {
				t.Errorf("TraceID(ctx from Start) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTraceIDOnBareContext(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		ctx  context.Context
	}{
		{name: "background", ctx: context.Background()},
		{name: "headers but no Start", ctx: WithHeaders(context.Background(), Headers{TraceParent: validParent, RequestID: "req-1"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			if got := TraceID(tt.ctx); got != "" {
				t.Errorf("TraceID() = %q, want \"\"", got)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()

	const n = 1000
	seen := make(map[string]bool, n)
	for range n {
		id := NewID()
		if !generatedID.MatchString(id) {
			t.Fatalf("NewID() = %q, want 32 lower-case hex digits", id)
		}
		if id == strings.Repeat("0", 32) {
			t.Fatalf("NewID() = %q, an invalid all-zero W3C trace id", id)
		}
		if seen[id] {
			t.Fatalf("NewID() returned %q twice in %d calls", id, n)
		}
		seen[id] = true
	}
}

func TestStartGeneratesDistinctIDs(t *testing.T) {
	t.Parallel()

	_, a := Start(context.Background())
	_, b := Start(context.Background())
	if a == b {
		t.Errorf("Start() generated %q twice", a)
	}
}
