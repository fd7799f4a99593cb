package monitoring

import (
	"context"
	"math"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// defaultJitterBucket is the bucket width of a request that names none.
const defaultJitterBucket = 30

// JitterRequest asks for the histogram of jitter offsets in buckets of
// BucketSeconds (0: 30).
type JitterRequest struct {
	BucketSeconds int32
}

// JitterBucket is one bucket of the histogram: offsets in
// [StartSecond, StartSecond + bucket width).
type JitterBucket struct {
	StartSecond int32
	Count       int64
}

// JitterDistribution is the histogram of the whole-second jitter offsets
// (hash mod window) of the active cron triggers whose window is the
// service's, with Pearson's chi-square statistic against the uniform
// distribution over the window and its p-value. Triggers with a window of
// their own are left out: their offsets are uniform over another range.
type JitterDistribution struct {
	WindowSeconds int32
	Buckets       []JitterBucket
	Total         int64
	ChiSquare     float64
	PValue        float64
}

// JitterDistribution tests how evenly the hash spreads the cron triggers
// over the jitter window. It reports the offset H mod W of ARCHITECTURE.md
// "Hash jitter", before the clamp to the gap between slots: that clamp
// applies to a schedule, not to the hash, and LoadDistribution shows its
// effect.
func (s *service) JitterDistribution(ctx context.Context, req JitterRequest) (JitterDistribution, error) {
	const op errors.Op = "monitoring.JitterDistribution"
	window := int32(s.opts.JitterWindow / time.Second)
	width := req.BucketSeconds
	if width == 0 {
		width = min(defaultJitterBucket, window)
	}
	if width <= 0 || width > window {
		var v errors.Violations
		v.Addf("bucket_seconds", "must be between 1 and the jitter window, %d; got %d", window, req.BucketSeconds)
		return JitterDistribution{}, v.Err(op)
	}
	triggers, err := s.store.ListCronTriggers(ctx, "")
	if err != nil {
		return JitterDistribution{}, errors.E(op, err)
	}
	n := (window + width - 1) / width
	out := JitterDistribution{WindowSeconds: window, Buckets: make([]JitterBucket, n)}
	for i := range out.Buckets {
		out.Buckets[i].StartSecond = int32(i) * width
	}
	for _, ct := range triggers {
		if jitterWindow(ct, s.opts.JitterWindow) != s.opts.JitterWindow {
			continue
		}
		offset := cron.JitterSeconds(ct.WorkflowID, int(window))
		out.Buckets[int32(offset)/width].Count++
		out.Total++
	}
	out.ChiSquare, out.PValue = chiSquareUniform(out.Buckets, width, window, out.Total)
	return out, nil
}

// jitterWindow is the trigger's jitter window: its own, or def.
func jitterWindow(ct workflow.CronTrigger, def time.Duration) time.Duration {
	if w := ct.Spec.JitterWindowSeconds; w != nil {
		return time.Duration(*w) * time.Second
	}
	return def
}

// chiSquareUniform is Pearson's statistic of the counts against the uniform
// distribution over [0, window), under which a bucket expects a share of
// total in proportion to its width (the last one may be narrower), and its
// p-value with one degree of freedom less than the buckets.
func chiSquareUniform(buckets []JitterBucket, width, window int32, total int64) (chi, p float64) {
	if total == 0 || len(buckets) < 2 {
		return 0, 1
	}
	for i, b := range buckets {
		w := min(width, window-int32(i)*width)
		expected := float64(total) * float64(w) / float64(window)
		d := float64(b.Count) - expected
		chi += d * d / expected
	}
	return chi, ChiSquareSurvival(chi, len(buckets)-1)
}

// ChiSquareSurvival is P(X >= x) for X chi-square distributed with df
// degrees of freedom: the regularized upper incomplete gamma function
// Q(df/2, x/2).
func ChiSquareSurvival(x float64, df int) float64 {
	if x <= 0 {
		return 1
	}
	return gammaQ(float64(df)/2, x/2)
}

// Both expansions stop when a term changes the sum by less than gammaEps
// relative, which takes tens of terms for the arguments that occur here.
const (
	gammaEps     = 1e-15
	gammaMaxIter = 10_000
	gammaTiny    = 1e-300
)

// gammaQ is the regularized upper incomplete gamma function Q(a, x) for
// a > 0, x >= 0: from the series of P(a, x) below x = a+1, where it
// converges fast, and from the continued fraction of Q above, where the
// series would cancel.
func gammaQ(a, x float64) float64 {
	if x < a+1 {
		return 1 - gammaPSeries(a, x)
	}
	return gammaQFraction(a, x)
}

// prefactor is x^a e^-x / Γ(a), computed in logs so that large a and x do
// not overflow.
func prefactor(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	return math.Exp(a*math.Log(x) - x - lg)
}

// gammaPSeries sums P(a, x) = prefactor · Σ x^n / (a (a+1) ... (a+n)).
func gammaPSeries(a, x float64) float64 {
	if x == 0 {
		return 0
	}
	term := 1 / a
	sum := term
	for n := 1; n < gammaMaxIter; n++ {
		term *= x / (a + float64(n))
		sum += term
		if math.Abs(term) < math.Abs(sum)*gammaEps {
			break
		}
	}
	return sum * prefactor(a, x)
}

// gammaQFraction evaluates Q(a, x) = prefactor · 1/(x+1-a- 1·(1-a)/(x+3-a- 2·(2-a)/(x+5-a- ...)))
// by the modified Lentz method.
func gammaQFraction(a, x float64) float64 {
	b := x + 1 - a
	c := 1 / gammaTiny
	d := 1 / b
	h := d
	for n := 1; n < gammaMaxIter; n++ {
		an := -float64(n) * (float64(n) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < gammaTiny {
			d = gammaTiny
		}
		c = b + an/c
		if math.Abs(c) < gammaTiny {
			c = gammaTiny
		}
		d = 1 / d
		delta := d * c
		h *= delta
		if math.Abs(delta-1) < gammaEps {
			break
		}
	}
	return h * prefactor(a, x)
}
