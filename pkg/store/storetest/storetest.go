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
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Store is what the suite tests: the store the services use, with the monitoring reads.
type Store interface {
	store.Store
	store.MonitoringStore
	store.SlotStore
	store.BackfillStore
	store.RetentionStore
	store.BacklogStore
	// UnfinishedByStatus counts the PENDING and RUNNING executions of every
	// replica, keyed by status; both keys are present, zero or not.
	UnfinishedByStatus(ctx context.Context) (map[workflow.ExecutionStatus]int64, error)
	// EndLeases ends now the lease of every PENDING or RUNNING execution,
	// whoever owns it, and returns how many it ended.
	EndLeases(ctx context.Context) (int64, error)
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
	for _, group := range [][]testCase{deploymentCases, executionCases, coordinationCases, monitoringCases, slotCases, errorCases, backfillCases, policyCases, retentionCases} {
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

func definition(name string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"name": %q, "nodes": [{"id": "n1", "name": "start", "type": "TRIGGER"}], "connections": {}}`, name))
}

func cronTrigger(expr string) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: expr}}
}

func webhookTrigger(path string) workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{Path: path}}
}

func manualTrigger() workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerManual, Enabled: true}
}

func newDeployment(workflowID string, status workflow.DeploymentStatus, triggers ...workflow.Trigger) *workflow.Deployment {
	return &workflow.Deployment{
		WorkflowID: workflowID,
		Status:     status,
		Version:    1,
		Definition: definition("Workflow " + workflowID),
		DeployedBy: "alice",
		Triggers:   triggers,
	}
}

func deployEvent() workflow.Event {
	return workflow.Event{Action: workflow.ActionDeploy, Actor: "alice"}
}

func mustCreate(t *testing.T, s Store, d *workflow.Deployment) *workflow.Deployment {
	t.Helper()
	require.NoError(t, s.CreateDeployment(context.Background(), d, deployEvent()))
	return d
}

// setStatus is a mutation moving a deployment to status with the given action.
func setStatus(status workflow.DeploymentStatus, action string) store.Mutation {
	return func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = status
		d.Version++
		return workflow.Event{Action: action, Actor: "bob"}, nil
	}
}

// execution is a PENDING execution of d, fired at fired, owned by owner
// (none when empty) until lease (no lease when nil).
func execution(d *workflow.Deployment, fired time.Time, owner string, lease *time.Time) *workflow.Execution {
	return &workflow.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: fired,
		OwnerInstance: owner, LeaseExpiresAt: lease,
	}
}

// mustCreateExecution creates e, which must be created, and returns its id.
func mustCreateExecution(t *testing.T, s Store, e *workflow.Execution) string {
	t.Helper()
	created, err := s.CreateExecution(context.Background(), e)
	require.NoError(t, err)
	require.True(t, created, "execution not created: %+v", e)
	return e.ID
}

// finish moves execution id, created PENDING or RUNNING, to the terminal
// status to: the only way through the interface to a finished row.
func finish(t *testing.T, s Store, id string, to workflow.ExecutionStatus) *workflow.Execution {
	t.Helper()
	e, err := s.TransitionExecution(context.Background(), id, store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending, workflow.ExecutionRunning}, To: to,
		FinishedTime: new(base.Add(time.Hour))})
	require.NoError(t, err)
	return e
}

func mustGetExecution(t *testing.T, s Store, id string) *workflow.Execution {
	t.Helper()
	e, err := s.GetExecution(context.Background(), id)
	require.NoError(t, err)
	return e
}

func idsOf(es []workflow.Execution) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}
