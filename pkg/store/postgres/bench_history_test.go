package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Settings of the history benchmark.
const (
	// histBenchWorkflows share the rows with skewed sizes: row i belongs
	// to workflow 1 + floor(histBenchWorkflows * u^3), u uniform in [0, 1),
	// so the biggest workflow holds about 8 % of the rows and most hold a
	// few hundred.
	histBenchWorkflows = 2000
	// histBenchQueries filtered first pages are timed, each followed by
	// its second page when it has one; histBenchWarmup untimed ones go
	// first so that the figures are those of a server that serves
	// history, not of its first minute.
	histBenchQueries = 400
	histBenchWarmup  = 40
	histBenchPage    = 50
	// The goal.
	histBenchGoalP99 = 20 * time.Millisecond
)

// histBenchEnd is the end of the year of fired_time the rows span.
var histBenchEnd = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// histBenchStatuses are every execution status, which half the queries
// draw uniformly: the rare ones are the hard case, as an index ordered by
// time alone walks many rows of other statuses to fill a page of them.
var histBenchStatuses = []workflow.ExecutionStatus{
	workflow.ExecutionSucceeded, workflow.ExecutionFailed, workflow.ExecutionSkipped, workflow.ExecutionCancelled,
	workflow.ExecutionTimedOut, workflow.ExecutionRunning, workflow.ExecutionPending,
}

// histBenchLoadSQL writes $1 executions of a year ending at $3 over the
// first $2 workflows, in fired_time order as the runtime writes them, with
// payloads, results and errors of realistic size. Statuses: 80 % SUCCEEDED,
// 8 % FAILED, 5 % SKIPPED, 2 % CANCELLED, 2 % TIMED_OUT and 3 % SUCCEEDED
// unless fired in the last ten minutes, when they are still RUNNING or
// PENDING. Triggers: 60 % CRON, 30 % WEBHOOK, 10 % MANUAL.
const histBenchLoadSQL = `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status,
	scheduled_time, fired_time, started_time, finished_time, engine_execution_id, error_message,
	trace_id, input, result)
SELECT gen_random_uuid(), d.workflow_id, d.id, 1, g.trigger_type, g.status,
	CASE WHEN g.trigger_type = 'CRON' THEN date_trunc('minute', g.fired_time) END, g.fired_time,
	CASE WHEN g.status NOT IN ('PENDING', 'SKIPPED') THEN g.fired_time + interval '40 milliseconds' END,
	CASE WHEN g.status NOT IN ('PENDING', 'RUNNING', 'SKIPPED') THEN g.fired_time + g.i % 9000 * interval '1 millisecond' END,
	CASE WHEN g.status NOT IN ('PENDING', 'SKIPPED') THEN 'eng-' || g.i END,
	CASE g.status WHEN 'FAILED' THEN 'node "http" failed: upstream answered 502 Bad Gateway after 3 attempts'
		WHEN 'TIMED_OUT' THEN 'execution exceeded its 300s timeout' END,
	md5(g.i::text),
	'{"order_id":"ord-' || g.i || '","customer":"cust-' || g.i % 977 || '","amount":' || g.i % 10000 || '.25,"currency":"EUR"}',
	CASE WHEN g.status = 'SUCCEEDED' THEN jsonb_build_object('ok', true, 'items', g.i % 7, 'invoice', 'inv-' || g.i) END
FROM (
	SELECT i, w, fired_time,
		CASE WHEN r < 0.80 THEN 'SUCCEEDED' WHEN r < 0.88 THEN 'FAILED' WHEN r < 0.93 THEN 'SKIPPED'
			WHEN r < 0.95 THEN 'CANCELLED' WHEN r < 0.97 THEN 'TIMED_OUT'
			WHEN fired_time < $3::timestamptz - interval '10 minutes' THEN 'SUCCEEDED'
			WHEN r < 0.985 THEN 'RUNNING' ELSE 'PENDING' END AS status,
		CASE WHEN q < 0.6 THEN 'CRON' WHEN q < 0.9 THEN 'WEBHOOK' ELSE 'MANUAL' END AS trigger_type
	FROM (
		SELECT i, 1 + floor($2 * power(random(), 3))::int AS w,
			$3::timestamptz - random() * interval '365 days' AS fired_time, random() AS r, random() AS q
		FROM generate_series(1, $1) AS i
	) u
) g
JOIN deployments d ON d.workflow_id = 'wf-' || g.w
ORDER BY g.fired_time`

// TestBenchHistory is `make bench-history`, not a test: in a database of
// its own it loads WFR_BENCH_HISTORY executions (a year of them over
// histBenchWorkflows workflows of skewed sizes, every status), analyzes
// them, then times filtered pages of GetExecutionHistory's store method,
// one workflow, one or two statuses and a time range each, page size 50,
// first page and, through its cursor, the second; it prints the
// percentiles, the plan of a representative query and of the one slowest on
// the server, and PASS or FAIL against the goal of 20 ms at p99.
func TestBenchHistory(t *testing.T) {
	rowsEnv := os.Getenv("WFR_BENCH_HISTORY")
	if rowsEnv == "" {
		t.Skip("a benchmark: run it with `make bench-history` (WFR_BENCH_HISTORY=<execution rows>)")
	}
	rows, err := strconv.Atoi(rowsEnv)
	require.NoError(t, err, "WFR_BENCH_HISTORY is the number of execution rows")
	require.Positive(t, rows, "WFR_BENCH_HISTORY is the number of execution rows")
	ctx := context.Background()
	s := pgtest.NewStore(t)

	start := time.Now()
	_, err = s.DB().ExecContext(ctx, `
INSERT INTO workflows (id, name, definition) SELECT 'wf-' || i, 'Workflow ' || i, '{}' FROM generate_series(1, $1) AS i`, histBenchWorkflows)
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `
INSERT INTO deployments (id, workflow_id, status, version, definition)
SELECT gen_random_uuid(), 'wf-' || i, 'DEPLOYED', 1, '{}' FROM generate_series(1, $1) AS i`, histBenchWorkflows)
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, histBenchLoadSQL, rows, histBenchWorkflows, histBenchEnd)
	require.NoError(t, err)
	loaded := time.Since(start)
	start = time.Now()
	_, err = s.DB().ExecContext(ctx, `VACUUM ANALYZE executions`)
	require.NoError(t, err)
	analyzed := time.Since(start)

	var tableSize, indexSizes string
	require.NoError(t, s.DB().GetContext(ctx, &tableSize, `SELECT pg_size_pretty(pg_table_size('executions'))`))
	require.NoError(t, s.DB().GetContext(ctx, &indexSizes, `
SELECT string_agg(indexrelname || ' ' || pg_size_pretty(pg_relation_size(indexrelid)), ', ' ORDER BY indexrelname)
FROM pg_stat_user_indexes WHERE relname = 'executions'`))
	var biggest int
	require.NoError(t, s.DB().GetContext(ctx, &biggest, `
SELECT count(*) FROM executions WHERE workflow_id = 'wf-1'`))

	rng := rand.New(rand.NewPCG(6, 1))
	filters := make([]workflow.ExecutionFilter, histBenchWarmup+histBenchQueries)
	for i := range filters {
		filters[i] = histBenchFilter(rng)
	}
	var first, second []time.Duration
	var timed []workflow.ExecutionFilter
	for i, f := range filters {
		d, page := timeListExecutions(t, s, f)
		if i < histBenchWarmup {
			continue
		}
		first = append(first, d)
		timed = append(timed, f)
		if page.Next == "" {
			continue
		}
		f.After = page.Next
		d, _ = timeListExecutions(t, s, f)
		second = append(second, d)
		timed = append(timed, f)
	}
	all := slices.Concat(first, second)

	// The server's side of the same pages, which the other processes of a
	// busy machine disturb less than the round trip: execution time and
	// buffers touched, from EXPLAIN ANALYZE.
	var serverTime []time.Duration
	var buffers []int
	var slowest time.Duration
	var slowestFilter workflow.ExecutionFilter
	for _, f := range timed {
		d, b := explainCost(t, s, f)
		serverTime = append(serverTime, d)
		buffers = append(buffers, b)
		if d > slowest {
			slowest, slowestFilter = d, f
		}
	}
	slices.Sort(buffers)

	fmt.Printf("history: %d executions over %d workflows (the biggest %d rows) loaded in %v, VACUUM ANALYZE %v\n",
		rows, histBenchWorkflows, biggest, loaded.Round(time.Millisecond), analyzed.Round(time.Millisecond))
	fmt.Printf("executions %s; indexes: %s\n", tableSize, indexSizes)
	fmt.Printf("%d filtered queries (after %d untimed) of page size %d, one client, through Store.ListExecutions\n",
		histBenchQueries, histBenchWarmup, histBenchPage)
	fmt.Printf("%-14s %6s %8s %8s %8s %8s\n", "pages", "count", "p50_ms", "p95_ms", "p99_ms", "max_ms")
	for _, r := range []struct {
		name string
		lat  []time.Duration
	}{{"first", first}, {"second", second}, {"all", all}, {"all (server)", serverTime}} {
		fmt.Printf("%-14s %6d %8.2f %8.2f %8.2f %8.2f\n", r.name, len(r.lat),
			benchMS(r.lat, 0.5), benchMS(r.lat, 0.95), benchMS(r.lat, 0.99), benchMS(r.lat, 1))
	}
	fmt.Printf("(server): execution time of EXPLAIN ANALYZE of the same pages; shared buffers touched p50 %d, p99 %d, max %d\n",
		buffers[len(buffers)/2], buffers[int(math.Ceil(0.99*float64(len(buffers))))-1], buffers[len(buffers)-1])

	rep := workflow.ExecutionFilter{
		WorkflowID: "wf-1", Statuses: []workflow.ExecutionStatus{workflow.ExecutionFailed},
		From: histBenchEnd.AddDate(0, -4, 0), To: histBenchEnd.AddDate(0, -1, 0), Limit: histBenchPage,
	}
	page, err := s.ListExecutions(ctx, rep)
	require.NoError(t, err)
	for _, r := range []struct {
		name string
		f    workflow.ExecutionFilter
	}{
		{"representative: the biggest workflow, FAILED, three months", rep},
		{"its second page", withAfter(rep, page.Next)},
		{fmt.Sprintf("the slowest page on the server (%.2f ms)", float64(slowest)/float64(time.Millisecond)), slowestFilter},
	} {
		plan, err := s.ExplainListExecutions(ctx, r.f, "ANALYZE, BUFFERS")
		require.NoError(t, err)
		fmt.Printf("\nEXPLAIN (ANALYZE, BUFFERS), %s: %s\n%s\n", r.name, describeFilter(r.f), plan)
	}

	verdict := "FAIL"
	if p99 := benchPercentile(all, 0.99); p99 <= histBenchGoalP99 {
		verdict = "PASS"
	}
	fmt.Printf("\ngoal p99 <= %v: %s (%.2f ms over %d pages, %d of them second pages)\n",
		histBenchGoalP99, verdict, benchMS(all, 0.99), len(all), len(second))
}

// histBenchFilter draws a query: half the time a workflow drawn like the
// rows (so mostly the big ones), half the time any workflow alike; one
// status, or one in five times two, each drawn half the time like the rows
// (mostly SUCCEEDED, whose pages have a second) and half the time any
// status alike; a time range of an hour to half a year, log-uniform, inside
// the year.
func histBenchFilter(rng *rand.Rand) workflow.ExecutionFilter {
	w := 1 + rng.IntN(histBenchWorkflows)
	if rng.IntN(2) == 0 {
		w = 1 + int(math.Floor(histBenchWorkflows*math.Pow(rng.Float64(), 3)))
	}
	status := func() workflow.ExecutionStatus {
		if rng.IntN(2) == 0 {
			return histBenchStatuses[rng.IntN(len(histBenchStatuses))]
		}
		return histBenchRowStatus(rng.Float64())
	}
	statuses := []workflow.ExecutionStatus{status()}
	if rng.IntN(5) == 0 {
		if other := status(); other != statuses[0] {
			statuses = append(statuses, other)
		}
	}
	const year = 365 * 24 * time.Hour
	span := time.Duration(float64(time.Hour) * math.Pow(180*24, rng.Float64()))
	to := histBenchEnd.Add(-time.Duration(rng.Int64N(int64(year - span))))
	return workflow.ExecutionFilter{
		WorkflowID: fmt.Sprint("wf-", w), Statuses: statuses, From: to.Add(-span), To: to, Limit: histBenchPage,
	}
}

// histBenchRowStatus is the status of a finished row for r uniform in [0,
// 1), in the proportions of histBenchLoadSQL.
func histBenchRowStatus(r float64) workflow.ExecutionStatus {
	switch {
	case r < 0.80:
		return workflow.ExecutionSucceeded
	case r < 0.88:
		return workflow.ExecutionFailed
	case r < 0.93:
		return workflow.ExecutionSkipped
	case r < 0.95:
		return workflow.ExecutionCancelled
	case r < 0.97:
		return workflow.ExecutionTimedOut
	}
	return workflow.ExecutionSucceeded
}

// timeListExecutions lists one page of f and returns how long it took.
func timeListExecutions(t *testing.T, s *postgres.Store, f workflow.ExecutionFilter) (time.Duration, workflow.ExecutionPage) {
	t.Helper()
	start := time.Now()
	page, err := s.ListExecutions(context.Background(), f)
	d := time.Since(start)
	require.NoError(t, err)
	return d, page
}

// explainCost returns the server's execution time of the page of f and the
// shared buffers it touched.
func explainCost(t *testing.T, s *postgres.Store, f workflow.ExecutionFilter) (time.Duration, int) {
	t.Helper()
	plan, err := s.ExplainListExecutions(context.Background(), f, "ANALYZE, BUFFERS, FORMAT JSON")
	require.NoError(t, err)
	var out []struct {
		Plan struct {
			Hit  int `json:"Shared Hit Blocks"`
			Read int `json:"Shared Read Blocks"`
		} `json:"Plan"`
		ExecutionTime float64 `json:"Execution Time"`
	}
	require.NoError(t, json.Unmarshal([]byte(plan), &out))
	require.Len(t, out, 1)
	return time.Duration(out[0].ExecutionTime * float64(time.Millisecond)), out[0].Plan.Hit + out[0].Plan.Read
}

func withAfter(f workflow.ExecutionFilter, after string) workflow.ExecutionFilter {
	f.After = after
	return f
}

func describeFilter(f workflow.ExecutionFilter) string {
	d := fmt.Sprintf("workflow %s, statuses %v, fired in [%s, %s)", f.WorkflowID, f.Statuses,
		f.From.Format(time.DateTime), f.To.Format(time.DateTime))
	if f.After != "" {
		d += ", after the first page"
	}
	return d
}

// benchPercentile returns the q-quantile of lat (nearest rank), 0 for none.
func benchPercentile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func benchMS(lat []time.Duration, q float64) float64 {
	return float64(benchPercentile(lat, q)) / float64(time.Millisecond)
}
