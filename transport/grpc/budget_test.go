package grpc

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/transport"
)

// holdingServer answers ListDeployments once release is closed, telling
// held when the call is in.
type holdingServer struct {
	pb.UnimplementedWorkflowRuntimeServiceServer
	held, release chan struct{}
}

func (s holdingServer) ListDeployments(context.Context, *pb.ListDeploymentsRequest) (*pb.ListDeploymentsResponse, error) {
	s.held <- struct{}{}
	<-s.release
	return &pb.ListDeploymentsResponse{}, nil
}

func serveWith(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(opts...)
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestBudgetCodec: a request holds its cost from the budget while its call
// runs, and gives it back when the call ends; stream messages give theirs
// back once received.
func TestBudgetCodec(t *testing.T) {
	t.Parallel()
	budget := transport.NewBudget(1 << 20)
	api := holdingServer{held: make(chan struct{}, 1), release: make(chan struct{})}
	conn := serveWith(t, func(s *grpc.Server) {
		pb.RegisterWorkflowRuntimeServiceServer(s, api)
		reflection.Register(s)
	}, NewBudgetCodec(budget).ServerOptions()...)

	// 10 KiB of message cost 640 KiB.
	req := &pb.ListDeploymentsRequest{PageToken: strings.Repeat("t", 10<<10)}
	done := make(chan error, 1)
	go func() {
		_, err := pb.NewWorkflowRuntimeServiceClient(conn).ListDeployments(context.Background(), req)
		done <- err
	}()
	<-api.held
	spent, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := budget.Acquire(spent, 512<<10)
	require.Error(t, err, "the call in flight holds its cost")
	close(api.release)
	require.NoError(t, <-done)

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{Host: strings.Repeat("h", 4<<10),
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	_, err = stream.Recv()
	require.NoError(t, err)

	full, err := budget.Acquire(context.Background(), budget.Size())
	require.NoError(t, err, "every message gave its cost back")
	full()
}

// TestServingCheck: the check passes while calls reach the server, and
// fails when they cannot get a stream, as when every stream of the
// gateway's connection is taken.
func TestServingCheck(t *testing.T) {
	t.Parallel()
	api := holdingServer{held: make(chan struct{}, 1), release: make(chan struct{})}
	conn := serveWith(t, func(s *grpc.Server) {
		pb.RegisterWorkflowRuntimeServiceServer(s, api)
		healthpb.RegisterHealthServer(s, grpchealth.NewServer())
	}, grpc.MaxConcurrentStreams(1))
	check := ServingCheck(conn)
	require.NoError(t, check(context.Background()))

	done := make(chan error, 1)
	go func() {
		_, err := pb.NewWorkflowRuntimeServiceClient(conn).ListDeployments(context.Background(), &pb.ListDeploymentsRequest{})
		done <- err
	}()
	<-api.held
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.Error(t, check(ctx), "a check with no stream to take passed")
	close(api.release)
	require.NoError(t, <-done)
	require.NoError(t, check(context.Background()))
}
