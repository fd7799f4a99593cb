package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// Settings of the trigger benchmark.
const (
	// trigBenchCallers is the concurrency of both loads: as many
	// goroutines, each calling in a closed loop.
	trigBenchCallers = 64
	// trigBenchWorkflows each have one webhook trigger; calls go round
	// robin over their paths.
	trigBenchWorkflows = 256
	// trigBenchRawConns is the raw baseline's pool, one connection per
	// caller: on 2 cores, pools of 16, 32, 48 and 64 gave the same rate
	// within the noise, 64 the lowest p99, 8 a lower rate; and a prepared
	// statement (one round trip) beat lib/pq's unnamed one (two) by ~40%.
	trigBenchRawConns = trigBenchCallers
	// trigBenchLater is when, after the load stops, the PENDING executions
	// are counted a second time.
	trigBenchLater = 10 * time.Second
	// trigBenchDrainWait bounds the wait, after that, for the run's
	// executions to leave PENDING, reported for information.
	trigBenchDrainWait = 60 * time.Second
	// The goals.
	trigBenchGoalRate  = 5000
	trigBenchGoalP99   = 50 * time.Millisecond
	trigBenchGoalRatio = 1.0
)

// TestBenchTrigger is `make bench-trigger`, not a test: with PostgreSQL,
// Redis, the runtime and an engine-sim all in this machine (the last two in
// this process), it measures first the raw rate of single-row durable
// INSERT ... ON CONFLICT DO NOTHING into a table shaped like executions,
// then the rate of webhook TriggerWorkflow calls over gRPC, both from
// trigBenchCallers closed-loop callers, and prints both, their ratio and
// how many of the run's executions were PENDING when the load stopped and
// trigBenchLater after. WFR_BENCH_TRIGGER is the number of seconds each load
// is held.
//
// The baseline goes first, on a machine with nothing else of this test
// running: the runtime leaves work behind its load (dispatches, engine
// runs, their status writes) which would slow a baseline run after it, and
// a slower baseline would flatter the ratio.
func TestBenchTrigger(t *testing.T) {
	seconds := os.Getenv("WFR_BENCH_TRIGGER")
	if seconds == "" {
		t.Skip("a benchmark: run it with `make bench-trigger` (WFR_BENCH_TRIGGER=<seconds of load>)")
	}
	secs, err := strconv.Atoi(seconds)
	require.NoError(t, err, "WFR_BENCH_TRIGGER is the number of seconds of load")
	require.Positive(t, secs, "WFR_BENCH_TRIGGER is the number of seconds of load")
	d := time.Duration(secs) * time.Second

	raw := runRawInsertBench(t, d)
	rt := runTriggerBench(t, d)

	ratio := rt.rate / raw.rate
	fmt.Printf("trigger throughput: %d closed-loop callers for %v each; %s\n", trigBenchCallers, d, raw.settings)
	fmt.Printf("%-8s %8s %8s %8s %8s %8s %6s %9s %9s %6s %6s\n",
		"load", "calls", "rate/s", "p50_ms", "p99_ms", "max_ms", "errors", "pend_stop", "pend_"+strconv.Itoa(int(trigBenchLater.Seconds()))+"s", "cpu_p", "cpu_h")
	fmt.Printf("%-8s %8d %8.0f %8.2f %8.2f %8.2f %6d %9s %9s %6.0f %6.0f\n",
		"raw", raw.ok, raw.rate, benchMS(raw.lat, 0.5), benchMS(raw.lat, 0.99), benchMS(raw.lat, 1), raw.errors, "-", "-", raw.cpuProc, raw.cpuHost)
	fmt.Printf("%-8s %8d %8.0f %8.2f %8.2f %8.2f %6d %9d %9d %6.0f %6.0f\n",
		"runtime", rt.ok, rt.rate, benchMS(rt.lat, 0.5), benchMS(rt.lat, 0.99), benchMS(rt.lat, 1), rt.errors, rt.pendingAtStop, rt.pendingLater, rt.cpuProc, rt.cpuHost)
	if raw.firstErr != nil {
		fmt.Printf("raw first error: %v\n", raw.firstErr)
	}
	if rt.firstErr != nil {
		fmt.Printf("runtime first error: %v\n", rt.firstErr)
	}
	fmt.Printf("ratio runtime/raw: %.2f\n", ratio)
	fmt.Printf("runtime: %d execution rows of the run for %d accepted triggers; %s\n", rt.rows, rt.ok, rt.drained)
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	fmt.Printf("goal accepted >= %d/s: %s (%.0f/s)\n", trigBenchGoalRate, verdict(rt.rate >= trigBenchGoalRate), rt.rate)
	fmt.Printf("goal p99 <= %v: %s (%.2f ms)\n", trigBenchGoalP99, verdict(len(rt.lat) > 0 && benchPercentile(rt.lat, 0.99) <= trigBenchGoalP99), benchMS(rt.lat, 0.99))
	fmt.Printf("goal ratio >= %.1f: %s (%.2f)\n", trigBenchGoalRatio, verdict(ratio >= trigBenchGoalRatio), ratio)
	fmt.Printf("goal zero errors: %s (%d)\n", verdict(rt.errors == 0), rt.errors)
	fmt.Println("raw: INSERT ... ON CONFLICT DO NOTHING of one row per autocommit transaction into the executions table of the migrations " +
		"(every index, no foreign key to deployments) in a database of its own, pool of " + strconv.Itoa(trigBenchRawConns) + " connections, prepared statement;")
	fmt.Println("runtime: TriggerWorkflow of a webhook path (ASYNC, ALLOW_ALL, no idempotency key) over one gRPC connection; " +
		"pend_stop, pend_" + strconv.Itoa(int(trigBenchLater.Seconds())) + "s: the run's executions still PENDING when the load stopped and " + trigBenchLater.String() + " later;")
	fmt.Println("cpu_p: this process (callers, and for the runtime also runtime and engine-sim) in % of one core; cpu_h: the whole host busy, in % of all its cores")
}

// trigBenchResult is one load's figures.
type trigBenchResult struct {
	ok, errors       int
	rate             float64
	lat              []time.Duration
	firstErr         error
	cpuProc, cpuHost float64
	// Runtime only.
	pendingAtStop, pendingLater, rows int
	drained                           string
	// Raw only: the server settings that decide durability.
	settings string
}

// trigBenchLoad runs call from trigBenchCallers goroutines, each in a closed
// loop, until d has passed, and returns the successes, errors, latencies
// (sorted) and the rate of successes over the time until the last call
// answered. call gets a sequence number unique to the load.
func trigBenchLoad(d time.Duration, call func(n int) error) trigBenchResult {
	type worker struct {
		lat      []time.Duration
		errors   int
		firstErr error
	}
	workers := make([]worker, trigBenchCallers)
	var wg sync.WaitGroup
	cpu := startBenchCPU()
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Go(func() {
			me := &workers[w]
			for i := 0; ; i++ {
				sent := time.Now()
				if !sent.Before(deadline) {
					return
				}
				err := call(i*trigBenchCallers + w)
				if err != nil {
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
	elapsed := time.Since(start)
	var r trigBenchResult
	r.cpuProc, r.cpuHost = cpu.stop()
	for _, w := range workers {
		r.lat = append(r.lat, w.lat...)
		r.errors += w.errors
		if r.firstErr == nil {
			r.firstErr = w.firstErr
		}
	}
	slices.Sort(r.lat)
	r.ok = len(r.lat)
	r.rate = float64(r.ok) / elapsed.Seconds()
	return r
}

// trigBenchDropForeignKeys drops the foreign keys of the executions table
// of the migrations (the one to deployments: a lookup and a row lock per
// insert that the runtime pays and the baseline does not), and keeps every
// column, constraint and index.
const trigBenchDropForeignKeys = `
DO $$
DECLARE c name;
BEGIN
	FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'executions'::regclass AND contype = 'f' LOOP
		EXECUTE format('ALTER TABLE executions DROP CONSTRAINT %I', c);
	END LOOP;
END $$`

// trigBenchInsert writes one row as the runtime's webhook trigger would.
const trigBenchInsert = `
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type,
	status, fired_time, trace_id, triggered_by, owner_instance, lease_expires_at, input)
VALUES ($1, $2, $3, 1, $4, 'WEBHOOK', 'PENDING', $5, $6, $7, 'bench-trigger', $8, $9)
ON CONFLICT DO NOTHING`

// runRawInsertBench measures the baseline in a database of its own, and
// checkpoints afterwards so that the runtime does not write its dirty pages.
func runRawInsertBench(t *testing.T, d time.Duration) trigBenchResult {
	t.Helper()
	db, err := sql.Open("postgres", pgtest.NewDatabase(t))
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(trigBenchRawConns)
	db.SetMaxIdleConns(trigBenchRawConns)
	ctx := context.Background()
	require.NoError(t, migrations.Up(ctx, db))
	_, err = db.ExecContext(ctx, trigBenchDropForeignKeys)
	require.NoError(t, err)
	var settings [4]string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT current_setting('server_version'), current_setting('synchronous_commit'),
		current_setting('fsync'), current_setting('commit_delay')`).Scan(&settings[0], &settings[1], &settings[2], &settings[3]))

	workflows, deployments, triggers := make([]string, trigBenchWorkflows), make([]string, trigBenchWorkflows), make([]string, trigBenchWorkflows)
	for i := range workflows {
		workflows[i] = fmt.Sprintf("bench.trigger-%03d", i)
		deployments[i], triggers[i] = uuid.NewString(), uuid.NewString()
	}
	stmt, err := db.PrepareContext(ctx, trigBenchInsert) //nolint:sqlclosecheck // closed by the defer below; the linter loses it through the insert closure
	require.NoError(t, err)
	defer stmt.Close()
	insert := func(n int) error {
		w := n % trigBenchWorkflows
		now := time.Now().UTC()
		_, err := stmt.ExecContext(ctx, uuid.NewString(), workflows[w], deployments[w], triggers[w], now,
			uuid.NewString(), fmt.Sprintf("webhook:bench/hook-%03d", w), now.Add(30*time.Second), fmt.Sprintf(`{"n": %d}`, n))
		return err
	}
	// Open (and prepare on) every connection before the clock starts.
	errs := make([]error, trigBenchRawConns)
	var wg sync.WaitGroup
	for i := range trigBenchRawConns {
		wg.Go(func() {
			errs[i] = insert(1<<30 + i) // numbers the load does not reach
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	r := trigBenchLoad(d, insert)
	r.settings = fmt.Sprintf("PostgreSQL %s, synchronous_commit=%s, fsync=%s, commit_delay=%s", settings[0], settings[1], settings[2], settings[3])
	_, err = db.ExecContext(ctx, `CHECKPOINT`)
	require.NoError(t, err)
	return r
}

// runTriggerBench measures webhook triggers through the whole runtime.
func runTriggerBench(t *testing.T, d time.Duration) trigBenchResult {
	t.Helper()
	engineAddr := simtest.Serve(t, enginesim.New(enginesim.Config{MinDuration: 10 * time.Millisecond, MaxDuration: 50 * time.Millisecond}), "127.0.0.1:0")
	// Warnings and worse reach stderr, as from a replica at WFR_LOG_LEVEL=warn.
	s := startStack(t, map[string]string{
		"WFR_ENGINE_ADDR": engineAddr, "WFR_INSTANCE_ID": "bench-trigger",
		"WFR_RATE_LIMIT": "0", "WFR_WEBHOOK_RATE_LIMIT": "100000",
		"WFR_LOG_LEVEL": "warn", "WFR_LOG_FORMAT": "logfmt", "WFR_SHUTDOWN_TIMEOUT": "10s",
	})
	db, err := sql.Open("postgres", s.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()

	paths := deployBenchWebhooks(t, s.client, trigBenchWorkflows, "hook", "trigger")
	trigger := func(n int) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := s.client.TriggerWorkflow(cctx, &pb.TriggerWorkflowRequest{
			WebhookPath: paths[n%trigBenchWorkflows], TriggerData: fmt.Sprintf(`{"n": %d}`, n), HttpMethod: "POST",
		})
		return err
	}
	// Every path once, which opens the runtime's connections, then a
	// quiet database before the clock starts.
	errs := make([]error, trigBenchWorkflows)
	var wg sync.WaitGroup
	for i := range trigBenchCallers {
		wg.Go(func() {
			for n := i; n < trigBenchWorkflows; n += trigBenchCallers {
				errs[n] = trigger(n)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	left, err := drainBench(db)
	require.NoError(t, err)
	require.Zero(t, left, "the warm-up's executions did not end")

	start := time.Now()
	r := trigBenchLoad(d, trigger)
	stop := time.Now()
	pending := func() int {
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE status = 'PENDING' AND fired_time >= $1`, start).Scan(&n))
		return n
	}
	r.pendingAtStop = pending()
	time.Sleep(time.Until(stop.Add(trigBenchLater)))
	r.pendingLater = pending()
	r.drained = fmt.Sprintf("none PENDING %v after the load stopped", trigBenchLater)
	if r.pendingLater > 0 {
		left, deadline := r.pendingLater, time.Now().Add(trigBenchDrainWait)
		for left > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			left = pending()
		}
		r.drained = fmt.Sprintf("none PENDING %.1f s after the load stopped", time.Since(stop).Seconds())
		if left > 0 {
			r.drained = fmt.Sprintf("still %d PENDING %.1f s after the load stopped", left, time.Since(stop).Seconds())
		}
	}
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE fired_time >= $1`, start).Scan(&r.rows))
	return r
}

// deployBenchWebhooks deploys n ALLOW_ALL workflows "bench.<name>-NNN",
// each with an ASYNC webhook at "bench/<path>-NNN", and returns the paths.
func deployBenchWebhooks(t *testing.T, client pb.WorkflowRuntimeServiceClient, n int, path, name string) []string {
	t.Helper()
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("bench/%s-%03d", path, i)
		_, err := client.DeployWorkflow(context.Background(), &pb.DeployWorkflowRequest{
			WorkflowId:         fmt.Sprintf("bench.%s-%03d", name, i),
			WorkflowDefinition: definition(t, actionNode),
			Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{
				Path: paths[i], ResponseMode: pb.ResponseMode_RESPONSE_MODE_ASYNC}}},
			Config:     &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL},
			DeployedBy: "bench",
		})
		require.NoError(t, err)
	}
	return paths
}
