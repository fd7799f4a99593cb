package errors

import "google.golang.org/grpc/codes"

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

// Code is the gRPC code that answers err (API.md §2): OK for nil, the kind's
// code for an *Error, Canceled or DeadlineExceeded for a context error, and
// Internal for anything else.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
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
