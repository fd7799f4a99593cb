package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes. They are part of the interface: scripts branch on them, so a
// code keeps its meaning once released. exitHelp in root.go lists them.
const (
	exitOK = 0
	// exitError is every failure without a code of its own: an internal
	// error of the server, an answer that cannot be written.
	exitError = 1
	// exitUsage: the command line, an environment variable or an input file
	// is wrong, and nothing was sent.
	exitUsage = 2
	// exitNotFound: NOT_FOUND, no such deployment, execution or backfill.
	exitNotFound = 3
	// exitInvalid: INVALID_ARGUMENT, the server refused the request itself.
	exitInvalid = 4
	// exitConflict: ALREADY_EXISTS or ABORTED, the request collides with
	// another deployment or an expected version.
	exitConflict = 5
	// exitPrecondition: FAILED_PRECONDITION, not allowed in the current
	// state (pausing a paused deployment, cancelling a finished execution).
	exitPrecondition = 6
	// exitAuth: UNAUTHENTICATED or PERMISSION_DENIED.
	exitAuth = 7
	// exitUnavailable: UNAVAILABLE, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED,
	// or health reporting "unhealthy": trying again later may succeed.
	exitUnavailable = 8
	// exitRunFailed: trigger --wait saw its execution end other than
	// SUCCEEDED (FAILED, CANCELLED, TIMED_OUT or SKIPPED).
	exitRunFailed = 9
	// exitInterrupted: an interrupt stopped the command before it finished,
	// as shells report a process that SIGINT ended (128 + 2).
	exitInterrupted = 130
)

// usageError is a mistake of the caller found before anything was sent.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// codeError ends a command that did its work with a code that tells the
// outcome, as trigger --wait does for a failed execution.
type codeError struct {
	code int
	msg  string
}

func (e codeError) Error() string { return e.msg }

// commandError is an error a command's RunE returned, as opposed to one of
// cobra's own (an unknown command or flag, a missing argument), which are
// usage errors.
type commandError struct{ err error }

func (e commandError) Error() string { return e.err.Error() }
func (e commandError) Unwrap() error { return e.err }

// grpcExit maps each gRPC code to the exit code scripts see.
var grpcExit = map[codes.Code]int{
	codes.NotFound:           exitNotFound,
	codes.InvalidArgument:    exitInvalid,
	codes.OutOfRange:         exitInvalid,
	codes.AlreadyExists:      exitConflict,
	codes.Aborted:            exitConflict,
	codes.FailedPrecondition: exitPrecondition,
	codes.Unauthenticated:    exitAuth,
	codes.PermissionDenied:   exitAuth,
	codes.Unavailable:        exitUnavailable,
	codes.ResourceExhausted:  exitUnavailable,
	codes.DeadlineExceeded:   exitUnavailable,
	codes.Canceled:           exitInterrupted,
}

// report writes err to w, one problem per line, and returns its exit code.
// usageHint follows a usage error: where to read how the command is used.
func report(w io.Writer, err error, usageHint string) int {
	var (
		ue usageError
		ce codeError
		me commandError
	)
	switch {
	case errors.As(err, &ue), !errors.As(err, &me):
		fmt.Fprintf(w, "wfr: %v\n%s\n", err, usageHint)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(w, "wfr: %s\n", ce.msg)
		return ce.code
	}
	st, ok := status.FromError(me.err)
	switch {
	case ok:
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "wfr: interrupted")
		return exitInterrupted
	default:
		fmt.Fprintf(w, "wfr: %v\n", err)
		return exitError
	}
	// google.rpc.Code spells the codes as the API documentation does: NOT_FOUND.
	fmt.Fprintf(w, "wfr: %s: %s\n", code.Code(st.Code()), st.Message())
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				// The message often lists the violations already.
				if line := v.GetField() + ": " + v.GetDescription(); !strings.Contains(st.Message(), line) {
					fmt.Fprintf(w, "  %s\n", line)
				}
			}
		}
	}
	if c, ok := grpcExit[st.Code()]; ok {
		return c
	}
	return exitError
}
