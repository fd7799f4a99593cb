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
