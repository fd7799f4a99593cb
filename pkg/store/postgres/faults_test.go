package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// Every write is one transaction: a failure at any step leaves nothing behind.
func TestWritesAreAtomic(t *testing.T) {
	t.Parallel()

	create := func(s *postgres.Store) error {
		return s.CreateDeployment(context.Background(),
			newDeployment("wf-new", workflow.StatusDeployed, cronTrigger("@daily"), webhookTrigger("/new")), deployEvent())
	}
	update := func(m store.Mutation) func(s *postgres.Store, id string) error {
		return func(s *postgres.Store, id string) error {
			_, err := s.UpdateDeployment(context.Background(), id, m)
			return err
		}
	}
	replaceTriggers := update(func(d *workflow.Deployment) (workflow.Event, error) {
		d.Triggers = []workflow.Trigger{d.Triggers[1], manualTrigger()}
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
			d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed, cronTrigger("@hourly"), webhookTrigger("/one")))
			before, err := s.GetDeployment(ctx, d.ID)
			require.NoError(t, err)
			inject(t, s, tc.event, tc.table, tc.when)

			if tc.create != nil {
				err = tc.create(s)
			} else {
				err = tc.update(s, d.ID)
			}
			if err == nil || !strings.HasPrefix(err.Error(), "postgres: ") || !strings.Contains(err.Error(), "injected fault") {
				t.Fatalf("write with an injected fault: %v, want a wrapped injected fault", err)
			}

			after, err := s.GetDeployment(ctx, d.ID)
			require.NoError(t, err)
			if diff := cmp.Diff(before, after, jsonEqual); diff != "" {
				t.Errorf("deployment after the failed write (-want +got):\n%s", diff)
			}
			for table, want := range map[string]int{"workflows": 1, "deployments": 1, "deployment_triggers": 2, "deployment_events": 1} {
				var n int
				require.NoError(t, s.DB().GetContext(ctx, &n, "SELECT count(*) FROM "+table))
				if n != want {
					t.Errorf("%d rows in %s after the failed write, want %d", n, table, want)
				}
			}
			if got := readWorkflow(t, s, "wf-1").Status; got != "DEPLOYED" {
				t.Errorf("workflows.deployment_status = %s, want DEPLOYED", got)
			}
		})
	}
}

// Rows the store did not write, and cannot decode, fail loudly.
func TestCorruptRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)

	good := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed, cronTrigger("@hourly")))
	badConfig := mustCreate(t, s, newDeployment("wf-2", workflow.StatusDeployed))
	_, err := s.DB().ExecContext(ctx, `UPDATE deployments SET config = '[1]' WHERE id = $1`, badConfig.ID)
	require.NoError(t, err)

	if _, err := s.GetDeployment(ctx, badConfig.ID); err == nil || !strings.Contains(err.Error(), "config") {
		t.Errorf("GetDeployment with a corrupt config: %v", err)
	}
	if _, err := s.ListDeployments(ctx, workflow.ListFilter{WorkflowID: "wf-2"}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("ListDeployments with a corrupt config: %v", err)
	}

	_, err = s.DB().ExecContext(ctx, `UPDATE deployment_triggers SET spec = '"every hour"' WHERE deployment_id = $1`, good.ID)
	require.NoError(t, err)
	if _, err := s.GetDeployment(ctx, good.ID); err == nil || !strings.Contains(err.Error(), "spec") {
		t.Errorf("GetDeployment with a corrupt trigger spec: %v", err)
	}
	if _, err := s.ListDeployments(ctx, workflow.ListFilter{WorkflowID: "wf-1"}); err == nil {
		t.Error("ListDeployments with a corrupt trigger spec: nil error")
	}
	if _, err := s.UpdateDeployment(ctx, good.ID, setStatus(workflow.StatusPaused, workflow.ActionPause)); err == nil {
		t.Error("UpdateDeployment with a corrupt trigger spec: nil error")
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-1", workflow.StatusDeployed))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	checks["CreateDeployment"] = s.CreateDeployment(ctx, newDeployment("wf-2", workflow.StatusDraft), deployEvent())
	_, checks["UpdateDeployment"] = s.UpdateDeployment(ctx, d.ID, setStatus(workflow.StatusPaused, workflow.ActionPause))
	_, checks["GetDeployment"] = s.GetDeployment(ctx, d.ID)
	_, checks["ListDeployments"] = s.ListDeployments(ctx, workflow.ListFilter{})
	checks["Ping"] = s.Ping(ctx)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("%s with a cancelled context: %v, want a wrapped context.Canceled", name, err)
		}
	}
}
