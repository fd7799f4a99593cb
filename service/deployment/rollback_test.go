package deployment

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// bothStores opens a migrated store of each kind.
func bothStores(t *testing.T) map[string]store.Store {
	t.Helper()
	lite, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wfr.db"))
	require.NoError(t, err)
	t.Cleanup(func() { lite.Close() })
	return map[string]store.Store{"postgres": pgtest.NewStore(t), "sqlite": lite}
}

// versionsOf is every version the store keeps of the deployments in s.
func versionsOf(t *testing.T, st store.Store, s dbState) map[string][]workflow.DeploymentVersion {
	t.Helper()
	out := map[string][]workflow.DeploymentVersion{}
	for _, d := range s.Deployments {
		page, err := st.ListDeploymentVersions(context.Background(), workflow.VersionFilter{DeploymentID: d.ID, Limit: workflow.MaxPageSize}, pageBudget)
		require.NoError(t, err)
		out[d.ID] = page.Versions
	}
	return out
}

// TestRollbackErrors: each refused rollback gets its code, names what is
// wrong, and writes nothing: no deployment, trigger, event or version.
func TestRollbackErrors(t *testing.T) { //nolint:tparallel // the cases run one at a time: each compares the whole database before and after its call
	t.Parallel()
	for name, st := range bothStores(t) {
		t.Run(name, func(t *testing.T) { //nolint:paralleltest // the cases compare the whole database before and after each call
			svc := New(st, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }})
			// v1 owns rb/one; v2 dropped it, and another deployment took it.
			d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-rb", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
				Triggers: []workflow.Trigger{webhookTrigger("rb/one", "whsec-one")}})
			d = mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Triggers: []workflow.Trigger{cronTrigger("@hourly")}})
			thief := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-thief", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
				Triggers: []workflow.Trigger{webhookTrigger("RB/one")}})
			archived := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-rb-archived", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`))})
			archived = mustUpdate(t, svc, UpdateRequest{DeploymentID: archived.ID, Triggers: []workflow.Trigger{cronTrigger("@daily")}})
			_, err := svc.Delete(context.Background(), DeleteRequest{DeploymentID: archived.ID})
			require.NoError(t, err)

			rollback := func(req RollbackRequest) func(ctx context.Context) error {
				return func(ctx context.Context) error {
					_, err := svc.Rollback(ctx, req)
					return err
				}
			}
			cases := []errorCase{
				{name: "no such version", call: rollback(RollbackRequest{DeploymentID: d.ID, ToVersion: 9, ExpectedVersion: 2}),
					kind: errors.NotFound, msg: []string{"has no version 9"}},
				{name: "current version", call: rollback(RollbackRequest{DeploymentID: d.ID, ToVersion: 2, ExpectedVersion: 2}),
					kind: errors.FailedPrecondition, msg: []string{"version 2 is deployment " + d.ID + "'s current version"}},
				{name: "stale expected version", call: rollback(RollbackRequest{DeploymentID: d.ID, ToVersion: 1, ExpectedVersion: 1}),
					kind: errors.Aborted, msg: []string{"is at version 2, not the expected 1"}},
				{name: "webhook path taken", call: rollback(RollbackRequest{DeploymentID: d.ID, ToVersion: 1, ExpectedVersion: 2}),
					kind: errors.AlreadyExists, msg: []string{`"rb/one"`, thief.ID}},
				{name: "archived", call: rollback(RollbackRequest{DeploymentID: archived.ID, ToVersion: 1, ExpectedVersion: 3}),
					kind: errors.FailedPrecondition, msg: []string{"ARCHIVED"}},
				{name: "unknown deployment", call: rollback(RollbackRequest{DeploymentID: uuid.NewString(), ToVersion: 1, ExpectedVersion: 2}),
					kind: errors.NotFound},
				{name: "missing fields", call: rollback(RollbackRequest{DeploymentID: "nope"}),
					kind: errors.Invalid, fields: []string{"deployment_id", "expected_version", "to_version"}},
			}
			for _, tc := range cases {
				before := snapshot(t, st)
				beforeVersions := versionsOf(t, st, before)
				t.Run(tc.name, func(t *testing.T) {
					runErrorCases(t, st, []errorCase{tc})
					if diff := cmp.Diff(beforeVersions, versionsOf(t, st, before)); diff != "" {
						t.Errorf("the failed call wrote a version (-before +after):\n%s", diff)
					}
				})
			}
		})
	}
}

// TestRollback: a rollback writes a new version with the old definition,
// config and triggers; a webhook path both versions have keeps its current
// (rotated) secrets, a path only the old one had comes back with its old
// secrets, and a ROLLBACK event names the caller and the version restored.
func TestRollback(t *testing.T) {
	t.Parallel()
	for name, st := range bothStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := New(st, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }})
			ctx := context.Background()
			v1def := workflowDef(t, triggerNode("m", "MANUAL", `{}`))
			d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-rollback", Definition: v1def,
				Triggers: []workflow.Trigger{webhookTrigger("kept/path", "whsec-old"), webhookTrigger("dropped/path", "whsec-dropped")},
				Config:   workflow.Config{OverlapPolicy: workflow.OverlapAllowAll}})
			mustUpdate(t, svc, UpdateRequest{DeploymentID: d.ID, Definition: workflowDef(t, triggerNode("m2", "MANUAL", `{}`)),
				Triggers: []workflow.Trigger{webhookTrigger("kept/path", "whsec-rotated"), cronTrigger("@hourly")},
				Config:   &workflow.Config{OverlapPolicy: workflow.OverlapSkip}})

			admin := auth.WithCaller(ctx, auth.Identity{Name: "alice", Role: auth.RoleAdmin})
			got, err := svc.Rollback(admin, RollbackRequest{DeploymentID: d.ID, ToVersion: 1, ExpectedVersion: 2})
			require.NoError(t, err)
			require.EqualValues(t, 3, got.Version)
			require.Equal(t, workflow.StatusDeployed, got.Status)

			stored := mustGet(t, st, d.ID)
			require.EqualValues(t, 3, stored.Version)
			var gotDef map[string]any
			require.NoError(t, json.Unmarshal(stored.Definition, &gotDef))
			require.Equal(t, v1def, gotDef)
			require.Equal(t, workflow.OverlapAllowAll, stored.Config.OverlapPolicy)
			if diff := cmp.Diff([]workflow.Trigger{storedWebhook("kept/path", "whsec-rotated"), storedWebhook("dropped/path", "whsec-dropped")},
				stored.Triggers, ignoreTriggerIDs); diff != "" {
				t.Errorf("triggers after the rollback (-want +got):\n%s", diff)
			}
			v3, err := st.GetDeploymentVersion(ctx, d.ID, 3)
			require.NoError(t, err)
			require.True(t, v3.TriggersKept)
			require.Len(t, v3.Triggers, 2)

			evs := mustEvents(t, st, d.ID)
			last := evs[len(evs)-1]
			if diff := cmp.Diff(workflow.Event{DeploymentID: d.ID, WorkflowID: "wf-rollback", Action: workflow.ActionRollback,
				FromStatus: workflow.StatusDeployed, ToStatus: workflow.StatusDeployed, FromVersion: 2, Version: 3,
				Actor: "alice", Reason: "rolled back to version 1"}, last, ignoreEventIDs); diff != "" {
				t.Errorf("rollback event (-want +got):\n%s", diff)
			}

			hooks, err := st.ListWebhookTriggers(ctx, d.ID)
			require.NoError(t, err)
			require.Len(t, hooks, 2, "both paths are indexed again")
		})
	}
}
