package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"math"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	rungroup "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/workflow-runtime/workflow-runtime/endpoint"
	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/fanout"
	"github.com/workflow-runtime/workflow-runtime/pkg/health"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
	"github.com/workflow-runtime/workflow-runtime/service/deployment"
	"github.com/workflow-runtime/workflow-runtime/service/monitoring"
	"github.com/workflow-runtime/workflow-runtime/service/scheduling"
	"github.com/workflow-runtime/workflow-runtime/service/webhook"
	"github.com/workflow-runtime/workflow-runtime/transport"
	grpctransport "github.com/workflow-runtime/workflow-runtime/transport/grpc"
	httptransport "github.com/workflow-runtime/workflow-runtime/transport/http"
)

// startTimeout bounds connecting to the database at start, so that an
// unreachable host fails the start instead of hanging it.
const startTimeout = 30 * time.Second

// Message limits. A request carries at most a 1 MiB definition or payload,
// which grows in protobuf form; a response is one page of deployments, whose
// definitions the deployment service keeps under its page budget.
const (
	maxRequestBytes  = 8 << 20
	maxResponseBytes = 32 << 20
)

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
	if err := serveWith(ctx, cfg, logger, logLevel); err != nil {
		level.Error(logger).Log("msg", "workflow-runtime stopped", "err", err)
		return 1
	}
	level.Info(logger).Log("msg", "stopped")
	return 0
}

func serveWith(ctx context.Context, cfg config.Config, logger log.Logger, logLevel *logging.Level) error {
	level.Info(logger).Log("msg", "starting", "version", version, "config", fmt.Sprintf("%+v", cfg.Redacted()))

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	// Deferred first, so logged last: the database, Redis and engine
	// connections, deferred below, are closed by then.
	defer level.Info(logger).Log("msg", "pools closed")
	defer st.close()
	// Tracing comes before anything that makes spans; services get the
	// traced store. Spans are flushed by the last shutdown step, or here on
	// an early return.
	stopTracing, err := tracing.Setup(ctx, os.Getenv, cfg.InstanceID, logger)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() { flushTracing(stopTracing, time.Now().Add(cfg.ShutdownTimeout), logger) }()
	traced := st.traced()

	var (
		redisCheck  health.Check
		slotLocker  scheduling.SlotLocker
		broadcaster scheduling.Broadcaster
		locker      coordination.Locker
		replicas    *lock.Replicas
	)
	if cfg.RedisURL != "" {
		rm, err := lock.NewRedisManager(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		defer rm.Close()
		rdb := rm.Client()
		redisCheck = func(ctx context.Context) error {
			_, err := rm.HealthCheck(ctx)
			return err
		}
		slotLocker = lock.NewSlots(rdb)
		broadcaster = fanout.NewRedis(rdb, cfg.RedisPrefix+"events")
		locker = lock.NewDistributedLockManager(rdb, cfg.RedisPrefix)
		replicas = lock.NewReplicas(rdb, cfg.RedisPrefix+"replicas", cfg.InstanceID)
	}
	level.Info(logger).Log("msg", redisLine(cfg))
	eng, stopEngine, err := engineClient(cfg, logger)
	if err != nil {
		return err
	}
	defer stopEngine()

	registry := prometheus.NewRegistry()
	m := newServeMetrics(registry, st.UnfinishedByStatus)
	sec, err := newSecurity(cfg, logger, m.refusals)
	if err != nil {
		return err
	}
	defer sec.close()
	conn, err := sec.gatewayConn(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes), grpc.MaxCallSendMsgSize(maxRequestBytes)))
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer conn.Close()
	checker := health.NewChecker(version, 2*time.Second,
		health.Dependency{Name: "database", Check: st.Ping, Critical: true},
		health.Dependency{Name: "redis", Check: redisCheck},
		health.Dependency{Name: "workflow_engine", Check: func(ctx context.Context) error {
			// Any answer about an id no engine knows shows the engine serves.
			_, err := eng.Status(ctx, healthProbeID)
			return err
		}},
		// Ready only while REST calls get through to the API, not only
		// while the dependencies answer.
		health.Dependency{Name: "api", Check: grpctransport.ServingCheck(conn), ReadinessOnly: true},
	)
	// The health probe's calls are measured too: its closure reads eng.
	eng = engine.Instrument(eng, m.engine)

	var limiter *rate.Limiter
	if cfg.RateLimit > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	coord := coordination.New(traced, eng, locker, coordination.Options{
		InstanceID: cfg.InstanceID, Lease: cfg.Lease, ExecutionTimeout: cfg.ExecutionTimeout, LockGrace: cfg.LockGrace,
		Logger:  logger,
		Metrics: m.coordination,
	})
	// window keeps the scheduler's recent misfires, duplicates and lags for GetSchedulingMetrics.
	window := monitoring.NewWindow()
	schedMetrics := m.scheduling
	schedMetrics.Misfires, schedMetrics.Lag = window.Misfires(schedMetrics.Misfires), window.Lag(schedMetrics.Lag)
	recorder := &scheduling.Recorder{
		Store: coord, Locker: slotLocker, KeyPrefix: cfg.RedisPrefix, Logger: logger,
		Duplicates: window.Duplicates(m.duplicates),
	}
	sched := scheduling.New(traced, recorder.Record, scheduling.Options{
		JitterWindow:   cfg.JitterWindow,
		ResyncInterval: cfg.ResyncInterval,
		Broadcaster:    broadcaster,
		Logger:         logger,
		Metrics:        schedMetrics,
	})
	index := webhook.NewIndex(traced, logger)
	svc := deployment.New(traced, deployment.Options{JitterWindow: cfg.JitterWindow, Notifier: deployment.Notifiers{sched, index}})
	hooks := webhook.New(index, traced, coord, webhook.Options{RatePerWorkflow: cfg.WebhookRateLimit, MaxSyncWaiting: cfg.SyncWebhookLimit, Logger: logger})
	chain := endpoint.Chain(logger, m.rpcDuration, limiter)
	endpoints := endpoint.NewDeploymentEndpoints(svc, chain)
	executions := endpoint.NewCoordinationEndpoints(coord, hooks, chain)
	runtimeServer := grpctransport.NewWorkflowRuntimeServer(endpoints, executions)
	monitor := newMonitoring(cfg, traced, sched, checker, replicas, window)
	monitoringServer := grpctransport.NewMonitoringServer(endpoint.NewMonitoringEndpoints(monitor, chain))
	grpcHealth := newGRPCHealth(checker)

	// One budget for what requests being decoded may take, both ports
	// together: the gRPC port weighs each message as its codec decodes it,
	// the HTTP port each body before the gateway decodes it.
	budget := transport.NewBudget(cfg.RequestMemory)
	rawGRPCLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	grpcLis := transport.NewListener(rawGRPCLis, cfg.MaxConnections, cfg.PreAuthTimeout)
	defer grpcLis.Close()
	common := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(grpctransport.RecoveryInterceptor(logger), grpctransport.ErrorInterceptor),
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.MaxRecvMsgSize(maxRequestBytes),
		grpc.MaxSendMsgSize(maxResponseBytes),
	}
	// The codec's interceptors come first: they give back what a message
	// took from the budget, whatever the others do.
	grpcServer := grpc.NewServer(sec.serverOptions(grpcLis, append(grpctransport.NewBudgetCodec(budget).ServerOptions(), common...)...)...)
	gatewayServer := grpc.NewServer(sec.gatewayServerOptions(common...)...)
	for _, srv := range []*grpc.Server{grpcServer, gatewayServer} {
		pb.RegisterWorkflowRuntimeServiceServer(srv, runtimeServer)
		pb.RegisterMonitoringServiceServer(srv, monitoringServer)
		healthpb.RegisterHealthServer(srv, grpcHealth)
	}
	reflection.Register(grpcServer)
	sec.serveGateway(gatewayServer)
	stopHeartbeat := startHeartbeat(ctx, replicas)
	defer stopHeartbeat()

	handler, err := httptransport.NewHandler(ctx, conn, checker, promhttp.HandlerFor(registry, promhttp.HandlerOpts{}), maxRequestBytes, budget, logLevel)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	rawHTTPLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	httpLis := transport.NewListener(rawHTTPLis, cfg.MaxConnections, cfg.PreAuthTimeout)
	defer httpLis.Close()
	httpServer := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		// The server's own complaints (TLS handshakes that fail, bad
		// requests) are the client's doing: throttled like refusals.
		ErrorLog: stdlog.New(log.NewStdlibAdapter(level.Warn(logging.NewThrottled(log.With(logger, "component", "http"), 5, 20))), "", 0),
	}
	servedHTTPLis := sec.secureHTTP(httpServer, httpLis)

	// One deadline for the whole drain, fixed when it starts, so that the
	// steps share WFR_SHUTDOWN_TIMEOUT instead of each taking all of it.
	var deadline time.Time
	var g rungroup.Group
	// Interrupts run in the order the actors are added: readiness drops first
	// and stays 503 for WFR_DRAIN_DELAY, so that load balancers stop sending;
	// then HTTP drains, while the gRPC server that its REST calls go through
	// still serves; then gRPC drains.
	hctx, stopHealth := context.WithCancel(ctx)
	g.Add(func() error {
		grpcHealth.follow(hctx)
		return nil
	}, func(reason error) {
		deadline = time.Now().Add(cfg.DrainDelay + cfg.ShutdownTimeout)
		checker.SetReady(false)
		grpcHealth.Shutdown()
		stopHealth()
		level.Info(logger).Log("msg", "draining: not ready", "reason", reason, "drain_delay", cfg.DrainDelay, "shutdown_timeout", cfg.ShutdownTimeout)
		time.Sleep(cfg.DrainDelay)
	})
	coord.Start()
	// Whatever way serveWith returns, runs stop and leases are given up.
	defer coord.Stop(context.Background())
	if err := sched.Start(ctx); err != nil {
		return err
	}
	// Also on a failed start below; after the shutdown's own stop these do nothing.
	defer recorder.Stop()
	defer sched.Stop()
	ictx, stopIndex := context.WithCancel(ctx)
	defer stopIndex()
	if err := index.Start(ictx, broadcaster, cfg.ResyncInterval); err != nil {
		return err
	}
	level.Info(logger).Log("msg", "webhook index loaded", "paths", index.Len())
	level.Info(logger).Log("msg", "scheduler started", "cron_triggers", sched.Held())
	sctx, stopScheduler := context.WithCancel(ctx)
	g.Add(func() error {
		<-sctx.Done()
		return nil
	}, func(error) {
		stopScheduler()
		sched.Stop()
		recorder.Stop()
		level.Info(logger).Log("msg", "scheduler stopped: no new fires")
	})
	g.Add(func() error {
		level.Info(logger).Log("msg", "http serving", "addr", httpLis.Addr().String())
		if err := httpServer.Serve(servedHTTPLis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) {
		sctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if err := httpServer.Shutdown(sctx); err != nil {
			_ = httpServer.Close()
			level.Warn(logger).Log("msg", "http calls cut off at the shutdown deadline", "err", err)
		}
		// Every REST call has ended or been cut off: the gateway's server
		// has nothing left to drain.
		gatewayServer.Stop()
		level.Info(logger).Log("msg", "http stopped")
	})
	g.Add(func() error {
		level.Info(logger).Log("msg", "grpc serving", "addr", grpcLis.Addr().String())
		return grpcServer.Serve(grpcLis)
	}, func(error) {
		grpcHealth.EndWatches()
		grpctransport.Drain(grpcServer, time.Until(deadline))
		if !time.Now().Before(deadline) {
			level.Warn(logger).Log("msg", "grpc calls cut off at the shutdown deadline")
		}
		level.Info(logger).Log("msg", "grpc stopped")
	})
	// Last, once no call can start an execution any more: dispatches in
	// flight finish and the leases of the rest go to the other replicas.
	cctx, stopCoordinator := context.WithCancel(ctx)
	g.Add(func() error {
		<-cctx.Done()
		return nil
	}, func(error) {
		stopCoordinator()
		dctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		coord.Stop(dctx)
		level.Info(logger).Log("msg", "coordinator stopped")
		// The runs have stopped renewing their workflow locks. The lock of an
		// execution still running is held under the execution's id, so that
		// its adopter takes it over with the lease instead of a new execution
		// of the workflow taking it.
		level.Info(logger).Log("msg", "workflow locks: the runs that ended released theirs; those of executions still running are kept for their adopters")
	})
	// Last, the spans of everything above go out, by the same deadline.
	tctx, stopTracer := context.WithCancel(ctx)
	g.Add(func() error {
		<-tctx.Done()
		return nil
	}, func(error) {
		stopTracer()
		flushTracing(stopTracing, deadline, logger)
		level.Info(logger).Log("msg", "tracing stopped")
	})
	g.Add(rungroup.SignalHandler(ctx, syscall.SIGINT, syscall.SIGTERM))

	checker.SetReady(true)
	err = g.Run()
	if errors.Is(err, rungroup.ErrSignal) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
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
