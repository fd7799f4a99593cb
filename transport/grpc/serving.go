package grpc

import (
	"context"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ServingCheck returns a check that a call through conn reaches its server:
// for the REST gateway's connection, that REST calls get through, which no
// dependency's check shows. It lists the health statuses, which costs the
// server no check of its own.
func ServingCheck(conn grpc.ClientConnInterface) func(context.Context) error {
	client := healthpb.NewHealthClient(conn)
	return func(ctx context.Context) error {
		_, err := client.List(ctx, &healthpb.HealthListRequest{})
		return err
	}
}
