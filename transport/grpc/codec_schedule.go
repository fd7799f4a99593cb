package grpc

import (
	"cmp"
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/deployment"
)

func cronSpecFromProto(c *pb.CronSpec) *workflow.CronSpec {
	if c == nil {
		return nil
	}
	spec := &workflow.CronSpec{
		Expression:          c.GetExpression(),
		Timezone:            c.GetTimezone(),
		JitterWindowSeconds: c.JitterWindowSeconds,
		CatchupPolicy:       enumName(c.GetCatchupPolicy(), "CATCHUP_POLICY_"),
		RepeatedTimePolicy:  enumName(c.GetRepeatedTimePolicy(), "REPEATED_TIME_POLICY_"),
		SkippedTimePolicy:   enumName(c.GetSkippedTimePolicy(), "SKIPPED_TIME_POLICY_"),
		MaxRuns:             c.GetMaxRuns(),
	}
	if c.GetStartTime() != nil {
		t := c.GetStartTime().AsTime()
		spec.StartTime = &t
	}
	if c.GetEndTime() != nil {
		t := c.GetEndTime().AsTime()
		spec.EndTime = &t
	}
	return spec
}

// cronSpecToProto writes each policy that is stored empty as the default it
// means, so that a reader sees what applies.
func cronSpecToProto(c *workflow.CronSpec) *pb.CronSpec {
	if c == nil {
		return nil
	}
	return &pb.CronSpec{
		Expression:          c.Expression,
		Timezone:            c.Timezone,
		JitterWindowSeconds: c.JitterWindowSeconds,
		CatchupPolicy:       pb.CatchupPolicy(enumValue(pb.CatchupPolicy_value, "CATCHUP_POLICY_", cmp.Or(c.CatchupPolicy, workflow.CatchupLatest))),
		RepeatedTimePolicy: pb.RepeatedTimePolicy(enumValue(pb.RepeatedTimePolicy_value, "REPEATED_TIME_POLICY_",
			cmp.Or(c.RepeatedTimePolicy, string(cron.RepeatedFirst)))),
		SkippedTimePolicy: pb.SkippedTimePolicy(enumValue(pb.SkippedTimePolicy_value, "SKIPPED_TIME_POLICY_",
			cmp.Or(c.SkippedTimePolicy, string(cron.SkippedShift)))),
		StartTime: timestamp(c.StartTime),
		EndTime:   timestamp(c.EndTime),
		MaxRuns:   c.MaxRuns,
	}
}

func decodePreviewRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.PreviewScheduleRequest)
	out := deployment.PreviewRequest{
		DeploymentID: req.GetDeploymentId(),
		Cron:         cronSpecFromProto(req.GetCron()),
		WorkflowID:   req.GetWorkflowId(),
		Count:        req.GetCount(),
	}
	if req.GetStartTime() != nil {
		out.From = req.GetStartTime().AsTime()
	}
	return out, nil
}

func encodePreviewResponse(_ context.Context, r any) (any, error) {
	return &pb.PreviewScheduleResponse{Triggers: triggerPreviewsToProto(r.(deployment.PreviewResponse).Triggers)}, nil
}

func triggerPreviewsToProto(ps []deployment.TriggerPreview) []*pb.TriggerPreview {
	var out []*pb.TriggerPreview
	for _, p := range ps {
		tp := &pb.TriggerPreview{TriggerId: p.TriggerID, TriggerIndex: int32(p.Index), Cron: cronSpecToProto(&p.Cron), Ended: p.Ended}
		for _, u := range p.Fires {
			tp.Fires = append(tp.Fires, &pb.UpcomingFire{
				SlotTime:  timestamppb.New(u.Slot),
				FireTime:  timestamp(&u.Fire),
				LocalTime: u.LocalTime,
				DstEffect: pb.DstEffect(enumValue(pb.DstEffect_value, "DST_EFFECT_", string(u.Effect))),
				Note:      u.Note,
			})
		}
		out = append(out, tp)
	}
	return out
}
