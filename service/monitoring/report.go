package monitoring

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// reportRange is the default range of a schedule report; maxReportSlots
// bounds the slots one trigger's report walks, each of which is looked at.
const (
	reportRange    = 24 * time.Hour
	maxReportSlots = 1_000_000
	// onTimeLag is how late a fire may be and still count as on time.
	onTimeLag = time.Second
)

// Unrecorded is the missed_by_reason key of slots due that have no
// recorded outcome: a fire still in flight, or slots that a replica which
// died while catching them up had decided to run.
const Unrecorded = "UNRECORDED"

// ScheduleReportRequest names one deployment or one cron trigger and a
// range of nominal slots, [StartTime, EndTime); zero bounds take the
// defaults (the 24 hours up to now).
type ScheduleReportRequest struct {
	DeploymentID, TriggerID string
	StartTime, EndTime      time.Time
}

// ScheduleReport accounts for the slots of each cron trigger in a range.
type ScheduleReport struct {
	Triggers           []TriggerScheduleReport
	StartTime, EndTime time.Time
}

// TriggerScheduleReport is the account of one trigger's slots: every slot
// due is ran, skipped or missed.
type TriggerScheduleReport struct {
	TriggerID, DeploymentID, WorkflowID string
	SlotsDue, SlotsRan, SlotsSkipped    int64
	SlotsMissed                         int64
	MissedByReason                      map[string]int64
	OnTimePercent                       float64
	FireLagP50MS, FireLagP99MS          float64
}

// ScheduleReport reads the account of every slot from the database, so that
// every replica answers the same. A slot is due when it lies in the range,
// its fire time came after the deployment was first deployed and by now,
// the deployment was not ARCHIVED, and max_runs were not used up. A slot with an
// execution ran (or was SKIPPED) even if a replica also recorded it missed:
// replicas that came back at different moments may each have judged it.
func (s *service) ScheduleReport(ctx context.Context, req ScheduleReportRequest) (ScheduleReport, error) {
	const op errors.Op = "monitoring.ScheduleReport"
	now := s.opts.Now()
	start, end := req.StartTime, req.EndTime
	if end.IsZero() {
		end = now
	}
	if start.IsZero() {
		start = end.Add(-reportRange)
	}
	var v errors.Violations
	if (req.DeploymentID == "") == (req.TriggerID == "") {
		v.Addf("deployment_id", "set exactly one of deployment_id and trigger_id")
	}
	if !end.After(start) {
		v.Addf("end_time", "must be after start_time %s", start.UTC().Format(time.RFC3339))
	}
	if err := v.Err(op); err != nil {
		return ScheduleReport{}, err
	}
	deploymentID := req.DeploymentID
	if req.TriggerID != "" {
		id, err := s.store.CronTriggerDeployment(ctx, req.TriggerID)
		if err != nil {
			return ScheduleReport{}, errors.E(op, err)
		}
		deploymentID = id
	}
	d, err := s.store.GetDeployment(ctx, deploymentID)
	if err != nil {
		return ScheduleReport{}, errors.E(op, err)
	}
	out := ScheduleReport{StartTime: start.UTC(), EndTime: end.UTC(), Triggers: []TriggerScheduleReport{}}
	for _, t := range d.Triggers {
		if t.Cron == nil || (req.TriggerID != "" && t.ID != req.TriggerID) {
			continue
		}
		r, err := s.triggerReport(ctx, d, t, start, end, now)
		if err != nil {
			return ScheduleReport{}, errors.E(op, err)
		}
		out.Triggers = append(out.Triggers, r)
	}
	return out, nil
}

func (s *service) triggerReport(ctx context.Context, d *workflow.Deployment, t workflow.Trigger, start, end, now time.Time) (TriggerScheduleReport, error) {
	r := TriggerScheduleReport{TriggerID: t.ID, DeploymentID: d.ID, WorkflowID: d.WorkflowID, MissedByReason: map[string]int64{}}
	if d.DeployedAt == nil || d.Status == workflow.StatusDraft {
		return r, nil
	}
	trigger, err := cron.ForSpec(d.WorkflowID, t.Cron, s.opts.JitterWindow)
	if err != nil {
		return r, errors.E(errors.Invalid, err)
	}
	// A slot is due once deployed when its fire came after the deployment,
	// as the scheduler fires it: a slot may precede its fire by the jitter.
	hi := end
	if d.Status == workflow.StatusArchived && d.UpdatedAt.Before(hi) {
		hi = d.UpdatedAt
	}
	fromFire := start.Add(-s.jitterWindow(t.Cron) - time.Nanosecond)
	if d.DeployedAt.After(fromFire) {
		fromFire = *d.DeployedAt
	}
	if !hi.After(start) {
		return r, nil
	}
	execs, err := s.store.ListSlotExecutions(ctx, t.ID, start, hi)
	if err != nil {
		return r, err
	}
	misses, err := s.store.ListMissedSlots(ctx, t.ID, start, hi)
	if err != nil {
		return r, err
	}
	var runs int64
	maxRuns := int64(t.Cron.MaxRuns)
	if maxRuns > 0 {
		if runs, err = s.store.CountSlotRuns(ctx, t.ID, start); err != nil {
			return r, err
		}
	}
	bySlot := make(map[int64]workflow.SlotExecution, len(execs))
	for _, e := range execs {
		bySlot[e.Slot.UnixMicro()] = e
	}
	var (
		lags   []float64
		onTime int64
		m      int // misses[:m] end before the slot looked at
	)
	for after := fromFire; ; {
		slot, at, err := trigger.NextFire(after)
		if err != nil || !slot.Before(hi) || at.After(now) || (maxRuns > 0 && runs >= maxRuns) {
			break
		}
		after = at
		if slot.Before(start) {
			continue
		}
		if r.SlotsDue++; r.SlotsDue > maxReportSlots {
			return r, errors.Errorf("", errors.Invalid, "trigger %s has more than %d slots in the range: narrow it", t.ID, maxReportSlots)
		}
		if e, ok := bySlot[slot.UnixMicro()]; ok {
			if e.Status == workflow.ExecutionSkipped {
				r.SlotsSkipped++
				continue
			}
			r.SlotsRan++
			runs++
			lag := e.FiredTime.Sub(at)
			lags = append(lags, float64(lag)/float64(time.Millisecond))
			if lag <= onTimeLag {
				onTime++
			}
			continue
		}
		r.SlotsMissed++
		for m < len(misses) && misses[m].To.Before(slot) {
			m++
		}
		r.MissedByReason[missReason(misses[m:], slot, d)]++
	}
	if r.SlotsDue > 0 {
		r.OnTimePercent = 100 * float64(onTime) / float64(r.SlotsDue)
	}
	r.FireLagP50MS, r.FireLagP99MS = quantile(lags, 0.50), quantile(lags, 0.99)
	return r, nil
}

// missReason is the reason of the first run of misses covering slot, which
// precede none that covers it. A slot of a deployment paused now, since
// its pause, is PAUSED before the resume records it so.
func missReason(misses []workflow.MissedSlots, slot time.Time, d *workflow.Deployment) string {
	for _, m := range misses {
		if m.From.After(slot) {
			break
		}
		if !m.To.Before(slot) {
			return string(m.Reason)
		}
	}
	if d.Status == workflow.StatusPaused && slot.After(d.UpdatedAt) {
		return string(workflow.MissedPaused)
	}
	return Unrecorded
}

// quantile is the nearest-rank q-quantile of xs, 0 for none; it sorts xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[max(int(math.Ceil(q*float64(len(xs))))-1, 0)]
}

// jitterWindow is spec's jitter window, or the service's default.
func (s *service) jitterWindow(spec *workflow.CronSpec) time.Duration {
	if spec.JitterWindowSeconds != nil {
		return time.Duration(*spec.JitterWindowSeconds) * time.Second
	}
	return s.opts.JitterWindow
}
