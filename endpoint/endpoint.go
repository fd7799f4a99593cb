// Package endpoint adapts each service method to a go-kit endpoint and wraps
// every endpoint in the same middleware chain.
package endpoint

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
	"github.com/workflow-runtime/workflow-runtime/service/deployment"
	"github.com/workflow-runtime/workflow-runtime/service/webhook"
)

// unary adapts a service method to an endpoint. The request and response of
// the endpoint are the method's own types; transports convert to and from them.
func unary[Req, Resp any](f func(context.Context, Req) (Resp, error)) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		return f(ctx, request.(Req))
	}
}

// DeploymentEndpoints holds an endpoint for each deployment RPC.
type DeploymentEndpoints struct {
	DeployWorkflow      endpoint.Endpoint
	UpdateDeployment    endpoint.Endpoint
	DeleteDeployment    endpoint.Endpoint
	GetDeploymentStatus endpoint.Endpoint
	ListDeployments     endpoint.Endpoint
	PreviewSchedule     endpoint.Endpoint
	ListVersions        endpoint.Endpoint
	ListEvents          endpoint.Endpoint
	RollbackDeployment  endpoint.Endpoint
}

// NewDeploymentEndpoints builds the deployment endpoints, each wrapped by
// mw(name) where name is the RPC's method name.
func NewDeploymentEndpoints(svc deployment.Service, mw func(method string) endpoint.Middleware) DeploymentEndpoints {
	return DeploymentEndpoints{
		DeployWorkflow:      mw("DeployWorkflow")(unary(svc.Deploy)),
		UpdateDeployment:    mw("UpdateDeployment")(unary(svc.Update)),
		DeleteDeployment:    mw("DeleteDeployment")(unary(svc.Delete)),
		GetDeploymentStatus: mw("GetDeploymentStatus")(unary(svc.Status)),
		ListDeployments:     mw("ListDeployments")(unary(svc.List)),
		PreviewSchedule:     mw("PreviewSchedule")(unary(svc.Preview)),
		ListVersions:        mw("ListDeploymentVersions")(unary(svc.Versions)),
		ListEvents:          mw("ListDeploymentEvents")(unary(svc.Events)),
		RollbackDeployment:  mw("RollbackDeployment")(unary(svc.Rollback)),
	}
}

// CoordinationEndpoints holds an endpoint for each execution RPC.
type CoordinationEndpoints struct {
	GetExecution        endpoint.Endpoint
	GetExecutionHistory endpoint.Endpoint
	TriggerWorkflow     endpoint.Endpoint
	CancelExecution     endpoint.Endpoint
	ResolveWebhook      endpoint.Endpoint
}

// Resolver serves ResolveWebhook.
type Resolver interface {
	Resolve(ctx context.Context, req webhook.ResolveRequest) (workflow.WebhookTrigger, error)
}

// NewCoordinationEndpoints builds the execution endpoints, each wrapped by
// mw(name). svc serves TriggerWorkflow whatever the trigger: routing a
// webhook trigger to the webhook service is svc's business (webhook.Route).
func NewCoordinationEndpoints(svc coordination.Service, hooks Resolver, mw func(method string) endpoint.Middleware) CoordinationEndpoints {
	return CoordinationEndpoints{
		GetExecution:        mw("GetExecution")(unary(svc.GetExecution)),
		GetExecutionHistory: mw("GetExecutionHistory")(unary(svc.History)),
		TriggerWorkflow:     mw("TriggerWorkflow")(unary(svc.Trigger)),
		CancelExecution:     mw("CancelExecution")(unary(svc.Cancel)),
		ResolveWebhook:      mw("ResolveWebhook")(unary(hooks.Resolve)),
	}
}
