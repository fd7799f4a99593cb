// Package simtest serves an engine-sim to a test over real gRPC on a port of
// 127.0.0.1, as pgtest gives it a database.
package simtest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// Serve serves sim on addr ("127.0.0.1:0" for any free port) until the test
// ends, and returns its address; opts may add an interceptor that watches
// the calls.
func Serve(t testing.TB, sim *enginesim.Sim, addr string, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterWorkflowServiceServer(srv, sim)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// Client returns an engine client of addr with retries and a breaker fast
// enough for tests; the connection closes when the test ends.
func Client(t testing.TB, addr string) engine.Client {
	t.Helper()
	conn, err := engine.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return engine.NewGRPC(conn, engine.Options{
		CallTimeout: time.Second, MaxAttempts: 2, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		BreakerOpenFor: 50 * time.Millisecond,
	})
}

// Call is one call an engine-sim received.
type Call struct {
	// Method is the gRPC method's full name.
	Method string
	// Metadata is the call's incoming gRPC metadata.
	Metadata metadata.MD
	// Request is the request message.
	Request any
}

// Recorder keeps the calls of the engine-sim whose Serve it is an option of.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

// Option returns the server option that records calls into r.
func (r *Recorder) Option() grpc.ServerOption {
	return grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		r.mu.Lock()
		r.calls = append(r.calls, Call{Method: info.FullMethod, Metadata: md.Copy(), Request: req})
		r.mu.Unlock()
		return handler(ctx, req)
	})
}

// Calls returns the calls received so far, oldest first.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}
