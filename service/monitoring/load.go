package monitoring

import (
	"context"
	"fmt"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Bounds on one LoadDistribution: its range, its buckets, and the fires it
// plans (a trigger's slot counts once per trigger), which keep one call
// under about a second however many triggers share an every-second schedule.
const (
	defaultLoadBucket = 60
	maxLoadRange      = 24 * time.Hour
	maxLoadBuckets    = 10_000
	maxLoadFires      = 20_000_000
)

// LoadRequest asks for the planned fires in [StartTime, EndTime) (defaults:
// now, and an hour after the start) in buckets of BucketSeconds (0: 60).
type LoadRequest struct {
	StartTime, EndTime time.Time
	BucketSeconds      int32
}

// LoadBucket counts the fires planned in [Start, Start + bucket width).
type LoadBucket struct {
	Start              time.Time
	FiresWithJitter    int64
	FiresWithoutJitter int64
}

// LoadDistribution is the planned cron load: per bucket, and the most fires
// in any one second of the range, with the jitter the scheduler applies and
// with every trigger firing at its nominal slot.
type LoadDistribution struct {
	Buckets                    []LoadBucket
	PeakPerSecondWithJitter    int64
	PeakPerSecondWithoutJitter int64
}

// LoadDistribution plans every active cron trigger's fires over the range
// from its schedule, time zone and jitter, as the scheduler fires them
// (pkg/cron's Next and Offset). Triggers that share a schedule and a zone
// share their slots, which are enumerated once; per trigger and slot only the
// offset is added, and it changes only with the gap to the next slot.
func (s *service) LoadDistribution(ctx context.Context, req LoadRequest) (LoadDistribution, error) {
	const op errors.Op = "monitoring.LoadDistribution"
	start, end, width, err := s.loadRange(op, req)
	if err != nil {
		return LoadDistribution{}, err
	}
	triggers, err := s.store.ListCronTriggers(ctx, "")
	if err != nil {
		return LoadDistribution{}, errors.E(op, err)
	}
	groups := s.groupBySchedule(triggers)
	p := newPlan(start, end, width)
	for _, g := range groups {
		if err := p.add(g); err != nil {
			return LoadDistribution{}, errors.E(op, errors.Invalid, err)
		}
	}
	return p.result(), nil
}

// loadRange applies the defaults and bounds to the request.
func (s *service) loadRange(op errors.Op, req LoadRequest) (start, end time.Time, width time.Duration, err error) {
	start, end = req.StartTime, req.EndTime
	if start.IsZero() {
		start = s.opts.Now()
	}
	if end.IsZero() {
		end = start.Add(defaultRange)
	}
	bucket := req.BucketSeconds
	if bucket == 0 {
		bucket = defaultLoadBucket
	}
	width = time.Duration(bucket) * time.Second
	var v errors.Violations
	switch {
	case !end.After(start):
		v.Addf("end_time", "must be after start_time %s", start.UTC().Format(time.RFC3339))
	case end.Sub(start) > maxLoadRange:
		v.Addf("end_time", "the range may span at most %s; got %s", maxLoadRange, end.Sub(start))
	}
	switch {
	case bucket < 0:
		v.Addf("bucket_seconds", "must be positive; got %d", bucket)
	case len(v) == 0 && buckets(end.Sub(start), width) > maxLoadBuckets:
		v.Addf("bucket_seconds", "%d s buckets over %s make %d buckets, more than %d", bucket, end.Sub(start), buckets(end.Sub(start), width), maxLoadBuckets)
	}
	return start, end, width, v.Err(op)
}

func buckets(span, width time.Duration) int64 {
	return int64((span + width - 1) / width)
}

// scheduleGroup is the triggers that share a schedule and a time zone.
type scheduleGroup struct {
	schedule  *cron.Schedule
	loc       *time.Location
	triggers  []plannedTrigger
	maxWindow time.Duration
}

type plannedTrigger struct {
	workflowID string
	window     time.Duration
	// gap and offset memoise the last Offset: within a schedule the gap
	// between slots rarely changes.
	gap, offset time.Duration
}

// groupBySchedule groups the triggers; one whose expression or zone does not
// parse is left out, as the scheduler leaves it out.
func (s *service) groupBySchedule(triggers []workflow.CronTrigger) []*scheduleGroup {
	type key struct{ expression, zone string }
	groups := map[key]*scheduleGroup{}
	var order []*scheduleGroup
	zones := map[string]*time.Location{}
	for _, ct := range triggers {
		k := key{ct.Spec.Expression, ct.Spec.Timezone}
		g, ok := groups[k]
		if !ok {
			sched, err := cron.Parse(k.expression)
			if err != nil {
				continue
			}
			loc, ok := zones[k.zone]
			if !ok {
				if loc, err = time.LoadLocation(k.zone); err != nil {
					continue
				}
				zones[k.zone] = loc
			}
			g = &scheduleGroup{schedule: sched, loc: loc}
			groups[k] = g
			order = append(order, g)
		}
		w := max(jitterWindow(ct, s.opts.JitterWindow), 0)
		g.triggers = append(g.triggers, plannedTrigger{workflowID: ct.WorkflowID, window: w, gap: -1})
		g.maxWindow = max(g.maxWindow, w)
	}
	return order
}

// plan counts fires into buckets and seconds of [start, end).
type plan struct {
	start, end time.Time
	width      time.Duration
	buckets    []LoadBucket
	// withJitter and withoutJitter count the fires in each second of the range.
	withJitter, withoutJitter []int64
	fires                     int64
}

func newPlan(start, end time.Time, width time.Duration) *plan {
	p := &plan{start: start, end: end, width: width}
	p.buckets = make([]LoadBucket, buckets(end.Sub(start), width))
	for i := range p.buckets {
		p.buckets[i].Start = start.Add(time.Duration(i) * width).UTC()
	}
	seconds := buckets(end.Sub(start), time.Second)
	p.withJitter, p.withoutJitter = make([]int64, seconds), make([]int64, seconds)
	return p
}

// add plans a group's fires. A slot up to the group's largest window before
// the start may still fire inside the range; the slot after the last one in
// the range gives that one its gap.
func (p *plan) add(g *scheduleGroup) error {
	var slots []time.Time
	after := p.start.Add(-g.maxWindow)
	for {
		slot, err := g.schedule.Next(after, g.loc)
		if err != nil {
			break
		}
		if slot.Before(p.start) {
			// A slot fires before the next one, so of the slots before the
			// start only the last can fire inside the range: keeping the
			// others would count a wide window's slots against the limit.
			slots, after = append(slots[:0], slot), slot
			continue
		}
		slots = append(slots, slot)
		if !slot.Before(p.end) {
			break
		}
		if p.fires += int64(len(g.triggers)); p.fires > maxLoadFires {
			return fmt.Errorf("the range holds more than %d planned fires: narrow it", maxLoadFires)
		}
		after = slot
	}
	// The inner loop runs per trigger and slot: it works on offsets from
	// the start, which cost less than time.Time arithmetic.
	span := p.end.Sub(p.start)
	for i, slot := range slots {
		at := slot.Sub(p.start)
		if at >= span {
			break
		}
		if at >= 0 {
			p.count(at, int64(len(g.triggers)), false)
		}
		// Without a next slot the trigger's own window bounds the offset,
		// as cron.Trigger has it.
		gap := time.Duration(-1)
		if i+1 < len(slots) {
			gap = slots[i+1].Sub(slot)
		}
		for j := range g.triggers {
			t := &g.triggers[j]
			tgap := gap
			if tgap < 0 {
				tgap = t.window
			}
			if tgap != t.gap {
				t.gap, t.offset = tgap, cron.Offset(t.workflowID, t.window, tgap)
			}
			if fire := at + t.offset; fire >= 0 && fire < span {
				p.count(fire, 1, true)
			}
		}
	}
	return nil
}

// count adds n fires at offset since from the start.
func (p *plan) count(since time.Duration, n int64, jittered bool) {
	b := &p.buckets[since/p.width]
	if jittered {
		b.FiresWithJitter += n
		p.withJitter[since/time.Second] += n
	} else {
		b.FiresWithoutJitter += n
		p.withoutJitter[since/time.Second] += n
	}
}

func (p *plan) result() LoadDistribution {
	out := LoadDistribution{Buckets: p.buckets}
	for i := range p.withJitter {
		out.PeakPerSecondWithJitter = max(out.PeakPerSecondWithJitter, p.withJitter[i])
		out.PeakPerSecondWithoutJitter = max(out.PeakPerSecondWithoutJitter, p.withoutJitter[i])
	}
	return out
}
