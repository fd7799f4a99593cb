package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

func deploy(t testing.TB, s *sqlite.Store, workflowID string) *workflow.Deployment {
	t.Helper()
	d := &workflow.Deployment{WorkflowID: workflowID, Status: workflow.StatusDeployed, Version: 1,
		Definition: []byte(`{"name": "w"}`), Triggers: []workflow.Trigger{{Type: workflow.TriggerManual, Enabled: true}}}
	require.NoError(t, s.CreateDeployment(context.Background(), d, workflow.Event{Action: workflow.ActionDeploy}))
	return d
}

// TestOpenCreatesAndReopens checks that Open makes the missing directories
// and the file, and that a second Open of the file finds the rows of the
// first, the migrations already applied.
func TestOpenCreatesAndReopens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a", "b", "wfr.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Ping(ctx))
	d := deploy(t, s, "wf-persist")
	require.NoError(t, s.Close())
	_, err = os.Stat(path)
	require.NoError(t, err)

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	got, err := s.GetDeployment(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.WorkflowID, got.WorkflowID)
	require.Equal(t, d.CreatedAt, got.CreatedAt)
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	notDB := filepath.Join(dir, "not-a-database")
	require.NoError(t, os.WriteFile(notDB, []byte("this is not an SQLite file, and it is long enough to tell: "+
		"SQLite reads a 100-byte header first"), 0o600))
	for name, path := range map[string]string{
		"empty path":             "",
		"question mark":          filepath.Join(dir, "a?b.db"),
		"directory under a file": filepath.Join(file, "wfr.db"),
		"not a database":         notDB,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlite.Open(context.Background(), path)
			require.Error(t, err)
			require.Nil(t, s)
		})
	}
}

// TestConcurrentWriters writes from many goroutines at once, through one
// store and through a second store on the same file (a second process, as
// far as SQLite can tell): no write fails with SQLITE_BUSY, and every one
// lands.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wfr.db")
	a := open(t, path)
	b := open(t, path)
	d := deploy(t, a, "wf-busy")

	const writers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		s := []*sqlite.Store{a, b}[w%2]
		wg.Go(func() {
			for range each {
				e := &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
					TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: time.Now(),
					OwnerInstance: "r"}
				created, err := s.CreateExecution(ctx, e)
				if err == nil && !created {
					err = errors.New("not created")
				}
				if err == nil {
					_, err = s.TransitionExecution(ctx, e.ID, store.Transition{
						From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning, Owner: "r"})
				}
				if err == nil {
					_, err = s.RenewLeases(ctx, "r", []string{e.ID}, time.Minute)
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	counts, err := b.UnfinishedByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 0, workflow.ExecutionRunning: writers * each}, counts)
}

// TestSchemaRefusesWhatPostgreSQLRefuses checks the CHECK constraints that
// stand in for PostgreSQL's types: a bad value fails the write, which
// leaves nothing behind.
func TestSchemaRefusesWhatPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "wfr.db"))
	for name, tc := range map[string]struct {
		d    *workflow.Deployment
		want string
	}{
		"unknown status":      {&workflow.Deployment{WorkflowID: "wf-1", Status: "LIVE", Definition: []byte(`{}`)}, "deployments_status_check"},
		"definition not JSON": {&workflow.Deployment{WorkflowID: "wf-1", Status: workflow.StatusDraft, Definition: []byte(`{`)}, "upsert workflow"},
	} {
		err := s.CreateDeployment(ctx, tc.d, workflow.Event{Action: workflow.ActionDeploy})
		require.ErrorContains(t, err, "sqlite: create deployment: ", name)
		require.ErrorContains(t, err, tc.want, name)
		require.Empty(t, tc.d.ID, name)
	}
	_, err := s.GetActiveDeployment(ctx, "wf-1")
	require.ErrorIs(t, err, store.ErrNotFound)

	d := deploy(t, s, "wf-2")
	_, err = s.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = "LIVE"
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	require.ErrorContains(t, err, "sqlite: update deployment: ")
	e := &workflow.Execution{WorkflowID: d.WorkflowID, TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending,
		FiredTime: time.Now(), OwnerInstance: "r"}
	created, err := s.CreateExecution(ctx, e)
	require.NoError(t, err)
	require.True(t, created)
	_, err = s.TransitionExecution(ctx, e.ID, store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending},
		To: workflow.ExecutionSucceeded, Result: []byte(`{"unterminated`)})
	require.ErrorContains(t, err, "sqlite: transition execution: ")
	got, err := s.GetExecution(ctx, e.ID)
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionPending, got.Status)
	require.Equal(t, d.Triggers[0].ID, got.TriggerID, "the MANUAL execution goes to the first MANUAL trigger")
}

// TestFailedCalls checks that every method reports a failed call, here one
// with a cancelled context, as an error naming the store and keeping its cause.
func TestFailedCalls(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "wfr.db"))
	d := deploy(t, s, "wf-1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := d.ID
	checks := map[string]error{}
	checks["CreateDeployment"] = s.CreateDeployment(ctx, &workflow.Deployment{WorkflowID: "wf-2", Status: workflow.StatusDraft,
		Definition: []byte(`{}`)}, workflow.Event{})
	_, checks["UpdateDeployment"] = s.UpdateDeployment(ctx, id, func(*workflow.Deployment) (workflow.Event, error) { return workflow.Event{}, nil })
	_, checks["GetDeployment"] = s.GetDeployment(ctx, id)
	_, checks["GetActiveDeployment"] = s.GetActiveDeployment(ctx, "wf-1")
	_, checks["ListDeployments"] = s.ListDeployments(ctx, workflow.ListFilter{})
	_, checks["ListEvents"] = s.ListEvents(ctx, id)
	_, checks["LastExecution"] = s.LastExecution(ctx, id)
	_, checks["CountUnfinishedExecutions"] = s.CountUnfinishedExecutions(ctx, id)
	_, checks["ListCronTriggers"] = s.ListCronTriggers(ctx, "")
	_, checks["ListWebhookTriggers"] = s.ListWebhookTriggers(ctx, "")
	_, checks["ExpireIdempotencyKey"] = s.ExpireIdempotencyKey(ctx, id, time.Now())
	_, checks["CreateExecution"] = s.CreateExecution(ctx, &workflow.Execution{WorkflowID: "wf-1"})
	_, checks["FindExecutionByKey"] = s.FindExecutionByKey(ctx, "wf-1", "k")
	_, checks["TransitionExecution"] = s.TransitionExecution(ctx, id, store.Transition{})
	_, checks["TakeTurn"] = s.TakeTurn(ctx, id, "r")
	_, checks["ListUnfinishedExecutions"] = s.ListUnfinishedExecutions(ctx, "wf-1")
	_, checks["RenewLeases"] = s.RenewLeases(ctx, "r", []string{id}, time.Minute)
	_, checks["AdoptExecutions"] = s.AdoptExecutions(ctx, "r", time.Minute, 1)
	checks["ReleaseLeases"] = s.ReleaseLeases(ctx, "r", []string{id})
	_, checks["GetExecution"] = s.GetExecution(ctx, id)
	_, checks["ListExecutions"] = s.ListExecutions(ctx, workflow.ExecutionFilter{})
	_, checks["UnfinishedByStatus"] = s.UnfinishedByStatus(ctx)
	_, checks["DeploymentStats"] = s.DeploymentStats(ctx, time.Time{})
	_, checks["CronFireStats"] = s.CronFireStats(ctx, time.Time{}, time.Now())
	checks["Ping"] = s.Ping(ctx)
	for name, err := range checks {
		require.ErrorIs(t, err, context.Canceled, name)
		require.ErrorContains(t, err, "sqlite: ", name)
	}

	_, err := s.AdoptExecutions(context.Background(), "r", time.Minute, -1)
	require.ErrorContains(t, err, "negative limit")
}
