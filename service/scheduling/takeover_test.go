package scheduling

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// catchUpStore is what TestCatchUpTakenOver needs of either store.
type catchUpStore interface {
	store.Store
	store.SlotStore
	store.CatchUpStore
}

// TestCatchUpTakenOver: on either store, a replica comes back after a
// ten-minute outage of every replica and plans the catch-up of an
// every-minute trigger under the ALL policy; it fires two of the slots
// inside the window and dies. A second replica, back a few seconds later,
// does not plan the same slots again; once the first one's lease has run
// out on the database's clock it takes the plan over and fires the rest.
// Every slot of the outage ends in exactly one outcome: ran once, or one
// MISSED run, OUTSIDE_CATCHUP_WINDOW, for those older than the window; and
// the finished plan is pruned.
func TestCatchUpTakenOver(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	for name, open := range map[string]func(t *testing.T) catchUpStore{
		"postgres": func(t *testing.T) catchUpStore { return pgtest.NewStore(t) },
		"sqlite": func(t *testing.T) catchUpStore {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wfr.db"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testCatchUpTakenOver(t, open(t))
		})
	}
}

func testCatchUpTakenOver(t *testing.T, st catchUpStore) {
	ctx := context.Background()
	deployedAt := time.Now().UTC()
	noJitter := int32(0)
	d := &workflow.Deployment{
		WorkflowID: "wf-takeover", Status: workflow.StatusDeployed, Version: 1, Definition: []byte(`{"nodes": []}`),
		Config: workflow.Config{CatchupWindowSeconds: 300}, DeployedAt: &deployedAt,
		Triggers: []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{
			Expression: "* * * * *", CatchupPolicy: workflow.CatchupAll, JitterWindowSeconds: &noJitter}}},
	}
	require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	tid := d.Triggers[0].ID
	cts, err := st.ListCronTriggers(ctx, d.ID)
	require.NoError(t, err)
	since := cts[0].ScheduledSince

	// Every replica was down since the deployment; the first comes back
	// ten minutes or more later, half-way between two slots, so that no
	// live fire comes while its catch-up is under way.
	back := since.Truncate(time.Minute).Add(10*time.Minute + 30*time.Second)
	if back.Sub(since) < 10*time.Minute {
		back = back.Add(time.Minute)
	}
	start := func(at time.Time, id string) *simReplica {
		r := &simReplica{clock: &atomic.Int64{}}
		r.clock.Store(at.UnixNano())
		now := func() time.Time { return time.Unix(0, r.clock.Load()) }
		r.q = &manualQuartz{clock: r.clock, jobs: newJobQueue()}
		rec := &Recorder{Store: st, Now: now}
		r.s = New(st, rec.Record, Options{Now: now, quartz: r.q, Slots: st, CatchUps: st, InstanceID: id,
			CatchupLease: 100 * time.Millisecond, ResyncInterval: time.Hour})
		require.NoError(t, r.s.Start(ctx))
		t.Cleanup(func() { _ = r.s.Stop(ctx) })
		return r
	}
	a := start(back, "a")
	// Its catch-up fires one a second from now on: two of them, then it dies.
	a.q.advance(t, back.Add(2*time.Second+500*time.Millisecond))
	require.NoError(t, a.s.Stop(ctx))
	ran := func() map[time.Time]int {
		runs, err := st.ListSlotExecutions(ctx, tid, since, back.Add(time.Hour))
		require.NoError(t, err)
		out := map[time.Time]int{}
		for _, e := range runs {
			out[e.Slot.UTC()]++
		}
		return out
	}
	require.Len(t, ran(), 2, "precondition: the first replica fired two slots before it died")

	// The second comes back three seconds later: the plan is the first's,
	// and it takes it over once the lease ran out.
	b := start(back.Add(3*time.Second), "b")
	require.Eventually(t, func() bool {
		b.s.TakeOverCatchUps(ctx)
		_, err := b.q.jobs.Get(catchupKey(tid))
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the second replica takes the catch-up over")
	b.q.advance(t, back.Add(time.Minute))
	require.NoError(t, b.s.Stop(ctx))

	missed, err := st.ListMissedSlots(ctx, tid, since, back.Add(time.Hour))
	require.NoError(t, err)
	runs := ran()
	var inside, outside int
	for slot := since.Truncate(time.Minute).Add(time.Minute); !slot.After(back.Add(time.Minute)); slot = slot.Add(time.Minute) {
		var reasons []workflow.MissReason
		for _, m := range missed {
			if !slot.Before(m.From) && !slot.After(m.To) {
				reasons = append(reasons, m.Reason)
			}
		}
		if back.Sub(slot) > 5*time.Minute {
			outside++
			require.Zero(t, runs[slot], "slot %s is older than the window", slot)
			require.Equal(t, []workflow.MissReason{workflow.MissedOutsideCatchupWindow}, reasons, "slot %s", slot)
			continue
		}
		inside++
		require.Equal(t, 1, runs[slot], "slot %s ran once", slot)
		require.Empty(t, reasons, "slot %s ran, and is not missed", slot)
	}
	require.GreaterOrEqual(t, inside, 5, "precondition: slots inside the window")
	require.GreaterOrEqual(t, outside, 4, "precondition: slots older than the window")

	// The finished plan goes at the first prune after its retention.
	n, err := st.PruneCatchUps(ctx, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the one plan, finished")
	_, err = st.ClaimCatchUp(ctx, "c", time.Minute)
	require.ErrorIs(t, err, store.ErrNotFound)
}
