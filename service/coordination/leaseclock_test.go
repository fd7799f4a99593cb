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

// heldEngine takes every Execute and answers it only when the run stops.
type heldEngine struct{ engine.Client }

func (heldEngine) Execute(ctx context.Context, _ engine.ExecuteRequest) (engine.Accepted, error) {
	<-ctx.Done()
	return engine.Accepted{}, ctx.Err()
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
			c := New(st, heldEngine{}, nil, Options{InstanceID: "owner", Lease: lease})
			t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
			e := &workflow.Execution{WorkflowID: d.WorkflowID, TriggerType: workflow.TriggerManual, FiredTime: time.Now().UTC()}
			created, err := c.CreateExecution(ctx, e)
			require.NoError(t, err)
			require.True(t, created)

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
