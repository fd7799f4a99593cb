package deployment

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// retry is a valid retry policy that each bad case below spoils in one way.
func retry(spoil func(p *workflow.RetryPolicy)) workflow.Config {
	p := &workflow.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Second, BackoffCoefficient: 2, MaxInterval: time.Minute}
	spoil(p)
	return workflow.Config{Retry: p}
}

// TestPolicyErrors: every bad execution policy, in a deploy and in an
// update of the config, gets Invalid naming its field, and writes nothing.
func TestPolicyErrors(t *testing.T) { //nolint:tparallel // runErrorCases runs its cases one at a time: each compares the whole database before and after its call
	t.Parallel()
	svc, st := newTestService(t)
	s := seed(t, svc)
	def := workflowDef(t, triggerNode("m", "MANUAL", `{}`))
	bad := []struct {
		name   string
		config workflow.Config
		fields []string
	}{
		{"max_attempts 0", retry(func(p *workflow.RetryPolicy) { p.MaxAttempts = 0 }), []string{"config.retry_policy.max_attempts"}},
		{"max_attempts over 100", retry(func(p *workflow.RetryPolicy) { p.MaxAttempts = 101 }), []string{"config.retry_policy.max_attempts"}},
		{"backoff_coefficient below 1", retry(func(p *workflow.RetryPolicy) { p.BackoffCoefficient = 0.5 }), []string{"config.retry_policy.backoff_coefficient"}},
		{"initial_interval over max_interval", retry(func(p *workflow.RetryPolicy) { p.InitialInterval = 2 * time.Minute }), []string{"config.retry_policy.initial_interval"}},
		{"negative interval", retry(func(p *workflow.RetryPolicy) { p.MaxInterval = -time.Second }), []string{"config.retry_policy.max_interval"}},
		{"interval over 7 days", retry(func(p *workflow.RetryPolicy) { p.MaxInterval = 8 * 24 * time.Hour }), []string{"config.retry_policy.max_interval"}},
		{"CANCELLED retries", retry(func(p *workflow.RetryPolicy) {
			p.RetryOn = []workflow.ExecutionStatus{workflow.ExecutionFailed, workflow.ExecutionCancelled}
		}), []string{"config.retry_policy.retry_on[1]"}},
		{"SKIPPED retries", retry(func(p *workflow.RetryPolicy) { p.RetryOn = []workflow.ExecutionStatus{workflow.ExecutionSkipped} }), []string{"config.retry_policy.retry_on[0]"}},
		{"pause_after_failures below 0", workflow.Config{PauseAfterFailures: -1}, []string{"config.pause_after_failures"}},
		{"pause_after_failures over 10,000", workflow.Config{PauseAfterFailures: 10001}, []string{"config.pause_after_failures"}},
		{"max_concurrency with SKIP", workflow.Config{OverlapPolicy: workflow.OverlapSkip, MaxConcurrency: 3}, []string{"config.max_concurrency"}},
		{"max_concurrency below 0", workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, MaxConcurrency: -1}, []string{"config.max_concurrency"}},
		{"max_concurrency over 1,000", workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, MaxConcurrency: 1001}, []string{"config.max_concurrency"}},
		{"max_buffered below 0", workflow.Config{OverlapPolicy: workflow.OverlapBufferAll, MaxBuffered: -1}, []string{"config.max_buffered"}},
		{"max_buffered over 10,000", workflow.Config{OverlapPolicy: workflow.OverlapBufferAll, MaxBuffered: 10001}, []string{"config.max_buffered"}},
		{"max_buffered without a queue", workflow.Config{OverlapPolicy: workflow.OverlapBufferOne, MaxBuffered: 5}, []string{"config.max_buffered"}},
	}
	var cases []errorCase
	for _, b := range bad {
		cases = append(cases, errorCase{
			name: "deploy/" + b.name,
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-policy", Definition: def, Config: b.config})
				return err
			},
			kind: errors.Invalid, fields: b.fields,
		}, errorCase{
			name: "update/" + b.name,
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Mask: []string{FieldConfig}, Config: &b.config})
				return err
			},
			kind: errors.Invalid, fields: b.fields,
		})
	}
	for _, bad := range []int32{-1, 604801} {
		cases = append(cases, errorCase{
			name: fmt.Sprintf("deploy/trigger execution_timeout_seconds %d", bad),
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-policy", Definition: def,
					Triggers: []workflow.Trigger{{Type: workflow.TriggerManual, ExecutionTimeoutSeconds: bad}}})
				return err
			},
			kind: errors.Invalid, fields: []string{"triggers[0].execution_timeout_seconds"},
		})
	}
	runErrorCases(t, st, cases)
}

// TestRetryPolicyDefaults: a deployment shows the retry policy it runs
// with, its defaults filled in.
func TestRetryPolicyDefaults(t *testing.T) {
	t.Parallel()
	svc, _ := newTestService(t)
	d := mustDeploy(t, svc, DeployRequest{
		WorkflowID: "wf-retry", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
		Config: workflow.Config{Retry: &workflow.RetryPolicy{MaxAttempts: 4}},
	})
	require.Equal(t, &workflow.RetryPolicy{
		MaxAttempts: 4, InitialInterval: time.Second, BackoffCoefficient: 2, MaxInterval: 100 * time.Second,
		RetryOn: []workflow.ExecutionStatus{workflow.ExecutionFailed, workflow.ExecutionTimedOut},
	}, d.Config.Retry)
	require.Nil(t, mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-once", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`))}).Config.Retry,
		"no policy: one attempt")
}

// TestResumeClearsFailures: resuming a deployment the runtime paused after
// failures starts its count again and drops the reason.
func TestResumeClearsFailures(t *testing.T) {
	t.Parallel()
	svc, st := newTestService(t)
	ctx := context.Background()
	d := mustDeploy(t, svc, DeployRequest{
		WorkflowID: "wf-failing", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
		Config: workflow.Config{PauseAfterFailures: 1},
	})
	_, err := st.CountRunEnd(ctx, d.ID, true)
	require.NoError(t, err)
	_, err = st.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status, d.PauseReason = workflow.StatusPaused, "paused after 1 consecutive failed runs"
		d.Version++
		return workflow.Event{Action: workflow.ActionPause}, nil
	})
	require.NoError(t, err)
	paused, err := svc.Status(ctx, StatusRequest{DeploymentID: d.ID})
	require.NoError(t, err)
	require.Equal(t, int32(1), paused.Deployment.ConsecutiveFailures)
	require.NotEmpty(t, paused.Deployment.PauseReason)

	resumed := mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Mask: []string{FieldStatus}, Status: new(workflow.StatusDeployed)})
	require.Equal(t, workflow.StatusDeployed, resumed.Status)
	require.Zero(t, resumed.ConsecutiveFailures)
	require.Empty(t, resumed.PauseReason)
}

// TestQueueDefaults: a policy whose runs queue shows its max_buffered.
func TestQueueDefaults(t *testing.T) {
	t.Parallel()
	var v errors.Violations
	require.Equal(t, workflow.Config{OverlapPolicy: workflow.OverlapBufferAll, MaxBuffered: workflow.DefaultMaxBuffered},
		validateConfig(&v, "config", workflow.Config{OverlapPolicy: workflow.OverlapBufferAll}))
	require.Equal(t, workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, MaxConcurrency: 3, MaxBuffered: 7},
		validateConfig(&v, "config", workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, MaxConcurrency: 3, MaxBuffered: 7}))
	require.Equal(t, workflow.Config{OverlapPolicy: workflow.OverlapAllowAll},
		validateConfig(&v, "config", workflow.Config{OverlapPolicy: workflow.OverlapAllowAll}), "an unbounded ALLOW_ALL queues nothing")
	require.Empty(t, v)
}
