package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// loadBenchMix is the bench's schedules: how many deployments get each.
var loadBenchMix = []struct {
	n          int
	expression string
	zone       string
}{
	{500, "*/5 * * * *", ""},
	{250, "0 * * * *", ""},
	{150, "*/1 * * * *", ""},
	{40, "*/15 * * * *", ""},
	{30, "0 9 * * *", "Europe/Berlin"},
	{30, "30 2 * * *", "America/New_York"},
}

// TestBenchLoad is `make bench-load`, not a test: it deploys 1,000 cron
// deployments with the default jitter window (300 s) through a whole runtime
// and prints what GetLoadDistribution plans for the next full hour and the
// next day, how long each call took, and GetJitterDistribution's test.
// WFR_BENCH_LOAD=1 runs it.
func TestBenchLoad(t *testing.T) {
	if os.Getenv("WFR_BENCH_LOAD") == "" {
		t.Skip("a benchmark: run it with `make bench-load` (WFR_BENCH_LOAD=1)")
	}
	s := startStack(t, nil)
	ctx := context.Background()

	var specs []*pb.CronSpec
	for _, m := range loadBenchMix {
		for range m.n {
			specs = append(specs, &pb.CronSpec{Expression: m.expression, Timezone: m.zone})
		}
	}
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(specs))
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(specs); i += 8 {
				_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{
					WorkflowId: fmt.Sprintf("bench-load-%04d", i), WorkflowDefinition: definition(t, actionNode),
					Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: specs[i]}},
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	require.NoError(t, <-errs)
	fmt.Printf("deployed %d cron deployments in %v:", len(specs), time.Since(began).Round(time.Millisecond))
	for _, m := range loadBenchMix {
		fmt.Printf(" %d × %q%s;", m.n, m.expression, map[bool]string{true: " " + m.zone}[m.zone != ""])
	}
	fmt.Println()

	mon := pb.NewMonitoringServiceClient(s.conn)
	hour := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	call := func(req *pb.GetLoadDistributionRequest) (*pb.GetLoadDistributionResponse, time.Duration) {
		var took []time.Duration
		var resp *pb.GetLoadDistributionResponse
		for range 5 {
			began := time.Now()
			r, err := mon.GetLoadDistribution(ctx, req)
			took = append(took, time.Since(began))
			require.NoError(t, err)
			resp = r
		}
		slices.Sort(took)
		return resp, took[len(took)/2]
	}

	next, took := call(&pb.GetLoadDistributionRequest{StartTime: timestamppb.New(hour), BucketSeconds: 60})
	fmt.Printf("\nGetLoadDistribution %s + 1 h, 60 s buckets (median of 5 calls over gRPC: %v)\n", hour.Format(time.RFC3339), took.Round(time.Microsecond))
	fmt.Printf("  peak per second: without jitter %d, with jitter %d\n", next.GetPeakPerSecondWithoutJitter(), next.GetPeakPerSecondWithJitter())
	printBuckets := func(bs []*pb.LoadBucket) {
		fmt.Printf("  %-20s %10s %10s\n", "bucket", "nominal", "jittered")
		for _, b := range bs {
			fmt.Printf("  %-20s %10d %10d\n", b.GetStart().AsTime().Format(time.RFC3339), b.GetFiresWithoutJitter(), b.GetFiresWithJitter())
		}
	}
	printBuckets(next.GetBuckets()[:7])
	fmt.Println("  ...")
	printBuckets(next.GetBuckets()[55:])
	var nominal, jittered int64
	var maxNominal, maxJittered int64
	for _, b := range next.GetBuckets() {
		nominal += b.GetFiresWithoutJitter()
		jittered += b.GetFiresWithJitter()
		maxNominal, maxJittered = max(maxNominal, b.GetFiresWithoutJitter()), max(maxJittered, b.GetFiresWithJitter())
	}
	fmt.Printf("  fires in the hour: nominal %d, jittered %d; busiest minute: nominal %d, jittered %d\n", nominal, jittered, maxNominal, maxJittered)

	day, took := call(&pb.GetLoadDistributionRequest{StartTime: timestamppb.New(hour), EndTime: timestamppb.New(hour.Add(24 * time.Hour)), BucketSeconds: 60})
	fmt.Printf("\nGetLoadDistribution %s + 24 h, 60 s buckets (median of 5: %v)\n", hour.Format(time.RFC3339), took.Round(time.Microsecond))
	fmt.Printf("  peak per second: without jitter %d, with jitter %d; %d buckets\n", day.GetPeakPerSecondWithoutJitter(), day.GetPeakPerSecondWithJitter(), len(day.GetBuckets()))
	busiest := slices.Clone(day.GetBuckets())
	slices.SortStableFunc(busiest, func(a, b *pb.LoadBucket) int {
		return cmp.Compare(b.GetFiresWithoutJitter(), a.GetFiresWithoutJitter())
	})
	fmt.Println("  the 3 busiest minutes by nominal fires:")
	printBuckets(busiest[:3])

	jd, err := mon.GetJitterDistribution(ctx, &pb.GetJitterDistributionRequest{})
	require.NoError(t, err)
	fmt.Printf("\nGetJitterDistribution: window %d s, %d triggers, chi-square %.3f (df %d), p-value %.4f\n  buckets (start s: count):",
		jd.GetWindowSeconds(), jd.GetTotal(), jd.GetChiSquare(), len(jd.GetBuckets())-1, jd.GetPValue())
	for _, b := range jd.GetBuckets() {
		fmt.Printf(" %d: %d", b.GetStartSecond(), b.GetCount())
	}
	fmt.Println()
}
