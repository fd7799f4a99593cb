package main

import (
	"context"
	"time"

	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

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
}

func newGRPCHealth(checker *health.Checker) grpcHealth {
	return grpcHealth{Server: grpchealth.NewServer(), checker: checker}
}

// Check refreshes the serving status, then answers as grpc-go's server does.
func (h grpcHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	// A caller that gives up must not read as a database that failed: the
	// checker bounds each check by itself.
	h.refresh(context.WithoutCancel(ctx))
	return h.Server.Check(ctx, req)
}

// follow refreshes the serving status every healthInterval until ctx ends.
func (h grpcHealth) follow(ctx context.Context) {
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
func (h grpcHealth) refresh(ctx context.Context) {
	st := healthpb.HealthCheckResponse_SERVING
	if !h.checker.Ready(ctx) {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, s := range []string{"", pb.WorkflowRuntimeService_ServiceDesc.ServiceName, pb.MonitoringService_ServiceDesc.ServiceName} {
		h.SetServingStatus(s, st)
	}
}
