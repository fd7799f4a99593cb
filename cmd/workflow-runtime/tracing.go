package main

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// flushTracing stops the tracer provider (see tracing.Setup), exporting the
// spans it still holds by deadline. Only the first call does anything.
func flushTracing(stop func(context.Context) error, deadline time.Time, logger log.Logger) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := stop(ctx); err != nil {
		level.Warn(logger).Log("msg", "spans not all exported by the shutdown deadline", "err", err)
	}
}
