package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/go-kit/log/level"
	rungroup "github.com/oklog/run"
	"google.golang.org/grpc/tap"

	"github.com/workflow-runtime/workflow-runtime/transport"
	grpctransport "github.com/workflow-runtime/workflow-runtime/transport/grpc"
	httptransport "github.com/workflow-runtime/workflow-runtime/transport/http"
)

// run serves the replica on the two listeners until ctx ends, SIGINT or
// SIGTERM comes, or a server fails, and then shuts it down.
func (r *replica) run(ctx context.Context, grpcLis, httpLis net.Listener) error {
	// Each port holds at most WFR_MAX_CONNECTIONS, and closes those that
	// make no admitted call within WFR_PREAUTH_TIMEOUT.
	r.grpcLis = transport.NewListener(grpcLis, r.cfg.MaxConnections, r.cfg.PreAuthTimeout)
	httpPort := transport.NewListener(httpLis, r.cfg.MaxConnections, r.cfg.PreAuthTimeout)
	// Authentication comes before anything reads a body; it marks the
	// connections of the calls it admits.
	r.httpServer.Handler = r.sec.auth.Middleware(httptransport.MarkAdmitted(httpPort, r.httpServer.Handler))
	var servedHTTP net.Listener = httpPort
	if r.httpServer.TLSConfig != nil {
		servedHTTP = tls.NewListener(httpPort, r.httpServer.TLSConfig)
	}
	r.gateway.Serve(r.gatewayServer)

	// The background components start in order, and those started stop
	// again if one fails to. The ports serve nothing before the run group
	// runs, so readiness can be set first, for gRPC health's first status.
	r.checker.SetReady(true)
	started := 0
	for _, s := range r.background() {
		if err := s.Start(ctx); err != nil {
			r.stopStarted(started)
			return err
		}
		started++
	}
	level.Info(r.logger).Log("msg", "webhook index loaded", "paths", r.index.Len())
	level.Info(r.logger).Log("msg", "scheduler started", "cron_triggers", r.sched.Held(), "cron_mode", r.sched.Mode())

	// The run group waits for the first of a signal, ctx's end or a
	// server's failure; the first interrupt then shuts everything down in
	// shutdown's order, and the others find it done.
	shutdown := sync.OnceFunc(r.shutdown)
	var g rungroup.Group
	g.Add(rungroup.SignalHandler(ctx, syscall.SIGINT, syscall.SIGTERM))
	g.Add(func() error {
		level.Info(r.logger).Log("msg", "http serving", "addr", httpLis.Addr().String())
		if err := r.httpServer.Serve(servedHTTP); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) { shutdown() })
	g.Add(func() error {
		level.Info(r.logger).Log("msg", "grpc serving", "addr", grpcLis.Addr().String())
		return r.grpcServer.Serve(r.grpcLis)
	}, func(error) { shutdown() })

	err := g.Run()
	if errors.Is(err, rungroup.ErrSignal) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// admitGRPC is the gRPC port's tap: the token check, which also tells the
// port's listener of the calls it admits.
func (r *replica) admitGRPC(ctx context.Context, info *tap.Info) (context.Context, error) {
	return grpctransport.AuthTap(r.sec.auth, r.grpcLis)(ctx, info)
}

// shutdown drains the replica, as ARCHITECTURE.md "Shutdown" says, in one
// WFR_DRAIN_DELAY + WFR_SHUTDOWN_TIMEOUT, fixed when it starts, so that the
// steps share it instead of each taking all of it.
func (r *replica) shutdown() {
	cfg, logger := r.cfg, r.logger
	deadline := time.Now().Add(cfg.DrainDelay + cfg.ShutdownTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	// Readiness drops first and stays 503 for WFR_DRAIN_DELAY, so that load
	// balancers stop sending.
	r.checker.SetReady(false)
	_ = r.health.Stop(ctx)
	level.Info(logger).Log("msg", "draining: not ready", "drain_delay", cfg.DrainDelay, "shutdown_timeout", cfg.ShutdownTimeout)
	time.Sleep(cfg.DrainDelay)

	// No new fires, and no more backfilled slots: the chunk under way is
	// given up to the other replicas.
	_ = r.sched.Stop(ctx)
	_ = r.recorder.Stop(ctx)
	_ = r.backfill.Stop(ctx)
	level.Info(logger).Log("msg", "scheduler stopped: no new fires, no backfilled slots")
	// A retention pass stops after its batch and gives its lease up.
	_ = r.retention.Stop(ctx)

	// HTTP drains while the gRPC server that its REST calls go through
	// still serves; then that server has nothing left and stops.
	if err := r.httpServer.Shutdown(ctx); err != nil {
		_ = r.httpServer.Close()
		level.Warn(logger).Log("msg", "http calls cut off at the shutdown deadline", "err", err)
	}
	r.gatewayServer.Stop()
	level.Info(logger).Log("msg", "http stopped")

	// Then gRPC drains: health watches end first, or they would hold it.
	r.health.EndWatches()
	grpctransport.Drain(r.grpcServer, time.Until(deadline))
	if !time.Now().Before(deadline) {
		level.Warn(logger).Log("msg", "grpc calls cut off at the shutdown deadline")
	}
	level.Info(logger).Log("msg", "grpc stopped")

	// Once no call can start an execution any more: dispatches in flight
	// finish and the leases of the rest go to the other replicas. The runs
	// have stopped renewing their workflow locks; the lock of an execution
	// still running is held under the execution's id, so that its adopter
	// takes it over with the lease instead of a new execution taking it.
	_ = r.coord.Stop(ctx)
	// No trigger is admitted any more: the backlog needs no count.
	_ = r.backlog.Stop(ctx)
	level.Info(logger).Log("msg", "coordinator stopped")
	level.Info(logger).Log("msg", "workflow locks: the runs that ended released theirs; those of executions still running are kept for their adopters")

	// The webhook index stops following changes, and this replica leaves
	// the live set.
	_ = r.index.Stop(ctx)
	switch {
	case r.membership != nil:
		_ = r.membership.Stop(ctx)
	case r.replicas != nil:
		_ = r.replicas.Stop(ctx)
	}

	// Last, the spans of everything above go out, by the same deadline.
	r.flushTracing(deadline)
	level.Info(logger).Log("msg", "tracing stopped")
}

// stopStarted stops the first n background components, the last started
// first, after a failed start.
func (r *replica) stopStarted(n int) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
	defer cancel()
	for _, s := range slices.Backward(r.background()[:n]) {
		_ = s.Stop(ctx)
	}
}
