package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/service/retention"
)

// Settings of the retention benchmark.
const (
	// retBenchWorkflows each have one webhook trigger, which the trigger
	// load calls round robin. The seeded rows are theirs with skewed sizes:
	// row i belongs to workflow floor(retBenchWorkflows * u^3), u uniform,
	// so the biggest holds about 16 % of the rows and most a few thousand.
	retBenchWorkflows = 256
	// retBenchRetention is the default WFR_EXECUTION_RETENTION; 80 % of
	// the seeded rows are fired before it, over the 330 days before, and
	// 20 % after, over the 29 days after.
	retBenchRetention = 30 * 24 * time.Hour
	// retBenchSeedChunk rows are seeded per INSERT ... SELECT.
	retBenchSeedChunk = 1_000_000
	// retBenchRate is the default WFR_BENCH_RETENTION_RATE, triggers per
	// second of the open-loop load: below what dispatch to engine-sim
	// sustains on a 2-core host shared with PostgreSQL, so that the load
	// measures the trigger path and not a growing backlog.
	retBenchRate = 200
	// retBenchWarmup is the untimed load before the first phase.
	retBenchWarmup = 5 * time.Second
	// retBenchCap ends the load of the phase with retention if the pass
	// has not ended by then; the pass goes on alone.
	retBenchCap = 120 * time.Second
	// retBenchProgress is how often the pass, once alone, reports how far
	// it has come: a complete run at the default pace takes about an hour.
	retBenchProgress = 5 * time.Minute
	// retBenchWindow is the length of the alternating phase's windows:
	// retention runs for one, rests for the next, and so on for at most
	// retBenchAlternation, under one load. Calls sent in its windows on
	// and off are compared, and the goal is read from them: both come from
	// the same minutes, so the drift between the separate phases falls on
	// both alike. That drift is the phases' places in the run, not
	// retention: control runs (WFR_BENCH_RETENTION_CONTROL), whose passes
	// delete nothing, had their phase "with" at 2.03 and 2.13 times the
	// p99 of their first, which follows a checkpoint. What the deletes
	// leave to be written later falls in both kinds of window too; the
	// controls' windows "without" are what a run's are read against for
	// it.
	retBenchWindow      = 5 * time.Second
	retBenchAlternation = 120 * time.Second
	// retBenchSettle is how much of the start of each window is left out
	// of the comparison (see retBenchAlternating.split).
	retBenchSettle = time.Second
	// retBenchLate is how late a send may leave the load's scheduler
	// before it counts as late: a client too busy to keep the rate.
	retBenchLate = 5 * time.Millisecond
	// retBenchSamples of retBenchQueries filtered history pages are
	// timed at the end, after retBenchQueryWarmup untimed ones; the median
	// of the samples' percentiles is the figure, as the host is shared.
	retBenchSamples     = 5
	retBenchQueries     = 200
	retBenchQueryWarmup = 40
	retBenchPage        = 50
	// The goals.
	retBenchGoalRatio = 1.20
	retBenchGoalP99   = 20 * time.Millisecond
)

// retBenchSeedSQL writes the seeded rows $1 to $2 of $3, in fired_time order
// as the runtime writes them: rows 1 to 80 % of $3 spread evenly over the
// 330 days that end a day before $4 - $5 seconds, the others over the 29
// days before $4. $6 is the number of workflows. Statuses (all finished) as
// bench-history's: 83 % SUCCEEDED, 8 % FAILED, 5 % SKIPPED, 2 % CANCELLED,
// 2 % TIMED_OUT; 85 % by the workflow's webhook trigger, 15 % manual.
const retBenchSeedSQL = `
WITH d AS (
	SELECT array_agg(d.workflow_id ORDER BY d.workflow_id) AS wf, array_agg(d.id ORDER BY d.workflow_id) AS dep,
		array_agg(t.id ORDER BY d.workflow_id) AS trg, array_agg(t.webhook_path ORDER BY d.workflow_id) AS path
	FROM deployments d JOIN deployment_triggers t ON t.deployment_id = d.id AND t.type = 'WEBHOOK'
)
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
	fired_time, started_time, finished_time, engine_execution_id, error_message, skip_reason, trace_id, triggered_by, input, result)
SELECT gen_random_uuid(), d.wf[g.k], d.dep[g.k], 1, CASE WHEN g.webhook THEN d.trg[g.k] END,
	CASE WHEN g.webhook THEN 'WEBHOOK' ELSE 'MANUAL' END, g.status,
	g.fired, CASE WHEN g.status <> 'SKIPPED' THEN g.fired + interval '40 milliseconds' END,
	g.fired + g.i % 9000 * interval '1 millisecond', CASE WHEN g.status <> 'SKIPPED' THEN 'eng-' || g.i END,
	CASE g.status WHEN 'FAILED' THEN 'node "http" failed: upstream answered 502 Bad Gateway after 3 attempts'
		WHEN 'TIMED_OUT' THEN 'execution exceeded its 300s timeout' END,
	CASE WHEN g.status = 'SKIPPED' THEN 'overlap policy SKIP: a run was in flight' END,
	md5(g.i::text), CASE WHEN g.webhook THEN 'webhook:' || d.path[g.k] ELSE 'user:ops@example.com' END,
	('{"order_id":"ord-' || g.i || '","customer":"cust-' || g.i % 977 || '","amount":' || g.i % 10000 || '.25,"currency":"EUR"}')::jsonb,
	CASE WHEN g.status = 'SUCCEEDED' THEN jsonb_build_object('ok', true, 'items', g.i % 7, 'invoice', 'inv-' || g.i) END
FROM d, (
	SELECT i, 1 + floor($6 * power(random(), 3))::int AS k, q < 0.85 AS webhook,
		CASE WHEN r < 0.80 THEN 'SUCCEEDED' WHEN r < 0.88 THEN 'FAILED' WHEN r < 0.93 THEN 'SKIPPED'
			WHEN r < 0.95 THEN 'CANCELLED' WHEN r < 0.97 THEN 'TIMED_OUT' ELSE 'SUCCEEDED' END AS status,
		CASE WHEN i <= $3 * 0.8
			THEN $4::timestamptz - $5 * interval '1 second' - interval '1 day' - (1 - i / ($3 * 0.8)) * interval '330 days'
			ELSE $4::timestamptz - interval '1 minute' - (1 - (i - $3 * 0.8) / ($3 * 0.2)) * interval '29 days' END AS fired
	FROM (SELECT i, random() AS r, random() AS q FROM generate_series($1::bigint, $2::bigint) AS i) u
) g`

// TestBenchRetention is `make bench-retention`, not a test. On a whole
// stack over local PostgreSQL and Redis it seeds WFR_BENCH_RETENTION
// finished executions, 80 % of them older than a 30-day retention, then
// runs an open-loop webhook trigger load at WFR_BENCH_RETENTION_RATE per
// second: for WFR_BENCH_RETENTION_SECONDS without retention; then in
// windows alternately with a pass and without (retBenchWindow each, for at
// most retBenchAlternation), whose calls show the immediate cost; then from
// the start of a pass until it has removed every expired row left (at most
// retBenchCap); then WFR_BENCH_RETENTION_SECONDS without again. It
// prints, per phase, the trigger latencies from each call's scheduled send,
// errors, executions that did not end and CPU; the pass's time and rate;
// and history pages' p99 on what is left. WFR_BENCH_RETENTION_BATCH_TARGET
// and WFR_BENCH_RETENTION_PAUSE (durations) and WFR_BENCH_RETENTION_DUTY
// (a fraction) override the pass's defaults, for tuning runs;
// WFR_BENCH_RETENTION_CONTROL makes a control run, the same phases with
// passes that have nothing to delete, and WFR_BENCH_RETENTION_STOP_WITH_LOAD
// a short one, whose pass ends with the load.
//
// The load is open-loop because a closed loop adapts to the server: its
// callers send only when answered, so a stall delays the sends that would
// have met it (coordinated omission) and the rate is whatever the host
// gives, which on 2 cores outran dispatch to engine-sim and left a backlog
// that the phase with retention inherited.
func TestBenchRetention(t *testing.T) {
	rowsEnv := os.Getenv("WFR_BENCH_RETENTION")
	if rowsEnv == "" {
		t.Skip("a benchmark: run it with `make bench-retention` (WFR_BENCH_RETENTION=<execution rows>)")
	}
	rows, err := strconv.Atoi(rowsEnv)
	require.NoError(t, err, "WFR_BENCH_RETENTION is the number of execution rows")
	require.Positive(t, rows, "WFR_BENCH_RETENTION is the number of execution rows")
	secs := retBenchEnv(t, "WFR_BENCH_RETENTION_SECONDS", 20, strconv.Atoi)
	rate := retBenchEnv(t, "WFR_BENCH_RETENTION_RATE", retBenchRate, strconv.Atoi)
	require.Positive(t, secs, "WFR_BENCH_RETENTION_SECONDS")
	require.Positive(t, rate, "WFR_BENCH_RETENTION_RATE")
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
	st, err := postgres.Open(ctx, s.dbURL, 20)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	paths := deployBenchWebhooks(t, s.client, retBenchWorkflows, "retention", "retention")

	now := time.Now()
	seed := retBenchSeed(t, db, rows, now)
	cutoff := now.Add(-retBenchRetention)
	var expired int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE fired_time < $1`, cutoff).Scan(&expired))

	trigger := func(n int) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := s.client.TriggerWorkflow(cctx, &pb.TriggerWorkflowRequest{
			WebhookPath: paths[n%retBenchWorkflows], TriggerData: fmt.Sprintf(`{"n": %d}`, n), HttpMethod: "POST",
		})
		return resp.GetExecutionId(), err
	}
	// An untimed load opens the runtime's connections and warms its
	// caches; then a checkpoint (of the seeded rows too) and a quiet
	// database before the clock starts, so that the first phase does not
	// pay for what seeding left behind.
	warm := retBenchOpenLoad(t, db, float64(rate), retBenchAfter(retBenchWarmup), trigger)
	require.Zero(t, warm.errors, "warm-up: %v", warm.firstErr)
	require.Zero(t, warm.unfinished+warm.missing, "the warm-up's executions did not end")
	_, err = db.ExecContext(ctx, `CHECKPOINT`)
	require.NoError(t, err)

	without := retBenchOpenLoad(t, db, float64(rate), retBenchAfter(time.Duration(secs)*time.Second), trigger)

	opts := retention.Options{InstanceID: "bench-retention", Retention: retBenchRetention,
		BatchTarget: retBenchEnv(t, "WFR_BENCH_RETENTION_BATCH_TARGET", 0, time.ParseDuration),
		Pause:       retBenchEnv(t, "WFR_BENCH_RETENTION_PAUSE", 0, time.ParseDuration),
		Duty: retBenchEnv(t, "WFR_BENCH_RETENTION_DUTY", 0, func(v string) (float64, error) {
			return strconv.ParseFloat(v, 64)
		})}
	// A control run keeps every phase's timing with passes that find
	// nothing to delete: what the phases' places in the run cost the
	// trigger path without retention (a checkpoint right before the first,
	// the load's own writes after it), against which a run's with retention
	// is read.
	control := os.Getenv("WFR_BENCH_RETENTION_CONTROL") != ""
	if control {
		opts.Retention = 100 * 365 * 24 * time.Hour
	}
	r := retention.New(st, opts)
	alt := retBenchAlternate(ctx, r, control)
	alternating := retBenchOpenLoad(t, db, float64(rate), alt.done, trigger)
	require.NoError(t, alt.err)
	altOn, altOff := alt.split(alternating.samples)

	passDone := make(chan struct{})
	var (
		res     retention.Result
		passErr error
	)
	// WFR_BENCH_RETENTION_STOP_WITH_LOAD ends the pass with the load, at
	// the cap: the trigger figures and the pass's rate without the hour or
	// more that the rest of the removal takes at the default pace.
	stopWithLoad := os.Getenv("WFR_BENCH_RETENTION_STOP_WITH_LOAD") != ""
	passCtx, stopPass := context.WithCancel(ctx)
	defer stopPass()
	stop := make(chan struct{})
	var cut atomic.Bool
	capped := time.AfterFunc(retBenchCap, func() {
		cut.Store(true)
		close(stop)
		if stopWithLoad {
			stopPass()
		}
	})
	go func() {
		defer close(passDone)
		res, passErr = r.Pass(passCtx)
		if stopWithLoad && passCtx.Err() != nil {
			passErr = nil
		}
		if control {
			<-stop
		} else if capped.Stop() {
			close(stop)
		}
	}()
	with := retBenchOpenLoad(t, db, float64(rate), stop, trigger)
	retBenchReport(ctx, db, passDone)
	require.NoError(t, passErr)
	require.True(t, res.Held)
	var stillExpired int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE fired_time < $1`, cutoff).Scan(&stillExpired))

	// The first phase again, after the pass: how far the host's other load
	// moved the figures between phases.
	after := retBenchOpenLoad(t, db, float64(rate), retBenchAfter(time.Duration(secs)*time.Second), trigger)

	// History as the pass left it (this host runs without autovacuum; a
	// production one may or may not have come by), then once vacuumed.
	history := retBenchHistory(t, st, now)
	start := time.Now()
	_, err = db.ExecContext(ctx, `VACUUM ANALYZE executions`)
	require.NoError(t, err)
	vacuumTook := time.Since(start)
	vacuumed := retBenchHistory(t, st, now)
	var tableSize string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT pg_size_pretty(pg_total_relation_size('executions'))`).Scan(&tableSize))

	if control {
		fmt.Println("control run (WFR_BENCH_RETENTION_CONTROL): every pass had nothing to delete; the phases \"with retention\" are their places in the run")
	}
	fmt.Printf("retention: %d executions (%d expired) over %d workflows seeded in %d statements and %d indexes built after them in %v, VACUUM ANALYZE %v; executions with indexes %s, %s after the pass and VACUUM\n",
		rows, expired, retBenchWorkflows, seed.statements, seed.indexes, seed.took.Round(time.Millisecond), seed.analyzed.Round(time.Millisecond), seed.size, tableSize)
	fmt.Printf("trigger load: open loop at %d/s; %-18s %6s %6s %7s %7s %7s %8s %6s %5s %6s %7s %5s %7s %7s %5s\n",
		rate, "phase", "secs", "sent", "rate/s", "p50_ms", "p99_ms", "max_ms", "errors", "late", "unfin", "backlog", "drain", "cpu_rt", "cpu_pg", "host")
	for _, l := range []struct {
		name string
		r    retBenchPhase
	}{{"without retention", without}, {"with retention", with}, {"after retention", after}} {
		fmt.Printf("%33s %-18s %6.1f %6d %7.0f %7.2f %7.2f %8.2f %6d %5d %6d %7d %5.1f %7.1f %7.1f %4.0f%%\n", "", l.name, l.r.took.Seconds(), l.r.sent,
			float64(l.r.sent)/l.r.took.Seconds(), benchMS(l.r.lat, 0.5), benchMS(l.r.lat, 0.99), benchMS(l.r.lat, 1),
			l.r.errors, l.r.late, l.r.unfinished+l.r.missing, l.r.backlog, l.r.drained.Seconds(), l.r.cpuRuntime, l.r.cpuPG, l.r.hostBusy)
		if l.r.firstErr != nil {
			fmt.Printf("  %s: first error: %v\n", l.name, l.r.firstErr)
		}
	}
	ended := ""
	if alt.finished {
		ended = " (the pass ended in it)"
	}
	fmt.Printf("alternating phase: %d windows of %v with retention, each followed by %v without, under one load (%.1f s, cpu_rt %.1f, cpu_pg %.1f, host %.0f%%), the first %v of every window left out; %d executions removed in %v of windows%s\n",
		len(alt.on), retBenchWindow, retBenchWindow, alternating.took.Seconds(), alternating.cpuRuntime, alternating.cpuPG, alternating.hostBusy, retBenchSettle,
		alt.removed, alt.onTime().Round(time.Millisecond), ended)
	for _, l := range []struct {
		name string
		lat  []time.Duration
	}{{"sent with retention", altOn}, {"sent without", altOff}} {
		fmt.Printf("%33s %-20s %6d samples, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", "", l.name, len(l.lat), benchMS(l.lat, 0.5), benchMS(l.lat, 0.99), benchMS(l.lat, 1))
	}
	ratio := benchMS(altOn, 0.99) / benchMS(altOff, 0.99)
	fmt.Printf("trigger p99 with/without, alternating windows (the immediate cost, free of drift; blind to what the deletes leave for later writes, which falls in both kinds of window): %.2f (p50 %.2f)\n",
		ratio, benchMS(altOn, 0.5)/benchMS(altOff, 0.5))
	fmt.Printf("trigger p99 of the separate phases: with/without %.2f (p50 %.2f), after/without %.2f, with/after %.2f (the phases' places in the run move these: compare a control run's)\n",
		benchMS(with.lat, 0.99)/benchMS(without.lat, 0.99), benchMS(with.lat, 0.5)/benchMS(without.lat, 0.5),
		benchMS(after.lat, 0.99)/benchMS(without.lat, 0.99), benchMS(with.lat, 0.99)/benchMS(after.lat, 0.99))
	fmt.Printf("retention pass (batch target %v, duty %v, pause at least %v; zero: the defaults): %d executions removed in %v (%.0f rows/s), %d missed slots, %d expired rows left\n",
		opts.BatchTarget, opts.Duty, opts.Pause, res.Executions, res.Duration.Round(time.Millisecond), float64(res.Executions)/res.Duration.Seconds(), res.MissedSlots, stillExpired)
	if cut.Load() && !control {
		if stopWithLoad {
			fmt.Printf("  the pass stopped with the load at the %v cap (WFR_BENCH_RETENTION_STOP_WITH_LOAD): its rate is the figure, not its time\n", retBenchCap)
		} else {
			fmt.Printf("  the load stopped at the %v cap; the pass went on %v alone\n", retBenchCap, (res.Duration - with.took).Round(time.Millisecond))
		}
	}
	for _, h := range []struct {
		name string
		r    retBenchHistoryResult
	}{{"after the pass", history}, {fmt.Sprintf("after VACUUM ANALYZE (%v)", vacuumTook.Round(time.Millisecond)), vacuumed}} {
		fmt.Printf("history %s: %d samples of %d filtered first pages and their second (after %d untimed), page %d: median p50 %.2f ms, median p99 %.2f ms (samples' p99: %s), max %.2f ms\n",
			h.name, retBenchSamples, retBenchQueries, retBenchQueryWarmup, retBenchPage, retBenchMS(h.r.p50), retBenchMS(h.r.p99), h.r.p99s, retBenchMS(h.r.max))
	}
	unended := without.unfinished + without.missing + alternating.unfinished + alternating.missing +
		with.unfinished + with.missing + after.unfinished + after.missing
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	if !control {
		fmt.Printf("goal trigger p99 with/without (alternating windows) <= %.2f: %s (%.2f)\n", retBenchGoalRatio, verdict(ratio <= retBenchGoalRatio), ratio)
		fmt.Printf("goal history p99 <= %v after the pass: %s (%.2f ms)\n", retBenchGoalP99, verdict(history.p99 <= retBenchGoalP99), retBenchMS(history.p99))
		if !stopWithLoad {
			fmt.Printf("goal every expired row removed: %s (%d left)\n", verdict(stillExpired == 0), stillExpired)
		}
	}
	fmt.Printf("goal every accepted trigger's execution ended: %s (%d did not)\n", verdict(unended == 0), unended)
	fmt.Println("trigger load: TriggerWorkflow of a webhook path (ASYNC, ALLOW_ALL) over one gRPC connection, sent on a fixed schedule whatever the answers;")
	fmt.Println("  latency from each call's scheduled send; late: sends the client made more than " + retBenchLate.String() +
		" after their time; unfin: accepted executions not SUCCEEDED, FAILED, CANCELLED, TIMED_OUT or SKIPPED after the drain;")
	fmt.Println("  backlog: executions PENDING or RUNNING when the load stopped; drain: seconds until none was (at most " + benchDrainWait.String() + ");")
	fmt.Println("  cpu_rt: CPU seconds of this process (runtime, engine-sim and the load); cpu_pg: of the PostgreSQL backends of the benchmark's database; host: the host busy")
	fmt.Println("history: Store.ListExecutions as bench-history's, of one workflow (skewed or any), one or two statuses, a range of 1 h to 29 days in the retained month")
}

// retBenchEnv reads the setting name with parse, def when unset.
func retBenchEnv[T any](t *testing.T, name string, def T, parse func(string) (T, error)) T {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	x, err := parse(v)
	require.NoError(t, err, name)
	return x
}

// retBenchSeeded is what seeding did.
type retBenchSeeded struct {
	statements, indexes int
	took, analyzed      time.Duration
	size                string
}

// retBenchSeed writes rows executions in statements of retBenchSeedChunk
// as a restore would: with the foreign key's check off
// (session_replication_role: every row names a deployment) and the full
// indexes that back no constraint dropped first and built after the rows,
// one sort each instead of millions of scattered inserts; then it vacuums
// and analyzes them. The indexes come back from their own definitions, so
// the table ends as the migrations left it. The partial ones stay: no
// seeded row enters them, and the runtime's lease renewal reads the one of
// unfinished executions while the rows go in.
func retBenchSeed(t *testing.T, db *sql.DB, rows int, now time.Time) retBenchSeeded {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	var defs pq.StringArray
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid)), '{}') FROM pg_index i
		WHERE i.indrelid = 'executions'::regclass AND i.indpred IS NULL
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`).Scan(&defs))
	var r retBenchSeeded
	start := time.Now()
	_, err = conn.ExecContext(ctx, `DO $$
DECLARE i regclass;
BEGIN
	FOR i IN SELECT indexrelid::regclass FROM pg_index x WHERE x.indrelid = 'executions'::regclass AND x.indpred IS NULL
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) LOOP
		EXECUTE format('DROP INDEX %s', i);
	END LOOP;
END $$`)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	for from := 1; from <= rows; from += retBenchSeedChunk {
		_, err = conn.ExecContext(ctx, retBenchSeedSQL, from, min(from+retBenchSeedChunk-1, rows), rows, now,
			int64(retBenchRetention.Seconds()), retBenchWorkflows)
		require.NoError(t, err)
		r.statements++
	}
	_, err = conn.ExecContext(ctx, `SET session_replication_role = DEFAULT`)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `SET maintenance_work_mem = '256MB'`)
	require.NoError(t, err)
	for _, def := range defs {
		_, err = conn.ExecContext(ctx, def)
		require.NoError(t, err)
	}
	r.took = time.Since(start)
	r.indexes = len(defs)
	_, err = conn.ExecContext(ctx, `RESET maintenance_work_mem`)
	require.NoError(t, err)
	start = time.Now()
	_, err = conn.ExecContext(ctx, `VACUUM ANALYZE executions`)
	require.NoError(t, err)
	r.analyzed = time.Since(start)
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT pg_size_pretty(pg_total_relation_size('executions'))`).Scan(&r.size))
	return r
}

// retBenchPhase is one trigger load's figures.
type retBenchPhase struct {
	// lat are the accepted calls' latencies from their scheduled send
	// (sorted), those of samples.
	lat []time.Duration
	// samples are the accepted calls' scheduled sends and latencies, in
	// the order they were answered.
	samples             []retBenchSample
	sent, errors, late  int
	firstErr            error
	took                time.Duration
	cpuRuntime, cpuPG   float64
	hostBusy            float64
	unfinished, missing int
	executionIDs        []string
	backlog             int
	drained             time.Duration
}

// retBenchSample is one accepted call: when it was to be sent, and its
// latency from then.
type retBenchSample struct {
	at  time.Time
	lat time.Duration
}

// retBenchAlternating is the alternating phase's retention: windows of a
// pass, each cut at retBenchWindow and followed by as long a rest, until
// the pass ends within a window or retBenchAlternation has passed.
type retBenchAlternating struct {
	// done closes when the alternation ends; the fields below are its
	// goroutine's until then.
	done     chan struct{}
	on       [][2]time.Time
	removed  int64
	finished bool
	err      error
}

// retBenchAlternate starts the alternation of r's passes; done closes when
// it ends.
func retBenchAlternate(ctx context.Context, r *retention.Remover, control bool) *retBenchAlternating {
	a := &retBenchAlternating{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		deadline := time.Now().Add(retBenchAlternation)
		for time.Now().Before(deadline) {
			wctx, cancel := context.WithTimeout(ctx, retBenchWindow)
			began := time.Now()
			res, err := r.Pass(wctx)
			if control {
				<-wctx.Done()
				err = wctx.Err()
			}
			ended := time.Now()
			cut := wctx.Err() != nil
			cancel()
			a.on = append(a.on, [2]time.Time{began, ended})
			a.removed += res.Executions
			switch {
			case !res.Held:
				a.err = errors.New("the benchmark's pass did not get the retention lease")
			case err != nil && !cut:
				a.err = err
			case err == nil:
				a.finished = true
			}
			if a.err != nil || a.finished {
				return
			}
			time.Sleep(retBenchWindow)
		}
	}()
	return a
}

// onTime is the time retention ran.
func (a *retBenchAlternating) onTime() time.Duration {
	var d time.Duration
	for _, w := range a.on {
		d += w[1].Sub(w[0])
	}
	return d
}

// split returns the latencies of the samples sent while retention ran and
// of those sent while it rested, sorted, leaving out those sent in the
// first retBenchSettle of a window of either kind: at the start of a
// window of retention its batches are still growing to their target, and
// at the start of a rest the deletes' WAL and dirty pages are still being
// written. Both would flatter the ratio.
func (a *retBenchAlternating) split(samples []retBenchSample) (on, off []time.Duration) {
	within := func(at, from, to time.Time) bool { return !at.Before(from) && at.Before(to) }
	for _, s := range samples {
		switch {
		case slices.ContainsFunc(a.on, func(w [2]time.Time) bool {
			return within(s.at, w[0], w[0].Add(retBenchSettle)) || within(s.at, w[1], w[1].Add(retBenchSettle))
		}):
		case slices.ContainsFunc(a.on, func(w [2]time.Time) bool { return within(s.at, w[0], w[1]) }):
			on = append(on, s.lat)
		default:
			off = append(off, s.lat)
		}
	}
	slices.Sort(on)
	slices.Sort(off)
	return on, off
}

// retBenchAfter returns a channel closed after d.
func retBenchAfter(d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(d, func() { close(c) })
	return c
}

// retBenchReport prints, every retBenchProgress until done closes, how many
// executions the database has deleted: the statistics' count, which costs
// the pass nothing, where counting the rows left would scan them.
func retBenchReport(ctx context.Context, db *sql.DB, done <-chan struct{}) {
	start := time.Now()
	tick := time.NewTicker(retBenchProgress)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			var deleted int64
			if err := db.QueryRowContext(ctx, `SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'executions'`).Scan(&deleted); err != nil {
				fmt.Printf("retention pass: progress unknown: %v\n", err)
				continue
			}
			fmt.Printf("retention pass: %d executions deleted in all after %v alone\n", deleted, time.Since(start).Round(time.Second))
		}
	}
}

// retBenchOpenLoad calls call at rate per second on a fixed schedule, each
// call in a goroutine of its own, until stop closes; it waits for the
// answers and for every execution to end (drainBench), then counts the
// accepted ones that did not reach a terminal status.
func retBenchOpenLoad(t *testing.T, db *sql.DB, rate float64, stop <-chan struct{}, call func(n int) (string, error)) retBenchPhase {
	t.Helper()
	var (
		r  retBenchPhase
		mu sync.Mutex
		wg sync.WaitGroup
	)
	cpu := retBenchStartCPU(t, db)
	interval := time.Duration(float64(time.Second) / rate)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
load:
	for n := 0; ; n++ {
		at := start.Add(time.Duration(n) * interval)
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-stop:
				break load
			case <-timer.C:
			}
		} else {
			select {
			case <-stop:
				break load
			default:
			}
		}
		if time.Since(at) > retBenchLate {
			r.late++
		}
		r.sent++
		wg.Go(func() {
			id, err := call(n)
			lat := time.Since(at)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.errors++
				if r.firstErr == nil {
					r.firstErr = err
				}
				return
			}
			r.samples = append(r.samples, retBenchSample{at: at, lat: lat})
			r.executionIDs = append(r.executionIDs, id)
		})
	}
	r.took = time.Since(start)
	wg.Wait()
	r.cpuRuntime, r.cpuPG, r.hostBusy = cpu.stop(t)
	r.lat = make([]time.Duration, len(r.samples))
	for i, sample := range r.samples {
		r.lat[i] = sample.lat
	}
	slices.Sort(r.lat)

	// The backlog the load left and how long dispatch took to clear it:
	// a rate that dispatch sustains leaves a few in flight.
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM executions WHERE status IN ('PENDING', 'RUNNING')`).Scan(&r.backlog))
	drainStart := time.Now()
	left, err := drainBench(db)
	require.NoError(t, err)
	r.drained = time.Since(drainStart)
	if left > 0 {
		t.Logf("%d executions still PENDING or RUNNING %v after the load", left, benchDrainWait)
	}
	var ended int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM executions WHERE id = ANY($1)
		AND status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'SKIPPED')`, pq.Array(r.executionIDs)).Scan(&ended))
	var found int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM executions WHERE id = ANY($1)`, pq.Array(r.executionIDs)).Scan(&found))
	r.unfinished, r.missing = found-ended, len(r.executionIDs)-found
	return r
}

// retBenchCPU measures a phase's CPU seconds: this process's, and those of
// the PostgreSQL backends of the benchmark's database (those alive at the
// end; the background writers, shared with every database, are not
// counted), and the host busy.
type retBenchCPU struct {
	proc         float64
	pg           map[int]float64
	total, idle  float64
	backendsOfDB func() []int
}

func retBenchStartCPU(t *testing.T, db *sql.DB) retBenchCPU {
	t.Helper()
	backends := func() []int {
		rows, err := db.Query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
		require.NoError(t, err)
		defer rows.Close()
		var pids []int
		for rows.Next() {
			var pid int
			require.NoError(t, rows.Scan(&pid))
			pids = append(pids, pid)
		}
		require.NoError(t, rows.Err())
		return pids
	}
	c := retBenchCPU{proc: benchProcCPU(), pg: map[int]float64{}, backendsOfDB: backends}
	for _, pid := range backends() {
		c.pg[pid] = pgtest.ProcessCPU(pid)
	}
	c.total, c.idle = benchHostCPU()
	return c
}

// stop returns the CPU seconds since start of this process and of the
// database's backends, and the host busy in percent of all its cores.
func (c retBenchCPU) stop(t *testing.T) (proc, pg, host float64) {
	t.Helper()
	for _, pid := range c.backendsOfDB() {
		// A backend that started during the phase counts whole.
		if v := pgtest.ProcessCPU(pid) - c.pg[pid]; !math.IsNaN(v) {
			pg += v
		}
	}
	total, idle := benchHostCPU()
	return benchProcCPU() - c.proc, pg, 100 * (1 - (idle-c.idle)/(total-c.total))
}

// retBenchHistoryResult is the median, over the samples, of each sample's
// percentiles of history pages.
type retBenchHistoryResult struct {
	p50, p99, max time.Duration
	p99s          string
}

// retBenchHistory times retBenchSamples samples of filtered history pages,
// first pages and their second when they have one, on what retention left.
func retBenchHistory(t *testing.T, st *postgres.Store, now time.Time) retBenchHistoryResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(16, 1))
	page := func(f workflow.ExecutionFilter) (time.Duration, string) {
		start := time.Now()
		p, err := st.ListExecutions(context.Background(), f)
		require.NoError(t, err)
		return time.Since(start), p.Next
	}
	for range retBenchQueryWarmup {
		page(retBenchFilter(rng, now))
	}
	var p50s, p99s, maxes []time.Duration
	for range retBenchSamples {
		var lat []time.Duration
		for range retBenchQueries {
			f := retBenchFilter(rng, now)
			d, next := page(f)
			lat = append(lat, d)
			if next != "" {
				f.After = next
				d, _ = page(f)
				lat = append(lat, d)
			}
		}
		slices.Sort(lat)
		p50s, p99s, maxes = append(p50s, benchPercentile(lat, 0.5)), append(p99s, benchPercentile(lat, 0.99)), append(maxes, lat[len(lat)-1])
	}
	shown := make([]string, len(p99s))
	for i, d := range p99s {
		shown[i] = fmt.Sprintf("%.2f", retBenchMS(d))
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	return retBenchHistoryResult{p50: median(p50s), p99: median(p99s), max: median(maxes), p99s: strings.Join(shown, " ")}
}

// retBenchStatuses are every execution status, as bench-history's.
var retBenchStatuses = []workflow.ExecutionStatus{
	workflow.ExecutionSucceeded, workflow.ExecutionFailed, workflow.ExecutionSkipped, workflow.ExecutionCancelled,
	workflow.ExecutionTimedOut, workflow.ExecutionRunning, workflow.ExecutionPending,
}

// retBenchFilter draws a query as bench-history does, in the retained
// month: half the time a workflow drawn like the rows (so mostly the big
// ones), half the time any workflow alike; one status, or one in five times
// two, each drawn half the time like the rows and half the time any status
// alike; a time range of an hour to 29 days, log-uniform.
func retBenchFilter(rng *rand.Rand, now time.Time) workflow.ExecutionFilter {
	w := rng.IntN(retBenchWorkflows)
	if rng.IntN(2) == 0 {
		w = int(math.Floor(retBenchWorkflows * math.Pow(rng.Float64(), 3)))
	}
	status := func() workflow.ExecutionStatus {
		if rng.IntN(2) == 0 {
			return retBenchStatuses[rng.IntN(len(retBenchStatuses))]
		}
		switch r := rng.Float64(); {
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
	statuses := []workflow.ExecutionStatus{status()}
	if rng.IntN(5) == 0 {
		if other := status(); other != statuses[0] {
			statuses = append(statuses, other)
		}
	}
	const month = 29 * 24 * time.Hour
	span := time.Duration(float64(time.Hour) * math.Pow(29*24, rng.Float64()))
	to := now.Add(-time.Duration(rng.Int64N(int64(month-span) + 1)))
	return workflow.ExecutionFilter{
		WorkflowID: fmt.Sprintf("bench.retention-%03d", w), Statuses: statuses, From: to.Add(-span), To: to, Limit: retBenchPage,
	}
}

func retBenchMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
