package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/examples/gateway"
	signature "github.com/workflow-runtime/workflow-runtime/pkg/webhook"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestGatewayExample drives examples/gateway with real HTTP requests in
// front of a serving runtime, as the API Gateway would be driven.
func TestGatewayExample(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	ctx := context.Background()
	const secret = "whsec_Z2F0ZXdheS1zZWNyZXQ="
	for _, d := range []*pb.DeployWorkflowRequest{
		{WorkflowId: "gw.async", Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{Path: "orders/created"}}}},
		{WorkflowId: "gw.signed", Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{
			Path: "payments/settled", Secrets: []string{secret}, ResponseMode: pb.ResponseMode_RESPONSE_MODE_SYNC, SyncTimeoutSeconds: 10}}}},
	} {
		d.WorkflowDefinition = definition(t, actionNode)
		_, err := s.client.DeployWorkflow(ctx, d)
		require.NoError(t, err)
	}
	gw := httptest.NewServer(gateway.Handler(s.client))
	t.Cleanup(gw.Close)

	call := func(method, path, body string, headers map[string]string) (int, gateway.Response) {
		t.Helper()
		req, err := http.NewRequest(method, gw.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out gateway.Response
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	signedHeaders := func(id, body string, at time.Time) map[string]string {
		return map[string]string{"Webhook-Id": id, "Webhook-Timestamp": fmt.Sprint(at.Unix()),
			"Webhook-Signature": signature.Sign(secret, id, at, []byte(body))}
	}

	code, out := call("POST", "/webhook/orders/created", `{"order": 7}`, nil)
	require.Equal(t, http.StatusAccepted, code, "%+v", out)
	require.Equal(t, "PENDING", out.Status)
	require.NotEmpty(t, out.ExecutionID)

	body := `{"payment": "p-1", "amount": 12.50}`
	code, out = call("POST", "/webhook/Payments/Settled", body, signedHeaders("msg_1", body, time.Now()))
	require.Equal(t, http.StatusOK, code, "%+v", out)
	require.Equal(t, "SUCCEEDED", out.Status)
	require.NotEmpty(t, out.Result, "SYNC answers with the engine's result")
	first := out.ExecutionID
	code, out = call("POST", "/webhook/payments/settled", body, signedHeaders("msg_1", body, time.Now()))
	require.Equal(t, http.StatusOK, code)
	require.True(t, out.Deduplicated)
	require.Equal(t, first, out.ExecutionID)

	for _, tc := range []struct {
		name, method, path, body string
		headers                  map[string]string
		want                     int
	}{
		{"unknown path", "POST", "/webhook/orders/deleted", `{}`, nil, http.StatusNotFound},
		{"not a webhook URL", "POST", "/hooks/orders", `{}`, nil, http.StatusNotFound},
		{"wrong method", "GET", "/webhook/orders/created", "", nil, http.StatusBadRequest},
		{"not JSON", "POST", "/webhook/orders/created", "order=7", nil, http.StatusBadRequest},
		{"2 MiB body", "POST", "/webhook/orders/created", `{"a":"` + strings.Repeat("x", 2<<20) + `"}`, nil, http.StatusBadRequest},
		{"5 MiB body, refused by the gateway", "POST", "/webhook/orders/created", strings.Repeat("x", 5<<20), nil, http.StatusRequestEntityTooLarge},
		{"missing signature", "POST", "/webhook/payments/settled", body, nil, http.StatusForbidden},
		{"stale signature", "POST", "/webhook/payments/settled", body, signedHeaders("msg_2", body, time.Now().Add(-10*time.Minute)), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := call(tc.method, tc.path, tc.body, tc.headers)
			require.Equal(t, tc.want, code, "%+v", out)
			require.NotEmpty(t, out.Error)
		})
	}
	history, err := s.client.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{TriggerType: pb.TriggerType_TRIGGER_TYPE_WEBHOOK})
	require.NoError(t, err)
	require.Len(t, history.GetExecutions(), 2, "refused calls wrote nothing")
}
