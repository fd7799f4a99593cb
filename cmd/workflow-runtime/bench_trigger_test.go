package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// Settings of the trigger benchmark.
const (
	// trigBenchCallers is the concurrency of the raw load and of the
	// runtime's first run: as many goroutines, each calling in a closed
	// loop.
	trigBenchCallers = 64
	// trigBenchBurstCallers is the concurrency of the runtime's second run,
	// twice the first, which shows what happens past what the runtime can
	// take: back-pressure (RESOURCE_EXHAUSTED) or a growing backlog.
	trigBenchBurstCallers = 2 * trigBenchCallers
	// trigBenchRefusedFor is how long the second run goes on once it is
	// first refused, and trigBenchBurstHold bounds it, in lengths of the
	// first. The default bound (WFR_BACKLOG_MAX) holds the backlog the
	// first run leaves: dispatch yields to its triggers, which wait
	// PENDING. On a saturated host more callers do not make more triggers a
	// second, so the second run passes the bound, and shows the
	// back-pressure, only by lasting longer.
	trigBenchRefusedFor = 10 * time.Second
	trigBenchBurstHold  = 8
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
	// trigBenchDrainWait bounds the wait, after that, for every accepted
	// execution to reach a terminal status.
	trigBenchDrainWait = 120 * time.Second
	// trigBenchSample is how often the PENDING backlog is counted for its
	// peak: a count of 80,000 takes PostgreSQL over 100 ms, which the
	// figures charge to the runtime.
	trigBenchSample = time.Second
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
// trigBenchCallers closed-loop callers, and then the runtime again at
// trigBenchBurstCallers until trigBenchRefusedFor after its first refusal.
// It prints the rates, their ratio, the PENDING backlog (at the end of the
// load, trigBenchLater after, and its peak), the engine's calls, the CPU
// seconds spent per 1,000 answers by this process and by PostgreSQL, over
// the load and until every accepted execution ended, and whether every one
// did. WFR_BENCH_TRIGGER is the number of seconds the first two loads
// are held.
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
	rt, burst := runTriggerBench(t, d)

	ratio := rt.rate / raw.rate
	later := "pend_" + strconv.Itoa(int(trigBenchLater.Seconds())) + "s"
	fmt.Printf("trigger throughput: closed-loop callers for %v (burst: until refused for %v, at most %v); %s\n",
		d, trigBenchRefusedFor, trigBenchBurstHold*d, raw.settings)
	fmt.Printf("%-8s %7s %8s %8s %7s %7s %7s %6s %7s %9s %8s %8s %7s %7s %9s %9s %6s %6s\n",
		"load", "callers", "calls", "rate/s", "p50_ms", "p99_ms", "max_ms", "errors", "exhaust", "pend_stop", later, "pend_max",
		"exec/s", "rpc/s", "cpu_p/1k", "cpu_pg/1k", "cpu_p", "cpu_h")
	for _, r := range []struct {
		name string
		r    trigBenchResult
	}{{"raw", raw}, {"runtime", rt}, {"burst", burst}} {
		runtimeOnly := func(n int) string {
			if r.name == "raw" {
				return "-"
			}
			return strconv.Itoa(n)
		}
		perSecond := func(n int) string {
			if r.name == "raw" {
				return "-"
			}
			return strconv.FormatFloat(float64(n)/r.r.elapsed.Seconds(), 'f', 0, 64)
		}
		fmt.Printf("%-8s %7d %8d %8.0f %7.2f %7.2f %7.2f %6d %7d %9s %8s %8s %7s %7s %9.3f %9.3f %6.0f %6.0f\n",
			r.name, r.r.callers, r.r.ok, r.r.rate, benchMS(r.r.lat, 0.5), benchMS(r.r.lat, 0.99), benchMS(r.r.lat, 1),
			r.r.errors, r.r.exhausted, runtimeOnly(r.r.pendingAtStop), runtimeOnly(r.r.pendingLater), runtimeOnly(r.r.pendingPeak),
			perSecond(r.r.executes), perSecond(r.r.engineRPCs), r.r.perThousand(r.r.procSec), r.r.perThousand(r.r.pgSec), r.r.cpuProc, r.r.cpuHost)
		if r.r.firstErr != nil {
			fmt.Printf("%s first error: %v\n", r.name, r.r.firstErr)
		}
	}
	fmt.Printf("ratio runtime/raw: %.2f\n", ratio)
	for _, r := range []struct {
		name string
		r    trigBenchResult
	}{{"runtime", rt}, {"burst", burst}} {
		refused := "never refused"
		if r.r.exhausted > 0 {
			refused = fmt.Sprintf("first refused at %.1f s", r.r.firstRefusal.Seconds())
		}
		fmt.Printf("%s: held %.1f s, %s; %d accepted, %d execution rows of the run; accepted but lost (no row): %d; %s\n",
			r.name, r.r.elapsed.Seconds(), refused, r.r.ok, r.r.rows, r.r.lost, r.r.drained)
		fmt.Printf("%s: CPU seconds per 1,000 accepted from the load's start until every accepted execution ended: process %.3f, PostgreSQL %.3f\n",
			r.name, r.r.perThousand(r.r.cycleProc), r.r.perThousand(r.r.cyclePG))
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	fmt.Printf("goal accepted >= %d/s: %s (%.0f/s)\n", trigBenchGoalRate, verdict(rt.rate >= trigBenchGoalRate), rt.rate)
	fmt.Printf("goal p99 <= %v: %s (%.2f ms)\n", trigBenchGoalP99, verdict(len(rt.lat) > 0 && benchPercentile(rt.lat, 0.99) <= trigBenchGoalP99), benchMS(rt.lat, 0.99))
	fmt.Printf("goal ratio >= %.1f: %s (%.2f)\n", trigBenchGoalRatio, verdict(ratio >= trigBenchGoalRatio), ratio)
	fmt.Printf("goal zero errors: %s (%d)\n", verdict(rt.errors+rt.exhausted == 0), rt.errors+rt.exhausted)
	fmt.Printf("goal every accepted execution terminal: %s (%d of %d not)\n", verdict(rt.unfinished+rt.lost == 0), rt.unfinished+rt.lost, rt.ok)
	fmt.Printf("burst: back-pressure shown (RESOURCE_EXHAUSTED answers): %s (%d); no other errors: %s (%d); nothing accepted lost: %s (%d); every accepted execution terminal: %s (%d of %d not)\n",
		verdict(burst.exhausted > 0), burst.exhausted, verdict(burst.errors == 0), burst.errors, verdict(burst.lost == 0), burst.lost,
		verdict(burst.unfinished+burst.lost == 0), burst.unfinished+burst.lost, burst.ok)
	fmt.Println("raw: INSERT ... ON CONFLICT DO NOTHING of one row per autocommit transaction into the executions table of the migrations " +
		"(every index, no foreign key to deployments) in a database of its own, pool of " + strconv.Itoa(trigBenchRawConns) + " connections, prepared statement;")
	fmt.Println("runtime, burst: TriggerWorkflow of a webhook path (ASYNC, ALLOW_ALL, no idempotency key) over one gRPC connection; " +
		"errors: answers other than OK and RESOURCE_EXHAUSTED (exhaust); pend_stop, " + later + ", pend_max: the run's executions still PENDING " +
		"when the load stopped, " + trigBenchLater.String() + " later, and the most counted (every " + trigBenchSample.String() + ") in between;")
	fmt.Println("exec/s, rpc/s: ExecuteWorkflow calls the engine-sim started and all engine RPCs it answered (status checks too), per second of load;")
	fmt.Println("cpu_p/1k: CPU seconds of this process per 1,000 answered OK; the runtime is in-process (serveWith), so this includes the callers " +
		"(gRPC client) and engine-sim, from /proc/self/stat; cpu_pg/1k: the same for PostgreSQL's processes on this host (utime+stime from " +
		"/proc/<pid>/stat, backends of other databases excluded: the host is shared);")
	fmt.Println("cpu_p: this process in % of one core; cpu_h: the whole host busy, in % of all its cores")
}

// trigBenchResult is one load's figures.
type trigBenchResult struct {
	callers          int
	ok, errors       int
	exhausted        int
	rate             float64
	elapsed          time.Duration
	lat              []time.Duration
	firstErr         error
	cpuProc, cpuHost float64
	procSec, pgSec   float64
	// Runtime only.
	pendingAtStop, pendingLater, pendingPeak int
	executes, engineRPCs                     int
	rows, unfinished, lost                   int
	drained                                  string
	// firstRefusal is when, into the load, the first RESOURCE_EXHAUSTED
	// came; 0 if none.
	firstRefusal time.Duration
	// cycleProc and cyclePG are the CPU seconds of this process and of
	// PostgreSQL from the load's start until every accepted execution
	// ended: the dispatch put off past the load included.
	cycleProc, cyclePG float64
	// Raw only: the server settings that decide durability.
	settings string
}

// perThousand returns CPU seconds per 1,000 calls answered OK.
func (r trigBenchResult) perThousand(sec float64) float64 {
	if r.ok == 0 {
		return 0
	}
	return 1000 * sec / float64(r.ok)
}

// trigBenchLoad runs call from callers goroutines, each in a closed loop,
// until d has passed or stop is closed, and returns the successes,
// RESOURCE_EXHAUSTED answers, other errors, latencies of successes
// (sorted), the rate of successes over the time until the last call
// answered, and the CPU time this process and PostgreSQL (through db) spent
// meanwhile. call gets its caller's index and a sequence number unique to
// the load.
func trigBenchLoad(t *testing.T, db *sql.DB, callers int, d time.Duration, stop <-chan struct{}, call func(w, n int) error) trigBenchResult {
	t.Helper()
	type worker struct {
		lat               []time.Duration
		errors, exhausted int
		firstErr          error
	}
	workers := make([]worker, callers)
	var wg sync.WaitGroup
	pg0, err := pgtest.ServerCPU(context.Background(), db)
	require.NoError(t, err)
	proc0 := benchProcCPU()
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
				select {
				case <-stop:
					return
				default:
				}
				err := call(w, i*callers+w)
				switch {
				case err == nil:
					me.lat = append(me.lat, time.Since(sent))
				case status.Code(err) == codes.ResourceExhausted:
					me.exhausted++
				default:
					me.errors++
					if me.firstErr == nil {
						me.firstErr = err
					}
				}
			}
		})
	}
	wg.Wait()
	r := trigBenchResult{callers: callers, elapsed: time.Since(start)}
	r.procSec = benchProcCPU() - proc0
	pg1, err := pgtest.ServerCPU(context.Background(), db)
	require.NoError(t, err)
	r.pgSec = pg1 - pg0
	r.cpuProc, r.cpuHost = cpu.stop()
	for _, w := range workers {
		r.lat = append(r.lat, w.lat...)
		r.errors += w.errors
		r.exhausted += w.exhausted
		if r.firstErr == nil {
			r.firstErr = w.firstErr
		}
	}
	slices.Sort(r.lat)
	r.ok = len(r.lat)
	r.rate = float64(r.ok) / r.elapsed.Seconds()
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
	db.SetMaxOpenConns(trigBenchRawConns + 1) // and one for the CPU count
	db.SetMaxIdleConns(trigBenchRawConns + 1)
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
	insert := func(_, n int) error {
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
			errs[i] = insert(i, 1<<30+i) // numbers the load does not reach
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	r := trigBenchLoad(t, db, trigBenchCallers, d, nil, insert)
	r.settings = fmt.Sprintf("PostgreSQL %s, synchronous_commit=%s, fsync=%s, commit_delay=%s", settings[0], settings[1], settings[2], settings[3])
	_, err = db.ExecContext(ctx, `CHECKPOINT`)
	require.NoError(t, err)
	return r
}

// runTriggerBench measures webhook triggers through the whole runtime, at
// trigBenchCallers and then at trigBenchBurstCallers.
func runTriggerBench(t *testing.T, d time.Duration) (first, burst trigBenchResult) {
	t.Helper()
	sim := enginesim.New(enginesim.Config{MinDuration: 10 * time.Millisecond, MaxDuration: 50 * time.Millisecond})
	var engineRPCs atomic.Int64
	engineAddr := simtest.Serve(t, sim, "127.0.0.1:0", grpc.UnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			engineRPCs.Add(1)
			return handler(ctx, req)
		}))
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
	trigger := func(n int) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := s.client.TriggerWorkflow(cctx, &pb.TriggerWorkflowRequest{
			WebhookPath: paths[n%trigBenchWorkflows], TriggerData: fmt.Sprintf(`{"n": %d}`, n), HttpMethod: "POST",
		})
		return resp.GetExecutionId(), err
	}
	// Every path once, which opens the runtime's connections, then a
	// quiet database before the clock starts.
	errs := make([]error, trigBenchWorkflows)
	var wg sync.WaitGroup
	for i := range trigBenchCallers {
		wg.Go(func() {
			for n := i; n < trigBenchWorkflows; n += trigBenchCallers {
				_, errs[n] = trigger(n)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	// run holds the load for d, or until refusedFor after its first
	// refusal when that is above 0.
	run := func(callers int, d, refusedFor time.Duration) trigBenchResult {
		left, err := drainBench(db)
		require.NoError(t, err)
		require.Zero(t, left, "the executions before the run did not end")
		ids := make([][]string, callers)
		start := time.Now()
		// since counts the run's executions in statuses, through the index
		// of unfinished rows.
		since := func(statuses string) int {
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE status IN (`+statuses+`) AND fired_time >= $1`, start).Scan(&n))
			return n
		}
		pending := func() int { return since(`'PENDING'`) }
		var peak atomic.Int64
		sampled := make(chan struct{})
		stopSampling := make(chan struct{})
		go func() {
			defer close(sampled)
			tick := time.NewTicker(trigBenchSample)
			defer tick.Stop()
			for {
				select {
				case <-stopSampling:
					return
				case <-tick.C:
					if n := int64(pending()); n > peak.Load() {
						peak.Store(n)
					}
				}
			}
		}()
		rpcs0, execs0 := engineRPCs.Load(), sim.Report().Executions
		proc0 := benchProcCPU()
		pg0, err := pgtest.ServerCPU(ctx, db)
		require.NoError(t, err)
		halt := make(chan struct{})
		var (
			refused      sync.Once
			firstRefusal time.Duration // written once, read after the load's callers are done
		)
		r := trigBenchLoad(t, db, callers, d, halt, func(w, n int) error {
			id, err := trigger(n)
			switch {
			case err == nil:
				ids[w] = append(ids[w], id)
			case status.Code(err) == codes.ResourceExhausted:
				refused.Do(func() {
					firstRefusal = time.Since(start)
					if refusedFor > 0 {
						time.AfterFunc(refusedFor, func() { close(halt) })
					}
				})
			}
			return err
		})
		r.firstRefusal = firstRefusal
		r.engineRPCs, r.executes = int(engineRPCs.Load()-rpcs0), sim.Report().Executions-execs0
		stop := time.Now()
		r.pendingAtStop = pending()
		time.Sleep(time.Until(stop.Add(trigBenchLater)))
		r.pendingLater = pending()
		close(stopSampling)
		<-sampled
		r.pendingPeak = max(int(peak.Load()), r.pendingAtStop, r.pendingLater)

		accepted := pq.Array(slices.Concat(ids...))
		count := func(where string) int {
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE id = ANY($1::uuid[])`+where, accepted).Scan(&n))
			return n
		}
		// The run's rows are the accepted ones (lost and rows say so): its
		// unfinished ones are counted by since, as a count by ids every half
		// second would weigh on the CPU figures of the whole cycle.
		for deadline := time.Now().Add(trigBenchDrainWait); since(`'PENDING', 'RUNNING'`) > 0 && time.Now().Before(deadline); {
			time.Sleep(500 * time.Millisecond)
		}
		r.cycleProc = benchProcCPU() - proc0
		pg1, err := pgtest.ServerCPU(ctx, db)
		require.NoError(t, err)
		r.cyclePG = pg1 - pg0
		r.unfinished = count(` AND status IN ('PENDING', 'RUNNING')`)
		r.lost = r.ok - count("")
		r.drained = fmt.Sprintf("every accepted execution terminal %.1f s after the load stopped", time.Since(stop).Seconds())
		if r.unfinished > 0 {
			r.drained = fmt.Sprintf("%d accepted executions still PENDING or RUNNING %.1f s after the load stopped", r.unfinished, time.Since(stop).Seconds())
		}
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE fired_time >= $1`, start).Scan(&r.rows))
		return r
	}
	first = run(trigBenchCallers, d, 0)
	burst = run(trigBenchBurstCallers, trigBenchBurstHold*d, trigBenchRefusedFor)
	return first, burst
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
