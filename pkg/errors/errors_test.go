package errors

import (
	"context"
	stderrors "errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// errorOpts compares *Error values field by field and causes by their text.
var errorOpts = cmp.Options{
	cmp.Comparer(func(a, b error) bool {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return a.Error() == b.Error()
	}),
	cmpopts.EquateEmpty(),
}

func TestE(t *testing.T) {
	t.Parallel()

	cause := New("connection refused")
	violations := Violations{{Field: "workflow_id", Description: "must be set"}}
	notFound := &Error{Op: "store.Get", Kind: NotFound, Err: New("no rows")}

	tests := []struct {
		name string
		args []any
		want *Error
	}{
		{
			name: "no arguments",
			args: nil,
			want: &Error{Kind: Internal},
		},
		{
			name: "op kind error",
			args: []any{Op("deployment.Deploy"), Unavailable, cause},
			want: &Error{Op: "deployment.Deploy", Kind: Unavailable, Err: cause},
		},
		{
			name: "error kind op (any order)",
			args: []any{cause, Unavailable, Op("deployment.Deploy")},
			want: &Error{Op: "deployment.Deploy", Kind: Unavailable, Err: cause},
		},
		{
			name: "string becomes the cause",
			args: []any{"workflow is paused", FailedPrecondition, Op("deployment.Trigger")},
			want: &Error{Op: "deployment.Trigger", Kind: FailedPrecondition, Err: New("workflow is paused")},
		},
		{
			name: "violations",
			args: []any{violations, Op("deployment.Deploy"), Invalid},
			want: &Error{Op: "deployment.Deploy", Kind: Invalid, Violations: violations},
		},
		{
			name: "kind inherited from a wrapped *Error",
			args: []any{Op("deployment.Status"), notFound},
			want: &Error{Op: "deployment.Status", Kind: NotFound, Err: notFound},
		},
		{
			name: "kind inherited through fmt wrapping",
			args: []any{Op("deployment.Status"), fmt.Errorf("lookup: %w", notFound)},
			want: &Error{Op: "deployment.Status", Kind: NotFound, Err: fmt.Errorf("lookup: %w", notFound)},
		},
		{
			name: "explicit kind overrides the wrapped kind",
			args: []any{Op("deployment.Status"), notFound, Unavailable},
			want: &Error{Op: "deployment.Status", Kind: Unavailable, Err: notFound},
		},
		{
			name: "explicit Internal overrides the wrapped kind",
			args: []any{Internal, notFound},
			want: &Error{Kind: Internal, Err: notFound},
		},
		{
			name: "plain cause without kind is Internal",
			args: []any{Op("x"), cause},
			want: &Error{Op: "x", Kind: Internal, Err: cause},
		},
		{
			name: "retry advice",
			args: []any{Op("coordination.Trigger"), ResourceExhausted, RetryAfter(3 * time.Second), "full"},
			want: &Error{Op: "coordination.Trigger", Kind: ResourceExhausted, Err: New("full"), RetryAfter: 3 * time.Second},
		},
		{
			name: "retry advice inherited from a wrapped *Error",
			args: []any{Op("outer"), &Error{Kind: ResourceExhausted, RetryAfter: time.Second}},
			want: &Error{Op: "outer", Kind: ResourceExhausted, Err: &Error{Kind: ResourceExhausted, RetryAfter: time.Second}, RetryAfter: time.Second},
		},
		{
			name: "explicit retry advice overrides the wrapped one",
			args: []any{RetryAfter(2 * time.Second), &Error{Kind: ResourceExhausted, RetryAfter: time.Second}},
			want: &Error{Kind: ResourceExhausted, Err: &Error{Kind: ResourceExhausted, RetryAfter: time.Second}, RetryAfter: 2 * time.Second},
		},
		{
			name: "last of each type wins",
			args: []any{Op("a"), Op("b"), NotFound, Aborted, "first", "second"},
			want: &Error{Op: "b", Kind: Aborted, Err: New("second")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			err := E(tt.args...)
			var got *Error
			require.True(t, As(err, &got), "E() = %T, want *Error", err)
			if diff := cmp.Diff(tt.want, got, errorOpts); diff != "" {
				t.Errorf("E() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEKeepsCauseInChain(t *testing.T) {
	t.Parallel()

	cause := New("boom")
	err := E(Op("op"), Unavailable, cause)
	if !Is(err, cause) {
		t.Errorf("Is(E(..., cause), cause) = false, want true")
	}
	if !stderrors.Is(E(Op("outer"), E(Op("inner"), cause)), cause) {
		t.Errorf("nested E lost its cause")
	}
}

func TestEPanicsOnBadArgument(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		arg       any
		wantPanic string
	}{
		{name: "int", arg: 42, wantPanic: "errors.E: bad argument of type int"},
		{name: "struct", arg: Violation{}, wantPanic: "errors.E: bad argument of type errors.Violation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.PanicsWithValue(t, tt.wantPanic, func() { _ = E(Op("op"), tt.arg) })
		})
	}
}

func TestErrorf(t *testing.T) {
	t.Parallel()

	err := Errorf("deployment.Get", NotFound, "deployment %q not found", "d-1")
	var got *Error
	require.True(t, As(err, &got))

	want := &Error{Op: "deployment.Get", Kind: NotFound, Err: New(`deployment "d-1" not found`)}
	if diff := cmp.Diff(want, got, errorOpts); diff != "" {
		t.Errorf("Errorf() mismatch (-want +got):\n%s", diff)
	}

	// %w keeps the formatted cause in the chain.
	cause := New("no rows")
	if err := Errorf("op", NotFound, "lookup: %w", cause); !Is(err, cause) {
		t.Errorf("Errorf with %%w lost its cause")
	}
}

func TestErrorAndMessage(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		err         *Error
		wantError   string
		wantMessage string
	}{
		{
			name:        "op and cause",
			err:         &Error{Op: "deployment.Deploy", Kind: Unavailable, Err: New("connection refused")},
			wantError:   "deployment.Deploy: connection refused",
			wantMessage: "connection refused",
		},
		{
			name:        "cause without op",
			err:         &Error{Kind: NotFound, Err: New("deployment not found")},
			wantError:   "deployment not found",
			wantMessage: "deployment not found",
		},
		{
			name:        "no cause: the kind",
			err:         &Error{Op: "endpoint.RateLimit", Kind: ResourceExhausted},
			wantError:   "endpoint.RateLimit: resource exhausted",
			wantMessage: "resource exhausted",
		},
		{
			name:        "zero value",
			err:         &Error{},
			wantError:   "internal",
			wantMessage: "internal",
		},
		{
			name: "violations",
			err: &Error{Op: "deployment.Deploy", Kind: Invalid, Violations: Violations{
				{Field: "workflow_id", Description: "must be set"},
				{Field: "triggers[0].cron.expression", Description: `bad cron "x"`},
			}},
			wantError:   `deployment.Deploy: invalid argument: workflow_id: must be set; triggers[0].cron.expression: bad cron "x"`,
			wantMessage: `invalid argument: workflow_id: must be set; triggers[0].cron.expression: bad cron "x"`,
		},
		{
			name: "violations with a cause",
			err: &Error{Kind: Invalid, Err: New("bad definition"), Violations: Violations{
				{Field: "nodes[1].id", Description: "duplicate"},
			}},
			wantError:   "bad definition: nodes[1].id: duplicate",
			wantMessage: "bad definition: nodes[1].id: duplicate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			if diff := cmp.Diff(tt.wantError, tt.err.Error()); diff != "" {
				t.Errorf("Error() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantMessage, tt.err.Message()); diff != "" {
				t.Errorf("Message() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorNested(t *testing.T) {
	t.Parallel()

	err := E(Op("deployment.Update"), Errorf("deployment.Update", Aborted, "deployment %s is at version %d", "d-1", 3))
	if diff := cmp.Diff("deployment.Update: deployment d-1 is at version 3", err.Error()); diff != "" {
		t.Errorf("Error() mismatch (-want +got):\n%s", diff)
	}
	err = E(Op("deployment.Deploy"), E(Op("store.Create"), NotFound, "no row"))
	if diff := cmp.Diff("deployment.Deploy: store.Create: no row", err.Error()); diff != "" {
		t.Errorf("Error() mismatch (-want +got):\n%s", diff)
	}
}

// TestMessageNested pins what Message's doc comment promises ("the error
// without its operation: what a caller is shown") for a wrapped *Error, the
// shape storeError (service/deployment/service.go:485) builds.
func TestMessageNested(t *testing.T) {
	t.Parallel()

	var e *Error
	require.True(t, As(E(Op("deployment.Update"), Errorf("deployment.Update", Aborted, "deployment %s is at version %d", "d-1", 3)), &e))
	if diff := cmp.Diff("deployment d-1 is at version 3", e.Message()); diff != "" {
		t.Errorf("Message() mismatch (-want +got):\n%s", diff)
	}
}

func TestViolations(t *testing.T) {
	t.Parallel()

	t.Run("empty is nil", func(t *testing.T) {
		t.Parallel()

		var v Violations
		if err := v.Err("op"); err != nil {
			t.Errorf("Err() on no violations = %v, want nil", err)
		}
		if err := (Violations{}).Err("op"); err != nil {
			t.Errorf("Err() on an empty slice = %v, want nil", err)
		}
	})

	t.Run("Add then Err", func(t *testing.T) {
		t.Parallel()

		var v Violations
		v.Addf("workflow_id", "must be set")
		v.Addf("triggers[%d]", "type %s is unknown", "CRONN")
		v.Addf("config.execution_timeout_seconds", "must be >= %d, got %d", 0, -1)

		wantV := Violations{
			{Field: "workflow_id", Description: "must be set"},
			{Field: "triggers[%d]", Description: "type CRONN is unknown"},
			{Field: "config.execution_timeout_seconds", Description: "must be >= 0, got -1"},
		}
		if diff := cmp.Diff(wantV, v); diff != "" {
			t.Errorf("after Add (-want +got):\n%s", diff)
		}

		err := v.Err("deployment.Deploy")
		require.Error(t, err)
		var got *Error
		require.True(t, As(err, &got))
		want := &Error{Op: "deployment.Deploy", Kind: Invalid, Violations: wantV}
		if diff := cmp.Diff(want, got, errorOpts); diff != "" {
			t.Errorf("Err() mismatch (-want +got):\n%s", diff)
		}
		if got := Code(err); got != codes.InvalidArgument {
			t.Errorf("Code(Err()) = %v, want InvalidArgument", got)
		}
	})
}

func TestKindOf(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{name: "nil", err: nil, want: Internal},
		{name: "plain", err: New("boom"), want: Internal},
		{name: "context canceled", err: context.Canceled, want: Internal},
		{name: "*Error", err: E(NotFound), want: NotFound},
		{name: "wrapped *Error", err: fmt.Errorf("ctx: %w", E(Aborted)), want: Aborted},
		{name: "outermost *Error wins", err: &Error{Kind: Unavailable, Err: &Error{Kind: NotFound}}, want: Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()

	tests := []struct {
		kind Kind
		want string
	}{
		{Internal, "internal"},
		{Invalid, "invalid argument"},
		{NotFound, "not found"},
		{AlreadyExists, "already exists"},
		{Aborted, "aborted"},
		{FailedPrecondition, "failed precondition"},
		{PermissionDenied, "permission denied"},
		{Unauthenticated, "unauthenticated"},
		{ResourceExhausted, "resource exhausted"},
		{Unavailable, "unavailable"},
		{Unavailable + 1, "kind(10)"},
		{Kind(255), "kind(255)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()

			if diff := cmp.Diff(tt.want, tt.kind.String()); diff != "" {
				t.Errorf("String() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCode(t *testing.T) {
	t.Parallel()

	// API.md §2: one gRPC code per kind.
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{name: "nil", err: nil, want: codes.OK},
		{name: "plain error", err: New("boom"), want: codes.Internal},
		{name: "Internal", err: E(Internal), want: codes.Internal},
		{name: "Invalid", err: E(Invalid), want: codes.InvalidArgument},
		{name: "NotFound", err: E(NotFound), want: codes.NotFound},
		{name: "AlreadyExists", err: E(AlreadyExists), want: codes.AlreadyExists},
		{name: "Aborted", err: E(Aborted), want: codes.Aborted},
		{name: "FailedPrecondition", err: E(FailedPrecondition), want: codes.FailedPrecondition},
		{name: "PermissionDenied", err: E(PermissionDenied), want: codes.PermissionDenied},
		{name: "Unauthenticated", err: E(Unauthenticated), want: codes.Unauthenticated},
		{name: "ResourceExhausted", err: E(ResourceExhausted), want: codes.ResourceExhausted},
		{name: "Unavailable", err: E(Unavailable), want: codes.Unavailable},
		{name: "out-of-range kind", err: &Error{Kind: Kind(200)}, want: codes.Internal},
		{name: "wrapped *Error", err: fmt.Errorf("handler: %w", E(Op("op"), NotFound)), want: codes.NotFound},
		{name: "kind inherited by E", err: E(Op("outer"), E(Op("inner"), Aborted)), want: codes.Aborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCodeContextErrors pins what Code's doc comment promises: "Canceled or
// DeadlineExceeded for a context error". Code returns Internal for both.
func TestCodeContextErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{name: "canceled", err: context.Canceled, want: codes.Canceled},
		{name: "deadline exceeded", err: context.DeadlineExceeded, want: codes.DeadlineExceeded},
		{name: "wrapped canceled", err: fmt.Errorf("query: %w", context.Canceled), want: codes.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestENilCause(t *testing.T) {
	t.Parallel()

	var cause error
	err := E(Op("store.Get"), NotFound, cause)
	require.Equal(t, NotFound, KindOf(err))
	require.Equal(t, "store.Get: not found", err.Error())
}
