package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestBadTriggersBesideGoodOnes is issue 12's item 3 as it was found: 60
// triggers carrying a NUL byte, sent beside 600 legitimate webhook calls to
// another workflow, once made 355 of the legitimate calls fail with 500,
// because the group commit answered a whole batch with one row's error. Now
// every bad trigger is INVALID_ARGUMENT and no good one fails.
func TestBadTriggersBesideGoodOnes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	t.Parallel()
	const good, bad, callers = 600, 60, 32
	// The per-workflow webhook rate limit would refuse part of the burst.
	s := startStack(t, map[string]string{"WFR_WEBHOOK_RATE_LIMIT": "100000"})
	ctx := context.Background()
	for _, req := range []*pb.DeployWorkflowRequest{
		{WorkflowId: "neighbours-good", WorkflowDefinition: definition(t, actionNode),
			Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{Path: "neighbours/good"}}}},
		{WorkflowId: "neighbours-bad", WorkflowDefinition: definition(t, actionNode),
			Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}},
	} {
		_, err := s.client.DeployWorkflow(ctx, req)
		require.NoError(t, err)
	}

	calls := make(chan *pb.TriggerWorkflowRequest, good+bad)
	for i := range good + bad {
		if i%11 == 10 {
			// Every field a NUL once reached the database through.
			calls <- &pb.TriggerWorkflowRequest{WorkflowId: "neighbours-bad", TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL,
				IdempotencyKey: fmt.Sprintf("bad-%d\x00", i), TriggeredBy: "x\x00y"}
			continue
		}
		calls <- &pb.TriggerWorkflowRequest{WebhookPath: "neighbours/good", HttpMethod: "POST",
			IdempotencyKey: fmt.Sprintf("good-%d", i), TriggerData: `{"n":1}`}
	}
	close(calls)

	var goodOK, goodFailed, badRefused, badOther atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for req := range calls {
				_, err := s.client.TriggerWorkflow(ctx, req)
				switch {
				case req.GetWorkflowId() == "neighbours-bad" && status.Code(err) == codes.InvalidArgument:
					badRefused.Add(1)
				case req.GetWorkflowId() == "neighbours-bad":
					badOther.Add(1)
				case err == nil:
					goodOK.Add(1)
				default:
					goodFailed.Add(1)
					t.Errorf("legitimate webhook call failed: %v", err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("NEIGHBOURS legitimate: %d accepted, %d failed; NUL-bearing: %d INVALID_ARGUMENT, %d other",
		goodOK.Load(), goodFailed.Load(), badRefused.Load(), badOther.Load())
	require.Equal(t, int64(good), goodOK.Load())
	require.Equal(t, int64(bad), badRefused.Load())

	db, err := sqlx.Open("postgres", s.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	count := func(workflowID string) (n int) {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, db.GetContext(qctx, &n, `SELECT count(*) FROM executions WHERE workflow_id = $1`, workflowID))
		return n
	}
	require.Equal(t, good, count("neighbours-good"), "one execution per legitimate call")
	require.Equal(t, 0, count("neighbours-bad"), "nothing written for a refused call")
}
