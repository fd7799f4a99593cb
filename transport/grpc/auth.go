package grpc

import (
	"context"

	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/transport"
)

// AuthTap is a's tap handle for the port that lis serves: it also tells lis
// of each call it admits, so that lis keeps the connection open past its
// pre-auth timeout.
func AuthTap(a *auth.Authenticator, lis *transport.Listener) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		ctx, err := a.TapHandle(ctx, info)
		if err == nil {
			if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
				lis.Admitted(p.Addr.String())
			}
		}
		return ctx, err
	}
}
