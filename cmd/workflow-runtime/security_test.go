package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth/authtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	grpctransport "github.com/workflow-runtime/workflow-runtime/transport/grpc"
)

const (
	envToken   = "env-token-0123456789abcdef"
	fileToken  = "file-token-0123456789abcdef"
	wrongToken = "wrong-token-0123456789abcdef"
)

// secureStack is a workflow-runtime with its security settings, reached over
// TLS when tlsClient is set, logging at debug level into logs.
type secureStack struct {
	grpcAddr, httpBase string
	http               *http.Client
	logs               *logtest.Buffer
}

func startSecureStack(t *testing.T, extraEnv map[string]string, tlsClient *tls.Config) *secureStack {
	t.Helper()
	_, prefix := redistest.New(t)
	grpcLis, httpLis := listenLoopback(t)
	grpcAddr, httpAddr := grpcLis.Addr().String(), httpLis.Addr().String()
	env := map[string]string{
		"WFR_REDIS_PREFIX":     prefix,
		"WFR_DATABASE_URL":     pgtest.NewDatabase(t),
		"WFR_REDIS_URL":        "redis://127.0.0.1:6379/0",
		"WFR_INSTANCE_ID":      "security-test",
		"WFR_SHUTDOWN_TIMEOUT": "5s",
		"WFR_DRAIN_DELAY":      "0s",
		"WFR_LOG_LEVEL":        "debug",
	}
	maps.Copy(env, extraEnv)
	cfg, err := config.Load("serve", nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	s := &secureStack{grpcAddr: grpcAddr, httpBase: "http://" + httpAddr, http: &http.Client{}, logs: &logtest.Buffer{}}
	if tlsClient != nil {
		s.httpBase = "https://" + httpAddr
		s.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsClient}}
	}
	logger, logLevel, err := logging.New(s.logs, cfg.LogFormat, cfg.LogLevel, cfg.InstanceID)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, cfg, logger, logLevel, grpcLis, httpLis) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	awaitReady(t, s.http, s.httpBase+"/readyz", done)
	return s
}

// dial returns a gRPC connection to the stack with creds.
func (s *secureStack) dial(t *testing.T, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// do sends a request with authorization, if not empty, and returns the
// status and body.
func (s *secureStack) do(t *testing.T, method, path, authorization, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.httpBase+path, strings.NewReader(body))
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := s.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw)
}

func bearer(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// requireUnauthenticatedJSON checks a REST refusal: 401 with the gRPC code and
// a message that does not repeat what was sent.
func requireUnauthenticatedJSON(t *testing.T, code int, body, wantMessage string) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, code, body)
	var e struct {
		Code    codes.Code `json:"code"`
		Message string     `json:"message"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.Equal(t, codes.Unauthenticated, e.Code)
	require.Equal(t, wantMessage, e.Message)
}

// TestAuthTokens drives token checks through gRPC and REST, with tokens from
// the environment and from a file that SIGHUP re-reads.
func TestAuthTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	tokenFile := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokenFile, []byte("# operators\n"+fileToken+"\n"), 0o600))
	s := startSecureStack(t, map[string]string{"WFR_AUTH_TOKENS": envToken, "WFR_AUTH_TOKENS_FILE": tokenFile}, nil)
	conn := s.dial(t, insecure.NewCredentials())
	api := pb.NewWorkflowRuntimeServiceClient(conn)

	grpcCases := []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"no token", context.Background(), codes.Unauthenticated},
		{"wrong token", bearer(wrongToken), codes.Unauthenticated},
		{"token from the environment", bearer(envToken), codes.OK},
		{"token from the file", bearer(fileToken), codes.OK},
	}
	for _, c := range grpcCases {
		_, err := api.ListDeployments(c.ctx, &pb.ListDeploymentsRequest{})
		require.Equal(t, c.want, status.Code(err), "gRPC %s: %v", c.name, err)
		require.NotContains(t, fmt.Sprint(err), wrongToken)
	}
	health, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "gRPC health stays open for probes")
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, health.GetStatus())
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	require.NoError(t, err)
	_ = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	_, err = stream.Recv()
	require.Equal(t, codes.Unauthenticated, status.Code(err), "reflection needs a token")

	deploy := `{"workflow_id":"secured","workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]}}`
	code, body := s.do(t, "POST", "/api/v1/deployments", "", deploy)
	requireUnauthenticatedJSON(t, code, body, "missing credentials: send the header authorization: Bearer <token>")
	code, body = s.do(t, "POST", "/api/v1/deployments", "Bearer "+wrongToken, deploy)
	requireUnauthenticatedJSON(t, code, body, "the bearer token is not valid")
	code, body = s.do(t, "GET", "/api/v1/deployments", "Basic "+envToken, "")
	requireUnauthenticatedJSON(t, code, body, "the authorization header must read Bearer <token>")
	code, body = s.do(t, "POST", "/api/v1/deployments", "Bearer "+envToken, deploy)
	require.Equal(t, http.StatusOK, code, body)
	code, body = s.do(t, "GET", "/api/v1/workflows/secured/deployment", "Bearer "+fileToken, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"workflow_id":"secured"`)

	// The default open paths are the probes.
	for _, c := range []struct {
		path, authorization string
		want                int
	}{
		{"/livez", "", 200},
		{"/readyz", "", 200},
		{"/health", "", 401},
		{"/metrics", "", 401},
		{"/openapi.json", "", 401},
		{"/docs/", "", 401},
		{"/metrics", "Bearer " + wrongToken, 401},
		{"/metrics", "Bearer " + envToken, 200},
		{"/health", "Bearer " + fileToken, 200},
	} {
		code, body := s.do(t, "GET", c.path, c.authorization, "")
		require.Equal(t, c.want, code, "%s with %q: %s", c.path, c.authorization, body)
	}

	// SIGHUP swaps the file's tokens; the environment's stay.
	const newToken = "rotated-token-0123456789abcdef"
	require.NoError(t, os.WriteFile(tokenFile, []byte(newToken+"\n"), 0o600))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool {
		_, err := api.ListDeployments(bearer(newToken), &pb.ListDeploymentsRequest{})
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "the rotated token was never accepted")
	_, err = api.ListDeployments(bearer(fileToken), &pb.ListDeploymentsRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err), "a token taken out of the file is refused")
	_, err = api.ListDeployments(bearer(envToken), &pb.ListDeploymentsRequest{})
	require.NoError(t, err)

	logs := s.logs.String()
	require.Contains(t, logs, `"msg":"auth on: calls need a bearer token"`)
	require.Contains(t, logs, `"msg":"call refused: unauthenticated"`)
	require.Contains(t, logs, `"msg":"token file reloaded"`)
	for _, tok := range []string{envToken, fileToken, wrongToken, newToken} {
		require.NotContains(t, logs, tok, "a token reached the log")
	}
}

// TestAuthOff checks that without tokens every call passes, and the start
// says so in one line.
func TestAuthOff(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startSecureStack(t, nil, nil)
	_, err := pb.NewWorkflowRuntimeServiceClient(s.dial(t, insecure.NewCredentials())).ListDeployments(context.Background(), &pb.ListDeploymentsRequest{})
	require.NoError(t, err)
	code, body := s.do(t, "GET", "/metrics", "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 1, strings.Count(s.logs.String(), `"msg":"auth off: neither WFR_AUTH_TOKENS nor WFR_AUTH_TOKENS_FILE is set, every caller is accepted"`))
	require.Contains(t, s.logs.String(), `"msg":"tls off: both ports serve plaintext"`)
}

// TestMutualTLS serves both ports over TLS with client certificates required,
// and a token on top: REST calls pass the gateway's in-process connection.
func TestMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	servers, clients := authtest.NewCA(t, "servers"), authtest.NewCA(t, "clients")
	server, client := servers.Issue(t, "server"), clients.Issue(t, "client")
	stranger := servers.Issue(t, "stranger")
	trust := &tls.Config{RootCAs: servers.Pool}
	s := startSecureStack(t, map[string]string{
		"WFR_TLS_CERT": server.CertFile, "WFR_TLS_KEY": server.KeyFile, "WFR_TLS_CLIENT_CA": clients.CertFile,
		"WFR_AUTH_TOKENS": envToken,
	}, trust)
	withCert := &tls.Config{RootCAs: servers.Pool, Certificates: []tls.Certificate{client.TLS}}

	// gRPC: the handshake refuses a client without a certificate of the CA.
	for name, cfg := range map[string]*tls.Config{
		"no certificate": trust,
		"another CA's certificate": {RootCAs: servers.Pool, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &stranger.TLS, nil
		}},
	} {
		_, err := healthpb.NewHealthClient(s.dial(t, credentials.NewTLS(cfg))).Check(context.Background(), &healthpb.HealthCheckRequest{})
		require.Equal(t, codes.Unavailable, status.Code(err), "gRPC with %s: %v", name, err)
	}
	_, err := pb.NewWorkflowRuntimeServiceClient(s.dial(t, insecure.NewCredentials())).ListDeployments(bearer(envToken), &pb.ListDeploymentsRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err), "plaintext gRPC: %v", err)
	api := pb.NewWorkflowRuntimeServiceClient(s.dial(t, credentials.NewTLS(withCert)))
	_, err = api.ListDeployments(context.Background(), &pb.ListDeploymentsRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err), "a certificate does not replace the token")
	_, err = api.ListDeployments(bearer(envToken), &pb.ListDeploymentsRequest{})
	require.NoError(t, err)

	// REST: probes need no certificate; the rest needs one, then the token.
	code, body := s.do(t, "GET", "/readyz", "", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = s.do(t, "GET", "/api/v1/deployments", "Bearer "+envToken, "")
	requireUnauthenticatedJSON(t, code, body, "a client certificate is required")
	code, body = s.do(t, "GET", "/metrics", "Bearer "+envToken, "")
	requireUnauthenticatedJSON(t, code, body, "a client certificate is required")

	s.http = &http.Client{Transport: &http.Transport{TLSClientConfig: withCert, ForceAttemptHTTP2: true}}
	code, body = s.do(t, "GET", "/api/v1/deployments", "", "")
	requireUnauthenticatedJSON(t, code, body, "missing credentials: send the header authorization: Bearer <token>")
	code, body = s.do(t, "POST", "/api/v1/deployments", "Bearer "+envToken,
		`{"workflow_id":"mtls","workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]}}`)
	require.Equal(t, http.StatusOK, code, body)
	resp, err := s.http.Get(s.httpBase + "/livez")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "HTTP/2.0", resp.Proto, "the HTTP port speaks HTTP/2 over TLS")

	plain, err := http.Get(strings.Replace(s.httpBase, "https://", "http://", 1) + "/livez")
	require.NoError(t, err)
	plain.Body.Close()
	require.Equal(t, http.StatusBadRequest, plain.StatusCode, "plaintext HTTP to the TLS port")
	require.Contains(t, s.logs.String(), `"msg":"tls on: client certificates required"`)
}

// TestTLSWithoutClientCerts serves TLS that any client may use.
func TestTLSWithoutClientCerts(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	servers := authtest.NewCA(t, "servers")
	server := servers.Issue(t, "server")
	trust := &tls.Config{RootCAs: servers.Pool}
	s := startSecureStack(t, map[string]string{"WFR_TLS_CERT": server.CertFile, "WFR_TLS_KEY": server.KeyFile}, trust)

	_, err := pb.NewWorkflowRuntimeServiceClient(s.dial(t, credentials.NewTLS(trust))).ListDeployments(context.Background(), &pb.ListDeploymentsRequest{})
	require.NoError(t, err)
	code, body := s.do(t, "GET", "/api/v1/deployments", "", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = s.do(t, "GET", "/metrics", "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, s.logs.String(), `"msg":"tls on: no client certificates"`)
}

// TestServeBadSecuritySettings checks that bad settings stop the start with
// one clear line each, and that no token is echoed.
func TestServeBadSecuritySettings(t *testing.T) {
	t.Parallel()

	ca := authtest.NewCA(t, "ca")
	env := map[string]string{
		"WFR_DATABASE_URL":    "postgres://postgres@127.0.0.1:5432/unused?sslmode=disable",
		"WFR_AUTH_TOKENS":     envToken + ",short-secret,gateway:writer:" + fileToken,
		"WFR_AUTH_OPEN_PATHS": "/livez,/secret",
		"WFR_TLS_CLIENT_CA":   ca.CertFile,
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve"}, io.Discard, &stderr, func(k string) string { return env[k] })
	require.Equal(t, 2, code)
	want := []string{
		`WFR_AUTH_TOKENS (--auth-tokens) = "<redacted>": token 2 is shorter than 16 characters; ` +
			`token 3 (gateway) has the unknown role "writer", not one of admin, operator, trigger, read`,
		`WFR_AUTH_OPEN_PATHS (--auth-open-paths) = "/livez,/secret": must be none or a comma-separated list of /livez, /readyz, /health, /metrics, /docs, /openapi.json`,
		fmt.Sprintf(`WFR_TLS_CLIENT_CA (--tls-client-ca) = %q: needs WFR_TLS_CERT and WFR_TLS_KEY: client certificates are checked only over TLS`, ca.CertFile),
	}
	require.Equal(t, want, strings.Split(strings.TrimSpace(stderr.String()), "\n"))
	require.NotContains(t, stderr.String(), envToken)
	require.NotContains(t, stderr.String(), "short-secret")
	require.NotContains(t, stderr.String(), fileToken)
}

// TestGRPCInputLimits: a message over the receive limit and a header list
// over its limit are refused, and the server goes on serving.
func TestGRPCInputLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	conn, err := grpc.NewClient(s.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(4*maxRequestBytes)))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	client := pb.NewWorkflowRuntimeServiceClient(conn)
	ctx := context.Background()

	_, err = client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "huge", DeployedBy: strings.Repeat("x", maxRequestBytes+1)})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "a message over %d bytes: %v", maxRequestBytes, err)

	big := metadata.AppendToOutgoingContext(ctx, "x-padding", strings.Repeat("x", 2*grpctransport.MaxHeaderListBytes))
	_, err = client.ListDeployments(big, &pb.ListDeploymentsRequest{})
	require.ErrorContains(t, err, fmt.Sprintf("(%d bytes) set by server", grpctransport.MaxHeaderListBytes), "a header list over the limit")

	_, err = s.client.ListDeployments(ctx, &pb.ListDeploymentsRequest{})
	require.NoError(t, err, "the server serves on after refusing both")
}
