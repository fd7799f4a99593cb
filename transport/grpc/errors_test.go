package grpc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// statusView is what a client can see of a status.
type statusView struct {
	Code    codes.Code
	Message string
	Details []proto.Message
}

func view(t *testing.T, s *status.Status) statusView {
	t.Helper()
	require.NotNil(t, s)
	v := statusView{Code: s.Code(), Message: s.Message()}
	for _, d := range s.Details() {
		m, ok := d.(proto.Message)
		require.True(t, ok, "detail %T is not a proto message (%v)", d, d)
		v.Details = append(v.Details, m)
	}
	return v
}

func TestStatus(t *testing.T) {
	t.Parallel()

	const op = errors.Op("deployment.Deploy")
	existing := status.New(codes.Aborted, "engine says no")
	existingWithDetails, err := status.New(codes.InvalidArgument, "engine validation").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "input_data", Description: "too large"}},
	})
	require.NoError(t, err)

	tests := []struct {
		name string
		err  error
		want statusView
	}{
		{
			name: "invalid with violations: BadRequest listing each field",
			err: errors.Violations{
				{Field: "workflow_id", Description: "must be set"},
				{Field: "triggers[0].cron.expression", Description: `"* *" is not a cron expression`},
				{Field: "config.execution_timeout_seconds", Description: "must be >= 0"},
			}.Err(op),
			want: statusView{
				Code:    codes.InvalidArgument,
				Message: `invalid argument: workflow_id: must be set; triggers[0].cron.expression: "* *" is not a cron expression; config.execution_timeout_seconds: must be >= 0`,
				Details: []proto.Message{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					{Field: "workflow_id", Description: "must be set"},
					{Field: "triggers[0].cron.expression", Description: `"* *" is not a cron expression`},
					{Field: "config.execution_timeout_seconds", Description: "must be >= 0"},
				}}},
			},
		},
		{
			name: "invalid with violations, wrapped",
			err:  fmt.Errorf("handler: %w", errors.Violations{{Field: "page_token", Description: "is not a token this service issued"}}.Err(op)),
			want: statusView{
				Code:    codes.InvalidArgument,
				Message: "invalid argument: page_token: is not a token this service issued",
				Details: []proto.Message{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					{Field: "page_token", Description: "is not a token this service issued"},
				}}},
			},
		},
		{
			name: "invalid without violations: no detail",
			err:  errors.E(op, errors.Invalid, "trigger_data is not JSON"),
			want: statusView{Code: codes.InvalidArgument, Message: "trigger_data is not JSON"},
		},
		{name: "not found", err: errors.E(op, errors.NotFound, "deployment d-1 not found"), want: statusView{Code: codes.NotFound, Message: "deployment d-1 not found"}},
		{name: "already exists", err: errors.E(op, errors.AlreadyExists, "workflow wf-1 has an active deployment"), want: statusView{Code: codes.AlreadyExists, Message: "workflow wf-1 has an active deployment"}},
		{name: "aborted", err: errors.E(op, errors.Aborted, "version mismatch"), want: statusView{Code: codes.Aborted, Message: "version mismatch"}},
		{name: "failed precondition", err: errors.E(op, errors.FailedPrecondition, "deployment is PAUSED"), want: statusView{Code: codes.FailedPrecondition, Message: "deployment is PAUSED"}},
		{name: "permission denied", err: errors.E(op, errors.PermissionDenied, "bad signature"), want: statusView{Code: codes.PermissionDenied, Message: "bad signature"}},
		{name: "unauthenticated", err: errors.E(op, errors.Unauthenticated, "missing credentials"), want: statusView{Code: codes.Unauthenticated, Message: "missing credentials"}},
		{name: "resource exhausted", err: errors.E(op, errors.ResourceExhausted, "rate limit exceeded"), want: statusView{Code: codes.ResourceExhausted, Message: "rate limit exceeded"}},
		{
			name: "retry advice: RetryInfo",
			err:  errors.E(op, errors.ResourceExhausted, errors.RetryAfter(2500*time.Millisecond), "backlog full"),
			want: statusView{Code: codes.ResourceExhausted, Message: "backlog full",
				Details: []proto.Message{&errdetails.RetryInfo{RetryDelay: durationpb.New(2500 * time.Millisecond)}}},
		},
		{name: "unavailable", err: errors.E(op, errors.Unavailable, "database unreachable"), want: statusView{Code: codes.Unavailable, Message: unavailableMessage}},
		{name: "kind without cause: the kind's name", err: errors.E(op, errors.NotFound), want: statusView{Code: codes.NotFound, Message: "not found"}},
		{name: "wrapped *Error", err: fmt.Errorf("handler: %w", errors.E(op, errors.NotFound, "gone")), want: statusView{Code: codes.NotFound, Message: "gone"}},
		{name: "internal hides its cause", err: errors.E(op, errors.Internal, "pq: password authentication failed for user admin"), want: statusView{Code: codes.Internal, Message: "internal error"}},
		{
			name: "internal with violations hides them",
			err:  errors.E(op, errors.Internal, errors.Violations{{Field: "secret", Description: "s3cret"}}),
			want: statusView{Code: codes.Internal, Message: "internal error"},
		},
		{name: "out-of-range kind is internal", err: &errors.Error{Op: op, Kind: errors.Kind(200), Err: errors.New("s3cret")}, want: statusView{Code: codes.Internal, Message: "internal error"}},
		{name: "plain error hides its cause", err: errors.New("dial tcp 10.0.0.5:5432: connection refused"), want: statusView{Code: codes.Internal, Message: "internal error"}},
		{name: "context error", err: context.Canceled, want: statusView{Code: codes.Canceled, Message: "Canceled"}},
		{name: "wrapped deadline", err: errors.E(errors.Op("store.Get"), errors.Unavailable, context.DeadlineExceeded), want: statusView{Code: codes.DeadlineExceeded, Message: "DeadlineExceeded"}},
		{name: "status error passes unchanged", err: existing.Err(), want: statusView{Code: codes.Aborted, Message: "engine says no"}},
		{
			name: "status error with details passes unchanged",
			err:  existingWithDetails.Err(),
			want: statusView{
				Code:    codes.InvalidArgument,
				Message: "engine validation",
				Details: []proto.Message{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "input_data", Description: "too large"}}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got := view(t, Status(tt.err))
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Status() mismatch (-want +got):\n%s", diff)
			}
			// No operation name and, for internal errors, no cause reaches the client.
			if strings.Contains(got.Message, string(op)) {
				t.Errorf("Status() message %q shows the operation", got.Message)
			}
			if strings.Contains(got.Message, "s3cret") || (got.Code == codes.Internal && got.Message != "internal error") {
				t.Errorf("Status() message %q leaks an internal cause", got.Message)
			}
		})
	}
}

// TestStatusWrappedStatusError pins what Status's doc comment and API.md §2 ask
// for an *errors.Error whose cause is a gRPC status error (e.g. the engine's
// answer wrapped as errors.E(op, errors.Unavailable, err)): the code of the
// kind and Message() without the operation, not the engine's code and text.
func TestStatusWrappedStatusError(t *testing.T) {
	t.Parallel()

	engineErr := status.Error(codes.Internal, "engine: nil pointer dereference at executor.go:42")
	got := view(t, Status(errors.E(errors.Op("engine.ExecuteWorkflow"), errors.Unavailable, engineErr)))
	want := statusView{Code: codes.Unavailable, Message: unavailableMessage}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Status() mismatch (-want +got):\n%s", diff)
	}
}

func TestErrorInterceptor(t *testing.T) {
	t.Parallel()

	type ctxKey struct{}
	info := &grpc.UnaryServerInfo{FullMethod: "/workflowruntime.v1.WorkflowRuntimeService/DeployWorkflow"}

	tests := []struct {
		name     string
		resp     any
		err      error
		wantResp any
		want     *statusView // nil: no error
	}{
		{name: "success passes through", resp: "the response", wantResp: "the response"},
		{name: "nil response, nil error", resp: nil, wantResp: nil},
		{
			name: "domain error converted",
			resp: "partial", err: errors.E(errors.Op("deployment.Status"), errors.NotFound, "deployment d-1 not found"),
			want: &statusView{Code: codes.NotFound, Message: "deployment d-1 not found"},
		},
		{
			name: "validation error converted with details",
			err:  errors.Violations{{Field: "workflow_id", Description: "must be set"}}.Err("deployment.Deploy"),
			want: &statusView{Code: codes.InvalidArgument, Message: "invalid argument: workflow_id: must be set", Details: []proto.Message{
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "workflow_id", Description: "must be set"}}},
			}},
		},
		{
			name: "plain error becomes internal, not unknown",
			err:  errors.New("boom"),
			want: &statusView{Code: codes.Internal, Message: "internal error"},
		},
		{
			name: "status error unchanged",
			err:  status.Error(codes.PermissionDenied, "no"),
			want: &statusView{Code: codes.PermissionDenied, Message: "no"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
			calls := 0
			handler := func(hctx context.Context, req any) (any, error) {
				calls++
				if hctx.Value(ctxKey{}) != "marker" || req != "the request" {
					t.Errorf("handler got ctx without marker or request %v", req)
				}
				return tt.resp, tt.err
			}

			resp, err := ErrorInterceptor(ctx, "the request", info, handler)
			require.Equal(t, 1, calls, "handler calls")
			if tt.want == nil {
				require.NoError(t, err)
				if diff := cmp.Diff(tt.wantResp, resp); diff != "" {
					t.Errorf("response mismatch (-want +got):\n%s", diff)
				}
				return
			}
			require.Error(t, err)
			if resp != nil {
				t.Errorf("response = %v, want nil on error", resp)
			}
			s, ok := status.FromError(err)
			require.True(t, ok, "error %T is not a status", err)
			if diff := cmp.Diff(*tt.want, view(t, s), protocmp.Transform()); diff != "" {
				t.Errorf("status mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
