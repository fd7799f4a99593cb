package coordination

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// recordStatusWrites makes the rig's database record every write of an
// execution's status, in order, by a trigger of its own, and returns the
// statuses written to execution id so far.
func (r *rig) recordStatusWrites() func(id string) []string {
	r.t.Helper()
	_, err := r.st.DB().Exec(`
CREATE TABLE status_writes (seq BIGSERIAL PRIMARY KEY, id UUID NOT NULL, status TEXT NOT NULL);
CREATE FUNCTION record_status_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO status_writes (id, status) VALUES (NEW.id, NEW.status);
	RETURN NEW;
END $$;
CREATE TRIGGER record_status_write AFTER UPDATE OF status ON executions
	FOR EACH ROW EXECUTE FUNCTION record_status_write();`)
	require.NoError(r.t, err)
	return func(id string) []string {
		var got []string
		require.NoError(r.t, r.st.DB().Select(&got, `SELECT status FROM status_writes WHERE id = $1 ORDER BY seq`, id))
		return got
	}
}

// TestShortExecutionIsWrittenOnceAtItsEnd: an execution the engine ends
// before the run's first status check is written once after its insert,
// with the engine's run and times; one still running then is written
// RUNNING first.
func TestShortExecutionIsWrittenOnceAtItsEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		duration time.Duration
		want     []string
	}{
		{"ended by the first check", time.Millisecond, []string{"SUCCEEDED"}},
		{"running at the first check", 300 * time.Millisecond, []string{"RUNNING", "SUCCEEDED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, enginesim.Config{MinDuration: tc.duration, MaxDuration: tc.duration})
			writes := r.recordStatusWrites()
			c := r.coordinator("a")
			e := r.trigger(c, r.deploy(workflow.Config{}))

			done := r.waitStatus(e.ID, workflow.ExecutionSucceeded)
			require.Equal(t, tc.want, writes(e.ID))
			require.NotEmpty(t, done.EngineExecutionID)
			require.NotNil(t, done.StartedTime)
			require.NotNil(t, done.FinishedTime)
			require.Equal(t, 1, r.calls(e.ID))
		})
	}
}

// TestStopRecordsAStartItPutOff: a replica that stops before its first status
// check of a running execution records RUNNING with the engine's run, so
// that the replica that adopts it follows that run rather than dispatching
// again.
func TestStopRecordsAStartItPutOff(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{MinDuration: time.Second, MaxDuration: time.Second})
	writes := r.recordStatusWrites()
	o := testOptions("a")
	o.PollMin, o.PollMax = time.Minute, time.Minute
	a := withSignals(New(r.st, r.engine, r.locks, o))
	require.NoError(t, a.Start(context.Background()))
	e := r.trigger(a, r.deploy(workflow.Config{}))
	require.Eventually(t, func() bool { return r.calls(e.ID) == 1 }, 10*time.Second, 5*time.Millisecond, "never dispatched")
	// The acceptance is put off: the row stays PENDING until the first check.
	require.Equal(t, workflow.ExecutionPending, r.get(e.ID).Status)
	require.Empty(t, writes(e.ID))

	require.NoError(t, a.Stop(context.Background()))
	row := r.get(e.ID)
	require.Equal(t, workflow.ExecutionRunning, row.Status)
	require.NotEmpty(t, row.EngineExecutionID)
	require.False(t, row.LeaseExpiresAt.After(time.Now()), "lease released")

	r.coordinator("b")
	done := r.waitStatus(e.ID, workflow.ExecutionSucceeded)
	require.Equal(t, "b", done.OwnerInstance)
	require.Equal(t, row.EngineExecutionID, done.EngineExecutionID)
	require.Equal(t, 1, r.calls(e.ID), "the adopter followed the engine run without dispatching again")
	require.Equal(t, []string{"RUNNING", "SUCCEEDED"}, writes(e.ID))
}
