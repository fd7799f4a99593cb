package webhook

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
)

// TestSyncWaitingIsBounded: past MaxSyncWaiting waiting SYNC calls, another
// SYNC call is refused with RESOURCE_EXHAUSTED and records nothing; ASYNC
// calls are not counted, and a call that stops waiting frees its place.
func TestSyncWaitingIsBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{HangRate: 1}, Options{MaxSyncWaiting: 2})
	r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "sync/waits", ResponseMode: workflow.ResponseSync, SyncTimeoutSeconds: 60})
	r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "async/free"})
	sync1 := coordination.TriggerRequest{WebhookPath: "sync/waits"}

	ctx, stopWaiting := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			// It ends when ctx does, with the execution id to read later.
			_, _ = r.svc.Trigger(ctx, sync1)
		})
	}
	require.Eventually(t, func() bool { return r.count() == 2 }, 10*time.Second, 10*time.Millisecond, "the two SYNC calls never recorded their executions")

	_, err := r.svc.Trigger(context.Background(), sync1)
	require.Equal(t, errors.ResourceExhausted, errors.KindOf(err), "%v", err)
	require.ErrorContains(t, err, "2 SYNC webhook calls already wait on this replica: retry later, or trigger ASYNC and read the execution")
	require.Equal(t, 2, r.count(), "a refused call records nothing")

	_, err = r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "async/free"})
	require.NoError(t, err, "ASYNC calls do not wait")

	stopWaiting()
	wg.Wait()
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = r.svc.Trigger(short, sync1)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the places are free again: the call records and waits")
	require.Equal(t, 4, r.count())
}
