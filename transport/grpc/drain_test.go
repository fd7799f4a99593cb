package grpc

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestDrain(t *testing.T) {
	t.Parallel()
	// A server with no call in flight stops at once.
	idle := grpc.NewServer()
	start := time.Now()
	Drain(idle, time.Minute)
	require.Less(t, time.Since(start), 10*time.Second)

	// A call that never ends is cut off at the timeout.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	busy := grpc.NewServer()
	healthpb.RegisterHealthServer(busy, healthgrpc.NewServer())
	go func() { _ = busy.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	stream, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.NoError(t, err)
	start = time.Now()
	Drain(busy, 200*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	_, err = stream.Recv()
	require.Error(t, err, "the stream was cut off")
}
