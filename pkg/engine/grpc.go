package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// Options tune the gRPC client; zero values take the defaults named below.
type Options struct {
	// CallTimeout is each attempt's deadline (default 5 s); the caller's
	// context bounds the call as a whole, retries included.
	CallTimeout time.Duration
	// MaxAttempts counts the first attempt (default 5); 1 disables retries.
	MaxAttempts int
	// BaseBackoff is the wait before the first retry (default 100 ms); it
	// doubles per retry up to MaxBackoff (default 5 s), and each wait is drawn
	// from its upper half so that replicas retrying together spread out.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// BreakerFailures is how many consecutive attempts that found the engine
	// unavailable open the circuit breaker (default 5).
	BreakerFailures uint32
	// BreakerOpenFor is how long an open breaker fails calls fast before it
	// lets one probe through (default 10 s).
	BreakerOpenFor time.Duration
	// OmitDefinition stops sending the deployed definition as the
	// workflow_definition metadata, for engines that load it themselves. It
	// is a negative so that the contract's default, sending it, is the zero value.
	OmitDefinition bool
	// Sleep waits between attempts and must return ctx's error if ctx ends
	// first; nil uses a timer. Tests replace it to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxBackoff < o.BaseBackoff {
		o.MaxBackoff = o.BaseBackoff
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpenFor <= 0 {
		o.BreakerOpenFor = 10 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

// Dial returns a connection to the engine at target. It is plaintext unless
// opts say otherwise: they are applied after the default, so a
// grpc.WithTransportCredentials among them replaces it. The connection is
// made lazily, so an engine that is down does not fail startup. When spans
// are recorded (tracing.Recording, at the time of the call), every attempt
// is a client span whose W3C traceparent goes in the call's metadata;
// otherwise only the traceparent goes, which otelgrpc's handler would also
// send, without the handler's cost on every call.
func Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	traced := grpc.WithUnaryInterceptor(propagate)
	if tracing.Recording() {
		traced = grpc.WithStatsHandler(otelgrpc.NewClientHandler())
	}
	return grpc.NewClient(target, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		traced,
	}, opts...)...)
}

// propagate sends the W3C traceparent of ctx's span context, if it has one,
// in the call's metadata.
func propagate(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if tp := tracing.TraceParent(trace.SpanContextFromContext(ctx)); tp != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", tp)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// NewGRPC returns a Client speaking workflow_engine.WorkflowService over
// conn. Every attempt goes through one circuit breaker shared by the three
// methods, since they all fail together when the engine is down. Every call
// is a span, retries included.
func NewGRPC(conn grpc.ClientConnInterface, opts Options) Client {
	opts = opts.withDefaults()
	return traced{&grpcClient{
		rpc:  pb.NewWorkflowServiceClient(conn),
		opts: opts,
		breaker: gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name: "workflow-engine",
			// Only outcomes reported as errEngineDown count as failures: an
			// engine that answers, even "no", is up.
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= opts.BreakerFailures },
			Timeout:     opts.BreakerOpenFor,
			IsExcluded:  func(err error) bool { return errors.Is(err, errCallerGaveUp) },
		}),
	}}
}

type grpcClient struct {
	rpc     pb.WorkflowServiceClient
	opts    Options
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// Outcomes reported to the breaker.
var (
	errEngineDown   = errors.New("engine unavailable")
	errCallerGaveUp = errors.New("caller gave up")
)

func (c *grpcClient) Execute(ctx context.Context, req ExecuteRequest) (Accepted, error) {
	const op errors.Op = "engine.Execute"
	in, err := buildExecuteRequest(req, !c.opts.OmitDefinition)
	if err != nil {
		return Accepted{}, errors.E(op, err)
	}
	// Execute may be retried after a deadline, when the engine may have
	// started the execution without our hearing of it: every attempt carries
	// the same idempotency_key, so the engine returns that execution instead
	// of starting a second one.
	resp, err := invoke(ctx, c, op, true, func(ctx context.Context) (*pb.ExecuteWorkflowResponse, error) {
		return c.rpc.ExecuteWorkflow(ctx, in)
	})
	if err != nil {
		return Accepted{}, err
	}
	// ERROR with an execution id is an execution that ran and failed (an
	// engine that deduped a retried dispatch answers with the status the
	// execution has reached); ERROR without one is the engine refusing it.
	if resp.GetExecutionId() == "" {
		if resp.GetStatus() == pb.ExecutionStatus_ERROR {
			msg := resp.GetError().GetMessage()
			if msg == "" {
				msg = resp.GetMessage()
			}
			return Accepted{}, errors.E(op, errors.FailedPrecondition, fmt.Errorf("%w: %s", ErrRejected, msg))
		}
		return Accepted{}, errors.E(op, errors.Internal, "engine accepted the execution without an execution id")
	}
	st, err := state(resp.GetStatus())
	if err != nil {
		return Accepted{}, errors.E(op, errors.Internal, err)
	}
	acc := Accepted{EngineExecutionID: resp.GetExecutionId(), Status: Status{State: st, Found: true}}
	// Only the error data explains a failure: the message may be about the
	// call itself ("duplicate idempotency_key").
	if st == workflow.ExecutionFailed {
		acc.Status.Error = resp.GetError().GetMessage()
	}
	return acc, nil
}

func (c *grpcClient) Status(ctx context.Context, engineExecutionID string) (Status, error) {
	const op errors.Op = "engine.Status"
	if engineExecutionID == "" {
		return Status{}, errors.E(op, errors.Internal, "empty engine execution id")
	}
	// A status read has no effect, so it is retried like Execute.
	resp, err := invoke(ctx, c, op, true, func(ctx context.Context) (*pb.GetExecutionStatusResponse, error) {
		return c.rpc.GetExecutionStatus(ctx, &pb.GetExecutionStatusRequest{ExecutionId: engineExecutionID})
	})
	// The contract says "unknown" with found=false; an engine answering
	// NOT_FOUND means the same, and the coordinator should not care which.
	if errors.KindOf(err) == errors.NotFound {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	if !resp.GetFound() {
		return Status{}, nil
	}
	if resp.GetExecution() == nil {
		return Status{}, errors.E(op, errors.Internal, "engine found the execution but sent none")
	}
	s, err := statusOf(resp.GetExecution(), resp.GetMessage())
	if err != nil {
		return Status{}, errors.E(op, errors.Internal, err)
	}
	return s, nil
}

func (c *grpcClient) Cancel(ctx context.Context, engineExecutionID, reason string) error {
	const op errors.Op = "engine.Cancel"
	if engineExecutionID == "" {
		return errors.E(op, errors.Internal, "empty engine execution id")
	}
	// Not retried after a deadline: if the first attempt cancelled the
	// execution unseen, the retry would be told success=false and turn a
	// cancellation into a rejection.
	resp, err := invoke(ctx, c, op, false, func(ctx context.Context) (*pb.CancelExecutionResponse, error) {
		return c.rpc.CancelExecution(ctx, &pb.CancelExecutionRequest{ExecutionId: engineExecutionID, Reason: reason})
	})
	if err != nil {
		return err
	}
	if !resp.GetSuccess() {
		return errors.E(op, errors.FailedPrecondition, fmt.Errorf("%w: %s", ErrRejected, resp.GetMessage()))
	}
	return nil
}

// invoke runs call through the breaker, retrying with backoff while the
// engine is unavailable: on UNAVAILABLE, and on DEADLINE_EXCEEDED of an
// attempt when the call is idempotent. Any other answer is final.
func invoke[T any](ctx context.Context, c *grpcClient, op errors.Op, idempotent bool, call func(context.Context) (T, error)) (T, error) {
	var zero T
	var failed error
	for attempt := 1; ; attempt++ {
		done, err := c.breaker.Allow()
		switch {
		case err != nil && failed != nil:
			// An earlier attempt may have reached the engine: the call is
			// not one that surely did not, which ErrCircuitOpen says.
			return zero, errors.E(op, errors.Unavailable, fmt.Errorf("engine unavailable after %d attempt(s), then the circuit breaker opened: %w", attempt-1, failed))
		case err != nil:
			// Open, or half-open with its probe already out.
			return zero, errors.E(op, errors.Unavailable, ErrCircuitOpen)
		}
		callCtx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
		resp, err := call(callCtx)
		cancel()
		if err == nil {
			done(nil)
			return resp, nil
		}
		// The caller's own cancellation or deadline says nothing about the engine.
		if ctx.Err() != nil {
			done(errCallerGaveUp)
			return zero, errors.E(op, ctx.Err())
		}
		code := status.Code(err)
		if code != codes.Unavailable && code != codes.DeadlineExceeded {
			done(nil)
			return zero, answerError(op, err)
		}
		done(errEngineDown)
		failed = err
		if (code == codes.DeadlineExceeded && !idempotent) || attempt >= c.opts.MaxAttempts {
			return zero, errors.E(op, errors.Unavailable, fmt.Errorf("engine unavailable after %d attempt(s): %w", attempt, err))
		}
		if err := c.opts.Sleep(ctx, c.opts.backoff(attempt)); err != nil {
			return zero, errors.E(op, err)
		}
	}
}

// answerError maps an answer of the engine to a kind. Its permission errors
// are the runtime's misconfiguration, not the caller's, hence Internal.
func answerError(op errors.Op, err error) error {
	s := status.Convert(err)
	switch s.Code() {
	case codes.InvalidArgument:
		return errors.E(op, errors.Invalid, fmt.Errorf("%w: %s", ErrRejected, s.Message()))
	case codes.FailedPrecondition:
		return errors.E(op, errors.FailedPrecondition, fmt.Errorf("%w: %s", ErrRejected, s.Message()))
	case codes.NotFound:
		return errors.E(op, errors.NotFound, err)
	case codes.ResourceExhausted:
		return errors.E(op, errors.ResourceExhausted, err)
	}
	return errors.E(op, errors.Internal, err)
}

// backoff is the wait after the attempt-th failure: BaseBackoff doubled per
// retry, capped at MaxBackoff, drawn from [d/2, d].
func (o Options) backoff(attempt int) time.Duration {
	d := o.BaseBackoff
	for i := 1; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
