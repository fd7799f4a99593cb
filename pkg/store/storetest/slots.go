package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var slotCases = []testCase{
	{"RecordMissedSlots keeps one row per run", testRecordMissedSlots},
	{"RecordMissedSlots refuses a bad run and writes nothing", testRecordMissedSlotsInvalid},
	{"ListSlotExecutions and CountSlotRuns", testSlotExecutions},
}

func testRecordMissedSlots(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-miss", workflow.StatusDeployed, cronTrigger("* * * * * *")))
	tid := d.Triggers[0].ID
	run := func(from, to time.Time, n int64, reason workflow.MissReason) workflow.MissedSlots {
		return workflow.MissedSlots{TriggerID: tid, DeploymentID: d.ID, From: from, To: to, Count: n, Reason: reason, RecordedAt: base}
	}
	// A gap of a million one-second slots is one row.
	million := run(base, base.Add(999_999*time.Second), 1_000_000, workflow.MissedOutsideCatchupWindow)
	require.NoError(t, s.RecordMissedSlots(ctx, million))
	// Two replicas record the same outage from its first slot: the longer
	// record stays, whichever comes first.
	later := base.Add(2_000_000 * time.Second)
	short := run(later, later.Add(9*time.Second), 10, workflow.MissedReplicaDown)
	long := run(later, later.Add(19*time.Second), 20, workflow.MissedOutsideCatchupWindow)
	require.NoError(t, s.RecordMissedSlots(ctx, long))
	require.NoError(t, s.RecordMissedSlots(ctx, short))
	got, err := s.ListMissedSlots(ctx, tid, base, later.Add(time.Hour))
	require.NoError(t, err)
	if diff := cmp.Diff([]workflow.MissedSlots{million, long}, got); diff != "" {
		t.Errorf("missed runs mismatch (-want +got):\n%s", diff)
	}
	// A range overlapping a run's end finds it; one after it does not.
	got, err = s.ListMissedSlots(ctx, tid, base.Add(999_999*time.Second), base.Add(1_000_000*time.Second))
	require.NoError(t, err)
	require.Len(t, got, 1)
	got, err = s.ListMissedSlots(ctx, tid, base.Add(1_000_000*time.Second), later)
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = s.ListMissedSlots(ctx, "not-a-uuid", base, later)
	require.NoError(t, err)
	require.Empty(t, got)

	n, err := s.CountMissedSlots(ctx, base, base.Add(time.Microsecond))
	require.NoError(t, err)
	require.Equal(t, int64(1_000_020), n, "every slot of the runs recorded at base")
	n, err = s.CountMissedSlots(ctx, base.Add(time.Microsecond), later)
	require.NoError(t, err)
	require.Zero(t, n, "by the time a run was recorded")

	owner, err := s.CronTriggerDeployment(ctx, tid)
	require.NoError(t, err)
	require.Equal(t, d.ID, owner)
	for _, id := range []string{"not-a-uuid", d.ID} {
		_, err = s.CronTriggerDeployment(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "trigger %s", id)
	}
}

func testRecordMissedSlotsInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-miss-bad", workflow.StatusDeployed, cronTrigger("* * * * *")))
	good := workflow.MissedSlots{TriggerID: d.Triggers[0].ID, DeploymentID: d.ID, From: base, To: base.Add(time.Minute),
		Count: 2, Reason: workflow.MissedPaused, RecordedAt: base}
	for _, tc := range []struct {
		name  string
		edit  func(m *workflow.MissedSlots)
		field string
	}{
		{"no slots", func(m *workflow.MissedSlots) { m.Count = 0 }, "count"},
		{"end before start", func(m *workflow.MissedSlots) { m.To = base.Add(-time.Minute) }, "to"},
		{"unknown reason", func(m *workflow.MissedSlots) { m.Reason = "LOST" }, "reason"},
		{"trigger not a UUID", func(m *workflow.MissedSlots) { m.TriggerID = "t1" }, "trigger_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good
			tc.edit(&m)
			err := s.RecordMissedSlots(ctx, m)
			require.Equal(t, errors.Invalid, errors.KindOf(err), "%v", err)
			require.ErrorContains(t, err, tc.field+": ")
		})
	}
	unknown := good
	unknown.DeploymentID = "00000000-0000-0000-0000-000000000001"
	require.Error(t, s.RecordMissedSlots(ctx, unknown), "a run of an unknown deployment")
	got, err := s.ListMissedSlots(ctx, good.TriggerID, base.Add(-time.Hour), base.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, got, "a refused run is not written")
}

func testSlotExecutions(t *testing.T, s Store) {
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf-slots", workflow.StatusDeployed, cronTrigger("* * * * *")))
	tid := d.Triggers[0].ID
	var want []workflow.SlotExecution
	for i, status := range []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionSkipped, workflow.ExecutionPending} {
		slot := base.Add(time.Duration(i) * time.Minute)
		e := execution(d, slot.Add(1500*time.Millisecond), "", nil)
		e.TriggerType, e.TriggerID, e.ScheduledTime, e.JitterSeconds = workflow.TriggerCron, tid, &slot, 1
		mustCreateExecution(t, s, e)
		if status != workflow.ExecutionPending {
			finish(t, s, e.ID, status)
		}
		want = append(want, workflow.SlotExecution{Slot: slot, FiredTime: e.FiredTime, JitterSeconds: 1, Status: status})
	}
	got, err := s.ListSlotExecutions(ctx, tid, base, base.Add(3*time.Minute))
	require.NoError(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slot executions mismatch (-want +got):\n%s", diff)
	}
	got, err = s.ListSlotExecutions(ctx, tid, base.Add(time.Minute), base.Add(2*time.Minute))
	require.NoError(t, err)
	require.Len(t, got, 1, "the range is half-open")
	for before, want := range map[time.Duration]int64{0: 0, time.Minute: 1, 2 * time.Minute: 1, time.Hour: 2} {
		n, err := s.CountSlotRuns(ctx, tid, base.Add(before))
		require.NoError(t, err)
		require.Equal(t, want, n, "runs before base+%s: a SKIPPED slot did not run", before)
	}
}

var _ store.SlotStore = Store(nil)
