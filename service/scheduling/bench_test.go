package scheduling

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/generic"
	"github.com/reugn/go-quartz/quartz"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// benchRuns are the configurations `make bench-scheduler` compares.
var benchRuns = map[string]struct {
	triggers int
	queue    func() quartz.JobQueue
}{
	"heap-100k":          {100_000, func() quartz.JobQueue { return newJobQueue() }},
	"quartz-default-5k":  {5_000, quartz.NewJobQueue},
	"heap-5k-comparison": {5_000, func() quartz.JobQueue { return newJobQueue() }},
}

// TestBenchScheduler is `make bench-scheduler`, not a test: it runs each
// configuration in a process of its own (so that resident memory is its
// own), with every-minute cron triggers, the default 300 s jitter window and
// a dispatcher that only records lag, and prints the figures.
func TestBenchScheduler(t *testing.T) {
	seconds := os.Getenv("WFR_BENCH_SCHEDULER")
	if seconds == "" {
		t.Skip("a benchmark: run it with `make bench-scheduler`")
	}
	if run := os.Getenv("WFR_BENCH_RUN"); run != "" {
		benchOne(t, run, seconds)
		return
	}
	fmt.Printf("%-20s %9s %9s %9s %11s %9s %9s %9s %9s\n",
		"run", "triggers", "load_s", "rss_mb", "fires_per_s", "p50_ms", "p99_ms", "max_ms", "misfires")
	for _, run := range []string{"heap-100k", "quartz-default-5k", "heap-5k-comparison"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBenchScheduler$", "-test.v=false")
		cmd.Env = append(os.Environ(), "WFR_BENCH_RUN="+run)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		for line := range strings.SplitSeq(string(out), "\n") {
			if strings.HasPrefix(line, run+" ") {
				fmt.Println(line)
			}
		}
	}
}

func benchOne(t *testing.T, run, seconds string) {
	cfg := benchRuns[run]
	dur, err := strconv.Atoi(seconds)
	require.NoError(t, err)
	now := time.Now()
	st := &fakeStore{cts: map[string][]workflow.CronTrigger{}}
	for i := range cfg.triggers {
		id := fmt.Sprintf("%06d", i)
		st.cts["d"+id] = []workflow.CronTrigger{{TriggerID: "t" + id, DeploymentID: "d" + id, DeploymentVersion: 1,
			WorkflowID: "wf-" + id, Spec: workflow.CronSpec{Expression: "* * * * *"}, ScheduledSince: now}}
	}
	var (
		mu   sync.Mutex
		lags = make([]time.Duration, 0, cfg.triggers*(dur/60+2))
	)
	handle := func(_ context.Context, f Fire) error {
		mu.Lock()
		lags = append(lags, f.Lag)
		mu.Unlock()
		return nil
	}
	misfires := generic.NewCounter("misfires")
	s := New(st, handle, Options{Metrics: Metrics{Misfires: misfires}, queue: cfg.queue()})

	runtime.GC()
	start := time.Now()
	require.NoError(t, s.Start(context.Background()))
	load := time.Since(start)
	rss := residentMB(t)
	mu.Lock()
	lags = lags[:0] // fires during the load are not steady state
	mu.Unlock()
	measured := time.Now()
	time.Sleep(time.Duration(dur) * time.Second)
	mu.Lock()
	got := slices.Clone(lags)
	mu.Unlock()
	elapsed := time.Since(measured)
	require.NoError(t, s.Stop(context.Background()))

	slices.Sort(got)
	pct := func(p float64) float64 {
		if len(got) == 0 {
			return 0
		}
		return float64(got[int(p*float64(len(got)-1))].Microseconds()) / 1000
	}
	fmt.Printf("%-20s %9d %9.2f %9.0f %11.0f %9.2f %9.2f %9.2f %9.0f\n", run, cfg.triggers, load.Seconds(), rss,
		float64(len(got))/elapsed.Seconds(), pct(0.5), pct(0.99), pct(1), misfires.Value())
}

// residentMB reads the process's resident set size from /proc.
func residentMB(t *testing.T) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			require.NoError(t, err)
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
