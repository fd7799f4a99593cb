package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	enginepb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// Settings of the dispatch benchmark.
const (
	benchWorkflows = 200
	// benchInFlight bounds the TriggerWorkflow calls awaiting an answer;
	// when it is reached the sender waits, and the achieved rate shows it.
	benchInFlight = 5000
	// benchReceiptWait is how long after a step's last answer the engine
	// may still receive that step's dispatches before they count as missing.
	benchReceiptWait = 5 * time.Second
	// benchDrainWait bounds the wait for a step's executions to end before
	// the next step starts.
	benchDrainWait = 120 * time.Second
	// The goal: dispatch p99 at most benchGoalP99 at benchGoalRate.
	benchGoalRate = 500
	benchGoalP99  = 10 * time.Millisecond
	// benchRequiredRate is the highest of the rates the issue asks about:
	// up to it every rate is measured, past it only while they are sustained.
	benchRequiredRate = 1000
)

// benchRates are the fixed trigger rates tried, in order.
var benchRates = []int{100, 250, 500, 600, 700, 800, 1000, 1500, 2000, 3000, 4000, 6000, 8000}

// TestBenchDispatch is `make bench-dispatch`, not a test: with PostgreSQL,
// Redis, the runtime and an engine-sim all in this machine (the last two in
// this process), it drives manual triggers at fixed rates over gRPC and
// prints, per rate, the latency from TriggerWorkflow's answer to the
// engine's receipt of ExecuteWorkflow. WFR_BENCH_DISPATCH is the number of
// seconds each rate is held.
func TestBenchDispatch(t *testing.T) {
	seconds := os.Getenv("WFR_BENCH_DISPATCH")
	if seconds == "" {
		t.Skip("a benchmark: run it with `make bench-dispatch` (WFR_BENCH_DISPATCH=<seconds per rate>)")
	}
	secs, err := strconv.Atoi(seconds)
	require.NoError(t, err, "WFR_BENCH_DISPATCH is the number of seconds per rate")
	require.Positive(t, secs, "WFR_BENCH_DISPATCH is the number of seconds per rate")
	step := time.Duration(secs) * time.Second

	receipts := serveBenchEngine(t)
	// Warnings and worse reach stderr, as from a replica at WFR_LOG_LEVEL=warn.
	s := startStack(t, map[string]string{
		"WFR_ENGINE_ADDR": receipts.addr, "WFR_INSTANCE_ID": "bench-dispatch",
		"WFR_RATE_LIMIT": "0", "WFR_LOG_LEVEL": "warn", "WFR_LOG_FORMAT": "logfmt", "WFR_SHUTDOWN_TIMEOUT": "10s",
	})
	client := s.client
	db, err := sql.Open("postgres", s.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()

	workflows := make([]string, benchWorkflows)
	for i := range workflows {
		workflows[i] = fmt.Sprintf("bench.dispatch-%03d", i)
		_, err := client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
			WorkflowId:         workflows[i],
			WorkflowDefinition: definition(t, actionNode),
			Triggers:           []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_MANUAL}},
			Config:             &pb.DeploymentConfig{OverlapPolicy: pb.OverlapPolicy_OVERLAP_POLICY_ALLOW_ALL},
			DeployedBy:         "bench",
		})
		require.NoError(t, err)
	}

	fmt.Printf("dispatch latency: TriggerWorkflow answered (client) -> engine-sim received ExecuteWorkflow; %d workflows, ALLOW_ALL, %v per rate\n",
		benchWorkflows, step)
	fmt.Printf("%7s %9s %8s %6s %8s %8s %8s %8s %7s %8s %8s %7s %6s %6s\n",
		"rate", "achieved", "triggers", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms", "early", "rpc_p50", "rpc_p99", "missing", "cpu_p", "cpu_h")
	best, goal := 0, "not measured"
	for _, rate := range benchRates {
		cpu := startBenchCPU()
		r := runBenchStep(client, receipts, workflows, rate, step)
		proc, host := cpu.stop()
		fmt.Printf("%7d %9.0f %8d %6d %8.2f %8.2f %8.2f %8.2f %7d %8.2f %8.2f %7d %6.0f %6.0f\n",
			rate, r.achieved, r.triggers, r.errors, benchMS(r.dispatch, 0.5), benchMS(r.dispatch, 0.9), benchMS(r.dispatch, 0.99), benchMS(r.dispatch, 1),
			r.early, benchMS(r.rpc, 0.5), benchMS(r.rpc, 0.99), r.missing, proc, host)
		if r.firstErr != nil {
			fmt.Printf("%7d first error: %v\n", rate, r.firstErr)
		}
		if rate == benchGoalRate {
			goal = fmt.Sprintf("p99 %.2f ms: not met", benchMS(r.dispatch, 0.99))
			if len(r.dispatch) > 0 && benchPercentile(r.dispatch, 0.99) <= benchGoalP99 {
				goal = fmt.Sprintf("p99 %.2f ms: met", benchMS(r.dispatch, 0.99))
			}
		}
		sustained := r.errors == 0 && r.missing == 0 && r.achieved >= 0.95*float64(rate)
		if sustained {
			best = max(best, rate)
		}
		// The rates the issue asks about are always measured; higher ones
		// only while the rate before was sustained.
		if !sustained && rate >= benchRequiredRate {
			break
		}
		if left, err := drainBench(db); err != nil || left > 0 {
			fmt.Printf("%7d %d executions still PENDING or RUNNING %v after the step (err: %v)\n", rate, left, benchDrainWait, err)
		}
	}
	fmt.Printf("highest sustained rate (no errors, none missing, >= 95%% of target): %d/s\n", best)
	fmt.Printf("goal p99 <= %v at %d/s: %s\n", benchGoalP99, benchGoalRate, goal)
	fmt.Println("early: dispatches the engine received before the client had the answer, counted as 0 ms; missing: accepted but not received by the engine " +
		benchReceiptWait.String() + " after the step; rpc: TriggerWorkflow send -> answer;")
	fmt.Println("cpu_p: this process (client, runtime, engine-sim) in % of one core; cpu_h: the whole host busy, in % of all its cores")
}

// benchReceipts records when the engine first received each execution,
// by the runtime's execution id.
type benchReceipts struct {
	addr string
	mu   sync.Mutex
	at   map[string]time.Time
}

func (r *benchReceipts) get(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.at[id]
	return at, ok
}

// serveBenchEngine serves an engine-sim, whose executions take 50 ms, on a
// loopback port of this process.
func serveBenchEngine(t *testing.T) *benchReceipts {
	t.Helper()
	rec := &benchReceipts{at: map[string]time.Time{}}
	record := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*enginepb.ExecuteWorkflowRequest); ok && info.FullMethod == enginepb.WorkflowService_ExecuteWorkflow_FullMethodName {
			now := time.Now()
			id := r.GetMetadata()[engine.MetaRuntimeExecutionID]
			rec.mu.Lock()
			if _, seen := rec.at[id]; !seen {
				rec.at[id] = now
			}
			rec.mu.Unlock()
		}
		return handler(ctx, req)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.UnaryInterceptor(record))
	enginepb.RegisterWorkflowServiceServer(srv, enginesim.New(enginesim.Config{MinDuration: 50 * time.Millisecond, MaxDuration: 50 * time.Millisecond}))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	rec.addr = lis.Addr().String()
	return rec
}

// benchResult is one rate's figures.
type benchResult struct {
	triggers, errors, early, missing int
	achieved                         float64
	dispatch, rpc                    []time.Duration
	firstErr                         error
}

// benchCall is one TriggerWorkflow call.
type benchCall struct {
	id             string
	sent, answered time.Time
	err            error
}

// runBenchStep triggers at rate per second for d, open loop: every
// millisecond the sender starts as many calls as the schedule says are due,
// each in a goroutine of its own, whatever the earlier ones are doing.
func runBenchStep(client pb.WorkflowRuntimeServiceClient, receipts *benchReceipts, workflows []string, rate int, d time.Duration) benchResult {
	total := int(float64(rate) * d.Seconds())
	calls := make([]benchCall, total)
	slots := make(chan struct{}, benchInFlight)
	var wg sync.WaitGroup
	var lastAnswer atomic.Int64

	tick := time.NewTicker(time.Millisecond)
	start := time.Now()
	for sent := 0; sent < total; {
		due := min(total, int(time.Since(start).Seconds()*float64(rate))+1)
		for ; sent < due; sent++ {
			slots <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-slots }()
				c := &calls[i]
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c.sent = time.Now()
				resp, err := client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{
					WorkflowId: workflows[i%len(workflows)], TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL, TriggeredBy: "bench",
				})
				c.answered = time.Now()
				lastAnswer.Store(c.answered.UnixNano())
				if err != nil {
					c.err = err
					return
				}
				c.id = resp.GetExecutionId()
			}(sent)
		}
		<-tick.C
	}
	tick.Stop()
	wg.Wait()

	r := benchResult{triggers: total}
	elapsed := time.Unix(0, lastAnswer.Load()).Sub(start)
	for i := range calls {
		if calls[i].err != nil {
			r.errors++
			if r.firstErr == nil {
				r.firstErr = calls[i].err
			}
		}
	}
	r.achieved = float64(total-r.errors) / elapsed.Seconds()

	// Wait for the engine to receive what was accepted, up to benchReceiptWait.
	deadline := time.Now().Add(benchReceiptWait)
	for {
		r.missing = 0
		for i := range calls {
			if calls[i].err == nil {
				if _, ok := receipts.get(calls[i].id); !ok {
					r.missing++
				}
			}
		}
		if r.missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range calls {
		c := &calls[i]
		if c.err != nil {
			continue
		}
		r.rpc = append(r.rpc, c.answered.Sub(c.sent))
		at, ok := receipts.get(c.id)
		if !ok {
			continue
		}
		lat := at.Sub(c.answered)
		if lat < 0 {
			r.early++
			lat = 0
		}
		r.dispatch = append(r.dispatch, lat)
	}
	slices.Sort(r.dispatch)
	slices.Sort(r.rpc)
	return r
}

// drainBench waits until no execution is PENDING or RUNNING, up to
// benchDrainWait, and returns how many still are.
func drainBench(db *sql.DB) (int, error) {
	deadline := time.Now().Add(benchDrainWait)
	for {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM executions WHERE status IN ('PENDING', 'RUNNING')`).Scan(&n); err != nil {
			return 0, err
		}
		if n == 0 {
			// Let the runs' last writes and lease bookkeeping settle.
			time.Sleep(time.Second)
			return 0, nil
		}
		if time.Now().After(deadline) {
			return n, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// benchCPU measures the CPU time of this process and of the whole host,
// from /proc, so that a reader can tell a slow runtime from a busy machine.
type benchCPU struct {
	start             time.Time
	proc, total, idle float64
}

func startBenchCPU() benchCPU {
	total, idle := benchHostCPU()
	return benchCPU{start: time.Now(), proc: benchProcCPU(), total: total, idle: idle}
}

// stop returns the process's CPU use in percent of one core and the host's
// in percent of all cores since start; NaN where /proc cannot say.
func (c benchCPU) stop() (proc, host float64) {
	total, idle := benchHostCPU()
	proc = 100 * (benchProcCPU() - c.proc) / time.Since(c.start).Seconds()
	host = 100 * (1 - (idle-c.idle)/(total-c.total))
	return proc, host
}

// benchProcCPU returns this process's user and system CPU seconds.
func benchProcCPU() float64 {
	return pgtest.ProcessCPU(os.Getpid())
}

// benchHostCPU returns the host's total and idle (idle and iowait) CPU ticks.
func benchHostCPU() (total, idle float64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return math.NaN(), math.NaN()
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return math.NaN(), math.NaN()
	}
	for i, x := range f[1:] {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return math.NaN(), math.NaN()
		}
		total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	return total, idle
}

// benchPercentile returns the p-quantile (0..1) of sorted ds.
func benchPercentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[int(p*float64(len(ds)-1))]
}

func benchMS(ds []time.Duration, p float64) float64 {
	return float64(benchPercentile(ds, p).Microseconds()) / 1000
}
