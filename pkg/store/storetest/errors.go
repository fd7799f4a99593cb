package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var errorCases = []testCase{
	{"errors carry their kind and sentinel", testErrorKinds},
	{"CreateExecution/a row the database refuses fails alone", testRefusedRowFailsAlone},
	{"CreateDeployment/invalid deployments write nothing", testCreateInvalid},
	{"TransitionExecution/a result the database refuses writes nothing", testRefusedResult},
	{"a cancelled context fails every call", testCancelledContext},
}

// testErrorKinds provokes each error of the contract and checks that it
// carries its pkg/errors kind, with its sentinel or type still in the chain.
func testErrorKinds(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-kinds", workflow.StatusDeployed, webhookTrigger("kinds/hook")))
	const missing = "00000000-0000-0000-0000-000000000000"
	var (
		active *store.ActiveDeploymentError
		path   *store.WebhookPathError
	)
	_, notFound := s.GetDeployment(ctx, missing)
	_, noKey := s.FindExecutionByKey(ctx, d.WorkflowID, "none")
	_, badCursor := s.ListExecutions(ctx, workflow.ExecutionFilter{After: "not a cursor"})
	_, badToken := s.ListDeployments(ctx, workflow.ListFilter{After: "not a cursor"})
	_, stale := s.TransitionExecution(ctx, missing, store.Transition{From: from(workflow.ExecutionPending), To: workflow.ExecutionRunning})
	_, noTurn := s.TakeTurn(ctx, missing, "me")
	twice := s.CreateDeployment(ctx, newDeployment("wf-kinds", workflow.StatusDraft), deployEvent())
	taken := s.CreateDeployment(ctx, newDeployment("wf-other", workflow.StatusDraft, webhookTrigger("KINDS/hook")), deployEvent())
	refused := execution(d, base, "me", nil)
	refused.Status = "BOGUS"
	_, invalid := s.CreateExecution(ctx, refused)
	for _, tc := range []struct {
		name string
		err  error
		is   func(error) bool
		kind errors.Kind
	}{
		{"unknown deployment", notFound, is(store.ErrNotFound), errors.NotFound},
		{"unknown key", noKey, is(store.ErrNotFound), errors.NotFound},
		{"bad cursor", badCursor, is(store.ErrBadCursor), errors.Invalid},
		{"bad page token", badToken, is(store.ErrBadCursor), errors.Invalid},
		{"stale transition", stale, is(store.ErrStale), errors.FailedPrecondition},
		{"stale turn", noTurn, is(store.ErrStale), errors.FailedPrecondition},
		{"second active deployment", twice, func(err error) bool { return errors.As(err, &active) }, errors.AlreadyExists},
		{"webhook path taken", taken, func(err error) bool { return errors.As(err, &path) }, errors.AlreadyExists},
		{"data the database refuses", invalid, func(err error) bool { return err != nil }, errors.Invalid},
	} {
		require.True(t, tc.is(tc.err), "%s: %v is not the contract's error", tc.name, tc.err)
		require.Equal(t, tc.kind, errors.KindOf(tc.err), "%s: %v", tc.name, tc.err)
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

// testRefusedRowFailsAlone creates executions concurrently, one of them with
// a status the schema refuses: whether or not the store writes them
// together, each good one is created, and only the bad one fails, Invalid.
func testRefusedRowFailsAlone(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-refused", workflow.StatusDeployed))
	const rows, bad = 40, 17
	errs := make([]error, rows)
	var wg sync.WaitGroup
	for i := range rows {
		e := execution(d, base.Add(time.Duration(i)*time.Second), "me", nil)
		if i == bad {
			e.Status = "BOGUS"
		}
		wg.Go(func() { _, errs[i] = createRetrying(ctx, s, e) })
	}
	wg.Wait()
	for i, err := range errs {
		if i == bad {
			require.Equal(t, errors.Invalid, errors.KindOf(err), "the refused row: %v", err)
			continue
		}
		require.NoError(t, err, "row %d beside the refused one", i)
	}
	require.Equal(t, rows-1, countExecutions(t, s, d.WorkflowID), "every good row is written, and nothing else")
}

// testCreateInvalid creates deployments the store or its schema refuses:
// each fails, fills nothing in and writes nothing.
func testCreateInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		d    *workflow.Deployment
		kind errors.Kind
	}{
		{"cron without spec", newDeployment("wf-1", workflow.StatusDraft, workflow.Trigger{Type: workflow.TriggerCron}), errors.Internal},
		{"webhook without spec", newDeployment("wf-1", workflow.StatusDraft, workflow.Trigger{Type: workflow.TriggerWebhook}), errors.Internal},
		{"unknown trigger type", newDeployment("wf-1", workflow.StatusDraft, workflow.Trigger{Type: "SMOKE"}), errors.Internal},
		{"unknown status", newDeployment("wf-1", "LIVE"), errors.Invalid},
		{"definition not JSON", &workflow.Deployment{WorkflowID: "wf-1", Status: workflow.StatusDraft, Definition: []byte("{")}, errors.Invalid},
	} {
		err := s.CreateDeployment(ctx, tc.d, deployEvent())
		require.Error(t, err, tc.name)
		require.Equal(t, tc.kind, errors.KindOf(err), "%s: %v", tc.name, err)
		require.Empty(t, tc.d.ID, "%s: a failed CreateDeployment fills in no id", tc.name)
	}
	page, err := s.ListDeployments(ctx, workflow.ListFilter{Statuses: []workflow.DeploymentStatus{
		workflow.StatusDraft, workflow.StatusDeployed, workflow.StatusPaused, workflow.StatusArchived, "LIVE"}})
	require.NoError(t, err)
	require.Zero(t, page.Total, "deployments after failed creations")

	d := mustCreate(t, s, newDeployment("wf-2", workflow.StatusDeployed, manualTrigger()))
	_, err = s.UpdateDeployment(ctx, d.ID, setStatus("LIVE", workflow.ActionUpdate))
	require.Equal(t, errors.Invalid, errors.KindOf(err), "an unknown status: %v", err)
	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.Version, got.Version, "a refused update writes nothing")
}

// testRefusedResult ends an execution with a result that is not JSON: the
// transition fails, Invalid, and the row stays as it was.
func testRefusedResult(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-result", workflow.StatusDeployed))
	id := mustCreateExecution(t, s, execution(d, base, "me", nil))
	_, err := s.TransitionExecution(ctx, id, store.Transition{From: from(workflow.ExecutionPending),
		To: workflow.ExecutionSucceeded, Result: []byte(`{"unterminated`)})
	require.Equal(t, errors.Invalid, errors.KindOf(err), "%v", err)
	require.Equal(t, workflow.ExecutionPending, mustGetExecution(t, s, id).Status)
}

// testCancelledContext calls the store with a context already cancelled:
// each call that reaches the database fails with the context's error in its
// chain. (The group-committed writes may be written by a batch under way:
// their callers must not be told otherwise, so they are left out.)
func testCancelledContext(t *testing.T, s Store) {
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := d.ID
	checks := map[string]error{"Ping": s.Ping(ctx), "ReleaseLeases": s.ReleaseLeases(ctx, "r", []string{id}),
		"CreateDeployment": s.CreateDeployment(ctx, newDeployment("wf-2", workflow.StatusDraft), deployEvent())}
	_, checks["UpdateDeployment"] = s.UpdateDeployment(ctx, id, setStatus(workflow.StatusPaused, workflow.ActionPause))
	_, checks["GetDeployment"] = s.GetDeployment(ctx, id)
	_, checks["GetActiveDeployment"] = s.GetActiveDeployment(ctx, "wf-1")
	_, checks["ListDeployments"] = s.ListDeployments(ctx, workflow.ListFilter{})
	_, checks["ListEvents"] = s.ListEvents(ctx, id)
	_, checks["LastExecution"] = s.LastExecution(ctx, id)
	_, checks["CountUnfinishedExecutions"] = s.CountUnfinishedExecutions(ctx, id)
	_, checks["ListCronTriggers"] = s.ListCronTriggers(ctx, "")
	_, checks["ListOwnedCronTriggers"] = s.ListOwnedCronTriggers(ctx, func(string) bool { return true })
	_, checks["ChangedDeployments"] = s.ChangedDeployments(ctx, time.Minute)
	_, checks["ListWebhookTriggers"] = s.ListWebhookTriggers(ctx, "")
	_, checks["ExpireIdempotencyKey"] = s.ExpireIdempotencyKey(ctx, id, time.Now())
	_, checks["FindExecutionByKey"] = s.FindExecutionByKey(ctx, "wf-1", "k")
	_, checks["TakeTurn"] = s.TakeTurn(ctx, id, "r")
	_, checks["ListUnfinishedExecutions"] = s.ListUnfinishedExecutions(ctx, "wf-1")
	_, checks["RenewLeases"] = s.RenewLeases(ctx, "r", []string{id}, time.Minute)
	_, checks["AdoptExecutions"] = s.AdoptExecutions(ctx, "r", time.Minute, 1)
	_, checks["ClaimExecutions"] = s.ClaimExecutions(ctx, "r", time.Minute, 1)
	_, checks["LeaseExpired"] = s.LeaseExpired(ctx, id)
	_, checks["EndLeases"] = s.EndLeases(ctx)
	_, checks["GetExecution"] = s.GetExecution(ctx, id)
	_, checks["ListExecutions"] = s.ListExecutions(ctx, workflow.ExecutionFilter{})
	_, checks["UnfinishedByStatus"] = s.UnfinishedByStatus(ctx)
	_, checks["PendingBacklog"] = s.PendingBacklog(ctx, time.Now())
	_, checks["DeploymentStats"] = s.DeploymentStats(ctx, time.Time{})
	_, checks["CronFireStats"] = s.CronFireStats(ctx, time.Time{}, time.Now())
	for name, err := range checks {
		require.ErrorIs(t, err, context.Canceled, name)
		require.Equal(t, errors.Unavailable, errors.KindOf(err), "%s: %v", name, err)
	}
	_, err := s.AdoptExecutions(context.Background(), "r", time.Minute, -1)
	require.Error(t, err, "a negative limit")
	_, err = s.ClaimExecutions(context.Background(), "r", time.Minute, -1)
	require.Error(t, err, "a negative limit")
	_, err = s.ClaimExecutions(context.Background(), "", time.Minute, 1)
	require.Error(t, err, "no owner")
}
