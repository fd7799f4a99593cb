package webhook

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// memIndexStore holds webhook triggers by deployment.
type memIndexStore struct {
	mu  sync.Mutex
	wts map[string][]workflow.WebhookTrigger
}

func (m *memIndexStore) set(id string, wts ...workflow.WebhookTrigger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wts[id] = wts
}

func (m *memIndexStore) ListWebhookTriggers(_ context.Context, deploymentID string) ([]workflow.WebhookTrigger, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if deploymentID != "" {
		return m.wts[deploymentID], nil
	}
	var all []workflow.WebhookTrigger
	for _, wts := range m.wts {
		all = append(all, wts...)
	}
	return all, nil
}

// chanSubscriber hands the announcements of its channel to the index, and
// tells when its subscription ends.
type chanSubscriber struct {
	announce chan string
	ended    chan struct{}
}

func (c chanSubscriber) Subscribe(ctx context.Context, handle func(string)) error {
	defer close(c.ended)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case id := <-c.announce:
			handle(id)
		}
	}
}

func hook(deployment, path string) workflow.WebhookTrigger {
	return workflow.WebhookTrigger{DeploymentID: deployment, WorkflowID: "wf-" + deployment, Spec: workflow.WebhookSpec{Path: path}}
}

// TestIndexStartStop: Start loads, then the index follows announcements
// until Stop, which ends the subscription; lookups still answer after it.
func TestIndexStartStop(t *testing.T) {
	t.Parallel()
	st := &memIndexStore{wts: map[string][]workflow.WebhookTrigger{}}
	st.set("d1", hook("d1", "orders/created"))
	sub := chanSubscriber{announce: make(chan string), ended: make(chan struct{})}
	x := NewIndex(st, nil, Follow(sub, time.Hour))

	start, cancel := context.WithCancel(context.Background())
	require.NoError(t, x.Start(start))
	cancel()
	_, ok := x.Lookup("orders/created")
	require.True(t, ok, "Start loads what the store holds")

	st.set("d2", hook("d2", "invoices/paid"))
	sub.announce <- "d2"
	require.Eventually(t, func() bool {
		_, ok := x.Lookup("invoices/paid")
		return ok
	}, 10*time.Second, time.Millisecond, "an announcement after the start's context ended was not followed")

	require.NoError(t, x.Stop(context.Background()))
	<-sub.ended
	_, ok = x.Lookup("orders/created")
	require.True(t, ok, "a stopped index keeps answering")
	require.NoError(t, x.Stop(context.Background()), "a second Stop")
}
