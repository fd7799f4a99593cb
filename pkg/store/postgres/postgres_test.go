package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlstore"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// The tests of this package are of what PostgreSQL does its own way: its
// error codes, its row locks, its planner. What both stores promise is
// package storetest's.

func newDeployment(workflowID string, status workflow.DeploymentStatus, triggers ...workflow.Trigger) *workflow.Deployment {
	return &workflow.Deployment{WorkflowID: workflowID, Status: status, Version: 1,
		Definition: json.RawMessage(fmt.Sprintf(`{"name": %q, "nodes": []}`, "Workflow "+workflowID)), Triggers: triggers}
}

func mustCreate(t testing.TB, s *postgres.Store, d *workflow.Deployment) *workflow.Deployment {
	t.Helper()
	require.NoError(t, s.CreateDeployment(context.Background(), d, workflow.Event{Action: workflow.ActionDeploy}))
	return d
}

// leased creates a PENDING execution of d fired at fired, owned by owner
// until lease, and returns its id.
func leased(t *testing.T, s *postgres.Store, d *workflow.Deployment, fired time.Time, owner string, lease *time.Time) string {
	t.Helper()
	e := &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: d.Version,
		TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: fired,
		OwnerInstance: owner, LeaseExpiresAt: lease}
	created, err := s.CreateExecution(context.Background(), e)
	require.NoError(t, err)
	require.True(t, created)
	return e.ID
}

func TestKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code pqerror.Code
		want errors.Kind
	}{
		{"08006", errors.Unavailable}, // connection failure
		{"53300", errors.Unavailable}, // too many connections
		{"57P01", errors.Unavailable}, // admin shutdown
		{"57P03", errors.Unavailable}, // starting up
		{"40001", errors.Aborted},     // serialization failure
		{"40P01", errors.Aborted},     // deadlock
		{"22021", errors.Invalid},     // a NUL byte in text
		{"22P02", errors.Invalid},     // invalid text representation
		{"23502", errors.Invalid},     // not null
		{"23514", errors.Invalid},     // check
		{"23505", errors.Internal},    // unique: the store's to name
		{"42601", errors.Internal},    // syntax
		{"", errors.Internal},         // no SQLSTATE at all
	} {
		err := fmt.Errorf("statement: %w", &pq.Error{Code: tc.code})
		require.Equal(t, tc.want, postgres.Kind(err), "code %s", tc.code)
	}
	require.Equal(t, errors.Internal, postgres.Kind(errors.New("not PostgreSQL's")))
}

func TestUnique(t *testing.T) {
	t.Parallel()
	index, value, ok := postgres.Unique(fmt.Errorf("insert: %w", &pq.Error{Code: "23505",
		Constraint: "deployment_triggers_active_webhook_path_key", Detail: "Key (webhook_path)=(/hooks/a) already exists."}))
	require.True(t, ok)
	require.Equal(t, "deployment_triggers_active_webhook_path_key", index)
	require.Equal(t, "/hooks/a", value, "the path PostgreSQL names, for when its owner is gone by the time the store looks")
	_, _, ok = postgres.Unique(&pq.Error{Code: "23514"})
	require.False(t, ok)
	_, _, ok = postgres.Unique(nil)
	require.False(t, ok)
}

// TestUnreachableServer checks, against a port where nothing listens, that
// every call that reaches the database reports store.ErrUnavailable, kind
// Unavailable, and that a call with nothing to ask asks nothing.
func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	db, err := sqlx.Open("postgres", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	s := postgres.New(db)
	defer s.Close()
	ctx := context.Background()
	id := uuid.NewString()
	ids := []string{id}
	errs := map[string]error{"Ping": s.Ping(ctx), "ReleaseLeases": s.ReleaseLeases(ctx, "me", ids)}
	_, errs["GetDeployment"] = s.GetDeployment(ctx, id)
	_, errs["GetActiveDeployment"] = s.GetActiveDeployment(ctx, "wf")
	_, errs["ListDeployments"] = s.ListDeployments(ctx, workflow.ListFilter{Limit: 10})
	_, errs["ListEvents"] = s.ListEvents(ctx, id)
	_, errs["LastExecution"] = s.LastExecution(ctx, id)
	_, errs["CountUnfinishedExecutions"] = s.CountUnfinishedExecutions(ctx, id)
	_, errs["UpdateDeployment"] = s.UpdateDeployment(ctx, id, func(*workflow.Deployment) (workflow.Event, error) { return workflow.Event{}, nil })
	_, errs["ListCronTriggers"] = s.ListCronTriggers(ctx, "")
	_, errs["CreateExecution"] = s.CreateExecution(ctx, &workflow.Execution{WorkflowID: "wf", DeploymentID: id})
	errs["CreateDeployment"] = s.CreateDeployment(ctx, newDeployment("wf", workflow.StatusDraft), workflow.Event{})
	_, errs["FindExecutionByKey"] = s.FindExecutionByKey(ctx, "wf", "key")
	_, errs["TransitionExecution"] = s.TransitionExecution(ctx, id, store.Transition{
		From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning})
	_, errs["ListUnfinishedExecutions"] = s.ListUnfinishedExecutions(ctx, "wf")
	_, errs["RenewLeases"] = s.RenewLeases(ctx, "me", ids, time.Minute)
	_, errs["AdoptExecutions"] = s.AdoptExecutions(ctx, "me", time.Minute, 10)
	for name, err := range errs {
		require.ErrorIs(t, err, store.ErrUnavailable, name)
		require.Equal(t, errors.Unavailable, errors.KindOf(err), "%s: %v", name, err)
		require.True(t, strings.HasPrefix(err.Error(), "postgres."+name+": "), "%s: %v", name, err)
	}

	// Nothing to ask about: no query, so no error.
	lost, err := s.RenewLeases(ctx, "me", []string{"not-a-uuid"}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []string{"not-a-uuid"}, lost)
	lost, err = s.RenewLeases(ctx, "me", nil, time.Minute)
	require.NoError(t, err)
	require.Nil(t, lost)
	require.NoError(t, s.ReleaseLeases(ctx, "me", nil))
	require.NoError(t, s.ReleaseLeases(ctx, "me", []string{"not-a-uuid"}))
	_, err = s.TransitionExecution(ctx, "not-a-uuid", store.Transition{To: workflow.ExecutionRunning})
	require.ErrorIs(t, err, store.ErrStale, "an id that is not a UUID names no row, without asking")
}

func TestOpenPingClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)

	s, err := postgres.Open(ctx, url, 7)
	require.NoError(t, err)
	require.NoError(t, s.Ping(ctx))
	require.Equal(t, 7, s.DB().Stats().MaxOpenConnections, "the pool's size")
	require.NoError(t, s.Close())
	require.ErrorContains(t, s.Ping(ctx), "postgres.Ping: ", "Ping after Close")
	require.NoError(t, s.Close(), "second Close")

	// The schema is missing: calls fail with the database's error, not ErrNotFound.
	s, err = postgres.Open(ctx, url, 4)
	require.NoError(t, err)
	defer s.Close()
	id := uuid.NewString()
	checks := map[string]error{}
	_, checks["GetDeployment"] = s.GetDeployment(ctx, id)
	_, checks["ListDeployments"] = s.ListDeployments(ctx, workflow.ListFilter{})
	checks["CreateDeployment"] = s.CreateDeployment(ctx, newDeployment("wf", workflow.StatusDraft), workflow.Event{})
	for name, err := range checks {
		require.Error(t, err, name)
		require.NotErrorIs(t, err, store.ErrNotFound, name)
		require.Equal(t, errors.Internal, errors.KindOf(err), "%s: %v", name, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", 4)
	require.ErrorIs(t, err, store.ErrUnavailable)
	_, err = postgres.Open(ctx, "mysql://nope", 4)
	require.Error(t, err)
}

// A renewal never waits for a row another transaction holds: it renews the
// others and leaves that one for the next renewal.
func TestRenewLeasesSkipsLockedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-renew-locked", workflow.StatusDeployed))
	past := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)
	busy, free := leased(t, s, d, past, "me", &past), leased(t, s, d, past, "me", &past)

	tx, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT 1 FROM executions WHERE id = $1 FOR UPDATE`, busy)
	require.NoError(t, err)

	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lost, err := s.RenewLeases(rctx, "me", []string{busy, free}, time.Minute)
	require.NoError(t, err, "the renewal must not wait for the locked row")
	require.Empty(t, lost)
	lease := func(id string) time.Time {
		e, err := s.GetExecution(ctx, id)
		require.NoError(t, err)
		return *e.LeaseExpiresAt
	}
	require.Equal(t, past, lease(busy), "the locked row is left alone")
	require.True(t, lease(free).After(past), "the other row is renewed")
}

// Adopters share the expired rows out: one another holds is skipped, not
// waited for.
func TestAdoptExecutionsSkipsLockedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf-locked", workflow.StatusDeployed))
	fired := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)
	locked, free := leased(t, s, d, fired, "dead", nil), leased(t, s, d, fired.Add(time.Minute), "dead", nil)

	tx, err := s.DB().BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT id FROM executions WHERE id = $1 FOR UPDATE`, locked)
	require.NoError(t, err)
	ids := func(es []workflow.Execution) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}

	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := s.AdoptExecutions(actx, "me", time.Minute, 10)
	require.NoError(t, err, "the locked row is skipped, not waited for")
	require.Equal(t, []string{free}, ids(got))

	require.NoError(t, tx.Rollback())
	got, err = s.AdoptExecutions(ctx, "me", time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []string{locked}, ids(got), "once unlocked, the row is adopted")
}

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

// A batch of transitions reaches its rows by id, however few unfinished rows
// the statistics saw: a test of the row's status as unfinished matched
// executions_unfinished_status_idx, estimated at a row when ANALYZE had seen
// none, and the planner went in by it and probed the batch's ids for every
// unfinished row (issue 16: seconds a batch at 5,000,000 rows with 17,000
// unfinished).
func TestTransitionsGoByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	ids := unfinishedAfterAnalyse(t, s)
	base := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)

	for _, n := range []int{1, 20} {
		ts := make([]store.Transition, n)
		for i := range ts {
			ts[i] = store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning,
				Owner: "replica-1", StartedTime: new(base)}
		}
		custom, generic, err := s.ExplainTransitions(ctx, ids[:n], ts, "FORMAT JSON")
		require.NoError(t, err)
		for kind, plan := range map[string]string{"custom": custom, "generic": generic} {
			scans := planScans(t, plan)
			if slices.ContainsFunc(scans, func(s string) bool {
				return s == "Seq Scan" || strings.Contains(s, " executions_") && !strings.HasSuffix(s, " executions_pkey")
			}) {
				t.Errorf("%d transitions, %s plan: scans %q, want no index but executions_pkey and no Seq Scan; plan:\n%s",
					n, kind, scans, plan)
			}
		}
	}
}

// TestTransitionsGoByIDInAGrowingTable is the premise of preparing the
// transitions again as their uses double (TestPreparedRenewsAsUsesDouble):
// on a table never analysed, where the planner guesses its rows from its
// pages (a fresh database in its first burst), a plan made at 10,000 rows
// reaches a batch's rows by id. One made at a few hundred hashed a
// sequential scan of the table, and kept while a burst grew the table it
// cost 8 ms a batch at 30,000 rows.
func TestTransitionsGoByIDInAGrowingTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	d := mustCreate(t, s, newDeployment("wf", workflow.StatusDeployed))
	var ids []string
	require.NoError(t, s.DB().SelectContext(ctx, &ids, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time, owner_instance)
SELECT gen_random_uuid(), 'wf', $1, 1, 'WEBHOOK', 'PENDING', now(), 'replica-1' FROM generate_series(1, 10000) RETURNING id`, d.ID))
	ts := make([]store.Transition, 20)
	for i := range ts {
		ts[i] = store.Transition{From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning, Owner: "replica-1"}
	}
	custom, generic, err := s.ExplainTransitions(ctx, ids[:len(ts)], ts, "FORMAT JSON")
	require.NoError(t, err)
	for kind, plan := range map[string]string{"custom": custom, "generic": generic} {
		require.NotContains(t, planScans(t, plan), "Seq Scan", "%s plan:\n%s", kind, plan)
	}
}

// TestTurnAndSlotGoByID: taking a workflow's turn or a concurrency slot
// finds the row by its primary key, and so do the reads of the turn's
// holder and of the slots taken, in the plan for the arguments and in the
// generic one, where the analysed table holds no unfinished row and 2,000
// have come since (with the status test in WHERE, the takes went in by
// executions_unfinished_status_idx and read every unfinished row, and so
// did the read of the slots until they had a table of their own).
func TestTurnAndSlotGoByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	id := unfinishedAfterAnalyse(t, s)[0]

	for name, st := range map[string]struct {
		query string
		args  []any
		scans []string
	}{
		"turn": {sqlstore.TakeTurnSQL, []any{id, "replica-1"}, []string{"ModifyTable", "Index Scan executions_pkey"}},
		"slot": {sqlstore.TakeSlotSQL, []any{id, "replica-1", 0}, []string{"ModifyTable", "Index Scan executions_pkey"}},
		// The tables' primary keys have the names of the indexes they
		// replaced (migration 00021).
		"turn holder": {sqlstore.TurnHolderSQL, []any{id}, []string{"Index Scan executions_workflow_turn_key", "Index Scan executions_pkey"}},
		"slots taken": {sqlstore.SlotsTakenSQL, []any{id}, []string{"Index Scan executions_workflow_slot_key", "Index Scan executions_pkey"}},
	} {
		custom, generic, err := s.ExplainStatement(ctx, st.query, st.args, "FORMAT JSON")
		require.NoError(t, err)
		for kind, plan := range map[string]string{"custom": custom, "generic": generic} {
			require.Equal(t, st.scans, planScans(t, plan), "%s, %s plan:\n%s", name, kind, plan)
		}
	}
}

// TestClaimReadsInFiredOrder: a claim reads the queued executions in its
// own order from execution_queue's primary key and stops at its limit,
// with no sort of the backlog, and finds their rows by executions' primary
// key, in the plan for its arguments and in the generic one, where the
// analysed table holds no unfinished row and 4,000 have come since, half of
// them queued (until migration 00018 it read every PENDING row and sorted
// those without an owner: 10 to 13 ms a claim at 10,000 queued).
func TestClaimReadsInFiredOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewStore(t)
	unfinishedAfterAnalyse(t, s)
	_, err := s.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
SELECT gen_random_uuid(), workflow_id, deployment_id, 1, 'WEBHOOK', 'PENDING', fired_time + interval '1 hour'
FROM executions WHERE status = 'PENDING'`)
	require.NoError(t, err)

	query, args := s.ClaimStatement("replica-2", time.Minute, 28)
	custom, generic, err := s.ExplainStatement(ctx, query, args, "FORMAT JSON")
	require.NoError(t, err)
	for kind, plan := range map[string]string{"custom": custom, "generic": generic} {
		scans := planScans(t, plan)
		require.Equal(t, []string{"ModifyTable", "Index Scan execution_queue_pkey", "Index Scan executions_pkey"},
			scans[:3], "%s plan:\n%s", kind, plan)
		// The rows to write, by primary key: an index scan or a bitmap.
		for _, scan := range scans[3:] {
			require.Contains(t, []string{"Index Scan executions_pkey", "Bitmap Heap Scan", "Bitmap Index Scan executions_pkey"},
				scan, "%s plan:\n%s", kind, plan)
		}
		require.NotContains(t, plan, `"Sort Key"`, "%s plan:\n%s", kind, plan)
	}
	claimed, err := s.ClaimExecutions(ctx, "replica-2", time.Minute, 28)
	require.NoError(t, err)
	require.Len(t, claimed, 28)
}

// unfinishedAfterAnalyse fills s with 20,000 finished executions, analyses
// the table, then adds 2,000 PENDING ones of replica-1 and returns their
// ids: the statistics see no unfinished row, as those of a history table
// whose unfinished rows come and go between two ANALYZEs.
func unfinishedAfterAnalyse(t *testing.T, s *postgres.Store) []string {
	t.Helper()
	ctx := context.Background()
	d := mustCreate(t, s, newDeployment("wf", workflow.StatusDeployed))
	base := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	_, err := s.DB().ExecContext(ctx, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
SELECT gen_random_uuid(), 'wf', $1, 1, 'WEBHOOK', 'SUCCEEDED', $2::timestamptz + i * interval '1 second'
FROM generate_series(1, 20000) AS i`, d.ID, base)
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `ANALYZE executions`)
	require.NoError(t, err)
	var ids []string
	require.NoError(t, s.DB().SelectContext(ctx, &ids, `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time, owner_instance)
SELECT gen_random_uuid(), 'wf', $1, 1, 'WEBHOOK', 'PENDING', $2::timestamptz + i * interval '1 millisecond', 'replica-1'
FROM generate_series(1, 2000) AS i
RETURNING id`, d.ID, base.Add(24*time.Hour)))
	return ids
}

// planScans returns the scans of executions, of the execution queue and of
// the indexes named after them in an EXPLAIN (FORMAT JSON) plan, each as
// its node type and, for index scans, the index.
func planScans(t *testing.T, plan string) []string {
	t.Helper()
	type node struct {
		NodeType  string `json:"Node Type"`
		Relation  string `json:"Relation Name"`
		IndexName string `json:"Index Name"`
		Plans     []node `json:"Plans"`
	}
	var top []struct {
		Plan node `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal([]byte(plan), &top))
	require.Len(t, top, 1)
	var scans []string
	var walk func(n node)
	walk = func(n node) {
		if n.Relation == "executions" || n.Relation == "execution_queue" || strings.HasPrefix(n.IndexName, "execution") {
			scans = append(scans, strings.TrimSpace(n.NodeType+" "+n.IndexName))
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(top[0].Plan)
	return scans
}
