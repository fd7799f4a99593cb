package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Changes to a workflow's deployments are serialised on the workflows row,
// which CreateDeployment and UpdateDeployment lock before the deployment
// row: concurrent writers take the two locks in the same order and cannot
// deadlock each other. (SQLite's one writer serialises them anyway.)

// upsertWorkflowSQL creates the deployment's workflows row, or refreshes its
// name and definition; either way it locks the row for the transaction.
const upsertWorkflowSQL = `
INSERT INTO workflows (id, name, definition, created_at, updated_at)
VALUES ($1, $2, $3, $4, $4)
ON CONFLICT (id) DO UPDATE
SET name = excluded.name, definition = excluded.definition, updated_at = excluded.updated_at`

const insertDeploymentSQL = `
INSERT INTO deployments (id, workflow_id, status, version, definition, config, deployed_by, deployed_at,
	created_at, updated_at, on_behalf_of)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)`

// CreateDeployment inserts d as store.Store says, upserting the workflows
// row first: that takes its lock.
func (s *Store) CreateDeployment(ctx context.Context, d *workflow.Deployment, ev workflow.Event) (err error) {
	ctx, end := s.begin(ctx, "CreateDeployment")
	defer end(&err)
	vals := make([]store.TriggerColumns, len(d.Triggers))
	for i := range d.Triggers {
		if vals[i], err = store.EncodeTrigger(i, &d.Triggers[i]); err != nil {
			return err
		}
	}
	cfg, err := store.EncodeConfig(d.Config)
	if err != nil {
		return err
	}
	created := *d
	created.ID = uuid.NewString()
	created.DeployedAt = atPtr(d.DeployedAt)
	created.Triggers = append([]workflow.Trigger(nil), d.Triggers...)
	err = s.inTx(ctx, func(tx *sqlx.Tx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, upsertWorkflowSQL,
			d.WorkflowID, workflow.Name(d.Definition, d.WorkflowID), string(d.Definition), now); err != nil {
			return fmt.Errorf("upsert workflow: %w", err)
		}
		if _, err := tx.ExecContext(ctx, insertDeploymentSQL, created.ID, d.WorkflowID, string(d.Status), d.Version,
			string(d.Definition), cfg, d.DeployedBy, created.DeployedAt, now, d.OnBehalfOf); err != nil {
			return fmt.Errorf("insert deployment: %w", err)
		}
		created.CreatedAt, created.UpdatedAt = now, now
		for i := range created.Triggers {
			t := &created.Triggers[i]
			t.ID, t.DeploymentID = uuid.NewString(), created.ID
			if err := insertTrigger(ctx, tx, t, vals[i], i, d.Status.Active(), now); err != nil {
				return err
			}
		}
		if err := keepVersionTriggers(ctx, tx, &created, ev, vals, now); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, &created, ev, "", 0, now); err != nil {
			return err
		}
		return mirrorWorkflow(ctx, tx, &created, cfg, now)
	})
	if err != nil {
		return s.conflict(ctx, &created, err)
	}
	*d = created
	return nil
}

const updateDeploymentSQL = `
UPDATE deployments
SET status = $2, version = $3, definition = $4, config = $5, deployed_by = $6, deployed_at = $7, updated_at = $8,
	consecutive_failures = $9, pause_reason = $10, on_behalf_of = $11
WHERE id = $1`

// setTriggersActiveSQL makes a deployment's triggers follow its status.
const setTriggersActiveSQL = `
UPDATE deployment_triggers SET active = $2 WHERE deployment_id = $1 AND active <> $2`

// UpdateDeployment updates deployment id as store.Store says, locking its
// workflows row before it.
func (s *Store) UpdateDeployment(ctx context.Context, id string, m store.Mutation) (*workflow.Deployment, error) {
	var mutErr error
	d, err := s.updateDeployment(ctx, id, func(d *workflow.Deployment) (workflow.Event, error) {
		ev, err := m(d)
		mutErr = err
		return ev, err
	})
	if mutErr != nil {
		return nil, mutErr
	}
	return d, err
}

func (s *Store) updateDeployment(ctx context.Context, id string, m store.Mutation) (out *workflow.Deployment, err error) {
	ctx, end := s.begin(ctx, "UpdateDeployment")
	defer end(&err)
	defer named(&err, "deployment "+id)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	var d *workflow.Deployment
	err = s.inTx(ctx, func(tx *sqlx.Tx, now time.Time) error {
		var workflowID string
		if err := tx.GetContext(ctx, &workflowID, `SELECT w.id FROM workflows w
WHERE w.id = (SELECT d.workflow_id FROM deployments d WHERE d.id = $1)`+s.d.ForUpdate, id); err != nil {
			return notFound(err)
		}
		var err error
		if d, err = s.getDeployment(ctx, tx, selectDeploymentSQL+s.d.ForUpdate, id); err != nil {
			return err
		}
		before := *d
		before.Triggers = workflow.CloneTriggers(d.Triggers)
		ev, err := m(d)
		if err != nil {
			return err
		}
		d.ID, d.WorkflowID, d.DeployedAt = before.ID, before.WorkflowID, atPtr(d.DeployedAt)
		cfg, err := store.EncodeConfig(d.Config)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, updateDeploymentSQL, id, string(d.Status), d.Version,
			string(d.Definition), cfg, d.DeployedBy, d.DeployedAt, now, d.ConsecutiveFailures, nullString(d.PauseReason), d.OnBehalfOf); err != nil {
			return fmt.Errorf("update deployment: %w", err)
		}
		if err := s.syncTriggers(ctx, tx, d, before.Triggers, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, setTriggersActiveSQL, id, d.Status.Active()); err != nil {
			return fmt.Errorf("set triggers active: %w", err)
		}
		if err := keepTriggersOf(ctx, tx, d, ev, now); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, d, ev, before.Status, before.Version, now); err != nil {
			return err
		}
		if err := mirrorWorkflow(ctx, tx, d, cfg, now); err != nil {
			return err
		}
		out, err = s.getDeployment(ctx, tx, selectDeploymentSQL, id)
		return err
	})
	if err != nil {
		return nil, s.conflict(ctx, d, err)
	}
	return out, nil
}

// clearWebhookPathsSQL frees the paths of the triggers about to be rewritten,
// so that kept triggers may swap paths without a transient conflict.
const clearWebhookPathsSQL = `
UPDATE deployment_triggers SET webhook_path = NULL WHERE deployment_id = $1 AND webhook_path IS NOT NULL`

const updateTriggerSQL = `
UPDATE deployment_triggers
SET type = $3, spec = $4, webhook_path = $5, enabled = $6, position = $7
WHERE id = $1 AND deployment_id = $2`

// syncTriggers writes d.Triggers over old when the list differs, and fills
// in the ids of the new triggers.
func (s *Store) syncTriggers(ctx context.Context, tx *sqlx.Tx, d *workflow.Deployment, old []workflow.Trigger, now time.Time) error {
	owned := make(map[string]bool, len(old))
	for _, t := range old {
		owned[t.ID] = true
	}
	changed := len(d.Triggers) != len(old)
	kept := make([]string, 0, len(d.Triggers))
	vals := make([]store.TriggerColumns, len(d.Triggers))
	for i := range d.Triggers {
		t := &d.Triggers[i]
		v, err := store.EncodeTrigger(i, t)
		if err != nil {
			return err
		}
		vals[i] = v
		if t.ID == "" {
			changed = true
			continue
		}
		if !owned[t.ID] {
			return fmt.Errorf("trigger %d: id %q is not a trigger of deployment %s", i, t.ID, d.ID)
		}
		owned[t.ID] = false // a second listing of the same id is not owned any more
		kept = append(kept, t.ID)
		t.DeploymentID = d.ID
		if !changed && !reflect.DeepEqual(*t, old[i]) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM deployment_triggers WHERE deployment_id = $1 AND NOT (`+
		s.d.In("id", "$2")+`)`, d.ID, s.d.List(kept)); err != nil {
		return fmt.Errorf("delete triggers: %w", err)
	}
	if _, err := tx.ExecContext(ctx, clearWebhookPathsSQL, d.ID); err != nil {
		return fmt.Errorf("clear webhook paths: %w", err)
	}
	for i := range d.Triggers {
		t := &d.Triggers[i]
		if t.ID == "" {
			t.ID, t.DeploymentID = uuid.NewString(), d.ID
			if err := insertTrigger(ctx, tx, t, vals[i], i, d.Status.Active(), now); err != nil {
				return err
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, updateTriggerSQL, t.ID, d.ID, string(t.Type), vals[i].Spec,
			vals[i].WebhookPath, t.Enabled, i); err != nil {
			return fmt.Errorf("update trigger %d: %w", i, err)
		}
	}
	return nil
}

// keepVersionTriggersSQL completes the row the deployments trigger keeps for
// the version just written with what only the service knows: the triggers,
// written after the deployment, the time and who wrote it (the event's
// actor). A later write of the same version (a pause) leaves its first time
// and author.
const keepVersionTriggersSQL = `
UPDATE deployment_versions SET triggers = $3, created_at = COALESCE(created_at, $4),
	created_by = CASE WHEN created_at IS NULL THEN $5 ELSE created_by END,
	on_behalf_of = CASE WHEN created_at IS NULL THEN $6 ELSE on_behalf_of END
WHERE deployment_id = $1 AND version = $2`

func keepVersionTriggers(ctx context.Context, tx *sqlx.Tx, d *workflow.Deployment, ev workflow.Event, vals []store.TriggerColumns, now time.Time) error {
	ts, err := encodeVersionTriggers(d.Triggers, vals)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, keepVersionTriggersSQL, d.ID, d.Version, ts, at(now), ev.Actor, ev.OnBehalfOf); err != nil {
		return fmt.Errorf("keep version triggers: %w", err)
	}
	return nil
}

// keepTriggersOf keeps d's triggers, as syncTriggers left them, with its version.
func keepTriggersOf(ctx context.Context, tx *sqlx.Tx, d *workflow.Deployment, ev workflow.Event, now time.Time) error {
	vals := make([]store.TriggerColumns, len(d.Triggers))
	for i := range d.Triggers {
		var err error
		if vals[i], err = store.EncodeTrigger(i, &d.Triggers[i]); err != nil {
			return err
		}
	}
	return keepVersionTriggers(ctx, tx, d, ev, vals, now)
}

const insertTriggerSQL = `
INSERT INTO deployment_triggers (id, deployment_id, type, spec, webhook_path, active, enabled, position, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

func insertTrigger(ctx context.Context, tx *sqlx.Tx, t *workflow.Trigger, v store.TriggerColumns, pos int, active bool, now time.Time) error {
	if _, err := tx.ExecContext(ctx, insertTriggerSQL, t.ID, t.DeploymentID, string(t.Type), v.Spec,
		v.WebhookPath, active, t.Enabled, pos, now); err != nil {
		return fmt.Errorf("insert trigger %d: %w", pos, err)
	}
	return nil
}

const insertEventSQL = `
INSERT INTO deployment_events (deployment_id, workflow_id, action, from_status, to_status, version, from_version,
	actor, reason, at, on_behalf_of)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

// insertEvent records ev, defaulting its empty fields from d and from, and
// its time to now.
func insertEvent(ctx context.Context, tx *sqlx.Tx, d *workflow.Deployment, ev workflow.Event, from workflow.DeploymentStatus, fromVersion int64, now time.Time) error {
	if ev.DeploymentID == "" {
		ev.DeploymentID = d.ID
	}
	if ev.WorkflowID == "" {
		ev.WorkflowID = d.WorkflowID
	}
	if ev.FromStatus == "" {
		ev.FromStatus = from
	}
	if ev.ToStatus == "" {
		ev.ToStatus = d.Status
	}
	if ev.Version == 0 {
		ev.Version = d.Version
	}
	if ev.FromVersion == 0 {
		ev.FromVersion = fromVersion
	}
	if ev.At.IsZero() {
		ev.At = now
	}
	var fv *int64
	if ev.FromVersion != 0 {
		fv = &ev.FromVersion
	}
	if _, err := tx.ExecContext(ctx, insertEventSQL, ev.DeploymentID, ev.WorkflowID, ev.Action,
		nullString(string(ev.FromStatus)), string(ev.ToStatus), ev.Version, fv, ev.Actor, nullString(ev.Reason), at(ev.At), ev.OnBehalfOf); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

// mirrorWorkflowSQL copies a deployment onto its workflows row, unless the
// deployment is archived and another deployment of the workflow is active:
// the row mirrors the active deployment, or the last one changed.
const mirrorWorkflowSQL = `
UPDATE workflows
SET deployment_status = $2, deployed_at = $3, deployment_config = $4, name = $5, definition = $6, updated_at = $8
WHERE id = $1
	AND ($2 <> 'ARCHIVED' OR NOT EXISTS (
		SELECT 1 FROM deployments d WHERE d.workflow_id = $1 AND d.status <> 'ARCHIVED' AND d.id <> $7))`

func mirrorWorkflow(ctx context.Context, tx *sqlx.Tx, d *workflow.Deployment, cfg string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, mirrorWorkflowSQL, d.WorkflowID, string(d.Status), d.DeployedAt, cfg,
		workflow.Name(d.Definition, d.WorkflowID), string(d.Definition), d.ID, now); err != nil {
		return fmt.Errorf("mirror workflow: %w", err)
	}
	return nil
}

const activeDeploymentIDSQL = `
SELECT id FROM deployments WHERE workflow_id = $1 AND status <> 'ARCHIVED' AND id <> $2 LIMIT 1`

const webhookPathOwnerSQL = `
SELECT deployment_id FROM deployment_triggers
WHERE active AND webhook_path = $1 AND deployment_id <> $2 LIMIT 1`

// conflict turns a unique violation of a failed, rolled-back write of d into
// the store's typed conflict errors, looking up the conflicting deployment;
// it returns any other error as it is.
func (s *Store) conflict(ctx context.Context, d *workflow.Deployment, err error) error {
	index, value, ok := s.d.Unique(err)
	switch {
	case d == nil || !ok:
	case index == ActiveDeploymentIndex:
		ae := &store.ActiveDeploymentError{WorkflowID: d.WorkflowID}
		if qerr := s.r.GetContext(ctx, &ae.DeploymentID, activeDeploymentIDSQL, d.WorkflowID, d.ID); qerr != nil &&
			!errors.Is(qerr, sql.ErrNoRows) {
			return fmt.Errorf("find active deployment: %w", qerr)
		}
		return ae
	case index == WebhookPathIndex:
		return s.webhookPathError(ctx, d, value)
	}
	return err
}

// webhookPathError finds which of d's webhook paths is taken, and by which
// deployment: another active one, or d itself when it lists a path twice.
// When the owner went away since the conflict, it names the path the
// database named, if it did.
func (s *Store) webhookPathError(ctx context.Context, d *workflow.Deployment, named string) error {
	seen := make(map[string]bool)
	var dup string
	for _, t := range d.Triggers {
		if t.Type != workflow.TriggerWebhook || t.Webhook == nil {
			continue
		}
		p := strings.ToLower(t.Webhook.Path)
		var owner string
		err := s.r.GetContext(ctx, &owner, webhookPathOwnerSQL, p, d.ID)
		switch {
		case err == nil:
			return &store.WebhookPathError{Path: t.Webhook.Path, DeploymentID: owner}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("find webhook path owner: %w", err)
		}
		if seen[p] && dup == "" {
			dup = t.Webhook.Path
		}
		seen[p] = true
	}
	if dup != "" {
		return &store.WebhookPathError{Path: dup, DeploymentID: d.ID}
	}
	return &store.WebhookPathError{Path: named}
}

// countRunEndSQL adds a failed run to a deployment's consecutive failures,
// or starts them again from 0; a success with none to clear writes nothing.
const countRunEndSQL = `
UPDATE deployments SET consecutive_failures = CASE WHEN $2 THEN consecutive_failures + 1 ELSE 0 END
WHERE id = $1 AND ($2 OR consecutive_failures <> 0)
RETURNING consecutive_failures`

// CountRunEnd counts a run of deployment id that ended, as store.Store says.
func (s *Store) CountRunEnd(ctx context.Context, id string, failed bool) (_ int32, err error) {
	ctx, end := s.begin(ctx, "CountRunEnd")
	defer end(&err)
	defer named(&err, "deployment "+id)
	id, ok := store.CanonicalID(id)
	if !ok {
		return 0, store.ErrNotFound
	}
	var n int32
	err = s.w.GetContext(ctx, &n, countRunEndSQL, id, failed)
	if errors.Is(err, sql.ErrNoRows) && !failed {
		return 0, nil
	}
	return n, notFound(err)
}
