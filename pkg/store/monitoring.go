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
	// UnfinishedByStatus counts the PENDING and the RUNNING executions of
	// every replica; both are present, zero or not.
	UnfinishedByStatus(ctx context.Context) (map[workflow.ExecutionStatus]int64, error)
	// CronFireStats counts the cron executions fired in [start, end).
	CronFireStats(ctx context.Context, start, end time.Time) (workflow.CronFireStats, error)
}
