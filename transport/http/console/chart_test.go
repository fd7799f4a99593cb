package console

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

func TestNiceCeil(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]float64{0: 1, 0.3: 1, 1: 1, 1.2: 2, 2: 2, 3: 5, 7: 10, 30: 50, 101: 200, 999: 1000} {
		require.Equal(t, want, niceCeil(in), "niceCeil(%v)", in)
	}
}

// TestLoadChartKeepsPeaks: a chart drawn in fewer columns than it has
// buckets shows each column's most, so a one-second spike stays visible.
func TestLoadChartKeepsPeaks(t *testing.T) {
	t.Parallel()
	load := &pb.GetLoadDistributionResponse{PeakPerSecondWithJitter: 1, PeakPerSecondWithoutJitter: 30}
	start := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	for i := range 3600 {
		b := &pb.LoadBucket{Start: timestamppb.New(start.Add(time.Duration(i) * time.Second))}
		if i == 1801 {
			b.FiresWithoutJitter = 30
		}
		load.Buckets = append(load.Buckets, b)
	}
	c := newLoadChart(load, 1)
	require.False(t, c.Empty)
	require.Len(t, strings.Fields(c.Without), 2*maxColumns, "two points per column")
	spike := fmt.Sprintf(",%.1f ", c.Base-30.0/50.0*(c.Base-c.Top))
	require.Contains(t, c.Without+" ", spike, "the spike reaches 30 on a scale to 50")
	require.Equal(t, "10:00", c.XTicks[0].Label)
	require.Equal(t, "11:00", c.XTicks[4].Label)
	require.Equal(t, []string{"start", "middle", "middle", "middle", "end"}, anchors(c.XTicks))
	require.Equal(t, "50", c.YTicks[2].Label)

	empty := newLoadChart(&pb.GetLoadDistributionResponse{}, 1)
	require.True(t, empty.Empty)
	require.Empty(t, empty.With)
	flat := newLoadChart(&pb.GetLoadDistributionResponse{Buckets: []*pb.LoadBucket{{Start: timestamppb.New(start)}}}, 10)
	require.True(t, flat.Empty, "nothing planned")
	require.NotEmpty(t, flat.With, "a flat line is still drawn")
}

func anchors(ticks []tick) []string {
	var out []string
	for _, t := range ticks {
		out = append(out, t.Anchor)
	}
	return out
}

func TestHistogramVerdict(t *testing.T) {
	t.Parallel()
	buckets := func(counts ...int64) []*pb.JitterBucket {
		var out []*pb.JitterBucket
		for i, n := range counts {
			out = append(out, &pb.JitterBucket{StartSecond: int32(i * 30), Count: n})
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		in      *pb.GetJitterDistributionResponse
		uniform bool
		says    string
	}{
		{"no triggers", &pb.GetJitterDistributionResponse{WindowSeconds: 300, Buckets: buckets(0, 0)}, false, "nothing to judge"},
		{"too few", &pb.GetJitterDistributionResponse{WindowSeconds: 300, Total: 9, PValue: 0.9, Buckets: buckets(4, 5)}, false, "Too few triggers (9)"},
		{"bunched", &pb.GetJitterDistributionResponse{WindowSeconds: 300, Total: 100, PValue: 0.001, Buckets: buckets(90, 10)}, false, "bunch up: p = 0.0010"},
		{"even", &pb.GetJitterDistributionResponse{WindowSeconds: 300, Total: 100, PValue: 0.5, Buckets: buckets(51, 49)}, true, "spread evenly: p = 0.5000"},
	} {
		h := newHistogram(tt.in)
		require.Equal(t, tt.uniform, h.Uniform, tt.name)
		require.Contains(t, h.Verdict, tt.says, tt.name)
		require.Len(t, h.Bars, len(tt.in.GetBuckets()), tt.name)
	}
	require.Empty(t, newHistogram(&pb.GetJitterDistributionResponse{}).Bars)
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                              "/ui/",
		"/ui/load?range=day":            "/ui/load?range=day",
		"http://host.example/ui/deploy": "/ui/deploy",
		"https://evil.example/phish":    "/ui/",
		"//evil.example/ui/":            "/ui/",
		"/ui/../api/v1/deployments":     "/ui/",
		"/ui/sign-in?next=/ui/":         "/ui/",
		"/metrics":                      "/ui/",
		"%zz":                           "/ui/",
	} {
		require.Equal(t, want, localPath(in), "localPath(%q)", in)
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	now := testNow
	require.Equal(t, "—", when(nil))
	require.Empty(t, ago(nil, now))
	require.Equal(t, "in 5s", ago(timestamppb.New(now.Add(5*time.Second)), now))
	require.Equal(t, "3m ago", ago(timestamppb.New(now.Add(-3*time.Minute)), now))
	require.Equal(t, "5h ago", ago(timestamppb.New(now.Add(-5*time.Hour)), now))
	require.Equal(t, "3d ago", ago(timestamppb.New(now.Add(-72*time.Hour)), now))
	require.Empty(t, took(nil, timestamppb.New(now)))
	require.Equal(t, "250ms", took(timestamppb.New(now), timestamppb.New(now.Add(250*time.Millisecond))))
	require.Equal(t, "PAUSED", short(pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED))
	require.Equal(t, "TIMED_OUT", short(pb.ExecutionStatus_EXECUTION_STATUS_TIMED_OUT))
	require.Equal(t, "SHIFTED", short(pb.DstEffect_DST_EFFECT_SHIFTED))
	require.Equal(t, "not json", indentJSON("not json"))
	require.Equal(t, "{\n  \"a\": 1\n}", indentJSON(`{"a":1}`))
	require.Empty(t, string(query("a", "")))
}
