package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// startStackOver starts a stack over an engine-sim of sim, embedded (on
// SQLite) or on PostgreSQL, and returns it with a connection to its database.
func startStackOver(t *testing.T, sim enginesim.Config, embedded bool) (*stack, *sqlx.DB) {
	t.Helper()
	env := map[string]string{"WFR_ENGINE_ADDR": simtest.Serve(t, enginesim.New(sim), "127.0.0.1:0")}
	if embedded {
		env["WFR_DATABASE_URL"], env["WFR_DATA_DIR"] = "", t.TempDir()
	}
	s := startStack(t, env)
	var db *sqlx.DB
	var err error
	if embedded {
		db, err = sqlx.Open("sqlite", filepath.Join(env["WFR_DATA_DIR"], sqliteFile))
	} else {
		db, err = sqlx.Open("postgres", s.dbURL)
	}
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return s, db
}

// TestRetryPolicyAPI sets a retry policy over REST, refuses bad ones over
// gRPC and REST without writing, and shows a failing run's attempts in the
// history, on both stores.
func TestRetryPolicyAPI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	for _, db := range []string{"postgres", "sqlite"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			testRetryPolicyAPI(t, db == "sqlite")
		})
	}
}

func testRetryPolicyAPI(t *testing.T, embedded bool) {
	s, db := startStackOver(t, enginesim.Config{FailureRate: 1}, embedded)
	ctx, c, api := context.Background(), s.client, s.httpBase+"/api/v1"
	manual := []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}}

	before := snapshot(t, db)
	allowAll := pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL
	for _, bad := range []struct {
		config *pb.DeploymentConfig
		field  string
	}{
		{&pb.DeploymentConfig{RetryPolicy: &pb.RetryPolicy{MaxAttempts: 0}}, "config.retry_policy.max_attempts"},
		{&pb.DeploymentConfig{RetryPolicy: &pb.RetryPolicy{MaxAttempts: 101}}, "config.retry_policy.max_attempts"},
		{&pb.DeploymentConfig{RetryPolicy: &pb.RetryPolicy{MaxAttempts: 2, BackoffCoefficient: 0.5}}, "config.retry_policy.backoff_coefficient"},
		{&pb.DeploymentConfig{RetryPolicy: &pb.RetryPolicy{MaxAttempts: 2, InitialInterval: durationpb.New(time.Minute), MaxInterval: durationpb.New(time.Second)}},
			"config.retry_policy.initial_interval"},
		{&pb.DeploymentConfig{RetryPolicy: &pb.RetryPolicy{MaxAttempts: 2, RetryOn: []pb.ExecutionStatus{pb.ExecutionStatus_EXECUTION_STATUS_CANCELLED}}},
			"config.retry_policy.retry_on[0]"},
		{&pb.DeploymentConfig{PauseAfterFailures: -1}, "config.pause_after_failures"},
		{&pb.DeploymentConfig{MaxConcurrency: 3}, "config.max_concurrency"},
		{&pb.DeploymentConfig{OverlapPolicy: allowAll, MaxConcurrency: 3, MaxBuffered: 10001}, "config.max_buffered"},
		{&pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_BUFFER_ALL, MaxBuffered: -1}, "config.max_buffered"},
	} {
		_, err := c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "retries", WorkflowDefinition: definition(t, actionNode),
			Triggers: manual, Config: bad.config})
		require.Equal(t, []string{bad.field}, violations(requireCode(t, err, codes.InvalidArgument)))
	}
	code, body := doJSON(t, "POST", api+"/deployments", `{"workflow_id":"retries","workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]},
		"config":{"overlap_policy":"OVERLAP_POLICY_SKIP","max_concurrency":3}}`)
	require.Equal(t, 400, code, "answer: %v", body)
	require.Contains(t, body["message"], "config.max_concurrency: bounds ALLOW_ALL only; overlap_policy is SKIP")
	code, body = doJSON(t, "POST", api+"/deployments", `{"workflow_id":"retries","workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]},
		"config":{"retry_policy":{"max_attempts":3,"backoff_coefficient":0.5}}}`)
	require.Equal(t, 400, code, "answer: %v", body)
	require.Contains(t, body["message"], "config.retry_policy.backoff_coefficient: must be at least 1")
	_, err := c.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "retries", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL, ExecutionTimeoutSeconds: -1}}})
	require.Equal(t, []string{"triggers[0].execution_timeout_seconds"}, violations(requireCode(t, err, codes.InvalidArgument)))
	code, body = doJSON(t, "POST", api+"/webhooks/trigger", `{"webhook_path":"retries/hook","overlap_policy":"OVERLAP_POLICY_ALLOW_ALL"}`)
	require.Equal(t, 400, code, "answer: %v", body)
	require.Contains(t, body["message"], "overlap_policy: a webhook trigger runs under its deployment's policy")
	_, err = c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "retries", OverlapPolicy: pb.OverlapPolicy(99)})
	require.Equal(t, []string{"overlap_policy"}, violations(requireCode(t, err, codes.InvalidArgument)))
	require.Equal(t, before, snapshot(t, db), "refused policies and overrides wrote nothing")

	code, body = doJSON(t, "POST", api+"/deployments", `{"workflow_id":"queued","workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]},
		"triggers":[{"type":"TRIGGER_TYPE_MANUAL","execution_timeout_seconds":60}],"config":{"overlap_policy":"OVERLAP_POLICY_BUFFER_ALL"}}`)
	require.Equal(t, 200, code, "answer: %v", body)
	require.EqualValues(t, 60, body["deployment"].(map[string]any)["triggers"].([]any)[0].(map[string]any)["trigger"].(map[string]any)["execution_timeout_seconds"],
		"the trigger's own timeout")
	require.Equal(t, map[string]any{"overlap_policy": "OVERLAP_POLICY_BUFFER_ALL", "max_buffered": float64(100)},
		body["deployment"].(map[string]any)["config"], "BUFFER_ALL with its default bound")
	code, body = doJSON(t, "POST", api+"/workflows/queued/trigger", `{}`)
	require.Equal(t, 200, code, "answer: %v", body)
	require.Equal(t, "ADMISSION_STARTED", body["admission"], "the trigger's answer says what the policy did")
	code, body = doJSON(t, "POST", api+"/workflows/queued/trigger", `{"overlap_policy":"OVERLAP_POLICY_ALLOW_ALL"}`)
	require.Equal(t, 200, code, "answer: %v", body)
	require.Equal(t, "ADMISSION_STARTED", body["admission"], "ALLOW_ALL for this run")

	code, body = doJSON(t, "POST", api+"/deployments", `{"workflow_id":"retries","workflow_definition":{"nodes":[{"id":"a","name":"A","type":"ACTION"}]},
		"triggers":[{"type":"TRIGGER_TYPE_MANUAL"}],
		"config":{"pause_after_failures":1,"retry_policy":{"max_attempts":3,"initial_interval":"0.1s","max_interval":"0.15s"}}}`)
	require.Equal(t, 200, code, "answer: %v", body)
	require.Equal(t, map[string]any{"max_attempts": float64(3), "initial_interval": "0.100s", "backoff_coefficient": float64(2),
		"max_interval": "0.150s", "retry_on": []any{"EXECUTION_STATUS_FAILED", "EXECUTION_STATUS_TIMED_OUT"}},
		body["deployment"].(map[string]any)["config"].(map[string]any)["retry_policy"], "the policy with its defaults")

	run, err := c.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "retries", TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL})
	require.NoError(t, err)
	first := run.GetExecutionId()
	require.Equal(t, pb.Admission_ADMISSION_STARTED, run.GetAdmission())
	var attempts []any
	require.Eventually(t, func() bool {
		_, b := doJSON(t, "GET", api+"/executions?first_attempt_id="+first, "")
		attempts, _ = b["executions"].([]any)
		if len(attempts) != 3 {
			return false
		}
		for _, a := range attempts {
			if a.(map[string]any)["status"] != "EXECUTION_STATUS_FAILED" {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "three failed attempts")
	last := attempts[0].(map[string]any)["execution_id"].(string)
	got, err := c.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: last})
	require.NoError(t, err)
	require.Equal(t, int32(3), got.GetExecution().GetAttempt())
	require.Equal(t, first, got.GetExecution().GetFirstAttemptId())
	require.NotNil(t, got.GetExecution().GetNotBefore())

	// The run failed after its retries: pause_after_failures 1 paused the deployment.
	var paused *pb.Deployment
	require.Eventually(t, func() bool {
		st, err := c.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{WorkflowId: "retries"})
		require.NoError(t, err)
		paused = st.GetDeployment()
		return paused.GetStatus() == pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, int32(1), paused.GetConsecutiveFailures())
	require.Contains(t, paused.GetPauseReason(), "paused after 1 consecutive failed runs; last: execution "+last)
	code, body = doJSON(t, "PATCH", api+"/deployments/"+paused.GetDeploymentId(), `{"status":"DEPLOYMENT_STATUS_DEPLOYED"}`)
	require.Equal(t, 200, code, "answer: %v", body)
	resumed := body["deployment"].(map[string]any)
	require.Nil(t, resumed["consecutive_failures"], "resuming clears the count")
	require.Nil(t, resumed["pause_reason"])

	_, err = c.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{FirstAttemptId: "nope"})
	require.Equal(t, []string{"first_attempt_id"}, violations(requireCode(t, err, codes.InvalidArgument)))
}
