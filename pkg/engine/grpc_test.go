package engine

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// fakeEngine answers each method with the test's handler and counts the
// calls that reached it.
type fakeEngine struct {
	pb.UnimplementedWorkflowServiceServer
	execute func(context.Context, *pb.ExecuteWorkflowRequest) (*pb.ExecuteWorkflowResponse, error)
	status  func(context.Context, *pb.GetExecutionStatusRequest) (*pb.GetExecutionStatusResponse, error)
	cancel  func(context.Context, *pb.CancelExecutionRequest) (*pb.CancelExecutionResponse, error)
	calls   atomic.Int32
}

func (f *fakeEngine) ExecuteWorkflow(ctx context.Context, r *pb.ExecuteWorkflowRequest) (*pb.ExecuteWorkflowResponse, error) {
	f.calls.Add(1)
	return f.execute(ctx, r)
}

func (f *fakeEngine) GetExecutionStatus(ctx context.Context, r *pb.GetExecutionStatusRequest) (*pb.GetExecutionStatusResponse, error) {
	f.calls.Add(1)
	return f.status(ctx, r)
}

func (f *fakeEngine) CancelExecution(ctx context.Context, r *pb.CancelExecutionRequest) (*pb.CancelExecutionResponse, error) {
	f.calls.Add(1)
	return f.cancel(ctx, r)
}

// sleeps records the waits between attempts instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// serve runs f on a real gRPC server on a free local port.
func serve(t *testing.T, f *fakeEngine) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	pb.RegisterWorkflowServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// newClient connects a client to addr; with opts.Sleep unset, it records
// the waits rather than waiting.
func newClient(t *testing.T, addr string, opts Options) (Client, *sleeps) {
	t.Helper()
	conn, err := Dial(addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	s := &sleeps{}
	if opts.Sleep == nil {
		opts.Sleep = s.sleep
	}
	return NewGRPC(conn, opts), s
}

func start(t *testing.T, f *fakeEngine, opts Options) (Client, *sleeps) {
	t.Helper()
	return newClient(t, serve(t, f), opts)
}

// failFirst answers code to the first n calls and resp after.
func failFirst[Req, Resp any](n int32, code codes.Code, resp Resp) func(context.Context, Req) (Resp, error) {
	var calls atomic.Int32
	return func(context.Context, Req) (Resp, error) {
		if calls.Add(1) <= n {
			var zero Resp
			return zero, status.Error(code, "engine says "+code.String())
		}
		return resp, nil
	}
}

// untilDeadline blocks until the call's deadline, recording how long the
// client gave it.
func untilDeadline[Req, Resp any](budgets chan<- time.Duration) func(context.Context, Req) (Resp, error) {
	return func(ctx context.Context, _ Req) (Resp, error) {
		if dl, ok := ctx.Deadline(); ok {
			budgets <- time.Until(dl)
		}
		<-ctx.Done()
		var zero Resp
		return zero, status.FromContextError(ctx.Err()).Err()
	}
}

var accepted = &pb.ExecuteWorkflowResponse{ExecutionId: "eng-1", Status: pb.ExecutionStatus_RUNNING}

func requireKind(t *testing.T, want errors.Kind, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, want.String(), errors.KindOf(err).String(), "kind of %v", err)
}

func TestExecuteSendsTheContractRequest(t *testing.T) {
	t.Parallel()
	got := make(chan *pb.ExecuteWorkflowRequest, 1)
	f := &fakeEngine{execute: func(_ context.Context, r *pb.ExecuteWorkflowRequest) (*pb.ExecuteWorkflowResponse, error) {
		got <- proto.Clone(r).(*pb.ExecuteWorkflowRequest)
		return accepted, nil
	}}
	c, _ := start(t, f, Options{})

	req := baseRequest()
	req.TriggerType = workflow.TriggerWebhook
	req.Input = []byte(`{"order": {"id": 12345678901234567890, "total": 10.10}, "note": "a\tb"}`)
	acc, err := c.Execute(context.Background(), req)
	require.NoError(t, err)

	want := &pb.ExecuteWorkflowRequest{
		WorkflowId:  "wf-1",
		Mode:        pb.ExecutionMode_WEBHOOK,
		TriggeredBy: "webhook:/hooks/orders",
		InputData:   map[string]string{"order": `{"id":12345678901234567890,"total":10.10}`, "note": "a\tb"},
		Metadata:    baseMetadata(),
	}
	if diff := cmp.Diff(want, <-got, protocmp.Transform()); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	wantAcc := Accepted{EngineExecutionID: "eng-1", Status: Status{State: workflow.ExecutionRunning, Found: true}}
	if diff := cmp.Diff(wantAcc, acc); diff != "" {
		t.Errorf("accepted (-want +got):\n%s", diff)
	}
}

func TestExecuteAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		resp         *pb.ExecuteWorkflowResponse
		want         Accepted
		wantKind     errors.Kind
		wantRejected bool
	}{
		{
			name: "new is running",
			resp: &pb.ExecuteWorkflowResponse{ExecutionId: "eng-1", Status: pb.ExecutionStatus_NEW},
			want: Accepted{EngineExecutionID: "eng-1", Status: Status{State: workflow.ExecutionRunning, Found: true}},
		},
		{
			name: "finished synchronously",
			resp: &pb.ExecuteWorkflowResponse{ExecutionId: "eng-1", Status: pb.ExecutionStatus_SUCCESS},
			want: Accepted{EngineExecutionID: "eng-1", Status: Status{State: workflow.ExecutionSucceeded, Found: true}},
		},
		{
			name: "error status with an execution id is a failed execution",
			resp: &pb.ExecuteWorkflowResponse{ExecutionId: "eng-1", Status: pb.ExecutionStatus_ERROR, Message: "m", Error: &pb.ErrorData{Message: "bad node"}},
			want: Accepted{EngineExecutionID: "eng-1", Status: Status{State: workflow.ExecutionFailed, Found: true, Error: "bad node"}},
		},
		{
			name: "failed execution without error data has no error text",
			resp: &pb.ExecuteWorkflowResponse{ExecutionId: "eng-1", Status: pb.ExecutionStatus_ERROR, Message: "duplicate idempotency_key"},
			want: Accepted{EngineExecutionID: "eng-1", Status: Status{State: workflow.ExecutionFailed, Found: true}},
		},
		{
			name: "cancelled already",
			resp: &pb.ExecuteWorkflowResponse{ExecutionId: "eng-1", Status: pb.ExecutionStatus_CANCELED, Message: "m"},
			want: Accepted{EngineExecutionID: "eng-1", Status: Status{State: workflow.ExecutionCancelled, Found: true}},
		},
		{
			name:         "rejection explained by error data",
			resp:         &pb.ExecuteWorkflowResponse{Status: pb.ExecutionStatus_ERROR, Error: &pb.ErrorData{Message: "workflow disabled"}},
			wantKind:     errors.FailedPrecondition,
			wantRejected: true,
		},
		{
			name:         "error status without an execution is a rejection",
			resp:         &pb.ExecuteWorkflowResponse{Status: pb.ExecutionStatus_ERROR, Message: "no such workflow"},
			wantKind:     errors.FailedPrecondition,
			wantRejected: true,
		},
		{
			name:     "no execution id",
			resp:     &pb.ExecuteWorkflowResponse{Status: pb.ExecutionStatus_RUNNING},
			wantKind: errors.Internal,
		},
		{
			name:     "unknown status",
			resp:     &pb.ExecuteWorkflowResponse{ExecutionId: "eng-1", Status: 42},
			wantKind: errors.Internal,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeEngine{execute: failFirst[*pb.ExecuteWorkflowRequest](0, codes.OK, tt.resp)}
			c, _ := start(t, f, Options{})
			got, err := c.Execute(context.Background(), baseRequest())
			if tt.want.EngineExecutionID != "" {
				require.NoError(t, err)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("accepted (-want +got):\n%s", diff)
				}
				return
			}
			requireKind(t, tt.wantKind, err)
			require.Equal(t, tt.wantRejected, errors.Is(err, ErrRejected), "rejected: %v", err)
			explanation := tt.resp.GetError().GetMessage()
			if explanation == "" {
				explanation = tt.resp.GetMessage()
			}
			require.Contains(t, err.Error(), explanation)
			require.Equal(t, Accepted{}, got)
		})
	}
}

func TestExecuteInvalidRequestIsNotSent(t *testing.T) {
	t.Parallel()
	f := &fakeEngine{}
	c, _ := start(t, f, Options{})
	req := baseRequest()
	req.Input = []byte(`[]`)
	_, err := c.Execute(context.Background(), req)
	requireKind(t, errors.Invalid, err)
	require.Contains(t, err.Error(), "engine.Execute: ")
	require.Zero(t, f.calls.Load())
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	const startMs, endMs = 1774747800000, 1774747805250
	started, finished := time.UnixMilli(startMs).UTC(), time.UnixMilli(endMs).UTC()
	found := func(s pb.ExecutionStatus, start, end int64) *pb.GetExecutionStatusResponse {
		return &pb.GetExecutionStatusResponse{Found: true, Message: "engine message",
			Execution: &pb.ExecutionData{ExecutionId: "eng-1", Status: s, StartTime: start, EndTime: end}}
	}
	tests := []struct {
		name    string
		resp    *pb.GetExecutionStatusResponse
		code    codes.Code
		want    Status
		wantErr bool
	}{
		{name: "new", resp: found(pb.ExecutionStatus_NEW, 0, 0), want: Status{State: workflow.ExecutionRunning, Found: true}},
		{name: "running", resp: found(pb.ExecutionStatus_RUNNING, startMs, 0), want: Status{State: workflow.ExecutionRunning, Found: true, StartedAt: &started}},
		{name: "waiting", resp: found(pb.ExecutionStatus_WAITING, startMs, 0), want: Status{State: workflow.ExecutionRunning, Found: true, StartedAt: &started}},
		{name: "paused", resp: found(pb.ExecutionStatus_PAUSED, startMs, 0), want: Status{State: workflow.ExecutionRunning, Found: true, StartedAt: &started}},
		{name: "success", resp: found(pb.ExecutionStatus_SUCCESS, startMs, endMs), want: Status{State: workflow.ExecutionSucceeded, Found: true, StartedAt: &started, FinishedAt: &finished}},
		{name: "error carries the engine's message", resp: found(pb.ExecutionStatus_ERROR, startMs, endMs), want: Status{State: workflow.ExecutionFailed, Found: true, StartedAt: &started, FinishedAt: &finished, Error: "engine message"}},
		{
			name: "error prefers the execution's error message",
			resp: withMeta(found(pb.ExecutionStatus_ERROR, startMs, endMs), map[string]string{MetaErrorMessage: "node b failed"}),
			want: Status{State: workflow.ExecutionFailed, Found: true, StartedAt: &started, FinishedAt: &finished, Error: "node b failed"},
		},
		{
			name: "success carries a JSON result",
			resp: withMeta(found(pb.ExecutionStatus_SUCCESS, startMs, endMs), map[string]string{MetaResult: `{"ok":true,"n":1.50}`}),
			want: Status{State: workflow.ExecutionSucceeded, Found: true, StartedAt: &started, FinishedAt: &finished, Result: []byte(`{"ok":true,"n":1.50}`)},
		},
		{
			name: "success result that is not JSON becomes a JSON string",
			resp: withMeta(found(pb.ExecutionStatus_SUCCESS, startMs, endMs), map[string]string{MetaResult: `done "ok"`}),
			want: Status{State: workflow.ExecutionSucceeded, Found: true, StartedAt: &started, FinishedAt: &finished, Result: []byte(`"done \"ok\""`)},
		},
		{
			name: "result and error only where they belong",
			resp: withMeta(found(pb.ExecutionStatus_RUNNING, startMs, 0), map[string]string{MetaResult: `1`, MetaErrorMessage: "x"}),
			want: Status{State: workflow.ExecutionRunning, Found: true, StartedAt: &started},
		},
		{name: "canceled", resp: found(pb.ExecutionStatus_CANCELED, startMs, endMs), want: Status{State: workflow.ExecutionCancelled, Found: true, StartedAt: &started, FinishedAt: &finished}},
		{name: "canceled with a reason", resp: withMeta(found(pb.ExecutionStatus_CANCELED, startMs, endMs), map[string]string{MetaCancelReason: "operator"}),
			want: Status{State: workflow.ExecutionCancelled, Found: true, StartedAt: &started, FinishedAt: &finished, Error: "operator"}},
		{name: "not found", resp: &pb.GetExecutionStatusResponse{Found: false, Message: "unknown"}, want: Status{}},
		{name: "not found as a code", code: codes.NotFound, want: Status{}},
		{name: "found without execution", resp: &pb.GetExecutionStatusResponse{Found: true}, wantErr: true},
		{name: "unknown status", resp: found(9, 0, 0), wantErr: true},
		{name: "engine error", code: codes.Internal, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gotID := make(chan string, 1)
			f := &fakeEngine{status: func(_ context.Context, r *pb.GetExecutionStatusRequest) (*pb.GetExecutionStatusResponse, error) {
				gotID <- r.GetExecutionId()
				if tt.code != codes.OK {
					return nil, status.Error(tt.code, "said so")
				}
				return tt.resp, nil
			}}
			c, _ := start(t, f, Options{})
			got, err := c.Status(context.Background(), "eng-1")
			require.Equal(t, "eng-1", <-gotID)
			if tt.wantErr {
				requireKind(t, errors.Internal, err)
				return
			}
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func withMeta(r *pb.GetExecutionStatusResponse, md map[string]string) *pb.GetExecutionStatusResponse {
	r.Execution.Metadata = md
	return r
}

func TestEmptyEngineIDIsNotSent(t *testing.T) {
	t.Parallel()
	f := &fakeEngine{}
	c, _ := start(t, f, Options{})
	_, err := c.Status(context.Background(), "")
	requireKind(t, errors.Internal, err)
	requireKind(t, errors.Internal, c.Cancel(context.Background(), "", "timeout"))
	require.Zero(t, f.calls.Load())
}

func TestCancel(t *testing.T) {
	t.Parallel()
	t.Run("sends id and reason", func(t *testing.T) {
		t.Parallel()
		got := make(chan *pb.CancelExecutionRequest, 1)
		f := &fakeEngine{cancel: func(_ context.Context, r *pb.CancelExecutionRequest) (*pb.CancelExecutionResponse, error) {
			got <- proto.Clone(r).(*pb.CancelExecutionRequest)
			return &pb.CancelExecutionResponse{Success: true}, nil
		}}
		c, _ := start(t, f, Options{})
		require.NoError(t, c.Cancel(context.Background(), "eng-1", "execution timed out"))
		want := &pb.CancelExecutionRequest{ExecutionId: "eng-1", Reason: "execution timed out"}
		if diff := cmp.Diff(want, <-got, protocmp.Transform()); diff != "" {
			t.Errorf("request (-want +got):\n%s", diff)
		}
	})
	t.Run("declined is a rejection", func(t *testing.T) {
		t.Parallel()
		f := &fakeEngine{cancel: failFirst[*pb.CancelExecutionRequest](0, codes.OK, &pb.CancelExecutionResponse{Message: "already finished"})}
		c, _ := start(t, f, Options{})
		err := c.Cancel(context.Background(), "eng-1", "timeout")
		requireKind(t, errors.FailedPrecondition, err)
		require.ErrorIs(t, err, ErrRejected)
		require.Contains(t, err.Error(), "already finished")
	})
	t.Run("retried when unavailable", func(t *testing.T) {
		t.Parallel()
		f := &fakeEngine{cancel: failFirst[*pb.CancelExecutionRequest](1, codes.Unavailable, &pb.CancelExecutionResponse{Success: true})}
		c, s := start(t, f, Options{})
		require.NoError(t, c.Cancel(context.Background(), "eng-1", "timeout"))
		require.EqualValues(t, 2, f.calls.Load())
		require.Len(t, s.get(), 1)
	})
}

func TestAnswersAreNotRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code         codes.Code
		wantKind     errors.Kind
		wantRejected bool
	}{
		{codes.InvalidArgument, errors.Invalid, true},
		{codes.FailedPrecondition, errors.FailedPrecondition, true},
		{codes.NotFound, errors.NotFound, false},
		{codes.ResourceExhausted, errors.ResourceExhausted, false},
		{codes.PermissionDenied, errors.Internal, false},
		{codes.Unauthenticated, errors.Internal, false},
		{codes.Internal, errors.Internal, false},
		{codes.Unimplemented, errors.Internal, false},
		{codes.Aborted, errors.Internal, false},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			t.Parallel()
			f := &fakeEngine{execute: failFirst[*pb.ExecuteWorkflowRequest](100, tt.code, accepted)}
			c, s := start(t, f, Options{})
			_, err := c.Execute(context.Background(), baseRequest())
			requireKind(t, tt.wantKind, err)
			require.Equal(t, tt.wantRejected, errors.Is(err, ErrRejected), "rejected: %v", err)
			require.EqualValues(t, 1, f.calls.Load(), "calls")
			require.Empty(t, s.get(), "waits")
		})
	}
}

func TestRetriesWhileUnavailable(t *testing.T) {
	t.Parallel()
	t.Run("then succeeds", func(t *testing.T) {
		t.Parallel()
		f := &fakeEngine{execute: failFirst[*pb.ExecuteWorkflowRequest](2, codes.Unavailable, accepted)}
		c, s := start(t, f, Options{BaseBackoff: 100 * time.Millisecond})
		acc, err := c.Execute(context.Background(), baseRequest())
		require.NoError(t, err)
		require.Equal(t, "eng-1", acc.EngineExecutionID)
		require.EqualValues(t, 3, f.calls.Load())
		waits := s.get()
		require.Len(t, waits, 2)
		require.True(t, waits[0] >= 50*time.Millisecond && waits[0] <= 100*time.Millisecond, "first wait %v", waits[0])
		require.True(t, waits[1] >= 100*time.Millisecond && waits[1] <= 200*time.Millisecond, "second wait %v", waits[1])
	})
	t.Run("until attempts run out", func(t *testing.T) {
		t.Parallel()
		f := &fakeEngine{status: failFirst[*pb.GetExecutionStatusRequest](100, codes.Unavailable, &pb.GetExecutionStatusResponse{})}
		c, s := start(t, f, Options{MaxAttempts: 4, BaseBackoff: 100 * time.Millisecond, MaxBackoff: 150 * time.Millisecond, BreakerFailures: 100})
		_, err := c.Status(context.Background(), "eng-1")
		requireKind(t, errors.Unavailable, err)
		require.NotErrorIs(t, err, ErrCircuitOpen)
		require.Contains(t, err.Error(), "after 4 attempt(s)")
		require.EqualValues(t, 4, f.calls.Load())
		waits := s.get()
		require.Len(t, waits, 3)
		for _, w := range waits[1:] {
			require.True(t, w >= 75*time.Millisecond && w <= 150*time.Millisecond, "capped wait %v", w)
		}
	})
}

func TestEachAttemptHasItsOwnDeadline(t *testing.T) {
	t.Parallel()
	// Long enough that a loaded machine still gets each attempt to the engine
	// before its deadline: the count below is of attempts the engine saw.
	const callTimeout = 250 * time.Millisecond
	budgets := make(chan time.Duration, 10)
	f := &fakeEngine{
		execute: untilDeadline[*pb.ExecuteWorkflowRequest, *pb.ExecuteWorkflowResponse](budgets),
		cancel:  untilDeadline[*pb.CancelExecutionRequest, *pb.CancelExecutionResponse](budgets),
	}
	c, s := start(t, f, Options{CallTimeout: callTimeout, MaxAttempts: 2, BreakerFailures: 100})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Execute(ctx, baseRequest())
	requireKind(t, errors.Unavailable, err)
	require.Equal(t, codes.Unavailable, errors.Code(err), "answered as unavailable, not as the caller's deadline")
	require.EqualValues(t, 2, f.calls.Load(), "execute is idempotent, so retried after a deadline")
	require.Len(t, s.get(), 1)

	err = c.Cancel(ctx, "eng-1", "timeout")
	requireKind(t, errors.Unavailable, err)
	require.EqualValues(t, 3, f.calls.Load(), "cancel is not retried after a deadline")

	for range 3 {
		require.LessOrEqual(t, <-budgets, callTimeout, "the engine sees the attempt's deadline")
	}
}

func TestCallerCancelsDuringBackoff(t *testing.T) {
	t.Parallel()
	f := &fakeEngine{execute: failFirst[*pb.ExecuteWorkflowRequest](100, codes.Unavailable, accepted)}
	// The real sleep, with a wait that only the cancellation can end.
	waiting := make(chan struct{})
	c, _ := start(t, f, Options{BaseBackoff: time.Hour, MaxBackoff: time.Hour, Sleep: func(ctx context.Context, d time.Duration) error {
		close(waiting)
		return sleep(ctx, d)
	}})

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-waiting
		cancel()
	}()
	_, err := c.Execute(ctx, baseRequest())
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, codes.Canceled, errors.Code(err))
	require.EqualValues(t, 1, f.calls.Load())
}

func TestCallerCancelDoesNotTripTheBreaker(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var hang atomic.Bool
	hang.Store(true)
	f := &fakeEngine{status: func(ctx context.Context, _ *pb.GetExecutionStatusRequest) (*pb.GetExecutionStatusResponse, error) {
		if hang.Load() {
			close(started)
			<-ctx.Done()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return &pb.GetExecutionStatusResponse{}, nil
	}}
	c, _ := start(t, f, Options{BreakerFailures: 1, BreakerOpenFor: time.Hour})

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := c.Status(ctx, "eng-1")
	require.ErrorIs(t, err, context.Canceled)

	hang.Store(false)
	_, err = c.Status(context.Background(), "eng-1")
	require.NoError(t, err)
	require.EqualValues(t, 2, f.calls.Load())
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	t.Run("opens after consecutive unavailability and fails fast", func(t *testing.T) {
		t.Parallel()
		f := &fakeEngine{status: failFirst[*pb.GetExecutionStatusRequest](100, codes.Unavailable, &pb.GetExecutionStatusResponse{})}
		c, _ := start(t, f, Options{MaxAttempts: 1, BreakerFailures: 3, BreakerOpenFor: time.Hour})
		for i := range 3 {
			_, err := c.Status(context.Background(), "eng-1")
			requireKind(t, errors.Unavailable, err)
			require.NotErrorIs(t, err, ErrCircuitOpen, "call %d", i)
		}
		_, err := c.Status(context.Background(), "eng-1")
		requireKind(t, errors.Unavailable, err)
		require.ErrorIs(t, err, ErrCircuitOpen)
		_, err = c.Execute(context.Background(), baseRequest())
		require.ErrorIs(t, err, ErrCircuitOpen, "the breaker is shared by every method")
		require.ErrorIs(t, c.Cancel(context.Background(), "eng-1", "timeout"), ErrCircuitOpen)
		require.EqualValues(t, 3, f.calls.Load(), "no call while open")
	})
	t.Run("opening ends the retries", func(t *testing.T) {
		t.Parallel()
		f := &fakeEngine{execute: failFirst[*pb.ExecuteWorkflowRequest](100, codes.Unavailable, accepted)}
		c, s := start(t, f, Options{MaxAttempts: 5, BreakerFailures: 3, BreakerOpenFor: time.Hour})
		_, err := c.Execute(context.Background(), baseRequest())
		requireKind(t, errors.Unavailable, err)
		require.NotErrorIs(t, err, ErrCircuitOpen, "its attempts may have reached the engine")
		require.ErrorContains(t, err, "after 3 attempt(s), then the circuit breaker opened")
		require.EqualValues(t, 3, f.calls.Load())
		require.Len(t, s.get(), 3)
		_, err = c.Execute(context.Background(), baseRequest())
		require.ErrorIs(t, err, ErrCircuitOpen, "a call that made no attempt")
	})
	t.Run("answers are not failures", func(t *testing.T) {
		t.Parallel()
		script := []codes.Code{codes.Unavailable, codes.NotFound, codes.Unavailable, codes.InvalidArgument,
			codes.Unavailable, codes.Internal, codes.Unavailable, codes.Unavailable}
		var n atomic.Int32
		f := &fakeEngine{status: func(context.Context, *pb.GetExecutionStatusRequest) (*pb.GetExecutionStatusResponse, error) {
			return nil, status.Error(script[n.Add(1)-1], "scripted")
		}}
		c, _ := start(t, f, Options{MaxAttempts: 1, BreakerFailures: 2, BreakerOpenFor: time.Hour})
		for i := range script {
			_, err := c.Status(context.Background(), "eng-1")
			require.NotErrorIs(t, err, ErrCircuitOpen, "call %d", i)
		}
		_, err := c.Status(context.Background(), "eng-1")
		require.ErrorIs(t, err, ErrCircuitOpen, "two unavailabilities in a row open it")
		require.EqualValues(t, len(script), f.calls.Load())
	})
	t.Run("half-open probe", func(t *testing.T) {
		t.Parallel()
		var up atomic.Bool
		f := &fakeEngine{status: func(context.Context, *pb.GetExecutionStatusRequest) (*pb.GetExecutionStatusResponse, error) {
			if !up.Load() {
				return nil, status.Error(codes.Unavailable, "down")
			}
			return &pb.GetExecutionStatusResponse{}, nil
		}}
		// gobreaker reads the wall clock, so the open period is real and short.
		c, _ := start(t, f, Options{MaxAttempts: 1, BreakerFailures: 1, BreakerOpenFor: 100 * time.Millisecond})
		probe := func() error { _, err := c.Status(context.Background(), "eng-1"); return err }

		require.NotErrorIs(t, probe(), ErrCircuitOpen)
		require.ErrorIs(t, probe(), ErrCircuitOpen)
		require.EqualValues(t, 1, f.calls.Load())

		// A failed probe opens the breaker again.
		require.Eventually(t, func() bool { return !errors.Is(probe(), ErrCircuitOpen) }, 2*time.Second, 5*time.Millisecond)
		require.EqualValues(t, 2, f.calls.Load())
		require.ErrorIs(t, probe(), ErrCircuitOpen)

		// A successful probe closes it.
		up.Store(true)
		require.Eventually(t, func() bool { return probe() == nil }, 2*time.Second, 5*time.Millisecond)
		for range 3 {
			require.NoError(t, probe())
		}
		require.EqualValues(t, 6, f.calls.Load())
	})
}

func TestUnreachableEngine(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	c, s := newClient(t, addr, Options{MaxAttempts: 2})
	_, err = c.Execute(context.Background(), baseRequest())
	requireKind(t, errors.Unavailable, err)
	require.Equal(t, codes.Unavailable, errors.Code(err))
	require.Len(t, s.get(), 1)
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	got := Options{}.withDefaults()
	require.NotNil(t, got.Sleep)
	got.Sleep = nil
	want := Options{CallTimeout: 5 * time.Second, MaxAttempts: 5, BaseBackoff: 100 * time.Millisecond,
		MaxBackoff: 5 * time.Second, BreakerFailures: 5, BreakerOpenFor: 10 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	require.Equal(t, time.Second, Options{BaseBackoff: time.Second, MaxBackoff: time.Millisecond}.withDefaults().MaxBackoff,
		"the cap is never below the first wait")
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	o := Options{BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	tests := []struct {
		attempt int
		want    time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {1000, time.Second}}
	for _, tt := range tests {
		for range 100 {
			got := o.backoff(tt.attempt)
			require.True(t, got >= tt.want/2 && got <= tt.want, "attempt %d: %v not in [%v, %v]", tt.attempt, got, tt.want/2, tt.want)
		}
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	require.NoError(t, sleep(context.Background(), time.Microsecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, sleep(ctx, time.Hour), context.Canceled)
}
