package grpc

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/workflow-runtime/workflow-runtime/transport"
)

// costPerByte weighs a request message against the budget: measured, a
// byte of a protobuf message holding Struct values grows into up to 53
// bytes of Go values once decoded and turned into the service's maps.
const costPerByte = 64

// BudgetCodec is the server's protobuf codec, which takes each request's
// decoding cost from a budget before decoding it, and gives it back when the
// call that holds the request ends. Decoding happens before any interceptor
// runs, so the codec is the one place that sees a message before it is
// decoded; its interceptors, which must run first, give the cost back.
type BudgetCodec struct {
	encoding.CodecV2
	budget *transport.Budget
	// held maps a decoded request to the function that gives its cost back.
	held sync.Map
}

// NewBudgetCodec returns the protobuf codec over budget.
func NewBudgetCodec(budget *transport.Budget) *BudgetCodec {
	return &BudgetCodec{CodecV2: encoding.GetCodecV2(proto.Name), budget: budget}
}

// Unmarshal waits for room in the budget, then decodes. It cannot see the
// call's context: a call whose caller gave up still waits, then ends at once.
func (c *BudgetCodec) Unmarshal(data mem.BufferSlice, v any) error {
	release, _ := c.budget.Acquire(context.Background(), int64(data.Len())*costPerByte)
	if err := c.CodecV2.Unmarshal(data, v); err != nil {
		release()
		return err
	}
	c.held.Store(v, release)
	return nil
}

// release gives back what decoding v took.
func (c *BudgetCodec) release(v any) {
	if r, ok := c.held.LoadAndDelete(v); ok {
		r.(func())()
	}
}

// ServerOptions install the codec, and the interceptors that give a
// request's cost back when its call ends (unary) or once it is received
// (streams, whose messages are small). Put them before other interceptors.
func (c *BudgetCodec) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(c),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			defer c.release(req)
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			return handler(srv, budgetStream{ServerStream: ss, codec: c})
		}),
	}
}

type budgetStream struct {
	grpc.ServerStream
	codec *BudgetCodec
}

func (s budgetStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	s.codec.release(m)
	return err
}
