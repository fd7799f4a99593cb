//go:build multiprocess

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// The scenario of TestNoOrphanedEngineRuns.
const (
	// orAcceptDelay is how long engine-sim takes to answer a dispatch it
	// has started: the window in which the test freezes it.
	orAcceptDelay = 3 * time.Second
	// orCallTimeout and orAttempts are the replica's engine client settings
	// (WFR_ENGINE_CALL_TIMEOUT, WFR_ENGINE_ATTEMPTS): shorter than the
	// defaults (5 s, 5 attempts), so that a dispatch gives up on the frozen
	// engine sooner, and the timeout longer than orAcceptDelay, so that
	// the resumed engine's answer is heard.
	orCallTimeout = 4 * time.Second
	orAttempts    = 3
	// orBreakerOpenFor (WFR_ENGINE_BREAKER_OPEN_FOR) is how long the
	// circuit breaker, opened by the frozen engine, fails calls at once.
	orBreakerOpenFor = 3 * time.Second
	// orSecondAfter is when, after the SIGSTOP, the second executions are
	// triggered: after one dispatch call (orAttempts of orCallTimeout, with
	// backoff under a second) has given up while the engine holds the request.
	orSecondAfter = orAttempts*orCallTimeout + 3*time.Second
	// orStopFor is how long engine-sim stays frozen.
	orStopFor = orSecondAfter + 4*time.Second
	// orTimeout is the short execution timeout, in seconds, that the
	// dispatch outlasts.
	orTimeout = 5
	// orSettle is how long after SIGCONT the engine is watched: time for it
	// to run what it was sent while frozen, and for the runtime to cancel
	// what it must.
	orSettle = 25 * time.Second
)

// TestNoOrphanedEngineRuns freezes engine-sim (SIGSTOP) once it has started,
// and before it has answered for, the first execution of two SKIP
// workflows: one whose execution timeout (5 s) the dispatch outlasts, and one
// whose execution a caller cancels while its dispatch is unanswered. Once the runtime's dispatch calls have given up,
// a second execution of each workflow is triggered; then the engine resumes
// (SIGCONT) and runs whatever requests it was sent. It checks, from
// engine-sim's record of what ran and from the database, that no engine run
// outlives the CANCELLED or TIMED_OUT row of its execution, and that a
// SKIP workflow never has two engine runs alive at once.
//
// Build tag multiprocess: it takes about 45 s, builds the
// binaries and needs PostgreSQL and Redis.
func TestNoOrphanedEngineRuns(t *testing.T) {
	// Parallel with the other long multi-process tests: it waits out a frozen engine, and
	// its database, Redis prefix, ports and directories are its own.
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL, Redis and 45 s")
	}
	logDir := t.TempDir()
	runtimeBin, simBin := eoBuild(t)
	dbURL := pgtest.NewDatabase(t)
	prefix := fmt.Sprintf("wfr_orphan_%d_%d:", os.Getpid(), time.Now().UnixNano())

	// Every execution runs until it is cancelled, and is answered for only
	// orAcceptDelay after it started.
	sim := eoStartProc(t, "engine-sim", logDir, simBin, eoEnv(map[string]string{
		"ENGINE_SIM_GRPC_ADDR": "127.0.0.1:0", "ENGINE_SIM_HTTP_ADDR": "127.0.0.1:0",
		"ENGINE_SIM_HANG_RATE": "1", "ENGINE_SIM_ACCEPT_DELAY": orAcceptDelay.String(),
	}))
	simGRPC, simHTTP := sim.servingAddrs(t)
	eoWaitHTTP(t, sim, "http://"+simHTTP+"/healthz")
	replica := eoStartProc(t, "replica", logDir, runtimeBin, eoEnv(map[string]string{
		"WFR_DATABASE_URL":            dbURL,
		"WFR_REDIS_URL":               "redis://127.0.0.1:6379/0",
		"WFR_REDIS_PREFIX":            prefix,
		"WFR_GRPC_ADDR":               "127.0.0.1:0",
		"WFR_HTTP_ADDR":               "127.0.0.1:0",
		"WFR_ENGINE_ADDR":             simGRPC,
		"WFR_ENGINE_CALL_TIMEOUT":     orCallTimeout.String(),
		"WFR_ENGINE_ATTEMPTS":         strconv.Itoa(orAttempts),
		"WFR_ENGINE_BREAKER_OPEN_FOR": orBreakerOpenFor.String(),
		"WFR_INSTANCE_ID":             "replica",
		"WFR_DRAIN_DELAY":             "0s",
		"WFR_SHUTDOWN_TIMEOUT":        "5s",
		"WFR_LOG_LEVEL":               "info",
	}), "serve")
	grpcAddr, httpAddr := replica.servingAddrs(t)
	eoWaitHTTP(t, replica, "http://"+httpAddr+"/readyz")
	eoLogsOnFailure(t, func() []*eoProc { return []*eoProc{sim, replica} })

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewWorkflowRuntimeServiceClient(conn)
	db, err := sql.Open("postgres", dbURL)
	require.NoError(t, err)
	defer db.Close()

	timedOut := orDeploy(t, client, "orphan-timeout", orTimeout)
	cancelled := orDeploy(t, client, "orphan-cancel", 600)

	// The first execution of each workflow reaches the engine, which starts
	// it and freezes before it answers.
	first := map[string]string{timedOut: orTrigger(t, client, timedOut), cancelled: orTrigger(t, client, cancelled)}
	for {
		started := 0
		for _, r := range orRuns(t, "http://"+simHTTP+"/runs") {
			if r.IdempotencyKey == first[timedOut] || r.IdempotencyKey == first[cancelled] {
				started++
			}
		}
		if started == len(first) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, sim.cmd.Process.Signal(syscall.SIGSTOP))
	stopped := time.Now()
	t.Logf("SIGSTOP engine-sim: it started both first executions and answered neither")
	for _, id := range first {
		require.Equal(t, "PENDING", orStatus(t, db, id), "the engine answered before it froze: the scenario did not happen")
	}
	err = orCancel(client, first[cancelled], 3*time.Second)
	t.Logf("cancel of PENDING execution %s while the engine is frozen: %v", first[cancelled], err)

	eoSleepUntil(t, stopped.Add(orSecondAfter), replica)
	second := map[string]string{timedOut: orTrigger(t, client, timedOut), cancelled: orTrigger(t, client, cancelled)}
	for _, id := range second {
		// SKIPPED, or on its way to the engine beside the first.
		orWait(t, db, 10*time.Second, `SELECT status = 'SKIPPED' OR holds_turn FROM executions WHERE id = $1`, id)
	}
	eoSleepUntil(t, stopped.Add(orStopFor), replica)
	require.NoError(t, sim.cmd.Process.Signal(syscall.SIGCONT))
	resumed := time.Now()
	t.Logf("SIGCONT engine-sim after %v", resumed.Sub(stopped).Round(time.Millisecond))

	// The caller whose cancel could not be carried out tries again.
	for {
		err := orCancel(client, first[cancelled], 10*time.Second)
		if err == nil || status.Code(err) == codes.FailedPrecondition {
			break
		}
		require.Less(t, time.Since(resumed), orSettle, "cancel of %s: %v", first[cancelled], err)
		time.Sleep(500 * time.Millisecond)
	}

	// Watch for orSettle: the engine runs the requests it was sent while
	// frozen, and the runtime must cancel whichever belong to ended
	// executions; then none may be left running.
	var runs []enginesim.Run
	var orphans []string
	for {
		runs = orRuns(t, "http://"+simHTTP+"/runs")
		orphans = orphans[:0]
		for _, r := range runs {
			if st := orStatus(t, db, r.IdempotencyKey); r.End == nil && st != "PENDING" && st != "RUNNING" {
				orphans = append(orphans, fmt.Sprintf("engine run %s of execution %s (workflow %s) still runs; the execution is %s",
					r.ExecutionID, r.IdempotencyKey, r.WorkflowID, st))
			}
		}
		if time.Since(resumed) > orSettle {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for wf, id := range first {
		st := orStatus(t, db, id)
		for _, r := range runs {
			if r.IdempotencyKey == id && r.End != nil {
				t.Logf("ORPHAN FIGURES: workflow %s: execution %s is %s; its engine run ended %v after SIGCONT", wf, id, st, r.End.Sub(resumed).Round(time.Millisecond))
			}
		}
	}
	for wf := range first {
		t.Logf("ORPHAN FIGURES: workflow %s (SKIP): peak engine runs alive at once = %d", wf, orPeak(runs, wf))
	}
	require.Empty(t, orphans, "engine runs of ended executions, %v after SIGCONT", orSettle)
	require.Equal(t, "TIMED_OUT", orStatus(t, db, first[timedOut]))
	require.Equal(t, "CANCELLED", orStatus(t, db, first[cancelled]))
	for wf := range first {
		require.LessOrEqual(t, orPeak(runs, wf), 1, "SKIP workflow %s had engine runs alive at once", wf)
	}
}

func orDeploy(t *testing.T, client pb.WorkflowRuntimeServiceClient, wf string, timeout int32) string {
	t.Helper()
	def, err := structpb.NewStruct(map[string]any{"name": wf, "nodes": []any{map[string]any{"id": "a", "name": "Act", "type": "ACTION"}}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
		WorkflowId: wf, WorkflowDefinition: def, DeployedBy: "orphan-test",
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}},
		Config:   &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_SKIP, ExecutionTimeoutSeconds: timeout},
	})
	require.NoError(t, err, "deploy %s", wf)
	return wf
}

func orTrigger(t *testing.T, client pb.WorkflowRuntimeServiceClient, wf string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: wf, TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL})
	require.NoError(t, err, "trigger %s", wf)
	return resp.GetExecutionId()
}

func orCancel(client pb.WorkflowRuntimeServiceClient, id string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, err := client.CancelExecution(ctx, &pb.CancelExecutionRequest{ExecutionId: id, Reason: "orphan test"})
	return err
}

// orWait waits until query, of one boolean about execution id, is true.
func orWait(t *testing.T, db *sql.DB, within time.Duration, query, id string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		require.NoError(t, db.QueryRow(query, id).Scan(&ok))
		if ok {
			return
		}
		require.True(t, time.Now().Before(deadline), "execution %s: %s stayed false", id, query)
		time.Sleep(50 * time.Millisecond)
	}
}

func orStatus(t *testing.T, db *sql.DB, id string) string {
	t.Helper()
	var st string
	require.NoError(t, db.QueryRow(`SELECT status FROM executions WHERE id = $1`, id).Scan(&st))
	return st
}

func orRuns(t *testing.T, url string) []enginesim.Run {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var runs []enginesim.Run
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&runs))
	return runs
}

// orPeak is the largest number of workflow wf's engine runs alive at one
// instant: a sweep over their starts and ends.
func orPeak(runs []enginesim.Run, wf string) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, r := range runs {
		if r.WorkflowID != wf {
			continue
		}
		edges = append(edges, edge{r.Start, 1})
		if r.End != nil {
			edges = append(edges, edge{*r.End, -1})
		}
	}
	// At one instant an end comes before a start: a run that ended as
	// another began did not overlap it.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	peak, alive := 0, 0
	for _, e := range edges {
		alive += e.delta
		peak = max(peak, alive)
	}
	return peak
}
