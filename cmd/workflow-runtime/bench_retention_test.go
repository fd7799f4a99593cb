package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/retention"
)

// Settings of the retention benchmark.
const (
	// retBenchWorkflows each have one webhook trigger, which the trigger
	// load calls round robin, and share the loaded rows evenly.
	retBenchWorkflows = 256
	// retBenchRetention is the default WFR_EXECUTION_RETENTION; 80 % of
	// the rows are fired before it, over the 11 months before, and 20 %
	// after, over the 29 days after.
	retBenchRetention = 30 * 24 * time.Hour
	// retBenchQueries filtered history pages are timed at the end, after
	// retBenchWarmup untimed ones.
	retBenchQueries = 400
	retBenchWarmup  = 40
	retBenchPage    = 50
	// The goals.
	retBenchGoalRise = 0.20
	retBenchGoalP99  = 20 * time.Millisecond
)

// retBenchLoadSQL writes $1 finished executions over the deployments, the
// first 80 % fired before $2 - retention and the rest after, in fired_time
// order as the runtime writes them: 90 % SUCCEEDED, 7 % FAILED, 3 % SKIPPED.
const retBenchLoadSQL = `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status,
	fired_time, started_time, finished_time, engine_execution_id, error_message, trace_id, triggered_by, input, result)
SELECT gen_random_uuid(), d.workflow_id, d.id, 1, 'WEBHOOK', g.status,
	g.fired, g.fired + interval '40 milliseconds', g.fired + interval '1 second', 'eng-' || g.i,
	CASE WHEN g.status = 'FAILED' THEN 'node "http" failed: upstream answered 502 Bad Gateway' END,
	md5(g.i::text), 'webhook:bench', '{"order_id":"ord-' || g.i || '","amount":' || g.i % 10000 || '.25}',
	CASE WHEN g.status = 'SUCCEEDED' THEN jsonb_build_object('ok', true, 'invoice', 'inv-' || g.i) END
FROM (
	SELECT i, CASE WHEN r < 0.90 THEN 'SUCCEEDED' WHEN r < 0.97 THEN 'FAILED' ELSE 'SKIPPED' END AS status,
		CASE WHEN i <= $1 * 0.8
			THEN $2::timestamptz - $3 * interval '1 second' - interval '1 day' - random() * interval '330 days'
			ELSE $2::timestamptz - random() * interval '29 days' END AS fired
	FROM (SELECT i, random() AS r FROM generate_series(1, $1) AS i) u
) g
JOIN (SELECT id, workflow_id, row_number() OVER (ORDER BY workflow_id) - 1 AS k FROM deployments) d ON d.k = g.i % $4
ORDER BY g.fired`

// TestBenchRetention is `make bench-retention`, not a test: on a whole
// stack over local PostgreSQL and Redis it loads WFR_BENCH_RETENTION
// finished executions, 80 % of them older than a 30-day retention, in one
// INSERT ... SELECT of generate_series; runs the webhook trigger load of
// bench-trigger for WFR_BENCH_RETENTION_SECONDS without retention, then
// again while one retention pass removes the expired rows (as long as the
// pass takes); and prints the trigger p99 of both, the time the pass took
// and the p99 of filtered history pages on what is left.
func TestBenchRetention(t *testing.T) {
	rowsEnv := os.Getenv("WFR_BENCH_RETENTION")
	if rowsEnv == "" {
		t.Skip("a benchmark: run it with `make bench-retention` (WFR_BENCH_RETENTION=<execution rows>)")
	}
	rows, err := strconv.Atoi(rowsEnv)
	require.NoError(t, err, "WFR_BENCH_RETENTION is the number of execution rows")
	require.Positive(t, rows, "WFR_BENCH_RETENTION is the number of execution rows")
	secs := 20
	if v := os.Getenv("WFR_BENCH_RETENTION_SECONDS"); v != "" {
		secs, err = strconv.Atoi(v)
		require.NoError(t, err, "WFR_BENCH_RETENTION_SECONDS is the seconds of the load without retention")
	}
	loadFor := time.Duration(secs) * time.Second
	ctx := context.Background()

	engineAddr := simtest.Serve(t, enginesim.New(enginesim.Config{MinDuration: 10 * time.Millisecond, MaxDuration: 50 * time.Millisecond}), "127.0.0.1:0")
	// The stack's own retention is off: the benchmark's pass is the one.
	s := startStack(t, map[string]string{
		"WFR_ENGINE_ADDR": engineAddr, "WFR_INSTANCE_ID": "bench-retention",
		"WFR_RATE_LIMIT": "0", "WFR_WEBHOOK_RATE_LIMIT": "100000", "WFR_EXECUTION_RETENTION": "0",
		"WFR_LOG_LEVEL": "warn", "WFR_LOG_FORMAT": "logfmt", "WFR_SHUTDOWN_TIMEOUT": "10s",
	})
	db, err := sql.Open("postgres", s.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := postgres.Open(ctx, s.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	paths := make([]string, retBenchWorkflows)
	for i := range paths {
		paths[i] = fmt.Sprintf("bench/retention-%03d", i)
		_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
			WorkflowId:         fmt.Sprintf("bench.retention-%03d", i),
			WorkflowDefinition: definition(t, actionNode),
			Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{
				Path: paths[i], ResponseMode: pb.ResponseMode_RESPONSE_MODE_ASYNC}}},
			Config:     &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL},
			DeployedBy: "bench",
		})
		require.NoError(t, err)
	}

	now := time.Now()
	start := time.Now()
	_, err = db.ExecContext(ctx, retBenchLoadSQL, rows, now, int64(retBenchRetention.Seconds()), retBenchWorkflows)
	require.NoError(t, err)
	loaded := time.Since(start)
	start = time.Now()
	_, err = db.ExecContext(ctx, `VACUUM ANALYZE executions`)
	require.NoError(t, err)
	analyzed := time.Since(start)
	var expired int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE fired_time < $1`, now.Add(-retBenchRetention)).Scan(&expired))
	var tableSize string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT pg_size_pretty(pg_total_relation_size('executions'))`).Scan(&tableSize))

	trigger := func(n int) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := s.client.TriggerWorkflow(cctx, &pb.TriggerWorkflowRequest{
			WebhookPath: paths[n%retBenchWorkflows], TriggerData: fmt.Sprintf(`{"n": %d}`, n), HttpMethod: "POST",
		})
		return err
	}
	// An untimed quarter of the load, which opens the runtime's
	// connections and warms its caches, then a checkpoint (of the loaded
	// rows too) and a quiet database before the clock starts: the first
	// load must not pay for what the loading left behind.
	warm := make(chan struct{})
	time.AfterFunc(loadFor/4, func() { close(warm) })
	warmup := retBenchLoad(warm, trigger)
	require.Zero(t, warmup.errors, "warm-up: %v", warmup.firstErr)
	left, err := drainBench(db)
	require.NoError(t, err)
	require.Zero(t, left, "the warm-up's executions did not end")
	_, err = db.ExecContext(ctx, `CHECKPOINT`)
	require.NoError(t, err)

	stop := make(chan struct{})
	time.AfterFunc(loadFor, func() { close(stop) })
	without := retBenchLoad(stop, trigger)
	left, err = drainBench(db)
	require.NoError(t, err)
	require.Zero(t, left, "the first load's executions did not end")

	r := retention.New(st, retention.Options{InstanceID: "bench-retention", Retention: retBenchRetention})
	passDone := make(chan struct{})
	var (
		res     retention.Result
		passErr error
	)
	go func() {
		defer close(passDone)
		res, passErr = r.Pass(ctx)
	}()
	with := retBenchLoad(passDone, trigger)
	require.NoError(t, passErr)
	require.True(t, res.Held)
	var stillExpired int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE fired_time < $1`, now.Add(-retBenchRetention)).Scan(&stillExpired))
	left, err = drainBench(db)
	require.NoError(t, err)
	require.Zero(t, left, "the second load's executions did not end")
	// History as the pass left it (autovacuum may or may not have come
	// by), then once vacuumed.
	history := retBenchHistory(t, st, now)
	_, err = db.ExecContext(ctx, `VACUUM ANALYZE executions`)
	require.NoError(t, err)
	vacuumed := retBenchHistory(t, st, now)

	rise := benchMS(with.lat, 0.99)/benchMS(without.lat, 0.99) - 1
	fmt.Printf("retention: %d executions (%d expired) over %d workflows loaded in %v, VACUUM ANALYZE %v; executions with indexes %s\n",
		rows, expired, retBenchWorkflows, loaded.Round(time.Millisecond), analyzed.Round(time.Millisecond), tableSize)
	fmt.Printf("%-18s %8s %8s %8s %8s %8s %6s %8s\n", "trigger load", "calls", "rate/s", "p50_ms", "p99_ms", "max_ms", "errors", "secs")
	for _, l := range []struct {
		name string
		r    retBenchResult
	}{{"without retention", without}, {"with retention", with}} {
		fmt.Printf("%-18s %8d %8.0f %8.2f %8.2f %8.2f %6d %8.1f\n", l.name, len(l.r.lat), float64(len(l.r.lat))/l.r.took.Seconds(),
			benchMS(l.r.lat, 0.5), benchMS(l.r.lat, 0.99), benchMS(l.r.lat, 1), l.r.errors, l.r.took.Seconds())
		if l.r.firstErr != nil {
			fmt.Printf("  first error: %v\n", l.r.firstErr)
		}
	}
	fmt.Printf("retention pass: %d executions removed in %v (%.0f rows/s), %d expired rows left\n",
		res.Executions, res.Duration.Round(time.Millisecond), float64(res.Executions)/res.Duration.Seconds(), stillExpired)
	for _, h := range []struct {
		name string
		lat  []time.Duration
	}{{"after the pass", history}, {"after VACUUM", vacuumed}} {
		fmt.Printf("history %s: %d filtered pages (after %d untimed) of %d, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms\n",
			h.name, len(h.lat), retBenchWarmup, retBenchPage, benchMS(h.lat, 0.5), benchMS(h.lat, 0.95), benchMS(h.lat, 0.99), benchMS(h.lat, 1))
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	fmt.Printf("goal trigger p99 rises <= %.0f %% with retention: %s (%+.1f %%)\n", 100*retBenchGoalRise, verdict(rise <= retBenchGoalRise), 100*rise)
	fmt.Printf("goal history p99 <= %v after the pass: %s (%.2f ms)\n", retBenchGoalP99, verdict(benchPercentile(history, 0.99) <= retBenchGoalP99), benchMS(history, 0.99))
	fmt.Println("trigger load: TriggerWorkflow of a webhook path (ASYNC, ALLOW_ALL) from " + strconv.Itoa(trigBenchCallers) +
		" closed-loop callers over one gRPC connection; with retention it lasts as long as the pass;")
	fmt.Println("history: Store.ListExecutions of one workflow, half with one status, over the last 30 days, first pages")
}

// retBenchResult is one trigger load's figures.
type retBenchResult struct {
	lat      []time.Duration
	errors   int
	firstErr error
	took     time.Duration
}

// retBenchLoad runs call from trigBenchCallers goroutines, each in a closed
// loop, until stop closes, and returns the latencies (sorted).
func retBenchLoad(stop <-chan struct{}, call func(n int) error) retBenchResult {
	type worker struct {
		lat      []time.Duration
		errors   int
		firstErr error
	}
	workers := make([]worker, trigBenchCallers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			me := &workers[w]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				if err := call(i*trigBenchCallers + w); err != nil {
					me.errors++
					if me.firstErr == nil {
						me.firstErr = err
					}
					continue
				}
				me.lat = append(me.lat, time.Since(sent))
			}
		})
	}
	wg.Wait()
	r := retBenchResult{took: time.Since(start)}
	for _, w := range workers {
		r.lat = append(r.lat, w.lat...)
		r.errors += w.errors
		if r.firstErr == nil {
			r.firstErr = w.firstErr
		}
	}
	slices.Sort(r.lat)
	return r
}

// retBenchHistory times filtered first pages of history on what retention
// left, and returns their latencies (sorted).
func retBenchHistory(t *testing.T, st *postgres.Store, now time.Time) []time.Duration {
	t.Helper()
	rng := rand.New(rand.NewPCG(16, 1))
	statuses := []workflow.ExecutionStatus{workflow.ExecutionSucceeded, workflow.ExecutionFailed, workflow.ExecutionSkipped}
	var lat []time.Duration
	for i := range retBenchWarmup + retBenchQueries {
		f := workflow.ExecutionFilter{
			WorkflowID: fmt.Sprintf("bench.retention-%03d", rng.IntN(retBenchWorkflows)),
			From:       now.Add(-retBenchRetention), To: now.Add(time.Hour), Limit: retBenchPage,
		}
		if rng.IntN(2) == 0 {
			f.Statuses = []workflow.ExecutionStatus{statuses[rng.IntN(len(statuses))]}
		}
		start := time.Now()
		_, err := st.ListExecutions(context.Background(), f)
		require.NoError(t, err)
		if i >= retBenchWarmup {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	return lat
}
