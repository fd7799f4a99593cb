package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestRESTRefusesBadInput drives requests that the REST mirror must refuse
// through the whole stack: each is answered 4xx with a message naming what is
// wrong, and the database is left as it was. The last steps send the same
// writes without the bad part, to show that they would have written.
func TestRESTRefusesBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	ctx := context.Background()
	deployed, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: "rest.errors", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}},
	})
	require.NoError(t, err)
	id := deployed.GetDeployment().GetDeploymentId()
	api := s.httpBase + "/api/v1"

	// unchanged fails t unless the deployment is as deployed and no
	// execution exists.
	unchanged := func(t *testing.T) {
		t.Helper()
		list, err := s.client.ListDeployments(ctx, &pb.ListDeploymentsRequest{Statuses: []pb.DeploymentStatus{
			pb.DeploymentStatus_DEPLOYMENT_STATUS_DRAFT, pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED,
			pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED, pb.DeploymentStatus_DEPLOYMENT_STATUS_ARCHIVED,
		}})
		require.NoError(t, err)
		require.Len(t, list.GetDeployments(), 1)
		got := list.GetDeployments()[0]
		require.Equal(t, deployed.GetDeployment().GetVersion(), got.GetVersion())
		require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, got.GetStatus())
		history, err := s.client.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{WorkflowId: "rest.errors"})
		require.NoError(t, err)
		require.Empty(t, history.GetExecutions())
	}

	tests := []struct {
		name, method, path, body string
		wantCode                 int
		wantMessage              string
	}{
		{"page token not UTF-8", "GET", "/deployments?page_token=%00%ff", "", 400,
			"invalid argument: page_token: is not valid UTF-8"},
		{"history page token not UTF-8", "GET", "/executions?page_token=%00%ff", "", 400,
			"invalid argument: page_token: is not valid UTF-8"},
		{"misspelt filter", "GET", "/deployments?status=DEPLOYMENT_STATUS_PAUSED", "", 400,
			"invalid argument: status: is not a query parameter of GET /api/v1/deployments, which takes statuses, workflow_id, trigger_type, page_size, page_token"},
		{"enum value without its prefix", "GET", "/deployments?statuses=PAUSED", "", 400,
			`invalid argument: statuses: "PAUSED" is not one of DEPLOYMENT_STATUS_UNSPECIFIED, DEPLOYMENT_STATUS_DRAFT, DEPLOYMENT_STATUS_DEPLOYED, DEPLOYMENT_STATUS_PAUSED, DEPLOYMENT_STATUS_ARCHIVED`},
		{"deploy with a body that is not JSON", "POST", "/deployments", "workflow_id=x", 400,
			"the request body must be JSON: invalid character 'w' looking for beginning of value at byte 1"},
		{"deploy with an unknown field", "POST", "/deployments", `{"workflow_id":"rest.other","colour":"red",
			"workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]}}`, 400,
			"invalid argument: colour: is not a field of DeployWorkflowRequest, which has workflow_id, workflow_definition, triggers, config, deployed_by, draft, validate_only"},
		{"pause with an enum value without its prefix", "PATCH", "/deployments/{id}", `{"status":"PAUSED"}`, 400,
			`invalid argument: status: "PAUSED" is not one of DEPLOYMENT_STATUS_UNSPECIFIED, DEPLOYMENT_STATUS_DRAFT, DEPLOYMENT_STATUS_DEPLOYED, DEPLOYMENT_STATUS_PAUSED, DEPLOYMENT_STATUS_ARCHIVED`},
		{"delete with a query parameter", "DELETE", "/deployments/{id}?dry_run=true", "", 400,
			"invalid argument: dry_run: is not a query parameter of DELETE /api/v1/deployments/{deployment_id}, which takes none"},
		{"trigger with a query parameter", "POST", "/workflows/rest.errors/trigger?idempotency_key=k1", `{}`, 400,
			"invalid argument: idempotency_key: is not a query parameter of POST /api/v1/workflows/{workflow_id}/trigger, which takes none"},
		{"replace with PUT", "PUT", "/deployments/{id}", `{"status":"DEPLOYMENT_STATUS_PAUSED"}`, 405,
			"PUT /api/v1/deployments/" + id + " is not served; this path takes DELETE, GET, PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := doJSON(t, tt.method, api+strings.ReplaceAll(tt.path, "{id}", id), tt.body)
			require.Equal(t, tt.wantCode, code, "answer: %v", body)
			require.Equal(t, tt.wantMessage, body["message"])
			unchanged(t)
		})
	}

	code, body := doJSON(t, http.MethodPost, api+"/workflows/rest.errors/trigger", `{}`)
	require.Equal(t, http.StatusOK, code, "trigger: %v", body)
	code, body = doJSON(t, http.MethodDelete, api+"/deployments/"+id, "")
	require.Equal(t, http.StatusOK, code, "delete: %v", body)
	require.Equal(t, "DEPLOYMENT_STATUS_ARCHIVED", body["deployment"].(map[string]any)["status"])
}
