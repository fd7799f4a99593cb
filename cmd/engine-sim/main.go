// Command engine-sim serves enginesim, a reference workflow engine, over gRPC
// (workflow_engine.WorkflowService, with reflection and grpc.health.v1) and
// HTTP (GET /calls for per-key ExecuteWorkflow counts, GET /runs, GET
// /peak?workflow_id=WF for the most runs of a workflow at once, GET /healthz).
//
// Every flag has an environment variable that sets its default:
// -grpc-addr = ENGINE_SIM_GRPC_ADDR, -failure-rate = ENGINE_SIM_FAILURE_RATE.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	rungroup "github.com/oklog/run"
	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
	grpctransport "github.com/workflow-runtime/workflow-runtime/transport/grpc"
)

// shutdownTimeout bounds the drain of in-flight calls on SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	grpcAddr, httpAddr string
	sim                enginesim.Config
}

// run is main without the process: it serves until ctx ends or a signal
// arrives and returns the exit code. -h prints the flags to stdout; logs go to
// stderr as JSON.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parse(args, os.Getenv, stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "engine-sim: %v\nRun engine-sim -h for the flags.\n", err)
		return 2
	}
	host, _ := os.Hostname()
	logger, _, err := logging.New(stderr, "json", "info", host)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := serve(ctx, opts, logger); err != nil {
		level.Error(logger).Log("msg", "engine-sim stopped", "err", err)
		return 1
	}
	return 0
}

// parse reads the flags, whose defaults come from ENGINE_SIM_* variables in
// getenv, and validates them. For -h it prints the flags to stdout and
// returns flag.ErrHelp.
func parse(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("engine-sim", flag.ContinueOnError)
	fs.StringVar(&o.grpcAddr, "grpc-addr", ":50051", "gRPC listen address")
	fs.StringVar(&o.httpAddr, "http-addr", ":50052", "HTTP listen address (GET /calls, /runs, /peak, /healthz)")
	fs.DurationVar(&o.sim.MinDuration, "min-duration", 2*time.Second, "shortest execution")
	fs.DurationVar(&o.sim.MaxDuration, "max-duration", 2*time.Second, "longest execution; equal to -min-duration for a fixed duration")
	fs.Float64Var(&o.sim.FailureRate, "failure-rate", 0, "probability (0..1) that an execution ends in ERROR")
	fs.Float64Var(&o.sim.HangRate, "hang-rate", 0, "probability (0..1) that an execution never ends")
	fs.Int64Var(&o.sim.Seed, "seed", 0, "with the idempotency key, decides each execution's duration and outcome")
	fs.DurationVar(&o.sim.AcceptDelay, "accept-delay", 0, "how long ExecuteWorkflow takes to answer after starting an execution")
	// Errors are returned to run, which reports them; only -h prints here.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stdout)
		fmt.Fprintln(stdout, "usage: engine-sim [flags]\nEach flag's default can be set with ENGINE_SIM_<FLAG>, e.g. ENGINE_SIM_GRPC_ADDR.")
		fs.PrintDefaults()
	}

	// Setting the flags from the environment before parsing lets the command
	// line override them, and reuses each flag's own parser for the variable.
	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s=%q: invalid value for -%s: %w", name, v, f.Name, err))
			}
		}
	})
	if err := errors.Join(envErrs...); err != nil {
		return o, err
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, o.sim.Validate()
}

// envName is the variable for a flag: "grpc-addr" → "ENGINE_SIM_GRPC_ADDR".
func envName(flagName string) string {
	return "ENGINE_SIM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// serve runs the gRPC and HTTP servers until ctx ends or a signal arrives.
func serve(ctx context.Context, o options, logger log.Logger) error {
	sim := enginesim.New(o.sim)
	level.Info(logger).Log("msg", "starting", "min_duration", o.sim.MinDuration, "max_duration", o.sim.MaxDuration,
		"failure_rate", o.sim.FailureRate, "hang_rate", o.sim.HangRate, "seed", o.sim.Seed, "accept_delay", o.sim.AcceptDelay)

	grpcLis, err := net.Listen("tcp", o.grpcAddr)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	defer grpcLis.Close()
	httpLis, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	defer httpLis.Close()

	grpcServer := grpc.NewServer(grpc.UnaryInterceptor(logCalls(logger, time.Now)))
	pb.RegisterWorkflowServiceServer(grpcServer, sim)
	grpcHealth := grpchealth.NewServer()
	grpcHealth.SetServingStatus(pb.WorkflowService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(grpcServer, grpcHealth)
	reflection.Register(grpcServer)
	httpServer := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}

	var g rungroup.Group
	// HTTP stops first, then gRPC; health turns NOT_SERVING before gRPC drains
	// so that a checker polling during the drain sees the engine going.
	g.Add(func() error {
		level.Info(logger).Log("msg", "http serving", "addr", httpLis.Addr().String())
		if err := httpServer.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := httpServer.Shutdown(sctx); err != nil {
			_ = httpServer.Close()
		}
		level.Info(logger).Log("msg", "http stopped")
	})
	g.Add(func() error {
		level.Info(logger).Log("msg", "grpc serving", "addr", grpcLis.Addr().String())
		return grpcServer.Serve(grpcLis)
	}, func(error) {
		grpcHealth.Shutdown()
		grpctransport.Drain(grpcServer, shutdownTimeout)
		level.Info(logger).Log("msg", "grpc stopped")
	})
	g.Add(rungroup.SignalHandler(ctx, syscall.SIGINT, syscall.SIGTERM))

	err = g.Run()
	var sig rungroup.SignalError
	if errors.As(err, &sig) || errors.Is(err, context.Canceled) {
		level.Info(logger).Log("msg", "stopped", "reason", err, "executions", sim.Executions())
		return nil
	}
	return err
}

// logCalls logs ExecuteWorkflow and CancelExecution calls with their
// outcome and how long they took by now, so that a test's log shows the
// order in which the engine saw dispatches and cancels. Status polls and
// health checks are left out: they come at every interval for every
// execution or probe, and would drown the rest.
func logCalls(logger log.Logger, now func() time.Time) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		begin := now()
		resp, err := handler(ctx, req)
		if info.FullMethod != pb.WorkflowService_ExecuteWorkflow_FullMethodName &&
			info.FullMethod != pb.WorkflowService_CancelExecution_FullMethodName {
			return resp, err
		}
		keyvals := []any{"msg", "rpc", "method", info.FullMethod, "code", status.Code(err), "took", now().Sub(begin)}
		if r, ok := req.(*pb.CancelExecutionRequest); ok {
			keyvals = append(keyvals, "execution_id", r.GetExecutionId(), "reason", r.GetReason())
		}
		if r, ok := resp.(*pb.CancelExecutionResponse); ok {
			keyvals = append(keyvals, "success", r.GetSuccess())
		}
		if r, ok := req.(*pb.ExecuteWorkflowRequest); ok {
			keyvals = append(keyvals, "workflow_id", r.GetWorkflowId(), "idempotency_key", r.GetMetadata()[enginesim.MetaIdempotencyKey])
		}
		if r, ok := resp.(*pb.ExecuteWorkflowResponse); ok {
			keyvals = append(keyvals, "execution_id", r.GetExecutionId(), "status", r.GetStatus())
		}
		level.Info(logger).Log(keyvals...)
		return resp, err
	}
}
