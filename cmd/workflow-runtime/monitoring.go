package main

import (
	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/health"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/service/monitoring"
	"github.com/workflow-runtime/workflow-runtime/service/scheduling"
)

// newMonitoring builds this replica's MonitoringService; replicas is nil
// without Redis, and then only this replica counts as live.
func newMonitoring(cfg config.Config, st monitoring.Store, sched *scheduling.Scheduler, checker *health.Checker,
	replicas *lock.Replicas, window *monitoring.Window) monitoring.Service {
	opts := monitoring.Options{InstanceID: cfg.InstanceID, JitterWindow: cfg.JitterWindow, Window: window}
	if replicas != nil {
		opts.Replicas = replicas
	}
	return monitoring.New(st, sched, checker, opts)
}
