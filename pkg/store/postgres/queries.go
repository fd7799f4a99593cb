package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

const selectDeploymentSQL = `SELECT ` + deploymentColumns + ` FROM deployments WHERE id = $1`

// GetDeployment returns the deployment with its triggers, or
// store.ErrNotFound (also for an id that is not a UUID).
func (s *Store) GetDeployment(ctx context.Context, id string) (_ *workflow.Deployment, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	return getDeployment(ctx, s.db, selectDeploymentSQL, id)
}

const selectDeploymentVersionSQL = `SELECT deployment_id, version, definition, config
FROM deployment_versions WHERE deployment_id = $1 AND version = $2`

// GetDeploymentVersion returns deployment id as it was at version, or
// store.ErrNotFound.
func (s *Store) GetDeploymentVersion(ctx context.Context, id string, version int64) (_ *workflow.DeploymentVersion, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	var r store.VersionRow
	if err := s.db.GetContext(ctx, &r, selectDeploymentVersionSQL, id, version); err != nil {
		return nil, notFound("get deployment version", err)
	}
	return r.DeploymentVersion()
}

const selectActiveDeploymentSQL = `SELECT ` + deploymentColumns + `
FROM deployments WHERE workflow_id = $1 AND status <> 'ARCHIVED'`

// GetActiveDeployment returns workflowID's DRAFT, DEPLOYED or PAUSED
// deployment with its triggers, or store.ErrNotFound.
func (s *Store) GetActiveDeployment(ctx context.Context, workflowID string) (_ *workflow.Deployment, err error) {
	defer classify(&err)
	return getDeployment(ctx, s.db, selectActiveDeploymentSQL, workflowID)
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
WHERE t.deployment_id = ANY($1::uuid[])
ORDER BY t.deployment_id, t.position, t.created_at, t.id`

// loadTriggers returns the triggers of the deployments ids, by deployment id,
// in their stored order; a deployment without triggers has none in the map.
func loadTriggers(ctx context.Context, q sqlx.QueryerContext, ids []string) (map[string][]workflow.Trigger, error) {
	var rows []triggerRow
	if err := sqlx.SelectContext(ctx, q, &rows, selectTriggersSQL, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("postgres: load triggers: %w", err)
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

// listDeploymentsWhere selects the deployments matching a filter: $1 the
// statuses (empty: every active one), $2 the workflow id (empty: any), $3 a
// trigger type the deployment must have (empty: any).
const listDeploymentsWhere = `
WHERE CASE WHEN cardinality($1::text[]) = 0 THEN d.status <> 'ARCHIVED' ELSE d.status = ANY($1::text[]) END
	AND ($2::text = '' OR d.workflow_id = $2::text)
	AND ($3::text = '' OR EXISTS (
		SELECT 1 FROM deployment_triggers t WHERE t.deployment_id = d.id AND t.type = $3::text))`

const countDeploymentsSQL = `SELECT count(*) FROM deployments d` + listDeploymentsWhere

// listPageSQL picks a page: the keyset cursor ($4 created_at, $5 id; NULL
// on the first page), the page size $6, and each definition's encoded size,
// so that the page can be cut before its definitions grow too large to send.
const listPageSQL = `SELECT d.id, d.created_at, octet_length(d.definition::text) AS size
FROM deployments d` + listDeploymentsWhere + `
	AND ($4::timestamptz IS NULL OR (d.created_at, d.id) < ($4::timestamptz, $5::uuid))
ORDER BY d.created_at DESC, d.id DESC
LIMIT $6`

const selectDeploymentsSQL = `SELECT ` + deploymentColumns + `
FROM deployments WHERE id = ANY($1::uuid[]) ORDER BY created_at DESC, id DESC`

type pageRow struct {
	ID        string    `db:"id"`
	CreatedAt time.Time `db:"created_at"`
	Size      int64     `db:"size"`
}

// ListDeployments returns one page of the deployments matching f, newest
// first, with the number of matching deployments and, unless it is the last
// page, the cursor of the next one. A cursor ListDeployments did not make
// yields store.ErrBadCursor; f.Limit <= 0 means 50. The page, its triggers
// and the total are read from one snapshot.
func (s *Store) ListDeployments(ctx context.Context, f workflow.ListFilter) (_ workflow.Page, err error) {
	defer classify(&err)
	var (
		afterTime *time.Time
		afterID   *string
	)
	if f.After != "" {
		t, id, err := store.DecodeCursor(f.After)
		if err != nil {
			return workflow.Page{}, err
		}
		afterTime, afterID = &t, &id
	}
	limit := f.Limit
	if limit <= 0 {
		limit = workflow.DefaultPageSize
	}
	statuses := make([]string, len(f.Statuses))
	for i, st := range f.Statuses {
		statuses[i] = string(st)
	}

	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return workflow.Page{}, fmt.Errorf("postgres: list deployments: begin: %w", err)
	}
	defer rollback(tx)

	var page workflow.Page
	if err := tx.GetContext(ctx, &page.Total, countDeploymentsSQL,
		pq.Array(statuses), f.WorkflowID, string(f.TriggerType)); err != nil {
		return workflow.Page{}, fmt.Errorf("postgres: list deployments: count: %w", err)
	}
	var picked []pageRow
	if err := tx.SelectContext(ctx, &picked, listPageSQL,
		pq.Array(statuses), f.WorkflowID, string(f.TriggerType), afterTime, afterID, limit+1); err != nil {
		return workflow.Page{}, fmt.Errorf("postgres: list deployments: %w", err)
	}
	n, size := 0, int64(0)
	for n < len(picked) && n < limit && (n == 0 || f.MaxBytes <= 0 || size+picked[n].Size <= f.MaxBytes) {
		size += picked[n].Size
		n++
	}
	if n < len(picked) {
		page.Next = store.EncodeCursor(picked[n-1].CreatedAt, picked[n-1].ID)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = picked[i].ID
	}
	var rows []deploymentRow
	if err := tx.SelectContext(ctx, &rows, selectDeploymentsSQL, pq.Array(ids)); err != nil {
		return workflow.Page{}, fmt.Errorf("postgres: list deployments: %w", err)
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
	if err := tx.Commit(); err != nil {
		return workflow.Page{}, fmt.Errorf("postgres: list deployments: commit: %w", err)
	}
	return page, nil
}

const selectEventsSQL = `SELECT ` + eventColumns + `
FROM deployment_events WHERE deployment_id = $1 ORDER BY id`

// ListEvents returns a deployment's history, oldest first; it is empty for an
// unknown deployment.
func (s *Store) ListEvents(ctx context.Context, deploymentID string) (_ []workflow.Event, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(deploymentID)
	if !ok {
		return []workflow.Event{}, nil
	}
	var rows []eventRow
	if err := s.db.SelectContext(ctx, &rows, selectEventsSQL, id); err != nil {
		return nil, fmt.Errorf("postgres: list events: %w", err)
	}
	out := make([]workflow.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, nil
}

const lastExecutionSQL = `SELECT ` + executionColumns + `
FROM executions WHERE deployment_id = $1 ORDER BY fired_time DESC, id DESC LIMIT 1`

// LastExecution returns the deployment's execution with the latest fired
// time, or store.ErrNotFound when it has none.
func (s *Store) LastExecution(ctx context.Context, deploymentID string) (_ *workflow.Execution, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(deploymentID)
	if !ok {
		return nil, store.ErrNotFound
	}
	var r executionRow
	if err := s.db.GetContext(ctx, &r, lastExecutionSQL, id); err != nil {
		return nil, notFound("last execution", err)
	}
	return r.execution(), nil
}

const countUnfinishedExecutionsSQL = `
SELECT count(*) FROM executions WHERE deployment_id = $1 AND status IN ('PENDING', 'RUNNING')`

// CountUnfinishedExecutions counts the deployment's PENDING and RUNNING
// executions; it is 0 for an unknown deployment.
func (s *Store) CountUnfinishedExecutions(ctx context.Context, deploymentID string) (_ int64, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(deploymentID)
	if !ok {
		return 0, nil
	}
	var n int64
	if err := s.db.GetContext(ctx, &n, countUnfinishedExecutionsSQL, id); err != nil {
		return 0, fmt.Errorf("postgres: count unfinished executions: %w", err)
	}
	return n, nil
}
