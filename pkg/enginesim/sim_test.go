package enginesim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// serve runs sim behind a real gRPC server on a free loopback port and
// returns a client connected to it.
func serve(t *testing.T, sim *enginesim.Sim) pb.WorkflowServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	pb.RegisterWorkflowServiceServer(srv, sim)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return pb.NewWorkflowServiceClient(conn)
}

func execute(t *testing.T, c pb.WorkflowServiceClient, key string) *pb.ExecuteWorkflowResponse {
	t.Helper()
	md := map[string]string{}
	if key != "" {
		md[enginesim.MetaIdempotencyKey] = key
	}
	resp, err := c.ExecuteWorkflow(t.Context(), &pb.ExecuteWorkflowRequest{
		WorkflowId: "wf-1", Mode: pb.ExecutionMode_SCHEDULED, TriggeredBy: "cron:t1", Metadata: md,
	})
	require.NoError(t, err)
	return resp
}

func get(t *testing.T, c pb.WorkflowServiceClient, id string) *pb.ExecutionData {
	t.Helper()
	resp, err := c.GetExecutionStatus(t.Context(), &pb.GetExecutionStatusRequest{ExecutionId: id})
	require.NoError(t, err)
	require.True(t, resp.GetFound(), "execution %s not found", id)
	return resp.GetExecution()
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(epoch)
	c := serve(t, enginesim.New(enginesim.Config{MinDuration: 2 * time.Second, MaxDuration: 2 * time.Second, Now: clk.Now}))

	started := execute(t, c, "k1")
	require.Equal(t, pb.ExecutionStatus_RUNNING, started.GetStatus())
	require.NotEmpty(t, started.GetExecutionId())

	running := get(t, c, started.GetExecutionId())
	want := &pb.ExecutionData{
		ExecutionId: started.GetExecutionId(), WorkflowId: "wf-1", Status: pb.ExecutionStatus_RUNNING,
		StartTime: epoch.UnixMilli(), Mode: pb.ExecutionMode_SCHEDULED, TriggeredBy: "cron:t1",
		Metadata: map[string]string{enginesim.MetaIdempotencyKey: "k1"},
	}
	if diff := cmp.Diff(want.String(), running.String()); diff != "" {
		t.Fatalf("running execution (-want +got):\n%s", diff)
	}

	clk.Advance(2*time.Second - time.Millisecond)
	require.Equal(t, pb.ExecutionStatus_RUNNING, get(t, c, started.GetExecutionId()).GetStatus(), "one ms before its end")

	clk.Advance(time.Hour)
	done := get(t, c, started.GetExecutionId())
	require.Equal(t, pb.ExecutionStatus_SUCCESS, done.GetStatus())
	require.Equal(t, epoch.Add(2*time.Second).UnixMilli(), done.GetEndTime(), "end_time is when it finished, not when asked")
	var result map[string]any
	require.NoError(t, json.Unmarshal([]byte(done.GetMetadata()[enginesim.MetaResult]), &result))
	if diff := cmp.Diff(map[string]any{"ok": true, "execution_id": started.GetExecutionId(), "workflow_id": "wf-1"}, result); diff != "" {
		t.Fatalf("result (-want +got):\n%s", diff)
	}
	require.NotContains(t, done.GetMetadata(), enginesim.MetaErrorMessage)
}

func TestFailure(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(epoch)
	c := serve(t, enginesim.New(enginesim.Config{MinDuration: time.Second, MaxDuration: time.Second, FailureRate: 1, Now: clk.Now}))

	id := execute(t, c, "k1").GetExecutionId()
	require.Equal(t, pb.ExecutionStatus_RUNNING, get(t, c, id).GetStatus())
	clk.Advance(time.Second)
	e := get(t, c, id)
	require.Equal(t, pb.ExecutionStatus_ERROR, e.GetStatus())
	require.Equal(t, epoch.Add(time.Second).UnixMilli(), e.GetEndTime())
	require.Contains(t, e.GetMetadata()[enginesim.MetaErrorMessage], "simulated failure")
	require.NotContains(t, e.GetMetadata(), enginesim.MetaResult)
}

func TestHang(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(epoch)
	// A failure rate of 1 as well shows that hanging wins over failing.
	c := serve(t, enginesim.New(enginesim.Config{HangRate: 1, FailureRate: 1, Now: clk.Now}))

	id := execute(t, c, "k1").GetExecutionId()
	clk.Advance(1000 * time.Hour)
	e := get(t, c, id)
	require.Equal(t, pb.ExecutionStatus_RUNNING, e.GetStatus())
	require.Zero(t, e.GetEndTime())

	resp, err := c.CancelExecution(t.Context(), &pb.CancelExecutionRequest{ExecutionId: id})
	require.NoError(t, err)
	require.True(t, resp.GetSuccess(), "a hung execution can be canceled: %s", resp.GetMessage())
}

func TestRandomDurationWithinBounds(t *testing.T) {
	t.Parallel()
	const lo, hi = time.Second, 3 * time.Second
	clk := clock.NewFake(epoch)
	c := serve(t, enginesim.New(enginesim.Config{MinDuration: lo, MaxDuration: hi, Seed: 7, Now: clk.Now}))

	ids := make([]string, 100)
	for i := range ids {
		ids[i] = execute(t, c, fmt.Sprintf("k%d", i)).GetExecutionId()
	}
	count := func(st pb.ExecutionStatus) int {
		n := 0
		for _, id := range ids {
			if get(t, c, id).GetStatus() == st {
				n++
			}
		}
		return n
	}
	clk.Advance(lo - time.Millisecond)
	require.Equal(t, len(ids), count(pb.ExecutionStatus_RUNNING), "none ends before the minimum")
	clk.Advance((hi-lo)/2 + time.Millisecond)
	mid := count(pb.ExecutionStatus_SUCCESS)
	require.Positive(t, mid, "some end in the first half of the range")
	require.Less(t, mid, len(ids), "some end in the second half of the range")
	clk.Advance(hi)
	ends := map[int64]bool{}
	for _, id := range ids {
		e := get(t, c, id)
		require.Equal(t, pb.ExecutionStatus_SUCCESS, e.GetStatus(), "all have ended after the maximum")
		require.GreaterOrEqual(t, e.GetEndTime(), epoch.Add(lo).UnixMilli())
		require.LessOrEqual(t, e.GetEndTime(), epoch.Add(hi).UnixMilli())
		ends[e.GetEndTime()] = true
	}
	require.Greater(t, len(ends), len(ids)/2, "durations are spread over the range, not a few values")
}

func TestFateIsRepeatable(t *testing.T) {
	t.Parallel()
	outcomes := func(seed int64) []string {
		clk := clock.NewFake(epoch)
		sim := enginesim.New(enginesim.Config{MaxDuration: time.Minute, FailureRate: 0.5, HangRate: 0.2, Seed: seed, Now: clk.Now})
		var ids []string
		for i := range 40 {
			resp, err := sim.ExecuteWorkflow(t.Context(), &pb.ExecuteWorkflowRequest{
				WorkflowId: "wf", Metadata: map[string]string{enginesim.MetaIdempotencyKey: fmt.Sprint("key-", i)},
			})
			require.NoError(t, err)
			ids = append(ids, resp.GetExecutionId())
		}
		clk.Advance(time.Minute)
		var out []string
		for _, id := range ids {
			resp, err := sim.GetExecutionStatus(t.Context(), &pb.GetExecutionStatusRequest{ExecutionId: id})
			require.NoError(t, err)
			out = append(out, fmt.Sprint(resp.GetExecution().GetStatus(), resp.GetExecution().GetEndTime()))
		}
		return out
	}
	first := outcomes(42)
	if diff := cmp.Diff(first, outcomes(42)); diff != "" {
		t.Fatalf("same seed, different fates (-first +second):\n%s", diff)
	}
	require.NotEqual(t, first, outcomes(43), "another seed gives other fates")
	statuses := map[string]bool{}
	for _, o := range first {
		statuses[strings.Fields(o)[0]] = true
	}
	require.Equal(t, map[string]bool{"RUNNING": true, "SUCCESS": true, "ERROR": true}, statuses, "rates between 0 and 1 give every fate")
}

func TestDedupe(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(epoch)
	sim := enginesim.New(enginesim.Config{MinDuration: time.Second, MaxDuration: time.Second, Now: clk.Now})
	c := serve(t, sim)

	first := execute(t, c, "same")
	clk.Advance(time.Second)
	second := execute(t, c, "same")
	require.Equal(t, first.GetExecutionId(), second.GetExecutionId())
	require.Equal(t, pb.ExecutionStatus_SUCCESS, second.GetStatus(), "a repeat reports the current status")
	require.Contains(t, second.GetMessage(), "duplicate")

	// Calls without a key are counted together but each starts an execution.
	a, b := execute(t, c, ""), execute(t, c, "")
	require.NotEqual(t, a.GetExecutionId(), b.GetExecutionId())

	if diff := cmp.Diff(map[string]int{"same": 2, "": 2}, sim.Calls()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	require.Equal(t, 3, sim.Executions())
}

func TestRejectsMissingWorkflowID(t *testing.T) {
	t.Parallel()
	sim := enginesim.New(enginesim.Config{})
	c := serve(t, sim)

	_, err := c.ExecuteWorkflow(t.Context(), &pb.ExecuteWorkflowRequest{Metadata: map[string]string{enginesim.MetaIdempotencyKey: "k"}})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "err: %v", err)
	require.Empty(t, sim.Calls(), "a rejected call reaches no execution and is not counted")
	require.Zero(t, sim.Executions())
}

func TestGetUnknown(t *testing.T) {
	t.Parallel()
	c := serve(t, enginesim.New(enginesim.Config{}))
	for _, id := range []string{"nope", ""} {
		resp, err := c.GetExecutionStatus(t.Context(), &pb.GetExecutionStatusRequest{ExecutionId: id})
		require.NoError(t, err)
		require.False(t, resp.GetFound())
		require.NotEmpty(t, resp.GetMessage())
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cfg         enginesim.Config
		unknown     bool
		before      time.Duration // clock advance between start and cancel
		cancelTwice bool
		wantSuccess bool
		wantMessage string
		wantStatus  pb.ExecutionStatus
	}{
		{name: "running", cfg: enginesim.Config{MinDuration: time.Minute, MaxDuration: time.Minute}, before: time.Second,
			wantSuccess: true, wantMessage: "canceled", wantStatus: pb.ExecutionStatus_CANCELED},
		{name: "unknown", unknown: true, wantMessage: "not found"},
		{name: "already succeeded", cfg: enginesim.Config{MinDuration: time.Second, MaxDuration: time.Second}, before: time.Second,
			wantMessage: "SUCCESS", wantStatus: pb.ExecutionStatus_SUCCESS},
		{name: "already failed", cfg: enginesim.Config{FailureRate: 1}, before: time.Second,
			wantMessage: "ERROR", wantStatus: pb.ExecutionStatus_ERROR},
		{name: "already canceled", cfg: enginesim.Config{HangRate: 1}, cancelTwice: true,
			wantMessage: "CANCELED", wantStatus: pb.ExecutionStatus_CANCELED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(epoch)
			tt.cfg.Now = clk.Now
			c := serve(t, enginesim.New(tt.cfg))
			id := "unknown"
			if !tt.unknown {
				id = execute(t, c, "k").GetExecutionId()
			}
			clk.Advance(tt.before)
			req := &pb.CancelExecutionRequest{ExecutionId: id, Reason: "operator"}
			if tt.cancelTwice {
				_, err := c.CancelExecution(t.Context(), req)
				require.NoError(t, err)
			}
			resp, err := c.CancelExecution(t.Context(), req)
			require.NoError(t, err)
			require.Equal(t, tt.wantSuccess, resp.GetSuccess())
			require.Contains(t, resp.GetMessage(), tt.wantMessage)
			if tt.unknown {
				return
			}
			clk.Advance(time.Hour)
			e := get(t, c, id)
			require.Equal(t, tt.wantStatus, e.GetStatus(), "status stays put after the cancel and an hour")
			if tt.wantSuccess {
				require.Equal(t, epoch.Add(tt.before).UnixMilli(), e.GetEndTime(), "end_time is the cancel time")
				require.Equal(t, "operator", e.GetMetadata()[enginesim.MetaCancelReason])
			}
		})
	}
}

func TestCancelWithoutMetadataOrReason(t *testing.T) {
	t.Parallel()
	sim := enginesim.New(enginesim.Config{HangRate: 1})
	resp, err := sim.ExecuteWorkflow(t.Context(), &pb.ExecuteWorkflowRequest{WorkflowId: "wf"})
	require.NoError(t, err)
	c, err := sim.CancelExecution(t.Context(), &pb.CancelExecutionRequest{ExecutionId: resp.GetExecutionId()})
	require.NoError(t, err)
	require.True(t, c.GetSuccess())
	got, err := sim.GetExecutionStatus(t.Context(), &pb.GetExecutionStatusRequest{ExecutionId: resp.GetExecutionId()})
	require.NoError(t, err)
	require.Empty(t, got.GetExecution().GetMetadata())

	// A reason on an execution that had no metadata still gets recorded.
	resp, err = sim.ExecuteWorkflow(t.Context(), &pb.ExecuteWorkflowRequest{WorkflowId: "wf"})
	require.NoError(t, err)
	_, err = sim.CancelExecution(t.Context(), &pb.CancelExecutionRequest{ExecutionId: resp.GetExecutionId(), Reason: "why"})
	require.NoError(t, err)
	got, err = sim.GetExecutionStatus(t.Context(), &pb.GetExecutionStatusRequest{ExecutionId: resp.GetExecutionId()})
	require.NoError(t, err)
	require.Equal(t, map[string]string{enginesim.MetaCancelReason: "why"}, got.GetExecution().GetMetadata())
}

func TestHandler(t *testing.T) {
	t.Parallel()
	sim := enginesim.New(enginesim.Config{})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)

	fetch := func(method, path string) (int, string, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body json.RawMessage
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), body
	}

	code, ctype, body := fetch(http.MethodGet, "/calls")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/json", ctype)
	require.JSONEq(t, `{"calls":{},"executions":0,"duplicates":[]}`, string(body), "empty lists are [], not null")

	for _, key := range []string{"b", "a", "b", "a", "c", "", ""} {
		md := map[string]string{}
		if key != "" {
			md[enginesim.MetaIdempotencyKey] = key
		}
		_, err := sim.ExecuteWorkflow(t.Context(), &pb.ExecuteWorkflowRequest{WorkflowId: "wf", Metadata: md})
		require.NoError(t, err)
	}
	_, _, body = fetch(http.MethodGet, "/calls")
	require.JSONEq(t, `{"calls":{"a":2,"b":2,"c":1,"":2},"executions":5,"duplicates":["","a","b"]}`, string(body))

	code, _, body = fetch(http.MethodGet, "/healthz")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"ok"}`, string(body))

	code, _, _ = fetch(http.MethodPost, "/calls")
	require.Equal(t, http.StatusMethodNotAllowed, code)
	code, _, _ = fetch(http.MethodGet, "/nope")
	require.Equal(t, http.StatusNotFound, code)
}

// TestRuns: the run record says when each execution started and ended, or
// that it still runs, in GET /runs as in Runs.
func TestRuns(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(epoch)
	sim := enginesim.New(enginesim.Config{MinDuration: 2 * time.Second, MaxDuration: 2 * time.Second, Now: clk.Now})
	c := serve(t, sim)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)

	done := execute(t, c, "done").GetExecutionId()
	clk.Advance(time.Second)
	cancelled := execute(t, c, "cancelled").GetExecutionId()
	clk.Advance(time.Second)
	running := execute(t, c, "running").GetExecutionId()
	_, err := c.CancelExecution(t.Context(), &pb.CancelExecutionRequest{ExecutionId: cancelled})
	require.NoError(t, err)
	clk.Advance(time.Second)

	at := func(d time.Duration) *time.Time {
		t := epoch.Add(d)
		return &t
	}
	want := []enginesim.Run{
		{ExecutionID: done, WorkflowID: "wf-1", IdempotencyKey: "done", Status: "SUCCESS", Start: epoch, End: at(2 * time.Second)},
		{ExecutionID: cancelled, WorkflowID: "wf-1", IdempotencyKey: "cancelled", Status: "CANCELED", Start: *at(time.Second), End: at(2 * time.Second)},
		{ExecutionID: running, WorkflowID: "wf-1", IdempotencyKey: "running", Status: "RUNNING", Start: *at(2 * time.Second)},
	}
	resp, err := srv.Client().Get(srv.URL + "/runs")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got []enginesim.Run
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("GET /runs (-want +got):\n%s", diff)
	}
	require.ElementsMatch(t, want, sim.Runs())
}

// TestAcceptDelay: an execution starts before its slow answer, so a caller
// that gives up first leaves it running, and the caller's retry with the
// same idempotency key is answered at once with it.
func TestAcceptDelay(t *testing.T) {
	t.Parallel()
	sim := enginesim.New(enginesim.Config{HangRate: 1, AcceptDelay: time.Hour})
	c := serve(t, sim)
	req := &pb.ExecuteWorkflowRequest{WorkflowId: "wf-1", Metadata: map[string]string{enginesim.MetaIdempotencyKey: "k1"}}

	// Long enough for the call to reach the engine on a loaded host, where
	// 100 ms could run out before it was sent.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := c.ExecuteWorkflow(ctx, req)
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
	runs := sim.Runs()
	require.Len(t, runs, 1, "started although the caller never heard of it")

	resp, err := c.ExecuteWorkflow(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, runs[0].ExecutionID, resp.GetExecutionId())
	require.Equal(t, pb.ExecutionStatus_RUNNING, resp.GetStatus())
}

func TestConcurrency(t *testing.T) {
	t.Parallel()
	sim := enginesim.New(enginesim.Config{MinDuration: time.Hour, MaxDuration: time.Hour})
	c := serve(t, sim)

	const workers = 50
	sharedIDs := make([]string, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		// require must not stop the test from another goroutine, so each
		// worker keeps its first error for the test goroutine to check.
		wg.Go(func() {
			ctx := context.Background()
			exec := func(key string) (string, error) {
				resp, err := c.ExecuteWorkflow(ctx, &pb.ExecuteWorkflowRequest{
					WorkflowId: "wf", Metadata: map[string]string{enginesim.MetaIdempotencyKey: key},
				})
				return resp.GetExecutionId(), err
			}
			own, err := exec(fmt.Sprintf("own-%d", i))
			if err != nil {
				errs[i] = err
				return
			}
			if sharedIDs[i], err = exec("shared"); err != nil {
				errs[i] = err
				return
			}
			if _, err := c.GetExecutionStatus(ctx, &pb.GetExecutionStatusRequest{ExecutionId: own}); err != nil {
				errs[i] = err
				return
			}
			_ = sim.Report()
			if i%5 == 0 {
				_, errs[i] = c.CancelExecution(ctx, &pb.CancelExecutionRequest{ExecutionId: own})
			}
		})
	}
	wg.Wait()

	for i, err := range errs {
		require.NoError(t, err, "worker %d", i)
	}
	for _, id := range sharedIDs {
		require.Equal(t, sharedIDs[0], id, "every caller of the shared key got the same execution")
	}
	want := map[string]int{"shared": workers}
	for i := range workers {
		want[fmt.Sprintf("own-%d", i)] = 1
	}
	if diff := cmp.Diff(want, sim.Calls()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	require.Equal(t, workers+1, sim.Executions())
	r := sim.Report()
	require.Equal(t, []string{"shared"}, r.Duplicates)
	require.Equal(t, workers+1, r.Executions)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     enginesim.Config
		wantErr []string
	}{
		{name: "zero", cfg: enginesim.Config{}},
		{name: "range", cfg: enginesim.Config{MinDuration: time.Second, MaxDuration: 2 * time.Second, FailureRate: 1, HangRate: 0.5}},
		{name: "everything wrong",
			cfg: enginesim.Config{MinDuration: -time.Second, MaxDuration: -2 * time.Second, FailureRate: 1.5, HangRate: -0.1,
				AcceptDelay: -time.Second},
			wantErr: []string{"min duration -1s is negative", "max duration -2s is below", "failure rate 1.5", "hang rate -0.1",
				"accept delay -1s is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestNewClamps shows that New, given settings Validate refuses, behaves as
// the nearest valid ones: here it finishes at once, successfully.
func TestNewClamps(t *testing.T) {
	t.Parallel()
	sim := enginesim.New(enginesim.Config{MinDuration: -time.Second, MaxDuration: -2 * time.Second, FailureRate: -1, HangRate: -1})
	resp, err := sim.ExecuteWorkflow(t.Context(), &pb.ExecuteWorkflowRequest{WorkflowId: "wf"})
	require.NoError(t, err)
	got, err := sim.GetExecutionStatus(t.Context(), &pb.GetExecutionStatusRequest{ExecutionId: resp.GetExecutionId()})
	require.NoError(t, err)
	require.Equal(t, pb.ExecutionStatus_SUCCESS, got.GetExecution().GetStatus())

	sim = enginesim.New(enginesim.Config{FailureRate: 2, HangRate: 0})
	resp, err = sim.ExecuteWorkflow(t.Context(), &pb.ExecuteWorkflowRequest{WorkflowId: "wf"})
	require.NoError(t, err)
	got, err = sim.GetExecutionStatus(t.Context(), &pb.GetExecutionStatusRequest{ExecutionId: resp.GetExecutionId()})
	require.NoError(t, err)
	require.Equal(t, pb.ExecutionStatus_ERROR, got.GetExecution().GetStatus())
}
