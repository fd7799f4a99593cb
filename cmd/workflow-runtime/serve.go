package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/redis/go-redis/v9"

	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
)

// startTimeout bounds connecting to the database at start, so that an
// unreachable host fails the start instead of hanging it.
const startTimeout = 30 * time.Second

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) int {
	cfg, err := config.Load("serve", args, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	logger, logLevel, closeLog, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer closeLog()
	redis.SetLogger(redisLogger{level.Warn(log.With(logger, "component", "redis"))})
	setMemoryLimit(logger)
	if err := listenAndServe(ctx, cfg, logger, logLevel); err != nil {
		level.Error(logger).Log("msg", "workflow-runtime stopped", "err", err)
		return 1
	}
	level.Info(logger).Log("msg", "stopped")
	return 0
}

// listenAndServe opens the two ports and serves on them.
func listenAndServe(ctx context.Context, cfg config.Config, logger log.Logger, logLevel *logging.Level) error {
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	defer grpcLis.Close()
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	defer httpLis.Close()
	return serveWith(ctx, cfg, logger, logLevel, grpcLis, httpLis)
}

// serveWith builds a replica and runs it on the listeners until ctx ends
// or SIGINT or SIGTERM comes, then drains it and closes what it opened.
func serveWith(ctx context.Context, cfg config.Config, logger log.Logger, logLevel *logging.Level, grpcLis, httpLis net.Listener) error {
	level.Info(logger).Log("msg", "starting", "version", version, "config", fmt.Sprintf("%+v", cfg.Redacted()))
	r, err := build(ctx, cfg, logger, logLevel)
	if err != nil {
		return err
	}
	defer r.close()
	return r.run(ctx, grpcLis, httpLis)
}

// setMemoryLimit makes the Go runtime collect garbage harder as the heap
// nears 90 % of the container's memory limit, read from its cgroup, instead
// of letting it double before a collection and be killed for it. A
// GOMEMLIMIT set in the environment wins.
func setMemoryLimit(logger log.Logger) {
	limit, err := memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup))
	switch {
	case err != nil:
		level.Warn(logger).Log("msg", "memory limit not set: the container's could not be read", "err", err)
	case limit == math.MaxInt64:
		level.Info(logger).Log("msg", "memory limit: none (no container limit, no GOMEMLIMIT)")
	default:
		level.Info(logger).Log("msg", "memory limit", "go_mem_limit_bytes", limit)
	}
}

// redisLogger routes go-redis's internal messages (pool dial failures) into
// the service's log instead of the standard library's.
type redisLogger struct{ logger log.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.logger.Log("msg", fmt.Sprintf(format, v...))
}
