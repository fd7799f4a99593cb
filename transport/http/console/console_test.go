package console

import (
	"cmp"
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// testNow is the console's clock in these tests.
var testNow = time.Date(2026, time.March, 14, 10, 17, 23, 0, time.UTC)

func ts(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(testNow.Add(d)) }

// fakeAPI stands for both gRPC services. It answers with its canned
// responses, or with err for every call when err is set, and records the
// methods called and the authorization they carried.
type fakeAPI struct {
	pb.UnimplementedWorkflowRuntimeServiceServer
	pb.UnimplementedMonitoringServiceServer
	err error
	// failing names methods that answer with their own error.
	failing map[string]error
	// deployment, when set, is the deployment GetDeploymentStatus answers
	// with instead of the shared one.
	deployment *pb.Deployment

	mu    sync.Mutex
	calls []string
	auth  []string
}

func (f *fakeAPI) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, method)
	f.auth = append(f.auth, strings.Join(md.Get("authorization"), ","))
	f.mu.Unlock()
	if err := f.failing[method]; err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	return h(ctx, req)
}

func (f *fakeAPI) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

var (
	deployment = &pb.Deployment{
		DeploymentId: "d-1", WorkflowId: "orders.sync", Status: pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, Version: 3,
		Config: &pb.DeploymentConfig{
			OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_BUFFER_ONE, PauseAfterFailures: 5, MaxConcurrency: 4, MaxBuffered: 30,
			RetryPolicy: &pb.RetryPolicy{MaxAttempts: 3, InitialInterval: durationpb.New(10 * time.Second), RetryOn: []pb.ExecutionStatus{pb.ExecutionStatus_EXECUTION_STATUS_TIMED_OUT}},
		},
		ConsecutiveFailures: 2, DeployedBy: "alice", OnBehalfOf: "carol",
		CreatedAt: ts(-time.Hour), UpdatedAt: ts(-time.Minute), DeployedAt: ts(-time.Hour),
		Triggers: []*pb.TriggerStatus{
			{Trigger: &pb.Trigger{TriggerId: "t-cron", Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "30 2 * * *", Timezone: "America/New_York"}},
				JitterSeconds: 187, NextFireTime: ts(time.Hour), LastFireTime: ts(-23 * time.Hour)},
			{Trigger: &pb.Trigger{TriggerId: "t-hook", Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{Path: "orders/created", Methods: []string{"POST"}}}},
		},
	}
	execution = &pb.Execution{
		ExecutionId: "e-1", WorkflowId: "orders.sync", DeploymentId: "d-1", DeploymentVersion: 3, TriggerId: "t-cron",
		TriggerType: pb.TriggerType_TRIGGER_TYPE_CRON, Status: pb.ExecutionStatus_EXECUTION_STATUS_FAILED,
		ScheduledTime: ts(-10 * time.Minute), FiredTime: ts(-10*time.Minute + 187*time.Second), StartedTime: ts(-7 * time.Minute),
		FinishedTime: ts(-6 * time.Minute), JitterSeconds: 187, ErrorMessage: "node Ship: <boom>", TraceId: "4bf92f3577b34da6a3ce929d0e0e4736",
		TriggeredBy: "cron:t-cron", Attempt: 2, FirstAttemptId: "e-0", NotBefore: ts(-8 * time.Minute),
	}
	running = &pb.Execution{
		ExecutionId: "e-2", WorkflowId: "orders.sync", DeploymentId: "d-1", TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL,
		Status: pb.ExecutionStatus_EXECUTION_STATUS_RUNNING, FiredTime: ts(-time.Second), StartedTime: ts(0),
	}
)

func (f *fakeAPI) ListDeployments(context.Context, *pb.ListDeploymentsRequest) (*pb.ListDeploymentsResponse, error) {
	return &pb.ListDeploymentsResponse{Deployments: []*pb.Deployment{deployment}, TotalSize: 1, NextPageToken: "next-1"}, nil
}

func (f *fakeAPI) GetDeploymentStatus(context.Context, *pb.GetDeploymentStatusRequest) (*pb.GetDeploymentStatusResponse, error) {
	return &pb.GetDeploymentStatusResponse{Deployment: cmp.Or(f.deployment, deployment), RunningExecutions: 1}, nil
}

func (f *fakeAPI) PreviewSchedule(context.Context, *pb.PreviewScheduleRequest) (*pb.PreviewScheduleResponse, error) {
	return &pb.PreviewScheduleResponse{Triggers: []*pb.TriggerPreview{{TriggerId: "t-cron", Cron: deployment.GetTriggers()[0].GetTrigger().GetCron(), Fires: []*pb.UpcomingFire{
		{SlotTime: ts(time.Hour), FireTime: ts(time.Hour + 187*time.Second), LocalTime: "2026-03-08T02:30:00", DstEffect: pb.DstEffect_DST_EFFECT_SHIFTED, Note: "02:30 does not occur"},
		{SlotTime: ts(25 * time.Hour), LocalTime: "2026-03-09T02:30:00", DstEffect: pb.DstEffect_DST_EFFECT_SKIPPED},
	}}}}, nil
}

func (f *fakeAPI) GetExecutionHistory(_ context.Context, req *pb.GetExecutionHistoryRequest) (*pb.GetExecutionHistoryResponse, error) {
	if req.GetFirstAttemptId() == "e-0" {
		return &pb.GetExecutionHistoryResponse{Executions: []*pb.Execution{execution, {ExecutionId: "e-0", Attempt: 1, FirstAttemptId: "e-0", FiredTime: ts(-20 * time.Minute)}}}, nil
	}
	return &pb.GetExecutionHistoryResponse{Executions: []*pb.Execution{running, execution}}, nil
}

func (f *fakeAPI) ListDeploymentVersions(context.Context, *pb.ListDeploymentVersionsRequest) (*pb.ListDeploymentVersionsResponse, error) {
	return &pb.ListDeploymentVersionsResponse{Versions: []*pb.DeploymentVersion{
		{DeploymentId: "d-1", Version: 3, TriggersKept: true, CreatedAt: ts(-time.Minute), Triggers: []*pb.Trigger{deployment.GetTriggers()[0].GetTrigger()}},
		{DeploymentId: "d-1", Version: 2, TriggersKept: true, CreatedAt: ts(-2 * time.Minute), CreatedBy: "ci", OnBehalfOf: "erin"},
		{DeploymentId: "d-1", Version: 1},
	}}, nil
}

func (f *fakeAPI) ListDeploymentEvents(context.Context, *pb.ListDeploymentEventsRequest) (*pb.ListDeploymentEventsResponse, error) {
	return &pb.ListDeploymentEventsResponse{Events: []*pb.DeploymentEvent{
		{DeploymentId: "d-1", WorkflowId: "orders.sync", Action: "ROLLBACK", FromStatus: pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED,
			ToStatus: pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, FromVersion: 2, ToVersion: 3, Actor: "bob", OnBehalfOf: "dave", Reason: "version 2 undone: <scheduling failed>", At: ts(-time.Minute)},
	}}, nil
}

func (f *fakeAPI) GetExecution(_ context.Context, req *pb.GetExecutionRequest) (*pb.GetExecutionResponse, error) {
	if req.GetExecutionId() == running.GetExecutionId() {
		return &pb.GetExecutionResponse{Execution: running, InputData: `{"order":7}`}, nil
	}
	return &pb.GetExecutionResponse{Execution: execution}, nil
}

func (f *fakeAPI) GetBackfill(context.Context, *pb.GetBackfillRequest) (*pb.GetBackfillResponse, error) {
	return &pb.GetBackfillResponse{Backfill: &pb.Backfill{BackfillId: "b-1", State: pb.BackfillState_BACKFILL_STATE_RUNNING, PlannedSlots: 24, StartedSlots: 5}}, nil
}

func (f *fakeAPI) GetSystemHealth(context.Context, *pb.GetSystemHealthRequest) (*pb.GetSystemHealthResponse, error) {
	return &pb.GetSystemHealthResponse{Status: "degraded", Version: "v-test", InstanceId: "replica-a", UptimeSeconds: 3725,
		LiveInstances: []string{"replica-a", "replica-b"}, CronMode: "sharded",
		Replicas: []*pb.ReplicaOwnership{{InstanceId: "replica-a", OwnedTriggers: 12}, {InstanceId: "replica-b", OwnedTriggers: 9}},
		Dependencies: map[string]*pb.DependencyHealth{
			"database": {Status: "healthy", LatencyMs: 1.25}, "redis": {Status: "unhealthy", Error: "dial tcp: refused"},
			"workflow_engine": {Status: "healthy", LatencyMs: 0.5},
		}}, nil
}

func (f *fakeAPI) GetDeploymentStats(context.Context, *pb.GetDeploymentStatsRequest) (*pb.GetDeploymentStatsResponse, error) {
	return &pb.GetDeploymentStatsResponse{
		ByStatus: map[string]int64{"DEPLOYED": 4, "PAUSED": 2}, Total: 6,
		ExecutionsByStatus: map[string]int64{"SUCCEEDED": 41, "FAILED": 3}, UnfinishedByStatus: map[string]int64{"PENDING": 17, "RUNNING": 2},
	}, nil
}

func (f *fakeAPI) GetSchedulingMetrics(context.Context, *pb.GetSchedulingMetricsRequest) (*pb.GetSchedulingMetricsResponse, error) {
	return &pb.GetSchedulingMetricsResponse{Fires: 44, LagP50Ms: 3.25, LagP99Ms: 812.5, InstanceId: "replica-a"}, nil
}

func (f *fakeAPI) GetLoadDistribution(_ context.Context, req *pb.GetLoadDistributionRequest) (*pb.GetLoadDistributionResponse, error) {
	n := int(req.GetEndTime().AsTime().Sub(req.GetStartTime().AsTime()) / (time.Duration(req.GetBucketSeconds()) * time.Second))
	out := &pb.GetLoadDistributionResponse{PeakPerSecondWithJitter: 2, PeakPerSecondWithoutJitter: 40}
	for i := range n {
		b := &pb.LoadBucket{Start: timestamppb.New(req.GetStartTime().AsTime().Add(time.Duration(i*int(req.GetBucketSeconds())) * time.Second))}
		if i%60 == 0 {
			b.FiresWithoutJitter = 40
		}
		if i%3 == 0 {
			b.FiresWithJitter = 2
		}
		out.Buckets = append(out.Buckets, b)
	}
	return out, nil
}

func (f *fakeAPI) GetJitterDistribution(context.Context, *pb.GetJitterDistributionRequest) (*pb.GetJitterDistributionResponse, error) {
	return &pb.GetJitterDistributionResponse{WindowSeconds: 300, Total: 100, ChiSquare: 31.2, PValue: 0.0003, Buckets: []*pb.JitterBucket{
		{StartSecond: 0, Count: 40}, {StartSecond: 150, Count: 60},
	}}, nil
}

func (f *fakeAPI) GetScheduleReport(context.Context, *pb.GetScheduleReportRequest) (*pb.GetScheduleReportResponse, error) {
	return &pb.GetScheduleReportResponse{StartTime: ts(-time.Hour), EndTime: ts(0), Triggers: []*pb.TriggerScheduleReport{{
		TriggerId: "t-cron", SlotsDue: 60, SlotsRan: 57, SlotsSkipped: 1, SlotsMissed: 2,
		MissedByReason: map[string]int64{"REPLICA_DOWN": 2, "PAUSED": 0}, OnTimePercent: 95, FireLagP50Ms: 4, FireLagP99Ms: 900,
	}}}, nil
}

func (f *fakeAPI) UpdateDeployment(context.Context, *pb.UpdateDeploymentRequest) (*pb.UpdateDeploymentResponse, error) {
	return &pb.UpdateDeploymentResponse{Deployment: deployment}, nil
}

func (f *fakeAPI) RollbackDeployment(context.Context, *pb.RollbackDeploymentRequest) (*pb.RollbackDeploymentResponse, error) {
	return &pb.RollbackDeploymentResponse{Deployment: deployment}, nil
}

func (f *fakeAPI) TriggerWorkflow(_ context.Context, req *pb.TriggerWorkflowRequest) (*pb.TriggerWorkflowResponse, error) {
	if req.GetOverlapPolicy() == pb.OverlapPolicy_OVERLAP_POLICY_BUFFER_ALL {
		return &pb.TriggerWorkflowResponse{ExecutionId: "e-new", Admission: pb.Admission_ADMISSION_WAITING}, nil
	}
	return &pb.TriggerWorkflowResponse{ExecutionId: "e-new"}, nil
}

func (f *fakeAPI) BackfillDeployment(context.Context, *pb.BackfillDeploymentRequest) (*pb.BackfillDeploymentResponse, error) {
	return &pb.BackfillDeploymentResponse{Backfill: &pb.Backfill{BackfillId: "b-1"}}, nil
}

func (f *fakeAPI) CancelExecution(context.Context, *pb.CancelExecutionRequest) (*pb.CancelExecutionResponse, error) {
	return &pb.CancelExecutionResponse{Execution: running}, nil
}

func (f *fakeAPI) DeployWorkflow(context.Context, *pb.DeployWorkflowRequest) (*pb.DeployWorkflowResponse, error) {
	return &pb.DeployWorkflowResponse{Deployment: deployment}, nil
}

// serve starts the console over a real gRPC server that f stands behind.
func serve(t *testing.T, f *fakeAPI) *httptest.Server {
	t.Helper()
	return serveBehind(t, f, func(h http.Handler) http.Handler { return h })
}

// serveBehind is serve with the console behind wrap.
func serveBehind(t *testing.T, f *fakeAPI, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.UnaryInterceptor(f.intercept))
	pb.RegisterWorkflowRuntimeServiceServer(srv, f)
	pb.RegisterMonitoringServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	c, err := New(conn, Options{Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	hs := httptest.NewServer(wrap(c))
	t.Cleanup(hs.Close)
	return hs
}

type answer struct {
	status   int
	location string
	body     string
	header   http.Header
}

func request(t *testing.T, method, target string, form url.Values, header http.Header) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	maps.Copy(req.Header, header)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header.Get("Location"), string(b), resp.Header}
}

func TestPages(t *testing.T) {
	t.Parallel()
	hs := serve(t, &fakeAPI{})
	for _, tt := range []struct {
		path  string
		shows []string
	}{
		{"/ui/", []string{"h-degraded", "dial tcp: refused", "1h2m5s", "replica-b", "owns 9 cron triggers", "This replica fires: sharded", `id="pending-backlog">17<`, "812.5 ms", ">41<"}},
		{"/ui/deployments?workflow_id=orders.sync&status=DEPLOYED", []string{"orders.sync", "1 deployment<",
			`href="/ui/deployments?page_token=next-1&amp;status=DEPLOYED&amp;workflow_id=orders.sync"`}},
		{"/ui/deployments?page_token=next-1", []string{"First page"}},
		{"/ui/deployments/d-1", []string{"BUFFER_ONE", "America/New_York", "187s", "02:30 does not occur", "skipped slot", `id="pause"`, "/ui/executions/e-2",
			`id="version-3"`, "not kept", "<code>30 2 * * *</code>", "2 → 3", "version 2 undone: &lt;scheduling failed&gt;",
			"up to 3 attempts, first wait 10s, ×2, at most 100 × the first, on TIMED_OUT", "5 in a row, 2 so far", `id="max-concurrency">4<`, `id="max-buffered">30<`,
			`<option value="BUFFER_ALL">BUFFER_ALL</option>`, `id="trigger_overlap_policy"`,
			`id="rollback-2"`, `name="expected_version" value="3"`, `id="deployed-by">alice for carol<`, "<td>bob for dave</td>", "<td>ci for erin</td>"}},
		{"/ui/deployments/d-1?backfill=b-1", []string{"Backfill <code>b-1</code>", "RUNNING", `data-live="backfill"`}},
		{"/ui/executions/e-1", []string{"node Ship: &lt;boom&gt;", "4bf92f3577b34da6a3ce929d0e0e4736", "3m7s after the slot", "took 53s",
			`id="attempt">2<`, `id="first-attempt" href="/ui/executions/e-0"`, `id="not-before"`, `href="/ui/executions/e-0"><code>e-0</code>`}},
		{"/ui/executions/e-new?admission=WAITING", []string{`id="admission">Waiting: the execution is PENDING`}},
		{"/ui/executions/e-2", []string{"Cancel execution", "&#34;order&#34;: 7", `data-every="2000"`}},
		{"/ui/load", []string{`id="load-chart"`, "Peak <strong id=\"peak-with\">2</strong>", "offsets bunch up", `class="bar"`}},
		{"/ui/load?range=day&report=d-1&report_range=7d", []string{"10 s", "REPLICA_DOWN 2", "95.0 %", "900.0 ms"}},
		{"/ui/deploy", []string{`<label for="definition">`}},
		{"/ui/sign-in?next=/ui/load", []string{`name="next" value="/ui/load"`}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			a := request(t, http.MethodGet, hs.URL+tt.path, nil, nil)
			require.Equal(t, http.StatusOK, a.status, a.body)
			for _, s := range tt.shows {
				require.Contains(t, a.body, s)
			}
			require.Contains(t, a.header.Get("Content-Security-Policy"), "default-src 'self'")
			require.Equal(t, "no-store", a.header.Get("Cache-Control"))
		})
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	hs := serve(t, &fakeAPI{})
	for _, name := range []string{"console.css", "console.js"} {
		a := request(t, http.MethodGet, hs.URL+"/ui/static/"+name, nil, nil)
		require.Equal(t, http.StatusOK, a.status)
		require.Equal(t, "public, max-age=3600", a.header.Get("Cache-Control"))
	}
}

// TestSectionsFailAlone: a page shows what it got and, where a call failed,
// why.
func TestSectionsFailAlone(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{failing: map[string]error{
		"GetSystemHealth":       status.Error(codes.Unavailable, "database unreachable"),
		"GetScheduleReport":     status.Error(codes.Unimplemented, "method GetScheduleReport not implemented"),
		"PreviewSchedule":       status.Error(codes.DeadlineExceeded, "slow"),
		"GetJitterDistribution": status.Error(codes.Internal, "broken"),
	}}
	hs := serve(t, f)
	a := request(t, http.MethodGet, hs.URL+"/ui/", nil, nil)
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "Unavailable</strong>: database unreachable")
	require.Contains(t, a.body, "812.5 ms", "the other sections are shown")
	a = request(t, http.MethodGet, hs.URL+"/ui/load?report=d-1", nil, nil)
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "this server does not offer it yet")
	require.Contains(t, a.body, `id="load-chart"`)
	a = request(t, http.MethodGet, hs.URL+"/ui/deployments/d-1", nil, nil)
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "DeadlineExceeded")
}

// TestUnauthenticated: a caller the API refuses goes to the sign-in page
// and comes back to where it was; a live list's fetch gets 401.
func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	hs := serve(t, &fakeAPI{err: status.Error(codes.Unauthenticated, "missing credentials")})
	for _, path := range []string{"/ui/", "/ui/load", "/ui/deployments?status=PAUSED", "/ui/deployments/d-1", "/ui/executions/e-1"} {
		a := request(t, http.MethodGet, hs.URL+path, nil, nil)
		require.Equal(t, http.StatusSeeOther, a.status, path)
		require.Equal(t, auth.ConsoleSignIn+"?next="+url.QueryEscape(path), a.location)
	}
	a := request(t, http.MethodGet, hs.URL+"/ui/deployments/d-1?fragment=executions", nil, nil)
	require.Equal(t, http.StatusUnauthorized, a.status)
	a = request(t, http.MethodPost, hs.URL+"/ui/deployments/d-1/pause", url.Values{}, http.Header{"Referer": {hs.URL + "/ui/deployments/d-1"}})
	require.Equal(t, http.StatusSeeOther, a.status)
	require.Equal(t, auth.ConsoleSignIn+"?next=%2Fui%2Fdeployments%2Fd-1", a.location)
	a = request(t, http.MethodPost, hs.URL+"/ui/sign-in", url.Values{"token": {"wrong-token-0123456789"}}, nil)
	require.Equal(t, http.StatusUnauthorized, a.status)
	require.Contains(t, a.body, "the token was not accepted")
}

// TestTokenReachesTheAPI: the cookie's token, or a header, is what the
// console's calls carry.
func TestTokenReachesTheAPI(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{}
	hs := serve(t, f)
	a := request(t, http.MethodPost, hs.URL+"/ui/sign-in", url.Values{"token": {`odd;"token\0123`}, "next": {"/ui/load"}}, nil)
	require.Equal(t, http.StatusSeeOther, a.status)
	require.Equal(t, "/ui/load", a.location)
	cookie := a.header.Get("Set-Cookie")
	require.Contains(t, cookie, "HttpOnly")
	require.Contains(t, cookie, "SameSite=Strict")
	require.NotContains(t, cookie, "Secure", "plain HTTP")
	request(t, http.MethodGet, hs.URL+"/ui/executions/e-1", nil, http.Header{"Cookie": {strings.Split(cookie, ";")[0]}})
	request(t, http.MethodGet, hs.URL+"/ui/executions/e-1", nil, http.Header{"Authorization": {"Bearer from-a-header"}})
	f.mu.Lock()
	defer f.mu.Unlock()
	// Sign-in's call, then the execution page's two (the execution and its attempts) each time.
	require.Equal(t, []string{`Bearer odd;"token\0123`, `Bearer odd;"token\0123`, `Bearer odd;"token\0123`, "Bearer from-a-header", "Bearer from-a-header"}, f.auth)
}

// TestDeploymentPolicies: a paused deployment says why, and the backfill
// form offers only the overlap policies a backfill accepts.
func TestDeploymentPolicies(t *testing.T) {
	t.Parallel()
	paused := proto.CloneOf(deployment)
	paused.Status = pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED
	paused.PauseReason = "5 runs in a row failed; last: <boom>"
	paused.Config = &pb.DeploymentConfig{}
	hs := serve(t, &fakeAPI{deployment: paused})
	a := request(t, http.MethodGet, hs.URL+"/ui/deployments/d-1", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Contains(t, a.body, `id="pause-reason">5 runs in a row failed; last: &lt;boom&gt;<`)
	require.Contains(t, a.body, `id="retry-policy">none<`)
	require.Contains(t, a.body, `id="pause-after">never<`)
	require.Contains(t, a.body, `id="max-concurrency">no limit<`)
	require.Contains(t, a.body, `id="max-buffered">100<`)
	_, backfillForm, ok := strings.Cut(a.body, `id="overlap_policy"`)
	require.True(t, ok, "the backfill form is shown")
	backfillForm, _, _ = strings.Cut(backfillForm, "</select>")
	require.Contains(t, backfillForm, "BUFFER_ONE")
	require.NotContains(t, backfillForm, "BUFFER_ALL", "a backfill refuses BUFFER_ALL")
	require.NotContains(t, a.body, `id="trigger"`, "a paused deployment cannot be triggered")
}

// TestLiveExecutionSkipsAttempts: the execution's live fragment, fetched
// every few seconds, does not ask for the run's attempts again.
func TestLiveExecutionSkipsAttempts(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{}
	hs := serve(t, f)
	a := request(t, http.MethodGet, hs.URL+"/ui/executions/e-2?fragment=execution", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Equal(t, []string{"GetExecution"}, f.called())
}

// TestPosts: each form calls its RPC and goes on to the page that shows the
// result; a cross-origin post calls nothing.
func TestPosts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path, call, location string
		form                 url.Values
	}{
		{"/ui/deployments/d-1/pause", "UpdateDeployment", "/ui/deployments/d-1", url.Values{}},
		{"/ui/deployments/d-1/resume", "UpdateDeployment", "/ui/deployments/d-1", url.Values{}},
		{"/ui/deployments/d-1/rollback", "RollbackDeployment", "/ui/deployments/d-1", url.Values{"to_version": {"2"}, "expected_version": {"3"}}},
		{"/ui/deployments/d-1/trigger", "TriggerWorkflow", "/ui/executions/e-new", url.Values{"payload": {`{"a":1}`}}},
		{"/ui/deployments/d-1/trigger", "TriggerWorkflow", "/ui/executions/e-new?admission=WAITING", url.Values{"overlap_policy": {"BUFFER_ALL"}}},
		{"/ui/deployments/d-1/backfill", "BackfillDeployment", "/ui/deployments/d-1?backfill=b-1",
			url.Values{"start_time": {"2026-03-01T00:00"}, "end_time": {"2026-03-02T00:00:00"}, "overlap_policy": {"ALLOW_ALL"}}},
		{"/ui/executions/e-2/cancel", "CancelExecution", "/ui/executions/e-2", url.Values{"reason": {"no"}}},
		{"/ui/deploy", "DeployWorkflow", "/ui/deployments/d-1", url.Values{"workflow_id": {"w"}, "definition": {"{}"}, "cron": {"@daily"},
			"jitter": {"60"}, "webhook_path": {"a/b"}, "overlap": {"SKIP"}, "draft": {"1"}}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			f := &fakeAPI{}
			hs := serve(t, f)
			a := request(t, http.MethodPost, hs.URL+tt.path, tt.form, http.Header{"Sec-Fetch-Site": {"cross-site"}})
			require.Equal(t, http.StatusForbidden, a.status)
			require.Empty(t, f.called(), "a cross-origin post calls nothing")
			a = request(t, http.MethodPost, hs.URL+tt.path, tt.form, http.Header{"Sec-Fetch-Site": {"same-origin"}})
			require.Equal(t, http.StatusSeeOther, a.status, a.body)
			require.Equal(t, tt.location, a.location)
			require.Contains(t, f.called(), tt.call)
		})
	}
}

// TestRefusedPosts: what the console cannot send is refused before any call
// with the field named; what the API refuses comes back on the page with
// the API's code as the HTTP status.
func TestRefusedPosts(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{}
	hs := serve(t, f)
	same := http.Header{"Sec-Fetch-Site": {"same-origin"}}
	for _, tt := range []struct {
		path  string
		form  url.Values
		field string
	}{
		{"/ui/deploy", url.Values{"definition": {"[1]"}}, "workflow_definition"},
		{"/ui/deploy", url.Values{"definition": {"{}"}, "cron": {"* * * * *"}, "jitter": {"1.5"}}, "jitter_window_seconds"},
		{"/ui/deploy", url.Values{"definition": {"{}"}, "overlap": {"NEVER"}}, "config.overlap_policy"},
		{"/ui/deployments/d-1/backfill", url.Values{"start_time": {"2026-03-01T00:00"}, "end_time": {"tomorrow"}}, "end_time"},
		{"/ui/deployments/d-1/backfill", url.Values{"start_time": {""}}, "start_time"},
		{"/ui/deployments/d-1/backfill", url.Values{"start_time": {"2026-03-01T00:00"}, "end_time": {"2026-03-02T00:00"}, "overlap_policy": {"BUFFER_ALL"}}, "overlap_policy"},
		{"/ui/deployments/d-1/trigger", url.Values{"overlap_policy": {"NEVER"}}, "overlap_policy"},
		{"/ui/deployments/d-1/rollback", url.Values{"to_version": {"two"}, "expected_version": {"3"}}, "to_version"},
		{"/ui/deployments/d-1/rollback", url.Values{"to_version": {"2"}}, "expected_version"},
	} {
		a := request(t, http.MethodPost, hs.URL+tt.path, tt.form, same)
		require.Equal(t, http.StatusBadRequest, a.status, tt.path)
		require.Contains(t, a.body, tt.field)
	}
	for _, c := range f.called() {
		require.NotContains(t, []string{"DeployWorkflow", "BackfillDeployment", "TriggerWorkflow", "RollbackDeployment"}, c, "a refused form reached the API")
	}

	f.failing = map[string]error{
		"BackfillDeployment": status.Error(codes.Unimplemented, "unknown method BackfillDeployment"),
		"CancelExecution":    status.Error(codes.Unavailable, "engine unreachable"),
		"UpdateDeployment":   status.Error(codes.FailedPrecondition, "PAUSED to PAUSED is not a transition"),
	}
	a := request(t, http.MethodPost, hs.URL+"/ui/deployments/d-1/backfill", url.Values{"start_time": {"2026-03-01T00:00"}, "end_time": {"2026-03-02T00:00"}}, same)
	require.Equal(t, http.StatusNotImplemented, a.status)
	require.Contains(t, a.body, "this server does not offer it yet")
	require.Contains(t, a.body, `value="2026-03-01T00:00"`, "the form keeps what was sent")
	a = request(t, http.MethodPost, hs.URL+"/ui/executions/e-2/cancel", url.Values{"reason": {"stop it"}}, same)
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	require.Contains(t, a.body, `value="stop it"`)
	a = request(t, http.MethodPost, hs.URL+"/ui/deployments/d-1/pause", url.Values{}, same)
	require.Equal(t, http.StatusBadRequest, a.status)
	require.Contains(t, a.body, "PAUSED to PAUSED")
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{failing: map[string]error{"GetExecution": status.Error(codes.NotFound, "execution e-9 not found")}}
	hs := serve(t, f)
	a := request(t, http.MethodGet, hs.URL+"/ui/executions/e-9", nil, nil)
	require.Equal(t, http.StatusNotFound, a.status)
	require.Contains(t, a.body, "execution e-9 not found")
	a = request(t, http.MethodGet, hs.URL+"/ui/elsewhere", nil, nil)
	require.Equal(t, http.StatusNotFound, a.status)
	a = request(t, http.MethodGet, hs.URL+"/ui/?fragment=nothing", nil, nil)
	require.Equal(t, http.StatusNotFound, a.status)
}

// TestRolesHideActions: behind the auth middleware, a caller sees only the
// buttons their token's role allows, and the console refuses the others'
// posts with 403 before calling the API.
func TestRolesHideActions(t *testing.T) {
	t.Parallel()
	const (
		viewer   = "viewer-token-0123456789"
		gateway  = "gateway-token-0123456789"
		operator = "operator-token-0123456789"
	)
	a, err := auth.New(auth.Options{Tokens: []string{"v:read:" + viewer, "gw:trigger:" + gateway, "ops:operator:" + operator}})
	require.NoError(t, err)
	f := &fakeAPI{}
	hs := serveBehind(t, f, a.Middleware)
	as := func(token string) http.Header {
		return http.Header{"Authorization": {"Bearer " + token}, "Sec-Fetch-Site": {"same-origin"}}
	}
	buttons := map[string]string{
		"deploy":   `href="/ui/deploy"`,
		"pause":    `action="/ui/deployments/d-1/pause"`,
		"trigger":  `action="/ui/deployments/d-1/trigger"`,
		"rollback": `action="/ui/deployments/d-1/rollback"`,
	}
	for _, tt := range []struct {
		token string
		shown map[string]bool
	}{
		{viewer, map[string]bool{}},
		{gateway, map[string]bool{"trigger": true}},
		{operator, map[string]bool{"deploy": true, "pause": true, "trigger": true}},
	} {
		page := request(t, http.MethodGet, hs.URL+"/ui/deployments/d-1", nil, as(tt.token))
		require.Equal(t, http.StatusOK, page.status, page.body)
		for name, html := range buttons {
			if tt.shown[name] {
				require.Contains(t, page.body, html, "%s for %s", name, tt.token)
			} else {
				require.NotContains(t, page.body, html, "%s for %s", name, tt.token)
			}
		}
	}

	before := len(f.called())
	for _, post := range []struct{ token, path string }{
		{viewer, "/ui/deployments/d-1/pause"},
		{viewer, "/ui/deployments/d-1/trigger"},
		{operator, "/ui/deployments/d-1/rollback"},
		{gateway, "/ui/deployments/d-1/pause"},
		{gateway, "/ui/deploy"},
		{operator, "/ui/executions/e-2/cancel"},
	} {
		got := request(t, http.MethodPost, hs.URL+post.path, url.Values{}, as(post.token))
		if post.token == operator && post.path == "/ui/executions/e-2/cancel" {
			require.Equal(t, http.StatusSeeOther, got.status, got.body)
			continue
		}
		require.Equal(t, http.StatusForbidden, got.status, "%s by %s", post.path, post.token)
		require.Contains(t, got.body, "you may not")
	}
	require.Equal(t, []string{"CancelExecution"}, f.called()[before:], "only the operator's post reached the API")
}

// TestRollbackButtons: a version can be rolled back to when it is not the
// current one and kept its triggers; the form sends the version the page
// showed as current, so that a stale page's rollback is refused.
func TestRollbackButtons(t *testing.T) {
	t.Parallel()
	hs := serve(t, &fakeAPI{})
	a := request(t, http.MethodGet, hs.URL+"/ui/deployments/d-1", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Contains(t, a.body, `id="rollback-2"`)
	require.Contains(t, a.body, `name="to_version" value="2"`)
	require.Contains(t, a.body, `name="expected_version" value="3"`)
	require.NotContains(t, a.body, `id="rollback-3"`, "the current version")
	require.NotContains(t, a.body, `id="rollback-1"`, "a version whose triggers were not kept")

	archived := proto.CloneOf(deployment)
	archived.Status = pb.DeploymentStatus_DEPLOYMENT_STATUS_ARCHIVED
	a = request(t, http.MethodGet, serve(t, &fakeAPI{deployment: archived}).URL+"/ui/deployments/d-1", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.NotContains(t, a.body, `id="rollback-2"`, "an archived deployment cannot change")
}
