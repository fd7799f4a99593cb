package grpc

import (
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/tap"
)

// Limits of the gRPC port, beyond the message sizes.
const (
	// maxConcurrentStreams bounds the calls in flight on one connection.
	maxConcurrentStreams = 1000
	// MaxHeaderListBytes matches the HTTP port's MaxHeaderBytes, so that
	// whatever headers the gateway forwards fit.
	MaxHeaderListBytes = 1 << 20
	// handshakeTimeout bounds a new connection's TLS and HTTP/2 handshake.
	handshakeTimeout = 10 * time.Second
)

// keepalivePolicy lets clients ping idle connections, but not more often than
// every 10 s: those that do are cut off.
var keepalivePolicy = keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}

// keepaliveParams close idle connections, find dead peers, and recycle
// connections every half hour, so that clients spread over replicas that
// started after them. The grace lets SYNC triggers finish.
var keepaliveParams = keepalive.ServerParameters{
	MaxConnectionIdle:     15 * time.Minute,
	MaxConnectionAge:      30 * time.Minute,
	MaxConnectionAgeGrace: 5 * time.Minute,
	Time:                  time.Minute,
	Timeout:               20 * time.Second,
}

// PortOptions are the gRPC port's authentication (admit, run when a call's
// headers arrive, before its message is read), limits and, when tlsConfig
// is set, credentials, followed by opts.
func PortOptions(admit tap.ServerInHandle, tlsConfig *tls.Config, opts ...grpc.ServerOption) []grpc.ServerOption {
	own := []grpc.ServerOption{
		grpc.InTapHandle(admit),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.MaxHeaderListSize(MaxHeaderListBytes),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalivePolicy),
		grpc.KeepaliveParams(keepaliveParams),
	}
	if tlsConfig != nil {
		own = append(own, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	return append(own, opts...)
}

// GatewayOptions are those of the gRPC server behind the REST gateway,
// followed by opts. It checks the token that the gateway forwards, as the
// gRPC port does. It sets no stream cap: every REST call shares its one
// connection, so a cap there would let one kind of call (SYNC webhooks
// waiting) hold up all others; the HTTP port's connection cap and the SYNC
// bound limit what comes in.
func GatewayOptions(admit tap.ServerInHandle, opts ...grpc.ServerOption) []grpc.ServerOption {
	return append([]grpc.ServerOption{
		grpc.InTapHandle(admit),
		grpc.MaxHeaderListSize(MaxHeaderListBytes),
	}, opts...)
}
