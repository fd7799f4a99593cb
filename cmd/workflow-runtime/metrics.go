package main

import (
	"context"
	"time"

	"github.com/go-kit/kit/metrics"
	kitprometheus "github.com/go-kit/kit/metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
	"github.com/workflow-runtime/workflow-runtime/service/retention"
	"github.com/workflow-runtime/workflow-runtime/service/scheduling"
)

// unfinishedTimeout bounds the query behind workflow_runtime_executions, so
// that a slow database does not hold a scrape past Prometheus's timeout.
const unfinishedTimeout = 2 * time.Second

// serveMetrics are the metrics of ARCHITECTURE.md "Observability", listed
// with their meaning in docs/observability/metrics.md. Every series of a
// known label value is exported from the start, at zero, so that rate() and
// increase() see the first event and alerts need no absent() guard.
type serveMetrics struct {
	rpcDuration  metrics.Histogram
	coordination coordination.Metrics
	scheduling   scheduling.Metrics
	duplicates   metrics.Counter
	engine       engine.Metrics
	refusals     metrics.Counter
	denials      metrics.Counter
	retention    retention.Metrics
	backlog      coordination.BacklogMetrics
}

// newServeMetrics registers the runtime's metrics in r, the Go and process
// collectors, and workflow_runtime_executions, which asks unfinished at
// each scrape.
func newServeMetrics(r prometheus.Registerer, unfinished func(context.Context) (map[workflow.ExecutionStatus]int64, error)) serveMetrics {
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		unfinishedCollector{count: unfinished})
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "workflow_runtime", Name: name, Help: help, Buckets: buckets,
		}, labels))
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "workflow_runtime", Name: name, Help: help,
		}, labels))
	}

	rpc := histogram("rpc_duration_seconds", "Duration of API calls by method and gRPC code.",
		prometheus.DefBuckets, "method", "code")
	finished := counterVec("executions_finished_total", "Executions that reached a terminal status, by status.", "status")
	for _, s := range []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionFailed,
		workflow.ExecutionCancelled, workflow.ExecutionTimedOut, workflow.ExecutionSkipped} {
		finished.WithLabelValues(string(s))
	}
	locks := counterVec("workflow_lock_attempts_total", "Workflow lock attempts by outcome (acquired, held, unavailable), and locks lost while held (lost).", "outcome")
	for _, o := range []string{"acquired", "held", "unavailable", "lost"} {
		locks.WithLabelValues(o)
	}
	dispatch := histogram("dispatch_latency_seconds", "Seconds from an execution's fire to the engine's acceptance.",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300})
	lag := histogram("fire_lag_seconds", "Seconds between a cron fire's jittered due time and the moment it is acted on.",
		[]float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300})
	engineDuration := histogram("engine_call_duration_seconds",
		"Duration of workflow engine calls, retries included, by method and outcome (ok or an error reason).",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "method", "outcome")
	engineErrors := counterVec("engine_call_errors_total", "Failed workflow engine calls by method and reason.", "method", "reason")
	for _, m := range engine.Methods {
		engineDuration.WithLabelValues(m, "ok")
		for _, reason := range engine.Reasons {
			engineErrors.WithLabelValues(m, reason)
		}
	}
	refusals := counterVec("auth_refusals_total", "Calls refused for want of valid credentials, by port and reason.", "port", "reason")
	for _, port := range auth.Ports {
		for _, reason := range auth.Reasons {
			refusals.WithLabelValues(port, reason)
		}
	}
	removed := counterVec("retention_removed_total", "Rows that retention passes of this replica deleted, by table.", "table")
	for _, table := range retention.Tables {
		removed.WithLabelValues(table)
	}
	pass := histogram("retention_pass_duration_seconds", "Seconds of each retention pass this replica made.",
		[]float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600})
	for _, h := range []*prometheus.HistogramVec{dispatch, lag, pass} {
		h.WithLabelValues()
	}
	gauge := func(name, help string) *kitprometheus.Gauge {
		return kitprometheus.NewGauge(register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "workflow_runtime", Name: name, Help: help,
		}, nil)))
	}
	dispatchLimit := gauge("dispatch_limit", "Executions this replica may dispatch at once now: WFR_DISPATCH_CONCURRENCY, less while the engine refuses for load.")
	dispatchInUse := gauge("dispatch_in_use", "Executions this replica is dispatching now.")
	queued := counter(r, "executions_queued_total", "Executions accepted while the dispatch pool was full: written PENDING without an owner, for any replica to claim.")
	claimed := counter(r, "executions_claimed_total", "Queued executions this replica claimed to dispatch.")
	refused := counterVec("trigger_refusals_total", "Triggers refused by back-pressure, by bound: workflow, total, sync.", "bound")
	for _, b := range []string{coordination.BoundWorkflow, coordination.BoundTotal, coordination.BoundSync} {
		refused.WithLabelValues(b)
	}
	backlog := register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "workflow_runtime", Name: "trigger_backlog",
		Help: "Executions of every replica waiting for the engine, as this replica last counted them plus its acceptances since: what the back-pressure bounds.",
	}, nil))
	backlog.WithLabelValues()
	fires := counter(r, "fires_total", "Cron fires acted on (not misfired).")
	misfires := counter(r, "misfires_total", "Cron slots this replica judged missed and recorded.")
	duplicates := counter(r, "fire_duplicates_total", "Cron fires another replica had already taken.")
	for _, c := range []metrics.Counter{fires, misfires, duplicates, queued, claimed} {
		c.Add(0)
	}

	return serveMetrics{
		rpcDuration: kitprometheus.NewHistogram(rpc),
		coordination: coordination.Metrics{
			Finished:        kitprometheus.NewCounter(finished),
			Locks:           kitprometheus.NewCounter(locks),
			DispatchLatency: kitprometheus.NewHistogram(dispatch),
			DispatchLimit:   dispatchLimit,
			DispatchInUse:   dispatchInUse,
			Queued:          queued,
			Claimed:         claimed,
		},
		scheduling: scheduling.Metrics{
			Fires:    fires,
			Misfires: misfires,
			Lag:      kitprometheus.NewHistogram(lag),
		},
		duplicates: duplicates,
		engine: engine.Metrics{
			Duration: kitprometheus.NewHistogram(engineDuration),
			Errors:   kitprometheus.NewCounter(engineErrors),
		},
		refusals: kitprometheus.NewCounter(refusals),
		denials:  kitprometheus.NewCounter(counterVec("auth_denials_total", "Authenticated calls refused because they are beyond the caller's role, by role and method.", "role", "method")),
		retention: retention.Metrics{
			Removed:      kitprometheus.NewCounter(removed),
			PassDuration: kitprometheus.NewHistogram(pass),
		},
		backlog: coordination.BacklogMetrics{
			Refused: kitprometheus.NewCounter(refused),
			Backlog: kitprometheus.NewGauge(backlog),
		},
	}
}

// unfinishedDesc is workflow_runtime_executions: a gauge read from the
// database, not counted by this replica, because the backlog is every
// replica's and survives restarts.
var unfinishedDesc = prometheus.NewDesc("workflow_runtime_executions",
	"Executions of every replica now PENDING or RUNNING, by status, read from the database at each scrape.",
	[]string{"status"}, nil)

// unfinishedCollector exports workflow_runtime_executions. When the
// database does not answer it exports nothing, rather than failing the
// whole scrape or reporting a backlog of zero.
type unfinishedCollector struct {
	count func(context.Context) (map[workflow.ExecutionStatus]int64, error)
}

func (c unfinishedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- unfinishedDesc }

func (c unfinishedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), unfinishedTimeout)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(unfinishedDesc, prometheus.GaugeValue, float64(n), string(status))
	}
}

// counter registers a workflow_runtime_<name> counter without labels.
func counter(r prometheus.Registerer, name, help string) *kitprometheus.Counter {
	return kitprometheus.NewCounter(register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "workflow_runtime", Name: name, Help: help,
	}, nil)))
}

func register[C prometheus.Collector](r prometheus.Registerer, c C) C {
	r.MustRegister(c)
	return c
}
