package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// deploymentStatsSQL counts in one statement, hence one snapshot, so that the
// figures agree with each other. Executions are found through
// executions_fired_time_idx; ?1 is the lower bound on fired_time.
const deploymentStatsSQL = `
SELECT 'deployment', status, count(*) FROM deployments GROUP BY status
UNION ALL
SELECT 'trigger', t.type, count(*) FROM deployment_triggers t
WHERE t.active AND t.enabled GROUP BY t.type
UNION ALL
SELECT 'execution', status, count(*) FROM executions WHERE fired_time >= ?1 GROUP BY status`

// DeploymentStats counts deployments by status, the enabled triggers of
// deployments that are not ARCHIVED by type, and the executions fired at or
// after executionsSince by status.
func (s *Store) DeploymentStats(ctx context.Context, executionsSince time.Time) (_ workflow.DeploymentStats, err error) {
	defer classify(&err)
	rows, err := s.r.QueryContext(ctx, deploymentStatsSQL, micros(executionsSince))
	if err != nil {
		return workflow.DeploymentStats{}, fmt.Errorf("sqlite: deployment stats: %w", err)
	}
	defer rows.Close()
	out := workflow.DeploymentStats{
		ByStatus:           map[workflow.DeploymentStatus]int64{},
		TriggersByType:     map[workflow.TriggerType]int64{},
		ExecutionsByStatus: map[workflow.ExecutionStatus]int64{},
	}
	for rows.Next() {
		var (
			kind, name string
			n          int64
		)
		if err := rows.Scan(&kind, &name, &n); err != nil {
			return workflow.DeploymentStats{}, fmt.Errorf("sqlite: deployment stats: %w", err)
		}
		switch kind {
		case "deployment":
			out.ByStatus[workflow.DeploymentStatus(name)] = n
			out.Total += n
		case "trigger":
			out.TriggersByType[workflow.TriggerType(name)] = n
		case "execution":
			out.ExecutionsByStatus[workflow.ExecutionStatus(name)] = n
		}
	}
	if err := rows.Err(); err != nil {
		return workflow.DeploymentStats{}, fmt.Errorf("sqlite: deployment stats: %w", err)
	}
	return out, nil
}

const cronFireStatsSQL = `
SELECT count(*), count(*) FILTER (WHERE status = 'SKIPPED')
FROM executions
WHERE trigger_type = 'CRON' AND fired_time >= ?1 AND fired_time < ?2`

// CronFireStats counts the cron executions fired in [start, end) and those
// of them that were SKIPPED: only the overlap policy skips a run.
func (s *Store) CronFireStats(ctx context.Context, start, end time.Time) (_ workflow.CronFireStats, err error) {
	defer classify(&err)
	var out workflow.CronFireStats
	if err := s.r.QueryRowContext(ctx, cronFireStatsSQL, micros(start), micros(end)).
		Scan(&out.Fires, &out.SkippedOverlap); err != nil {
		return workflow.CronFireStats{}, fmt.Errorf("sqlite: cron fire stats: %w", err)
	}
	return out, nil
}
