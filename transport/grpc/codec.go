package grpc

import (
	"cmp"
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
	"github.com/workflow-runtime/workflow-runtime/service/deployment"
	"github.com/workflow-runtime/workflow-runtime/service/webhook"
)

// Enum values travel as their bare names ("CRON"); UNSPECIFIED becomes "" and
// a number the proto does not define keeps its digits, so validation names it.
type protoEnum interface{ String() string }

func enumName(e protoEnum, prefix string) string {
	return strings.TrimPrefix(strings.TrimPrefix(e.String(), prefix), "UNSPECIFIED")
}

func enumValue(values map[string]int32, prefix, name string) int32 {
	return values[prefix+name]
}

func decodeDeployRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.DeployWorkflowRequest)
	return deployment.DeployRequest{
		WorkflowID:   req.GetWorkflowId(),
		Definition:   definitionMap(req.GetWorkflowDefinition()),
		Triggers:     triggersFromProto(req.GetTriggers()),
		Config:       configFromProto(req.GetConfig()),
		DeployedBy:   req.GetDeployedBy(),
		Draft:        req.GetDraft(),
		ValidateOnly: req.GetValidateOnly(),
	}, nil
}

func encodeDeployResponse(_ context.Context, r any) (any, error) {
	d := r.(deployment.Deployment)
	return &pb.DeployWorkflowResponse{Deployment: deploymentToProto(d), Upcoming: triggerPreviewsToProto(d.Upcoming)}, nil
}

func decodeUpdateRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.UpdateDeploymentRequest)
	out := deployment.UpdateRequest{
		DeploymentID:    req.GetDeploymentId(),
		Definition:      definitionMap(req.GetWorkflowDefinition()),
		Triggers:        triggersFromProto(req.GetTriggers()),
		Mask:            req.GetUpdateMask().GetPaths(),
		ExpectedVersion: req.GetExpectedVersion(),
		ValidateOnly:    req.GetValidateOnly(),
	}
	if req.Status != nil {
		s := workflow.DeploymentStatus(enumName(req.GetStatus(), "DEPLOYMENT_STATUS_"))
		out.Status = &s
	}
	if req.GetConfig() != nil {
		c := configFromProto(req.GetConfig())
		out.Config = &c
	}
	return out, nil
}

func encodeUpdateResponse(_ context.Context, r any) (any, error) {
	d := r.(deployment.Deployment)
	return &pb.UpdateDeploymentResponse{Deployment: deploymentToProto(d), Upcoming: triggerPreviewsToProto(d.Upcoming)}, nil
}

func decodeDeleteRequest(_ context.Context, r any) (any, error) {
	return deployment.DeleteRequest{DeploymentID: r.(*pb.DeleteDeploymentRequest).GetDeploymentId()}, nil
}

func encodeDeleteResponse(_ context.Context, r any) (any, error) {
	return &pb.DeleteDeploymentResponse{Deployment: deploymentToProto(r.(deployment.Deployment))}, nil
}

func decodeStatusRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.GetDeploymentStatusRequest)
	return deployment.StatusRequest{DeploymentID: req.GetDeploymentId(), WorkflowID: req.GetWorkflowId(), Version: req.GetVersion()}, nil
}

func encodeStatusResponse(_ context.Context, r any) (any, error) {
	resp := r.(deployment.StatusResponse)
	return &pb.GetDeploymentStatusResponse{
		Deployment:        deploymentToProto(resp.Deployment),
		LastExecution:     executionToProto(resp.LastExecution),
		RunningExecutions: resp.RunningExecutions,
	}, nil
}

func decodeListRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.ListDeploymentsRequest)
	out := deployment.ListRequest{
		WorkflowID:  req.GetWorkflowId(),
		TriggerType: workflow.TriggerType(enumName(req.GetTriggerType(), "TRIGGER_TYPE_")),
		PageSize:    req.GetPageSize(),
		PageToken:   req.GetPageToken(),
	}
	for _, s := range req.GetStatuses() {
		out.Statuses = append(out.Statuses, workflow.DeploymentStatus(enumName(s, "DEPLOYMENT_STATUS_")))
	}
	return out, nil
}

func encodeListResponse(_ context.Context, r any) (any, error) {
	resp := r.(deployment.ListResponse)
	out := &pb.ListDeploymentsResponse{NextPageToken: resp.NextPageToken, TotalSize: resp.TotalSize}
	for _, d := range resp.Deployments {
		out.Deployments = append(out.Deployments, deploymentToProto(d))
	}
	return out, nil
}

func decodeGetExecutionRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.GetExecutionRequest)
	return coordination.GetRequest{ExecutionID: req.GetExecutionId(), IncludeDefinition: req.GetIncludeDefinition()}, nil
}

func encodeGetExecutionResponse(_ context.Context, r any) (any, error) {
	resp := r.(coordination.GetResponse)
	e := resp.Execution
	out := &pb.GetExecutionResponse{Execution: executionToProto(&e), InputData: string(e.Input), ResultData: string(e.Result)}
	if resp.Version != nil {
		out.Version = versionToProto(*resp.Version)
	}
	return out, nil
}

func decodeHistoryRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.GetExecutionHistoryRequest)
	out := coordination.HistoryRequest{
		WorkflowID:   req.GetWorkflowId(),
		DeploymentID: req.GetDeploymentId(),
		TriggerType:  workflow.TriggerType(enumName(req.GetTriggerType(), "TRIGGER_TYPE_")),
		PageSize:     req.GetPageSize(),
		PageToken:    req.GetPageToken(),

		FirstAttemptID: req.GetFirstAttemptId(),
	}
	for _, s := range req.GetStatuses() {
		out.Statuses = append(out.Statuses, workflow.ExecutionStatus(enumName(s, "EXECUTION_STATUS_")))
	}
	if req.GetStartTime() != nil {
		out.StartTime = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		out.EndTime = req.GetEndTime().AsTime()
	}
	return out, nil
}

func encodeHistoryResponse(_ context.Context, r any) (any, error) {
	resp := r.(coordination.HistoryResponse)
	out := &pb.GetExecutionHistoryResponse{NextPageToken: resp.NextPageToken}
	for i := range resp.Executions {
		out.Executions = append(out.Executions, executionToProto(&resp.Executions[i]))
	}
	return out, nil
}

func decodeTriggerRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.TriggerWorkflowRequest)
	return coordination.TriggerRequest{
		WorkflowID:     req.GetWorkflowId(),
		TriggerData:    req.GetTriggerData(),
		WebhookPath:    req.GetWebhookPath(),
		IdempotencyKey: req.GetIdempotencyKey(),
		TriggerType:    workflow.TriggerType(enumName(req.GetTriggerType(), "TRIGGER_TYPE_")),
		TriggeredBy:    req.GetTriggeredBy(),
		Headers:        req.GetHeaders(),
		HTTPMethod:     req.GetHttpMethod(),
		OverlapPolicy:  enumName(req.GetOverlapPolicy(), "OVERLAP_POLICY_"),
	}, nil
}

func encodeTriggerResponse(_ context.Context, r any) (any, error) {
	resp := r.(coordination.TriggerResponse)
	out := &pb.TriggerWorkflowResponse{
		ExecutionId:  resp.Execution.ID,
		Status:       pb.ExecutionStatus(enumValue(pb.ExecutionStatus_value, "EXECUTION_STATUS_", string(resp.Execution.Status))),
		Deduplicated: resp.Deduplicated,
		Message:      "execution " + string(resp.Execution.Status),
		ResultData:   resp.ResultData,
		Admission:    pb.Admission(enumValue(pb.Admission_value, "ADMISSION_", string(resp.Admission))),
	}
	if resp.Deduplicated {
		out.Message = "idempotency key matched an earlier execution, which is " + string(resp.Execution.Status)
	}
	return out, nil
}

func decodeResolveRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.ResolveWebhookRequest)
	return webhook.ResolveRequest{Path: req.GetPath(), Method: req.GetMethod()}, nil
}

func encodeResolveResponse(_ context.Context, r any) (any, error) {
	wt := r.(workflow.WebhookTrigger)
	return &pb.ResolveWebhookResponse{
		WorkflowId: wt.WorkflowID, DeploymentId: wt.DeploymentID, TriggerId: wt.TriggerID,
		ResponseMode:      pb.ResponseMode(enumValue(pb.ResponseMode_value, "RESPONSE_MODE_", cmp.Or(wt.Spec.ResponseMode, workflow.ResponseAsync))),
		RequiresSignature: len(wt.Spec.Secrets) > 0,
	}, nil
}

func decodeCancelRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.CancelExecutionRequest)
	return coordination.CancelRequest{ExecutionID: req.GetExecutionId(), Reason: req.GetReason()}, nil
}

func encodeCancelResponse(_ context.Context, r any) (any, error) {
	e := r.(workflow.Execution)
	return &pb.CancelExecutionResponse{Execution: executionToProto(&e)}, nil
}

func definitionMap(s *structpb.Struct) map[string]any {
	if s == nil {
		return nil
	}
	return s.AsMap()
}

func triggersFromProto(ts []*pb.Trigger) []workflow.Trigger {
	out := make([]workflow.Trigger, 0, len(ts))
	for _, t := range ts {
		st := workflow.Trigger{Type: workflow.TriggerType(enumName(t.GetType(), "TRIGGER_TYPE_")), Enabled: true,
			ExecutionTimeoutSeconds: t.GetExecutionTimeoutSeconds()}
		st.Cron = cronSpecFromProto(t.GetCron())
		if w := t.GetWebhook(); w != nil {
			st.Webhook = &workflow.WebhookSpec{
				Path:               w.GetPath(),
				Methods:            w.GetMethods(),
				Secrets:            w.GetSecrets(),
				ResponseMode:       enumName(w.GetResponseMode(), "RESPONSE_MODE_"),
				SyncTimeoutSeconds: w.GetSyncTimeoutSeconds(),
			}
		}
		out = append(out, st)
	}
	return out
}

func configFromProto(c *pb.DeploymentConfig) workflow.Config {
	return workflow.Config{
		OverlapPolicy:           enumName(c.GetOverlapPolicy(), "OVERLAP_POLICY_"),
		ExecutionTimeoutSeconds: c.GetExecutionTimeoutSeconds(),
		CatchupWindowSeconds:    c.GetCatchupWindowSeconds(),
		Retry:                   retryFromProto(c.GetRetryPolicy()),
		PauseAfterFailures:      c.GetPauseAfterFailures(),
		MaxConcurrency:          c.GetMaxConcurrency(),
		MaxBuffered:             c.GetMaxBuffered(),
	}
}

// retryFromProto keeps an unset policy nil: the deployment runs once.
// Durations out of range saturate, which the service refuses.
func retryFromProto(p *pb.RetryPolicy) *workflow.RetryPolicy {
	if p == nil {
		return nil
	}
	out := &workflow.RetryPolicy{
		MaxAttempts: p.GetMaxAttempts(), BackoffCoefficient: p.GetBackoffCoefficient(),
		InitialInterval: p.GetInitialInterval().AsDuration(), MaxInterval: p.GetMaxInterval().AsDuration(),
	}
	for _, st := range p.GetRetryOn() {
		out.RetryOn = append(out.RetryOn, workflow.ExecutionStatus(enumName(st, "EXECUTION_STATUS_")))
	}
	return out
}

func retryToProto(p *workflow.RetryPolicy) *pb.RetryPolicy {
	if p == nil {
		return nil
	}
	out := &pb.RetryPolicy{
		MaxAttempts: p.MaxAttempts, BackoffCoefficient: p.BackoffCoefficient,
		InitialInterval: durationpb.New(p.InitialInterval), MaxInterval: durationpb.New(p.MaxInterval),
	}
	for _, st := range p.RetryOn {
		out.RetryOn = append(out.RetryOn, executionStatusToProto(st))
	}
	return out
}

func executionStatusToProto(st workflow.ExecutionStatus) pb.ExecutionStatus {
	return pb.ExecutionStatus(enumValue(pb.ExecutionStatus_value, "EXECUTION_STATUS_", string(st)))
}

func deploymentToProto(d deployment.Deployment) *pb.Deployment {
	def := &structpb.Struct{}
	// The definition was validated and marshalled by the service, so it is a JSON object.
	_ = protojson.Unmarshal(d.Definition, def)
	out := &pb.Deployment{
		DeploymentId:        d.ID,
		WorkflowId:          d.WorkflowID,
		Status:              pb.DeploymentStatus(enumValue(pb.DeploymentStatus_value, "DEPLOYMENT_STATUS_", string(d.Status))),
		Version:             d.Version,
		WorkflowDefinition:  def,
		Config:              configToProto(d.Config),
		ConsecutiveFailures: d.ConsecutiveFailures,
		PauseReason:         d.PauseReason,
		CreatedAt:           timestamp(&d.CreatedAt),
		UpdatedAt:           timestamp(&d.UpdatedAt),
		DeployedAt:          timestamp(d.DeployedAt),
		DeployedBy:          d.DeployedBy,
		OnBehalfOf:          d.OnBehalfOf,
		ScheduleEnded:       d.ScheduleEnded,
	}
	for _, ts := range d.TriggerStatuses {
		out.Triggers = append(out.Triggers, &pb.TriggerStatus{
			Trigger:           triggerToProto(ts.Trigger),
			JitterSeconds:     ts.JitterSeconds,
			NextFireTime:      timestamp(ts.NextFireTime),
			LastFireTime:      timestamp(ts.Trigger.LastFireTime),
			RequiresSignature: ts.RequiresSignature,
			Ended:             ts.Ended,
			RemainingRuns:     ts.RemainingRuns,
		})
	}
	return out
}

func configToProto(c workflow.Config) *pb.DeploymentConfig {
	return &pb.DeploymentConfig{
		OverlapPolicy:           pb.OverlapPolicy(enumValue(pb.OverlapPolicy_value, "OVERLAP_POLICY_", c.OverlapPolicy)),
		ExecutionTimeoutSeconds: c.ExecutionTimeoutSeconds,
		CatchupWindowSeconds:    c.CatchupWindowSeconds,
		RetryPolicy:             retryToProto(c.Retry),
		PauseAfterFailures:      c.PauseAfterFailures,
		MaxConcurrency:          c.MaxConcurrency,
		MaxBuffered:             c.MaxBuffered,
	}
}

// triggerToProto leaves webhook secrets out: they are write-only.
func triggerToProto(t workflow.Trigger) *pb.Trigger {
	out := &pb.Trigger{TriggerId: t.ID, Type: pb.TriggerType(enumValue(pb.TriggerType_value, "TRIGGER_TYPE_", string(t.Type))), Cron: cronSpecToProto(t.Cron),
		ExecutionTimeoutSeconds: t.ExecutionTimeoutSeconds}
	if w := t.Webhook; w != nil {
		out.Webhook = &pb.WebhookSpec{
			Path:               w.Path,
			Methods:            w.Methods,
			ResponseMode:       pb.ResponseMode(enumValue(pb.ResponseMode_value, "RESPONSE_MODE_", w.ResponseMode)),
			SyncTimeoutSeconds: w.SyncTimeoutSeconds,
		}
	}
	return out
}

func executionToProto(e *workflow.Execution) *pb.Execution {
	if e == nil {
		return nil
	}
	return &pb.Execution{
		ExecutionId:       e.ID,
		WorkflowId:        e.WorkflowID,
		DeploymentId:      e.DeploymentID,
		DeploymentVersion: e.DeploymentVersion,
		TriggerId:         e.TriggerID,
		TriggerType:       pb.TriggerType(enumValue(pb.TriggerType_value, "TRIGGER_TYPE_", string(e.TriggerType))),
		Status:            executionStatusToProto(e.Status),
		ScheduledTime:     timestamp(e.ScheduledTime),
		FiredTime:         timestamp(&e.FiredTime),
		StartedTime:       timestamp(e.StartedTime),
		FinishedTime:      timestamp(e.FinishedTime),
		JitterSeconds:     e.JitterSeconds,
		EngineExecutionId: e.EngineExecutionID,
		ErrorMessage:      e.ErrorMessage,
		TraceId:           e.TraceID,
		IdempotencyKey:    e.IdempotencyKey,
		SkipReason:        e.SkipReason,
		TriggeredBy:       e.TriggeredBy,
		OnBehalfOf:        e.OnBehalfOf,
		Attempt:           e.Attempt,
		FirstAttemptId:    e.FirstAttemptID,
		NotBefore:         timestamp(e.NotBefore),
	}
}

func timestamp(t *time.Time) *timestamppb.Timestamp {
	if t == nil || t.IsZero() {
		return nil
	}
	return timestamppb.New(*t)
}
