package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/test/bufconn"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/transport"
	grpctransport "github.com/workflow-runtime/workflow-runtime/transport/grpc"
	httptransport "github.com/workflow-runtime/workflow-runtime/transport/http"
)

// Limits of the gRPC port, beyond the message sizes.
const (
	// maxConcurrentStreams bounds the calls in flight on one connection of
	// the gRPC port.
	maxConcurrentStreams = 1000
	// maxHeaderListBytes matches the HTTP port's MaxHeaderBytes, so that
	// whatever headers the gateway forwards fit.
	maxHeaderListBytes = 1 << 20
	// handshakeTimeout bounds a new connection's TLS and HTTP/2 handshake.
	handshakeTimeout = 10 * time.Second
	// gatewayBufferBytes is the in-process connection's buffer each way.
	gatewayBufferBytes = 1 << 20
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

// security authenticates the callers of both ports.
//
// The REST gateway reaches a gRPC server of its own over an in-process
// connection, not a loopback port: its calls pass the same interceptors and
// token check as the gRPC port's, yet need no client certificate of their own
// and no port that a local process could use to skip TLS. The HTTP port
// checked the caller's certificate and token already, and the caller's
// Authorization header travels on as metadata "authorization".
type security struct {
	auth    *auth.Authenticator
	grpcTLS *tls.Config
	httpTLS *tls.Config
	// gateway is grpc-go's in-memory listener, buffered both ways so that
	// HTTP/2's two prefaces, written at once, cannot block each other as they
	// may over net.Pipe.
	gateway  *bufconn.Listener
	stopHUP  func()
	hupEnded chan struct{}
}

func newSecurity(cfg config.Config, logger log.Logger, refusals metrics.Counter) (*security, error) {
	a, err := auth.New(auth.Options{
		Tokens: cfg.AuthTokens, TokensFile: cfg.AuthTokensFile, OpenPaths: cfg.AuthOpenPaths,
		ClientCerts: cfg.TLSClientCA != "", Logger: logger, Refusals: refusals,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s := &security{auth: a, gateway: bufconn.Listen(gatewayBufferBytes), stopHUP: func() {}}
	if cfg.TLSCert != "" {
		if s.grpcTLS, err = auth.ServerTLS(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA, true); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		// Probes carry no client certificate: the HTTP port asks for one and
		// the middleware requires it outside the open paths.
		if s.httpTLS, err = auth.ServerTLS(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA, false); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		s.httpTLS.NextProtos = []string{"h2", "http/1.1"}
	}

	open := strings.Join(cfg.AuthOpenPaths, ",")
	if a.TokensEnabled() {
		level.Info(logger).Log("msg", "auth on: calls need a bearer token", "accepted_bearers", a.Tokens(), "bearer_file", cfg.AuthTokensFile,
			"open_http_paths", open, "open_grpc", "grpc.health.v1.Health")
	} else {
		level.Warn(logger).Log("msg", "auth off: neither WFR_AUTH_TOKENS nor WFR_AUTH_TOKENS_FILE is set, every caller is accepted")
	}
	switch {
	case cfg.TLSClientCA != "":
		level.Info(logger).Log("msg", "tls on: client certificates required", "open_http_paths", open)
	case cfg.TLSCert != "":
		level.Info(logger).Log("msg", "tls on: no client certificates")
	default:
		level.Info(logger).Log("msg", "tls off: both ports serve plaintext")
	}
	if cfg.AuthTokensFile != "" {
		s.reloadOnHUP(logger)
	}
	return s, nil
}

// reloadOnHUP re-reads the token file on every SIGHUP until close.
func (s *security) reloadOnHUP(logger log.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	s.hupEnded = make(chan struct{})
	s.stopHUP = func() {
		signal.Stop(hup)
		cancel()
		<-s.hupEnded
	}
	go func() {
		defer close(s.hupEnded)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := s.auth.Reload(); err != nil {
					level.Error(logger).Log("msg", "token file not reloaded: the tokens accepted so far stay", "err", err)
					continue
				}
				level.Info(logger).Log("msg", "token file reloaded", "accepted_bearers", s.auth.Tokens())
			}
		}
	}()
}

// serverOptions are the gRPC port's credentials, authentication and limits,
// followed by opts. Authentication runs when a call's headers arrive, before
// its message is read, so that a refused call costs no decoding; lis is told
// of admitted calls, to keep their connections past the pre-auth timeout.
func (s *security) serverOptions(lis *transport.Listener, opts ...grpc.ServerOption) []grpc.ServerOption {
	own := []grpc.ServerOption{
		grpc.InTapHandle(grpctransport.AuthTap(s.auth, lis)),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalivePolicy),
		grpc.KeepaliveParams(keepaliveParams),
	}
	if s.grpcTLS != nil {
		own = append(own, grpc.Creds(credentials.NewTLS(s.grpcTLS)))
	}
	return append(own, opts...)
}

// gatewayServerOptions are those of the gRPC server that serves the REST
// gateway in the process, followed by opts. It checks the token that the
// gateway forwards, as the gRPC port does. It sets no stream cap: every REST
// call shares its one connection, so a cap there would let one kind of call
// (SYNC webhooks waiting) hold up all others; the HTTP port's connection cap
// and the SYNC bound limit what comes in.
func (s *security) gatewayServerOptions(opts ...grpc.ServerOption) []grpc.ServerOption {
	return append([]grpc.ServerOption{
		grpc.InTapHandle(s.auth.TapHandle),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
	}, opts...)
}

// gatewayConn returns the REST gateway's connection to the in-process
// server, which serveGateway serves.
func (s *security) gatewayConn(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///in-process",
		append([]grpc.DialOption{
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.gateway.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
		}, opts...)...)
}

// serveGateway serves srv, which must have its services registered, to the
// gateway's connection, until srv stops or close closes the listener.
func (s *security) serveGateway(srv *grpc.Server) {
	go func() { _ = srv.Serve(s.gateway) }()
}

// secureHTTP puts srv's handler behind the middleware, marks on lis the
// connections of the calls it admits, and, with TLS, returns lis wrapped to
// serve it.
func (s *security) secureHTTP(srv *http.Server, lis *transport.Listener) net.Listener {
	srv.Handler = s.auth.Middleware(httptransport.MarkAdmitted(lis, srv.Handler))
	if s.httpTLS == nil {
		return lis
	}
	return tls.NewListener(lis, s.httpTLS)
}

func (s *security) close() {
	s.stopHUP()
	_ = s.gateway.Close()
}
