package grpc

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// gatewayBufferBytes is the in-process connection's buffer each way.
const gatewayBufferBytes = 1 << 20

// Gateway is the in-process connection over which the REST gateway reaches
// a gRPC server of its own, rather than a loopback port: its calls pass the
// same interceptors as the gRPC port's, yet need no client certificate and
// open no port that a local process could use to skip TLS. It is grpc-go's
// in-memory listener, buffered both ways so that HTTP/2's two prefaces,
// written at once, cannot block each other as they may over net.Pipe.
type Gateway struct {
	lis *bufconn.Listener
}

// NewGateway returns a gateway with nothing served yet.
func NewGateway() *Gateway { return &Gateway{lis: bufconn.Listen(gatewayBufferBytes)} }

// Conn returns the gateway's client connection; its calls wait until Serve.
func (g *Gateway) Conn(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///in-process",
		append([]grpc.DialOption{
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return g.lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
		}, opts...)...)
}

// Serve serves srv, which must have its services registered, to the
// gateway's connection until srv stops or Close.
func (g *Gateway) Serve(srv *grpc.Server) {
	go func() { _ = srv.Serve(g.lis) }()
}

// Close closes the in-process listener.
func (g *Gateway) Close() error { return g.lis.Close() }
