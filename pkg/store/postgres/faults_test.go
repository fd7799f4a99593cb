package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// inject makes every statement matching event on table (and when, if set)
// fail with "injected fault", through a row trigger in the test's own
// database.
func inject(t *testing.T, s *postgres.Store, event, table, when string) {
	t.Helper()
	ctx := context.Background()
	_, err := s.DB().ExecContext(ctx, `
CREATE OR REPLACE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'injected fault';
END $$`)
	require.NoError(t, err)
	if when != "" {
		when = "WHEN (" + when + ")"
	}
	_, err = s.DB().ExecContext(ctx, fmt.Sprintf(
		`CREATE TRIGGER inject_fault BEFORE %s ON %s FOR EACH ROW %s EXECUTE FUNCTION inject_fault()`, event, table, when))
	require.NoError(t, err)
}

func setStatus(status workflow.DeploymentStatus, action string) store.Mutation {
	return func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = status
		d.Version++
		return workflow.Event{Action: action}, nil
	}
}

// Every write of a deployment is one transaction: a failure at any of its
// statements, which PostgreSQL lets a test inject, leaves nothing behind.
func TestWritesAreAtomic(t *testing.T) {
	t.Parallel()
	hourly := workflow.Trigger{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "@hourly"}}
	hook := func(path string) workflow.Trigger {
		return workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{Path: path}}
	}
	create := func(s *postgres.Store) error {
		return s.CreateDeployment(context.Background(), newDeployment("wf-new", workflow.StatusDeployed, hourly, hook("/new")), workflow.Event{})
	}
	update := func(m store.Mutation) func(s *postgres.Store, id string) error {
		return func(s *postgres.Store, id string) error {
			_, err := s.UpdateDeployment(context.Background(), id, m)
			return err
		}
	}
	replaceTriggers := update(func(d *workflow.Deployment) (workflow.Event, error) {
		d.Triggers = []workflow.Trigger{d.Triggers[1], {Type: workflow.TriggerManual, Enabled: true}}
		return workflow.Event{Action: workflow.ActionUpdate}, nil
	})
	pause := update(setStatus(workflow.StatusPaused, workflow.ActionPause))

	for _, tc := range []struct {
		name               string
		event, table, when string
		create             func(s *postgres.Store) error
		update             func(s *postgres.Store, id string) error
	}{
		{name: "create: workflow", event: "INSERT", table: "workflows", create: create},
		{name: "create: deployment", event: "INSERT", table: "deployments", create: create},
		{name: "create: trigger", event: "INSERT", table: "deployment_triggers", create: create},
		{name: "create: event", event: "INSERT", table: "deployment_events", create: create},
		{name: "create: mirror", event: "UPDATE", table: "workflows", create: create},
		{name: "update: deployment", event: "UPDATE", table: "deployments", update: pause},
		{name: "update: delete triggers", event: "DELETE", table: "deployment_triggers", update: replaceTriggers},
		{name: "update: clear paths", event: "UPDATE", table: "deployment_triggers",
			when: "NEW.webhook_path IS NULL AND OLD.webhook_path IS NOT NULL", update: replaceTriggers},
		{name: "update: rewrite trigger", event: "UPDATE", table: "deployment_triggers",
			when: "NEW.position <> OLD.position", update: replaceTriggers},
		{name: "update: insert trigger", event: "INSERT", table: "deployment_triggers", update: replaceTriggers},
		{name: "update: triggers' active flag", event: "UPDATE", table: "deployment_triggers",
			when: "NEW.active <> OLD.active", update: update(setStatus(workflow.StatusArchived, workflow.ActionArchive))},
		{name: "update: event", event: "INSERT", table: "deployment_events", update: pause},
		{name: "update: mirror", event: "UPDATE", table: "workflows", update: pause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := pgtest.NewStore(t)
			d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed, hourly, hook("/one")))
			before, err := s.GetDeployment(ctx, d.ID)
			require.NoError(t, err)
			inject(t, s, tc.event, tc.table, tc.when)

			if tc.create != nil {
				err = tc.create(s)
			} else {
				err = tc.update(s, d.ID)
			}
			require.ErrorContains(t, err, "injected fault")

			after, err := s.GetDeployment(ctx, d.ID)
			require.NoError(t, err)
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("deployment after the failed write (-want +got):\n%s", diff)
			}
			for table, want := range map[string]int{"workflows": 1, "deployments": 1, "deployment_triggers": 2,
				"deployment_events": 1, "workflows WHERE deployment_status = 'DEPLOYED'": 1} {
				var n int
				require.NoError(t, s.DB().GetContext(ctx, &n, "SELECT count(*) FROM "+table))
				require.Equal(t, want, n, "rows in %s after the failed write", table)
			}
		})
	}
}
