// Package grpc serves the workflowruntime.v1 services over gRPC: it decodes
// requests into service types, encodes results, and answers every error with
// the status code of API.md §2.
package grpc

import (
	"context"

	kitgrpc "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/workflow-runtime/workflow-runtime/endpoint"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

type runtimeServer struct {
	// Embedded for forward compatibility: an RPC added to the contract answers
	// UNIMPLEMENTED until it is served.
	pb.UnimplementedWorkflowRuntimeServiceServer
	deploy, update, remove, status, list kitgrpc.Handler
	preview                              kitgrpc.Handler
	versions, events, rollback           kitgrpc.Handler
	execution, history, trigger, cancel  kitgrpc.Handler
	resolve                              kitgrpc.Handler
	backfill, getBackfill                kitgrpc.Handler
}

// NewWorkflowRuntimeServer returns the gRPC WorkflowRuntimeService over the
// deployment, execution and backfill endpoints.
func NewWorkflowRuntimeServer(e endpoint.DeploymentEndpoints, c endpoint.CoordinationEndpoints, b endpoint.BackfillEndpoints) pb.WorkflowRuntimeServiceServer {
	opts := []kitgrpc.ServerOption{kitgrpc.ServerBefore(traceHeaders)}
	return &runtimeServer{
		execution:   kitgrpc.NewServer(c.GetExecution, decodeGetExecutionRequest, encodeGetExecutionResponse, opts...),
		history:     kitgrpc.NewServer(c.GetExecutionHistory, decodeHistoryRequest, encodeHistoryResponse, opts...),
		trigger:     kitgrpc.NewServer(c.TriggerWorkflow, decodeTriggerRequest, encodeTriggerResponse, opts...),
		cancel:      kitgrpc.NewServer(c.CancelExecution, decodeCancelRequest, encodeCancelResponse, opts...),
		resolve:     kitgrpc.NewServer(c.ResolveWebhook, decodeResolveRequest, encodeResolveResponse, opts...),
		deploy:      kitgrpc.NewServer(e.DeployWorkflow, decodeDeployRequest, encodeDeployResponse, opts...),
		update:      kitgrpc.NewServer(e.UpdateDeployment, decodeUpdateRequest, encodeUpdateResponse, opts...),
		remove:      kitgrpc.NewServer(e.DeleteDeployment, decodeDeleteRequest, encodeDeleteResponse, opts...),
		status:      kitgrpc.NewServer(e.GetDeploymentStatus, decodeStatusRequest, encodeStatusResponse, opts...),
		list:        kitgrpc.NewServer(e.ListDeployments, decodeListRequest, encodeListResponse, opts...),
		preview:     kitgrpc.NewServer(e.PreviewSchedule, decodePreviewRequest, encodePreviewResponse, opts...),
		versions:    kitgrpc.NewServer(e.ListVersions, decodeVersionsRequest, encodeVersionsResponse, opts...),
		events:      kitgrpc.NewServer(e.ListEvents, decodeEventsRequest, encodeEventsResponse, opts...),
		rollback:    kitgrpc.NewServer(e.RollbackDeployment, decodeRollbackRequest, encodeRollbackResponse, opts...),
		backfill:    kitgrpc.NewServer(b.BackfillDeployment, decodeBackfillRequest, encodeBackfillResponse, opts...),
		getBackfill: kitgrpc.NewServer(b.GetBackfill, decodeGetBackfillRequest, encodeGetBackfillResponse, opts...),
	}
}

func (s *runtimeServer) DeployWorkflow(ctx context.Context, req *pb.DeployWorkflowRequest) (*pb.DeployWorkflowResponse, error) {
	return serve[*pb.DeployWorkflowResponse](ctx, s.deploy, req)
}

func (s *runtimeServer) UpdateDeployment(ctx context.Context, req *pb.UpdateDeploymentRequest) (*pb.UpdateDeploymentResponse, error) {
	return serve[*pb.UpdateDeploymentResponse](ctx, s.update, req)
}

func (s *runtimeServer) DeleteDeployment(ctx context.Context, req *pb.DeleteDeploymentRequest) (*pb.DeleteDeploymentResponse, error) {
	return serve[*pb.DeleteDeploymentResponse](ctx, s.remove, req)
}

func (s *runtimeServer) GetDeploymentStatus(ctx context.Context, req *pb.GetDeploymentStatusRequest) (*pb.GetDeploymentStatusResponse, error) {
	return serve[*pb.GetDeploymentStatusResponse](ctx, s.status, req)
}

func (s *runtimeServer) ListDeployments(ctx context.Context, req *pb.ListDeploymentsRequest) (*pb.ListDeploymentsResponse, error) {
	return serve[*pb.ListDeploymentsResponse](ctx, s.list, req)
}

func (s *runtimeServer) ListDeploymentVersions(ctx context.Context, req *pb.ListDeploymentVersionsRequest) (*pb.ListDeploymentVersionsResponse, error) {
	return serve[*pb.ListDeploymentVersionsResponse](ctx, s.versions, req)
}

func (s *runtimeServer) ListDeploymentEvents(ctx context.Context, req *pb.ListDeploymentEventsRequest) (*pb.ListDeploymentEventsResponse, error) {
	return serve[*pb.ListDeploymentEventsResponse](ctx, s.events, req)
}

func (s *runtimeServer) RollbackDeployment(ctx context.Context, req *pb.RollbackDeploymentRequest) (*pb.RollbackDeploymentResponse, error) {
	return serve[*pb.RollbackDeploymentResponse](ctx, s.rollback, req)
}

func (s *runtimeServer) PreviewSchedule(ctx context.Context, req *pb.PreviewScheduleRequest) (*pb.PreviewScheduleResponse, error) {
	return serve[*pb.PreviewScheduleResponse](ctx, s.preview, req)
}

func (s *runtimeServer) GetExecution(ctx context.Context, req *pb.GetExecutionRequest) (*pb.GetExecutionResponse, error) {
	return serve[*pb.GetExecutionResponse](ctx, s.execution, req)
}

func (s *runtimeServer) GetExecutionHistory(ctx context.Context, req *pb.GetExecutionHistoryRequest) (*pb.GetExecutionHistoryResponse, error) {
	return serve[*pb.GetExecutionHistoryResponse](ctx, s.history, req)
}

func (s *runtimeServer) TriggerWorkflow(ctx context.Context, req *pb.TriggerWorkflowRequest) (*pb.TriggerWorkflowResponse, error) {
	return serve[*pb.TriggerWorkflowResponse](ctx, s.trigger, req)
}

func (s *runtimeServer) CancelExecution(ctx context.Context, req *pb.CancelExecutionRequest) (*pb.CancelExecutionResponse, error) {
	return serve[*pb.CancelExecutionResponse](ctx, s.cancel, req)
}

func (s *runtimeServer) ResolveWebhook(ctx context.Context, req *pb.ResolveWebhookRequest) (*pb.ResolveWebhookResponse, error) {
	return serve[*pb.ResolveWebhookResponse](ctx, s.resolve, req)
}

func (s *runtimeServer) BackfillDeployment(ctx context.Context, req *pb.BackfillDeploymentRequest) (*pb.BackfillDeploymentResponse, error) {
	return serve[*pb.BackfillDeploymentResponse](ctx, s.backfill, req)
}

func (s *runtimeServer) GetBackfill(ctx context.Context, req *pb.GetBackfillRequest) (*pb.GetBackfillResponse, error) {
	return serve[*pb.GetBackfillResponse](ctx, s.getBackfill, req)
}

func serve[Resp any](ctx context.Context, h kitgrpc.Handler, req any) (Resp, error) {
	_, resp, err := h.ServeGRPC(ctx, req)
	if err != nil {
		var zero Resp
		return zero, err
	}
	return resp.(Resp), nil
}

// traceHeaders keeps the caller's trace headers for the endpoint's trace middleware.
func traceHeaders(ctx context.Context, md metadata.MD) context.Context {
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return tracing.WithHeaders(ctx, tracing.Headers{TraceParent: first("traceparent"), RequestID: first("x-request-id")})
}
