package grpc

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/backfill"
)

func decodeBackfillRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.BackfillDeploymentRequest)
	out := backfill.Request{DeploymentID: req.GetDeploymentId(), OverlapPolicy: enumName(req.GetOverlapPolicy(), "OVERLAP_POLICY_")}
	if req.GetStartTime() != nil {
		out.Start = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		out.End = req.GetEndTime().AsTime()
	}
	return out, nil
}

func encodeBackfillResponse(_ context.Context, r any) (any, error) {
	return &pb.BackfillDeploymentResponse{Backfill: backfillToProto(r.(workflow.Backfill))}, nil
}

func decodeGetBackfillRequest(_ context.Context, r any) (any, error) {
	return backfill.GetRequest{BackfillID: r.(*pb.GetBackfillRequest).GetBackfillId()}, nil
}

func encodeGetBackfillResponse(_ context.Context, r any) (any, error) {
	return &pb.GetBackfillResponse{Backfill: backfillToProto(r.(workflow.Backfill))}, nil
}

func backfillToProto(b workflow.Backfill) *pb.Backfill {
	state := pb.BackfillState_BACKFILL_STATE_RUNNING
	if b.CompletedAt != nil {
		state = pb.BackfillState_BACKFILL_STATE_COMPLETED
	}
	return &pb.Backfill{
		BackfillId:       b.ID,
		DeploymentId:     b.DeploymentID,
		StartTime:        timestamppb.New(b.Start),
		EndTime:          timestamppb.New(b.End),
		OverlapPolicy:    pb.OverlapPolicy(enumValue(pb.OverlapPolicy_value, "OVERLAP_POLICY_", b.OverlapPolicy)),
		State:            state,
		PlannedSlots:     b.Planned,
		StartedSlots:     b.Started,
		FinishedSlots:    b.Finished,
		SkippedSlots:     b.Skipped,
		OutOfBoundsSlots: b.OutOfBounds,
		CreatedAt:        timestamppb.New(b.CreatedAt),
		CompletedAt:      timestamp(b.CompletedAt),
	}
}
