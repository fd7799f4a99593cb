package grpc

import (
	"bytes"
	"context"
	"testing"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRecoveryInterceptor(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	intercept := RecoveryInterceptor(log.NewJSONLogger(&buf))
	info := &grpc.UnaryServerInfo{FullMethod: "/workflowruntime.v1.WorkflowRuntimeService/DeployWorkflow"}

	resp, err := intercept(context.Background(), nil, info, func(context.Context, any) (any, error) { return "ok", nil })
	require.NoError(t, err)
	require.Equal(t, "ok", resp)
	require.Empty(t, buf.String())

	resp, err = intercept(context.Background(), nil, info, func(context.Context, any) (any, error) { panic("boom") })
	require.Nil(t, resp)
	require.Equal(t, codes.Internal, status.Code(err))
	require.Contains(t, buf.String(), `"panic":"boom"`)
	require.Contains(t, buf.String(), "DeployWorkflow")
}
