// Package client is an example of calling workflow-runtime over gRPC: it
// deploys a cron workflow and a webhook workflow, triggers each once (the
// webhook one as the API Gateway would, with a Standard Webhooks signature),
// and follows both executions to their end.
package client

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	signature "github.com/workflow-runtime/workflow-runtime/pkg/webhook"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// The example's workflows, webhook path and signing secret.
const (
	CronWorkflow    = "example.nightly-report"
	WebhookWorkflow = "example.order-created"
	WebhookPath     = "example/orders"
	WebhookSecret   = "whsec_ZXhhbXBsZS1zZWNyZXQtZm9yLWRvY3M=" //nolint:gosec // G101: the example's published secret, not a credential
)

// pollEvery is how often an execution is read while it runs.
const pollEvery = 200 * time.Millisecond

// Run deploys both workflows (keeping a deployment that an earlier run
// made), triggers each and waits for both executions to end, writing what
// it does to out. It returns the two executions as they ended.
func Run(ctx context.Context, conn grpc.ClientConnInterface, out io.Writer) ([]*pb.Execution, error) {
	c := pb.NewWorkflowRuntimeServiceClient(conn)
	def, err := structpb.NewStruct(map[string]any{
		"nodes": []any{map[string]any{"id": "report", "name": "Report", "type": "ACTION"}},
	})
	if err != nil {
		return nil, err
	}
	for _, req := range []*pb.DeployWorkflowRequest{
		{WorkflowId: CronWorkflow, WorkflowDefinition: def, DeployedBy: "examples/client", Triggers: []*pb.Trigger{
			{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "0 2 * * *", Timezone: "Europe/Berlin"}},
			{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL},
		}},
		{WorkflowId: WebhookWorkflow, WorkflowDefinition: def, DeployedBy: "examples/client", Triggers: []*pb.Trigger{
			{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{
				Path: WebhookPath, Methods: []string{"POST"}, Secrets: []string{WebhookSecret},
				ResponseMode: pb.ResponseMode_RESPONSE_MODE_ASYNC,
			}},
		}},
	} {
		d, err := deploy(ctx, c, req)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "deployed %s: deployment %s, version %d, %s\n", d.GetWorkflowId(), d.GetDeploymentId(), d.GetVersion(), d.GetStatus())
		for _, t := range d.GetTriggers() {
			if next := t.GetNextFireTime(); next != nil {
				fmt.Fprintf(out, "  %s trigger fires next at %s (jitter %ds)\n", t.GetTrigger().GetType(), next.AsTime().Format(time.RFC3339), t.GetJitterSeconds())
			}
		}
	}

	manual, err := c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{
		WorkflowId: CronWorkflow, TriggerData: `{"reason": "run it now"}`, TriggeredBy: "examples/client",
	})
	if err != nil {
		return nil, fmt.Errorf("manual trigger: %w", err)
	}
	fmt.Fprintf(out, "triggered %s by hand: execution %s\n", CronWorkflow, manual.GetExecutionId())

	// What the API Gateway forwards for POST /webhook/example/orders.
	body, msgID, now := `{"order": 42, "total": 99.5}`, fmt.Sprintf("msg_%d", time.Now().UnixNano()), time.Now()
	hook, err := c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{
		WebhookPath: WebhookPath, HttpMethod: "POST", TriggerData: body,
		Headers: map[string]string{
			"webhook-id": msgID, "webhook-timestamp": strconv.FormatInt(now.Unix(), 10),
			"webhook-signature": signature.Sign(WebhookSecret, msgID, now, []byte(body)),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webhook trigger: %w", err)
	}
	fmt.Fprintf(out, "triggered webhook %s: execution %s\n", WebhookPath, hook.GetExecutionId())

	var ended []*pb.Execution
	for _, id := range []string{manual.GetExecutionId(), hook.GetExecutionId()} {
		e, err := wait(ctx, c, id)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "execution %s of %s ended %s\n", e.GetExecutionId(), e.GetWorkflowId(), e.GetStatus())
		ended = append(ended, e)
	}
	return ended, nil
}

// deploy deploys req's workflow, or returns its active deployment when an
// earlier run deployed it already.
func deploy(ctx context.Context, c pb.WorkflowRuntimeServiceClient, req *pb.DeployWorkflowRequest) (*pb.Deployment, error) {
	resp, err := c.DeployWorkflow(ctx, req)
	if err == nil {
		return resp.GetDeployment(), nil
	}
	if status.Code(err) != codes.AlreadyExists {
		return nil, fmt.Errorf("deploy %s: %w", req.GetWorkflowId(), err)
	}
	got, err := c.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{WorkflowId: req.GetWorkflowId()})
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", req.GetWorkflowId(), err)
	}
	return got.GetDeployment(), nil
}

// wait reads execution id until it has ended or ctx ends.
func wait(ctx context.Context, c pb.WorkflowRuntimeServiceClient, id string) (*pb.Execution, error) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		resp, err := c.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: id})
		if err != nil {
			return nil, fmt.Errorf("execution %s: %w", id, err)
		}
		switch resp.GetExecution().GetStatus() {
		case pb.ExecutionStatus_EXECUTION_STATUS_PENDING, pb.ExecutionStatus_EXECUTION_STATUS_RUNNING:
		default:
			return resp.GetExecution(), nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("execution %s still %s: %w", id, resp.GetExecution().GetStatus(), ctx.Err())
		case <-t.C:
		}
	}
}
