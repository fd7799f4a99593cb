package sqlite

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

const selectDeploymentSQL = `SELECT ` + deploymentColumns + ` FROM deployments WHERE id = ?1`

// GetDeployment returns the deployment with its triggers, or
// store.ErrNotFound (also for an id that is not a UUID).
func (s *Store) GetDeployment(ctx context.Context, id string) (_ *workflow.Deployment, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	return s.readDeployment(ctx, selectDeploymentSQL, id)
}

const selectDeploymentVersionSQL = `SELECT deployment_id, version, definition, config
FROM deployment_versions WHERE deployment_id = ?1 AND version = ?2`

// GetDeploymentVersion returns deployment id as it was at version, or
// store.ErrNotFound.
func (s *Store) GetDeploymentVersion(ctx context.Context, id string, version int64) (_ *workflow.DeploymentVersion, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	var r store.VersionRow
	if err := s.r.GetContext(ctx, &r, selectDeploymentVersionSQL, id, version); err != nil {
		return nil, notFound("get deployment version", err)
	}
	return r.DeploymentVersion()
}

const selectActiveDeploymentSQL = `SELECT ` + deploymentColumns + `
FROM deployments WHERE workflow_id = ?1 AND status <> 'ARCHIVED'`

// GetActiveDeployment returns workflowID's DRAFT, DEPLOYED or PAUSED
// deployment with its triggers, or store.ErrNotFound.
func (s *Store) GetActiveDeployment(ctx context.Context, workflowID string) (_ *workflow.Deployment, err error) {
	defer classify(&err)
	return s.readDeployment(ctx, selectActiveDeploymentSQL, workflowID)
}

// readDeployment runs getDeployment in a read transaction, so that the
// deployment and its triggers are one snapshot.
func (s *Store) readDeployment(ctx context.Context, query string, arg any) (*workflow.Deployment, error) {
	tx, err := s.r.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get deployment: begin: %w", err)
	}
	defer rollback(tx)
	return getDeployment(ctx, tx, query, arg)
}

// getDeployment runs query, which selects deploymentColumns of at most one
// deployment, and loads the deployment's triggers.
func getDeployment(ctx context.Context, q sqlx.QueryerContext, query string, arg any) (*workflow.Deployment, error) {
	var r deploymentRow
	if err := sqlx.GetContext(ctx, q, &r, query, arg); err != nil {
		return nil, notFound("get deployment", err)
	}
	d, err := r.deployment()
	if err != nil {
		return nil, err
	}
	triggers, err := loadTriggers(ctx, q, []string{d.ID})
	if err != nil {
		return nil, err
	}
	d.Triggers = triggers[d.ID]
	return d, nil
}

const selectTriggersSQL = `SELECT ` + triggerColumns + `
FROM deployment_triggers t
WHERE t.deployment_id IN (SELECT value FROM json_each(?1))
ORDER BY t.deployment_id, t.position, t.created_at, t.id`

// loadTriggers returns the triggers of the deployments ids, by deployment id,
// in their stored order; a deployment without triggers has none in the map.
func loadTriggers(ctx context.Context, q sqlx.QueryerContext, ids []string) (map[string][]workflow.Trigger, error) {
	var rows []triggerRow
	if err := sqlx.SelectContext(ctx, q, &rows, selectTriggersSQL, jsonList(ids)); err != nil {
		return nil, fmt.Errorf("sqlite: load triggers: %w", err)
	}
	out := make(map[string][]workflow.Trigger, len(ids))
	for i := range rows {
		t, err := rows[i].trigger()
		if err != nil {
			return nil, err
		}
		out[t.DeploymentID] = append(out[t.DeploymentID], t)
	}
	return out, nil
}

// listDeploymentsWhere selects the deployments matching a filter: ?1 the
// statuses as a JSON array (empty: every active one), ?2 the workflow id
// (empty: any), ?3 a trigger type the deployment must have (empty: any).
const listDeploymentsWhere = `
WHERE CASE WHEN json_array_length(?1) = 0 THEN d.status <> 'ARCHIVED'
		ELSE d.status IN (SELECT value FROM json_each(?1)) END
	AND (?2 = '' OR d.workflow_id = ?2)
	AND (?3 = '' OR EXISTS (
		SELECT 1 FROM deployment_triggers t WHERE t.deployment_id = d.id AND t.type = ?3))`

const countDeploymentsSQL = `SELECT count(*) FROM deployments d` + listDeploymentsWhere

// listPageSQL picks a page: the keyset cursor (?4 created_at, ?5 id; NULL
// on the first page), the page size ?6, and each definition's encoded size,
// so that the page can be cut before its definitions grow too large to send.
const listPageSQL = `SELECT d.id, d.created_at, length(CAST(d.definition AS BLOB)) AS size
FROM deployments d` + listDeploymentsWhere + `
	AND (?4 IS NULL OR (d.created_at, d.id) < (?4, ?5))
ORDER BY d.created_at DESC, d.id DESC
LIMIT ?6`

const selectDeploymentsSQL = `SELECT ` + deploymentColumns + `
FROM deployments WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY created_at DESC, id DESC`

type pageRow struct {
	ID        string `db:"id"`
	CreatedAt int64  `db:"created_at"`
	Size      int64  `db:"size"`
}

// ListDeployments returns one page of the deployments matching f, newest
// first, with the number of matching deployments and, unless it is the last
// page, the cursor of the next one. A cursor ListDeployments did not make
// yields store.ErrBadCursor; f.Limit <= 0 means 50. The page, its triggers
// and the total are read in one read transaction, hence one snapshot.
func (s *Store) ListDeployments(ctx context.Context, f workflow.ListFilter) (_ workflow.Page, err error) {
	defer classify(&err)
	var afterTime, afterID any
	if f.After != "" {
		t, id, err := store.DecodeCursor(f.After)
		if err != nil {
			return workflow.Page{}, err
		}
		afterTime, afterID = t.UnixMicro(), id
	}
	limit := f.Limit
	if limit <= 0 {
		limit = workflow.DefaultPageSize
	}
	statuses := jsonList(f.Statuses)

	tx, err := s.r.BeginTxx(ctx, nil)
	if err != nil {
		return workflow.Page{}, fmt.Errorf("sqlite: list deployments: begin: %w", err)
	}
	defer rollback(tx)

	var page workflow.Page
	if err := tx.GetContext(ctx, &page.Total, countDeploymentsSQL,
		statuses, f.WorkflowID, string(f.TriggerType)); err != nil {
		return workflow.Page{}, fmt.Errorf("sqlite: list deployments: count: %w", err)
	}
	var picked []pageRow
	if err := tx.SelectContext(ctx, &picked, listPageSQL,
		statuses, f.WorkflowID, string(f.TriggerType), afterTime, afterID, limit+1); err != nil {
		return workflow.Page{}, fmt.Errorf("sqlite: list deployments: %w", err)
	}
	n, size := 0, int64(0)
	for n < len(picked) && n < limit && (n == 0 || f.MaxBytes <= 0 || size+picked[n].Size <= f.MaxBytes) {
		size += picked[n].Size
		n++
	}
	if n < len(picked) {
		page.Next = store.EncodeCursor(fromMicros(picked[n-1].CreatedAt), picked[n-1].ID)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = picked[i].ID
	}
	var rows []deploymentRow
	if err := tx.SelectContext(ctx, &rows, selectDeploymentsSQL, jsonList(ids)); err != nil {
		return workflow.Page{}, fmt.Errorf("sqlite: list deployments: %w", err)
	}
	triggers, err := loadTriggers(ctx, tx, ids)
	if err != nil {
		return workflow.Page{}, err
	}
	page.Deployments = make([]workflow.Deployment, 0, len(rows))
	for i := range rows {
		d, err := rows[i].deployment()
		if err != nil {
			return workflow.Page{}, err
		}
		d.Triggers = triggers[d.ID]
		page.Deployments = append(page.Deployments, *d)
	}
	return page, nil
}

const selectEventsSQL = `SELECT ` + eventColumns + `
FROM deployment_events WHERE deployment_id = ?1 ORDER BY id`

// ListEvents returns a deployment's history, oldest first; it is empty for an
// unknown deployment.
func (s *Store) ListEvents(ctx context.Context, deploymentID string) (_ []workflow.Event, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(deploymentID)
	if !ok {
		return []workflow.Event{}, nil
	}
	var rows []eventRow
	if err := s.r.SelectContext(ctx, &rows, selectEventsSQL, id); err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	out := make([]workflow.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, nil
}

const lastExecutionSQL = `SELECT ` + executionColumns + `
FROM executions WHERE deployment_id = ?1 ORDER BY fired_time DESC, id DESC LIMIT 1`

// LastExecution returns the deployment's execution with the latest fired
// time, or store.ErrNotFound when it has none.
func (s *Store) LastExecution(ctx context.Context, deploymentID string) (_ *workflow.Execution, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(deploymentID)
	if !ok {
		return nil, store.ErrNotFound
	}
	var r executionRow
	if err := s.r.GetContext(ctx, &r, lastExecutionSQL, id); err != nil {
		return nil, notFound("last execution", err)
	}
	return r.execution(), nil
}

const countUnfinishedExecutionsSQL = `
SELECT count(*) FROM executions WHERE deployment_id = ?1 AND status IN ('PENDING', 'RUNNING')`

// CountUnfinishedExecutions counts the deployment's PENDING and RUNNING
// executions; it is 0 for an unknown deployment.
func (s *Store) CountUnfinishedExecutions(ctx context.Context, deploymentID string) (_ int64, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(deploymentID)
	if !ok {
		return 0, nil
	}
	var n int64
	if err := s.r.GetContext(ctx, &n, countUnfinishedExecutionsSQL, id); err != nil {
		return 0, fmt.Errorf("sqlite: count unfinished executions: %w", err)
	}
	return n, nil
}
