package main

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// roleTokens are the tokens of TestRolesPerCall, one a role.
var roleTokens = map[auth.Role]string{
	auth.RoleAdmin:    "root-role-token-0123456789",
	auth.RoleOperator: "ops-role-token-0123456789",
	auth.RoleTrigger:  "gw-role-token-0123456789",
	auth.RoleRead:     "viewer-role-token-0123456789",
}

// restRoute is the primary binding of an RPC in http.yaml.
type restRoute struct {
	Selector string `yaml:"selector"`
	Get      string `yaml:"get"`
	Post     string `yaml:"post"`
	Patch    string `yaml:"patch"`
	Delete   string `yaml:"delete"`
}

func (r restRoute) request() (method, path string) {
	for _, b := range []struct{ verb, path string }{{"GET", r.Get}, {"POST", r.Post}, {"PATCH", r.Patch}, {"DELETE", r.Delete}} {
		if b.path != "" {
			return b.verb, regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(b.path, "x")
		}
	}
	return "", ""
}

// TestRolesPerCall calls every RPC of both services, over gRPC and REST,
// with a token of each role, against a whole server: a call beyond its
// role is PERMISSION_DENIED (403), one within it reaches the service
// (whatever the empty request then earns), and denials are counted.
func TestRolesPerCall(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	entries := make([]string, 0, len(roleTokens))
	for role, token := range roleTokens {
		entries = append(entries, "caller-"+string(role)+":"+string(role)+":"+token)
	}
	s := startSecureStack(t, map[string]string{"WFR_AUTH_TOKENS": strings.Join(entries, ",")}, nil)
	conn := s.dial(t, insecure.NewCredentials())

	raw, err := os.ReadFile("../../proto/workflowruntime/v1/http.yaml")
	require.NoError(t, err)
	var rules struct {
		HTTP struct {
			Rules []restRoute `yaml:"rules"`
		} `yaml:"http"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	routes := map[string]restRoute{}
	for _, r := range rules.HTTP.Rules {
		routes[r.Selector] = r
	}

	services := []protoreflect.ServiceDescriptor{
		pb.File_workflowruntime_v1_runtime_proto.Services().ByName("WorkflowRuntimeService"),
		pb.File_workflowruntime_v1_monitoring_proto.Services().ByName("MonitoringService"),
	}
	calls := 0 // denied ones
	for _, sd := range services {
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			full := "/" + string(sd.FullName()) + "/" + string(md.Name())
			route, ok := routes[string(sd.FullName())+"."+string(md.Name())]
			require.True(t, ok, "%s has no REST route", full)
			verb, path := route.request()
			for role, token := range roleTokens {
				want := auth.Allowed(role, full)
				err := conn.Invoke(bearer(token), full, dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output()), grpc.WaitForReady(true))
				if want {
					require.NotEqual(t, codes.PermissionDenied, status.Code(err), "gRPC %s as %s: %v", full, role, err)
					require.NotEqual(t, codes.Unauthenticated, status.Code(err), "gRPC %s as %s: %v", full, role, err)
				} else {
					require.Equal(t, codes.PermissionDenied, status.Code(err), "gRPC %s as %s: %v", full, role, err)
					calls++
				}
				body := ""
				if verb != "GET" && verb != "DELETE" {
					body = "{}"
				}
				code, resp := s.do(t, verb, path, "Bearer "+token, body)
				if want {
					require.NotContains(t, []int{http.StatusForbidden, http.StatusUnauthorized}, code, "REST %s %s as %s: %s", verb, path, role, resp)
				} else {
					require.Equal(t, http.StatusForbidden, code, "REST %s %s as %s: %s", verb, path, role, resp)
					require.Contains(t, resp, "caller-"+string(role)+" (role "+string(role)+") may not call "+full)
					calls++
				}
			}
		}
	}

	code, metrics := s.do(t, "GET", "/metrics", "Bearer "+roleTokens[auth.RoleAdmin], "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, metrics, `workflow_runtime_auth_denials_total{method="/workflowruntime.v1.WorkflowRuntimeService/DeleteDeployment",role="operator"} 2`,
		"one gRPC and one REST denial")
	require.Contains(t, metrics, `workflow_runtime_auth_denials_total{method="/workflowruntime.v1.WorkflowRuntimeService/RollbackDeployment",role="operator"} 2`,
		"an operator may not roll back")
	require.Contains(t, s.logs.String(), `"msg":"call denied: beyond the caller's role"`)
	for _, token := range roleTokens {
		require.NotContains(t, s.logs.String(), token)
	}
	require.Positive(t, calls)
}
