package store

import (
	"context"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// MonitoringStore answers the monitoring service's aggregate questions.
type MonitoringStore interface {
	// DeploymentStats counts deployments and triggers now, and the executions
	// fired at or after executionsSince.
	DeploymentStats(ctx context.Context, executionsSince time.Time) (workflow.DeploymentStats, error)
	// CronFireStats counts the cron executions fired in [start, end).
	CronFireStats(ctx context.Context, start, end time.Time) (workflow.CronFireStats, error)
}
