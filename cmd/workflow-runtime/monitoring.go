package main

import (
	"context"
	"sync"

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

// startHeartbeat beats for this replica until stop, which waits for its
// removal from the live set; without Redis there is nothing to beat.
func startHeartbeat(ctx context.Context, replicas *lock.Replicas) (stop func()) {
	if replicas == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { replicas.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}
