package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// listWebhookTriggersSQL reads the enabled webhook triggers of active
// deployments; ?1 is a deployment id, or NULL for all.
const listWebhookTriggersSQL = `
SELECT t.id, t.deployment_id, d.version, d.workflow_id, d.status, t.spec
FROM deployment_triggers t
JOIN deployments d ON d.id = t.deployment_id
WHERE t.active AND t.type = 'WEBHOOK' AND t.enabled
	AND (?1 IS NULL OR d.id = ?1)
ORDER BY t.deployment_id, t.position`

// ListWebhookTriggers returns the webhook triggers of active deployments, or
// of deployment deploymentID when it is set; an id that is not a UUID names
// no deployment.
func (s *Store) ListWebhookTriggers(ctx context.Context, deploymentID string) (_ []workflow.WebhookTrigger, err error) {
	defer classify(&err)
	filter, ok := deploymentFilter(deploymentID)
	if !ok {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, listWebhookTriggersSQL, filter)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list webhook triggers: %w", err)
	}
	defer rows.Close()
	var out []workflow.WebhookTrigger
	for rows.Next() {
		var (
			wt     workflow.WebhookTrigger
			status string
			spec   []byte
		)
		if err := rows.Scan(&wt.TriggerID, &wt.DeploymentID, &wt.DeploymentVersion, &wt.WorkflowID, &status, &spec); err != nil {
			return nil, fmt.Errorf("sqlite: list webhook triggers: %w", err)
		}
		wt.DeploymentStatus = workflow.DeploymentStatus(status)
		if err := json.Unmarshal(spec, &wt.Spec); err != nil {
			return nil, fmt.Errorf("sqlite: trigger %s: spec: %w", wt.TriggerID, err)
		}
		out = append(out, wt)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list webhook triggers: %w", err)
	}
	return out, nil
}

const expireKeySQL = `
UPDATE executions SET idempotency_key = NULL
WHERE id = ?1 AND idempotency_key IS NOT NULL AND fired_time < ?2`

// ExpireIdempotencyKey frees execution id's idempotency key if it was fired
// before before.
func (s *Store) ExpireIdempotencyKey(ctx context.Context, id string, before time.Time) (_ bool, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return false, nil
	}
	res, err := s.w.ExecContext(ctx, expireKeySQL, id, micros(before))
	if err != nil {
		return false, fmt.Errorf("sqlite: expire idempotency key: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
