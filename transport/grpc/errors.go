package grpc

import (
	"context"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// unavailableMessage answers every UNAVAILABLE error.
const unavailableMessage = "a dependency of the service is unavailable: retry later"

// ErrorInterceptor translates every handler's error into a gRPC status with
// the code of its kind, so that no plain error reaches a client as Unknown.
// Validation errors carry a google.rpc.BadRequest with one violation per field,
// errors with retry advice a google.rpc.RetryInfo.
func ErrorInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err == nil {
		return resp, nil
	}
	return nil, Status(err).Err()
}

// Status returns the gRPC status that answers err. A domain error decides
// the code even when its cause is a status from another service; a bare
// status passes unchanged; internal causes are not shown to the caller.
func Status(err error) *status.Status {
	code := errors.Code(err)
	if code == codes.Canceled || code == codes.DeadlineExceeded {
		return status.New(code, code.String())
	}
	var e *errors.Error
	if !errors.As(err, &e) {
		if s, ok := status.FromError(err); ok {
			return s
		}
		return status.New(codes.Internal, "internal error")
	}
	switch code {
	case codes.Internal:
		return status.New(code, "internal error")
	case codes.Unavailable:
		// The cause names hosts and ports of the service's dependencies: it is
		// logged, not shown.
		return status.New(code, unavailableMessage)
	}
	st := status.New(code, e.Message())
	var details []protoadapt.MessageV1
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		details = append(details, br)
	}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	if len(details) == 0 {
		return st
	}
	if withDetails, derr := st.WithDetails(details...); derr == nil {
		return withDetails
	}
	return st
}
