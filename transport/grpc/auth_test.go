package grpc

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/transport"
)

type listing struct {
	pb.UnimplementedWorkflowRuntimeServiceServer
}

func (listing) ListDeployments(context.Context, *pb.ListDeploymentsRequest) (*pb.ListDeploymentsResponse, error) {
	return &pb.ListDeploymentsResponse{}, nil
}

// TestAuthTap: an admitted call keeps its connection past the pre-auth
// timeout; a refused one does not.
func TestAuthTap(t *testing.T) {
	t.Parallel()
	const token = "tap-token-0123456789abcdef"
	a, err := auth.New(auth.Options{Tokens: []string{token}})
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lis := transport.NewListener(raw, 0, time.Hour)
	srv := grpc.NewServer(grpc.InTapHandle(AuthTap(a, lis)))
	pb.RegisterWorkflowRuntimeServiceServer(srv, listing{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	call := func(ctx context.Context) error {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = pb.NewWorkflowRuntimeServiceClient(conn).ListDeployments(ctx, &pb.ListDeploymentsRequest{})
		return err
	}

	require.Equal(t, codes.Unauthenticated, status.Code(call(context.Background())))
	require.Equal(t, 1, lis.Waiting(), "a refused call leaves its connection waiting")
	require.NoError(t, call(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)))
	require.Equal(t, 1, lis.Waiting(), "the admitted connection no longer waits")
}
