package grpc

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/startstop"
)

// healthInterval is how often Watch streams follow readiness; Check answers
// from a check of its own.
const healthInterval = 5 * time.Second

// Readiness reports whether the replica takes traffic (health.Checker).
type Readiness interface {
	Ready(ctx context.Context) bool
}

// Health is grpc.health.v1.Health over a replica's readiness, for the overall
// status and each of its services. Check runs the readiness check, as
// /readyz does, so that a probe sees a database that just went away; Watch
// streams follow it every healthInterval between Start and Stop. Stop sets
// every service NOT_SERVING for good, whatever the checks say, as the first
// step of a shutdown; EndWatches, later, ends the Watch streams.
type Health struct {
	*grpchealth.Server
	ready    Readiness
	services []string
	loops    startstop.Loops
	// watching ends with EndWatches.
	watching   context.Context
	endWatches context.CancelFunc
}

// NewHealth returns the health service over ready for services.
func NewHealth(ready Readiness, services ...string) *Health {
	watching, end := context.WithCancel(context.Background())
	return &Health{Server: grpchealth.NewServer(), ready: ready, services: append([]string{""}, services...),
		watching: watching, endWatches: end}
}

// Start follows readiness every healthInterval until Stop.
func (h *Health) Start(ctx context.Context) error {
	h.loops.Go(ctx, h.follow)
	return nil
}

// Stop sets every service NOT_SERVING for good and stops following.
func (h *Health) Stop(ctx context.Context) error {
	h.Shutdown()
	return h.loops.Stop(ctx)
}

// Watch streams the serving status as grpc-go's server does, until
// EndWatches: a watch never ends by itself, and would hold GracefulStop
// until the shutdown deadline cut every call still in flight.
func (h *Health) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
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
// with NOT_SERVING. Call it after Stop.
func (h *Health) EndWatches() { h.endWatches() }

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
func (h *Health) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	// A caller that gives up must not read as a database that failed: the
	// checker bounds each check by itself.
	h.refresh(context.WithoutCancel(ctx))
	return h.Server.Check(ctx, req)
}

// follow refreshes the serving status now and every healthInterval until
// ctx ends.
func (h *Health) follow(ctx context.Context) {
	h.refresh(ctx)
	startstop.Every(ctx, healthInterval, h.refresh)
}

// refresh sets the overall status and each service's to the readiness.
func (h *Health) refresh(ctx context.Context) {
	st := healthpb.HealthCheckResponse_SERVING
	if !h.ready.Ready(ctx) {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, s := range h.services {
		h.SetServingStatus(s, st)
	}
}
