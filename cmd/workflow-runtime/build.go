package main

import (
	"context"
	"fmt"
	stdlog "log"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	"github.com/workflow-runtime/workflow-runtime/pkg/shard"
	"github.com/workflow-runtime/workflow-runtime/pkg/startstop"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/backfill"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
	"github.com/workflow-runtime/workflow-runtime/service/deployment"
	"github.com/workflow-runtime/workflow-runtime/service/monitoring"
	"github.com/workflow-runtime/workflow-runtime/service/retention"
	"github.com/workflow-runtime/workflow-runtime/service/scheduling"
	"github.com/workflow-runtime/workflow-runtime/service/webhook"
	"github.com/workflow-runtime/workflow-runtime/transport"
	grpctransport "github.com/workflow-runtime/workflow-runtime/transport/grpc"
	httptransport "github.com/workflow-runtime/workflow-runtime/transport/http"
)

// Message limits. A request carries at most a 1 MiB definition or payload,
// which grows in protobuf form; a response is one page of deployments, whose
// definitions the deployment service keeps under its page budget.
const (
	maxRequestBytes  = 8 << 20
	maxResponseBytes = 32 << 20
)

// replica is the object graph of one replica, built by build and run by
// run: its servers, its background components, and what close releases.
type replica struct {
	cfg    config.Config
	logger log.Logger

	checker    *health.Checker
	health     *grpctransport.Health
	sec        *security
	budget     *transport.Budget
	gateway    *grpctransport.Gateway
	grpcServer *grpc.Server
	// grpcLis is the gRPC port's listener, set by run.
	grpcLis       *transport.Listener
	gatewayServer *grpc.Server
	httpServer    *http.Server

	coord    *coordination.Coordinator
	backlog  *coordination.Backlog
	sched    *scheduling.Scheduler
	recorder *scheduling.Recorder
	index    *webhook.Index
	backfill *backfill.Runner
	// retention removes expired history; one replica at a time, by a lease
	// row, whether or not there is Redis.
	retention *retention.Remover
	// replicas and membership are nil without Redis: the membership beats
	// through replicas and shares the cron triggers among the live ones.
	replicas   *lock.Replicas
	membership *shard.Membership

	flushTracing func(deadline time.Time)
	// closers release the pools and connections, in the order opened.
	closers []func()
}

// build makes a replica's object graph, opening its store, Redis and engine
// connections but no port and no background work.
func build(ctx context.Context, cfg config.Config, logger log.Logger, logLevel *logging.Level) (_ *replica, err error) {
	r := &replica{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			r.close()
		}
	}()

	// The store first; "pools closed", logged by the first closer to run
	// last, follows the database, Redis and engine connections' closing.
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { level.Info(logger).Log("msg", "pools closed") }, st.close)
	// Tracing comes before anything that makes spans; services get the
	// traced store. run flushes the spans at its last shutdown step, close
	// on an early return.
	stopTracing, err := tracing.Setup(ctx, os.Getenv, cfg.InstanceID, logger)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	r.flushTracing = func(deadline time.Time) { flushTracing(stopTracing, deadline, logger) }
	r.closers = append(r.closers, func() { r.flushTracing(time.Now().Add(cfg.ShutdownTimeout)) })
	traced := st.traced()

	// Redis, when configured, holds slot and workflow locks, replica
	// heartbeats and change announcements; without it, each is nil and
	// PostgreSQL decides alone.
	var (
		redisCheck  health.Check
		slotLocker  scheduling.SlotLocker
		broadcaster scheduling.Broadcaster
		locker      coordination.Locker
	)
	if cfg.RedisURL != "" {
		rm, err := lock.NewRedisManager(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		r.closers = append(r.closers, func() { _ = rm.Close() })
		rdb := rm.Client()
		redisCheck = func(ctx context.Context) error {
			_, err := rm.HealthCheck(ctx)
			return err
		}
		slotLocker = lock.NewSlots(rdb)
		broadcaster = fanout.NewRedis(rdb, cfg.RedisPrefix+"events")
		locker = lock.NewDistributedLockManager(rdb, cfg.RedisPrefix)
		r.replicas = lock.NewReplicas(rdb, cfg.RedisPrefix+"replicas", cfg.InstanceID)
		r.replicas.SetTiming(cfg.HeartbeatInterval, cfg.ReplicaTTL)
		if cfg.CronMode == "sharded" {
			if r.membership, err = shard.NewMembership(r.replicas, cfg.InstanceID, logger, nil); err != nil {
				return nil, err
			}
		}
	}
	level.Info(logger).Log("msg", redisLine(cfg))
	eng, stopEngine, err := engineClient(cfg, logger)
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, stopEngine)

	registry := prometheus.NewRegistry()
	m := newServeMetrics(registry, st.UnfinishedByStatus)
	if r.sec, err = newSecurity(cfg, logger, m.refusals, m.denials); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, r.sec.close)
	r.gateway = grpctransport.NewGateway()
	r.closers = append(r.closers, func() { _ = r.gateway.Close() })
	conn, err := r.gateway.Conn(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes), grpc.MaxCallSendMsgSize(maxRequestBytes)))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	r.closers = append(r.closers, func() { _ = conn.Close() })
	r.checker = health.NewChecker(version, 2*time.Second,
		health.Dependency{Name: "database", Check: st.Ping, Critical: true},
		health.Dependency{Name: "redis", Check: redisCheck},
		// Fails while this replica fires every cron trigger for want of
		// the live set; disabled without Redis, where every replica does.
		health.Dependency{Name: "cron_sharding", Check: shardingCheck(r.membership)},
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

	// The service onion, inside out: the services over the traced store,
	// the endpoints that wrap every method in one middleware chain, and the
	// transports over the endpoints. The coordinator runs executions; the
	// scheduler records its fires through the recorder, which creates them
	// through the coordinator; the deployment service tells the scheduler
	// and the webhook index of every change it commits.
	var limiter *rate.Limiter
	if cfg.RateLimit > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	r.backlog = coordination.NewBacklog(traced, coordination.BacklogOptions{
		MaxTotal: int64(cfg.BacklogMax), MaxPerWorkflow: int64(cfg.BacklogMaxPerWorkflow), Logger: logger, Metrics: m.backlog,
	})
	r.coord = coordination.New(traced, eng, locker, coordination.Options{
		InstanceID: cfg.InstanceID, Lease: cfg.Lease, ExecutionTimeout: cfg.ExecutionTimeout, LockGrace: cfg.LockGrace,
		DispatchConcurrency: cfg.DispatchConcurrency,
		DispatchYield:       cfg.DispatchYield,
		Logger:              logger,
		Metrics:             m.coordination,
		Backlog:             r.backlog,
		// Built below: the scheduler records its fires through the coordinator.
		Notifier: pauseNotifier{r},
	})
	// window keeps the scheduler's recent duplicates and lags for
	// GetSchedulingMetrics; its misfires are the cluster's, from the database.
	window := monitoring.NewWindow()
	schedMetrics := m.scheduling
	schedMetrics.Lag = window.Lag(schedMetrics.Lag)
	r.recorder = &scheduling.Recorder{
		Store: r.coord, Locker: slotLocker, KeyPrefix: cfg.RedisPrefix, Logger: logger,
		Duplicates: window.Duplicates(m.duplicates),
	}
	r.sched = scheduling.New(traced, r.recorder.Record, scheduling.Options{
		JitterWindow:   cfg.JitterWindow,
		ResyncInterval: cfg.ResyncInterval,
		Broadcaster:    broadcaster,
		Membership:     schedulingMembership(r.membership),
		Logger:         logger,
		Metrics:        schedMetrics,
		Slots:          traced,
		// Catch-up plans are leased as executions are: a replica that
		// dies mid-way leaves its plan to another after WFR_LEASE.
		CatchUps:     traced,
		InstanceID:   cfg.InstanceID,
		CatchupLease: cfg.Lease,
	})
	// The triggers this replica holds are the ones it owns when sharded.
	registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "workflow_runtime", Name: "scheduler_owned_triggers",
		Help: "Cron triggers this replica holds: those it owns among the live replicas, or every one without the live set.",
	}, func() float64 { return float64(r.sched.Held()) }))
	// The backfill runner starts its slots through the coordinator, as the
	// recorder does the scheduler's fires.
	r.backfill = backfill.New(traced, r.coord, backfill.Options{
		InstanceID: cfg.InstanceID, Lease: cfg.Lease, Rate: cfg.BackfillRate, Logger: logger,
		Retention: cfg.ExecutionRetention,
	})
	r.retention = retention.New(traced, retention.Options{
		InstanceID: cfg.InstanceID, Retention: cfg.ExecutionRetention, Duty: cfg.RetentionDuty, Logger: logger, Metrics: m.retention,
	})
	r.index = webhook.NewIndex(traced, logger, webhook.Follow(broadcaster, cfg.ResyncInterval))
	var (
		svc        = deployment.New(traced, deployment.Options{JitterWindow: cfg.JitterWindow, Notifier: deployment.Notifiers{r.sched, r.index}, Runs: traced})
		hooks      = webhook.New(r.index, traced, r.coord, webhook.Options{RatePerWorkflow: cfg.WebhookRateLimit, MaxSyncWaiting: cfg.SyncWebhookLimit, Backlog: r.backlog, Logger: logger})
		monitor    = newMonitoring(cfg, traced, r.sched, r.checker, r.replicas, window)
		chain      = endpoint.Chain(logger, m.rpcDuration, limiter)
		runtimeAPI = grpctransport.NewWorkflowRuntimeServer(endpoint.NewDeploymentEndpoints(svc, chain), endpoint.NewCoordinationEndpoints(webhook.Route(r.coord, hooks), hooks, chain),
			endpoint.NewBackfillEndpoints(r.backfill, chain))
		monitorAPI = grpctransport.NewMonitoringServer(endpoint.NewMonitoringEndpoints(monitor, chain))
	)
	r.health = grpctransport.NewHealth(r.checker, pb.WorkflowRuntimeService_ServiceDesc.ServiceName, pb.MonitoringService_ServiceDesc.ServiceName)

	// Two gRPC servers serve the same services: the gRPC port's, and the
	// one behind the REST gateway, over its in-process connection. One
	// budget bounds what requests being decoded may take, both ports
	// together: the gRPC port weighs each message as its codec decodes it,
	// the HTTP port each body before the gateway decodes it. The codec's
	// interceptors come first: they give back what a message took from the
	// budget, whatever the others do. The gRPC port's tap is set by run,
	// which knows the listener whose connections it admits.
	r.budget = transport.NewBudget(cfg.RequestMemory)
	common := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(grpctransport.RecoveryInterceptor(logger), grpctransport.ErrorInterceptor, r.sec.auth.UnaryInterceptor),
		grpc.ChainStreamInterceptor(r.sec.auth.StreamInterceptor),
		grpc.MaxRecvMsgSize(maxRequestBytes),
		grpc.MaxSendMsgSize(maxResponseBytes),
	}
	// otelgrpc's handler costs every call microseconds even when no span is
	// recorded; without it the trace id still comes from the caller's
	// traceparent, which the transport hands to tracing.Start.
	if tracing.Recording() {
		common = append(common, grpc.StatsHandler(otelgrpc.NewServerHandler()))
	}
	r.gatewayServer = grpc.NewServer(grpctransport.GatewayOptions(r.sec.auth.TapHandle, common...)...)
	r.grpcServer = grpc.NewServer(grpctransport.PortOptions(r.admitGRPC, r.sec.grpcTLS,
		append(grpctransport.NewBudgetCodec(r.budget).ServerOptions(), common...)...)...)
	for _, srv := range []*grpc.Server{r.grpcServer, r.gatewayServer} {
		pb.RegisterWorkflowRuntimeServiceServer(srv, runtimeAPI)
		pb.RegisterMonitoringServiceServer(srv, monitorAPI)
		healthpb.RegisterHealthServer(srv, r.health)
	}
	reflection.Register(r.grpcServer)

	handler, err := httptransport.NewHandler(ctx, conn, r.checker, promhttp.HandlerFor(registry, promhttp.HandlerOpts{}), maxRequestBytes, r.budget, logLevel, r.backlog.BackPressure)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	r.httpServer = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    grpctransport.MaxHeaderListBytes,
		TLSConfig:         r.sec.httpTLS,
		// The server's own complaints (TLS handshakes that fail, bad
		// requests) are the client's doing: throttled like refusals.
		ErrorLog: stdlog.New(log.NewStdlibAdapter(level.Warn(logging.NewThrottled(log.With(logger, "component", "http"), 5, 20))), "", 0),
	}
	return r, nil
}

// background is the replica's background components, in the order they
// start: gRPC health last, so that its first status is the replica's
// readiness once everything else runs.
func (r *replica) background() []startstop.Service {
	s := []startstop.Service{r.backlog, r.coord, r.recorder}
	switch {
	case r.membership != nil:
		// The membership beats, and its first beat tells the scheduler
		// which triggers to load.
		s = append(s, r.membership)
	case r.replicas != nil:
		s = append(s, r.replicas)
	}
	return append(s, r.sched, r.backfill, r.retention, r.index, r.health)
}

// close releases what build opened, the last opened first.
func (r *replica) close() {
	for _, c := range slices.Backward(r.closers) {
		c()
	}
}

// pauseNotifier tells the scheduler and the webhook index of a deployment
// that the coordinator paused after failures, as the deployment service
// tells them of its changes.
type pauseNotifier struct{ r *replica }

func (p pauseNotifier) DeploymentChanged(ctx context.Context, d *workflow.Deployment) error {
	return deployment.Notifiers{p.r.sched, p.r.index}.DeploymentChanged(ctx, d)
}

// shardingCheck is nil, a disabled check, without a membership.
func shardingCheck(m *shard.Membership) health.Check {
	if m == nil {
		return nil
	}
	return m.Check
}

// schedulingMembership is nil without a membership, not a nil pointer in an
// interface.
func schedulingMembership(m *shard.Membership) scheduling.Membership {
	if m == nil {
		return nil
	}
	return m
}
