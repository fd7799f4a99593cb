package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
)

const (
	runtimeService    = "/workflowruntime.v1.WorkflowRuntimeService/"
	monitoringService = "/workflowruntime.v1.MonitoringService/"
)

// MethodRoles holds, for every RPC served, the least roles that may call
// it; a role that covers one of them may (admin covers all, operator all
// but admin). A method missing here is for admin alone, so that an RPC
// added without a decision is closed rather than open; a test fails on any
// RPC of the proto services missing here.
var MethodRoles = map[string][]Role{
	runtimeService + "DeployWorkflow":         {RoleOperator},
	runtimeService + "UpdateDeployment":       {RoleOperator},
	runtimeService + "DeleteDeployment":       {RoleAdmin},
	runtimeService + "GetDeploymentStatus":    {RoleRead},
	runtimeService + "ListDeployments":        {RoleRead},
	runtimeService + "GetExecutionHistory":    {RoleRead},
	runtimeService + "TriggerWorkflow":        {RoleTrigger},
	runtimeService + "GetExecution":           {RoleRead, RoleTrigger},
	runtimeService + "CancelExecution":        {RoleOperator},
	runtimeService + "ResolveWebhook":         {RoleTrigger},
	runtimeService + "PreviewSchedule":        {RoleRead},
	runtimeService + "BackfillDeployment":     {RoleOperator},
	runtimeService + "GetBackfill":            {RoleRead},
	runtimeService + "ListDeploymentVersions": {RoleRead},
	runtimeService + "ListDeploymentEvents":   {RoleRead},
	// A rollback puts back, in one call, whatever a past version had
	// (webhook paths, their old secrets included): an admin's decision.
	runtimeService + "RollbackDeployment": {RoleAdmin},

	monitoringService + "GetDeploymentStats":    {RoleRead},
	monitoringService + "GetSchedulingMetrics":  {RoleRead},
	monitoringService + "GetJitterDistribution": {RoleRead},
	monitoringService + "GetLoadDistribution":   {RoleRead},
	monitoringService + "GetSystemHealth":       {RoleRead},
	monitoringService + "GetScheduleReport":     {RoleRead},

	// Reflection describes the API to whoever may read it.
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {RoleRead, RoleTrigger},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {RoleRead, RoleTrigger},
}

// Allowed reports whether a caller with role may call method.
func Allowed(role Role, method string) bool {
	need, ok := MethodRoles[method]
	if !ok {
		need = []Role{RoleAdmin}
	}
	return slices.ContainsFunc(need, role.covers)
}

// ParseClientRoles reads the roles of client certificates, as
// WFR_AUTH_CLIENT_ROLES holds them: comma-separated CN=<common name>:<role>.
// A certificate's common name becomes the caller's name.
func ParseClientRoles(list string) (map[string]Role, error) {
	if list == "" {
		return nil, nil
	}
	roles := map[string]Role{}
	var problems []string
	for i, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		cn, role, ok := strings.Cut(strings.TrimPrefix(e, "CN="), ":")
		switch {
		case !strings.HasPrefix(e, "CN=") || !ok || cn == "":
			problems = append(problems, fmt.Sprintf("entry %d %q is not CN=<common name>:<role>", i+1, e))
		case !slices.Contains(Roles, Role(role)):
			problems = append(problems, fmt.Sprintf("entry %d (CN=%s) has the unknown role %q, not one of %s", i+1, cn, role, roleList()))
		case roles[cn] != "":
			problems = append(problems, fmt.Sprintf("entry %d: CN=%s is given twice", i+1, cn))
		default:
			roles[cn] = Role(role)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return roles, nil
}

// caller is the identity of ctx's call: its token's, or else, where client
// roles are set, its verified client certificate's. A certificate whose
// common name has no role is a caller without a role, who may call nothing.
func (a *Authenticator) caller(ctx context.Context) (Identity, bool) {
	if id, ok := Caller(ctx); ok {
		return id, true
	}
	if a.clientRoles == nil {
		return Identity{}, false
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Identity{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 {
		return Identity{}, false
	}
	return a.certIdentity(info.State.VerifiedChains[0][0]), true
}

func (a *Authenticator) certIdentity(cert *x509.Certificate) Identity {
	cn := cert.Subject.CommonName
	return Identity{Name: cn, Role: a.clientRoles[cn]}
}

// authorize returns ctx carrying the caller, or PERMISSION_DENIED when the
// caller's role does not allow method. Calls without a caller pass: they
// are those of a server without authentication.
func (a *Authenticator) authorize(ctx context.Context, method string) (context.Context, error) {
	if strings.HasPrefix(method, healthService) {
		return ctx, nil
	}
	id, ok := a.caller(ctx)
	if !ok {
		return ctx, nil
	}
	if !Allowed(id.Role, method) {
		role := string(id.Role)
		if role == "" {
			role = "none"
		}
		a.denials.With("role", role, "method", method).Add(1)
		_ = a.refusalLog.Log("msg", "call denied: beyond the caller's role", "caller", id.Name, "role", role,
			"method", logging.Truncate(method, loggedBytes), "peer", peerAddr(ctx))
		return ctx, status.Errorf(codes.PermissionDenied, "%s (role %s) may not call %s", id.Name, role, method)
	}
	return WithCaller(ctx, id), nil
}

// UnaryInterceptor refuses unary calls beyond their caller's role.
func (a *Authenticator) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamInterceptor refuses streams beyond their caller's role.
func (a *Authenticator) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if _, err := a.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
