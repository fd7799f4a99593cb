package coordination

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// heldEngine takes every Execute, says so on arrived, and answers it only
// when the run stops or the test closes released.
type heldEngine struct {
	engine.Client
	arrived, released chan struct{}
}

func (h heldEngine) Execute(ctx context.Context, _ engine.ExecuteRequest) (engine.Accepted, error) {
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	select {
	case <-ctx.Done():
		return engine.Accepted{}, ctx.Err()
	case <-h.released:
		return engine.Accepted{}, context.Canceled
	}
}

// TestLeasesRunOnTheDatabaseClock: with a replica's clock a minute ahead of
// the database's or a minute behind, the execution it creates is not
// adopted while its lease runs, and is adopted once the database's clock is
// one lease on. The database's clock is moved instead of waited for.
func TestLeasesRunOnTheDatabaseClock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// skew is the replica's clock minus the database's.
		skew time.Duration
	}{
		{"replica a minute ahead", time.Minute},
		{"replica a minute behind", -time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, clock := pgtest.NewStoreWithClock(t)
			clock.Set(t, -tc.skew)
			d := &workflow.Deployment{
				WorkflowID: "wf-clock", Status: workflow.StatusDeployed, Version: 1,
				Definition: []byte(`{"nodes":[{"id":"a","name":"A","type":"ACTION"}]}`),
				Triggers:   []workflow.Trigger{{Type: workflow.TriggerManual, Enabled: true}},
			}
			require.NoError(t, st.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))

			// Never started, the replica renews nothing: it lives for the
			// first check and is dead for the others.
			const lease = 30 * time.Second
			held := heldEngine{arrived: make(chan struct{}, 1), released: make(chan struct{})}
			c := New(st, held, nil, Options{InstanceID: "owner", Lease: lease})
			t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
			// Before the stop, which waits for the run: a coordinator never
			// started has no context of its own to end the engine call.
			t.Cleanup(func() { close(held.released) })
			e := &workflow.Execution{WorkflowID: d.WorkflowID, TriggerType: workflow.TriggerManual, FiredTime: time.Now().UTC()}
			created, err := c.CreateExecution(ctx, e)
			require.NoError(t, err)
			require.True(t, created)
			// The run's writes before its dispatch take leases on the
			// database's clock as it is then: the clock moves after them.
			select {
			case <-held.arrived:
			case <-time.After(15 * time.Second):
				t.Fatal("the run never reached the engine")
			}

			adopt := func() []string {
				t.Helper()
				got, err := st.AdoptExecutions(ctx, "heir", lease, 10)
				require.NoError(t, err)
				var ids []string
				for _, x := range got {
					ids = append(ids, x.ID)
				}
				return ids
			}
			require.Empty(t, adopt(), "adopted from a live replica")
			clock.Set(t, -tc.skew+lease-10*time.Second)
			require.Empty(t, adopt(), "adopted before its lease ran out")
			clock.Set(t, -tc.skew+lease+time.Second)
			require.Equal(t, []string{e.ID}, adopt(), "not adopted once its lease ran out")
		})
	}
}
