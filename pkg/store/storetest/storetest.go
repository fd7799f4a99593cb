// Package storetest is the store contract: one table of cases that every
// implementation of store.Store must pass, run by each implementation's tests
// against a fresh store per case. The cases observe the store through its
// interface only, so what they check is what the services may rely on.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// Store is what the suite tests: the store the services use, with the monitoring reads.
type Store interface {
	store.Store
	store.MonitoringStore
	// UnfinishedByStatus counts the PENDING and RUNNING executions of every
	// replica, keyed by status.
	UnfinishedByStatus(ctx context.Context) (map[store.ExecutionStatus]int64, error)
}

// testCase is one promise of the contract, checked on a store of its own.
type testCase struct {
	name string
	run  func(t *testing.T, s Store)
}

// Run runs every case of the contract on a store from open, which must return
// a fresh, empty, migrated store for each call and clean it up when the test
// it is given ends. Cases run in parallel: each has its own store.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Helper()
	for _, group := range [][]testCase{deploymentCases, executionCases, coordinationCases, monitoringCases} {
		for _, c := range group {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, open(t))
			})
		}
	}
}

// base is the time the cases lay their rows out from: far from now, so that
// a lease set from it has long expired.
var base = time.Date(2026, time.June, 1, 12, 0, 0, 0, time.UTC)

// jsonEqual compares JSON documents by value: a store may normalise spacing
// and key order.
var jsonEqual = cmp.Transformer("json", func(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(m, &v); err != nil {
		return "invalid JSON: " + string(m)
	}
	return v
})

func ptr[T any](v T) *T { return &v }

func definition(name string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"name": %q, "nodes": [{"id": "n1", "name": "start", "type": "TRIGGER"}], "connections": {}}`, name))
}

func cronTrigger(expr string) store.Trigger {
	return store.Trigger{Type: store.TriggerCron, Enabled: true, Cron: &store.CronSpec{Expression: expr}}
}

func webhookTrigger(path string) store.Trigger {
	return store.Trigger{Type: store.TriggerWebhook, Enabled: true, Webhook: &store.WebhookSpec{Path: path}}
}

func manualTrigger() store.Trigger {
	return store.Trigger{Type: store.TriggerManual, Enabled: true}
}

func newDeployment(workflowID string, status store.DeploymentStatus, triggers ...store.Trigger) *store.Deployment {
	return &store.Deployment{
		WorkflowID: workflowID,
		Status:     status,
		Version:    1,
		Definition: definition("Workflow " + workflowID),
		DeployedBy: "alice",
		Triggers:   triggers,
	}
}

func deployEvent() store.Event {
	return store.Event{Action: store.ActionDeploy, Actor: "alice"}
}

func mustCreate(t *testing.T, s Store, d *store.Deployment) *store.Deployment {
	t.Helper()
	require.NoError(t, s.CreateDeployment(context.Background(), d, deployEvent()))
	return d
}

// setStatus is a mutation moving a deployment to status with the given action.
func setStatus(status store.DeploymentStatus, action string) store.Mutation {
	return func(d *store.Deployment) (store.Event, error) {
		d.Status = status
		d.Version++
		return store.Event{Action: action, Actor: "bob"}, nil
	}
}

// execution is a PENDING execution of d, fired at fired, owned by owner
// (none when empty) until lease (no lease when nil).
func execution(d *store.Deployment, fired time.Time, owner string, lease *time.Time) *store.Execution {
	return &store.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerType: store.TriggerManual, Status: store.ExecutionPending, FiredTime: fired,
		OwnerInstance: owner, LeaseExpiresAt: lease,
	}
}

// mustCreateExecution creates e, which must be created, and returns its id.
func mustCreateExecution(t *testing.T, s Store, e *store.Execution) string {
	t.Helper()
	created, err := s.CreateExecution(context.Background(), e)
	require.NoError(t, err)
	require.True(t, created, "execution not created: %+v", e)
	return e.ID
}

// finish moves execution id, created PENDING or RUNNING, to the terminal
// status to: the only way through the interface to a finished row.
func finish(t *testing.T, s Store, id string, to store.ExecutionStatus) *store.Execution {
	t.Helper()
	e, err := s.TransitionExecution(context.Background(), id, store.Transition{
		From: []store.ExecutionStatus{store.ExecutionPending, store.ExecutionRunning}, To: to,
		FinishedTime: ptr(base.Add(time.Hour))})
	require.NoError(t, err)
	return e
}

func mustGetExecution(t *testing.T, s Store, id string) *store.Execution {
	t.Helper()
	e, err := s.GetExecution(context.Background(), id)
	require.NoError(t, err)
	return e
}

func idsOf(es []store.Execution) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}
