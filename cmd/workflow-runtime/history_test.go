package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestDeploymentHistory reads a deployment's versions and audit trail over
// gRPC and REST from a whole stack, and refuses bad reads.
func TestDeploymentHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	ctx := context.Background()
	c := s.client

	dep, err := c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "audit.me", DeployedBy: "alice",
		WorkflowDefinition: definition(t, cronNode, actionNode), Triggers: []*pb.Trigger{webhookSpec}})
	require.NoError(t, err)
	id := dep.GetDeployment().GetDeploymentId()
	_, err = c.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: id,
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}, ExpectedVersion: 1})
	require.NoError(t, err)

	versions, err := c.ListDeploymentVersions(ctx, &pb.ListDeploymentVersionsRequest{DeploymentId: id, PageSize: 1})
	require.NoError(t, err)
	require.Len(t, versions.GetVersions(), 1)
	require.EqualValues(t, 2, versions.GetVersions()[0].GetVersion())
	require.NotEmpty(t, versions.GetNextPageToken())
	older, err := c.ListDeploymentVersions(ctx, &pb.ListDeploymentVersionsRequest{DeploymentId: id, PageToken: versions.GetNextPageToken()})
	require.NoError(t, err)
	require.Len(t, older.GetVersions(), 1)
	v1 := older.GetVersions()[0]
	require.EqualValues(t, 1, v1.GetVersion())
	require.True(t, v1.GetTriggersKept())
	require.Equal(t, "orders/created", v1.GetTriggers()[0].GetWebhook().GetPath())
	require.Empty(t, v1.GetTriggers()[0].GetWebhook().GetSecrets(), "a secret was read back")
	require.Equal(t, "orders", v1.GetWorkflowDefinition().AsMap()["name"])

	old, err := c.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: id, Version: 1})
	require.NoError(t, err)
	require.EqualValues(t, 1, old.GetDeployment().GetVersion())
	require.Equal(t, pb.TriggerType_TRIGGER_TYPE_WEBHOOK, old.GetDeployment().GetTriggers()[0].GetTrigger().GetType())
	code, body := doJSON(t, "GET", s.httpBase+"/api/v1/deployments/"+id+"?version=2", "")
	require.Equal(t, http.StatusOK, code, "%v", body)
	current := body["deployment"].(map[string]any)
	require.Equal(t, "2", current["version"])
	require.Equal(t, "TRIGGER_TYPE_MANUAL", current["triggers"].([]any)[0].(map[string]any)["trigger"].(map[string]any)["type"])

	code, body = doJSON(t, "GET", s.httpBase+"/api/v1/deployments/"+id+"/versions", "")
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Len(t, body["versions"], 2)

	code, body = doJSON(t, "GET", s.httpBase+"/api/v1/workflows/audit.me/events?page_size=1", "")
	require.Equal(t, http.StatusOK, code, "%v", body)
	events := body["events"].([]any)
	require.Len(t, events, 1)
	newest := events[0].(map[string]any)
	require.Equal(t, "UPDATE", newest["action"])
	require.Equal(t, "1", newest["from_version"])
	require.Equal(t, "2", newest["to_version"])
	code, body = doJSON(t, "GET", s.httpBase+"/api/v1/workflows/audit.me/events?page_token="+body["next_page_token"].(string), "")
	require.Equal(t, http.StatusOK, code, "%v", body)
	oldest := body["events"].([]any)[0].(map[string]any)
	require.Equal(t, "DEPLOY", oldest["action"])
	require.Equal(t, "alice", oldest["actor"])
	require.Empty(t, body["next_page_token"])

	byDeployment, err := c.ListDeploymentEvents(ctx, &pb.ListDeploymentEventsRequest{DeploymentId: id})
	require.NoError(t, err)
	require.Len(t, byDeployment.GetEvents(), 2)

	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"versions of an unknown deployment", func() error {
			_, err := c.ListDeploymentVersions(ctx, &pb.ListDeploymentVersionsRequest{DeploymentId: "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"})
			return err
		}, codes.NotFound},
		{"versions with a bad page token", func() error {
			_, err := c.ListDeploymentVersions(ctx, &pb.ListDeploymentVersionsRequest{DeploymentId: id, PageToken: "!!"})
			return err
		}, codes.InvalidArgument},
		{"versions without a deployment", func() error {
			_, err := c.ListDeploymentVersions(ctx, &pb.ListDeploymentVersionsRequest{})
			return err
		}, codes.InvalidArgument},
		{"events of both a deployment and a workflow", func() error {
			_, err := c.ListDeploymentEvents(ctx, &pb.ListDeploymentEventsRequest{DeploymentId: id, WorkflowId: "audit.me"})
			return err
		}, codes.InvalidArgument},
		{"events of an unknown deployment", func() error {
			_, err := c.ListDeploymentEvents(ctx, &pb.ListDeploymentEventsRequest{DeploymentId: "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"})
			return err
		}, codes.NotFound},
		{"status at a version never written", func() error {
			_, err := c.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: id, Version: 9})
			return err
		}, codes.NotFound},
		{"status at a negative version", func() error {
			_, err := c.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: id, Version: -1})
			return err
		}, codes.InvalidArgument},
		{"events with a negative page size", func() error {
			_, err := c.ListDeploymentEvents(ctx, &pb.ListDeploymentEventsRequest{WorkflowId: "audit.me", PageSize: -1})
			return err
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireCode(t, tc.call(), tc.want)
		})
	}
}
