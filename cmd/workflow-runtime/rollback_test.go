package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/workflow-runtime/workflow-runtime/examples/gateway"
	signature "github.com/workflow-runtime/workflow-runtime/pkg/webhook"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestRollbackWebhookPath: a webhook path that version 2 dropped is served
// again, with the secret version 1 had, once version 1 is rolled back to
// over REST; the execution it starts tells which definition it ran.
func TestRollbackWebhookPath(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	ctx := context.Background()
	const secret = "whsec_cm9sbGJhY2stc2VjcmV0"
	dep, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "rollback.hook", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{Path: "refunds/issued", Secrets: []string{secret}}}}})
	require.NoError(t, err)
	id := dep.GetDeployment().GetDeploymentId()
	_, err = s.client.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: id,
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}})
	require.NoError(t, err)

	gw := httptest.NewServer(gateway.Handler(s.client))
	t.Cleanup(gw.Close)
	body := `{"refund": 3}`
	call := func(signed bool) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, gw.URL+"/webhook/refunds/issued", strings.NewReader(body))
		require.NoError(t, err)
		if signed {
			now := time.Now()
			req.Header.Set("Webhook-Id", "msg_rb")
			req.Header.Set("Webhook-Timestamp", fmt.Sprint(now.Unix()))
			req.Header.Set("Webhook-Signature", signature.Sign(secret, "msg_rb", now, []byte(body)))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusNotFound, call(true), "version 2 has no webhook")

	code, out := doJSON(t, "POST", s.httpBase+"/api/v1/deployments/"+id+"/rollback", `{"to_version": 1, "expected_version": 1}`)
	require.Equal(t, http.StatusConflict, code, "a stale expected_version: %v", out)
	code, out = doJSON(t, "POST", s.httpBase+"/api/v1/deployments/"+id+"/rollback", `{"to_version": 1, "expected_version": 2}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	require.EqualValues(t, "3", out["deployment"].(map[string]any)["version"])

	require.Equal(t, http.StatusForbidden, call(false), "the path is signed again")
	require.Equal(t, http.StatusAccepted, call(true))

	history, err := s.client.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{DeploymentId: id})
	require.NoError(t, err)
	require.Len(t, history.GetExecutions(), 1)
	e := history.GetExecutions()[0]
	require.EqualValues(t, 3, e.GetDeploymentVersion())
	got, err := s.client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: e.GetExecutionId(), IncludeDefinition: true})
	require.NoError(t, err)
	require.EqualValues(t, 3, got.GetVersion().GetVersion())
	require.Equal(t, "refunds/issued", got.GetVersion().GetTriggers()[0].GetWebhook().GetPath())
	require.Empty(t, got.GetVersion().GetTriggers()[0].GetWebhook().GetSecrets(), "secrets are never returned")
	plain, err := s.client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: e.GetExecutionId()})
	require.NoError(t, err)
	require.Nil(t, plain.GetVersion(), "only asked for")

	events, err := s.client.ListDeploymentEvents(ctx, &pb.ListDeploymentEventsRequest{DeploymentId: id})
	require.NoError(t, err)
	last := events.GetEvents()[0]
	require.Equal(t, "ROLLBACK", last.GetAction())
	require.EqualValues(t, 2, last.GetFromVersion())
	require.EqualValues(t, 3, last.GetToVersion())
	require.Equal(t, "rolled back to version 1", last.GetReason())

	_, err = s.client.RollbackDeployment(ctx, &pb.RollbackDeploymentRequest{DeploymentId: id, ToVersion: 3, ExpectedVersion: 3})
	requireCode(t, err, codes.FailedPrecondition)
}
