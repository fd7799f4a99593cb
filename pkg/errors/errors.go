// Package errors gives every domain error a kind that maps one-to-one to a
// gRPC code (API.md §2), the operation that failed and its cause. Transports
// switch on the kind; they never compare error values.
package errors

import (
	stderrors "errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error for the caller. The zero value is Internal.
type Kind uint8

// Kinds, one per gRPC code that the service answers with.
const (
	Internal Kind = iota
	Invalid
	NotFound
	AlreadyExists
	Aborted
	FailedPrecondition
	PermissionDenied
	Unauthenticated
	ResourceExhausted
	Unavailable
)

var kindNames = [...]string{
	Internal:           "internal",
	Invalid:            "invalid argument",
	NotFound:           "not found",
	AlreadyExists:      "already exists",
	Aborted:            "aborted",
	FailedPrecondition: "failed precondition",
	PermissionDenied:   "permission denied",
	Unauthenticated:    "unauthenticated",
	ResourceExhausted:  "resource exhausted",
	Unavailable:        "unavailable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Op names the operation that failed, e.g. "deployment.Deploy".
type Op string

// Violation is one bad field of a request, named by its path
// (e.g. "workflow_definition.nodes[2].id").
type Violation struct {
	Field       string
	Description string
}

// Violations collects every problem of a request so that all are reported at once.
type Violations []Violation

// Addf records a violation of field, described by format and args as fmt.Sprintf does.
func (v *Violations) Addf(field, format string, args ...any) {
	*v = append(*v, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was recorded, else an Invalid error carrying the violations.
func (v Violations) Err(op Op) error {
	if len(v) == 0 {
		return nil
	}
	return &Error{Op: op, Kind: Invalid, Violations: v}
}

// RetryAfter is how long the caller had better wait before trying again,
// given to E; the gRPC transport sends it as google.rpc.RetryInfo, REST
// as Retry-After.
type RetryAfter time.Duration

// Error is the service's error type.
type Error struct {
	Op         Op
	Kind       Kind
	Err        error
	Violations Violations
	// RetryAfter, when set, is the wait that the caller is advised.
	RetryAfter time.Duration
}

// E builds an *Error from its arguments, in any order: an Op, a Kind, an error
// (the cause), a string (a message, turned into the cause), Violations and a
// RetryAfter. When the cause is itself an *Error whose kind or retry advice
// the arguments leave unset, its own is kept, so that wrapping does not lose
// how the caller must be answered.
func E(args ...any) error {
	e := &Error{}
	kindSet := false
	for _, arg := range args {
		switch a := arg.(type) {
		case nil:
			// A nil cause adds nothing: E(op, kind, err) stays safe when err is nil.
		case Op:
			e.Op = a
		case Kind:
			e.Kind, kindSet = a, true
		case error:
			e.Err = a
		case string:
			e.Err = stderrors.New(a)
		case Violations:
			e.Violations = a
		case RetryAfter:
			e.RetryAfter = time.Duration(a)
		default:
			panic(fmt.Sprintf("errors.E: bad argument of type %T", arg))
		}
	}
	if !kindSet {
		e.Kind = KindOf(e.Err)
	}
	var cause *Error
	if e.RetryAfter == 0 && As(e.Err, &cause) {
		e.RetryAfter = cause.RetryAfter
	}
	return e
}

// Errorf is E with a formatted message as the cause.
func Errorf(op Op, kind Kind, format string, args ...any) error {
	return &Error{Op: op, Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Error formats the chain of operations and the cause; an operation repeated
// by a wrapping error is written once.
func (e *Error) Error() string { return e.format(true, "") }

// Message is the error without any operation: what a caller is shown.
func (e *Error) Message() string { return e.format(false, "") }

func (e *Error) format(withOps bool, outerOp Op) string {
	var b strings.Builder
	if withOps && e.Op != "" && e.Op != outerOp {
		b.WriteString(string(e.Op))
		b.WriteString(": ")
	}
	var inner *Error
	switch {
	case As(e.Err, &inner) && inner == e.Err: //nolint:errorlint // the direct cause only: a wrapped one keeps its wrapper's text
		b.WriteString(inner.format(withOps, e.Op))
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString(e.Kind.String())
	}
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(v.Field + ": " + v.Description)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the outermost *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether any error in err's chain matches target.
func Is(err, target error) bool { return stderrors.Is(err, target) }

// As finds the first error in err's chain that matches target.
func As(err error, target any) bool { return stderrors.As(err, target) }

// New returns an error that formats as text.
func New(text string) error { return stderrors.New(text) }
