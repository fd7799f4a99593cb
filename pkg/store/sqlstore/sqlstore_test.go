package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlstore"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing/tracingtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// forEachStore runs test on a fresh store of each database, PostgreSQL
// skipped under -short.
func forEachStore(t *testing.T, test func(t *testing.T, s *sqlstore.Store, db string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wfr.db"))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		test(t, s.Store, "sqlite")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, pgtest.NewStore(t).Store, "postgres")
	})
}

func newDeployment(workflowID string, status workflow.DeploymentStatus, triggers ...workflow.Trigger) *workflow.Deployment {
	return &workflow.Deployment{WorkflowID: workflowID, Status: status, Version: 1,
		Definition: []byte(`{"name": "Workflow ` + workflowID + `", "nodes": [{"id": "n1", "name": "start", "type": "TRIGGER"}], "connections": {}}`), DeployedBy: "alice", Triggers: triggers}
}

func deploy(t testing.TB, s store.Store, workflowID string) *workflow.Deployment {
	t.Helper()
	d := newDeployment(workflowID, workflow.StatusDeployed, workflow.Trigger{Type: workflow.TriggerManual, Enabled: true})
	require.NoError(t, s.CreateDeployment(context.Background(), d, workflow.Event{Action: workflow.ActionDeploy, Actor: "alice"}))
	return d
}

// A row the database refuses fails alone: every other row of its batch is
// written, and the bad one gets an Invalid error. Both databases refuse a
// status their check constraint does not list, PostgreSQL a NUL byte in
// text too.
func TestBatchWithRefusedRows(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *sqlstore.Store, db string) {
		d := deploy(t, s, "wf-batch")
		es := make([]*workflow.Execution, 12)
		for i := range es {
			es[i] = &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
				TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending,
				FiredTime: time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC), TriggeredBy: "caller", OwnerInstance: "me"}
		}
		bad := map[int]bool{5: true}
		es[5].Status = "BOGUS"
		if db == "postgres" {
			es[9].TriggeredBy, bad[9] = "nul\x00byte", true
		}
		var ids []string
		for i, err := range s.CreateExecutionsInOneBatch(es) {
			if bad[i] {
				require.Equal(t, errors.Invalid, errors.KindOf(err), "refused row %d: %v", i, err)
				continue
			}
			require.NoError(t, err, "row %d beside the refused ones", i)
			ids = append(ids, es[i].ID)
		}
		n, err := s.Count("executions", "true")
		require.NoError(t, err)
		require.Equal(t, len(ids), n, "every good row is written, and nothing else")

		ts := make([]store.Transition, len(ids))
		for i := range ts {
			ts[i] = store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionFailed}
		}
		ts[3].To = "BOGUS"
		for i, err := range s.TransitionInOneBatch(ids, ts) {
			if i == 3 {
				require.Equal(t, errors.Invalid, errors.KindOf(err), "refused transition: %v", err)
				continue
			}
			require.NoError(t, err, "transition %d beside the refused one", i)
		}
		n, err = s.Count("executions", "status = 'FAILED'")
		require.NoError(t, err)
		require.Equal(t, len(ids)-1, n, "every good transition is written, and nothing else")
	})
}

// TestTracing checks that every call of the store is one client span under
// the caller's, named and attributed for the database, failed when the call
// failed, and that a group commit has a span of its own linked to the calls
// it wrote.
func TestTracing(t *testing.T) {
	exp := tracingtest.Install(t)
	s := pgtest.NewStore(t)
	ctx, parent := tracing.StartSpan(context.Background(), "caller", trace.SpanKindServer)

	d := newDeployment("wf-traced", workflow.StatusDeployed, workflow.Trigger{Type: workflow.TriggerManual, Enabled: true})
	require.NoError(t, s.CreateDeployment(ctx, d, workflow.Event{Action: workflow.ActionDeploy}))
	e := &workflow.Execution{WorkflowID: d.WorkflowID, TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending,
		FiredTime: time.Now().UTC(), OwnerInstance: "i1", IdempotencyKey: "k1", TraceID: "t"}
	created, err := s.CreateExecution(ctx, e)
	require.NoError(t, err)
	require.True(t, created)
	_, err = s.TakeTurn(ctx, e.ID, "i1")
	require.NoError(t, err)
	_, err = s.FindExecutionByKey(ctx, d.WorkflowID, "k1")
	require.NoError(t, err)
	_, err = s.TransitionExecution(ctx, e.ID, store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning, Owner: "i1"})
	require.NoError(t, err)

	// The rest are called for their spans; what they answer is tested elsewhere.
	const missing = "00000000-0000-0000-0000-000000000000"
	_, _ = s.UpdateDeployment(ctx, missing, func(*workflow.Deployment) (workflow.Event, error) { return workflow.Event{}, nil })
	_, _ = s.GetDeployment(ctx, missing)
	_, _ = s.ListEvents(ctx, d.ID)
	_, _ = s.RenewLeases(ctx, "i1", []string{e.ID}, time.Minute)
	_, _ = s.LeaseExpired(ctx, e.ID)
	_ = s.ReleaseLeases(ctx, "i1", []string{e.ID})
	_, _ = s.CronFireStats(ctx, time.Now().Add(-time.Hour), time.Now())
	require.NoError(t, s.Ping(ctx))
	parent.End()

	type span struct {
		Name   string
		Kind   trace.SpanKind
		Child  bool
		Failed bool
		Op     string
		System string
	}
	var got []span
	var batches []tracetest.SpanStub
	for _, st := range exp.GetSpans() {
		if st.SpanContext.TraceID() != parent.SpanContext().TraceID() {
			batches = append(batches, st)
			continue
		}
		if st.Name == "caller" {
			continue
		}
		got = append(got, span{Name: st.Name, Kind: st.SpanKind, Child: st.Parent.SpanID() == parent.SpanContext().SpanID(),
			Failed: st.Status.Code == codes.Error, Op: attr(st.Attributes, "db.operation.name"),
			System: attr(st.Attributes, "db.system.name")})
	}
	ok := func(op string) span {
		return span{Name: "postgres." + op, Kind: trace.SpanKindClient, Child: true, Op: op, System: "postgresql"}
	}
	notFound := func(op string) span { s := ok(op); s.Failed = true; return s }
	want := []span{
		ok("CreateDeployment"), ok("CreateExecution"), ok("TakeTurn"), ok("FindExecutionByKey"), ok("TransitionExecution"),
		notFound("UpdateDeployment"), notFound("GetDeployment"), ok("ListEvents"), ok("RenewLeases"),
		ok("LeaseExpired"), ok("ReleaseLeases"), ok("CronFireStats"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("store spans mismatch (-want +got):\n%s", diff)
	}

	links := map[string]trace.SpanID{}
	for _, b := range batches {
		require.Len(t, b.Links, 1, "links of batch %s", b.Name)
		links[b.Name] = b.Links[0].SpanContext.SpanID()
	}
	wantLinks := map[string]trace.SpanID{
		"postgres.insertExecutions":     spanID(exp.GetSpans(), "postgres.CreateExecution"),
		"postgres.transitionExecutions": spanID(exp.GetSpans(), "postgres.TransitionExecution"),
	}
	if diff := cmp.Diff(wantLinks, links); diff != "" {
		t.Errorf("group commit spans' links mismatch (-want +got):\n%s", diff)
	}
}

func attr(kvs []attribute.KeyValue, key attribute.Key) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.AsString()
		}
	}
	return ""
}

func spanID(spans tracetest.SpanStubs, name string) trace.SpanID {
	for _, s := range spans {
		if s.Name == name {
			return s.SpanContext.SpanID()
		}
	}
	return trace.SpanID{}
}

// BenchmarkStoreCall measures a store call with tracing off (the no-op
// provider of tracing.Setup without an endpoint) and with a recording
// provider that keeps its spans in memory, on the same row.
func BenchmarkStoreCall(b *testing.B) {
	s := pgtest.NewStore(b)
	d := deploy(b, s, "wf-bench")
	run := func(b *testing.B) {
		// Under an RPC, as on the hot path, the call has a request's span.
		ctx := tracing.Resume(context.Background(), tracing.NewID(), trace.SpanContext{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetDeployment(ctx, d.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("traced-off", func(b *testing.B) {
		stop, err := tracing.Setup(context.Background(), func(string) string { return "" }, "bench", log.NewNopLogger())
		require.NoError(b, err)
		b.Cleanup(func() { _ = stop(context.Background()) })
		run(b)
	})
	b.Run("traced-recording", func(b *testing.B) {
		tracingtest.Install(b)
		run(b)
	})
}

// The workflows row mirrors the workflow's active deployment, or the last
// one changed, and a deployment's triggers are active while it is.
func TestWorkflowsRowMirrorsTheDeployment(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *sqlstore.Store, _ string) {
		ctx := context.Background()
		row := func(id string) sqlstore.WorkflowRow {
			t.Helper()
			r, err := s.Workflow(id)
			require.NoError(t, err)
			return r
		}
		activeTriggers := func(d *workflow.Deployment) int {
			t.Helper()
			n, err := s.Count("deployment_triggers", "active AND deployment_id = '"+d.ID+"'")
			require.NoError(t, err)
			return n
		}
		hook := workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{Path: "orders"}}
		first := newDeployment("wf-1", workflow.StatusDraft, hook)
		require.NoError(t, s.CreateDeployment(ctx, first, workflow.Event{}))
		require.Equal(t, sqlstore.WorkflowRow{Name: "Workflow wf-1", Status: "DRAFT"}, row("wf-1"))
		require.Equal(t, 1, activeTriggers(first), "a DRAFT's triggers are active")
		bare := &workflow.Deployment{WorkflowID: "wf-bare", Status: workflow.StatusDraft, Definition: []byte(`{"nodes": []}`)}
		require.NoError(t, s.CreateDeployment(ctx, bare, workflow.Event{}))
		require.Equal(t, "wf-bare", row("wf-bare").Name, "a definition without a name is named after its workflow")

		deployedAt := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		_, err := s.UpdateDeployment(ctx, first.ID, func(d *workflow.Deployment) (workflow.Event, error) {
			d.Status, d.DeployedAt, d.Config.OverlapPolicy = workflow.StatusDeployed, &deployedAt, workflow.OverlapAllowAll
			d.Definition = []byte(`{"name": "Renamed"}`)
			return workflow.Event{Action: workflow.ActionPromote}, nil
		})
		require.NoError(t, err)
		deployed := sqlstore.WorkflowRow{Name: "Renamed", Status: "DEPLOYED", DeployedAt: &deployedAt,
			Config: workflow.Config{OverlapPolicy: workflow.OverlapAllowAll}}
		require.Equal(t, deployed, row("wf-1"))

		archived := newDeployment("wf-1", workflow.StatusArchived)
		require.NoError(t, s.CreateDeployment(ctx, archived, workflow.Event{}))
		require.Equal(t, "DEPLOYED", row("wf-1").Status, "an archived deployment does not change the mirrored status")
		_, err = s.UpdateDeployment(ctx, first.ID, func(d *workflow.Deployment) (workflow.Event, error) {
			d.Status = workflow.StatusArchived
			return workflow.Event{Action: workflow.ActionArchive}, nil
		})
		require.NoError(t, err)
		require.Equal(t, "ARCHIVED", row("wf-1").Status, "archiving the active deployment")
		require.Zero(t, activeTriggers(first), "an ARCHIVED deployment's triggers are not")

		second := newDeployment("wf-1", workflow.StatusDeployed)
		require.NoError(t, s.CreateDeployment(ctx, second, workflow.Event{}))
		_, err = s.UpdateDeployment(ctx, archived.ID, func(d *workflow.Deployment) (workflow.Event, error) {
			d.DeployedBy = "carol"
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		})
		require.NoError(t, err)
		require.Equal(t, "DEPLOYED", row("wf-1").Status, "updating an archived deployment does not overwrite the active one's mirror")
	})
}

// Rows the store did not write, and cannot decode, fail loudly.
func TestCorruptRows(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *sqlstore.Store, _ string) {
		ctx := context.Background()
		cron := workflow.Trigger{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "@hourly"}}
		good := newDeployment("wf-1", workflow.StatusDeployed, cron)
		require.NoError(t, s.CreateDeployment(ctx, good, workflow.Event{}))
		badConfig := deploy(t, s, "wf-2")
		require.NoError(t, s.Exec(`UPDATE deployments SET config = '[1]' WHERE id = $1`, badConfig.ID))
		_, err := s.GetDeployment(ctx, badConfig.ID)
		require.ErrorContains(t, err, "config")
		_, err = s.ListDeployments(ctx, workflow.ListFilter{WorkflowID: "wf-2"})
		require.ErrorContains(t, err, "config")

		require.NoError(t, s.Exec(`UPDATE deployment_triggers SET spec = '"every hour"' WHERE deployment_id = $1`, good.ID))
		_, err = s.GetDeployment(ctx, good.ID)
		require.ErrorContains(t, err, "spec")
		_, err = s.ListCronTriggers(ctx, "")
		require.ErrorContains(t, err, "spec")
		_, err = s.UpdateDeployment(ctx, good.ID, func(*workflow.Deployment) (workflow.Event, error) {
			return workflow.Event{Action: workflow.ActionUpdate}, nil
		})
		require.ErrorContains(t, err, "spec")
		require.Equal(t, errors.Internal, errors.KindOf(err))
	})
}
