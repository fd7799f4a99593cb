package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"

	"github.com/workflow-runtime/workflow-runtime/transport"
)

// Bounds of a REST request body. The gateway decodes a body into protobuf
// Struct values, the gRPC server decodes it again, and the service turns it
// into maps: measured with grpc-gateway v2.33, one JSON value (as scanJSON
// counts them) costs 120 to 444 bytes in those three trees together, the
// most in deeply nested objects, whatever its length in text. So a body is
// weighed by its values, counted before decoding, not only by its bytes.
const (
	// maxBodyDepth is above what any valid request nests: a definition is at
	// most 64 levels deep, and the request around it adds one.
	maxBodyDepth = 100
	// maxBodyValues is 1.5 times the values of the largest valid definition
	// (1 MiB of "{}," elements).
	maxBodyValues = 1 << 20
	// costPerValue and costPerByte weigh a body against the budget: the
	// three trees per value, and the body's own copies (text, the protobuf
	// message between gateway and server, the service's JSON).
	costPerValue = 448
	costPerByte  = 4
	// admitWait bounds how long a body waits to be read or decoded while
	// others take the budget; it is then refused with RESOURCE_EXHAUSTED.
	admitWait = 30 * time.Second
)

// bodyLimiter authenticates nothing: it stands after the authentication
// middleware, so that only a caller with credentials makes the server read
// a body.
type bodyLimiter struct {
	next     http.Handler
	maxBytes int64
	budget   *transport.Budget
	// reading bounds the bytes of bodies read but not yet admitted to the
	// budget. A body holds its place here while it waits for the budget, and
	// a body admitted to the budget never waits here, so the two cannot
	// wait on each other.
	reading *semaphore.Weighted
	// wait is admitWait, but in tests.
	wait time.Duration
}

// limitBodies refuses bodies above maxBytes, too deep or with too many JSON
// values, and admits the rest to next as budget allows.
func limitBodies(next http.Handler, maxBytes int64, budget *transport.Budget) http.Handler {
	return &bodyLimiter{next: next, maxBytes: maxBytes, budget: budget, reading: semaphore.NewWeighted(8 * maxBytes), wait: admitWait}
}

func (l *bodyLimiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		l.next.ServeHTTP(w, r)
		return
	}
	if r.ContentLength > l.maxBytes {
		writeError(w, http.StatusBadRequest, codes.InvalidArgument, tooLarge(l.maxBytes))
		return
	}
	// A body of unknown length may be as long as allowed.
	reserved := r.ContentLength
	if reserved < 0 {
		reserved = l.maxBytes
	}
	ctx, cancel := context.WithTimeout(r.Context(), l.wait)
	defer cancel()
	if err := l.reading.Acquire(ctx, reserved); err != nil {
		busy(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, l.maxBytes))
	n := int64(len(body))
	l.reading.Release(reserved - n)
	admitted := false
	defer func() {
		if !admitted {
			l.reading.Release(n)
		}
	}()
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusBadRequest, codes.InvalidArgument, tooLarge(l.maxBytes))
		}
		// Otherwise the client is gone or stalled: no one reads an answer.
		return
	}
	depth, values := scanJSON(body)
	switch {
	case depth > maxBodyDepth:
		writeError(w, http.StatusBadRequest, codes.InvalidArgument, fmt.Sprintf("the request body is nested more than %d levels deep", maxBodyDepth))
		return
	case values > maxBodyValues:
		writeError(w, http.StatusBadRequest, codes.InvalidArgument, fmt.Sprintf("the request body holds more than %d JSON values", maxBodyValues))
		return
	}
	release, err := l.budget.Acquire(ctx, int64(values)*costPerValue+n*costPerByte)
	if err != nil {
		busy(w, r)
		return
	}
	defer release()
	l.reading.Release(n)
	admitted = true
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), n
	l.next.ServeHTTP(w, r)
}

// scanJSON returns how deep body nests and how many values it holds, as
// decoding it would find them, without decoding or validating it: openings,
// members and elements are counted, which follows what decoding allocates.
func scanJSON(body []byte) (depth, values int) {
	level := 0
	inString, escaped := false, false
	for _, c := range body {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			level++
			depth = max(depth, level)
			values++
		case '}', ']':
			level--
		case ',', ':':
			values++
		}
	}
	return depth, values
}

func tooLarge(maxBytes int64) string {
	return fmt.Sprintf("the request body is larger than %d bytes", maxBytes)
}

// busy refuses a body that found no room, unless its caller is gone.
func busy(w http.ResponseWriter, r *http.Request) {
	if r.Context().Err() == nil {
		writeError(w, http.StatusTooManyRequests, codes.ResourceExhausted,
			"the server is busy decoding other large requests: retry later")
	}
}

// errorBody is shaped like the gateway's errors.
type errorBody struct {
	Code    codes.Code `json:"code"`
	Message string     `json:"message"`
}

// writeError answers with an errorBody.
func writeError(w http.ResponseWriter, status int, code codes.Code, message string) {
	b, _ := json.Marshal(errorBody{code, message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
