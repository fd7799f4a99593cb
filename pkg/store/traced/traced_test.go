package traced_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/traced"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing/tracingtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestTracedStore checks, on PostgreSQL, that every call through Store is one
// client span under the caller's, named and attributed as New was told,
// failed when the call failed, and that a group commit of the store has a
// span of its own linked to the calls it wrote.
func TestTracedStore(t *testing.T) {
	exp := tracingtest.Install(t)
	s := traced.New(pgtest.NewStore(t), "postgres", "postgresql")
	ctx, parent := tracing.StartSpan(context.Background(), "caller", trace.SpanKindServer)

	d := newDeployment("wf-traced", workflow.StatusDeployed, manualTrigger())
	require.NoError(t, s.CreateDeployment(ctx, d, deployEvent()))
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
	_, _ = s.GetActiveDeployment(ctx, d.WorkflowID)
	_, _ = s.ListDeployments(ctx, workflow.ListFilter{})
	_, _ = s.ListEvents(ctx, d.ID)
	_, _ = s.LastExecution(ctx, d.ID)
	_, _ = s.CountUnfinishedExecutions(ctx, d.ID)
	_, _ = s.ListCronTriggers(ctx, d.ID)
	_, _ = s.ListWebhookTriggers(ctx, d.ID)
	_, _ = s.ExpireIdempotencyKey(ctx, e.ID, time.Now())
	_, _ = s.ListUnfinishedExecutions(ctx, d.WorkflowID)
	_, _ = s.RenewLeases(ctx, "i1", []string{e.ID}, time.Minute)
	_, _ = s.AdoptExecutions(ctx, "i2", time.Minute, 1)
	_ = s.ReleaseLeases(ctx, "i1", []string{e.ID})
	_, _ = s.GetExecution(ctx, e.ID)
	_, _ = s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: d.WorkflowID})
	_, _ = s.DeploymentStats(ctx, time.Now().Add(-time.Hour))
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
		notFound("UpdateDeployment"), notFound("GetDeployment"), ok("GetActiveDeployment"), ok("ListDeployments"),
		ok("ListEvents"), ok("LastExecution"), ok("CountUnfinishedExecutions"), ok("ListCronTriggers"),
		ok("ListWebhookTriggers"), ok("ExpireIdempotencyKey"),
		ok("ListUnfinishedExecutions"), ok("RenewLeases"), ok("AdoptExecutions"), ok("ReleaseLeases"),
		ok("GetExecution"), ok("ListExecutions"), ok("DeploymentStats"), ok("CronFireStats"),
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

// BenchmarkStoreCall compares a store call untraced, traced with tracing off
// (the no-op provider of tracing.Setup without an endpoint) and traced with a
// recording provider that keeps its spans in memory, on the same row.
func BenchmarkStoreCall(b *testing.B) {
	plain := pgtest.NewStore(b)
	d := newDeployment("wf-bench", workflow.StatusDeployed, manualTrigger())
	require.NoError(b, plain.CreateDeployment(context.Background(), d, deployEvent()))
	wrapped := traced.New(plain, "postgres", "postgresql")

	run := func(b *testing.B, s store.Store) {
		// Under an RPC, as on the hot path, the call has a request's span.
		ctx := tracing.Resume(context.Background(), tracing.NewID(), trace.SpanContext{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetDeployment(ctx, d.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("untraced", func(b *testing.B) { run(b, plain) })
	b.Run("traced-off", func(b *testing.B) {
		stop, err := tracing.Setup(context.Background(), func(string) string { return "" }, "bench", log.NewNopLogger())
		require.NoError(b, err)
		b.Cleanup(func() { _ = stop(context.Background()) })
		run(b, wrapped)
	})
	b.Run("traced-recording", func(b *testing.B) {
		tracingtest.Install(b)
		run(b, wrapped)
	})
}

func newDeployment(workflowID string, status workflow.DeploymentStatus, triggers ...workflow.Trigger) *workflow.Deployment {
	return &workflow.Deployment{WorkflowID: workflowID, Status: status, Version: 1,
		Definition: []byte(`{"name": "Workflow ` + workflowID + `", "nodes": [{"id": "n1", "name": "start", "type": "TRIGGER"}], "connections": {}}`), DeployedBy: "alice", Triggers: triggers}
}

func manualTrigger() workflow.Trigger {
	return workflow.Trigger{Type: workflow.TriggerManual, Enabled: true}
}

func deployEvent() workflow.Event {
	return workflow.Event{Action: workflow.ActionDeploy, Actor: "alice"}
}
