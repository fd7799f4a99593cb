package grpc

import (
	"context"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/deployment"
)

func decodeVersionsRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.ListDeploymentVersionsRequest)
	return deployment.VersionsRequest{DeploymentID: req.GetDeploymentId(), PageSize: req.GetPageSize(), PageToken: req.GetPageToken()}, nil
}

func encodeVersionsResponse(_ context.Context, r any) (any, error) {
	resp := r.(deployment.VersionsResponse)
	out := &pb.ListDeploymentVersionsResponse{NextPageToken: resp.NextPageToken}
	for _, v := range resp.Versions {
		out.Versions = append(out.Versions, versionToProto(v))
	}
	return out, nil
}

// versionToProto encodes a deployment version; its webhook secrets, like
// every trigger's, are never returned.
func versionToProto(v workflow.DeploymentVersion) *pb.DeploymentVersion {
	def := &structpb.Struct{}
	// Every stored definition was validated as a JSON object when written.
	_ = protojson.Unmarshal(v.Definition, def)
	pv := &pb.DeploymentVersion{
		DeploymentId:       v.DeploymentID,
		Version:            v.Version,
		WorkflowDefinition: def,
		Config:             configToProto(v.Config),
		TriggersKept:       v.TriggersKept,
		CreatedAt:          timestamp(v.CreatedAt),
		CreatedBy:          v.CreatedBy,
		OnBehalfOf:         v.OnBehalfOf,
	}
	for _, t := range v.Triggers {
		pv.Triggers = append(pv.Triggers, triggerToProto(t))
	}
	return pv
}

func decodeRollbackRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.RollbackDeploymentRequest)
	return deployment.RollbackRequest{DeploymentID: req.GetDeploymentId(), ToVersion: req.GetToVersion(), ExpectedVersion: req.GetExpectedVersion()}, nil
}

func encodeRollbackResponse(_ context.Context, r any) (any, error) {
	return &pb.RollbackDeploymentResponse{Deployment: deploymentToProto(r.(deployment.Deployment))}, nil
}

func decodeEventsRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.ListDeploymentEventsRequest)
	return deployment.EventsRequest{DeploymentID: req.GetDeploymentId(), WorkflowID: req.GetWorkflowId(),
		PageSize: req.GetPageSize(), PageToken: req.GetPageToken()}, nil
}

func encodeEventsResponse(_ context.Context, r any) (any, error) {
	resp := r.(deployment.EventsResponse)
	out := &pb.ListDeploymentEventsResponse{NextPageToken: resp.NextPageToken}
	for _, e := range resp.Events {
		out.Events = append(out.Events, &pb.DeploymentEvent{
			DeploymentId: e.DeploymentID,
			WorkflowId:   e.WorkflowID,
			Action:       e.Action,
			FromStatus:   pb.DeploymentStatus(enumValue(pb.DeploymentStatus_value, "DEPLOYMENT_STATUS_", string(e.FromStatus))),
			ToStatus:     pb.DeploymentStatus(enumValue(pb.DeploymentStatus_value, "DEPLOYMENT_STATUS_", string(e.ToStatus))),
			FromVersion:  e.FromVersion,
			ToVersion:    e.Version,
			Actor:        e.Actor,
			OnBehalfOf:   e.OnBehalfOf,
			Reason:       e.Reason,
			At:           timestamp(&e.At),
		})
	}
	return out, nil
}
