package monitoring

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/generic"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestChiSquareSurvival checks Q(df/2, x/2) against mpmath's
// gammainc(df/2, x/2, inf, regularized=True) at 40 digits, computed with
// python3 on this machine; the x values include the 5 % critical points
// of 1, 9 and 60 degrees of freedom.
func TestChiSquareSurvival(t *testing.T) {
	for _, c := range []struct {
		x    float64
		df   int
		want float64
	}{
		{0.5, 1, 0.47950012218695346},
		{1, 1, 0.3173105078629141},
		{3.841458820694124, 1, 0.050000000000000057},
		{5, 1, 0.025347318677468264},
		{2, 2, 0.36787944117144232},
		{0.1, 3, 0.99183742373187648},
		{30, 4, 4.8944371280292126e-6},
		{9, 9, 0.43727418891386706},
		{16.918977604620448, 9, 0.050000000000000032},
		{20, 9, 0.017912404529843274},
		{100, 9, 1.5735176303753944e-17},
		{0.001, 9, 0.99999999999999997},
		{50, 60, 0.81789608402254489},
		{79.08194, 60, 0.050000035189770552},
		{120, 60, 6.8762649687320967e-6},
		{300, 299, 0.47285048381716997},
	} {
		got := ChiSquareSurvival(c.x, c.df)
		require.InEpsilon(t, c.want, got, 1e-10, "x=%v df=%d", c.x, c.df)
	}
	require.Equal(t, 1.0, ChiSquareSurvival(0, 5))
	require.Equal(t, 1.0, ChiSquareSurvival(-1, 5))
}

func TestChiSquareUniform(t *testing.T) {
	// A window of 100 s in buckets of 30 s: the last bucket is 10 s wide
	// and expects a tenth of the total.
	even := []JitterBucket{{0, 30}, {30, 30}, {60, 30}, {90, 10}}
	chi, p := chiSquareUniform(even, 30, 100, 100)
	require.InDelta(t, 0, chi, 1e-12)
	require.InDelta(t, 1, p, 1e-12)

	skewed := []JitterBucket{{0, 40}, {30, 20}, {60, 30}, {90, 10}}
	chi, p = chiSquareUniform(skewed, 30, 100, 100)
	require.InDelta(t, 100.0/30+100.0/30, chi, 1e-12)
	require.InDelta(t, ChiSquareSurvival(chi, 3), p, 1e-15)

	chi, p = chiSquareUniform([]JitterBucket{{0, 7}}, 300, 300, 7)
	require.Equal(t, [2]float64{0, 1}, [2]float64{chi, p}, "one bucket tests nothing")
	chi, p = chiSquareUniform(even, 30, 100, 0)
	require.Equal(t, [2]float64{0, 1}, [2]float64{chi, p}, "no triggers test nothing")
}

func TestWindow(t *testing.T) {
	now := time.Date(2026, time.March, 1, 12, 0, 30, 0, time.UTC)
	w := NewWindow()
	w.now = func() time.Time { return now }
	dups, lags := generic.NewCounter("d"), generic.NewHistogram("l", 50)
	dc, lh := w.Duplicates(dups), w.Lag(lags)

	// Labels go to the wrapped instrument; the window counts regardless.
	dc.With("zone", "a").Add(1)
	dc.Add(1)
	// 1..1000 ms: exact percentiles 500, 950, 990, max 1000.
	for _, i := range rand.Perm(1000) {
		lh.Observe(float64(i+1) / 1000)
	}
	now = now.Add(time.Minute)
	dc.Add(1)
	lh.With().Observe(-0.001) // a fire a hair early counts as no lag

	require.Equal(t, 2.0, dups.Value(), "the wrapped counter sees every unlabelled add")

	all := w.Stats(now.Add(-time.Hour), now.Add(time.Second))
	require.Equal(t, int64(3), all.Duplicates)
	require.Equal(t, 1000.0, all.LagMaxMS)
	require.InEpsilon(t, 500, all.LagP50MS, 0.05)
	require.InEpsilon(t, 950, all.LagP95MS, 0.05)
	require.InEpsilon(t, 990, all.LagP99MS, 0.05)
	// A range reaching far beyond the window reads only what the window
	// holds (walking it minute by minute would hold the lock every fire
	// takes for seconds).
	require.Equal(t, all, w.Stats(time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, time.December, 31, 0, 0, 0, 0, time.UTC)))

	// The second minute alone: one duplicate and a lag of 0.
	last := w.Stats(now, now.Add(time.Second))
	require.Equal(t, WindowStats{Duplicates: 1, LagP50MS: 0, LagP95MS: 0, LagP99MS: 0}, last)
	require.Equal(t, WindowStats{}, w.Stats(now.Add(-2*time.Hour), now.Add(-time.Hour)), "nothing happened then")

	// A day later the entries are stale: they are neither reported nor
	// added to when their ring slot comes round again.
	now = now.Add(24 * time.Hour)
	require.Equal(t, WindowStats{}, w.Stats(now.Add(-25*time.Hour), now.Add(time.Second)))
	lh.Observe(0.002)
	got := w.Stats(now.Add(-time.Minute), now.Add(time.Second))
	require.Equal(t, int64(0), got.Duplicates)
	require.Equal(t, 2.0, got.LagMaxMS)
	require.InEpsilon(t, 2, got.LagP99MS, 0.05)
}

func TestLagBuckets(t *testing.T) {
	require.Equal(t, 0, lagBucket(0))
	require.Equal(t, 0, lagBucket(0.09))
	require.Equal(t, lagBuckets-1, lagBucket(1e12))
	for _, ms := range []float64{0.1, 0.5, 1, 3.7, 42, 999, 60_000, 1_000_000} {
		i := lagBucket(ms)
		require.InEpsilon(t, ms, lagValue(i), 0.05, "%v ms in bucket %d", ms, i)
	}
}

// loadTriggers mixes schedules, a DST zone and windows of their own.
func loadTriggers() []workflow.CronTrigger {
	window := func(s int32) *int32 { return &s }
	var out []workflow.CronTrigger
	add := func(n int, spec workflow.CronSpec) {
		for i := range n {
			out = append(out, workflow.CronTrigger{WorkflowID: spec.Expression + spec.Timezone + string(rune('a'+i%26)) + string(rune('a'+i/26)), Spec: spec})
		}
	}
	add(40, workflow.CronSpec{Expression: "*/5 * * * *"})
	add(30, workflow.CronSpec{Expression: "0 * * * *"})
	add(20, workflow.CronSpec{Expression: "*/1 * * * *"})
	add(10, workflow.CronSpec{Expression: "30 2 * * *", Timezone: "America/New_York"})
	add(10, workflow.CronSpec{Expression: "*/20 * * * *", Timezone: "America/New_York"})
	add(5, workflow.CronSpec{Expression: "0 * * * *", JitterWindowSeconds: window(0)})
	add(5, workflow.CronSpec{Expression: "*/10 * * * *", JitterWindowSeconds: window(45)})
	add(3, workflow.CronSpec{Expression: "0 0 12 * * ? 2026"}) // its last slot has no successor
	add(2, workflow.CronSpec{Expression: "not a cron"})
	add(2, workflow.CronSpec{Expression: "0 * * * *", Timezone: "Mars/Olympus"})
	return out
}

// TestLoadPlanMatchesTriggers checks the plan against each trigger's own
// fires, as the scheduler's cron.Trigger enumerates them, across New York's
// spring-forward day.
func TestLoadPlanMatchesTriggers(t *testing.T) {
	s := &service{opts: Options{JitterWindow: 300 * time.Second}}
	start := time.Date(2026, time.March, 8, 5, 3, 17, 0, time.UTC) // 00:03:17 EST
	end := start.Add(10 * time.Hour)
	width := 7 * time.Minute
	triggers := loadTriggers()
	p := newPlan(start, end, width)
	for _, g := range s.groupBySchedule(triggers) {
		require.NoError(t, p.add(g))
	}
	got := p.result()

	want := newPlan(start, end, width)
	for _, ct := range triggers {
		sched, err := cron.Parse(ct.Spec.Expression)
		if err != nil {
			continue
		}
		loc, err := time.LoadLocation(ct.Spec.Timezone)
		if err != nil {
			continue
		}
		tr := cron.NewTrigger(sched, loc, ct.WorkflowID, jitterWindow(ct, s.opts.JitterWindow), cron.Rules{})
		for after := start.Add(-time.Nanosecond); ; {
			_, fire, err := tr.NextFire(after)
			if err != nil || !fire.Before(end) {
				break
			}
			want.count(fire.Sub(start), 1, true)
			after = fire
		}
		for after := start.Add(-time.Nanosecond); ; {
			slot, err := sched.Next(after, loc)
			if err != nil || !slot.Before(end) {
				break
			}
			want.count(slot.Sub(start), 1, false)
			after = slot
		}
	}
	require.Equal(t, want.result(), got)
	var total int64
	for _, b := range got.Buckets {
		total += b.FiresWithoutJitter
	}
	require.Positive(t, total)
	require.Less(t, got.PeakPerSecondWithJitter, got.PeakPerSecondWithoutJitter)
}

func TestLoadPlanBudget(t *testing.T) {
	s := &service{opts: Options{JitterWindow: 300 * time.Second}}
	start := time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)
	triggers := make([]workflow.CronTrigger, 300)
	for i := range triggers {
		triggers[i] = workflow.CronTrigger{WorkflowID: string(rune('a' + i)), Spec: workflow.CronSpec{Expression: "* * * * * ?"}}
	}
	p := newPlan(start, start.Add(24*time.Hour), time.Hour)
	err := p.add(s.groupBySchedule(triggers)[0])
	require.ErrorContains(t, err, "more than 20000000 planned fires")

	// Slots before the range do not count against the limit: a day-wide
	// window over an every-second cron plans a short range without error,
	// and only the slot just before the start can fire inside it.
	day := int32(24 * 60 * 60)
	for i := range triggers {
		triggers[i].Spec.JitterWindowSeconds = &day
	}
	p = newPlan(start, start.Add(time.Minute), time.Minute)
	require.NoError(t, p.add(s.groupBySchedule(triggers)[0]))
	require.Equal(t, int64(60*len(triggers)), p.result().Buckets[0].FiresWithoutJitter)
}

func TestLoadRange(t *testing.T) {
	now := time.Date(2026, time.March, 1, 10, 0, 0, 0, time.UTC)
	s := &service{opts: Options{Now: func() time.Time { return now }}}
	start, end, width, err := s.loadRange("test", LoadRequest{})
	require.NoError(t, err)
	require.Equal(t, []any{now, now.Add(time.Hour), time.Minute}, []any{start, end, width})

	_, end, width, err = s.loadRange("test", LoadRequest{StartTime: now.Add(time.Hour), BucketSeconds: 5})
	require.NoError(t, err)
	require.Equal(t, []any{now.Add(2 * time.Hour), 5 * time.Second}, []any{end, width})

	for name, c := range map[string]struct {
		req   LoadRequest
		field string
	}{
		"end before start": {LoadRequest{StartTime: now, EndTime: now.Add(-time.Second)}, "end_time"},
		"empty range":      {LoadRequest{StartTime: now, EndTime: now}, "end_time"},
		"over a day":       {LoadRequest{StartTime: now, EndTime: now.Add(24*time.Hour + time.Second)}, "end_time"},
		"negative bucket":  {LoadRequest{BucketSeconds: -1}, "bucket_seconds"},
		"too many buckets": {LoadRequest{StartTime: now, EndTime: now.Add(24 * time.Hour), BucketSeconds: 8}, "bucket_seconds"},
	} {
		_, _, _, err := s.loadRange("test", c.req)
		require.ErrorContains(t, err, c.field+":", name)
	}
	_, _, _, err = s.loadRange("test", LoadRequest{StartTime: now, EndTime: now.Add(24 * time.Hour), BucketSeconds: 9})
	require.NoError(t, err, "9 s buckets make 9,600 over a day")
}

// BenchmarkLoadPlan plans an hour of 100,000 triggers in the bench-load mix
// of schedules, without the store read.
func BenchmarkLoadPlan(b *testing.B) {
	s := &service{opts: Options{JitterWindow: 300 * time.Second}}
	exprs := []string{"*/5 * * * *", "*/5 * * * *", "0 * * * *", "*/1 * * * *"}
	triggers := make([]workflow.CronTrigger, 100_000)
	for i := range triggers {
		triggers[i] = workflow.CronTrigger{WorkflowID: "wf-" + strconv.Itoa(i), Spec: workflow.CronSpec{Expression: exprs[i%len(exprs)]}}
	}
	start := time.Date(2026, time.March, 1, 10, 0, 0, 0, time.UTC)
	for b.Loop() {
		p := newPlan(start, start.Add(time.Hour), time.Minute)
		for _, g := range s.groupBySchedule(triggers) {
			if err := p.add(g); err != nil {
				b.Fatal(err)
			}
		}
		p.result()
	}
}
