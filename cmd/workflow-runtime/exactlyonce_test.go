//go:build multiprocess

package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// The scenario of TestExactlyOnce. Every cron slot of every deployment must
// run once, and once only, while replicas die and freeze around it.
const (
	eoReplicas    = 3
	eoDeployments = 20
	// eoCron fires every 2 s; with a jitter window of 1 s each workflow fires
	// its slot within [slot, slot+1 s).
	eoCron         = "*/2 * * * * *"
	eoPeriod       = 2 * time.Second
	eoJitterWindow = int32(1)
	// eoExecTimeout (seconds) makes the workflow lock's TTL timeout + grace
	// (WFR_LOCK_GRACE=1s) = 4 s, shorter than the freeze below.
	eoExecTimeout = 3
	eoLease       = "2s"

	// Offsets from the moment every deployment exists.
	eoRunFor    = 40 * time.Second
	eoKillAfter = 12 * time.Second // SIGKILL replica 3
	eoStopAfter = 20 * time.Second // SIGSTOP replica 2 ...
	eoStopFor   = 8 * time.Second  // ... for longer than the lock TTL and the lease, then SIGCONT

	// Slots counted: strictly after the deployments exist + eoFirstSlotAfter
	// (every replica has the triggers by then, through pub/sub or a 1 s
	// resync) and strictly before the pause - eoLastSlotBefore (a slot fires
	// at most 1 s late by jitter).
	eoFirstSlotAfter = 4 * time.Second
	eoLastSlotBefore = 3 * time.Second

	// eoSettle bounds the wait, after the pause, for every execution to end.
	eoSettle = 30 * time.Second
	// eoReady bounds each process's start (race-built replicas migrating together).
	eoReady = 90 * time.Second
	// eoExit bounds a process's exit after SIGTERM or SIGKILL.
	eoExit = 20 * time.Second
)

// eoLogDirEnv, when set, names a directory that keeps the processes' logs
// after the test, for reading them at leisure; by default they live in
// t.TempDir and are printed in part on failure.
const eoLogDirEnv = "EXACTLYONCE_LOG_DIR"

// TestExactlyOnce runs engine-sim and three workflow-runtime replicas as
// separate processes over one PostgreSQL database and one Redis prefix,
// deploys 20 every-2-seconds cron workflows, and for 40 s disturbs the
// replicas: one is SIGKILLed, another frozen with SIGSTOP for longer than
// the lease and the workflow lock's TTL, then resumed. The deployments are
// then paused so that the executions can all end, and the replicas stopped
// with SIGTERM. It checks, from the database and from engine-sim's call
// record, that every cron slot of the measured interval has exactly one
// execution, that each was dispatched (unless the overlap policy SKIPPED it),
// that the engine started one execution per runtime execution, and that no
// execution is left unfinished.
//
// Build tag multiprocess: it takes about a minute and a half, builds the
// binaries (with -race when the test has it) and needs PostgreSQL and Redis.
func TestExactlyOnce(t *testing.T) {
	// Parallel with the other long multi-process tests: it waits on cron slots, not on the CPU, and
	// its database, Redis prefix, ports and directories are its own.
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL, Redis and a minute and a half")
	}
	logDir := t.TempDir()
	if d := os.Getenv(eoLogDirEnv); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		logDir = d
	}

	// Redis keys go under a prefix of this run's own; they are deleted at the
	// end, after every process is gone (cleanups run last-registered first).
	prefix := fmt.Sprintf("wfr_exactlyonce_%d_%d:", os.Getpid(), time.Now().UnixNano())
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	require.NoError(t, rdb.Ping(context.Background()).Err(), "Redis at 127.0.0.1:6379")
	t.Cleanup(func() {
		n, err := eoDeleteKeys(rdb, prefix)
		if err != nil {
			t.Errorf("deleting Redis keys %s*: %v", prefix, err)
		}
		t.Logf("deleted %d Redis keys under %s", n, prefix)
		_ = rdb.Close()
	})
	dbURL := pgtest.NewDatabase(t)

	runtimeBin, simBin := eoBuild(t)

	// The processes, and what their logs show when the test fails.
	var procs []*eoProc
	eoLogsOnFailure(t, func() []*eoProc { return procs })

	sim := eoStartProc(t, "engine-sim", logDir, simBin, eoEnv(map[string]string{
		"ENGINE_SIM_GRPC_ADDR":    "127.0.0.1:0",
		"ENGINE_SIM_HTTP_ADDR":    "127.0.0.1:0",
		"ENGINE_SIM_MIN_DURATION": "100ms",
		"ENGINE_SIM_MAX_DURATION": "500ms",
		"ENGINE_SIM_SEED":         "1",
	}))
	procs = append(procs, sim)
	simGRPC, simHTTP := sim.servingAddrs(t)
	eoWaitHTTP(t, sim, "http://"+simHTTP+"/healthz")

	type replica struct {
		*eoProc
		grpcAddr, httpAddr string
	}
	replicas := make([]replica, eoReplicas)
	for i := range replicas {
		var r replica
		r.eoProc = eoStartProc(t, fmt.Sprintf("replica-%d", i+1), logDir, runtimeBin, eoEnv(map[string]string{
			"WFR_DATABASE_URL":      dbURL,
			"WFR_REDIS_URL":         "redis://127.0.0.1:6379/0",
			"WFR_REDIS_PREFIX":      prefix,
			"WFR_GRPC_ADDR":         "127.0.0.1:0",
			"WFR_HTTP_ADDR":         "127.0.0.1:0",
			"WFR_ENGINE_ADDR":       simGRPC,
			"WFR_INSTANCE_ID":       fmt.Sprintf("replica-%d", i+1),
			"WFR_LEASE":             eoLease,
			"WFR_LOCK_GRACE":        "1s",
			"WFR_EXECUTION_TIMEOUT": fmt.Sprintf("%ds", eoExecTimeout),
			"WFR_RESYNC_INTERVAL":   "1s",
			"WFR_DRAIN_DELAY":       "0s",
			"WFR_SHUTDOWN_TIMEOUT":  "5s",
			"WFR_LOG_LEVEL":         "info",
		}), "serve")
		procs = append(procs, r.eoProc)
		r.grpcAddr, r.httpAddr = r.servingAddrs(t)
		replicas[i] = r
	}
	for _, r := range replicas {
		eoWaitHTTP(t, r.eoProc, "http://"+r.httpAddr+"/readyz")
	}
	api, stable, frozen, killed := replicas[0], replicas[0], replicas[1], replicas[2]

	// Deploy through one replica; the others learn of the triggers through
	// Redis pub/sub or their resync.
	conn, err := grpc.NewClient(api.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewWorkflowRuntimeServiceClient(conn)
	def, err := structpb.NewStruct(map[string]any{"name": "exactly-once", "nodes": []any{
		map[string]any{"id": "a", "name": "Act", "type": "ACTION"},
	}})
	require.NoError(t, err)
	jitter := eoJitterWindow
	deploymentIDs := make([]string, 0, eoDeployments)
	triggerIDs := make(map[string]string, eoDeployments) // trigger id → workflow id
	for i := range eoDeployments {
		wf := fmt.Sprintf("exactly-once-%02d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
			WorkflowId:         wf,
			WorkflowDefinition: def,
			Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{
				Expression: eoCron, Timezone: "UTC", JitterWindowSeconds: &jitter,
			}}},
			Config:     &pb.DeploymentConfig{ExecutionTimeoutSeconds: eoExecTimeout},
			DeployedBy: "exactly-once-test",
		})
		cancel()
		require.NoError(t, err, "deploy %s", wf)
		d := resp.GetDeployment()
		require.Len(t, d.GetTriggers(), 1, "deploy %s", wf)
		deploymentIDs = append(deploymentIDs, d.GetDeploymentId())
		triggerIDs[d.GetTriggers()[0].GetTrigger().GetTriggerId()] = wf
	}
	t0 := time.Now()
	t.Logf("%d cron deployments (%q, jitter window %d s, execution timeout %d s) deployed through %s at %s",
		eoDeployments, eoCron, eoJitterWindow, eoExecTimeout, api.name, t0.UTC().Format(time.RFC3339Nano))

	// The disturbances land mid-slot, 600 ms after a slot boundary, when the
	// fires of that slot are being recorded and dispatched.
	killAt := eoMidSlot(t0.Add(eoKillAfter))
	stopAt := eoMidSlot(t0.Add(eoStopAfter))
	contAt := stopAt.Add(eoStopFor)
	endAt := t0.Add(eoRunFor)

	eoSleepUntil(t, killAt, stable.eoProc, frozen.eoProc, killed.eoProc)
	require.NoError(t, killed.cmd.Process.Signal(syscall.SIGKILL))
	require.True(t, killed.waitExit(eoExit), "%s did not die of SIGKILL", killed.name)
	t.Logf("t0+%v: SIGKILL %s", time.Since(t0).Round(time.Millisecond), killed.name)

	eoSleepUntil(t, stopAt, stable.eoProc, frozen.eoProc)
	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGSTOP))
	t.Logf("t0+%v: SIGSTOP %s", time.Since(t0).Round(time.Millisecond), frozen.name)
	eoSleepUntil(t, contAt, stable.eoProc, frozen.eoProc)
	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGCONT))
	t.Logf("t0+%v: SIGCONT %s", time.Since(t0).Round(time.Millisecond), frozen.name)

	eoSleepUntil(t, endAt, stable.eoProc, frozen.eoProc)

	// Pause every deployment, so that no new execution starts and those
	// under way can all end before the replicas stop.
	pauseAt := time.Now()
	paused := pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED
	for _, id := range deploymentIDs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: id, Status: &paused})
		cancel()
		if err != nil {
			t.Errorf("pause deployment %s: %v", id, err)
		}
	}
	t.Logf("t0+%v: %d deployments paused through %s", time.Since(t0).Round(time.Millisecond), len(deploymentIDs), api.name)

	db, err := sql.Open("postgres", dbURL)
	require.NoError(t, err)
	defer db.Close()

	// Every replica drops the paused triggers within a resync (1 s); then
	// wait for the executions to end.
	time.Sleep(2 * time.Second)
	settleBy := pauseAt.Add(eoSettle)
	var unfinished []eoRow
	for {
		unfinished = eoUnfinished(t, db)
		if len(unfinished) == 0 || time.Now().After(settleBy) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(unfinished) > 0 {
		t.Errorf("%d executions still PENDING or RUNNING %v after the pause (the replicas were still up):\n%s",
			len(unfinished), eoSettle, eoFormatRows(unfinished, 50))
	} else {
		t.Logf("t0+%v: every execution is terminal", time.Since(t0).Round(time.Millisecond))
	}

	// Stop the replicas still alive the way an orchestrator does.
	for _, r := range []replica{stable, frozen} {
		require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	}
	for _, r := range []replica{stable, frozen} {
		if !r.waitExit(eoExit) {
			t.Errorf("%s did not exit within %v of SIGTERM", r.name, eoExit)
			continue
		}
		if code := r.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with code %d after SIGTERM", r.name, code)
		}
	}
	t.Logf("t0+%v: SIGTERM %s and %s: stopped", time.Since(t0).Round(time.Millisecond), stable.name, frozen.name)

	report := eoCalls(t, "http://"+simHTTP+"/calls")
	require.NoError(t, sim.cmd.Process.Signal(syscall.SIGTERM))
	sim.waitExit(eoExit)

	rows := eoAllRows(t, db)

	// The slots that must have run: multiples of 2 s of Unix time strictly
	// inside (lo, hi), for every trigger.
	lo, hi := t0.Add(eoFirstSlotAfter), pauseAt.Add(-eoLastSlotBefore)
	var slots []time.Time
	for s := eoSlotAtOrAfter(lo); s.Before(hi); s = s.Add(eoPeriod) {
		if s.After(lo) {
			slots = append(slots, s)
		}
	}
	require.GreaterOrEqual(t, len(slots), 10, "measured interval (%s, %s) holds too few slots", lo, hi)

	type slotKey struct {
		trigger string
		ms      int64
	}
	bySlot := map[slotKey][]eoRow{}
	statuses := map[string]int{}
	var foreign, nonTerminal, skippedDispatched []eoRow
	rowIDs := make(map[string]bool, len(rows))
	for _, r := range rows {
		rowIDs[r.id] = true
		statuses[r.status]++
		if !r.terminal() {
			nonTerminal = append(nonTerminal, r)
		}
		if r.status == "SKIPPED" && report.Calls[r.id] > 0 {
			skippedDispatched = append(skippedDispatched, r)
		}
		if _, ok := triggerIDs[r.trigger]; !ok || r.scheduled == nil {
			foreign = append(foreign, r)
			continue
		}
		k := slotKey{r.trigger, r.scheduled.UnixMilli()}
		bySlot[k] = append(bySlot[k], r)
	}

	var (
		expected, executed                  int
		missing                             []slotKey
		skipped, notDispatched, duplicateRs []eoRow
	)
	for trig := range triggerIDs {
		for _, s := range slots {
			expected++
			got := bySlot[slotKey{trig, s.UnixMilli()}]
			switch {
			case len(got) == 0:
				missing = append(missing, slotKey{trig, s.UnixMilli()})
				continue
			case len(got) > 1:
				continue // counted below, with every slot
			}
			r := got[0]
			switch {
			case report.Calls[r.id] > 0:
				executed++
			case r.status == "SKIPPED":
				skipped = append(skipped, r)
			default:
				notDispatched = append(notDispatched, r)
			}
		}
	}
	duplicateSlots := 0
	for _, rs := range bySlot {
		if len(rs) > 1 {
			duplicateSlots++
			duplicateRs = append(duplicateRs, rs...)
		}
	}
	var repeatedCalls int
	var unknownKeys []string
	for k, n := range report.Calls {
		repeatedCalls += n - 1
		if !rowIDs[k] {
			unknownKeys = append(unknownKeys, fmt.Sprintf("%q×%d", k, n))
		}
	}
	slices.Sort(unknownKeys)
	engineDuplicates := report.Executions - len(report.Calls)
	adoptions := 0
	for _, r := range replicas {
		adoptions += eoCountLines(r.logPath, `"execution_adopted"`)
	}
	var statusList []string
	for _, s := range slices.Sorted(maps.Keys(statuses)) {
		statusList = append(statusList, fmt.Sprintf("%s=%d", s, statuses[s]))
	}

	t.Logf("EXACTLY-ONCE SUMMARY: %d replicas (1 SIGKILLed, 1 SIGSTOPped %v), %d cron deployments every %v; "+
		"slots expected=%d executed=%d skipped=%d missing=%d not_dispatched=%d | duplicates: slots_with_>1_rows=%d engine_executions_beyond_one_per_key=%d | "+
		"repeated_dispatch_calls_deduped_by_engine=%d adoptions=%d | rows=%d non_terminal=%d statuses{%s} | engine keys=%d executions=%d",
		eoReplicas, eoStopFor, eoDeployments, eoPeriod,
		expected, executed, len(skipped), len(missing), len(notDispatched), duplicateSlots, engineDuplicates,
		repeatedCalls, adoptions, len(rows), len(nonTerminal), strings.Join(statusList, " "), len(report.Calls), report.Executions)

	logs := procs
	byID := make(map[string]eoRow, len(rows))
	for _, r := range rows {
		byID[r.id] = r
	}
	for _, r := range skipped {
		holder := "?"
		if h, ok := byID[strings.TrimPrefix(r.skipReason, "workflow is running execution ")]; ok {
			holder = fmt.Sprintf("slot %s, %s, last owner %s", eoSlotString(h.scheduled), h.status, h.owner)
		}
		t.Logf("slot %s of %s SKIPPED by the overlap policy (execution %s, owner %s): %s (holder: %s)",
			eoSlotString(r.scheduled), triggerIDs[r.trigger], r.id, r.owner, r.skipReason, holder)
	}
	for _, r := range rows {
		if r.status != "SUCCEEDED" && r.status != "SKIPPED" && r.terminal() {
			t.Logf("execution %s (%s slot %s) ended %s: %s", r.id, triggerIDs[r.trigger], eoSlotString(r.scheduled), r.status, r.errorMessage)
		}
	}

	if len(missing) > 0 {
		var b strings.Builder
		for i, k := range missing {
			if i == 20 {
				fmt.Fprintf(&b, "  ... and %d more\n", len(missing)-20)
				break
			}
			slot := time.UnixMilli(k.ms).UTC()
			lockKey := fmt.Sprintf("%sslot:%s:%d", prefix, k.trigger, k.ms)
			ttl, err := rdb.PTTL(context.Background(), lockKey).Result()
			fmt.Fprintf(&b, "  %s slot %s (trigger %s): slot lock %s PTTL=%v err=%v\n", triggerIDs[k.trigger], slot.Format(time.RFC3339), k.trigger, lockKey, ttl, err)
			if i < 3 {
				b.WriteString(eoGrep(logs, 20, k.trigger, slot.Format(time.RFC3339Nano)))
			}
		}
		t.Errorf("%d of %d expected slots have no execution row:\n%s", len(missing), expected, b.String())
	}
	if duplicateSlots > 0 {
		t.Errorf("%d slots have more than one execution row:\n%s", duplicateSlots, eoFormatRows(duplicateRs, 50))
	}
	if len(notDispatched) > 0 {
		t.Errorf("%d expected slots have an execution that never reached the engine and was not SKIPPED:\n%s%s",
			len(notDispatched), eoFormatRows(notDispatched, 50), eoGrepRows(logs, notDispatched))
	}
	if len(skippedDispatched) > 0 {
		t.Errorf("%d SKIPPED executions were dispatched to the engine all the same:\n%s%s",
			len(skippedDispatched), eoFormatRows(skippedDispatched, 50), eoGrepRows(logs, skippedDispatched))
	}
	if engineDuplicates != 0 {
		t.Errorf("engine-sim started %d executions for %d distinct idempotency keys: want one per key", report.Executions, len(report.Calls))
	}
	if len(unknownKeys) > 0 {
		t.Errorf("engine-sim was called with %d idempotency keys that name no execution row: %s", len(unknownKeys), strings.Join(unknownKeys, ", "))
	}
	if len(foreign) > 0 {
		t.Errorf("%d execution rows belong to no deployed cron trigger:\n%s", len(foreign), eoFormatRows(foreign, 20))
	}
	if len(nonTerminal) > 0 {
		t.Errorf("%d executions are not terminal after the replicas stopped:\n%s%s", len(nonTerminal), eoFormatRows(nonTerminal, 50), eoGrepRows(logs, nonTerminal))
	}
	for _, p := range procs {
		for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
			if n := eoCountLines(p.logPath, bad); n > 0 {
				t.Errorf("%s's log (%s) has %d lines with %q:\n%s", p.name, p.logPath, n, bad, eoGrep([]*eoProc{p}, 60, bad))
			}
		}
	}
}

// eoRow is one execution row as the test reads it.
type eoRow struct {
	id, trigger, workflow, status   string
	owner, skipReason, errorMessage string
	scheduled, lease                *time.Time
	fired                           time.Time
}

func (r eoRow) terminal() bool { return r.status != "PENDING" && r.status != "RUNNING" }

const eoRowColumns = `id::text, COALESCE(trigger_id::text, ''), workflow_id, status,
	COALESCE(owner_instance, ''), COALESCE(skip_reason, ''), COALESCE(error_message, ''),
	scheduled_time, lease_expires_at, fired_time`

func eoQueryRows(t *testing.T, db *sql.DB, query string) []eoRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := db.QueryContext(ctx, query)
	require.NoError(t, err)
	defer rs.Close()
	var out []eoRow
	for rs.Next() {
		var r eoRow
		var scheduled, lease sql.NullTime
		require.NoError(t, rs.Scan(&r.id, &r.trigger, &r.workflow, &r.status, &r.owner, &r.skipReason, &r.errorMessage,
			&scheduled, &lease, &r.fired))
		if scheduled.Valid {
			r.scheduled = &scheduled.Time
		}
		if lease.Valid {
			r.lease = &lease.Time
		}
		out = append(out, r)
	}
	require.NoError(t, rs.Err())
	return out
}

func eoUnfinished(t *testing.T, db *sql.DB) []eoRow {
	return eoQueryRows(t, db, `SELECT `+eoRowColumns+` FROM executions WHERE status IN ('PENDING', 'RUNNING') ORDER BY fired_time`)
}

func eoAllRows(t *testing.T, db *sql.DB) []eoRow {
	return eoQueryRows(t, db, `SELECT `+eoRowColumns+` FROM executions ORDER BY scheduled_time, workflow_id, fired_time`)
}

func eoSlotString(s *time.Time) string {
	if s == nil {
		return "-"
	}
	return s.UTC().Format(time.RFC3339)
}

func eoFormatRows(rows []eoRow, limit int) string {
	var b strings.Builder
	for i, r := range rows {
		if i == limit {
			fmt.Fprintf(&b, "  ... and %d more\n", len(rows)-limit)
			break
		}
		lease := "-"
		if r.lease != nil {
			lease = r.lease.UTC().Format("15:04:05.000")
		}
		fmt.Fprintf(&b, "  execution %s workflow %s slot %s status %s owner %s lease_expires %s fired %s",
			r.id, r.workflow, eoSlotString(r.scheduled), r.status, r.owner, lease, r.fired.UTC().Format("15:04:05.000"))
		if r.skipReason != "" {
			fmt.Fprintf(&b, " skip_reason %q", r.skipReason)
		}
		if r.errorMessage != "" {
			fmt.Fprintf(&b, " error %q", r.errorMessage)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// eoGrepRows shows the log lines of the first few rows' executions.
func eoGrepRows(procs []*eoProc, rows []eoRow) string {
	var b strings.Builder
	for i, r := range rows {
		if i == 3 {
			break
		}
		b.WriteString(eoGrep(procs, 40, r.id))
	}
	return b.String()
}

// eoGrep returns up to limit log lines, of every process, that contain all
// of needles.
func eoGrep(procs []*eoProc, limit int, needles ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  log lines with %q:\n", needles)
	n := 0
	for _, p := range procs {
		eoScanLines(p.logPath, func(line string) bool {
			for _, s := range needles {
				if !strings.Contains(line, s) {
					return true
				}
			}
			fmt.Fprintf(&b, "    %s: %s\n", p.name, line)
			n++
			return n < limit
		})
	}
	if n == 0 {
		b.WriteString("    (none)\n")
	}
	return b.String()
}

func eoCountLines(path, needle string) int {
	n := 0
	eoScanLines(path, func(line string) bool {
		if strings.Contains(line, needle) {
			n++
		}
		return true
	})
	return n
}

// eoScanLines calls fn with every line of the file at path until fn returns false.
func eoScanLines(path string, fn func(string) bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if !fn(sc.Text()) {
			return
		}
	}
}

// eoProc is one process of the test, its output going to a log file.
type eoProc struct {
	name, logPath string
	cmd           *exec.Cmd
	done          chan struct{}
}

func eoStartProc(t *testing.T, name, logDir, bin string, env []string, args ...string) *eoProc {
	t.Helper()
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	// An *os.File is handed to the child as is: no copying goroutine, and
	// the log survives the child's SIGKILL.
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	f.Close()
	p := &eoProc{name: name, logPath: f.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			// SIGKILL ends a SIGSTOPped process as well.
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// servingAddrs returns where p serves gRPC and HTTP, once its log says.
func (p *eoProc) servingAddrs(t *testing.T) (grpcAddr, httpAddr string) {
	t.Helper()
	return servingAddrs(t, p.logPath, p.exited)
}

func (p *eoProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *eoProc) waitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// tail returns the last n lines of the process's log.
// eoLogsOnFailure logs, when t has failed, the last lines of each process
// that procs lists at cleanup (processes started after this call included).
func eoLogsOnFailure(t *testing.T, procs func() []*eoProc) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range procs() {
			t.Logf("---- last lines of %s (%s) ----\n%s", p.name, p.logPath, p.tail(60))
		}
	})
}

func (p *eoProc) tail(n int) string {
	var lines []string
	eoScanLines(p.logPath, func(line string) bool {
		lines = append(lines, line)
		if len(lines) > n {
			lines = lines[1:]
		}
		return true
	})
	return strings.Join(lines, "\n")
}

// eoSleepUntil waits until at, failing the test as soon as one of alive exits.
func eoSleepUntil(t *testing.T, at time.Time, alive ...*eoProc) {
	t.Helper()
	for {
		for _, p := range alive {
			if p.exited() {
				t.Fatalf("%s exited unexpectedly (%v):\n%s", p.name, p.cmd.ProcessState, p.tail(40))
			}
		}
		d := time.Until(at)
		if d <= 0 {
			return
		}
		time.Sleep(min(d, 200*time.Millisecond))
	}
}

// eoSlotAtOrAfter returns the first nominal slot, a multiple of eoPeriod of
// Unix time, at or after at.
func eoSlotAtOrAfter(at time.Time) time.Time {
	p := eoPeriod.Milliseconds()
	ms := (at.UnixMilli() + p - 1) / p * p
	return time.UnixMilli(ms)
}

// eoMidSlot returns the instant 600 ms past the slot nearest to at.
func eoMidSlot(at time.Time) time.Time {
	return eoSlotAtOrAfter(at.Add(-eoPeriod / 2)).Add(600 * time.Millisecond)
}

// eoWaitHTTP waits for url to answer 200, failing the test if p exits first.
func eoWaitHTTP(t *testing.T, p *eoProc, url string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(eoReady)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.exited() {
			t.Fatalf("%s exited before %s answered 200 (%v):\n%s", p.name, url, p.cmd.ProcessState, p.tail(40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not answer 200 within %v (last error %v):\n%s", p.name, url, eoReady, err, p.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func eoCalls(t *testing.T, url string) enginesim.CallsReport {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var r enginesim.CallsReport
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return r
}

// eoBuild builds workflow-runtime and engine-sim, with -race when this test
// binary has it, so that the replicas are checked for races too. The two
// build at the same time.
func eoBuild(t *testing.T) (runtimeBin, simBin string) {
	t.Helper()
	race := eoRaceEnabled()
	sim := make(chan eoBuilt, 1)
	go func() { sim <- eoBuildOnce("engine-sim", race) }()
	return eoBuildBinary(t, "workflow-runtime", race), (<-sim).path(t)
}

// eoBuildCommand builds cmd/name as eoBuild does and returns the binary's
// path.
func eoBuildCommand(t *testing.T, name string) string {
	t.Helper()
	return eoBuildBinary(t, name, eoRaceEnabled())
}

// eoBuildBinary builds cmd/name, with the race detector if race, once per
// test process, and returns the binary's path. Tests only run the binaries,
// each with a data directory of its own, so they can share them.
func eoBuildBinary(t *testing.T, name string, race bool) string {
	t.Helper()
	return eoBuildOnce(name, race).path(t)
}

// eoBinaries holds the binaries this test process builds, by name and race
// flag: linking a binary (with -race, several seconds) is the costliest step
// of most multi-process tests, and its result is the same for each. Each
// binary is built once; different ones build at the same time, since the
// tests all start together and each waits only for the binaries it runs.
var eoBinaries struct {
	sync.Mutex
	dir   string
	built map[string]*eoBinary
}

// eoBinary is one binary of eoBinaries: done is closed once its build has
// ended.
type eoBinary struct {
	done chan struct{}
	eoBuilt
}

// eoBuilt is a build's outcome: the binary's path, or why there is none;
// log says what was run and how long it took, for the test that ran it.
type eoBuilt struct {
	bin, err, log string
}

// path returns the binary's path, failing t when the build failed, and logs
// the build in the test that made it.
func (b eoBuilt) path(t *testing.T) string {
	t.Helper()
	if b.err != "" {
		t.Fatal(b.err)
	}
	if b.log != "" {
		t.Log(b.log)
	}
	return b.bin
}

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if eoBinaries.dir != "" {
		_ = os.RemoveAll(eoBinaries.dir)
	}
	os.Exit(code)
}

// eoBuildOnce builds cmd/name, with the race detector if race, unless this
// test process has built it already or is building it: then it waits for
// that build's outcome, which it returns without its log.
func eoBuildOnce(name string, race bool) eoBuilt {
	key := fmt.Sprintf("%s-race-%t", name, race)
	eoBinaries.Lock()
	if eoBinaries.dir == "" {
		dir, err := os.MkdirTemp("", "wfr-multiprocess-bin-") // outlives the test that builds first; TestMain removes it
		if err != nil {
			eoBinaries.Unlock()
			return eoBuilt{err: fmt.Sprintf("directory of the binaries: %v", err)}
		}
		eoBinaries.dir, eoBinaries.built = dir, map[string]*eoBinary{}
	}
	b, building := eoBinaries.built[key]
	if !building {
		b = &eoBinary{done: make(chan struct{})}
		eoBinaries.built[key] = b
	}
	dir := eoBinaries.dir
	eoBinaries.Unlock()
	if building {
		<-b.done
		return eoBuilt{bin: b.bin, err: b.err}
	}

	defer close(b.done)
	goBin, err := exec.LookPath("go")
	if err != nil {
		b.err = "the go command must be on PATH (go test puts GOROOT/bin there)"
		return b.eoBuilt
	}
	out := filepath.Join(dir, key, name)
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
		// The packages this test was built to leave out of the race
		// detector (make test's RACE) are left out of its processes too.
		if gcflags := eoBuildSetting("-gcflags"); gcflags != "" {
			args = append(args, "-gcflags="+gcflags)
		}
	}
	args = append(args, "github.com/workflow-runtime/workflow-runtime/cmd/"+name)
	begin := time.Now()
	msg, err := exec.Command(goBin, args...).CombinedOutput()
	if err != nil {
		b.err = fmt.Sprintf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
		return b.eoBuilt
	}
	b.bin = out
	return eoBuilt{bin: out, log: fmt.Sprintf("go %s (%v)", strings.Join(args, " "), time.Since(begin).Round(time.Millisecond))}
}

func eoRaceEnabled() bool { return eoBuildSetting("-race") == "true" }

// eoBuildSetting is the value of a setting this test binary was built with
// (a go build flag such as -race or -gcflags), or "".
func eoBuildSetting(key string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// eoEnv is this process's environment without any WFR_ or ENGINE_SIM_
// setting (make exports some), plus kv.
func eoEnv(kv map[string]string) []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "WFR_") || strings.HasPrefix(e, "ENGINE_SIM_") {
			continue
		}
		env = append(env, e)
	}
	// Every multi-process test's replicas run at once against one
	// PostgreSQL, whose max_connections (100 here) a replica's default pool
	// of 20 would exhaust; what a test's replica does fits in the least
	// the setting allows.
	if _, ok := kv["WFR_DB_MAX_CONNS"]; !ok {
		env = append(env, "WFR_DB_MAX_CONNS=4")
	}
	for k, v := range kv {
		env = append(env, k+"="+v)
	}
	return env
}

// eoDeleteKeys deletes every Redis key under prefix.
func eoDeleteKeys(rdb *redis.Client, prefix string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := rdb.Del(ctx, batch...).Err(); err != nil {
				return n, err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	if len(batch) > 0 {
		if err := rdb.Del(ctx, batch...).Err(); err != nil {
			return n, err
		}
		n += len(batch)
	}
	return n, nil
}
