package grpc

import (
	"context"
	"time"

	kitgrpc "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/endpoint"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/monitoring"
)

type monitoringServer struct {
	// Embedded for forward compatibility: an RPC added to the contract answers
	// UNIMPLEMENTED until it is served.
	pb.UnimplementedMonitoringServiceServer
	stats, scheduling, jitter, load, health, report kitgrpc.Handler
}

// NewMonitoringServer returns the gRPC MonitoringService over the monitoring endpoints.
func NewMonitoringServer(e endpoint.MonitoringEndpoints) pb.MonitoringServiceServer {
	opts := []kitgrpc.ServerOption{kitgrpc.ServerBefore(traceHeaders)}
	return &monitoringServer{
		stats:      kitgrpc.NewServer(e.GetDeploymentStats, decodeDeploymentStatsRequest, encodeDeploymentStatsResponse, opts...),
		scheduling: kitgrpc.NewServer(e.GetSchedulingMetrics, decodeSchedulingMetricsRequest, encodeSchedulingMetricsResponse, opts...),
		jitter:     kitgrpc.NewServer(e.GetJitterDistribution, decodeJitterRequest, encodeJitterResponse, opts...),
		load:       kitgrpc.NewServer(e.GetLoadDistribution, decodeLoadRequest, encodeLoadResponse, opts...),
		health:     kitgrpc.NewServer(e.GetSystemHealth, decodeSystemHealthRequest, encodeSystemHealthResponse, opts...),
		report:     kitgrpc.NewServer(e.GetScheduleReport, decodeScheduleReportRequest, encodeScheduleReportResponse, opts...),
	}
}

func (s *monitoringServer) GetDeploymentStats(ctx context.Context, req *pb.GetDeploymentStatsRequest) (*pb.GetDeploymentStatsResponse, error) {
	return serve[*pb.GetDeploymentStatsResponse](ctx, s.stats, req)
}

func (s *monitoringServer) GetSchedulingMetrics(ctx context.Context, req *pb.GetSchedulingMetricsRequest) (*pb.GetSchedulingMetricsResponse, error) {
	return serve[*pb.GetSchedulingMetricsResponse](ctx, s.scheduling, req)
}

func (s *monitoringServer) GetJitterDistribution(ctx context.Context, req *pb.GetJitterDistributionRequest) (*pb.GetJitterDistributionResponse, error) {
	return serve[*pb.GetJitterDistributionResponse](ctx, s.jitter, req)
}

func (s *monitoringServer) GetLoadDistribution(ctx context.Context, req *pb.GetLoadDistributionRequest) (*pb.GetLoadDistributionResponse, error) {
	return serve[*pb.GetLoadDistributionResponse](ctx, s.load, req)
}

func (s *monitoringServer) GetSystemHealth(ctx context.Context, req *pb.GetSystemHealthRequest) (*pb.GetSystemHealthResponse, error) {
	return serve[*pb.GetSystemHealthResponse](ctx, s.health, req)
}

func (s *monitoringServer) GetScheduleReport(ctx context.Context, req *pb.GetScheduleReportRequest) (*pb.GetScheduleReportResponse, error) {
	return serve[*pb.GetScheduleReportResponse](ctx, s.report, req)
}

func decodeDeploymentStatsRequest(_ context.Context, r any) (any, error) {
	return monitoring.DeploymentStatsRequest{StartTime: optionalTime(r.(*pb.GetDeploymentStatsRequest).GetStartTime())}, nil
}

func encodeDeploymentStatsResponse(_ context.Context, r any) (any, error) {
	stats := r.(workflow.DeploymentStats)
	return &pb.GetDeploymentStatsResponse{
		ByStatus:           countsByName(stats.ByStatus),
		Total:              stats.Total,
		TriggersByType:     countsByName(stats.TriggersByType),
		ExecutionsByStatus: countsByName(stats.ExecutionsByStatus),
		UnfinishedByStatus: countsByName(stats.UnfinishedByStatus),
	}, nil
}

func countsByName[K ~string](m map[K]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, n := range m {
		out[string(k)] = n
	}
	return out
}

// optionalTime is the zero time for an absent timestamp: the service's
// "use the default".
func optionalTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func decodeSchedulingMetricsRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.GetSchedulingMetricsRequest)
	return monitoring.SchedulingMetricsRequest{StartTime: optionalTime(req.GetStartTime()), EndTime: optionalTime(req.GetEndTime())}, nil
}

func encodeSchedulingMetricsResponse(_ context.Context, r any) (any, error) {
	m := r.(monitoring.SchedulingMetrics)
	return &pb.GetSchedulingMetricsResponse{
		ScheduledTriggers: m.ScheduledTriggers,
		Fires:             m.Fires,
		Misfires:          m.Misfires,
		SkippedOverlap:    m.SkippedOverlap,
		Deduplicated:      m.Deduplicated,
		LagP50Ms:          m.LagP50MS,
		LagP95Ms:          m.LagP95MS,
		LagP99Ms:          m.LagP99MS,
		LagMaxMs:          m.LagMaxMS,
		InstanceId:        m.InstanceID,
	}, nil
}

func decodeJitterRequest(_ context.Context, r any) (any, error) {
	return monitoring.JitterRequest{BucketSeconds: r.(*pb.GetJitterDistributionRequest).GetBucketSeconds()}, nil
}

func encodeJitterResponse(_ context.Context, r any) (any, error) {
	d := r.(monitoring.JitterDistribution)
	out := &pb.GetJitterDistributionResponse{WindowSeconds: d.WindowSeconds, Total: d.Total, ChiSquare: d.ChiSquare, PValue: d.PValue}
	for _, b := range d.Buckets {
		out.Buckets = append(out.Buckets, &pb.JitterBucket{StartSecond: b.StartSecond, Count: b.Count})
	}
	return out, nil
}

func decodeLoadRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.GetLoadDistributionRequest)
	return monitoring.LoadRequest{
		StartTime:     optionalTime(req.GetStartTime()),
		EndTime:       optionalTime(req.GetEndTime()),
		BucketSeconds: req.GetBucketSeconds(),
	}, nil
}

func encodeLoadResponse(_ context.Context, r any) (any, error) {
	d := r.(monitoring.LoadDistribution)
	out := &pb.GetLoadDistributionResponse{
		Buckets:                    make([]*pb.LoadBucket, len(d.Buckets)),
		PeakPerSecondWithJitter:    d.PeakPerSecondWithJitter,
		PeakPerSecondWithoutJitter: d.PeakPerSecondWithoutJitter,
	}
	for i, b := range d.Buckets {
		out.Buckets[i] = &pb.LoadBucket{Start: timestamppb.New(b.Start), FiresWithJitter: b.FiresWithJitter, FiresWithoutJitter: b.FiresWithoutJitter}
	}
	return out, nil
}

func decodeSystemHealthRequest(context.Context, any) (any, error) {
	return monitoring.SystemHealthRequest{}, nil
}

func encodeSystemHealthResponse(_ context.Context, r any) (any, error) {
	h := r.(monitoring.SystemHealth)
	out := &pb.GetSystemHealthResponse{
		Status:        h.Status,
		Dependencies:  make(map[string]*pb.DependencyHealth, len(h.Dependencies)),
		Version:       h.Version,
		InstanceId:    h.InstanceID,
		UptimeSeconds: h.UptimeSeconds,
		LiveInstances: h.LiveInstances,
		CronMode:      h.CronMode,
	}
	for _, r := range h.Replicas {
		out.Replicas = append(out.Replicas, &pb.ReplicaOwnership{InstanceId: r.InstanceID, OwnedTriggers: r.OwnedTriggers})
	}
	for name, d := range h.Dependencies {
		out.Dependencies[name] = &pb.DependencyHealth{Status: d.Status, LatencyMs: d.LatencyMS, Error: d.Error}
	}
	return out, nil
}

func decodeScheduleReportRequest(_ context.Context, r any) (any, error) {
	req := r.(*pb.GetScheduleReportRequest)
	return monitoring.ScheduleReportRequest{
		DeploymentID: req.GetDeploymentId(),
		TriggerID:    req.GetTriggerId(),
		StartTime:    optionalTime(req.GetStartTime()),
		EndTime:      optionalTime(req.GetEndTime()),
	}, nil
}

func encodeScheduleReportResponse(_ context.Context, r any) (any, error) {
	rep := r.(monitoring.ScheduleReport)
	out := &pb.GetScheduleReportResponse{
		Triggers:  make([]*pb.TriggerScheduleReport, len(rep.Triggers)),
		StartTime: timestamppb.New(rep.StartTime),
		EndTime:   timestamppb.New(rep.EndTime),
	}
	for i, t := range rep.Triggers {
		out.Triggers[i] = &pb.TriggerScheduleReport{
			TriggerId:      t.TriggerID,
			DeploymentId:   t.DeploymentID,
			WorkflowId:     t.WorkflowID,
			SlotsDue:       t.SlotsDue,
			SlotsRan:       t.SlotsRan,
			SlotsSkipped:   t.SlotsSkipped,
			SlotsMissed:    t.SlotsMissed,
			MissedByReason: t.MissedByReason,
			OnTimePercent:  t.OnTimePercent,
			FireLagP50Ms:   t.FireLagP50MS,
			FireLagP99Ms:   t.FireLagP99MS,
		}
	}
	return out, nil
}
