package main

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/health"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// healthInterval is how often gRPC health Watch streams follow the
// dependencies' state; Check answers from a check of its own.
const healthInterval = 5 * time.Second

// grpcHealth is grpc.health.v1.Health over the checker. Check runs the
// readiness check, as /readyz does, so that a probe sees a database that
// just went away; Watch follows every healthInterval. Once Shutdown is
// called, every service stays NOT_SERVING whatever the checks say.
type grpcHealth struct {
	*grpchealth.Server
	checker *health.Checker
	// watching ends with EndWatches.
	watching   context.Context
	endWatches context.CancelFunc
}

func newGRPCHealth(checker *health.Checker) *grpcHealth {
	watching, end := context.WithCancel(context.Background())
	return &grpcHealth{Server: grpchealth.NewServer(), checker: checker, watching: watching, endWatches: end}
}

// Watch streams the serving status as grpc-go's server does, until
// EndWatches: a watch never ends by itself, and would hold GracefulStop
// until the shutdown deadline cut every call still in flight.
func (h *grpcHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(h.watching, cancel)()
	ws := &watchStream{Health_WatchServer: stream, ctx: ctx}
	err := h.Server.Watch(req, ws)
	if h.watching.Err() == nil {
		return err
	}
	// The last word is NOT_SERVING, even when the stream ended before
	// grpc-go's server sent Shutdown's update.
	if ws.last != healthpb.HealthCheckResponse_NOT_SERVING {
		_ = stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
	}
	return status.Error(codes.Unavailable, "the server is stopping")
}

// EndWatches ends every Watch stream, and those that start later at once,
// with NOT_SERVING. Call it after Shutdown.
func (h *grpcHealth) EndWatches() { h.endWatches() }

// watchStream is a Watch stream whose context ends with EndWatches, and
// which remembers the last status sent.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx  context.Context
	last healthpb.HealthCheckResponse_ServingStatus
}

func (s *watchStream) Context() context.Context { return s.ctx }

func (s *watchStream) Send(m *healthpb.HealthCheckResponse) error {
	s.last = m.GetStatus()
	return s.Health_WatchServer.Send(m)
}

// Check refreshes the serving status, then answers as grpc-go's server does.
func (h *grpcHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	// A caller that gives up must not read as a database that failed: the
	// checker bounds each check by itself.
	h.refresh(context.WithoutCancel(ctx))
	return h.Server.Check(ctx, req)
}

// follow refreshes the serving status every healthInterval until ctx ends.
func (h *grpcHealth) follow(ctx context.Context) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		h.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh sets the overall status and each service's to the checker's readiness.
func (h *grpcHealth) refresh(ctx context.Context) {
	st := healthpb.HealthCheckResponse_SERVING
	if !h.checker.Ready(ctx) {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, s := range []string{"", pb.WorkflowRuntimeService_ServiceDesc.ServiceName, pb.MonitoringService_ServiceDesc.ServiceName} {
		h.SetServingStatus(s, st)
	}
}
