// Package gateway is a small stand-in for the API Gateway in front of
// workflow-runtime: it owns the public webhook URLs, POST /webhook/<path>,
// and forwards each call — method, headers and raw body — through
// TriggerWorkflow, then answers with the HTTP status of the gRPC code. A
// call the runtime refuses for back-pressure (RESOURCE_EXHAUSTED) is
// answered 429 with Retry-After, in seconds, from the refusal's RetryInfo.
package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// MaxBody bounds what the gateway reads of a body: more than the runtime's
// 1 MiB, so that the runtime, not the gateway, says what is too large.
const MaxBody = 4 << 20

// Prefix starts every webhook URL.
const Prefix = "/webhook/"

// Response is the body of a forwarded call's answer.
type Response struct {
	ExecutionID  string          `json:"execution_id,omitempty"`
	Status       string          `json:"status,omitempty"`
	Deduplicated bool            `json:"deduplicated,omitempty"`
	Result       json.RawMessage `json:"result,omitempty"`
	Error        string          `json:"error,omitempty"`
}

// Handler forwards webhook calls to client.
func Handler(client pb.WorkflowRuntimeServiceClient) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			reply(w, http.StatusNotFound, Response{Error: "webhook URLs start with " + Prefix})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			reply(w, http.StatusRequestEntityTooLarge, Response{Error: "body too large"})
			return
		case err != nil:
			reply(w, http.StatusBadRequest, Response{Error: "body not read: " + err.Error()})
			return
		}
		headers := make(map[string]string, len(r.Header))
		for k, v := range r.Header {
			headers[strings.ToLower(k)] = v[0]
		}
		resp, err := client.TriggerWorkflow(r.Context(), &pb.TriggerWorkflowRequest{
			WebhookPath: path, TriggerData: string(body), Headers: headers, HttpMethod: r.Method,
			TriggerType: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, IdempotencyKey: r.Header.Get("Idempotency-Key"),
		})
		if err != nil {
			st := status.Convert(err)
			if after, ok := retryAfter(st); ok {
				w.Header().Set("Retry-After", after)
			}
			reply(w, runtime.HTTPStatusFromCode(st.Code()), Response{Error: st.Message()})
			return
		}
		out := Response{
			ExecutionID: resp.GetExecutionId(), Deduplicated: resp.GetDeduplicated(),
			Status: strings.TrimPrefix(resp.GetStatus().String(), "EXECUTION_STATUS_"),
		}
		if resp.GetResultData() != "" && json.Valid([]byte(resp.GetResultData())) {
			out.Result = json.RawMessage(resp.GetResultData())
		}
		code := http.StatusAccepted
		if out.Result != nil || resp.GetStatus() != pb.ExecutionStatus_EXECUTION_STATUS_PENDING {
			code = http.StatusOK
		}
		reply(w, code, out)
	})
}

// retryAfter is the Retry-After value of a status with a RetryInfo: its
// delay in whole seconds, rounded up, at least 1.
func retryAfter(st *status.Status) (string, bool) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			secs := int64(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
			return strconv.FormatInt(max(secs, 1), 10), true
		}
	}
	return "", false
}

func reply(w http.ResponseWriter, code int, body Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// The status line is out; a client that went away is all that can fail,
	// as the runtime keeps every result as JSON.
	_ = json.NewEncoder(w).Encode(body) //nolint:errchkjson // see above
}
