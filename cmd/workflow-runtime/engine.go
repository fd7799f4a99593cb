package main

import (
	"fmt"
	"net"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"

	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	enginepb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// healthProbeID is the execution id whose status the engine health check
// asks for: no engine knows it, and any answer shows the engine serves.
const healthProbeID = "workflow-runtime-health-probe"

// embeddedRun is how long executions take in the embedded engine-sim: long
// enough to be seen RUNNING, short enough to watch them finish.
const (
	embeddedMinRun = 200 * time.Millisecond
	embeddedMaxRun = 2 * time.Second
)

// engineClient connects to the engine at WFR_ENGINE_ADDR, or, when it is
// unset, to an engine-sim served in this process on a loopback port, so that
// the service runs with nothing else installed. The embedded engine goes
// through the same gRPC client as a real one. stop ends the connection and
// the embedded engine.
func engineClient(cfg config.Config, logger log.Logger) (_ engine.Client, stop func(), err error) {
	addr, stopSim := cfg.EngineAddr, func() {}
	if addr == "" {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("embedded engine: %w", err)
		}
		srv := grpc.NewServer()
		enginepb.RegisterWorkflowServiceServer(srv, enginesim.New(enginesim.Config{MinDuration: embeddedMinRun, MaxDuration: embeddedMaxRun}))
		go func() { _ = srv.Serve(lis) }()
		addr, stopSim = lis.Addr().String(), srv.Stop
		level.Info(logger).Log("msg", "engine: embedded engine-sim at "+addr+" (executions succeed after "+embeddedMinRun.String()+" to "+embeddedMaxRun.String()+"); set WFR_ENGINE_ADDR=host:port for a real engine")
	} else {
		level.Info(logger).Log("msg", "engine: "+addr)
	}
	conn, err := engine.Dial(addr)
	if err != nil {
		stopSim()
		return nil, nil, fmt.Errorf("engine: %w", err)
	}
	opts := engine.Options{CallTimeout: cfg.EngineCallTimeout, MaxAttempts: cfg.EngineAttempts, BreakerOpenFor: cfg.EngineBreakerOpenFor}
	return engine.NewGRPC(conn, opts), func() {
		_ = conn.Close()
		stopSim()
	}, nil
}
