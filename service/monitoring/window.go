package monitoring

import (
	"math"
	"sync"
	"time"

	"github.com/go-kit/kit/metrics"
)

// Window keeps this replica's duplicate fires and fire lags per
// minute for the last day, so that SchedulingMetrics can answer for a range:
// the Prometheus instruments it wraps hold lifetime totals only. Lags are
// kept in log-spaced buckets 10 % wide, so a percentile is within 5 % of the
// true one; the maximum is exact. It is safe for concurrent use.
type Window struct {
	now     func() time.Time
	mu      sync.Mutex
	minutes [windowMinutes]minute
}

const (
	windowMinutes = 24 * 60
	// Lag bucket 0 holds lags under lagBase ms; bucket i >= 1 holds
	// [lagBase·lagFactor^(i-1), lagBase·lagFactor^i) ms, the last one
	// everything above, from about 43 minutes on.
	lagBase    = 0.1
	lagFactor  = 1.1
	lagBuckets = 180
)

type minute struct {
	// at is the Unix minute this entry holds; an entry of another minute is stale.
	at         int64
	duplicates int64
	lags       int64
	lagMax     float64
	lag        *[lagBuckets]uint32
}

// NewWindow returns an empty Window on the wall clock.
func NewWindow() *Window { return &Window{now: time.Now} }

// entry returns the current minute's entry, cleared if it held an older
// minute. w.mu is held.
func (w *Window) entry() *minute {
	at := w.now().Unix() / 60
	m := &w.minutes[at%windowMinutes]
	if m.at != at {
		lag := m.lag
		*m = minute{at: at, lag: lag}
		if lag != nil {
			*lag = [lagBuckets]uint32{}
		}
	}
	return m
}

func (w *Window) addDuplicates(n float64) {
	w.mu.Lock()
	w.entry().duplicates += int64(n)
	w.mu.Unlock()
}

func (w *Window) observeLag(seconds float64) {
	ms := max(seconds*1000, 0)
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.entry()
	if m.lag == nil {
		m.lag = new([lagBuckets]uint32)
	}
	m.lag[lagBucket(ms)]++
	m.lags++
	m.lagMax = max(m.lagMax, ms)
}

func lagBucket(ms float64) int {
	if ms < lagBase {
		return 0
	}
	return min(1+int(math.Log(ms/lagBase)/math.Log(lagFactor)), lagBuckets-1)
}

// lagValue is the geometric middle of bucket i.
func lagValue(i int) float64 {
	if i == 0 {
		return lagBase / 2
	}
	return lagBase * math.Pow(lagFactor, float64(i)-0.5)
}

// WindowStats is what a Window holds for a range.
type WindowStats struct {
	Duplicates                             int64
	LagP50MS, LagP95MS, LagP99MS, LagMaxMS float64
}

// Stats sums the minutes that overlap [start, end): a minute counts whole.
func (w *Window) Stats(start, end time.Time) WindowStats {
	first, last := start.Unix()/60, end.Add(-time.Nanosecond).Unix()/60
	w.mu.Lock()
	defer w.mu.Unlock()
	// Only the minutes the window holds are read, whatever the range: a range
	// reaching years ahead must not hold the lock that every fire takes.
	now := w.now().Unix() / 60
	first, last = max(first, now-windowMinutes+1), min(last, now)
	var (
		out  WindowStats
		lag  [lagBuckets]uint64
		lags int64
	)
	for at := first; at <= last; at++ {
		m := &w.minutes[at%windowMinutes]
		if m.at != at {
			continue
		}
		out.Duplicates += m.duplicates
		if m.lag == nil {
			continue
		}
		lags += m.lags
		out.LagMaxMS = max(out.LagMaxMS, m.lagMax)
		for i, n := range m.lag {
			lag[i] += uint64(n)
		}
	}
	quantile := func(q float64) float64 {
		if lags == 0 {
			return 0
		}
		rank := uint64(math.Ceil(q * float64(lags)))
		var seen uint64
		for i, n := range lag {
			if seen += n; seen >= rank {
				return min(lagValue(i), out.LagMaxMS)
			}
		}
		return out.LagMaxMS
	}
	out.LagP50MS, out.LagP95MS, out.LagP99MS = quantile(0.50), quantile(0.95), quantile(0.99)
	return out
}

// Duplicates returns next, also counting into the window's duplicate fires.
func (w *Window) Duplicates(next metrics.Counter) metrics.Counter {
	return counter{next: next, add: w.addDuplicates}
}

// Lag returns next, also observing fire lags (in seconds) into the window.
func (w *Window) Lag(next metrics.Histogram) metrics.Histogram {
	return histogram{next: next, observe: w.observeLag}
}

type counter struct {
	next metrics.Counter
	add  func(float64)
}

func (c counter) With(labelValues ...string) metrics.Counter {
	return counter{next: c.next.With(labelValues...), add: c.add}
}

func (c counter) Add(delta float64) {
	c.next.Add(delta)
	c.add(delta)
}

type histogram struct {
	next    metrics.Histogram
	observe func(float64)
}

func (h histogram) With(labelValues ...string) metrics.Histogram {
	return histogram{next: h.next.With(labelValues...), observe: h.observe}
}

func (h histogram) Observe(value float64) {
	h.next.Observe(value)
	h.observe(value)
}
