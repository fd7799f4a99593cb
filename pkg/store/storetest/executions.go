package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var executionCases = []testCase{
	{"CreateExecution/once per cron slot", testCreateExecutionOncePerSlot},
	{"CreateExecution/once per idempotency key", testCreateExecutionOncePerKey},
	{"CreateExecution/concurrent writers of one slot: one creates", testCreateExecutionConcurrentSlot},
	{"CreateExecution/of the workflow's DEPLOYED deployment", testCreateExecutionOfTheWorkflow},
	{"CreateExecution/not DEPLOYED writes nothing", testCreateExecutionNotDeployed},
	{"FindExecutionByKey", testFindExecutionByKey},
	{"ExpireIdempotencyKey", testExpireIdempotencyKey},
	{"GetExecution", testGetExecution},
	{"LastExecution and CountUnfinishedExecutions", testLastAndCount},
	{"ListExecutions/filters", testListExecutionsFilters},
	{"ListExecutions/keyset paging", testListExecutionsPaging},
	{"ListExecutions/bad cursor", testListExecutionsBadCursor},
}

func cronExecution(d *workflow.Deployment, triggerID string, slot time.Time) *workflow.Execution {
	return &workflow.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerID: triggerID, TriggerType: workflow.TriggerCron, Status: workflow.ExecutionPending,
		ScheduledTime: &slot, FiredTime: slot.Add(1500 * time.Millisecond), JitterSeconds: 1,
		TraceID: "trace-1", TriggeredBy: "cron:" + triggerID,
	}
}

func testCreateExecutionOncePerSlot(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-slots", workflow.StatusDeployed, cronTrigger("* * * * *")))
	trig := d.Triggers[0].ID
	slot := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

	first := cronExecution(d, trig, slot)
	mustCreateExecution(t, s, first)
	require.NotEmpty(t, first.ID)

	again := cronExecution(d, trig, slot)
	created, err := s.CreateExecution(ctx, again)
	require.NoError(t, err)
	require.False(t, created, "a second row for one slot")
	require.Empty(t, again.ID)

	next := cronExecution(d, trig, slot.Add(time.Minute))
	mustCreateExecution(t, s, next)

	last, err := s.LastExecution(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, next.ID, last.ID)
	require.Equal(t, "trace-1", last.TraceID)
	require.Equal(t, "cron:"+trig, last.TriggeredBy)

	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Triggers[0].LastFireTime)
	require.True(t, got.Triggers[0].LastFireTime.Equal(next.FiredTime), "last fire %v, want %v", got.Triggers[0].LastFireTime, next.FiredTime)

	manual := &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
		TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: slot, Input: []byte(`{"a":1}`)}
	for range 2 {
		manual.ID = ""
		created, err = s.CreateExecution(ctx, manual)
		require.NoError(t, err)
		require.True(t, created, "executions without a slot or key are never deduplicated")
	}
	n, err := s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)

	created, err = s.CreateExecution(ctx, &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: "not-a-uuid"})
	require.NoError(t, err)
	require.False(t, created, "an id that is not a UUID names no deployment")

	_, err = s.UpdateDeployment(ctx, d.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)
	late := cronExecution(d, trig, slot.Add(2*time.Minute))
	created, err = s.CreateExecution(ctx, late)
	require.NoError(t, err)
	require.False(t, created, "a PAUSED deployment records no run")
	require.Empty(t, late.ID)
	n, err = s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
}

// createRetrying creates e, again while the store reports a concurrent change
// (which the contract allows: the same request may succeed again).
func createRetrying(ctx context.Context, s Store, e *workflow.Execution) (bool, error) {
	for {
		row := *e
		created, err := s.CreateExecution(ctx, &row)
		if !errors.Is(err, store.ErrConcurrentChange) {
			*e = row
			return created, err
		}
	}
}

func manualExecution(d *workflow.Deployment, key, by string) *workflow.Execution {
	return &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: base,
		IdempotencyKey: key, TriggeredBy: by}
}

func countExecutions(t *testing.T, s Store, workflowID string) int {
	t.Helper()
	page, err := s.ListExecutions(context.Background(), workflow.ExecutionFilter{WorkflowID: workflowID, Limit: workflow.MaxPageSize})
	require.NoError(t, err)
	require.Empty(t, page.Next)
	return len(page.Executions)
}

func testCreateExecutionOncePerKey(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-once", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-once-other", workflow.StatusDeployed))

	first := manualExecution(d, "key-1", "gateway")
	first.OnBehalfOf = "alice"
	mustCreateExecution(t, s, first)

	again := manualExecution(d, "key-1", "bob")
	created, err := s.CreateExecution(ctx, again)
	require.NoError(t, err, "a repeated key is not an error")
	require.False(t, created, "a second row for one idempotency key")
	require.Empty(t, again.ID)
	require.Equal(t, 1, countExecutions(t, s, "wf-once"), "nothing written for the repeated key")
	got, err := s.FindExecutionByKey(ctx, "wf-once", "key-1")
	require.NoError(t, err)
	require.Equal(t, first.ID, got.ID)
	require.Equal(t, [2]string{"gateway", "alice"}, [2]string{got.TriggeredBy, got.OnBehalfOf}, "the first row is left as it was")

	// The key is the workflow's: another workflow may use it, and another key is another run.
	mustCreateExecution(t, s, manualExecution(other, "key-1", "alice"))
	mustCreateExecution(t, s, manualExecution(d, "key-2", "alice"))
	require.Equal(t, 2, countExecutions(t, s, "wf-once"))

	// Writers racing on one key: exactly one creates the row.
	const writers = 8
	var wg sync.WaitGroup
	results := make([]bool, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() { results[i], errs[i] = createRetrying(ctx, s, manualExecution(d, "key-race", "racer")) })
	}
	wg.Wait()
	winners := 0
	for i, created := range results {
		require.NoError(t, errs[i])
		if created {
			winners++
		}
	}
	require.Equal(t, 1, winners, "writers that created the row: %v", results)
	require.Equal(t, 3, countExecutions(t, s, "wf-once"))
}

func testCreateExecutionConcurrentSlot(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-race", workflow.StatusDeployed, cronTrigger("* * * * *")))
	slot := base.Add(time.Minute)
	const writers = 20
	var wg sync.WaitGroup
	es := make([]*workflow.Execution, writers)
	results := make([]bool, writers)
	errs := make([]error, writers)
	start := make(chan struct{})
	for i := range writers {
		es[i] = cronExecution(d, d.Triggers[0].ID, slot)
		es[i].TriggeredBy = "replica-" + string(rune('a'+i))
		wg.Go(func() {
			<-start
			results[i], errs[i] = createRetrying(ctx, s, es[i])
		})
	}
	close(start)
	wg.Wait()
	var winner *workflow.Execution
	for i := range writers {
		require.NoError(t, errs[i])
		if results[i] {
			require.Nil(t, winner, "two writers created the slot's row")
			winner = es[i]
		} else {
			require.Empty(t, es[i].ID, "a writer that created nothing got an id")
		}
	}
	require.NotNil(t, winner, "no writer created the slot's row")
	page, err := s.ListExecutions(ctx, workflow.ExecutionFilter{DeploymentID: d.ID})
	require.NoError(t, err)
	require.Equal(t, []string{winner.ID}, idsOf(page.Executions))
	require.Equal(t, winner.TriggeredBy, page.Executions[0].TriggeredBy, "the row is the winner's")
}

// testCreateExecutionOfTheWorkflow: an execution that names only its
// workflow goes to the workflow's DEPLOYED deployment, at its version, and
// to its first MANUAL trigger.
func testCreateExecutionOfTheWorkflow(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-by-name", workflow.StatusDeployed,
		cronTrigger("0 * * * *"), manualTrigger(), manualTrigger()))
	_, err := s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Version++
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.NoError(t, err)
	byName := func(wf string) *workflow.Execution {
		return &workflow.Execution{WorkflowID: wf, TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: base}
	}

	e := byName("wf-by-name")
	mustCreateExecution(t, s, e)
	require.Equal(t, d.ID, e.DeploymentID)
	require.EqualValues(t, 2, e.DeploymentVersion, "the deployment's current version")
	require.Equal(t, d.Triggers[1].ID, e.TriggerID, "its first MANUAL trigger")
	got := mustGetExecution(t, s, e.ID)
	require.Equal(t, d.ID, got.DeploymentID)
	require.EqualValues(t, 2, got.DeploymentVersion)
	require.Equal(t, d.Triggers[1].ID, got.TriggerID)

	// A trigger the caller names is kept.
	e = byName("wf-by-name")
	e.TriggerID = d.Triggers[2].ID
	mustCreateExecution(t, s, e)
	require.Equal(t, d.Triggers[2].ID, mustGetExecution(t, s, e.ID).TriggerID)

	// Only a DEPLOYED deployment takes it.
	mustCreate(t, s, newDeployment("wf-paused", workflow.StatusDeployed, manualTrigger()))
	paused, err := s.GetActiveDeployment(ctx, "wf-paused")
	require.NoError(t, err)
	_, err = s.UpdateDeployment(ctx, paused.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)
	mustCreate(t, s, newDeployment("wf-draft", workflow.StatusDraft, manualTrigger()))
	mustCreate(t, s, newDeployment("wf-archived", workflow.StatusArchived, manualTrigger()))
	for _, wf := range []string{"wf-paused", "wf-draft", "wf-archived", "wf-unknown"} {
		e := byName(wf)
		created, err := s.CreateExecution(ctx, e)
		require.NoError(t, err)
		require.False(t, created, wf)
		require.Empty(t, e.ID, wf)
		require.Zero(t, countExecutions(t, s, wf), wf)
	}

	noManual := mustCreate(t, s, newDeployment("wf-no-manual", workflow.StatusDeployed))
	e = byName(noManual.WorkflowID)
	mustCreateExecution(t, s, e)
	require.Equal(t, noManual.ID, e.DeploymentID)
	require.Empty(t, e.TriggerID, "a deployment without a MANUAL trigger runs manual executions all the same")
}

func testCreateExecutionNotDeployed(t *testing.T, s Store) {
	ctx := context.Background()
	draft := mustCreate(t, s, newDeployment("wf-draft", workflow.StatusDraft, cronTrigger("* * * * *")))
	archived := mustCreate(t, s, newDeployment("wf-archived", workflow.StatusArchived, cronTrigger("* * * * *")))
	paused := mustCreate(t, s, newDeployment("wf-paused", workflow.StatusDeployed, cronTrigger("* * * * *")))
	_, err := s.UpdateDeployment(ctx, paused.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	require.NoError(t, err)
	for _, d := range []*workflow.Deployment{draft, archived, paused} {
		for _, e := range []*workflow.Execution{
			cronExecution(d, d.Triggers[0].ID, base),
			manualExecution(d, "key-1", "alice"),
			execution(d, base, "me", new(base.Add(time.Hour))),
		} {
			created, err := s.CreateExecution(ctx, e)
			require.NoError(t, err)
			require.False(t, created, "execution of a %s deployment", d.Status)
			require.Empty(t, e.ID)
		}
		n, err := s.CountUnfinishedExecutions(ctx, d.ID)
		require.NoError(t, err)
		require.Zero(t, n)
		_, err = s.LastExecution(ctx, d.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.FindExecutionByKey(ctx, d.WorkflowID, "key-1")
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	// The refused key and slot stay free for when the deployment runs.
	_, err = s.UpdateDeployment(ctx, paused.ID, setStatus(workflow.StatusDeployed, workflow.ActionResume))
	require.NoError(t, err)
	resumed, err := s.GetDeployment(ctx, paused.ID)
	require.NoError(t, err)
	mustCreateExecution(t, s, cronExecution(resumed, resumed.Triggers[0].ID, base))
	mustCreateExecution(t, s, manualExecution(resumed, "key-1", "alice"))
	// Unknown deployments and triggers name nothing.
	for _, e := range []*workflow.Execution{
		{WorkflowID: "wf-paused", DeploymentID: "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", TriggerType: workflow.TriggerManual,
			Status: workflow.ExecutionPending, FiredTime: base},
		{WorkflowID: "wf-paused", DeploymentID: "not-a-uuid", TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: base},
	} {
		created, err := s.CreateExecution(ctx, e)
		require.NoError(t, err)
		require.False(t, created, "deployment %q", e.DeploymentID)
	}
}

func testFindExecutionByKey(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-key", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-key-other", workflow.StatusDeployed))

	e := &workflow.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerType: workflow.TriggerWebhook, Status: workflow.ExecutionPending, FiredTime: base,
		IdempotencyKey: "key-1", TraceID: "trace-1", TriggeredBy: "webhook", OwnerInstance: "replica-1",
		LeaseExpiresAt: new(base.Add(time.Minute)), Input: json.RawMessage(`{"a": 1}`),
	}
	mustCreateExecution(t, s, e)
	// Another execution of the workflow, without a key, and one of another
	// workflow under another key.
	mustCreateExecution(t, s, execution(d, base, "", nil))
	mustCreateExecution(t, s, manualExecution(other, "key-2", "alice"))

	got, err := s.FindExecutionByKey(ctx, "wf-key", "key-1")
	require.NoError(t, err)
	if diff := cmp.Diff(e, got, jsonEqual, roundedTime); diff != "" {
		t.Errorf("FindExecutionByKey (-want +got):\n%s", diff)
	}

	for _, tc := range []struct{ workflow, key string }{
		{"wf-key", "key-2"},         // another workflow's key
		{"wf-key-other", "key-1"},   // the key under another workflow
		{"wf-key", "KEY-1"},         // keys are compared exactly
		{"wf-key", ""},              // no key names the rows without one
		{"wf-none", "key-1"},        // no such workflow
		{"wf-key", "key-1' OR '1'"}, // parameters, not SQL
	} {
		_, err := s.FindExecutionByKey(ctx, tc.workflow, tc.key)
		require.ErrorIs(t, err, store.ErrNotFound, "workflow %q, key %q", tc.workflow, tc.key)
	}
}

func testExpireIdempotencyKey(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-expire", workflow.StatusDeployed))
	old := manualExecution(d, "key-1", "alice")
	mustCreateExecution(t, s, old)
	noKey := execution(d, base, "", nil)
	mustCreateExecution(t, s, noKey)

	for _, tc := range []struct {
		id     string
		before time.Time
	}{
		{old.ID, base},                   // fired at before, not before it
		{old.ID, base.Add(-time.Second)}, // fired after
		{noKey.ID, base.Add(time.Hour)},  // no key to free
		{"5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", base.Add(time.Hour)}, // no such execution
		{"not-a-uuid", base.Add(time.Hour)},
	} {
		expired, err := s.ExpireIdempotencyKey(ctx, tc.id, tc.before)
		require.NoError(t, err, "%+v", tc)
		require.False(t, expired, "%+v", tc)
	}
	got, err := s.FindExecutionByKey(ctx, "wf-expire", "key-1")
	require.NoError(t, err, "the key still names its execution")
	require.Equal(t, old.ID, got.ID)
	created, err := s.CreateExecution(ctx, manualExecution(d, "key-1", "bob"))
	require.NoError(t, err)
	require.False(t, created, "the key is still held")

	expired, err := s.ExpireIdempotencyKey(ctx, old.ID, base.Add(time.Microsecond))
	require.NoError(t, err)
	require.True(t, expired)
	_, err = s.FindExecutionByKey(ctx, "wf-expire", "key-1")
	require.ErrorIs(t, err, store.ErrNotFound, "an expired key names nothing")
	require.Equal(t, old.ID, mustGetExecution(t, s, old.ID).ID, "the execution itself stays")

	fresh := manualExecution(d, "key-1", "bob")
	fresh.FiredTime = base.Add(time.Hour)
	mustCreateExecution(t, s, fresh)
	got, err = s.FindExecutionByKey(ctx, "wf-expire", "key-1")
	require.NoError(t, err)
	require.Equal(t, fresh.ID, got.ID, "the key starts a new execution")

	expired, err = s.ExpireIdempotencyKey(ctx, old.ID, base.Add(2*time.Hour))
	require.NoError(t, err)
	require.False(t, expired, "a key is freed once")
	got, err = s.FindExecutionByKey(ctx, "wf-expire", "key-1")
	require.NoError(t, err)
	require.Equal(t, fresh.ID, got.ID, "expiring the old execution again leaves the new one's key")
}

func testGetExecution(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-get", workflow.StatusDeployed, cronTrigger("* * * * *")))

	// Every field CreateExecution writes.
	created := &workflow.Execution{
		WorkflowID:        "wf-get",
		DeploymentID:      d.ID,
		DeploymentVersion: 1,
		TriggerID:         d.Triggers[0].ID,
		TriggerType:       workflow.TriggerCron,
		Status:            workflow.ExecutionPending,
		ScheduledTime:     new(base),
		FiredTime:         base.Add(7*time.Second + 123456*time.Microsecond),
		JitterSeconds:     7,
		TraceID:           "4bf92f3577b34da6a3ce929d0e0e4736",
		IdempotencyKey:    "key-9",
		TriggeredBy:       "scheduler",
		OwnerInstance:     "replica-2",
		LeaseExpiresAt:    new(base.Add(2 * time.Minute)),
		Input:             json.RawMessage(`{"a": [1, 2]}`),
	}
	mustCreateExecution(t, s, created)
	got, err := s.GetExecution(ctx, created.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(created, got, jsonEqual, roundedTime); diff != "" {
		t.Errorf("GetExecution of a created row (-want +got):\n%s", diff)
	}
	got, err = s.GetExecution(ctx, strings.ToUpper(created.ID))
	require.NoError(t, err, "an upper-case UUID is the same id")
	require.Equal(t, created.ID, got.ID)

	// And every field a transition writes.
	moved, err := s.TransitionExecution(ctx, created.ID, store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionFailed,
		EngineExecutionID: "engine-9", StartedTime: new(base.Add(8 * time.Second)), FinishedTime: new(base.Add(time.Minute)),
		ErrorMessage: "node n1 failed", SkipReason: "overlap", Result: json.RawMessage(`{"error": "boom"}`)})
	require.NoError(t, err)
	want := *created
	want.Status, want.EngineExecutionID, want.StartedTime, want.FinishedTime = workflow.ExecutionFailed, "engine-9", new(base.Add(8*time.Second)), new(base.Add(time.Minute))
	want.ErrorMessage, want.SkipReason, want.Result, want.LeaseExpiresAt = "node n1 failed", "overlap", json.RawMessage(`{"error": "boom"}`), nil
	for name, e := range map[string]*workflow.Execution{"returned": moved, "read back": mustGetExecution(t, s, created.ID)} {
		if diff := cmp.Diff(&want, e, jsonEqual, roundedTime); diff != "" {
			t.Errorf("transitioned row %s (-want +got):\n%s", name, diff)
		}
	}

	// A minimal row reads back with its optional fields empty.
	minimal := &workflow.Execution{WorkflowID: "wf-get", DeploymentID: d.ID, DeploymentVersion: 1,
		TriggerType: workflow.TriggerWebhook, Status: workflow.ExecutionPending, FiredTime: base}
	mustCreateExecution(t, s, minimal)
	got, err = s.GetExecution(ctx, minimal.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(minimal, got, roundedTime); diff != "" {
		t.Errorf("GetExecution of a minimal row (-want +got):\n%s", diff)
	}

	for _, id := range []string{"5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11", "not-a-uuid", "", d.ID} {
		_, err := s.GetExecution(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "id %q", id)
	}
}

func testLastAndCount(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-2", workflow.StatusDeployed))

	_, err := s.LastExecution(ctx, d.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "no executions yet")
	n, err := s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	require.Zero(t, n)

	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	create := func(d *workflow.Deployment, status workflow.ExecutionStatus, fired time.Time) string {
		e := execution(d, fired, "", nil)
		e.Status = status
		return mustCreateExecution(t, s, e)
	}
	create(d, workflow.ExecutionSucceeded, at(0))
	create(d, workflow.ExecutionRunning, at(1))
	latest := create(d, workflow.ExecutionPending, at(10)) // created before an older one
	create(d, workflow.ExecutionPending, at(2))
	create(d, workflow.ExecutionSkipped, at(3))
	finish(t, s, create(d, workflow.ExecutionRunning, at(4)), workflow.ExecutionTimedOut)
	create(other, workflow.ExecutionRunning, at(60))
	create(other, workflow.ExecutionPending, at(60))

	got, err := s.LastExecution(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, latest, got.ID, "the most recently fired, not the last created")
	n, err = s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)

	finish(t, s, latest, workflow.ExecutionCancelled)
	n, err = s.CountUnfinishedExecutions(ctx, d.ID)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	got, err = s.LastExecution(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, latest, got.ID, "a finished execution is still the last")
	require.Equal(t, workflow.ExecutionCancelled, got.Status)
}

// history lays out seven executions, fired a minute apart from base, over
// two deployments of wf-a (the first archived) and one of wf-b; ids[k] is
// the one fired at base+k minutes.
func history(t *testing.T, s Store) (ids []string, a1, a2, b *workflow.Deployment) {
	t.Helper()
	ctx := context.Background()
	type row struct {
		d      **workflow.Deployment
		typ    workflow.TriggerType
		status workflow.ExecutionStatus
	}
	rows := []row{
		{&a1, workflow.TriggerCron, workflow.ExecutionSucceeded},
		{&a1, workflow.TriggerManual, workflow.ExecutionFailed},
		{&b, workflow.TriggerWebhook, workflow.ExecutionSucceeded},
		{&a2, workflow.TriggerCron, workflow.ExecutionRunning},
		{&b, workflow.TriggerCron, workflow.ExecutionFailed},
		{&a2, workflow.TriggerWebhook, workflow.ExecutionSucceeded},
		{&a2, workflow.TriggerManual, workflow.ExecutionPending},
	}
	ids = make([]string, len(rows))
	create := func(of *workflow.Deployment) {
		for k, r := range rows {
			if *r.d != of {
				continue
			}
			e := &workflow.Execution{WorkflowID: of.WorkflowID, DeploymentID: of.ID, DeploymentVersion: 1, TriggerType: r.typ,
				Status: workflow.ExecutionPending, FiredTime: base.Add(time.Duration(k) * time.Minute)}
			ids[k] = mustCreateExecution(t, s, e)
			if r.status != workflow.ExecutionPending {
				_, err := s.TransitionExecution(ctx, e.ID, store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: r.status})
				require.NoError(t, err)
			}
		}
	}
	// Executions are created while their deployment is DEPLOYED.
	a1 = mustCreate(t, s, newDeployment("wf-a", workflow.StatusDeployed))
	create(a1)
	_, err := s.UpdateDeployment(ctx, a1.ID, setStatus(workflow.StatusArchived, workflow.ActionArchive))
	require.NoError(t, err)
	a2 = mustCreate(t, s, newDeployment("wf-a", workflow.StatusDeployed))
	b = mustCreate(t, s, newDeployment("wf-b", workflow.StatusDeployed))
	create(a2)
	create(b)
	return ids, a1, a2, b
}

func testListExecutionsFilters(t *testing.T, s Store) {
	ctx := context.Background()
	ids, a1, a2, b := history(t, s)
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	// pick lists ids newest first.
	pick := func(ks ...int) []string {
		out := []string{}
		for _, k := range slices.Backward(ks) {
			out = append(out, ids[k])
		}
		return out
	}

	for _, tc := range []struct {
		name string
		f    workflow.ExecutionFilter
		want []string
	}{
		{"none", workflow.ExecutionFilter{}, pick(0, 1, 2, 3, 4, 5, 6)},
		{"workflow", workflow.ExecutionFilter{WorkflowID: "wf-a"}, pick(0, 1, 3, 5, 6)},
		{"unknown workflow", workflow.ExecutionFilter{WorkflowID: "wf-none"}, pick()},
		{"deployment", workflow.ExecutionFilter{DeploymentID: a2.ID}, pick(3, 5, 6)},
		{"archived deployment", workflow.ExecutionFilter{DeploymentID: a1.ID}, pick(0, 1)},
		{"deployment in upper case", workflow.ExecutionFilter{DeploymentID: strings.ToUpper(b.ID)}, pick(2, 4)},
		{"unknown deployment", workflow.ExecutionFilter{DeploymentID: "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"}, pick()},
		{"non-UUID deployment", workflow.ExecutionFilter{DeploymentID: "not-a-uuid"}, pick()},
		{"one status", workflow.ExecutionFilter{Statuses: []workflow.ExecutionStatus{workflow.ExecutionRunning}}, pick(3)},
		{"statuses", workflow.ExecutionFilter{Statuses: []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionFailed}},
			pick(0, 1, 2, 4, 5)},
		{"status without rows", workflow.ExecutionFilter{Statuses: []workflow.ExecutionStatus{workflow.ExecutionTimedOut}}, pick()},
		{"trigger type", workflow.ExecutionFilter{TriggerType: workflow.TriggerCron}, pick(0, 3, 4)},
		{"from is inclusive", workflow.ExecutionFilter{From: at(2)}, pick(2, 3, 4, 5, 6)},
		{"to is exclusive", workflow.ExecutionFilter{To: at(2)}, pick(0, 1)},
		{"from and to", workflow.ExecutionFilter{From: at(1), To: at(4)}, pick(1, 2, 3)},
		{"from just after a row", workflow.ExecutionFilter{From: at(1).Add(time.Microsecond)}, pick(2, 3, 4, 5, 6)},
		{"to just after a row", workflow.ExecutionFilter{To: at(1).Add(time.Microsecond)}, pick(0, 1)},
		{"from in another zone", workflow.ExecutionFilter{From: at(5).In(time.FixedZone("UTC+3", 3*3600))}, pick(5, 6)},
		{"empty range", workflow.ExecutionFilter{From: at(3), To: at(3)}, pick()},
		{"workflow and deployment", workflow.ExecutionFilter{WorkflowID: "wf-a", DeploymentID: a1.ID}, pick(0, 1)},
		{"workflow and another's deployment", workflow.ExecutionFilter{WorkflowID: "wf-a", DeploymentID: b.ID}, pick()},
		{"deployment and trigger type", workflow.ExecutionFilter{DeploymentID: b.ID, TriggerType: workflow.TriggerCron}, pick(4)},
		{"workflow, statuses and range", workflow.ExecutionFilter{
			WorkflowID: "wf-a",
			Statuses:   []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionFailed},
			From:       at(1), To: at(6),
		}, pick(1, 5)},
		{"every filter", workflow.ExecutionFilter{
			WorkflowID: "wf-a", DeploymentID: a2.ID, TriggerType: workflow.TriggerWebhook,
			Statuses: []workflow.ExecutionStatus{workflow.ExecutionSucceeded}, From: at(0), To: at(7),
		}, pick(5)},
	} {
		page, err := s.ListExecutions(ctx, tc.f)
		require.NoError(t, err, tc.name)
		if diff := cmp.Diff(tc.want, idsOf(page.Executions)); diff != "" {
			t.Errorf("%s: ListExecutions(%+v) (-want +got):\n%s", tc.name, tc.f, diff)
		}
		require.Empty(t, page.Next, "%s: everything fits one page", tc.name)
	}

	// Rows come back whole.
	page, err := s.ListExecutions(ctx, workflow.ExecutionFilter{DeploymentID: b.ID, Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed}})
	require.NoError(t, err)
	require.Len(t, page.Executions, 1)
	if diff := cmp.Diff(mustGetExecution(t, s, ids[4]), &page.Executions[0]); diff != "" {
		t.Errorf("listed row against GetExecution (-want +got):\n%s", diff)
	}
}

func testListExecutionsPaging(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-pages", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-other", workflow.StatusDeployed))

	// Ties on fired time, some across a page boundary; a time off the
	// second checks that the cursor keeps the microseconds.
	fired := []time.Time{
		base, base.Add(time.Minute), base.Add(time.Minute), base.Add(time.Minute),
		base.Add(2*time.Minute + time.Microsecond), base.Add(3 * time.Minute), base.Add(3 * time.Minute),
	}
	var created []string
	for _, f := range fired {
		created = append(created, mustCreateExecution(t, s, execution(d, f, "", nil)))
		mustCreateExecution(t, s, execution(other, f, "", nil))
	}
	// How a store orders ties is its own choice, as long as it keeps to it:
	// the expected order is the one page of them all, newest fired first.
	all, err := s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: "wf-pages"})
	require.NoError(t, err, "a limit of zero is the default page size, which holds them all")
	require.Empty(t, all.Next)
	want := idsOf(all.Executions)
	require.ElementsMatch(t, created, want)
	require.True(t, slices.IsSortedFunc(all.Executions, func(a, b workflow.Execution) int { return b.FiredTime.Compare(a.FiredTime) }),
		"executions not newest fired first")

	for _, f := range []workflow.ExecutionFilter{{WorkflowID: "wf-pages"}, {DeploymentID: d.ID}} {
		for _, limit := range []int{1, 2, 3, 6, 7} {
			f.Limit = limit
			var got []string
			pages := 0
			for {
				page, err := s.ListExecutions(ctx, f)
				require.NoError(t, err)
				pages++
				require.LessOrEqual(t, len(page.Executions), limit)
				got = append(got, idsOf(page.Executions)...)
				if page.Next == "" {
					break
				}
				require.Len(t, page.Executions, limit, "only the last page is short")
				require.LessOrEqual(t, pages, len(want), "paging does not end")
				f.After = page.Next
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%+v: pages of %d (-want +got):\n%s", f, limit, diff)
			}
			require.Equal(t, (len(want)+limit-1)/limit, pages, "pages of %d", limit)
			f.After = ""
		}
	}

	// Both pages of a two-page listing, and a cursor stays valid when newer
	// executions arrive.
	first, err := s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: "wf-pages", Limit: 4})
	require.NoError(t, err)
	require.Equal(t, want[:4], idsOf(first.Executions))
	require.NotEmpty(t, first.Next)
	mustCreateExecution(t, s, execution(d, base.Add(time.Hour), "", nil))
	second, err := s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: "wf-pages", Limit: 4, After: first.Next})
	require.NoError(t, err)
	require.Equal(t, want[4:], idsOf(second.Executions))
	require.Empty(t, second.Next)

	// A page without a limit holds DefaultPageSize executions.
	for range workflow.DefaultPageSize {
		mustCreateExecution(t, s, execution(other, base.Add(time.Hour), "", nil))
	}
	page, err := s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: "wf-other"})
	require.NoError(t, err)
	require.Len(t, page.Executions, workflow.DefaultPageSize)
	require.NotEmpty(t, page.Next)
	page, err = s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: "wf-other", After: page.Next})
	require.NoError(t, err)
	require.Len(t, page.Executions, len(fired))
	require.Empty(t, page.Next)
}

func testListExecutionsBadCursor(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed))
	mustCreateExecution(t, s, execution(d, base, "", nil))
	for _, c := range badCursors() {
		if _, err := s.ListExecutions(ctx, workflow.ExecutionFilter{After: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListExecutions(After: %q) = %v, want ErrBadCursor", c, err)
		}
	}
}
