// Package monitoring answers the MonitoringService: what the runtime holds,
// how well this replica fires, how cron load is spread over time, and how the
// dependencies are.
package monitoring

import (
	"context"
	"slices"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/health"
	"github.com/workflow-runtime/workflow-runtime/pkg/shard"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Service is the MonitoringService.
type Service interface {
	DeploymentStats(ctx context.Context, req DeploymentStatsRequest) (workflow.DeploymentStats, error)
	SchedulingMetrics(ctx context.Context, req SchedulingMetricsRequest) (SchedulingMetrics, error)
	JitterDistribution(ctx context.Context, req JitterRequest) (JitterDistribution, error)
	LoadDistribution(ctx context.Context, req LoadRequest) (LoadDistribution, error)
	SystemHealth(ctx context.Context, req SystemHealthRequest) (SystemHealth, error)
	ScheduleReport(ctx context.Context, req ScheduleReportRequest) (ScheduleReport, error)
}

// Store is what the service reads: aggregates, the cron triggers the
// scheduler holds, and the account of their slots.
type Store interface {
	store.MonitoringStore
	store.SlotStore
	ListCronTriggers(ctx context.Context, deploymentID string) ([]workflow.CronTrigger, error)
	ListOwnedCronTriggers(ctx context.Context, owns func(triggerID string) bool) ([]workflow.CronTrigger, error)
	GetDeployment(ctx context.Context, id string) (*workflow.Deployment, error)
}

// Scheduler is this replica's cron scheduler.
type Scheduler interface {
	// Held reports how many cron triggers it holds.
	Held() int
	// Mode names how it picks the triggers it holds: sharded, all or none.
	Mode() string
}

// Health checks the dependencies.
type Health interface {
	Check(ctx context.Context) health.Report
}

// Replicas lists the replicas whose heartbeat is recent.
type Replicas interface {
	Live(ctx context.Context) ([]string, error)
}

// Options configure the service; zero values take the defaults in brackets.
type Options struct {
	InstanceID string
	// JitterWindow is the jitter window of triggers without one of their own [300s].
	JitterWindow time.Duration
	// Window holds this replica's recent misfires, duplicates and fire lag [empty].
	Window *Window
	// Replicas, when set, lists the live replicas; without it only this one is.
	Replicas Replicas
	// Now is the clock [time.Now].
	Now func() time.Time
}

type service struct {
	store   Store
	sched   Scheduler
	health  Health
	opts    Options
	started time.Time
}

// New returns the service; its uptime counts from now.
func New(st Store, sched Scheduler, h Health, opts Options) Service {
	if opts.JitterWindow == 0 {
		opts.JitterWindow = 300 * time.Second
	}
	if opts.Window == nil {
		opts.Window = NewWindow()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &service{store: st, sched: sched, health: h, opts: opts, started: opts.Now()}
}

// executionsWindow is how far back DeploymentStats counts executions by
// default.
const executionsWindow = 24 * time.Hour

// DeploymentStatsRequest asks for DeploymentStats with the executions fired
// since StartTime (zero: 24 hours ago).
type DeploymentStatsRequest struct {
	StartTime time.Time
}

// DeploymentStats counts deployments, the triggers of active deployments, the
// executions fired since the request's start and those unfinished now.
func (s *service) DeploymentStats(ctx context.Context, req DeploymentStatsRequest) (workflow.DeploymentStats, error) {
	const op errors.Op = "monitoring.DeploymentStats"
	since := req.StartTime
	if since.IsZero() {
		since = s.opts.Now().Add(-executionsWindow)
	}
	stats, err := s.store.DeploymentStats(ctx, since)
	if err != nil {
		return workflow.DeploymentStats{}, errors.E(op, err)
	}
	if stats.UnfinishedByStatus, err = s.store.UnfinishedByStatus(ctx); err != nil {
		return workflow.DeploymentStats{}, errors.E(op, err)
	}
	return stats, nil
}

// SchedulingMetricsRequest is a time range; zero bounds take the defaults
// (the hour up to now).
type SchedulingMetricsRequest struct {
	StartTime, EndTime time.Time
}

// SchedulingMetrics is how the cluster and this replica fired over a range.
// Fires and SkippedOverlap count the cron executions recorded in the range,
// Misfires the slots recorded missed in it, by any replica, exactly;
// Deduplicated and the lag are this replica's since it started, kept for a
// day at minute resolution (see Window).
type SchedulingMetrics struct {
	ScheduledTriggers int64
	Fires             int64
	Misfires          int64
	SkippedOverlap    int64
	Deduplicated      int64
	LagP50MS          float64
	LagP95MS          float64
	LagP99MS          float64
	LagMaxMS          float64
	InstanceID        string
}

// defaultRange is the span of a range given without bounds.
const defaultRange = time.Hour

// SchedulingMetrics reports this replica's scheduling over the range.
func (s *service) SchedulingMetrics(ctx context.Context, req SchedulingMetricsRequest) (SchedulingMetrics, error) {
	const op errors.Op = "monitoring.SchedulingMetrics"
	start, end := req.StartTime, req.EndTime
	switch {
	case start.IsZero() && end.IsZero():
		end = s.opts.Now()
		start = end.Add(-defaultRange)
	case end.IsZero():
		end = s.opts.Now()
	case start.IsZero():
		start = end.Add(-defaultRange)
	}
	if end.Before(start) {
		var v errors.Violations
		v.Addf("end_time", "%s is before start_time %s", end.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
		return SchedulingMetrics{}, v.Err(op)
	}
	fires, err := s.store.CronFireStats(ctx, start, end)
	if err != nil {
		return SchedulingMetrics{}, errors.E(op, err)
	}
	missed, err := s.store.CountMissedSlots(ctx, start, end)
	if err != nil {
		return SchedulingMetrics{}, errors.E(op, err)
	}
	w := s.opts.Window.Stats(start, end)
	return SchedulingMetrics{
		ScheduledTriggers: int64(s.sched.Held()),
		Fires:             fires.Fires,
		SkippedOverlap:    fires.SkippedOverlap,
		Misfires:          missed,
		Deduplicated:      w.Duplicates,
		LagP50MS:          w.LagP50MS,
		LagP95MS:          w.LagP95MS,
		LagP99MS:          w.LagP99MS,
		LagMaxMS:          w.LagMaxMS,
		InstanceID:        s.opts.InstanceID,
	}, nil
}

// liveTimeout bounds reading the live replicas, as the health checks are
// bounded, so that a Redis outage cannot hold up the answer.
const liveTimeout = 2 * time.Second

// SystemHealthRequest asks for SystemHealth; it has no fields.
type SystemHealthRequest struct{}

// SystemHealth is the dependencies' state and this replica's identity.
type SystemHealth struct {
	health.Report
	InstanceID    string
	UptimeSeconds int64
	// LiveInstances are the replicas seen in the last 30 s, sorted; this one
	// is always among them.
	LiveInstances []string
	// Replicas are the live replicas, sorted, each with the DEPLOYED cron
	// triggers it fires: those the owner function gives it when this
	// replica is sharded, every one otherwise; when the live set could not
	// be read, this replica alone, with every trigger.
	Replicas []ReplicaOwnership
	// CronMode is how this replica picks the triggers it fires.
	CronMode string
}

// ReplicaOwnership is one live replica and the cron triggers it owns.
type ReplicaOwnership struct {
	InstanceID    string
	OwnedTriggers int64
}

// SystemHealth checks the dependencies and lists the live replicas. When the
// replicas cannot be read (Redis is down) only this one is listed: the redis
// dependency then says why.
func (s *service) SystemHealth(ctx context.Context, _ SystemHealthRequest) (SystemHealth, error) {
	out := SystemHealth{
		Report:        s.health.Check(ctx),
		InstanceID:    s.opts.InstanceID,
		UptimeSeconds: int64(s.opts.Now().Sub(s.started) / time.Second),
	}
	known := false
	if s.opts.Replicas != nil {
		lctx, cancel := context.WithTimeout(ctx, liveTimeout)
		live, err := s.opts.Replicas.Live(lctx)
		cancel()
		if err == nil {
			out.LiveInstances, known = live, true
		}
	}
	if !slices.Contains(out.LiveInstances, s.opts.InstanceID) {
		out.LiveInstances = append(out.LiveInstances, s.opts.InstanceID)
	}
	slices.Sort(out.LiveInstances)
	out.CronMode = s.sched.Mode()
	// Each replica fires its own triggers by the owner function when
	// sharded, every one otherwise (every replica fires everything, as does
	// a sharded one that cannot read the live set, which then lists itself
	// alone). Only the ids count: the read keeps no trigger, so it decodes
	// none. Without the database the counts are left out; its dependency
	// says why.
	var (
		sharded = known && out.CronMode == "sharded"
		members = shard.NewMembers(out.LiveInstances)
		owned   = make(map[string]int64, len(out.LiveInstances))
		total   int64
	)
	if _, err := s.store.ListOwnedCronTriggers(ctx, func(id string) bool {
		total++
		if sharded {
			owned[members.Owner(id)]++
		}
		return false
	}); err == nil {
		out.Replicas = ownership(total, owned, out.LiveInstances, sharded)
	}
	return out, nil
}

// ownership lists each live replica with the triggers it fires: owned[id]
// when sharded, all total otherwise.
func ownership(total int64, owned map[string]int64, live []string, sharded bool) []ReplicaOwnership {
	out := make([]ReplicaOwnership, 0, len(live))
	for _, id := range live {
		n := total
		if sharded {
			n = owned[id]
		}
		out = append(out, ReplicaOwnership{InstanceID: id, OwnedTriggers: n})
	}
	return out
}
