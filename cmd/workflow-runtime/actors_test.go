package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestActors: with callers authenticated, deployed_by, triggered_by, a
// version's created_by and an event's actor are the caller's name, over gRPC
// and REST and on both stores; the name the request gave is kept as
// on_behalf_of, and left empty when it is the caller's own.
func TestActors(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	const (
		ciToken    = "ci-actor-token-0123456789"
		adminToken = "root-actor-token-0123456789"
	)
	tokens := map[string]string{"WFR_AUTH_TOKENS": "ci:operator:" + ciToken + ",root:admin:" + adminToken}
	for name, env := range map[string]map[string]string{
		"postgres": tokens,
		"sqlite":   {"WFR_AUTH_TOKENS": tokens["WFR_AUTH_TOKENS"], "WFR_DATABASE_URL": "", "WFR_REDIS_URL": "", "WFR_DATA_DIR": t.TempDir()},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startSecureStack(t, env, nil)
			client := pb.NewWorkflowRuntimeServiceClient(s.dial(t, insecure.NewCredentials()))
			ctx := bearer(ciToken)

			// gRPC: the request names someone else.
			dep, err := client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "actors.grpc", DeployedBy: "alice",
				WorkflowDefinition: definition(t, actionNode), Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}})
			require.NoError(t, err)
			d := dep.GetDeployment()
			require.Equal(t, [2]string{"ci", "alice"}, [2]string{d.GetDeployedBy(), d.GetOnBehalfOf()})
			trig, err := client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "actors.grpc", TriggeredBy: "bob"})
			require.NoError(t, err)
			e, err := client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: trig.GetExecutionId()})
			require.NoError(t, err)
			require.Equal(t, [2]string{"ci", "bob"}, [2]string{e.GetExecution().GetTriggeredBy(), e.GetExecution().GetOnBehalfOf()})
			paused := pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED
			_, err = client.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: d.GetDeploymentId(), Status: &paused})
			require.NoError(t, err)
			_, err = client.RollbackDeployment(bearer(adminToken), &pb.RollbackDeploymentRequest{DeploymentId: d.GetDeploymentId(), ToVersion: 1, ExpectedVersion: 2})
			require.NoError(t, err)

			evs, err := client.ListDeploymentEvents(ctx, &pb.ListDeploymentEventsRequest{DeploymentId: d.GetDeploymentId()})
			require.NoError(t, err)
			var got [][3]string
			for _, ev := range evs.GetEvents() {
				got = append(got, [3]string{ev.GetAction(), ev.GetActor(), ev.GetOnBehalfOf()})
			}
			require.Equal(t, [][3]string{{"ROLLBACK", "root", ""}, {"PAUSE", "ci", ""}, {"DEPLOY", "ci", "alice"}}, got)
			vs, err := client.ListDeploymentVersions(ctx, &pb.ListDeploymentVersionsRequest{DeploymentId: d.GetDeploymentId()})
			require.NoError(t, err)
			var authors [][2]string
			for _, v := range vs.GetVersions() {
				authors = append(authors, [2]string{v.GetCreatedBy(), v.GetOnBehalfOf()})
			}
			require.Equal(t, [][2]string{{"root", ""}, {"ci", ""}, {"ci", "alice"}}, authors)

			// REST: a name that is the caller's own is not kept twice.
			code, body := s.do(t, "POST", "/api/v1/deployments", "Bearer "+ciToken,
				`{"workflow_id": "actors.rest", "deployed_by": "ci", "workflow_definition": {"nodes": [{"id": "a", "name": "A", "type": "ACTION"}]},
				  "triggers": [{"type": "TRIGGER_TYPE_MANUAL"}]}`)
			require.Equal(t, http.StatusOK, code, body)
			var deployed pb.DeployWorkflowResponse
			require.NoError(t, protojson.Unmarshal([]byte(body), &deployed))
			require.Equal(t, [2]string{"ci", ""}, [2]string{deployed.GetDeployment().GetDeployedBy(), deployed.GetDeployment().GetOnBehalfOf()})
			code, body = s.do(t, "POST", "/api/v1/workflows/actors.rest/trigger", "Bearer "+ciToken, `{"triggered_by": "erin"}`)
			require.Equal(t, http.StatusOK, code, body)
			var started struct {
				ExecutionID string `json:"execution_id"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &started))
			code, body = s.do(t, "GET", "/api/v1/executions/"+started.ExecutionID, "Bearer "+ciToken, "")
			require.Equal(t, http.StatusOK, code, body)
			var run pb.GetExecutionResponse
			require.NoError(t, protojson.Unmarshal([]byte(body), &run))
			require.Equal(t, [2]string{"ci", "erin"}, [2]string{run.GetExecution().GetTriggeredBy(), run.GetExecution().GetOnBehalfOf()})
		})
	}
}

// TestActorsWithoutAuth: with authentication off, the names are the
// request's, as before callers had names, and nothing is on behalf of anyone.
func TestActorsWithoutAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	t.Parallel()
	s := startStack(t, nil)
	code, out := doJSON(t, "POST", s.httpBase+"/api/v1/deployments",
		`{"workflow_id": "actors.open", "deployed_by": "alice", "workflow_definition": {"nodes": [{"id": "a", "name": "A", "type": "ACTION"}]}}`)
	require.Equal(t, http.StatusOK, code, "%v", out)
	d := out["deployment"].(map[string]any)
	require.Equal(t, "alice", d["deployed_by"])
	require.Empty(t, d["on_behalf_of"])
	code, out = doJSON(t, "GET", s.httpBase+"/api/v1/deployments/"+d["deployment_id"].(string)+"/events", "")
	require.Equal(t, http.StatusOK, code, "%v", out)
	ev := out["events"].([]any)[0].(map[string]any)
	require.Equal(t, "alice", ev["actor"])
	require.Empty(t, ev["on_behalf_of"])
}
