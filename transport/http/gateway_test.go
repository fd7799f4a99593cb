package http

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/openapi"
	"github.com/workflow-runtime/workflow-runtime/pkg/health"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/transport"
)

// testMaxBody bounds request bodies in these tests.
const testMaxBody = 1 << 10

// recorder stands behind a real gRPC server as both services: it records
// every request that reaches it and answers each with its empty response.
// A request the gateway refuses must leave it untouched, so that nothing
// can have been written.
type recorder struct {
	mu    sync.Mutex
	calls []proto.Message
}

func (rec *recorder) intercept(_ context.Context, req any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
	rec.mu.Lock()
	rec.calls = append(rec.calls, req.(proto.Message))
	rec.mu.Unlock()
	name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(info.FullMethod, "/"), "/", "."))
	desc, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return nil, err
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(desc.(protoreflect.MethodDescriptor).Output().FullName())
	if err != nil {
		return nil, err
	}
	return out.New().Interface(), nil
}

// take returns the requests recorded since the last take.
func (rec *recorder) take() []proto.Message {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	calls := rec.calls
	rec.calls = nil
	return calls
}

// startGateway serves NewHandler on a real port, over a real gRPC server
// whose services rec stands for.
func startGateway(t *testing.T, rec *recorder) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.UnaryInterceptor(rec.intercept))
	pb.RegisterWorkflowRuntimeServiceServer(srv, pb.UnimplementedWorkflowRuntimeServiceServer{})
	pb.RegisterMonitoringServiceServer(srv, pb.UnimplementedMonitoringServiceServer{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, lvl, err := logging.New(io.Discard, "json", "info", "test")
	require.NoError(t, err)
	h, err := NewHandler(context.Background(), conn, health.NewChecker("test", time.Second), http.NotFoundHandler(), testMaxBody, transport.NewBudget(64<<20), lvl, nil)
	require.NoError(t, err)
	web := httptest.NewServer(h)
	t.Cleanup(web.Close)
	return web.URL
}

// answer is what the gateway answered, with its error body's parts.
type answer struct {
	Code       int
	Allow      string
	StatusCode int
	Message    string
	Fields     []string // the field of each google.rpc.BadRequest violation
}

func call(t *testing.T, method, url, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"field_violations"`
		} `json:"details"`
	}
	require.NoError(t, json.Unmarshal(raw, &st), "body: %s", raw)
	a := answer{Code: resp.StatusCode, Allow: resp.Header.Get("Allow"), StatusCode: st.Code, Message: st.Message}
	for _, d := range st.Details {
		for _, v := range d.FieldViolations {
			a.Fields = append(a.Fields, v.Field)
		}
	}
	return a
}

// TestGatewayRefusesBadRequests: a request the API cannot take is answered
// with the right status and a message that names what is wrong in the
// API's terms, and never reaches the service.
func TestGatewayRefusesBadRequests(t *testing.T) { //nolint:tparallel // each case checks that nothing reached the one recorder they share
	t.Parallel()
	rec := &recorder{}
	base := startGateway(t, rec)

	const (
		deploymentsParams = "statuses, workflow_id, trigger_type, page_size, page_token"
		deploymentFields  = "workflow_id, workflow_definition, triggers, config, deployed_by, draft, validate_only"
		statuses          = "DEPLOYMENT_STATUS_UNSPECIFIED, DEPLOYMENT_STATUS_DRAFT, DEPLOYMENT_STATUS_DEPLOYED, DEPLOYMENT_STATUS_PAUSED, DEPLOYMENT_STATUS_ARCHIVED"
		triggerTypes      = "TRIGGER_TYPE_UNSPECIFIED, TRIGGER_TYPE_CRON, TRIGGER_TYPE_WEBHOOK, TRIGGER_TYPE_MANUAL"
	)
	invalid := func(message string, fields ...string) answer {
		return answer{Code: http.StatusBadRequest, StatusCode: 3, Message: message, Fields: fields}
	}
	tests := []struct {
		name, method, target, body string
		want                       answer
	}{
		// A value that is not UTF-8 cannot be marshalled into the gRPC request.
		{"page_token not UTF-8, deployments", "GET", "/api/v1/deployments?page_token=%00%ff", "",
			invalid("invalid argument: page_token: is not valid UTF-8", "page_token")},
		{"page_token not UTF-8, executions", "GET", "/api/v1/executions?page_token=%ff", "",
			invalid("invalid argument: page_token: is not valid UTF-8", "page_token")},
		{"webhook path not UTF-8", "GET", "/api/v1/webhooks/resolve?path=%c3%28", "",
			invalid("invalid argument: path: is not valid UTF-8", "path")},
		{"path variable not UTF-8", "GET", "/api/v1/deployments/%ff", "",
			invalid("invalid argument: deployment_id: is not valid UTF-8", "deployment_id")},

		// Unknown query parameters are refused, naming those the route takes.
		{"misspelt filter", "GET", "/api/v1/deployments?status=DEPLOYMENT_STATUS_PAUSED", "",
			invalid("invalid argument: status: is not a query parameter of GET /api/v1/deployments, which takes "+deploymentsParams, "status")},
		{"JSON name of a parameter", "GET", "/api/v1/deployments?pageSize=5", "",
			invalid("invalid argument: pageSize: is not a query parameter of GET /api/v1/deployments, which takes "+deploymentsParams, "pageSize")},
		{"path variable repeated in the query", "GET", "/api/v1/deployments/d1?deployment_id=d2", "",
			invalid("invalid argument: deployment_id: is not a query parameter of GET /api/v1/deployments/{deployment_id}, which takes workflow_id, version", "deployment_id")},
		{"query on a route that takes a body", "POST", "/api/v1/deployments?dry_run=true", `{"workflow_id":"orders"}`,
			invalid("invalid argument: dry_run: is not a query parameter of POST /api/v1/deployments, which takes none", "dry_run")},
		{"query on a route that takes nothing", "GET", "/api/v1/monitoring/health?verbose=1", "",
			invalid("invalid argument: verbose: is not a query parameter of GET /api/v1/monitoring/health, which takes none", "verbose")},
		{"every problem at once", "GET", "/api/v1/deployments?colour=red&page_size=ten", "",
			invalid(`invalid argument: colour: is not a query parameter of GET /api/v1/deployments, which takes `+deploymentsParams+
				`; page_size: "ten" is not a 32-bit integer`, "colour", "page_size")},

		// Values: enums list theirs; the other kinds say what they take.
		{"enum short name", "GET", "/api/v1/deployments?statuses=PAUSED", "",
			invalid(`invalid argument: statuses: "PAUSED" is not one of `+statuses, "statuses")},
		{"enum number", "GET", "/api/v1/executions?trigger_type=1", "",
			invalid(`invalid argument: trigger_type: "1" is not one of `+triggerTypes, "trigger_type")},
		{"not a time", "GET", "/api/v1/monitoring/load?start_time=yesterday", "",
			invalid(`invalid argument: start_time: "yesterday" is not an RFC 3339 time such as 2026-11-30T12:00:00Z`, "start_time")},
		{"one value given twice", "GET", "/api/v1/deployments?page_size=1&page_size=2", "",
			invalid("invalid argument: page_size: is given 2 times; it takes one value", "page_size")},
		{"malformed query", "GET", "/api/v1/deployments?workflow_id=%zz", "",
			invalid(`the query string is malformed: invalid URL escape "%zz"`)},

		// Bodies: must be JSON; fields are named by their path.
		{"body not JSON", "POST", "/api/v1/deployments", "wat",
			invalid("the request body must be JSON: invalid character 'w' looking for beginning of value at byte 1")},
		{"body cut short", "POST", "/api/v1/deployments", `{"workflow_id":`,
			invalid("the request body must be JSON: it ends inside a value")},
		{"body with more after it", "POST", "/api/v1/deployments", `{"workflow_id":"orders"} {"workflow_id":"other"}`,
			invalid("the request body must be one JSON value, with nothing after it")},
		{"body not an object", "POST", "/api/v1/deployments", `["orders"]`,
			invalid("the request body must be a JSON object")},
		{"body too large", "POST", "/api/v1/deployments", `{"deployed_by":"` + strings.Repeat("x", testMaxBody) + `"}`,
			invalid("the request body is larger than 1024 bytes")},
		{"body not UTF-8", "POST", "/api/v1/deployments", "{\"workflow_id\":\"\xff\"}",
			invalid("request body: syntax error (line 1:16): invalid UTF-8 in string")},
		{"unknown field", "POST", "/api/v1/deployments", `{"workflow_id":"orders","colour":"red"}`,
			invalid("invalid argument: colour: is not a field of DeployWorkflowRequest, which has "+deploymentFields, "colour")},
		{"nested problems", "POST", "/api/v1/deployments",
			`{"workflow_id":"orders","draft":"yes","config":"fast","triggers":[{"type":"CRONN","cron":{"expression":5,"tz":"UTC"}}]}`,
			invalid(`invalid argument: config: must be a JSON object; draft: must be true or false; `+
				`triggers[0].cron.expression: must be a JSON string; `+
				`triggers[0].cron.tz: is not a field of CronSpec, which has expression, timezone, jitter_window_seconds, `+
				`catchup_policy, repeated_time_policy, skipped_time_policy, start_time, end_time, max_runs; `+
				`triggers[0].type: "CRONN" is not one of `+triggerTypes,
				"config", "draft", "triggers[0].cron.expression", "triggers[0].cron.tz", "triggers[0].type")},
		{"enum in an update", "PATCH", "/api/v1/deployments/d1", `{"status":"PAUSED"}`,
			invalid(`invalid argument: status: "PAUSED" is not one of `+statuses, "status")},
		{"wrong JSON types", "PATCH", "/api/v1/deployments/d1", `{"expected_version":true,"triggers":{}}`,
			invalid("invalid argument: expected_version: must be a number; triggers: must be a JSON array", "expected_version", "triggers")},
		{"map value", "POST", "/api/v1/workflows/w1/trigger", `{"headers":{"X-Sig":5},"trigger_data":"{}"}`,
			invalid(`invalid argument: headers["X-Sig"]: must be a JSON string`, `headers["X-Sig"]`)},
		{"map not an object", "POST", "/api/v1/webhooks/trigger", `{"headers":[]}`,
			invalid("invalid argument: headers: must be a JSON object", "headers")},

		// A known path with a method it does not take.
		{"PUT on deployments", "PUT", "/api/v1/deployments", `{}`, answer{Code: http.StatusMethodNotAllowed, Allow: "GET, POST",
			StatusCode: 12, Message: "PUT /api/v1/deployments is not served; this path takes GET, POST"}},
		{"DELETE on an execution", "DELETE", "/api/v1/executions/e1", "", answer{Code: http.StatusMethodNotAllowed, Allow: "GET",
			StatusCode: 12, Message: "DELETE /api/v1/executions/e1 is not served; this path takes GET"}},
		{"form POSTed to a GET route", "POST", "/api/v1/executions", "page_token=%ff", answer{Code: http.StatusMethodNotAllowed, Allow: "GET",
			StatusCode: 12, Message: "POST /api/v1/executions is not served; this path takes GET"}},
		{"unknown path", "GET", "/api/v1/deployment", "", answer{Code: http.StatusNotFound, StatusCode: 5, Message: "Not Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call(t, tt.method, base+tt.target, tt.body)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if calls := rec.take(); len(calls) != 0 {
				t.Errorf("the service was called: %v", calls)
			}
		})
	}
}

// TestGatewayPassesGoodRequests: the checks let through what the API takes,
// as the gateway parses it.
func TestGatewayPassesGoodRequests(t *testing.T) { //nolint:tparallel // each case takes what reached the one recorder they share
	t.Parallel()
	rec := &recorder{}
	base := startGateway(t, rec)

	tests := []struct {
		name, method, target, body string
		want                       proto.Message
	}{
		{"list filters", "GET", "/api/v1/deployments?statuses=DEPLOYMENT_STATUS_PAUSED&statuses=DEPLOYMENT_STATUS_DRAFT" +
			"&trigger_type=TRIGGER_TYPE_CRON&page_size=5&page_token=abc&workflow_id=orders", "",
			&pb.ListDeploymentsRequest{
				Statuses:    []pb.DeploymentStatus{pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED, pb.DeploymentStatus_DEPLOYMENT_STATUS_DRAFT},
				TriggerType: pb.TriggerType_TRIGGER_TYPE_CRON, PageSize: 5, PageToken: "abc", WorkflowId: "orders",
			}},
		{"history window", "GET", "/api/v1/executions?start_time=2026-11-30T12:00:00Z&statuses=EXECUTION_STATUS_FAILED", "",
			&pb.GetExecutionHistoryRequest{
				StartTime: timestamppb.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)),
				Statuses:  []pb.ExecutionStatus{pb.ExecutionStatus_EXECUTION_STATUS_FAILED},
			}},
		{"path and query", "GET", "/api/v1/workflows/w1/deployment?deployment_id=d1", "",
			&pb.GetDeploymentStatusRequest{WorkflowId: "w1", DeploymentId: "d1"}},
		{"JSON names and enum numbers in a body", "POST", "/api/v1/deployments",
			`{"workflowId":"orders","draft":true,"config":{"overlap_policy":2}}`,
			&pb.DeployWorkflowRequest{WorkflowId: "orders", Draft: true, Config: &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL}}},
		{"body ending in a newline", "POST", "/api/v1/deployments", "{\"workflow_id\":\"orders\"}\n",
			&pb.DeployWorkflowRequest{WorkflowId: "orders"}},
		{"empty body", "POST", "/api/v1/executions/e1/cancel", "", &pb.CancelExecutionRequest{ExecutionId: "e1"}},
		{"no parameters", "GET", "/api/v1/monitoring/health", "", &pb.GetSystemHealthRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call(t, tt.method, base+tt.target, tt.body)
			require.Equal(t, http.StatusOK, got.Code, "answer: %+v", got)
			if diff := cmp.Diff([]proto.Message{tt.want}, rec.take(), protocmp.Transform()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// queryNames are the query parameters that fields stand for: a message field
// (other than a well-known type, which has a JSON form of its own) by each
// of its fields, dotted, as grpc-gateway reads them.
func queryNames(prefix string, fields protoreflect.FieldDescriptors) []string {
	var names []string
	for i := range fields.Len() {
		f := fields.Get(i)
		name := prefix + string(f.Name())
		if md := f.Message(); md != nil && !f.IsMap() && md.ParentFile().Package() != "google.protobuf" {
			names = append(names, queryNames(name+".", md.Fields())...)
			continue
		}
		names = append(names, name)
	}
	return names
}

// TestRoutesCoverEveryBinding: the query parameters that the checks take
// from the OpenAPI document are, for every binding of http.yaml, the fields
// of its request message that neither its path nor its body binds; and a
// method a path does not take answers 405 with the methods it does.
func TestRoutesCoverEveryBinding(t *testing.T) {
	t.Parallel()
	rt, err := newRoutes(openapi.Document)
	require.NoError(t, err)
	methods := map[string][]string{} // by path template
	for _, rule := range httpRules(t) {
		desc, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(rule.Selector))
		require.NoError(t, err)
		input := desc.(protoreflect.MethodDescriptor).Input().Fields()
		binding := rule
		binding.AdditionalBindings = nil
		for _, b := range append([]httpRule{binding}, rule.AdditionalBindings...) {
			route := b.routes()
			require.Len(t, route, 1, "one binding: %+v", b)
			method, template, _ := strings.Cut(route[0], " ")
			methods[template] = append(methods[template], method)

			var want []string
			for _, name := range queryNames("", input) {
				if b.Body != "*" && !strings.Contains(template, "{"+name+"}") {
					want = append(want, name)
				}
			}
			op, ok := rt.operation(method, variable.ReplaceAllString(template, "{$1=*}"))
			require.True(t, ok, "the OpenAPI document has no operation %s", route[0])
			var got []string
			if op.queryNames != "none" {
				got = strings.Split(op.queryNames, ", ")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: query parameters (-want +got):\n%s", route[0], diff)
			}
		}
	}

	rec := &recorder{}
	base := startGateway(t, rec)
	for template, allowed := range methods {
		slices.Sort(allowed)
		target := variable.ReplaceAllString(template, "x")
		got := call(t, "PUT", base+target, "{}")
		if got.Code != http.StatusMethodNotAllowed || got.Allow != strings.Join(allowed, ", ") {
			t.Errorf("PUT %s: answered %d with Allow %q, want 405 with %q", target, got.Code, got.Allow, strings.Join(allowed, ", "))
		}
	}
	require.Empty(t, rec.take())
}

func TestNewGatewayNeedsADocument(t *testing.T) {
	t.Parallel()
	_, err := newGateway([]byte("<html>"))
	require.ErrorContains(t, err, "reading the OpenAPI document")
}
