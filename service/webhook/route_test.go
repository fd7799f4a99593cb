package webhook

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
)

// named answers every trigger with an execution id of its own name, so that
// the response says which service served the call.
type named string

func (n named) Trigger(context.Context, coordination.TriggerRequest) (coordination.TriggerResponse, error) {
	return coordination.TriggerResponse{Execution: workflow.Execution{ID: string(n)}}, nil
}

// coordinator is a coordination.Service that serves Trigger as named does;
// the embedded nil interface makes any other call fail the test.
type coordinator struct{ coordination.Service }

func (coordinator) Trigger(ctx context.Context, req coordination.TriggerRequest) (coordination.TriggerResponse, error) {
	return named("coordination").Trigger(ctx, req)
}

func TestRouteSendsWebhookTriggersToTheWebhookService(t *testing.T) {
	t.Parallel()
	svc := Route(coordinator{}, named("webhook"))
	for _, tc := range []struct {
		name string
		req  coordination.TriggerRequest
		want string
	}{
		{"WEBHOOK", coordination.TriggerRequest{TriggerType: workflow.TriggerWebhook, WorkflowID: "wf"}, "webhook"},
		{"WEBHOOK with a path", coordination.TriggerRequest{TriggerType: workflow.TriggerWebhook, WebhookPath: "/h"}, "webhook"},
		{"UNSPECIFIED with a path", coordination.TriggerRequest{WebhookPath: "/h"}, "webhook"},
		{"UNSPECIFIED without a path", coordination.TriggerRequest{WorkflowID: "wf"}, "coordination"},
		{"MANUAL", coordination.TriggerRequest{TriggerType: workflow.TriggerManual, WorkflowID: "wf"}, "coordination"},
		// The coordinator refuses what a manual trigger may not carry.
		{"MANUAL with a path", coordination.TriggerRequest{TriggerType: workflow.TriggerManual, WebhookPath: "/h"}, "coordination"},
		{"CRON", coordination.TriggerRequest{TriggerType: workflow.TriggerCron, WorkflowID: "wf"}, "coordination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := svc.Trigger(context.Background(), tc.req)
			require.NoError(t, err)
			require.Equal(t, tc.want, resp.Execution.ID)
		})
	}
}
