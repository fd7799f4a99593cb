package engine

import (
	"context"
	"time"

	"github.com/go-kit/kit/metrics"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// Values of the method label of the engine metrics, one per Client method.
const (
	MethodExecute = "execute"
	MethodStatus  = "status"
	MethodCancel  = "cancel"
)

// Values of the reason label of Metrics.Errors.
const (
	// ReasonUnavailable: the engine could not be reached, every retry included.
	ReasonUnavailable = "unavailable"
	// ReasonCircuitOpen: the call was not made, recent calls having found
	// the engine unavailable.
	ReasonCircuitOpen = "circuit_open"
	// ReasonRejected: the engine refused the call for good (ErrRejected).
	ReasonRejected = "rejected"
	// ReasonCanceled: the caller gave up first (shutdown, its own
	// deadline); this says nothing about the engine.
	ReasonCanceled = "canceled"
	// ReasonError: any other failed answer, or one the runtime could not read.
	ReasonError = "error"
)

// Methods and Reasons list the label values, so that every series can be
// exported at zero before the first call.
var (
	Methods = []string{MethodExecute, MethodStatus, MethodCancel}
	Reasons = []string{ReasonUnavailable, ReasonCircuitOpen, ReasonRejected, ReasonCanceled, ReasonError}
)

// Metrics are what Instrument records of each Client call, retries and
// backoff included, as the caller waits for it.
type Metrics struct {
	// Duration observes each call's seconds, labelled method and outcome:
	// "ok" or one of the reasons.
	Duration metrics.Histogram
	// Errors counts the calls that failed, labelled method and reason.
	Errors metrics.Counter
	// Now is the clock calls are timed by [time.Now].
	Now func() time.Time
}

// Instrument returns c recording m for each call.
func Instrument(c Client, m Metrics) Client {
	if m.Now == nil {
		m.Now = time.Now
	}
	return &instrumented{next: c, m: m}
}

type instrumented struct {
	next Client
	m    Metrics
}

func (c *instrumented) Execute(ctx context.Context, req ExecuteRequest) (Accepted, error) {
	start := c.m.Now()
	a, err := c.next.Execute(ctx, req)
	c.observe(MethodExecute, start, err)
	return a, err
}

func (c *instrumented) Status(ctx context.Context, engineExecutionID string) (Status, error) {
	start := c.m.Now()
	s, err := c.next.Status(ctx, engineExecutionID)
	c.observe(MethodStatus, start, err)
	return s, err
}

func (c *instrumented) Cancel(ctx context.Context, engineExecutionID, reason string) error {
	start := c.m.Now()
	err := c.next.Cancel(ctx, engineExecutionID, reason)
	c.observe(MethodCancel, start, err)
	return err
}

// observe records one call of method begun at start that ended with err.
func (c *instrumented) observe(method string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = reason(err)
		c.m.Errors.With("method", method, "reason", outcome).Add(1)
	}
	c.m.Duration.With("method", method, "outcome", outcome).Observe(c.m.Now().Sub(start).Seconds())
}

// reason classifies a failed call for Metrics.Errors.
func reason(err error) string {
	switch {
	case errors.Is(err, ErrCircuitOpen):
		return ReasonCircuitOpen
	case errors.Is(err, ErrRejected):
		return ReasonRejected
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ReasonCanceled
	case errors.KindOf(err) == errors.Unavailable:
		return ReasonUnavailable
	}
	return ReasonError
}
