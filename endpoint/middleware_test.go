package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"sync"
	"testing"
	"time"

	kitendpoint "github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/log"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/deployment"
)

const (
	traceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceParent = "00-" + traceID + "-00f067aa0ba902b7-01"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// observation is one Observe call on a fakeHistogram.
type observation struct {
	Labels []string
	Value  float64
}

// fakeHistogram records every observation with the label values it was made with.
type fakeHistogram struct {
	labels []string
	rec    *recorder
}

type recorder struct {
	mu  sync.Mutex
	obs []observation
}

func newFakeHistogram() *fakeHistogram { return &fakeHistogram{rec: &recorder{}} }

func (h *fakeHistogram) With(labelValues ...string) metrics.Histogram {
	return &fakeHistogram{labels: append(append([]string{}, h.labels...), labelValues...), rec: h.rec}
}

func (h *fakeHistogram) Observe(value float64) {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	h.rec.obs = append(h.rec.obs, observation{Labels: h.labels, Value: value})
}

func (h *fakeHistogram) observations() []observation {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	return append([]observation(nil), h.rec.obs...)
}

// logLines decodes the JSON lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		lines = append(lines, m)
	}
	return lines
}

// returning is an endpoint that answers resp, err.
func returning(resp any, err error) kitendpoint.Endpoint {
	return func(context.Context, any) (any, error) { return resp, err }
}

func TestTraceMiddleware(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		headers *tracing.Headers
		want    string // "" = a generated id
	}{
		{name: "traceparent", headers: &tracing.Headers{TraceParent: traceParent, RequestID: "req-1"}, want: traceID},
		{name: "request id", headers: &tracing.Headers{RequestID: "req-1"}, want: "req-1"},
		{name: "invalid headers: generated", headers: &tracing.Headers{TraceParent: "bad", RequestID: "has space"}},
		{name: "no headers: generated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			if tt.headers != nil {
				ctx = tracing.WithHeaders(ctx, *tt.headers)
			}
			var seen string
			calls := 0
			next := func(ctx context.Context, req any) (any, error) {
				calls++
				seen = tracing.TraceID(ctx)
				return fmt.Sprint("resp to ", req), nil
			}

			resp, err := TraceMiddleware()(next)(ctx, "req")
			require.NoError(t, err)
			require.Equal(t, 1, calls)
			if diff := cmp.Diff("resp to req", resp); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			if tt.want == "" {
				if !generatedID.MatchString(seen) {
					t.Errorf("next saw trace id %q, want a generated 32-hex id", seen)
				}
			} else if diff := cmp.Diff(tt.want, seen); diff != "" {
				t.Errorf("trace id seen by next mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoggingMiddleware(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		err  error
		want map[string]any // the line without took_ms
	}{
		{
			name: "success: info",
			want: map[string]any{"level": "info", "code": "OK"},
		},
		{
			name: "invalid argument: warn",
			err:  errors.Violations{{Field: "workflow_id", Description: "must be set"}}.Err("deployment.Deploy"),
			want: map[string]any{"level": "warn", "code": "InvalidArgument", "error_kind": "invalid argument",
				"err": "deployment.Deploy: invalid argument: workflow_id: must be set"},
		},
		{
			name: "not found: warn",
			err:  errors.E(errors.Op("deployment.Status"), errors.NotFound, "deployment d-1 not found"),
			want: map[string]any{"level": "warn", "code": "NotFound", "error_kind": "not found",
				"err": "deployment.Status: deployment d-1 not found"},
		},
		{
			name: "already exists: warn",
			err:  errors.E(errors.AlreadyExists, "taken"),
			want: map[string]any{"level": "warn", "code": "AlreadyExists", "error_kind": "already exists", "err": "taken"},
		},
		{
			name: "aborted: warn",
			err:  errors.E(errors.Aborted, "version"),
			want: map[string]any{"level": "warn", "code": "Aborted", "error_kind": "aborted", "err": "version"},
		},
		{
			name: "failed precondition: warn",
			err:  errors.E(errors.FailedPrecondition, "paused"),
			want: map[string]any{"level": "warn", "code": "FailedPrecondition", "error_kind": "failed precondition", "err": "paused"},
		},
		{
			name: "permission denied: warn",
			err:  errors.E(errors.PermissionDenied, "bad signature"),
			want: map[string]any{"level": "warn", "code": "PermissionDenied", "error_kind": "permission denied", "err": "bad signature"},
		},
		{
			name: "unauthenticated: warn",
			err:  errors.E(errors.Unauthenticated, "no token"),
			want: map[string]any{"level": "warn", "code": "Unauthenticated", "error_kind": "unauthenticated", "err": "no token"},
		},
		{
			name: "resource exhausted: warn",
			err:  errors.E(errors.ResourceExhausted, "slow down"),
			want: map[string]any{"level": "warn", "code": "ResourceExhausted", "error_kind": "resource exhausted", "err": "slow down"},
		},
		{
			name: "unavailable: error",
			err:  errors.E(errors.Op("store.Get"), errors.Unavailable, "connection refused"),
			want: map[string]any{"level": "error", "code": "Unavailable", "error_kind": "unavailable",
				"err": "store.Get: connection refused"},
		},
		{
			name: "internal: error",
			err:  errors.E(errors.Internal, "nil map"),
			want: map[string]any{"level": "error", "code": "Internal", "error_kind": "internal", "err": "nil map"},
		},
		{
			name: "plain error: error",
			err:  fmt.Errorf("boom"),
			want: map[string]any{"level": "error", "code": "Internal", "error_kind": "internal", "err": "boom"},
		},
	}
	for _, tt := range tests {
		for _, traced := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/traced=%v", tt.name, traced), func(t *testing.T) {
				t.Parallel()

				ctx := context.Background()
				wantTrace := ""
				if traced {
					ctx, wantTrace = tracing.Start(tracing.WithHeaders(ctx, tracing.Headers{TraceParent: traceParent}))
				}
				var buf bytes.Buffer
				mw := LoggingMiddleware(log.NewJSONLogger(&buf), "DeployWorkflow")
				resp, err := mw(returning("resp", tt.err))(ctx, "req")

				// The middleware only observes: response and error pass unchanged.
				if resp != "resp" || err != tt.err { //nolint:errorlint // the very error must pass, not one wrapping it
					t.Errorf("got (%v, %v), want (resp, %v)", resp, err, tt.err)
				}
				lines := logLines(t, &buf)
				require.Len(t, lines, 1, "want one line per call")
				got := lines[0]
				took, ok := got["took_ms"].(float64)
				if !ok || took < 0 {
					t.Errorf("took_ms = %#v, want a number >= 0", got["took_ms"])
				}
				delete(got, "took_ms")

				want := map[string]any{"msg": "rpc", "method": "DeployWorkflow", "trace_id": wantTrace}
				maps.Copy(want, tt.want)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("log line mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestInstrumentingMiddleware(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		err      error
		wantCode string
	}{
		{name: "success", wantCode: "OK"},
		{name: "not found", err: errors.E(errors.NotFound), wantCode: "NotFound"},
		{name: "invalid", err: errors.E(errors.Invalid), wantCode: "InvalidArgument"},
		{name: "unavailable", err: errors.E(errors.Unavailable), wantCode: "Unavailable"},
		{name: "plain error", err: fmt.Errorf("boom"), wantCode: "Internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := newFakeHistogram()
			resp, err := InstrumentingMiddleware(h, "ListDeployments")(returning("resp", tt.err))(context.Background(), "req")
			if resp != "resp" || err != tt.err { //nolint:errorlint // the very error must pass, not one wrapping it
				t.Errorf("got (%v, %v), want (resp, %v)", resp, err, tt.err)
			}

			obs := h.observations()
			require.Len(t, obs, 1, "want one observation per call")
			want := []string{"method", "ListDeployments", "code", tt.wantCode}
			if diff := cmp.Diff(want, obs[0].Labels); diff != "" {
				t.Errorf("labels mismatch (-want +got):\n%s", diff)
			}
			if obs[0].Value < 0 {
				t.Errorf("observed %v seconds, want >= 0", obs[0].Value)
			}
		})
	}
}

func TestRateLimitMiddleware(t *testing.T) {
	t.Parallel()

	t.Run("nil limiter lets everything through", func(t *testing.T) {
		t.Parallel()

		calls := 0
		next := func(context.Context, any) (any, error) { calls++; return "resp", nil }
		e := RateLimitMiddleware(nil)(next)
		for i := range 100 {
			resp, err := e(context.Background(), "req")
			require.NoError(t, err, "call %d", i)
			require.Equal(t, "resp", resp)
		}
		if calls != 100 {
			t.Errorf("next called %d times, want 100", calls)
		}
	})

	t.Run("rejects above the rate", func(t *testing.T) {
		t.Parallel()

		calls := 0
		next := func(context.Context, any) (any, error) { calls++; return "resp", nil }
		// Rate 0, burst 1: exactly one token, never refilled.
		e := RateLimitMiddleware(rate.NewLimiter(0, 1))(next)

		resp, err := e(context.Background(), "req")
		require.NoError(t, err, "first call")
		require.Equal(t, "resp", resp)

		for i := range 3 {
			resp, err = e(context.Background(), "req")
			require.Error(t, err, "call %d after the burst", i+2)
			if resp != nil {
				t.Errorf("rejected call returned %v, want nil", resp)
			}
			var got *errors.Error
			require.True(t, errors.As(err, &got), "error %T is not an *errors.Error", err)
			want := &errors.Error{Op: "endpoint.RateLimit", Kind: errors.ResourceExhausted}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(errors.Error{}, "Err")); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff("rate limit exceeded: retry later", got.Message()); diff != "" {
				t.Errorf("Message() mismatch (-want +got):\n%s", diff)
			}
			if c := errors.Code(err); c != codes.ResourceExhausted {
				t.Errorf("Code() = %v, want ResourceExhausted", c)
			}
		}
		if calls != 1 {
			t.Errorf("next called %d times, want 1: rejected calls must not reach it", calls)
		}
	})
}

func TestChain(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	h := newFakeHistogram()
	mw := Chain(log.NewJSONLogger(&buf), h, rate.NewLimiter(0, 1))("TriggerWorkflow")

	var seen []string
	next := func(ctx context.Context, _ any) (any, error) {
		seen = append(seen, tracing.TraceID(ctx))
		return "resp", nil
	}
	e := mw(next)
	ctx := tracing.WithHeaders(context.Background(), tracing.Headers{TraceParent: traceParent})

	resp, err := e(ctx, "req")
	require.NoError(t, err)
	require.Equal(t, "resp", resp)

	_, err = e(ctx, "req")
	require.Error(t, err, "second call must be rate limited")
	if c := errors.Code(err); c != codes.ResourceExhausted {
		t.Errorf("second call Code() = %v, want ResourceExhausted", c)
	}

	// Only the allowed call reached the endpoint, with the caller's trace id.
	if diff := cmp.Diff([]string{traceID}, seen); diff != "" {
		t.Errorf("trace ids seen by the endpoint (-want +got):\n%s", diff)
	}

	// Logging sees both outcomes, rejection included, with the trace id set
	// by TraceMiddleware, which is outside it.
	type line struct{ Level, Method, TraceID, Code string }
	var gotLines []line
	for _, l := range logLines(t, &buf) {
		gotLines = append(gotLines, line{Level: fmt.Sprint(l["level"]), Method: fmt.Sprint(l["method"]), TraceID: fmt.Sprint(l["trace_id"]), Code: fmt.Sprint(l["code"])})
	}
	wantLines := []line{
		{Level: "info", Method: "TriggerWorkflow", TraceID: traceID, Code: "OK"},
		{Level: "warn", Method: "TriggerWorkflow", TraceID: traceID, Code: "ResourceExhausted"},
	}
	if diff := cmp.Diff(wantLines, gotLines); diff != "" {
		t.Errorf("log lines mismatch (-want +got):\n%s", diff)
	}

	// Metrics see both outcomes too.
	var gotLabels [][]string
	for _, o := range h.observations() {
		gotLabels = append(gotLabels, o.Labels)
	}
	wantLabels := [][]string{
		{"method", "TriggerWorkflow", "code", "OK"},
		{"method", "TriggerWorkflow", "code", "ResourceExhausted"},
	}
	if diff := cmp.Diff(wantLabels, gotLabels); diff != "" {
		t.Errorf("observations mismatch (-want +got):\n%s", diff)
	}
}

// fakeService is a deployment.Service that records each call and answers
// with a response naming the method.
type fakeService struct {
	calls []string
	reqs  []any
	err   error
}

var _ deployment.Service = (*fakeService)(nil)

func (s *fakeService) record(method string, req any) {
	s.calls = append(s.calls, method)
	s.reqs = append(s.reqs, req)
}

func (s *fakeService) Deploy(_ context.Context, req deployment.DeployRequest) (deployment.Deployment, error) {
	s.record("Deploy", req)
	return deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Deploy"}}, s.err
}

func (s *fakeService) Update(_ context.Context, req deployment.UpdateRequest) (deployment.Deployment, error) {
	s.record("Update", req)
	return deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Update"}}, s.err
}

func (s *fakeService) Delete(_ context.Context, req deployment.DeleteRequest) (deployment.Deployment, error) {
	s.record("Delete", req)
	return deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Delete"}}, s.err
}

func (s *fakeService) Status(_ context.Context, req deployment.StatusRequest) (deployment.StatusResponse, error) {
	s.record("Status", req)
	return deployment.StatusResponse{Deployment: deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Status"}}}, s.err
}

func (s *fakeService) List(_ context.Context, req deployment.ListRequest) (deployment.ListResponse, error) {
	s.record("List", req)
	return deployment.ListResponse{NextPageToken: "from-List"}, s.err
}

func (s *fakeService) Preview(_ context.Context, req deployment.PreviewRequest) (deployment.PreviewResponse, error) {
	s.record("Preview", req)
	return deployment.PreviewResponse{Triggers: []deployment.TriggerPreview{{TriggerID: "from-Preview"}}}, s.err
}

func (s *fakeService) Versions(_ context.Context, req deployment.VersionsRequest) (deployment.VersionsResponse, error) {
	s.record("Versions", req)
	return deployment.VersionsResponse{NextPageToken: "from-Versions"}, s.err
}

func (s *fakeService) Events(_ context.Context, req deployment.EventsRequest) (deployment.EventsResponse, error) {
	s.record("Events", req)
	return deployment.EventsResponse{NextPageToken: "from-Events"}, s.err
}

func (s *fakeService) Rollback(_ context.Context, req deployment.RollbackRequest) (deployment.Deployment, error) {
	s.record("Rollback", req)
	return deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Rollback"}}, s.err
}

func TestNewDeploymentEndpoints(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		endpoint   func(DeploymentEndpoints) kitendpoint.Endpoint
		req        any
		wantMethod string // the RPC name given to mw
		wantCall   string // the service method
		wantResp   any
	}{
		{
			name:       "DeployWorkflow",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.DeployWorkflow },
			req:        deployment.DeployRequest{WorkflowID: "wf-1", DeployedBy: "alice"},
			wantMethod: "DeployWorkflow",
			wantCall:   "Deploy",
			wantResp:   deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Deploy"}},
		},
		{
			name:       "UpdateDeployment",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.UpdateDeployment },
			req:        deployment.UpdateRequest{DeploymentID: "d-1", ExpectedVersion: 3},
			wantMethod: "UpdateDeployment",
			wantCall:   "Update",
			wantResp:   deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Update"}},
		},
		{
			name:       "DeleteDeployment",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.DeleteDeployment },
			req:        deployment.DeleteRequest{DeploymentID: "d-2"},
			wantMethod: "DeleteDeployment",
			wantCall:   "Delete",
			wantResp:   deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Delete"}},
		},
		{
			name:       "GetDeploymentStatus",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.GetDeploymentStatus },
			req:        deployment.StatusRequest{WorkflowID: "wf-3"},
			wantMethod: "GetDeploymentStatus",
			wantCall:   "Status",
			wantResp:   deployment.StatusResponse{Deployment: deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Status"}}},
		},
		{
			name:       "ListDeployments",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.ListDeployments },
			req:        deployment.ListRequest{WorkflowID: "wf-4", PageSize: 10},
			wantMethod: "ListDeployments",
			wantCall:   "List",
			wantResp:   deployment.ListResponse{NextPageToken: "from-List"},
		},
		{
			name:       "PreviewSchedule",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.PreviewSchedule },
			req:        deployment.PreviewRequest{DeploymentID: "d-5", Count: 3},
			wantMethod: "PreviewSchedule",
			wantCall:   "Preview",
			wantResp:   deployment.PreviewResponse{Triggers: []deployment.TriggerPreview{{TriggerID: "from-Preview"}}},
		},
		{
			name:       "ListDeploymentVersions",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.ListVersions },
			req:        deployment.VersionsRequest{DeploymentID: "d-6"},
			wantMethod: "ListDeploymentVersions",
			wantCall:   "Versions",
			wantResp:   deployment.VersionsResponse{NextPageToken: "from-Versions"},
		},
		{
			name:       "ListDeploymentEvents",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.ListEvents },
			req:        deployment.EventsRequest{WorkflowID: "wf-7"},
			wantMethod: "ListDeploymentEvents",
			wantCall:   "Events",
			wantResp:   deployment.EventsResponse{NextPageToken: "from-Events"},
		},
		{
			name:       "RollbackDeployment",
			endpoint:   func(e DeploymentEndpoints) kitendpoint.Endpoint { return e.RollbackDeployment },
			req:        deployment.RollbackRequest{DeploymentID: "d-8", ToVersion: 1, ExpectedVersion: 2},
			wantMethod: "RollbackDeployment",
			wantCall:   "Rollback",
			wantResp:   deployment.Deployment{Deployment: &workflow.Deployment{ID: "from-Rollback"}},
		},
	}
	for _, tt := range tests {
		for _, svcErr := range []error{nil, errors.E(errors.NotFound, "missing")} {
			t.Run(fmt.Sprintf("%s/err=%v", tt.name, svcErr), func(t *testing.T) {
				t.Parallel()

				svc := &fakeService{err: svcErr}
				// mw tags each endpoint with its method name so the test can see
				// which middleware wrapped which endpoint.
				var wrapped []string
				var ran []string
				mw := func(method string) kitendpoint.Middleware {
					wrapped = append(wrapped, method)
					return func(next kitendpoint.Endpoint) kitendpoint.Endpoint {
						return func(ctx context.Context, req any) (any, error) {
							ran = append(ran, method)
							return next(ctx, req)
						}
					}
				}
				eps := NewDeploymentEndpoints(svc, mw)

				wantWrapped := []string{"DeployWorkflow", "UpdateDeployment", "DeleteDeployment", "GetDeploymentStatus", "ListDeployments", "PreviewSchedule",
					"ListDeploymentVersions", "ListDeploymentEvents", "RollbackDeployment"}
				if diff := cmp.Diff(wantWrapped, wrapped, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
					t.Errorf("mw called for (-want +got):\n%s", diff)
				}

				resp, err := tt.endpoint(eps)(context.Background(), tt.req)
				if err != svcErr { //nolint:errorlint // the very error must pass, not one wrapping it
					t.Errorf("error = %v, want %v", err, svcErr)
				}
				if diff := cmp.Diff(tt.wantResp, resp); diff != "" {
					t.Errorf("response mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]string{tt.wantMethod}, ran); diff != "" {
					t.Errorf("middleware run (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]string{tt.wantCall}, svc.calls); diff != "" {
					t.Errorf("service calls (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]any{tt.req}, svc.reqs); diff != "" {
					t.Errorf("service requests (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// A flood of RESOURCE_EXHAUSTED answers writes a burst of lines, not one a
// call; other answers are never held back by it.
func TestLoggingMiddlewareThrottlesRefusals(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	mw := LoggingMiddleware(log.NewJSONLogger(&buf), "TriggerWorkflow")
	refused := mw(returning(nil, errors.E(errors.ResourceExhausted, "backlog at its bound")))
	start := time.Now()
	for range 10 * refusalLogBurst {
		_, _ = refused(context.Background(), "req")
	}
	// The limiter lets refusalLogRate more a second through after the burst.
	refills := int(time.Since(start).Seconds()*refusalLogRate) + 1
	_, _ = mw(returning("resp", nil))(context.Background(), "req")
	lines := logLines(t, &buf)
	require.GreaterOrEqual(t, len(lines), refusalLogBurst+1)
	require.LessOrEqual(t, len(lines), refusalLogBurst+refills+1, "a burst of refusals, then the success")
	require.Equal(t, "ResourceExhausted", lines[0]["code"])
	require.Equal(t, "OK", lines[len(lines)-1]["code"])
}
