package endpoint

import (
	"context"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
)

// Chain returns the middleware every endpoint gets, for the RPC named method.
// Outermost first: the trace id exists before anything logs; logging and
// metrics see every outcome, rate-limit rejections included; the limiter
// stands last so that a rejected call costs nothing more.
func Chain(logger log.Logger, duration metrics.Histogram, limiter *rate.Limiter) func(method string) endpoint.Middleware {
	return func(method string) endpoint.Middleware {
		return endpoint.Chain(
			TraceMiddleware(),
			LoggingMiddleware(logger, method),
			InstrumentingMiddleware(duration, method),
			RateLimitMiddleware(limiter),
		)
	}
}

// TraceMiddleware gives the request its trace id (see package tracing).
func TraceMiddleware() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			ctx, _ = tracing.Start(ctx)
			return next(ctx, request)
		}
	}
}

// Refusals for want of room (RESOURCE_EXHAUSTED: back-pressure, the rate
// limit) are logged at most refusalLogRate lines a second per method, in
// bursts of refusalLogBurst, with a count of those left out: a caller
// that retries at once is refused thousands of times a second, and a line
// for each cost more than the refusal. The RPC duration and refusal
// metrics count every one.
const (
	refusalLogRate  = 5
	refusalLogBurst = 20
)

// LoggingMiddleware writes one line per call: info when it succeeded, warn
// when the caller was at fault, error when the service was; refusals for
// want of room are throttled.
func LoggingMiddleware(logger log.Logger, method string) endpoint.Middleware {
	refusals := logging.NewThrottled(logger, refusalLogRate, refusalLogBurst)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (resp any, err error) {
			defer func(begin time.Time) {
				code := errors.Code(err)
				to := logger
				if code == codes.ResourceExhausted {
					to = refusals
				}
				l := log.With(to, "msg", "rpc", "method", method, "trace_id", tracing.TraceID(ctx),
					"code", code.String(), "took_ms", float64(time.Since(begin).Microseconds())/1000)
				switch {
				case err == nil:
					level.Info(l).Log()
				case isServerFault(err):
					level.Error(l).Log("err", err, "error_kind", errors.KindOf(err).String())
				default:
					level.Warn(l).Log("err", err, "error_kind", errors.KindOf(err).String())
				}
			}(time.Now())
			return next(ctx, request)
		}
	}
}

func isServerFault(err error) bool {
	switch errors.Code(err) {
	case codes.Internal, codes.Unavailable, codes.Unknown:
		return true
	}
	return false
}

// InstrumentingMiddleware observes each call's duration by method and gRPC code.
func InstrumentingMiddleware(duration metrics.Histogram, method string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (resp any, err error) {
			defer func(begin time.Time) {
				duration.With("method", method, "code", errors.Code(err).String()).Observe(time.Since(begin).Seconds())
			}(time.Now())
			return next(ctx, request)
		}
	}
}

// RateLimitMiddleware rejects calls above the limiter's rate with
// RESOURCE_EXHAUSTED; a nil limiter lets everything through.
func RateLimitMiddleware(limiter *rate.Limiter) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		if limiter == nil {
			return next
		}
		return func(ctx context.Context, request any) (any, error) {
			if !limiter.Allow() {
				return nil, errors.E(errors.Op("endpoint.RateLimit"), errors.ResourceExhausted, "rate limit exceeded: retry later")
			}
			return next(ctx, request)
		}
	}
}
