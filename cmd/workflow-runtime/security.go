package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/config"
)

// security is what authenticates the callers of both ports: the tokens,
// re-read on SIGHUP, and the TLS configurations. The REST gateway's calls
// carry the caller's Authorization header on as metadata "authorization".
type security struct {
	auth     *auth.Authenticator
	grpcTLS  *tls.Config
	httpTLS  *tls.Config
	stopHUP  func()
	hupEnded chan struct{}
}

func newSecurity(cfg config.Config, logger log.Logger, refusals, denials metrics.Counter) (*security, error) {
	a, err := auth.New(auth.Options{
		Tokens: cfg.AuthTokens, TokensFile: cfg.AuthTokensFile, OpenPaths: cfg.AuthOpenPaths,
		ClientCerts: cfg.TLSClientCA != "", Logger: logger, Refusals: refusals,
		ClientRoles: cfg.AuthClientRoles, Denials: denials,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s := &security{auth: a, stopHUP: func() {}}
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

func (s *security) close() { s.stopHUP() }
