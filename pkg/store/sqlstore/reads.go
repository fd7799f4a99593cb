package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// params are a statement's arguments, numbered as they are added: a
// statement built from the filters that are set names only their values, so
// that the planner sees only the conditions that apply.
type params []any

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// where joins conditions into a WHERE clause, or "" for none.
func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return "\nWHERE " + strings.Join(conds, " AND ")
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

const selectDeploymentSQL = `SELECT ` + deploymentColumns + ` FROM deployments WHERE id = $1`

// GetDeployment returns the deployment with its triggers, or
// store.ErrNotFound (also for an id that is not a UUID).
func (s *Store) GetDeployment(ctx context.Context, id string) (_ *workflow.Deployment, err error) {
	ctx, end := s.begin(ctx, "GetDeployment")
	defer end(&err)
	defer named(&err, "deployment "+id)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	return s.readDeployment(ctx, selectDeploymentSQL, id)
}

const selectDeploymentVersionSQL = `SELECT ` + versionColumns + `
FROM deployment_versions WHERE deployment_id = $1 AND version = $2`

// GetDeploymentVersion returns deployment id as it was at version, or
// store.ErrNotFound.
func (s *Store) GetDeploymentVersion(ctx context.Context, id string, version int64) (_ *workflow.DeploymentVersion, err error) {
	ctx, end := s.begin(ctx, "GetDeploymentVersion")
	defer end(&err)
	defer named(&err, fmt.Sprintf("version %d of deployment %s", version, id))
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	var r versionRow
	if err := s.r.GetContext(ctx, &r, selectDeploymentVersionSQL, id, version); err != nil {
		return nil, notFound(err)
	}
	return r.version()
}

const selectActiveDeploymentSQL = `SELECT ` + deploymentColumns + `
FROM deployments WHERE workflow_id = $1 AND status <> 'ARCHIVED'`

// GetActiveDeployment returns workflowID's DRAFT, DEPLOYED or PAUSED
// deployment with its triggers, or store.ErrNotFound.
func (s *Store) GetActiveDeployment(ctx context.Context, workflowID string) (_ *workflow.Deployment, err error) {
	ctx, end := s.begin(ctx, "GetActiveDeployment")
	defer end(&err)
	defer named(&err, "active deployment of workflow "+workflowID)
	return s.readDeployment(ctx, selectActiveDeploymentSQL, workflowID)
}

// readDeployment runs getDeployment on one snapshot.
func (s *Store) readDeployment(ctx context.Context, query string, arg any) (*workflow.Deployment, error) {
	tx, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer rollback(tx)
	return s.getDeployment(ctx, tx, query, arg)
}

// getDeployment runs query, which selects deploymentColumns of at most one
// deployment, and loads the deployment's triggers.
func (s *Store) getDeployment(ctx context.Context, q sqlx.QueryerContext, query string, arg any) (*workflow.Deployment, error) {
	var r deploymentRow
	if err := sqlx.GetContext(ctx, q, &r, query, arg); err != nil {
		return nil, notFound(err)
	}
	d, err := r.deployment()
	if err != nil {
		return nil, err
	}
	triggers, err := s.loadTriggers(ctx, q, []string{d.ID})
	if err != nil {
		return nil, err
	}
	d.Triggers = triggers[d.ID]
	return d, nil
}

// loadTriggers returns the triggers of the deployments ids, by deployment id,
// in their stored order; a deployment without triggers has none in the map.
func (s *Store) loadTriggers(ctx context.Context, q sqlx.QueryerContext, ids []string) (map[string][]workflow.Trigger, error) {
	var rows []triggerRow
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+triggerColumns+`
FROM deployment_triggers t WHERE `+s.d.In("t.deployment_id", "$1")+`
ORDER BY t.deployment_id, t.position, t.created_at, t.id`, s.d.List(ids)); err != nil {
		return nil, fmt.Errorf("load triggers: %w", err)
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

type pageRow struct {
	ID        string `db:"id"`
	CreatedAt dbTime `db:"created_at"`
	Size      int64  `db:"size"`
}

// ListDeployments returns one page of the deployments matching f, newest
// first, with the number of matching deployments and, unless it is the last
// page, the cursor of the next one. A cursor ListDeployments did not make
// yields store.ErrBadCursor; f.Limit <= 0 means 50. The page, its triggers
// and the total are read from one snapshot. The page is cut before its
// definitions grow past f.MaxBytes, each definition's size read first.
func (s *Store) ListDeployments(ctx context.Context, f workflow.ListFilter) (_ workflow.Page, err error) {
	ctx, end := s.begin(ctx, "ListDeployments")
	defer end(&err)
	var p params
	conds := []string{`d.status <> 'ARCHIVED'`}
	if len(f.Statuses) > 0 {
		conds[0] = s.d.In("d.status", p.add(s.d.List(strs(f.Statuses))))
	}
	if f.WorkflowID != "" {
		conds = append(conds, `d.workflow_id = `+p.add(f.WorkflowID))
	}
	if f.TriggerType != "" {
		conds = append(conds, `EXISTS (SELECT 1 FROM deployment_triggers t WHERE t.deployment_id = d.id AND t.type = `+
			p.add(string(f.TriggerType))+`)`)
	}
	count, countArgs := `SELECT count(*) FROM deployments d`+where(conds), slices.Clip(p)
	if f.After != "" {
		t, id, err := store.DecodeCursor(f.After)
		if err != nil {
			return workflow.Page{}, err
		}
		conds = append(conds, `(d.created_at, d.id) < (`+p.add(t)+`, `+p.add(id)+`)`)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = workflow.DefaultPageSize
	}
	pick := `SELECT d.id, d.created_at, ` + s.d.DefinitionSize + ` AS size FROM deployments d` + where(conds) + `
ORDER BY d.created_at DESC, d.id DESC LIMIT ` + p.add(limit+1)

	tx, err := s.snapshot(ctx)
	if err != nil {
		return workflow.Page{}, err
	}
	defer rollback(tx)
	var page workflow.Page
	if err := tx.GetContext(ctx, &page.Total, count, countArgs...); err != nil {
		return workflow.Page{}, fmt.Errorf("count: %w", err)
	}
	var picked []pageRow
	if err := tx.SelectContext(ctx, &picked, pick, p...); err != nil {
		return workflow.Page{}, err
	}
	n, size := 0, int64(0)
	for n < len(picked) && n < limit && (n == 0 || f.MaxBytes <= 0 || size+picked[n].Size <= f.MaxBytes) {
		size += picked[n].Size
		n++
	}
	if n < len(picked) {
		page.Next = store.EncodeCursor(picked[n-1].CreatedAt.t, picked[n-1].ID)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = picked[i].ID
	}
	var rows []deploymentRow
	if err := tx.SelectContext(ctx, &rows, `SELECT `+deploymentColumns+` FROM deployments
WHERE `+s.d.In("id", "$1")+` ORDER BY created_at DESC, id DESC`, s.d.List(ids)); err != nil {
		return workflow.Page{}, err
	}
	triggers, err := s.loadTriggers(ctx, tx, ids)
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

// ListDeploymentVersions returns one page of f.DeploymentID's versions,
// newest first, cut early once the definitions pass maxBytes (a page holds at
// least one version). An unknown deployment has none.
func (s *Store) ListDeploymentVersions(ctx context.Context, f workflow.VersionFilter, maxBytes int64) (_ workflow.VersionPage, err error) {
	ctx, end := s.begin(ctx, "ListDeploymentVersions")
	defer end(&err)
	id, ok := store.CanonicalID(f.DeploymentID)
	if !ok {
		return workflow.VersionPage{Versions: []workflow.DeploymentVersion{}}, nil
	}
	p := params{id}
	q := `SELECT ` + versionColumns + ` FROM deployment_versions WHERE deployment_id = $1`
	if f.After != "" {
		v, err := store.DecodeSeqCursor(f.After)
		if err != nil {
			return workflow.VersionPage{}, err
		}
		q += ` AND version < ` + p.add(v)
	}
	limit := pageLimit(f.Limit)
	var rows []versionRow
	if err := s.r.SelectContext(ctx, &rows, q+` ORDER BY version DESC LIMIT `+p.add(limit+1), p...); err != nil {
		return workflow.VersionPage{}, err
	}
	page := workflow.VersionPage{Versions: make([]workflow.DeploymentVersion, 0, len(rows))}
	size := int64(0)
	for i := range rows {
		size += int64(len(rows[i].Definition))
		if i == limit || (i > 0 && maxBytes > 0 && size > maxBytes) {
			page.Next = store.EncodeSeqCursor(rows[i-1].Version)
			break
		}
		v, err := rows[i].version()
		if err != nil {
			return workflow.VersionPage{}, err
		}
		page.Versions = append(page.Versions, *v)
	}
	return page, nil
}

// ListDeploymentEvents returns one page of the events of f.DeploymentID, or
// of f.WorkflowID's deployments, newest first (by id: the order they were
// written in). An unknown deployment or workflow has none.
func (s *Store) ListDeploymentEvents(ctx context.Context, f workflow.EventFilter) (_ workflow.EventPage, err error) {
	ctx, end := s.begin(ctx, "ListDeploymentEvents")
	defer end(&err)
	var p params
	q := `SELECT ` + eventColumns + ` FROM deployment_events WHERE `
	if f.DeploymentID != "" {
		id, ok := store.CanonicalID(f.DeploymentID)
		if !ok {
			return workflow.EventPage{Events: []workflow.Event{}}, nil
		}
		q += `deployment_id = ` + p.add(id)
	} else {
		q += `workflow_id = ` + p.add(f.WorkflowID)
	}
	if f.After != "" {
		n, err := store.DecodeSeqCursor(f.After)
		if err != nil {
			return workflow.EventPage{}, err
		}
		q += ` AND id < ` + p.add(n)
	}
	limit := pageLimit(f.Limit)
	var rows []eventRow
	if err := s.r.SelectContext(ctx, &rows, q+` ORDER BY id DESC LIMIT `+p.add(limit+1), p...); err != nil {
		return workflow.EventPage{}, err
	}
	page := workflow.EventPage{Events: make([]workflow.Event, 0, min(len(rows), limit))}
	for i := range rows {
		if i == limit {
			page.Next = store.EncodeSeqCursor(rows[i-1].ID)
			break
		}
		page.Events = append(page.Events, rows[i].event())
	}
	return page, nil
}

// pageLimit is a store's page size for limit: limit <= 0 means the default.
func pageLimit(limit int) int {
	if limit <= 0 {
		return workflow.DefaultPageSize
	}
	return limit
}

const selectEventsSQL = `SELECT ` + eventColumns + `
FROM deployment_events WHERE deployment_id = $1 ORDER BY id`

// ListEvents returns a deployment's history, oldest first; it is empty for an
// unknown deployment.
func (s *Store) ListEvents(ctx context.Context, deploymentID string) (_ []workflow.Event, err error) {
	ctx, end := s.begin(ctx, "ListEvents")
	defer end(&err)
	id, ok := store.CanonicalID(deploymentID)
	if !ok {
		return []workflow.Event{}, nil
	}
	var rows []eventRow
	if err := s.r.SelectContext(ctx, &rows, selectEventsSQL, id); err != nil {
		return nil, err
	}
	out := make([]workflow.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, nil
}

const lastExecutionSQL = `SELECT ` + ExecutionColumns + `
FROM executions WHERE deployment_id = $1 ORDER BY fired_time DESC, id DESC LIMIT 1`

// LastExecution returns the deployment's execution with the latest fired
// time, or store.ErrNotFound when it has none.
func (s *Store) LastExecution(ctx context.Context, deploymentID string) (_ *workflow.Execution, err error) {
	ctx, end := s.begin(ctx, "LastExecution")
	defer end(&err)
	defer named(&err, "last execution of deployment "+deploymentID)
	return s.getExecution(ctx, lastExecutionSQL, deploymentID)
}

const countUnfinishedExecutionsSQL = `
SELECT count(*) FROM executions WHERE deployment_id = $1 AND status IN ('PENDING', 'RUNNING')`

// CountUnfinishedExecutions counts the deployment's PENDING and RUNNING
// executions; it is 0 for an unknown deployment.
func (s *Store) CountUnfinishedExecutions(ctx context.Context, deploymentID string) (_ int64, err error) {
	ctx, end := s.begin(ctx, "CountUnfinishedExecutions")
	defer end(&err)
	id, ok := store.CanonicalID(deploymentID)
	if !ok {
		return 0, nil
	}
	var n int64
	err = s.r.GetContext(ctx, &n, countUnfinishedExecutionsSQL, id)
	return n, err
}

// listCronTriggersSQL reads each trigger's latest slot through the unique
// (trigger_id, scheduled_time) index, one backward index probe per trigger,
// and the end of its latest missed run from missed_slots' key.
const listCronTriggersSQL = `
SELECT t.id, t.deployment_id, d.version, d.workflow_id, t.spec, d.config, d.updated_at,
	(SELECT max(e.scheduled_time) FROM executions e WHERE e.trigger_id = t.id) AS last_slot,
	(SELECT max(m.to_slot) FROM missed_slots m WHERE m.trigger_id = t.id) AS last_missed
FROM deployment_triggers t
JOIN deployments d ON d.id = t.deployment_id
WHERE d.status = 'DEPLOYED' AND t.type = 'CRON' AND t.enabled`

// ListCronTriggers returns the enabled cron triggers of DEPLOYED deployments,
// or of deployment deploymentID when it is set; an id that is not a UUID
// names no deployment.
func (s *Store) ListCronTriggers(ctx context.Context, deploymentID string) (_ []workflow.CronTrigger, err error) {
	ctx, end := s.begin(ctx, "ListCronTriggers")
	defer end(&err)
	return s.cronTriggers(ctx, deploymentID, nil)
}

// ListOwnedCronTriggers returns the enabled cron triggers of DEPLOYED
// deployments that owns keeps. The others are dropped as they are read,
// before they are decoded, so that a replica holding a quarter of 400,000
// triggers never has the rest in memory.
func (s *Store) ListOwnedCronTriggers(ctx context.Context, owns func(triggerID string) bool) (_ []workflow.CronTrigger, err error) {
	ctx, end := s.begin(ctx, "ListOwnedCronTriggers")
	defer end(&err)
	return s.cronTriggers(ctx, "", owns)
}

// ChangedDeployments returns the ids of the deployments whose row changed
// (a deploy, an update, a pause, a rollback) in the last within by the
// database's clock, whatever their status now: what a replica rereads
// between full reads of every trigger. A row stamped later than now (a
// clock set back) counts once the clock passes it.
func (s *Store) ChangedDeployments(ctx context.Context, within time.Duration) (_ []string, err error) {
	ctx, end := s.begin(ctx, "ChangedDeployments")
	defer end(&err)
	var ids []string
	err = s.r.SelectContext(ctx, &ids, `SELECT id FROM deployments WHERE updated_at >= `+s.d.Later("$1")+` AND updated_at <= now()`,
		-within.Microseconds())
	return ids, err
}

// cronTriggers reads the cron triggers that owns keeps (every one when it
// is nil). Rows are scanned by position, the JSON columns without a copy:
// 100k of them at start, without reflection.
func (s *Store) cronTriggers(ctx context.Context, deploymentID string, owns func(string) bool) ([]workflow.CronTrigger, error) {
	var out []workflow.CronTrigger
	err := s.scanTriggers(ctx, listCronTriggersSQL, deploymentID, func(rows *sqlx.Rows) error {
		var (
			ct                  workflow.CronTrigger
			spec, config        sql.RawBytes
			updatedAt, lastSlot dbTime
			lastMissed          dbTime
		)
		if err := rows.Scan(&ct.TriggerID, &ct.DeploymentID, &ct.DeploymentVersion, &ct.WorkflowID, &spec, &config,
			&updatedAt, &lastSlot, &lastMissed); err != nil {
			return err
		}
		if owns != nil && !owns(ct.TriggerID) {
			return nil
		}
		ct.ScheduledSince, ct.LastSlot, ct.LastMissed = updatedAt.t, lastSlot.ptr(), lastMissed.ptr()
		if err := json.Unmarshal(spec, &ct.Spec); err != nil {
			return fmt.Errorf("trigger %s: spec: %w", ct.TriggerID, err)
		}
		if err := json.Unmarshal(config, &ct.Config); err != nil {
			return fmt.Errorf("deployment %s: config: %w", ct.DeploymentID, err)
		}
		out = append(out, ct)
		return nil
	})
	return out, err
}

// listWebhookTriggersSQL reads the enabled webhook triggers of active
// deployments.
const listWebhookTriggersSQL = `
SELECT t.id, t.deployment_id, d.version, d.workflow_id, d.status, t.spec
FROM deployment_triggers t
JOIN deployments d ON d.id = t.deployment_id
WHERE t.active AND t.type = 'WEBHOOK' AND t.enabled`

// ListWebhookTriggers returns the webhook triggers of active deployments, or
// of deployment deploymentID when it is set; an id that is not a UUID names
// no deployment.
func (s *Store) ListWebhookTriggers(ctx context.Context, deploymentID string) (_ []workflow.WebhookTrigger, err error) {
	ctx, end := s.begin(ctx, "ListWebhookTriggers")
	defer end(&err)
	var out []workflow.WebhookTrigger
	err = s.scanTriggers(ctx, listWebhookTriggersSQL, deploymentID, func(rows *sqlx.Rows) error {
		var (
			wt     workflow.WebhookTrigger
			status string
			spec   []byte
		)
		if err := rows.Scan(&wt.TriggerID, &wt.DeploymentID, &wt.DeploymentVersion, &wt.WorkflowID, &status, &spec); err != nil {
			return err
		}
		wt.DeploymentStatus = workflow.DeploymentStatus(status)
		if err := json.Unmarshal(spec, &wt.Spec); err != nil {
			return fmt.Errorf("trigger %s: spec: %w", wt.TriggerID, err)
		}
		out = append(out, wt)
		return nil
	})
	return out, err
}

// scanTriggers runs query, a listing of triggers t of deployments d, for
// deployment deploymentID only when it is set, and scans each row.
func (s *Store) scanTriggers(ctx context.Context, query, deploymentID string, scan func(*sqlx.Rows) error) error {
	var args []any
	if deploymentID != "" {
		id, ok := store.CanonicalID(deploymentID)
		if !ok {
			return nil
		}
		query, args = query+` AND d.id = $1`, []any{id}
	}
	rows, err := s.r.QueryxContext(ctx, query+`
ORDER BY t.deployment_id, t.position`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
