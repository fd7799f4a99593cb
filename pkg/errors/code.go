package errors

import (
	"context"

	"google.golang.org/grpc/codes"
)

var kindCodes = [...]codes.Code{
	Internal:           codes.Internal,
	Invalid:            codes.InvalidArgument,
	NotFound:           codes.NotFound,
	AlreadyExists:      codes.AlreadyExists,
	Aborted:            codes.Aborted,
	FailedPrecondition: codes.FailedPrecondition,
	PermissionDenied:   codes.PermissionDenied,
	Unauthenticated:    codes.Unauthenticated,
	ResourceExhausted:  codes.ResourceExhausted,
	Unavailable:        codes.Unavailable,
}

// Code is the gRPC code that answers err (API.md §2): OK for nil, Canceled or
// DeadlineExceeded when a context error is in the chain (the caller gave up or
// ran out of time, whatever the kind), the kind's code for an *Error, and
// Internal for anything else.
func Code(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case Is(err, context.Canceled):
		return codes.Canceled
	case Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	var e *Error
	if As(err, &e) {
		if int(e.Kind) < len(kindCodes) {
			return kindCodes[e.Kind]
		}
		return codes.Internal
	}
	return codes.Internal
}
