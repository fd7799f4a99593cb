package auth

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth/authtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// serveGRPC serves, on a loopback port, health, reflection and an API whose
// ListDeployments answers OK to a call the authenticator lets through.
func serveGRPC(t *testing.T, a *Authenticator) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.InTapHandle(a.TapHandle), grpc.UnaryInterceptor(a.UnaryInterceptor), grpc.StreamInterceptor(a.StreamInterceptor))
	pb.RegisterWorkflowRuntimeServiceServer(srv, listingServer{})
	healthpb.RegisterHealthServer(srv, grpchealth.NewServer())
	reflection.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// listingServer answers ListDeployments with an empty page.
type listingServer struct {
	pb.UnimplementedWorkflowRuntimeServiceServer
}

func (listingServer) ListDeployments(context.Context, *pb.ListDeploymentsRequest) (*pb.ListDeploymentsResponse, error) {
	return &pb.ListDeploymentsResponse{}, nil
}

func withAuthorization(values ...string) context.Context {
	md := metadata.MD{}
	for _, v := range values {
		md.Append("authorization", v)
	}
	return metadata.NewOutgoingContext(context.Background(), md)
}

func TestGRPC(t *testing.T) {
	t.Parallel()

	logs := &logtest.Buffer{}
	a, err := New(Options{Tokens: []string{tokenA, tokenB}, Logger: log.NewLogfmtLogger(logs)})
	require.NoError(t, err)
	require.True(t, a.TokensEnabled())
	conn := serveGRPC(t, a)
	api := pb.NewWorkflowRuntimeServiceClient(conn)

	tests := []struct {
		name     string
		ctx      context.Context
		want     codes.Code
		wantText string
	}{
		{"no token", context.Background(), codes.Unauthenticated, "missing credentials: send the header authorization: Bearer <token>"},
		{"wrong token", withAuthorization("Bearer wrong-0123456789abcdef"), codes.Unauthenticated, "the bearer token is not valid"},
		{"empty bearer", withAuthorization("Bearer "), codes.Unauthenticated, "the authorization header must read Bearer <token>"},
		{"basic scheme", withAuthorization("Basic " + tokenA), codes.Unauthenticated, "the authorization header must read Bearer <token>"},
		{"token without scheme", withAuthorization(tokenA), codes.Unauthenticated, "the authorization header must read Bearer <token>"},
		{"two headers", withAuthorization("Bearer "+tokenA, "Bearer "+tokenB), codes.Unauthenticated, "more than one authorization header"},
		{"right token", withAuthorization("Bearer " + tokenA), codes.OK, ""},
		{"second token, scheme in lower case", withAuthorization("bearer " + tokenB), codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := api.ListDeployments(tt.ctx, &pb.ListDeploymentsRequest{})
			st := status.Convert(err)
			require.Equal(t, tt.want, st.Code(), "message: %s", st.Message())
			if tt.wantText != "" {
				require.Equal(t, tt.wantText, st.Message())
			}
			require.NotContains(t, st.Message(), tokenA)
			require.NotContains(t, st.Message(), "wrong-0123456789abcdef")
		})
	}

	t.Run("health stays open", func(t *testing.T) {
		t.Parallel()
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	})
	t.Run("reflection needs a token", func(t *testing.T) {
		t.Parallel()
		list := func(ctx context.Context) (*reflectionpb.ServerReflectionResponse, error) {
			stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			require.NoError(t, err)
			// A refused stream may end before Send: its status comes from Recv.
			_ = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
			return stream.Recv()
		}
		_, err := list(context.Background())
		require.Equal(t, codes.Unauthenticated, status.Code(err))
		resp, err := list(withAuthorization("Bearer " + tokenA))
		require.NoError(t, err)
		require.NotEmpty(t, resp.GetListServicesResponse().GetService())
	})

	t.Cleanup(func() {
		out := logs.String()
		require.Contains(t, out, "call refused: unauthenticated")
		require.Contains(t, out, "method=/workflowruntime.v1.WorkflowRuntimeService/ListDeployments")
		require.NotContains(t, out, tokenA)
		require.NotContains(t, out, tokenB)
		require.NotContains(t, out, "wrong-0123456789abcdef")
	})
}

func TestGRPCWithoutTokens(t *testing.T) {
	t.Parallel()

	a, err := New(Options{})
	require.NoError(t, err)
	require.False(t, a.TokensEnabled())
	_, err = pb.NewWorkflowRuntimeServiceClient(serveGRPC(t, a)).ListDeployments(context.Background(), &pb.ListDeploymentsRequest{})
	require.NoError(t, err, "a call passes when no token is configured")
}

func TestReload(t *testing.T) {
	t.Parallel()

	path := writeFile(t, tokenA+"\n")
	a, err := New(Options{Tokens: []string{tokenB}, TokensFile: path})
	require.NoError(t, err)
	require.Equal(t, 2, a.Tokens())
	_, r := a.check([]string{"Bearer " + tokenA})
	require.Nil(t, r)

	const tokenC = "token-c-0123456789abcdef"
	require.NoError(t, os.WriteFile(path, []byte(tokenC+"\n"), 0o600))
	require.NoError(t, a.Reload())
	_, r = a.check([]string{"Bearer " + tokenA})
	require.Equal(t, errWrongToken, r, "a token taken out of the file is refused")
	id, r := a.check([]string{"Bearer " + tokenC})
	require.Nil(t, r)
	require.Equal(t, Identity{Name: PlainTokenName, Role: RoleAdmin}, *id)
	_, r = a.check([]string{"Bearer " + tokenB})
	require.Nil(t, r, "tokens from the environment stay")

	require.NoError(t, os.WriteFile(path, []byte("short\n"), 0o600))
	require.Error(t, a.Reload())
	_, r = a.check([]string{"Bearer " + tokenC})
	require.Nil(t, r, "a bad file keeps the tokens accepted so far")

	_, err = New(Options{TokensFile: path})
	require.ErrorContains(t, err, "line 1: token is shorter than 16 characters")
	_, err = New(Options{OpenPaths: []string{"/api/v1/deployments"}})
	require.EqualError(t, err, "open path /api/v1/deployments is not one of /livez, /readyz, /health, /metrics, /docs, /openapi.json")
}

// plain answers every path it serves with the path.
var plain = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, r.URL.Path)
})

type httpCase struct {
	name, path, authorization string
	want                      int
	wantMessage               string
}

func runHTTP(t *testing.T, client *http.Client, base string, tests []httpCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, base+tt.path, nil)
			require.NoError(t, err)
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.want, resp.StatusCode, "body: %s", body)
			require.NotContains(t, string(body), tokenA)
			if tt.want != http.StatusUnauthorized {
				return
			}
			require.Equal(t, `Bearer realm="workflow-runtime"`, resp.Header.Get("WWW-Authenticate"))
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			require.NoError(t, json.Unmarshal(body, &e))
			require.Equal(t, int(codes.Unauthenticated), e.Code)
			require.Equal(t, tt.wantMessage, e.Message)
		})
	}
}

func TestMiddleware(t *testing.T) { //nolint:tparallel // the cases then read the one log they all write to
	t.Parallel()

	logs := &logtest.Buffer{}
	a, err := New(Options{Tokens: []string{tokenA}, OpenPaths: []string{"/livez", "/readyz", "/docs"}, Logger: log.NewLogfmtLogger(logs)})
	require.NoError(t, err)
	srv := httptest.NewServer(a.Middleware(plain))
	defer srv.Close()

	runHTTP(t, srv.Client(), srv.URL, []httpCase{
		{name: "open probe", path: "/livez", want: http.StatusOK},
		{name: "open subtree", path: "/docs/index.html", want: http.StatusOK},
		{name: "prefix is not the subtree", path: "/livezz", want: http.StatusUnauthorized, wantMessage: errNoToken.Error()},
		{name: "closed without token", path: "/metrics", want: http.StatusUnauthorized, wantMessage: errNoToken.Error()},
		{name: "closed with a wrong token", path: "/metrics", authorization: "Bearer " + tokenA + "x", want: http.StatusUnauthorized, wantMessage: errWrongToken.Error()},
		{name: "closed with the token", path: "/metrics", authorization: "Bearer " + tokenA, want: http.StatusOK},
		{name: "dot segments judged as cleaned", path: "/docs/../metrics", want: http.StatusUnauthorized, wantMessage: errNoToken.Error()},
		{name: "REST without token", path: "/api/v1/deployments", want: http.StatusUnauthorized, wantMessage: errNoToken.Error()},
		{name: "REST with the token", path: "/api/v1/deployments", authorization: "Bearer " + tokenA, want: http.StatusOK},
	})
	require.Contains(t, logs.String(), "path=/metrics")
	require.NotContains(t, logs.String(), tokenA)

	off, err := New(Options{})
	require.NoError(t, err)
	open := httptest.NewServer(off.Middleware(plain))
	defer open.Close()
	runHTTP(t, open.Client(), open.URL, []httpCase{{name: "no tokens: all open", path: "/metrics", want: http.StatusOK}})
}

func TestMiddlewareClientCerts(t *testing.T) { //nolint:tparallel // sequential cases on servers the test closes when it returns
	t.Parallel()

	clients := authtest.NewCA(t, "clients")
	servers := authtest.NewCA(t, "servers")
	server := servers.Issue(t, "server")
	cfg, err := ServerTLS(server.CertFile, server.KeyFile, clients.CertFile, false)
	require.NoError(t, err)
	require.Equal(t, tls.VerifyClientCertIfGiven, cfg.ClientAuth)

	a, err := New(Options{OpenPaths: []string{"/readyz"}, ClientCerts: true})
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(a.Middleware(plain))
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()

	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: servers.Pool, Certificates: certs}}}
	}
	runHTTP(t, client(), srv.URL, []httpCase{
		{name: "open without certificate", path: "/readyz", want: http.StatusOK},
		{name: "closed without certificate", path: "/metrics", want: http.StatusUnauthorized, wantMessage: errNoCert.Error()},
		{name: "REST without certificate", path: "/api/v1/deployments", want: http.StatusUnauthorized, wantMessage: errNoCert.Error()},
	})
	runHTTP(t, client(clients.Issue(t, "client").TLS), srv.URL, []httpCase{
		{name: "closed with certificate", path: "/metrics", want: http.StatusOK},
		{name: "REST with certificate", path: "/api/v1/deployments", want: http.StatusOK},
	})
	// Go's client leaves out a certificate that the server's CAs did not
	// issue; one forced on the server fails the handshake.
	stranger := servers.Issue(t, "stranger").TLS
	runHTTP(t, client(stranger), srv.URL, []httpCase{
		{name: "certificate of another CA", path: "/metrics", want: http.StatusUnauthorized, wantMessage: errNoCert.Error()},
	})
	forced := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:              servers.Pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil },
	}}}
	resp, err := forced.Get(srv.URL + "/readyz")
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "a certificate of another CA fails the handshake")
}

func TestServerTLS(t *testing.T) {
	t.Parallel()

	ca := authtest.NewCA(t, "ca")
	pair := ca.Issue(t, "server")
	cfg, err := ServerTLS(pair.CertFile, pair.KeyFile, "", true)
	require.NoError(t, err)
	require.Equal(t, tls.NoClientCert, cfg.ClientAuth)
	require.Nil(t, cfg.ClientCAs)
	require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)

	cfg, err = ServerTLS(pair.CertFile, pair.KeyFile, ca.CertFile, true)
	require.NoError(t, err)
	require.Equal(t, tls.RequireAndVerifyClientCert, cfg.ClientAuth)

	_, err = ServerTLS(pair.CertFile, ca.CertFile, "", false)
	require.ErrorContains(t, err, "certificate and key: ")
	_, err = ServerTLS(pair.CertFile, pair.KeyFile, pair.KeyFile, true)
	require.EqualError(t, err, pair.KeyFile+" holds no PEM certificate")
	_, err = ServerTLS(pair.CertFile, pair.KeyFile, pair.KeyFile+".missing", true)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.True(t, strings.HasSuffix(pair.KeyFile, ".pem"))
}

func TestMiddlewareConsole(t *testing.T) {
	t.Parallel()

	// A token may hold what a cookie cannot: quotes, semicolons, backslashes.
	const odd = `odd;"token\0123456789,`
	a, err := New(Options{Tokens: []string{tokenA, odd}})
	require.NoError(t, err)
	srv := httptest.NewServer(a.Middleware(plain))
	// Cleanup, not defer: the parallel subtests run after this function returns.
	t.Cleanup(srv.Close)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tt := range []struct {
		name, method, path, cookie, authorization, referer string
		want                                               int
		wantLocation                                       string
	}{
		{name: "sign-in page open", method: http.MethodGet, path: ConsoleSignIn, want: http.StatusOK},
		{name: "sign-in post open", method: http.MethodPost, path: ConsoleSignIn, want: http.StatusOK},
		{name: "assets open", method: http.MethodGet, path: "/ui/static/console.css", want: http.StatusOK},
		{name: "page without token goes to sign in", method: http.MethodGet, path: "/ui/deployments?status=PAUSED",
			want: http.StatusSeeOther, wantLocation: ConsoleSignIn + "?next=%2Fui%2Fdeployments%3Fstatus%3DPAUSED"},
		{name: "post without token comes back to its page", method: http.MethodPost, path: "/ui/deployments/d1/pause",
			referer: "http://example.test/ui/deployments/d1", want: http.StatusSeeOther,
			wantLocation: ConsoleSignIn + "?next=http%3A%2F%2Fexample.test%2Fui%2Fdeployments%2Fd1"},
		{name: "wrong cookie goes to sign in", method: http.MethodGet, path: "/ui/", cookie: tokenA + "x",
			want: http.StatusSeeOther, wantLocation: ConsoleSignIn + "?next=%2Fui%2F"},
		{name: "cookie", method: http.MethodGet, path: "/ui/", cookie: tokenA, want: http.StatusOK},
		{name: "cookie of a token that a cookie could not hold as it is", method: http.MethodGet, path: "/ui/", cookie: odd, want: http.StatusOK},
		{name: "header", method: http.MethodGet, path: "/ui/load", authorization: "Bearer " + tokenA, want: http.StatusOK},
		{name: "the console's root without slash", method: http.MethodGet, path: "/ui", cookie: tokenA, want: http.StatusOK},
		{name: "dot segments leave the open assets", method: http.MethodGet, path: "/ui/static/../load",
			want: http.StatusSeeOther, wantLocation: ConsoleSignIn + "?next=%2Fui%2Fstatic%2F..%2Fload"},
		{name: "the cookie opens no other path", method: http.MethodGet, path: "/metrics", cookie: tokenA, want: http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			require.NoError(t, err)
			if tt.cookie != "" {
				req.AddCookie(NewConsoleCookie(tt.cookie, false))
			}
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			if tt.referer != "" {
				req.Header.Set("Referer", tt.referer)
			}
			resp, err := noRedirect.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tt.want, resp.StatusCode)
			require.Equal(t, tt.wantLocation, resp.Header.Get("Location"))
		})
	}
}

// TestRefusalFlood: refused calls with long paths and method names are all
// counted, but logged in a few short lines.
func TestRefusalFlood(t *testing.T) {
	t.Parallel()

	logs := &logtest.Buffer{}
	refusals := &labelCounter{}
	a, err := New(Options{Tokens: []string{tokenA}, Logger: log.NewLogfmtLogger(logs), Refusals: refusals})
	require.NoError(t, err)
	srv := httptest.NewServer(a.Middleware(plain))
	defer srv.Close()
	api := pb.NewWorkflowRuntimeServiceClient(serveGRPC(t, a))

	const calls = 100
	longPath := "/" + strings.Repeat("p", 64<<10)
	begin := time.Now()
	for range calls {
		resp, err := srv.Client().Get(srv.URL + longPath)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		_, err = api.ListDeployments(context.Background(), &pb.ListDeploymentsRequest{})
		require.Equal(t, codes.Unauthenticated, status.Code(err))
	}
	elapsed := time.Since(begin)

	require.Equal(t, map[string]float64{"port=http reason=no_token": calls, "port=grpc reason=no_token": calls}, refusals.counts)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	// The burst, and what the rate refilled while the calls ran.
	require.LessOrEqual(t, len(lines), refusalLogBurst+int(refusalLogRate*elapsed.Seconds())+1, "refusal lines written")
	for _, l := range lines {
		require.Less(t, len(l), 2*loggedBytes, "a refusal line as long as its request: %.300s", l)
	}
	require.Contains(t, logs.String(), "...(65537 bytes)")
	require.Contains(t, logs.String(), "port=grpc")
}

// labelCounter counts by label values.
type labelCounter struct {
	mu     sync.Mutex
	lvs    []string
	counts map[string]float64
	parent *labelCounter
}

func (c *labelCounter) With(lvs ...string) metrics.Counter {
	root := c
	if c.parent != nil {
		root = c.parent
	}
	return &labelCounter{lvs: append(slices.Clone(c.lvs), lvs...), parent: root}
}

func (c *labelCounter) Add(delta float64) {
	root := c.parent
	root.mu.Lock()
	defer root.mu.Unlock()
	if root.counts == nil {
		root.counts = map[string]float64{}
	}
	var kv []string
	for i := 0; i+1 < len(c.lvs); i += 2 {
		kv = append(kv, c.lvs[i]+"="+c.lvs[i+1])
	}
	root.counts[strings.Join(kv, " ")] += delta
}
