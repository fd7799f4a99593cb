package console

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// The charts are SVG drawn on the server: no script, nothing to load, and
// they scale with the page through their viewBox.

// Geometry of the charts' viewBox, in its units.
const (
	chartWidth  = 960
	chartHeight = 300
	marginLeft  = 56
	marginRight = 16
	marginTop   = 16
	marginBot   = 36
	// maxColumns is how many columns a line is drawn in at most: more than
	// the pixels of a wide screen's chart buys nothing. Each column shows
	// the most of its buckets, so that no peak is lost.
	maxColumns = 480
)

// tick is a labelled position on an axis, and where its label stands:
// labels at the ends of the x axis stand inside the chart.
type tick struct {
	Pos    float64
	Label  string
	Anchor string
}

// lineChart is the planned load: fires per second over the range, with and
// without jitter.
type lineChart struct {
	Width, Height          int
	Left, Top, Right, Base float64
	With, Without          string
	XTicks, YTicks         []tick
	PeakWith, PeakWithout  int64
	Bucket                 int32
	Empty                  bool
}

func newLoadChart(load *pb.GetLoadDistributionResponse, bucket int32) *lineChart {
	c := &lineChart{
		Width: chartWidth, Height: chartHeight,
		Left: marginLeft, Top: marginTop, Right: chartWidth - marginRight, Base: chartHeight - marginBot,
		PeakWith: load.GetPeakPerSecondWithJitter(), PeakWithout: load.GetPeakPerSecondWithoutJitter(), Bucket: bucket,
	}
	buckets := load.GetBuckets()
	if len(buckets) == 0 {
		c.Empty = true
		return c
	}
	cols := min(len(buckets), maxColumns)
	with, without := make([]float64, cols), make([]float64, cols)
	top := 0.0
	for i, b := range buckets {
		col := i * cols / len(buckets)
		with[col] = max(with[col], float64(b.GetFiresWithJitter())/float64(bucket))
		without[col] = max(without[col], float64(b.GetFiresWithoutJitter())/float64(bucket))
		top = max(top, with[col], without[col])
	}
	c.Empty = top == 0
	top = niceCeil(top)
	plotW, plotH := c.Right-c.Left, c.Base-c.Top
	y := func(v float64) float64 { return c.Base - v/top*plotH }
	c.With, c.Without = steps(with, c.Left, plotW, y), steps(without, c.Left, plotW, y)
	for _, f := range []float64{0, 0.5, 1} {
		c.YTicks = append(c.YTicks, tick{Pos: y(top * f), Label: trimFloat(top * f)})
	}
	start := buckets[0].GetStart().AsTime()
	span := time.Duration(len(buckets)) * time.Duration(bucket) * time.Second
	layout := "15:04"
	for i := range 5 {
		at := start.Add(span * time.Duration(i) / 4)
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		c.XTicks = append(c.XTicks, tick{Pos: c.Left + plotW*float64(i)/4, Label: at.UTC().Format(layout), Anchor: anchor})
	}
	return c
}

// steps draws values as a step line across width from left.
func steps(values []float64, left, width float64, y func(float64) float64) string {
	var b strings.Builder
	colW := width / float64(len(values))
	for i, v := range values {
		x0, x1 := left+float64(i)*colW, left+float64(i+1)*colW
		fmt.Fprintf(&b, "%.1f,%.1f %.1f,%.1f ", x0, y(v), x1, y(v))
	}
	return strings.TrimSpace(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, at least 1.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// histogram is the jitter offsets' histogram with the chi-square verdict.
type histogram struct {
	Width, Height     int
	Left, Top, Base   float64
	Right             float64
	Bars              []bar
	Expected          float64
	YTicks            []tick
	Total             int64
	Window            int32
	ChiSquare, PValue float64
	Uniform           bool
	Verdict           string
}

type bar struct {
	X, Y, W, H float64
	Label      string
	Count      int64
}

// significance is the p-value under which the offsets are judged not
// uniform.
const significance = 0.01

// minExpected is the least count per bucket that uniform offsets give for
// the chi-square test to be trusted: the usual rule of thumb.
const minExpected = 5

func newHistogram(j *pb.GetJitterDistributionResponse) *histogram {
	h := &histogram{
		Width: chartWidth, Height: chartHeight / 3 * 2,
		Left: marginLeft, Top: marginTop, Right: chartWidth - marginRight,
		Total: j.GetTotal(), Window: j.GetWindowSeconds(), ChiSquare: j.GetChiSquare(), PValue: j.GetPValue(),
	}
	h.Base = float64(h.Height) - marginBot
	buckets := j.GetBuckets()
	expected := 0.0
	if len(buckets) > 0 {
		expected = float64(h.Total) / float64(len(buckets))
	}
	switch {
	case h.Total == 0:
		h.Verdict = "No active cron trigger uses the service's jitter window: nothing to judge."
	case expected < minExpected:
		h.Verdict = fmt.Sprintf("Too few triggers (%d) to judge: the chi-square test needs about %d per bucket.", h.Total, minExpected)
	case h.PValue < significance:
		h.Verdict = fmt.Sprintf("The offsets bunch up: p = %.4f is below %.2f, so they are unlikely to be uniform.", h.PValue, significance)
	default:
		h.Uniform = true
		h.Verdict = fmt.Sprintf("The offsets are spread evenly: p = %.4f, no sign against uniform at %.2f.", h.PValue, significance)
	}
	if len(buckets) == 0 {
		return h
	}
	top := expected
	for _, b := range buckets {
		top = max(top, float64(b.GetCount()))
	}
	top = niceCeil(top)
	plotW, plotH := h.Right-h.Left, h.Base-h.Top
	y := func(v float64) float64 { return h.Base - v/top*plotH }
	w := plotW / float64(len(buckets))
	for i, b := range buckets {
		h.Bars = append(h.Bars, bar{
			X: h.Left + float64(i)*w + 1, W: max(w-2, 1), Y: y(float64(b.GetCount())), H: h.Base - y(float64(b.GetCount())),
			Label: strconv.Itoa(int(b.GetStartSecond())) + "s", Count: b.GetCount(),
		})
	}
	h.Expected = y(expected)
	for _, f := range []float64{0, 0.5, 1} {
		h.YTicks = append(h.YTicks, tick{Pos: y(top * f), Label: trimFloat(top * f)})
	}
	return h
}
