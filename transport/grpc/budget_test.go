package grpc

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

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

// TestBudgetCodecRefusals: a message too deep or with too many fields is
// refused with INVALID_ARGUMENT before it is decoded, and takes no budget.
func TestBudgetCodecRefusals(t *testing.T) {
	t.Parallel()
	budget := transport.NewBudget(1 << 20)
	api := holdingServer{held: make(chan struct{}, 1), release: make(chan struct{})}
	close(api.release)
	codec := NewBudgetCodec(budget)
	codec.maxDepth, codec.maxFields = 30, 1000
	conn := serveWith(t, func(s *grpc.Server) { pb.RegisterWorkflowRuntimeServiceServer(s, api) }, codec.ServerOptions()...)
	client := pb.NewWorkflowRuntimeServiceClient(conn)
	deploy := func(def *structpb.Struct) error {
		_, err := client.DeployWorkflow(context.Background(), &pb.DeployWorkflowRequest{WorkflowId: "w", WorkflowDefinition: def})
		return err
	}

	deep := &structpb.Struct{}
	for range 10 {
		deep = &structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewStructValue(deep)}}
	}
	err := deploy(deep)
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.Equal(t, "the request message is nested more than 30 levels deep", status.Convert(err).Message())

	values := make([]*structpb.Value, 501)
	for i := range values {
		values[i] = structpb.NewNullValue()
	}
	err = deploy(&structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewListValue(&structpb.ListValue{Values: values})}})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.Equal(t, "the request message holds more than 1000 fields", status.Convert(err).Message())

	err = deploy(&structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewListValue(&structpb.ListValue{Values: values[:400]})}})
	require.Equal(t, codes.Unimplemented, status.Code(err), "a message within bounds reaches the server: %v", err)
	full, err := budget.Acquire(context.Background(), budget.Size())
	require.NoError(t, err, "every message gave its cost back")
	full()
}
