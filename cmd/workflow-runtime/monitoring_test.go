package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestMonitoringOverGRPCAndREST serves the MonitoringService from a whole
// runtime and calls each RPC over gRPC, and the load and health ones through
// the gateway too.
func TestMonitoringOverGRPCAndREST(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	rdb, prefix := redistest.New(t)
	s := startStack(t, map[string]string{"WFR_REDIS_PREFIX": prefix})
	ctx := context.Background()
	mon := pb.NewMonitoringServiceClient(s.conn)

	for _, w := range []struct{ id, expr string }{{"mon.a", "*/5 * * * *"}, {"mon.b", "0 * * * *"}, {"mon.c", "*/1 * * * *"}} {
		_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
			WorkflowId: w.id, WorkflowDefinition: definition(t, actionNode),
			Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: w.expr}}},
		})
		require.NoError(t, err)
	}
	_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: "mon.draft", WorkflowDefinition: definition(t, actionNode), Draft: true,
		Triggers: []*pb.Trigger{webhookSpec},
	})
	require.NoError(t, err)

	stats, err := mon.GetDeploymentStats(ctx, &pb.GetDeploymentStatsRequest{})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"DEPLOYED": 3, "DRAFT": 1}, stats.GetByStatus())
	require.EqualValues(t, 4, stats.GetTotal())
	require.Equal(t, map[string]int64{"CRON": 3, "WEBHOOK": 1}, stats.GetTriggersByType())
	require.Equal(t, map[string]int64{"PENDING": 0, "RUNNING": 0}, stats.GetUnfinishedByStatus())
	future, err := mon.GetDeploymentStats(ctx, &pb.GetDeploymentStatsRequest{StartTime: timestamppb.New(time.Now().Add(time.Hour))})
	require.NoError(t, err)
	require.Empty(t, future.GetExecutionsByStatus(), "no execution was fired after an hour from now")

	sm, err := mon.GetSchedulingMetrics(ctx, &pb.GetSchedulingMetricsRequest{})
	require.NoError(t, err)
	require.EqualValues(t, 3, sm.GetScheduledTriggers())
	require.Equal(t, "wiring-test", sm.GetInstanceId())
	now := time.Now()
	_, err = mon.GetSchedulingMetrics(ctx, &pb.GetSchedulingMetricsRequest{StartTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(-time.Minute))})
	require.Equal(t, []string{"end_time"}, violations(requireCode(t, err, codes.InvalidArgument)))

	jd, err := mon.GetJitterDistribution(ctx, &pb.GetJitterDistributionRequest{})
	require.NoError(t, err)
	require.EqualValues(t, 300, jd.GetWindowSeconds())
	require.Len(t, jd.GetBuckets(), 10)
	require.EqualValues(t, 3, jd.GetTotal())
	require.Greater(t, jd.GetPValue(), 0.0)
	for _, bad := range []int32{-1, 301} {
		_, err = mon.GetJitterDistribution(ctx, &pb.GetJitterDistributionRequest{BucketSeconds: bad})
		require.Equal(t, []string{"bucket_seconds"}, violations(requireCode(t, err, codes.InvalidArgument)))
	}

	start := now.Truncate(time.Hour).Add(time.Hour)
	load, err := mon.GetLoadDistribution(ctx, &pb.GetLoadDistributionRequest{StartTime: timestamppb.New(start), BucketSeconds: 300})
	require.NoError(t, err)
	require.Len(t, load.GetBuckets(), 12)
	require.True(t, load.GetBuckets()[0].GetStart().AsTime().Equal(start))
	var fires int64
	for _, b := range load.GetBuckets() {
		fires += b.GetFiresWithoutJitter()
	}
	require.EqualValues(t, 12+1+60, fires)
	require.EqualValues(t, 3, load.GetPeakPerSecondWithoutJitter(), "all three fire at the full hour")
	_, err = mon.GetLoadDistribution(ctx, &pb.GetLoadDistributionRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(48 * time.Hour))})
	require.Equal(t, []string{"end_time"}, violations(requireCode(t, err, codes.InvalidArgument)))

	sh, err := mon.GetSystemHealth(ctx, &pb.GetSystemHealthRequest{})
	require.NoError(t, err)
	require.Equal(t, "healthy", sh.GetStatus())
	require.Equal(t, "wiring-test", sh.GetInstanceId())
	require.Equal(t, []string{"wiring-test"}, sh.GetLiveInstances())
	for _, dep := range []string{"database", "redis", "workflow_engine"} {
		require.Equal(t, "healthy", sh.GetDependencies()[dep].GetStatus(), dep)
		require.Positive(t, sh.GetDependencies()[dep].GetLatencyMs(), dep)
	}
	require.Equal(t, version, sh.GetVersion())
	require.NotNil(t, rdb.ZScore(ctx, prefix+"replicas", "wiring-test").Val(), "the replica beats into Redis")

	code, body := doJSON(t, http.MethodGet, s.httpBase+"/api/v1/monitoring/load?start_time="+start.UTC().Format(time.RFC3339)+"&bucket_seconds=600", "")
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	require.Len(t, body["buckets"], 6)
	require.Equal(t, "3", body["peak_per_second_without_jitter"], "int64 travels as a JSON string")
	code, body = doJSON(t, http.MethodGet, s.httpBase+"/api/v1/monitoring/jitter?bucket_seconds=-5", "")
	require.Equal(t, http.StatusBadRequest, code, "body: %v", body)
	code, body = doJSON(t, http.MethodGet, s.httpBase+"/api/v1/monitoring/health", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{"wiring-test"}, body["live_instances"])

	require.NoError(t, s.stop())
	n, err := rdb.Exists(ctx, prefix+"replicas").Result()
	require.NoError(t, err)
	require.Zero(t, n, "a stopped replica leaves the live set")
}

// TestScheduleReportOverGRPCAndREST reads a deployment's schedule report
// over gRPC and through the gateway, and checks the refusals of a request
// that names no deployment, or both, an unknown one, or a range that ends
// before it starts.
func TestScheduleReportOverGRPCAndREST(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	t.Parallel()
	_, prefix := redistest.New(t)
	s := startStack(t, map[string]string{"WFR_REDIS_PREFIX": prefix})
	ctx := context.Background()
	mon := pb.NewMonitoringServiceClient(s.conn)
	dep, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: "report.me", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{
			{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "0 * * * *", CatchupPolicy: pb.CatchupPolicy_CATCHUP_POLICY_ALL}},
			{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL},
		},
	})
	require.NoError(t, err)
	d := dep.GetDeployment()
	tid := d.GetTriggers()[0].GetTrigger().GetTriggerId()

	end := time.Now().Add(time.Hour)
	for name, req := range map[string]*pb.GetScheduleReportRequest{
		"deployment": {DeploymentId: d.GetDeploymentId(), EndTime: timestamppb.New(end)},
		"trigger":    {TriggerId: tid, EndTime: timestamppb.New(end)},
	} {
		got, err := mon.GetScheduleReport(ctx, req)
		require.NoError(t, err, name)
		require.Len(t, got.GetTriggers(), 1, "%s: one report per cron trigger", name)
		r := got.GetTriggers()[0]
		require.Equal(t, tid, r.GetTriggerId(), name)
		require.Equal(t, "report.me", r.GetWorkflowId(), name)
		require.Equal(t, r.GetSlotsDue(), r.GetSlotsRan()+r.GetSlotsSkipped()+r.GetSlotsMissed(), "%s: every slot due is accounted for", name)
		require.Equal(t, 24*time.Hour, got.GetEndTime().AsTime().Sub(got.GetStartTime().AsTime()), "%s: the default range is a day", name)
	}

	past := timestamppb.New(time.Now().Add(-time.Hour))
	for _, tc := range []struct {
		name  string
		req   *pb.GetScheduleReportRequest
		code  codes.Code
		field string
	}{
		{"neither id", &pb.GetScheduleReportRequest{}, codes.InvalidArgument, "deployment_id"},
		{"both ids", &pb.GetScheduleReportRequest{DeploymentId: d.GetDeploymentId(), TriggerId: tid}, codes.InvalidArgument, "deployment_id"},
		{"end before start", &pb.GetScheduleReportRequest{DeploymentId: d.GetDeploymentId(), StartTime: timestamppb.Now(), EndTime: past},
			codes.InvalidArgument, "end_time"},
		{"unknown deployment", &pb.GetScheduleReportRequest{DeploymentId: "00000000-0000-0000-0000-000000000001"}, codes.NotFound, ""},
		{"unknown trigger", &pb.GetScheduleReportRequest{TriggerId: d.GetTriggers()[1].GetTrigger().GetTriggerId()}, codes.NotFound, ""},
	} {
		_, err := mon.GetScheduleReport(ctx, tc.req)
		st := requireCode(t, err, tc.code)
		if tc.field != "" {
			require.Equal(t, []string{tc.field}, violations(st), tc.name)
		}
	}

	code, body := doJSON(t, http.MethodGet, s.httpBase+"/api/v1/monitoring/schedule-report?deployment_id="+d.GetDeploymentId(), "")
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	triggers, ok := body["triggers"].([]any)
	require.True(t, ok, "body: %v", body)
	require.Len(t, triggers, 1)
	require.Equal(t, tid, triggers[0].(map[string]any)["trigger_id"])
	code, body = doJSON(t, http.MethodGet, s.httpBase+"/api/v1/monitoring/schedule-report", "")
	require.Equal(t, http.StatusBadRequest, code, "body: %v", body)
}
