package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// rawCodec sends a request's bytes as they are, which no Go client would:
// its marshalling refuses a string that is not UTF-8.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { return proto.Unmarshal(data, v.(proto.Message)) }
func (rawCodec) Name() string                       { return "proto" }

// marker stands, in a valid message, for the bytes that spoil it.
const marker = "MARKER"

// spoiled is m on the wire with every marker replaced by bytes that are not
// UTF-8, of the same length, so that the message still parses.
func spoiled(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	require.Contains(t, string(b), marker)
	return bytes.ReplaceAll(b, []byte(marker), bytes.Repeat([]byte{0xff}, len(marker)))
}

// TestUndecodableMessagesRefused: a gRPC request that protobuf cannot decode
// (a string field that is not UTF-8, or a broken message) is answered
// INVALID_ARGUMENT naming the field, not INTERNAL, and writes nothing; the
// same requests, sound, do write.
func TestUndecodableMessagesRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	ctx := context.Background()
	_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: "undecodable", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}},
	})
	require.NoError(t, err)
	invoke := func(method string, req []byte, resp proto.Message) error {
		return s.conn.Invoke(ctx, "/workflowruntime.v1.WorkflowRuntimeService/"+method, req, resp, grpc.ForceCodec(rawCodec{}))
	}
	// written counts the deployments and the executions of both workflows.
	written := func() (deployments, executions int) {
		list, err := s.client.ListDeployments(ctx, &pb.ListDeploymentsRequest{})
		require.NoError(t, err)
		for _, wf := range []string{"undecodable", "undecodable.other"} {
			history, err := s.client.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{WorkflowId: wf})
			require.NoError(t, err)
			executions += len(history.GetExecutions())
		}
		return len(list.GetDeployments()), executions
	}
	trigger := &pb.TriggerWorkflowRequest{WorkflowId: "undecodable", TriggerData: `{"n": "` + marker + `"}`}
	withHeader := &pb.TriggerWorkflowRequest{WorkflowId: "undecodable", Headers: map[string]string{"x-note": marker}}
	deploy := &pb.DeployWorkflowRequest{
		WorkflowId: "undecodable.other", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}, {Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK,
			Webhook: &pb.WebhookSpec{Path: "/undecodable/" + marker}}},
	}
	sound := func(t *testing.T, m proto.Message) []byte {
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		return b
	}

	deployments, executions := written()
	for _, tc := range []struct {
		name, method string
		req          []byte
		field        string
	}{
		{"trigger data", "TriggerWorkflow", spoiled(t, trigger), "trigger_data"},
		{"header value", "TriggerWorkflow", spoiled(t, withHeader), "headers"},
		{"nested in a list", "DeployWorkflow", spoiled(t, deploy), "triggers[1].webhook.path"},
		{"broken message", "DeployWorkflow", sound(t, deploy)[:20], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := invoke(tc.method, tc.req, &pb.TriggerWorkflowResponse{})
			st := requireCode(t, err, codes.InvalidArgument)
			if tc.field == "" {
				require.Contains(t, st.Message(), "the request message cannot be decoded")
				return
			}
			require.Equal(t, []string{tc.field}, violations(st))
			require.Equal(t, "invalid argument: "+tc.field+": is not valid UTF-8", st.Message())
		})
	}
	d, e := written()
	require.Equal(t, deployments, d, "no deployment written")
	require.Equal(t, executions, e, "no execution written")

	// The same requests, with their strings sound, write.
	require.NoError(t, invoke("TriggerWorkflow", sound(t, trigger), &pb.TriggerWorkflowResponse{}))
	require.NoError(t, invoke("DeployWorkflow", sound(t, deploy), &pb.DeployWorkflowResponse{}))
	d, e = written()
	require.Equal(t, deployments+1, d)
	require.Equal(t, executions+1, e)
}
