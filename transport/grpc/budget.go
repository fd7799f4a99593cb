package grpc

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/workflow-runtime/workflow-runtime/transport"
)

// Bounds of a request message, as of a REST body (transport/http): a
// message is weighed by the fields it holds, counted on the wire before
// decoding, since a field becomes a Go value of about the same cost however
// few bytes it took. Measured with protobuf-go v1.36, a field of a
// Struct-heavy request costs 47 to 145 bytes once decoded and turned into the
// service's maps (a byte, 2 to 52: bytes alone would weigh badly).
const (
	// maxMessageDepth: a JSON level of a Struct is two or three message
	// levels (Value, Struct, map entry), and REST bodies nest at most 100.
	maxMessageDepth = 300
	// maxFields is twice the fields of the largest valid definition (1 MiB
	// of one-digit array elements is about a million).
	maxFields    = 2 << 20
	costPerField = 192
	costPerByte  = 4
)

// BudgetCodec is the server's protobuf codec. Before decoding a request it
// counts the request's fields on the wire, refuses one too deep or too
// large, and waits for the request's cost in the budget; the cost is given
// back when the call that holds the request ends. Decoding happens before
// any interceptor runs, so the codec is the one place that sees a message
// before it is decoded; its interceptors, which must run first, answer a
// refusal (or a message that does not decode) with INVALID_ARGUMENT and
// give the cost back.
type BudgetCodec struct {
	encoding.CodecV2
	budget *transport.Budget
	// held maps a request to the function that gives its cost back, or to
	// the error that refused it.
	held sync.Map
	// maxDepth and maxFields are maxMessageDepth and maxFields, but in tests.
	maxDepth, maxFields int
}

// NewBudgetCodec returns the protobuf codec over budget.
func NewBudgetCodec(budget *transport.Budget) *BudgetCodec {
	return &BudgetCodec{CodecV2: encoding.GetCodecV2(proto.Name), budget: budget, maxDepth: maxMessageDepth, maxFields: maxFields}
}

// Unmarshal waits for room in the budget, then decodes. It cannot see the
// call's context: a call whose caller gave up still waits, then ends at once.
func (c *BudgetCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(protov2.Message)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	depth, fields := scanMessage(b, m.ProtoReflect().Descriptor(), 1, c.maxDepth)
	switch {
	case depth > c.maxDepth:
		c.held.Store(v, status.Errorf(codes.InvalidArgument, "the request message is nested more than %d levels deep", c.maxDepth))
		return nil
	case fields > c.maxFields:
		c.held.Store(v, status.Errorf(codes.InvalidArgument, "the request message holds more than %d fields", c.maxFields))
		return nil
	}
	release, _ := c.budget.Acquire(context.Background(), int64(fields)*costPerField+int64(len(b))*costPerByte)
	if err := protov2.Unmarshal(b, m); err != nil {
		release()
		// Refused by the interceptor, as a request out of bounds is: an
		// error returned here would reach the caller as INTERNAL.
		c.held.Store(v, Status(undecodable(b, m.ProtoReflect().Descriptor(), err)).Err())
		return nil
	}
	c.held.Store(v, release)
	return nil
}

// scanMessage returns how deep the wire form b of a message of md nests and
// how many fields it holds, counting no deeper than maxDepth+1. It does not
// validate: what it cannot read, decoding will refuse.
func scanMessage(b []byte, md protoreflect.MessageDescriptor, depth, maxDepth int) (deepest, fields int) {
	deepest = depth
	if depth > maxDepth {
		return deepest, 0
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return deepest, fields
		}
		b = b[n:]
		fields++
		if fd := md.Fields().ByNumber(num); typ == protowire.BytesType && fd != nil && fd.Message() != nil {
			sub, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return deepest, fields
			}
			d, f := scanMessage(sub, fd.Message(), depth+1, maxDepth)
			deepest, fields = max(deepest, d), fields+f
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return deepest, fields
		}
		b = b[n:]
	}
	return deepest, fields
}

// admit returns the refusal of request v, if any, and the function that
// gives its cost back.
func (c *BudgetCodec) admit(v any) (release func(), err error) {
	h, ok := c.held.LoadAndDelete(v)
	if !ok {
		return func() {}, nil
	}
	if err, ok := h.(error); ok {
		return func() {}, err
	}
	return h.(func()), nil
}

// ServerOptions install the codec, and the interceptors that refuse what it
// refused and give a request's cost back when its call ends (unary) or once
// it is received (streams, whose messages are small). Put them before other
// interceptors.
func (c *BudgetCodec) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(c),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			release, err := c.admit(req)
			defer release()
			if err != nil {
				return nil, err
			}
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
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	release, err := s.codec.admit(m)
	release()
	return err
}
