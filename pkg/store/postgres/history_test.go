package postgres_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// insertExecution writes e as it is, with a new id unless it has one, and
// returns the id: unlike CreateExecution it sets every column and accepts any
// status and deployment, so that the tests can lay out a history freely.
func insertExecution(t *testing.T, s *postgres.Store, e *workflow.Execution) string {
	t.Helper()
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	jsonb := func(m json.RawMessage) *string {
		if m == nil {
			return nil
		}
		return ptr(string(m))
	}
	_, err := s.DB().ExecContext(context.Background(), `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
	scheduled_time, fired_time, started_time, finished_time, jitter_seconds, engine_execution_id, error_message,
	skip_reason, trace_id, idempotency_key, triggered_by, owner_instance, lease_expires_at, input, result)
VALUES ($1, $2, $3, $4, NULLIF($5, '')::uuid, $6, $7, $8, $9, $10, $11, $12, NULLIF($13, ''), NULLIF($14, ''),
	NULLIF($15, ''), NULLIF($16, ''), NULLIF($17, ''), NULLIF($18, ''), NULLIF($19, ''), $20, $21, $22)`,
		e.ID, e.WorkflowID, e.DeploymentID, e.DeploymentVersion, e.TriggerID, string(e.TriggerType),
		string(e.Status), e.ScheduledTime, e.FiredTime, e.StartedTime, e.FinishedTime, e.JitterSeconds,
		e.EngineExecutionID, e.ErrorMessage, e.SkipReason, e.TraceID, e.IdempotencyKey, e.TriggeredBy,
		e.OwnerInstance, e.LeaseExpiresAt, jsonb(e.Input), jsonb(e.Result))
	require.NoError(t, err)
	return e.ID
}

// cronExecution is the execution of d's trigger triggerID for slot, as the
// scheduler creates it.
func cronExecution(d *workflow.Deployment, triggerID string, slot time.Time) *workflow.Execution {
	return &workflow.Execution{
		WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerID: triggerID, TriggerType: workflow.TriggerCron, Status: workflow.ExecutionPending,
		ScheduledTime: &slot, FiredTime: slot.Add(1500 * time.Millisecond), JitterSeconds: 1,
		TraceID: "trace-1", TriggeredBy: "cron:" + triggerID,
	}
}

func TestGetExecution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-get", workflow.StatusDeployed, cronTrigger("* * * * *")))
	base := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)

	full := &workflow.Execution{
		WorkflowID:        "wf-get",
		DeploymentID:      d.ID,
		DeploymentVersion: 2,
		TriggerID:         d.Triggers[0].ID,
		TriggerType:       workflow.TriggerCron,
		Status:            workflow.ExecutionFailed,
		ScheduledTime:     ptr(base),
		FiredTime:         base.Add(7*time.Second + 123456*time.Microsecond),
		StartedTime:       ptr(base.Add(8 * time.Second)),
		FinishedTime:      ptr(base.Add(time.Minute)),
		JitterSeconds:     7,
		EngineExecutionID: "engine-9",
		ErrorMessage:      "node n1 failed",
		SkipReason:        "overlap",
		TraceID:           "4bf92f3577b34da6a3ce929d0e0e4736",
		IdempotencyKey:    "key-9",
		TriggeredBy:       "scheduler",
		OwnerInstance:     "replica-2",
		LeaseExpiresAt:    ptr(base.Add(2 * time.Minute)),
		Input:             json.RawMessage(`{"a": [1, 2]}`),
		Result:            json.RawMessage(`{"error": "boom"}`),
	}
	insertExecution(t, s, full)
	got, err := s.GetExecution(ctx, full.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(full, got, jsonEqual); diff != "" {
		t.Errorf("GetExecution of a full row (-want +got):\n%s", diff)
	}

	// Every nullable column NULL reads back as the zero value.
	minimal := &workflow.Execution{WorkflowID: "wf-get", DeploymentID: d.ID, DeploymentVersion: 1,
		TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: base}
	insertExecution(t, s, minimal)
	got, err = s.GetExecution(ctx, strings.ToUpper(minimal.ID))
	require.NoError(t, err, "ids are UUIDs, whatever their case")
	if diff := cmp.Diff(minimal, got); diff != "" {
		t.Errorf("GetExecution of a minimal row (-want +got):\n%s", diff)
	}

	// A row written by CreateExecution reads back as written.
	created := cronExecution(d, d.Triggers[0].ID, base.Add(time.Hour))
	ok, err := s.CreateExecution(ctx, created)
	require.NoError(t, err)
	require.True(t, ok)
	got, err = s.GetExecution(ctx, created.ID)
	require.NoError(t, err)
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("GetExecution of a created row (-want +got):\n%s", diff)
	}

	for _, id := range []string{uuid.NewString(), "not-a-uuid", "", d.ID} {
		_, err := s.GetExecution(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "id %q", id)
	}
}

// history lays out seven executions, fired a minute apart from base, over
// two deployments of wf-a (the first archived) and one of wf-b; ids[k] is
// the one fired at base+k minutes.
func history(t *testing.T, s *postgres.Store, base time.Time) (ids []string, a1, a2, b *workflow.Deployment) {
	t.Helper()
	ctx := context.Background()
	a1 = mustCreate(t, s, newDeployment("wf-a", workflow.StatusDeployed))
	_, err := s.UpdateDeployment(ctx, a1.ID, setStatus(workflow.StatusArchived, workflow.ActionArchive))
	require.NoError(t, err)
	a2 = mustCreate(t, s, newDeployment("wf-a", workflow.StatusDeployed))
	b = mustCreate(t, s, newDeployment("wf-b", workflow.StatusDeployed))
	rows := []struct {
		d      *workflow.Deployment
		typ    workflow.TriggerType
		status workflow.ExecutionStatus
	}{
		{a1, workflow.TriggerCron, workflow.ExecutionSucceeded},
		{a1, workflow.TriggerManual, workflow.ExecutionFailed},
		{b, workflow.TriggerWebhook, workflow.ExecutionSucceeded},
		{a2, workflow.TriggerCron, workflow.ExecutionRunning},
		{b, workflow.TriggerCron, workflow.ExecutionFailed},
		{a2, workflow.TriggerWebhook, workflow.ExecutionSucceeded},
		{a2, workflow.TriggerManual, workflow.ExecutionPending},
	}
	for k, r := range rows {
		ids = append(ids, insertExecution(t, s, &workflow.Execution{
			WorkflowID: r.d.WorkflowID, DeploymentID: r.d.ID, DeploymentVersion: 1, TriggerType: r.typ,
			Status: r.status, FiredTime: base.Add(time.Duration(k) * time.Minute),
		}))
	}
	return ids, a1, a2, b
}

func executionIDs(p workflow.ExecutionPage) []string {
	ids := make([]string, len(p.Executions))
	for i, e := range p.Executions {
		ids[i] = e.ID
	}
	return ids
}

func TestListExecutionsFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	base := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)
	ids, a1, a2, b := history(t, s, base)
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	// pick lists ids newest first.
	pick := func(ks ...int) []string {
		out := []string{}
		for _, k := range slices.Backward(ks) {
			out = append(out, ids[k])
		}
		return out
	}

	for _, tc := range []struct {
		name string
		f    workflow.ExecutionFilter
		want []string
	}{
		{"none", workflow.ExecutionFilter{}, pick(0, 1, 2, 3, 4, 5, 6)},
		{"workflow", workflow.ExecutionFilter{WorkflowID: "wf-a"}, pick(0, 1, 3, 5, 6)},
		{"unknown workflow", workflow.ExecutionFilter{WorkflowID: "wf-none"}, pick()},
		{"deployment", workflow.ExecutionFilter{DeploymentID: a2.ID}, pick(3, 5, 6)},
		{"archived deployment", workflow.ExecutionFilter{DeploymentID: a1.ID}, pick(0, 1)},
		{"deployment in upper case", workflow.ExecutionFilter{DeploymentID: strings.ToUpper(b.ID)}, pick(2, 4)},
		{"unknown deployment", workflow.ExecutionFilter{DeploymentID: uuid.NewString()}, pick()},
		{"non-UUID deployment", workflow.ExecutionFilter{DeploymentID: "not-a-uuid"}, pick()},
		{"one status", workflow.ExecutionFilter{Statuses: []workflow.ExecutionStatus{workflow.ExecutionRunning}}, pick(3)},
		{"statuses", workflow.ExecutionFilter{Statuses: []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionFailed}},
			pick(0, 1, 2, 4, 5)},
		{"status without rows", workflow.ExecutionFilter{Statuses: []workflow.ExecutionStatus{workflow.ExecutionTimedOut}}, pick()},
		{"trigger type", workflow.ExecutionFilter{TriggerType: workflow.TriggerCron}, pick(0, 3, 4)},
		{"from is inclusive", workflow.ExecutionFilter{From: at(2)}, pick(2, 3, 4, 5, 6)},
		{"to is exclusive", workflow.ExecutionFilter{To: at(2)}, pick(0, 1)},
		{"from and to", workflow.ExecutionFilter{From: at(1), To: at(4)}, pick(1, 2, 3)},
		{"from just after a row", workflow.ExecutionFilter{From: at(1).Add(time.Nanosecond)}, pick(2, 3, 4, 5, 6)},
		{"to just after a row", workflow.ExecutionFilter{To: at(1).Add(time.Nanosecond)}, pick(0, 1)},
		{"from in another zone", workflow.ExecutionFilter{From: at(5).In(time.FixedZone("UTC+3", 3*3600))}, pick(5, 6)},
		{"empty range", workflow.ExecutionFilter{From: at(3), To: at(3)}, pick()},
		{"workflow and deployment", workflow.ExecutionFilter{WorkflowID: "wf-a", DeploymentID: a1.ID}, pick(0, 1)},
		{"workflow and another's deployment", workflow.ExecutionFilter{WorkflowID: "wf-a", DeploymentID: b.ID}, pick()},
		{"deployment and trigger type", workflow.ExecutionFilter{DeploymentID: b.ID, TriggerType: workflow.TriggerCron}, pick(4)},
		{"workflow, statuses and range", workflow.ExecutionFilter{
			WorkflowID: "wf-a",
			Statuses:   []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionFailed},
			From:       at(1), To: at(6),
		}, pick(1, 5)},
		{"every filter", workflow.ExecutionFilter{
			WorkflowID: "wf-a", DeploymentID: a2.ID, TriggerType: workflow.TriggerWebhook,
			Statuses: []workflow.ExecutionStatus{workflow.ExecutionSucceeded}, From: at(0), To: at(7),
		}, pick(5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.ListExecutions(ctx, tc.f)
			require.NoError(t, err)
			require.NotNil(t, page.Executions, "an empty page is an empty list")
			if diff := cmp.Diff(tc.want, executionIDs(page)); diff != "" {
				t.Errorf("ListExecutions(%+v) (-want +got):\n%s", tc.f, diff)
			}
			require.Empty(t, page.Next, "everything fits one page")
		})
	}

	// Rows come back whole.
	page, err := s.ListExecutions(ctx, workflow.ExecutionFilter{DeploymentID: b.ID, Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed}})
	require.NoError(t, err)
	want := []workflow.Execution{{ID: ids[4], WorkflowID: "wf-b", DeploymentID: b.ID, DeploymentVersion: 1,
		TriggerType: workflow.TriggerCron, Status: workflow.ExecutionFailed, FiredTime: at(4)}}
	if diff := cmp.Diff(want, page.Executions); diff != "" {
		t.Errorf("ListExecutions rows (-want +got):\n%s", diff)
	}
}

func TestListExecutionsPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-pages", workflow.StatusDeployed))
	other := mustCreate(t, s, newDeployment("wf-other", workflow.StatusDeployed))
	base := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)

	// Ties on fired_time, some across a page boundary, are ordered by id;
	// sub-millisecond times check that the cursor keeps full precision.
	fired := []time.Time{
		base, base.Add(time.Minute), base.Add(time.Minute), base.Add(time.Minute),
		base.Add(2*time.Minute + time.Microsecond), base.Add(3 * time.Minute), base.Add(3 * time.Minute),
	}
	type row struct {
		id    string
		fired time.Time
	}
	var rows []row
	for _, f := range fired {
		id := insertExecution(t, s, &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
			TriggerType: workflow.TriggerManual, Status: workflow.ExecutionSucceeded, FiredTime: f})
		rows = append(rows, row{id, f})
		insertExecution(t, s, &workflow.Execution{WorkflowID: other.WorkflowID, DeploymentID: other.ID, DeploymentVersion: 1,
			TriggerType: workflow.TriggerManual, Status: workflow.ExecutionSucceeded, FiredTime: f})
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := b.fired.Compare(a.fired); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	var want []string
	for _, r := range rows {
		want = append(want, r.id)
	}

	for _, f := range []workflow.ExecutionFilter{{WorkflowID: "wf-pages"}, {DeploymentID: d.ID}} {
		for _, limit := range []int{1, 3, 6, 7} {
			f.Limit = limit
			var got []string
			pages := 0
			for {
				page, err := s.ListExecutions(ctx, f)
				require.NoError(t, err)
				pages++
				require.LessOrEqual(t, len(page.Executions), limit)
				got = append(got, executionIDs(page)...)
				if page.Next == "" {
					break
				}
				require.Len(t, page.Executions, limit, "only the last page is short")
				require.LessOrEqual(t, pages, len(want), "paging does not end")
				f.After = page.Next
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pages of %d (-want +got):\n%s", limit, diff)
			}
			require.Equal(t, (len(want)+limit-1)/limit, pages, "pages of %d", limit)
			f.After = ""
		}
	}

	// A limit of zero is the default page size, which holds them all.
	page, err := s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: "wf-pages"})
	require.NoError(t, err)
	require.Equal(t, want, executionIDs(page))
	require.Empty(t, page.Next)

	// A cursor stays valid when newer executions arrive.
	first, err := s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: "wf-pages", Limit: 3})
	require.NoError(t, err)
	insertExecution(t, s, &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
		TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: base.Add(time.Hour)})
	second, err := s.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: "wf-pages", Limit: 3, After: first.Next})
	require.NoError(t, err)
	require.Equal(t, want[3:6], executionIDs(second))
}

func TestListExecutionsBadCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, c := range []string{
		"%%%", "not base64!", enc("no colon"), enc("abc:" + uuid.NewString()), enc("1700000000000000:not-a-uuid"),
		base64.StdEncoding.EncodeToString([]byte("1700000000000000:" + uuid.NewString())),
	} {
		_, err := s.ListExecutions(ctx, workflow.ExecutionFilter{After: c})
		if !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("ListExecutions(After: %q) = %v, want ErrBadCursor", c, err)
		}
	}
}

// TestListExecutionsUsesIndexes checks, from the plans of the statements
// ListExecutions sends, on enough rows for the planner to care, that a
// workflow's history is read through (workflow_id, status, fired_time DESC),
// a page of each status, and a deployment's through (deployment_id,
// fired_time DESC), never by scanning the table: `make bench-history` shows
// what a regression costs on a million rows.
func TestListExecutionsUsesIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	// Fifty workflows make one workflow's rows selective enough for the
	// planner to go to it rather than walk fired_time and filter.
	var deployments []string
	for i := range 50 {
		deployments = append(deployments, mustCreate(t, s, newDeployment(fmt.Sprint("wf-", i), workflow.StatusDeployed)).ID)
	}
	base := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	_, err := s.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
SELECT gen_random_uuid(), 'wf-' || (i % 50), ($1::uuid[])[i % 50 + 1], 1,
	(ARRAY['CRON', 'WEBHOOK', 'MANUAL'])[i % 3 + 1],
	(ARRAY['SUCCEEDED', 'FAILED', 'SKIPPED', 'PENDING'])[i % 4 + 1],
	$2::timestamptz + i * interval '1 minute'
FROM generate_series(1, 5000) AS i`, pq.Array(deployments), base)
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `ANALYZE executions`)
	require.NoError(t, err)

	statuses := []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionFailed}
	for _, c := range []struct {
		index string
		f     workflow.ExecutionFilter
	}{
		{"executions_workflow_status_fired_idx", workflow.ExecutionFilter{
			WorkflowID: "wf-3", Statuses: statuses, From: base.Add(time.Hour), To: base.Add(60 * time.Hour), Limit: 20,
		}},
		{"executions_workflow_status_fired_idx", workflow.ExecutionFilter{
			WorkflowID: "wf-3", Statuses: statuses[1:], From: base.Add(time.Hour), Limit: 20,
		}},
		{"executions_workflow_status_fired_idx", workflow.ExecutionFilter{WorkflowID: "wf-3", Limit: 20}},
		{"executions_deployment_fired_idx", workflow.ExecutionFilter{
			DeploymentID: deployments[4], Statuses: statuses, From: base.Add(time.Hour), Limit: 20,
		}},
	} {
		page, err := s.ListExecutions(ctx, c.f)
		require.NoError(t, err)
		require.NotEmpty(t, page.Next, "%+v", c.f)
		for _, f := range []workflow.ExecutionFilter{c.f, withAfter(c.f, page.Next)} {
			plan, err := s.ExplainListExecutions(ctx, f, "FORMAT JSON")
			require.NoError(t, err)
			scans := planScans(t, plan)
			if !slices.ContainsFunc(scans, func(s string) bool { return strings.HasSuffix(s, " "+c.index) }) ||
				slices.Contains(scans, "Seq Scan") {
				t.Errorf("%s: scans %q, want one of %s and no Seq Scan; plan:\n%s", describeFilter(f), scans, c.index, plan)
			}
		}
	}
}

// planScans returns the scans of executions and of its indexes in an EXPLAIN
// (FORMAT JSON) plan, each as its node type and, for index scans, the index.
func planScans(t *testing.T, plan string) []string {
	t.Helper()
	type node struct {
		NodeType  string `json:"Node Type"`
		Relation  string `json:"Relation Name"`
		IndexName string `json:"Index Name"`
		Plans     []node `json:"Plans"`
	}
	var top []struct{ Plan node }
	require.NoError(t, json.Unmarshal([]byte(plan), &top))
	require.Len(t, top, 1)
	var scans []string
	var walk func(n node)
	walk = func(n node) {
		if n.Relation == "executions" || strings.HasPrefix(n.IndexName, "executions_") {
			scans = append(scans, strings.TrimSpace(n.NodeType+" "+n.IndexName))
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(top[0].Plan)
	return scans
}

func TestUnfinishedByStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	counts, err := s.UnfinishedByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 0, workflow.ExecutionRunning: 0}, counts)

	d := mustCreate(t, s, newDeployment("wf-count", workflow.StatusDeployed))
	base := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	for i, st := range []workflow.ExecutionStatus{workflow.ExecutionPending, workflow.ExecutionRunning, workflow.ExecutionRunning,
		workflow.ExecutionSucceeded, workflow.ExecutionFailed, workflow.ExecutionSkipped} {
		insertExecution(t, s, &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
			TriggerType: workflow.TriggerManual, Status: st, FiredTime: base.Add(time.Duration(i) * time.Minute)})
	}
	counts, err = s.UnfinishedByStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 1, workflow.ExecutionRunning: 2}, counts)

	require.NoError(t, s.Close())
	_, err = s.UnfinishedByStatus(ctx)
	require.Error(t, err)
}
