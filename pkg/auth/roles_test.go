package auth

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth/authtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestEveryRPCHasRoles fails on an RPC whose roles nobody decided.
func TestEveryRPCHasRoles(t *testing.T) {
	t.Parallel()

	for _, sd := range []grpc.ServiceDesc{pb.WorkflowRuntimeService_ServiceDesc, pb.MonitoringService_ServiceDesc} {
		for _, m := range sd.Methods {
			method := "/" + sd.ServiceName + "/" + m.MethodName
			require.NotEmpty(t, MethodRoles[method], "%s needs its least roles in MethodRoles", method)
		}
		for _, s := range sd.Streams {
			method := "/" + sd.ServiceName + "/" + s.StreamName
			require.NotEmpty(t, MethodRoles[method], "%s needs its least roles in MethodRoles", method)
		}
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()

	tests := []struct {
		method string
		want   map[Role]bool
	}{
		{runtimeService + "DeleteDeployment", map[Role]bool{RoleAdmin: true}},
		{runtimeService + "DeployWorkflow", map[Role]bool{RoleAdmin: true, RoleOperator: true}},
		{runtimeService + "CancelExecution", map[Role]bool{RoleAdmin: true, RoleOperator: true}},
		{runtimeService + "TriggerWorkflow", map[Role]bool{RoleAdmin: true, RoleOperator: true, RoleTrigger: true}},
		{runtimeService + "ResolveWebhook", map[Role]bool{RoleAdmin: true, RoleOperator: true, RoleTrigger: true}},
		{runtimeService + "GetExecution", map[Role]bool{RoleAdmin: true, RoleOperator: true, RoleTrigger: true, RoleRead: true}},
		{runtimeService + "ListDeployments", map[Role]bool{RoleAdmin: true, RoleOperator: true, RoleRead: true}},
		{monitoringService + "GetSystemHealth", map[Role]bool{RoleAdmin: true, RoleOperator: true, RoleRead: true}},
		{runtimeService + "NotDecidedYet", map[Role]bool{RoleAdmin: true}},
	}
	for _, tt := range tests {
		for _, role := range append(Roles, "") {
			require.Equal(t, tt.want[role], Allowed(role, tt.method), "role %q calling %s", role, tt.method)
		}
	}
}

func TestParseClientRoles(t *testing.T) {
	t.Parallel()

	got, err := ParseClientRoles(" CN=gateway:trigger,CN=ops team:admin")
	require.NoError(t, err)
	require.Equal(t, map[string]Role{"gateway": RoleTrigger, "ops team": RoleAdmin}, got)

	got, err = ParseClientRoles("")
	require.NoError(t, err)
	require.Nil(t, got)

	_, err = ParseClientRoles("gateway:trigger,CN=ci:root,CN=:read,CN=a:read,CN=a:admin")
	require.EqualError(t, err, `entry 1 "gateway:trigger" is not CN=<common name>:<role>; `+
		`entry 2 (CN=ci) has the unknown role "root", not one of admin, operator, trigger, read; `+
		`entry 3 "CN=:read" is not CN=<common name>:<role>; entry 5: CN=a is given twice`)
}

// TestRolesOverGRPC: a call beyond its token's role is PERMISSION_DENIED,
// counted and logged; one within it reaches the service, which sees the
// caller.
func TestRolesOverGRPC(t *testing.T) {
	t.Parallel()

	logs := &logtest.Buffer{}
	denials := &labelCounter{}
	a, err := New(Options{Tokens: []string{"gw:trigger:" + tokenA, "viewer:read:" + tokenB}, Denials: denials, Logger: log.NewLogfmtLogger(logs)})
	require.NoError(t, err)
	api := pb.NewWorkflowRuntimeServiceClient(serveGRPC(t, a))

	_, err = api.ListDeployments(withAuthorization("Bearer "+tokenA), &pb.ListDeploymentsRequest{})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Equal(t, "gw (role trigger) may not call /workflowruntime.v1.WorkflowRuntimeService/ListDeployments", status.Convert(err).Message())
	require.Equal(t, map[string]float64{"role=trigger method=" + runtimeService + "ListDeployments": 1}, denials.counts)
	require.Contains(t, logs.String(), "caller=gw role=trigger")
	require.NotContains(t, logs.String(), tokenA)

	_, err = api.TriggerWorkflow(withAuthorization("Bearer "+tokenB), &pb.TriggerWorkflowRequest{})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	_, err = api.GetExecution(withAuthorization("Bearer "+tokenA), &pb.GetExecutionRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err), "within its role, the call reaches the service")
	_, err = api.ListDeployments(withAuthorization("Bearer "+tokenB), &pb.ListDeploymentsRequest{})
	require.NoError(t, err)
}

func TestCallerInContext(t *testing.T) {
	t.Parallel()

	a, err := New(Options{Tokens: []string{"gw:trigger:" + tokenA}})
	require.NoError(t, err)
	var seen Identity
	handler := func(ctx context.Context, _ any) (any, error) {
		seen, _ = Caller(ctx)
		return seen, nil
	}
	ctx := WithCaller(context.Background(), Identity{Name: "gw", Role: RoleTrigger})
	_, err = a.UnaryInterceptor(ctx, nil, &grpc.UnaryServerInfo{FullMethod: runtimeService + "TriggerWorkflow"}, handler)
	require.NoError(t, err)
	require.Equal(t, Identity{Name: "gw", Role: RoleTrigger}, seen)

	// Without authentication there is no caller, and every call passes.
	_, err = a.UnaryInterceptor(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: runtimeService + "DeleteDeployment"}, handler)
	require.NoError(t, err)
	_, ok := Caller(context.Background())
	require.False(t, ok)
}

// TestClientCertRoles: without a token, a verified client certificate's
// common name is the caller, with the role WFR_AUTH_CLIENT_ROLES gives it,
// over gRPC; over HTTP only an admin certificate passes without a token.
func TestClientCertRoles(t *testing.T) {
	t.Parallel()

	clients, servers := authtest.NewCA(t, "clients"), authtest.NewCA(t, "servers")
	server := servers.Issue(t, "server")
	denials := &labelCounter{}
	a, err := New(Options{ClientCerts: true, ClientRoles: map[string]Role{"gateway": RoleTrigger, "ops": RoleAdmin}, Denials: denials})
	require.NoError(t, err)

	grpcTLS, err := ServerTLS(server.CertFile, server.KeyFile, clients.CertFile, true)
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(grpcTLS)), grpc.InTapHandle(a.TapHandle),
		grpc.UnaryInterceptor(a.UnaryInterceptor), grpc.StreamInterceptor(a.StreamInterceptor))
	pb.RegisterWorkflowRuntimeServiceServer(srv, listingServer{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	dial := func(name string) pb.WorkflowRuntimeServiceClient {
		creds := credentials.NewTLS(&tls.Config{RootCAs: servers.Pool, Certificates: []tls.Certificate{clients.Issue(t, name).TLS}})
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(creds))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		return pb.NewWorkflowRuntimeServiceClient(conn)
	}
	ctx := context.Background()
	gateway, ops, stranger := dial("gateway"), dial("ops"), dial("stranger")
	_, err = gateway.ListDeployments(ctx, &pb.ListDeploymentsRequest{})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	_, err = gateway.GetExecution(ctx, &pb.GetExecutionRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err), "within its role, the call reaches the service")
	_, err = ops.ListDeployments(ctx, &pb.ListDeploymentsRequest{})
	require.NoError(t, err)
	_, err = stranger.ListDeployments(ctx, &pb.ListDeploymentsRequest{})
	require.Equal(t, codes.PermissionDenied, status.Code(err), "a certificate without a role may call nothing")
	require.Equal(t, "stranger (role none) may not call /workflowruntime.v1.WorkflowRuntimeService/ListDeployments", status.Convert(err).Message())

	httpTLS, err := ServerTLS(server.CertFile, server.KeyFile, clients.CertFile, false)
	require.NoError(t, err)
	hs := httptest.NewUnstartedServer(a.Middleware(plain))
	hs.TLS = httpTLS
	hs.StartTLS()
	defer hs.Close()
	get := func(name, path string) int {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: servers.Pool, Certificates: []tls.Certificate{clients.Issue(t, name).TLS}}}}
		resp, err := c.Get(hs.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("ops", "/api/v1/deployments"))
	require.Equal(t, http.StatusForbidden, get("gateway", "/api/v1/deployments"), "a certificate's role is not applied over REST")
	require.Equal(t, http.StatusForbidden, get("stranger", "/ui/"))
	require.Equal(t, http.StatusOK, get("stranger", ConsoleSignIn))
	require.Equal(t, map[string]float64{
		"role=trigger method=" + runtimeService + "ListDeployments": 1,
		"role=none method=" + runtimeService + "ListDeployments":    1,
		"role=trigger method=http":                                  1,
		"role=none method=http":                                     1,
	}, denials.counts)
}

// TestAdminPaths: the HTTP port's own admin paths are for admin alone.
func TestAdminPaths(t *testing.T) { //nolint:tparallel // sequential cases on a server the test closes when it returns
	t.Parallel()

	a, err := New(Options{Tokens: []string{tokenA, "ops:operator:" + tokenB}})
	require.NoError(t, err)
	srv := httptest.NewServer(a.Middleware(plain))
	defer srv.Close()
	runHTTP(t, srv.Client(), srv.URL, []httpCase{
		{name: "admin", path: "/admin/log-level", authorization: "Bearer " + tokenA, want: http.StatusOK},
		{name: "operator", path: "/admin/log-level", authorization: "Bearer " + tokenB, want: http.StatusForbidden},
		{name: "operator elsewhere", path: "/metrics", authorization: "Bearer " + tokenB, want: http.StatusOK},
	})
}

func TestActor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	caller := WithCaller(ctx, Identity{Name: "ci", Role: RoleOperator})
	for _, tc := range []struct {
		name           string
		ctx            context.Context
		named          string
		by, onBehalfOf string
	}{
		{"auth off: the request's name", ctx, "alice", "alice", ""},
		{"auth off, no name", ctx, "", "", ""},
		{"the caller, for someone else", caller, "alice", "ci", "alice"},
		{"the caller, naming itself", caller, "ci", "ci", ""},
		{"the caller, naming no one", caller, "", "ci", ""},
	} {
		by, onBehalfOf := Actor(tc.ctx, tc.named)
		require.Equal(t, [2]string{tc.by, tc.onBehalfOf}, [2]string{by, onBehalfOf}, tc.name)
	}
}
