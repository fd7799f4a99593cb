package cron

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// jitterVectors were computed outside Go, with Python's hashlib, by passing
// each id as an argument to (id, H, H%300, H%60, H%3600, millisecond spread):
//
//	python3 -c 'import hashlib,sys; [print(i, H, H%300, H%60, H%3600, int(h[8:12],16)%1000) for i in sys.argv[1:] for h in [hashlib.md5(i.encode()).hexdigest()] for H in [int(h[:8],16)]]' a wf ...
var jitterVectors = []struct {
	id                         string
	hash                       uint32
	w300, w60, w3600, spreadMS int
}{
	{"a", 214005177, 177, 57, 3177, 393},
	{"wf", 3249705419, 119, 59, 3419, 82},
	{"workflow-1", 2011899511, 211, 31, 3511, 866},
	{"workflow_2", 205506105, 105, 45, 105, 784},
	{"wf.prod.orders", 3313648868, 68, 8, 68, 934},
	{"tenant:42:wf-7", 708107703, 3, 3, 2103, 300},
	{"A", 2143642224, 24, 24, 624, 303},
	{"0", 3486326916, 216, 36, 516, 357},
	{"order-sync", 4257260276, 176, 56, 1076, 857},
	{"daily.report:v2", 2824994251, 151, 31, 2251, 957},
	{strings.Repeat("x", 128), 3600594458, 158, 38, 458, 392},
	{"user_123.abc-DEF:ghi", 2039395353, 153, 33, 2553, 560},
	{"ünïcödé", 3240287587, 187, 7, 3187, 164},
	{"工作流", 579151580, 80, 20, 1580, 894},
	{"emoji-🚀", 2336387927, 227, 47, 2327, 122},
	{"wf:2024-01-01T00:00:00", 872097879, 279, 39, 1479, 545},
	{"-_.:", 255261214, 214, 34, 3214, 900},
	{"The quick brown fox jumps over the lazy dog", 2651880861, 261, 21, 2061, 123},
	{"similar-1", 3224792106, 6, 6, 2106, 388},
	{"similar-2", 1210144175, 275, 35, 575, 797},
	{"Z9", 1008330687, 87, 27, 3087, 168},
	{"café:ordres", 2739827063, 263, 23, 263, 41},
	{"9f8c6d1e-4b2a-4f3e-8c7d-1a2b3c4d5e6f", 4286069125, 25, 25, 2725, 521},
}

func TestJitterVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range jitterVectors {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			ms := time.Duration(tc.spreadMS) * time.Millisecond
			require.Equal(t, tc.hash, Hash(tc.id))
			require.Equal(t, tc.w300, JitterSeconds(tc.id, 300))
			require.Equal(t, tc.w60, JitterSeconds(tc.id, 60))
			require.Equal(t, tc.w3600, JitterSeconds(tc.id, 3600))
			// A gap at least as long as the window leaves the window in charge.
			require.Equal(t, time.Duration(tc.w300)*time.Second+ms, Offset(tc.id, 300*time.Second, time.Hour))
			require.Equal(t, time.Duration(tc.w3600)*time.Second+ms, Offset(tc.id, time.Hour, 24*time.Hour))
			// Otherwise the gap clamps it: an every-minute cron with the default window.
			require.Equal(t, time.Duration(tc.w60)*time.Second+ms, Offset(tc.id, 300*time.Second, time.Minute))
		})
	}
}

func TestJitterSecondsZeroWindow(t *testing.T) {
	t.Parallel()
	require.Zero(t, JitterSeconds("wf", 0))
	require.Zero(t, JitterSeconds("wf", -5))
}

func TestOffsetNoJitter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		window, gap time.Duration
	}{
		{"window 0", 0, time.Hour},
		{"window under a second", 900 * time.Millisecond, time.Hour},
		{"negative window", -time.Minute, time.Hour},
		{"unknown gap", 300 * time.Second, 0},
		{"negative gap", 300 * time.Second, -time.Second},
		{"gap under a second", 300 * time.Second, 999 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, id := range []string{"a", "wf", "order-sync", "工作流"} {
				require.Zero(t, Offset(id, tc.window, tc.gap), id)
			}
		})
	}
}

func TestOffsetDeterministic(t *testing.T) {
	t.Parallel()
	for i := range 100 {
		id := fmt.Sprintf("wf-%d", i)
		first := Offset(id, 300*time.Second, time.Hour)
		require.Equal(t, first, Offset(id, 300*time.Second, time.Hour), "the same workflow gets the same offset every time")
	}
}

func TestOffsetBelowGapAndWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ window, gap time.Duration }{
		{300 * time.Second, time.Minute},
		{300 * time.Second, 60*time.Second + 500*time.Millisecond},
		{300 * time.Second, time.Second},
		{300 * time.Second, 1500 * time.Millisecond},
		{300*time.Second + 700*time.Millisecond, time.Hour},
		{time.Second, time.Hour},
	} {
		t.Run(fmt.Sprintf("window %s gap %s", tc.window, tc.gap), func(t *testing.T) {
			t.Parallel()
			for i := range 5000 {
				id := fmt.Sprintf("workflow:%d", i)
				off := Offset(id, tc.window, tc.gap)
				require.GreaterOrEqual(t, off, time.Duration(0), id)
				require.Less(t, off, tc.gap, id)
				require.Less(t, off, tc.window, id)
			}
		})
	}
}

func TestOffsetSpread(t *testing.T) {
	t.Parallel()
	const (
		n       = 10000
		buckets = 10
		window  = 300 * time.Second
	)
	var counts [buckets]int
	for i := range n {
		off := Offset(fmt.Sprintf("tenant-%d:workflow.%d", i%37, i), window, time.Hour)
		counts[int(off*buckets/window)]++
	}
	const mean = n / buckets
	for b, c := range counts {
		require.InDelta(t, mean, c, mean*0.15, "bucket %d of %v", b, counts)
	}
}
