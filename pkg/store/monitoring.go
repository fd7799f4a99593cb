package store

import (
	"context"
	"time"
)

// DeploymentStats counts deployments, the triggers of active deployments and
// recent executions, each keyed by its status or type name ("DEPLOYED", "CRON").
type DeploymentStats struct {
	ByStatus map[DeploymentStatus]int64
	Total    int64
	// TriggersByType counts the enabled triggers of deployments that are not ARCHIVED.
	TriggersByType map[TriggerType]int64
	// ExecutionsByStatus counts the executions fired since the time asked for.
	ExecutionsByStatus map[ExecutionStatus]int64
}

// CronFireStats counts the cron executions fired in a time range: one row per
// slot, whichever replica recorded it.
type CronFireStats struct {
	Fires int64
	// SkippedOverlap counts those that the overlap policy SKIPPED.
	SkippedOverlap int64
}

// MonitoringStore answers the monitoring service's aggregate questions.
type MonitoringStore interface {
	// DeploymentStats counts deployments and triggers now, and the executions
	// fired at or after executionsSince.
	DeploymentStats(ctx context.Context, executionsSince time.Time) (DeploymentStats, error)
	// CronFireStats counts the cron executions fired in [start, end).
	CronFireStats(ctx context.Context, start, end time.Time) (CronFireStats, error)
}
