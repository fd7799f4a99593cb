package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// upsertWorkflowSQL creates the deployment's workflows row, or refreshes its
// name and definition; either way it locks the row for the transaction.
const upsertWorkflowSQL = `
INSERT INTO workflows (id, name, definition)
VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name, definition = EXCLUDED.definition, updated_at = now()`

const insertDeploymentSQL = `
INSERT INTO deployments (id, workflow_id, status, version, definition, config, deployed_by, deployed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING created_at, updated_at, deployed_at`

// CreateDeployment inserts d with its triggers and ev in one transaction,
// upserting the workflows row (named after the definition's top-level "name",
// else the workflow id) and mirroring d's status, deployment time and config
// onto it. It fills in d.ID, d.CreatedAt, d.UpdatedAt, the triggers' ids and
// deployment ids; d.DeployedAt is set to the stored (microsecond) value.
// ev's DeploymentID, WorkflowID, ToStatus and Version default to d's, and a
// zero ev.At to the transaction time.
//
// It returns *store.ActiveDeploymentError when d is active and the workflow
// already has an active deployment, and *store.WebhookPathError when one of
// d's webhook paths, compared case-insensitively, is used by an active
// deployment (or twice by d).
func (s *Store) CreateDeployment(ctx context.Context, d *workflow.Deployment, ev workflow.Event) (err error) {
	defer classify(&err)
	vals := make([]store.TriggerColumns, len(d.Triggers))
	for i := range d.Triggers {
		v, err := store.EncodeTrigger(i, &d.Triggers[i])
		if err != nil {
			return fmt.Errorf("postgres: create deployment: %w", err)
		}
		vals[i] = v
	}
	cfg := store.EncodeJSON(d.Config)

	id := uuid.NewString()
	created := *d
	created.ID = id
	created.Triggers = append([]workflow.Trigger(nil), d.Triggers...)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, upsertWorkflowSQL,
			d.WorkflowID, workflow.WorkflowName(d.Definition, d.WorkflowID), string(d.Definition)); err != nil {
			return fmt.Errorf("upsert workflow: %w", err)
		}
		var ts struct {
			CreatedAt  time.Time  `db:"created_at"`
			UpdatedAt  time.Time  `db:"updated_at"`
			DeployedAt *time.Time `db:"deployed_at"`
		}
		if err := tx.GetContext(ctx, &ts, insertDeploymentSQL,
			id, d.WorkflowID, string(d.Status), d.Version, string(d.Definition), cfg,
			d.DeployedBy, d.DeployedAt); err != nil {
			return fmt.Errorf("insert deployment: %w", err)
		}
		created.CreatedAt, created.UpdatedAt, created.DeployedAt = ts.CreatedAt.UTC(), ts.UpdatedAt.UTC(), utcPtr(ts.DeployedAt)
		for i := range created.Triggers {
			t := &created.Triggers[i]
			t.ID, t.DeploymentID = uuid.NewString(), id
			if err := insertTrigger(ctx, tx, t, vals[i], i, d.Status.Active()); err != nil {
				return err
			}
		}
		if err := insertEvent(ctx, tx, &created, ev, ""); err != nil {
			return err
		}
		return mirrorWorkflow(ctx, tx, &created, cfg)
	})
	if err != nil {
		return s.translate(ctx, "create deployment", &created, err)
	}
	*d = created
	return nil
}

const lockWorkflowOfDeploymentSQL = `
SELECT w.id FROM workflows w
WHERE w.id = (SELECT d.workflow_id FROM deployments d WHERE d.id = $1)
FOR UPDATE`

const selectDeploymentForUpdateSQL = `SELECT ` + deploymentColumns + ` FROM deployments WHERE id = $1 FOR UPDATE`

const updateDeploymentSQL = `
UPDATE deployments
SET status = $2, version = $3, definition = $4, config = $5, deployed_by = $6, deployed_at = $7,
	updated_at = now()
WHERE id = $1`

// setTriggersActiveSQL makes a deployment's triggers follow its status.
const setTriggersActiveSQL = `
UPDATE deployment_triggers SET active = $2 WHERE deployment_id = $1 AND active <> $2`

// UpdateDeployment locks deployment id (after its workflows row), applies m
// and writes back the status, version, definition, config, deployed_by and
// deployed_at that m left in d, with the event m returned, in one transaction.
// d.ID, d.WorkflowID and the timestamps other than DeployedAt are not
// writable. When m changed d.Triggers, triggers no longer listed are deleted,
// listed ones with an id are updated in place (keeping their id) and ones
// without an id are inserted; an id the deployment does not own is an error.
// The triggers' active flag follows the new status, and the workflows row
// mirrors the deployment unless another deployment of the workflow is the
// active one.
//
// The event's DeploymentID, WorkflowID, ToStatus and Version default to d's
// after m, FromStatus to the status before m, and At to the transaction time.
// It returns store.ErrNotFound for an unknown id, m's error unchanged when m
// fails (nothing is written), and the errors of CreateDeployment for
// conflicts. It returns the deployment as stored.
func (s *Store) UpdateDeployment(ctx context.Context, id string, m store.Mutation) (_ *workflow.Deployment, err error) {
	defer classify(&err)
	id, ok := store.CanonicalID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	var (
		d      *workflow.Deployment
		out    *workflow.Deployment
		mutErr error
	)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var workflowID string
		if err := tx.GetContext(ctx, &workflowID, lockWorkflowOfDeploymentSQL, id); err != nil {
			return notFound("lock workflow", err)
		}
		var err error
		d, err = getDeployment(ctx, tx, selectDeploymentForUpdateSQL, id)
		if err != nil {
			return err
		}
		before := *d
		before.Triggers = workflow.CloneTriggers(d.Triggers)

		ev, err := m(d)
		if err != nil {
			mutErr = err
			return err
		}
		d.ID, d.WorkflowID = before.ID, before.WorkflowID

		cfg := store.EncodeJSON(d.Config)
		if _, err := tx.ExecContext(ctx, updateDeploymentSQL, id, string(d.Status), d.Version,
			string(d.Definition), cfg, d.DeployedBy, d.DeployedAt); err != nil {
			return fmt.Errorf("update deployment: %w", err)
		}
		if err := syncTriggers(ctx, tx, d, before.Triggers); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, setTriggersActiveSQL, id, d.Status.Active()); err != nil {
			return fmt.Errorf("set triggers active: %w", err)
		}
		if err := insertEvent(ctx, tx, d, ev, before.Status); err != nil {
			return err
		}
		if err := mirrorWorkflow(ctx, tx, d, cfg); err != nil {
			return err
		}
		out, err = getDeployment(ctx, tx, selectDeploymentSQL, id)
		return err
	})
	switch {
	case mutErr != nil:
		return nil, mutErr
	case errors.Is(err, store.ErrNotFound):
		return nil, err
	case err != nil:
		return nil, s.translate(ctx, "update deployment", d, err)
	}
	return out, nil
}

const deleteRemovedTriggersSQL = `
DELETE FROM deployment_triggers WHERE deployment_id = $1 AND NOT (id = ANY($2::uuid[]))`

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
func syncTriggers(ctx context.Context, tx *sqlx.Tx, d *workflow.Deployment, old []workflow.Trigger) error {
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
	if _, err := tx.ExecContext(ctx, deleteRemovedTriggersSQL, d.ID, pq.Array(kept)); err != nil {
		return fmt.Errorf("delete triggers: %w", err)
	}
	if _, err := tx.ExecContext(ctx, clearWebhookPathsSQL, d.ID); err != nil {
		return fmt.Errorf("clear webhook paths: %w", err)
	}
	for i := range d.Triggers {
		t := &d.Triggers[i]
		if t.ID == "" {
			t.ID, t.DeploymentID = uuid.NewString(), d.ID
			if err := insertTrigger(ctx, tx, t, vals[i], i, d.Status.Active()); err != nil {
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

const insertTriggerSQL = `
INSERT INTO deployment_triggers (id, deployment_id, type, spec, webhook_path, active, enabled, position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

func insertTrigger(ctx context.Context, tx *sqlx.Tx, t *workflow.Trigger, v store.TriggerColumns, pos int, active bool) error {
	if _, err := tx.ExecContext(ctx, insertTriggerSQL, t.ID, t.DeploymentID, string(t.Type), v.Spec,
		v.WebhookPath, active, t.Enabled, pos); err != nil {
		return fmt.Errorf("insert trigger %d: %w", pos, err)
	}
	return nil
}

const insertEventSQL = `
INSERT INTO deployment_events (deployment_id, workflow_id, action, from_status, to_status, version, actor, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8::timestamptz, now()))`

// insertEvent records ev, defaulting its empty fields from d and from.
func insertEvent(ctx context.Context, tx *sqlx.Tx, d *workflow.Deployment, ev workflow.Event, from workflow.DeploymentStatus) error {
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
	var at *time.Time
	if !ev.At.IsZero() {
		at = &ev.At
	}
	if _, err := tx.ExecContext(ctx, insertEventSQL, ev.DeploymentID, ev.WorkflowID, ev.Action,
		nullString(string(ev.FromStatus)), string(ev.ToStatus), ev.Version, ev.Actor, at); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

// mirrorWorkflowSQL copies a deployment onto its workflows row, unless the
// deployment is archived and another deployment of the workflow is active:
// the row mirrors the active deployment, or the last one changed.
const mirrorWorkflowSQL = `
UPDATE workflows
SET deployment_status = $2, deployed_at = $3, deployment_config = $4, name = $5, definition = $6,
	updated_at = now()
WHERE id = $1
	AND ($2 <> 'ARCHIVED' OR NOT EXISTS (
		SELECT 1 FROM deployments d WHERE d.workflow_id = $1 AND d.status <> 'ARCHIVED' AND d.id <> $7))`

func mirrorWorkflow(ctx context.Context, tx *sqlx.Tx, d *workflow.Deployment, cfg string) error {
	if _, err := tx.ExecContext(ctx, mirrorWorkflowSQL, d.WorkflowID, string(d.Status), d.DeployedAt, cfg,
		workflow.WorkflowName(d.Definition, d.WorkflowID), string(d.Definition), d.ID); err != nil {
		return fmt.Errorf("mirror workflow: %w", err)
	}
	return nil
}

// inTx runs f in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, f func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer rollback(tx)
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

const activeDeploymentIDSQL = `
SELECT id FROM deployments WHERE workflow_id = $1 AND status <> 'ARCHIVED' AND id <> $2 LIMIT 1`

const webhookPathOwnerSQL = `
SELECT deployment_id FROM deployment_triggers
WHERE active AND webhook_path = $1 AND deployment_id <> $2 LIMIT 1`

// translate turns a unique violation of a failed, rolled-back write of d into
// the store's typed conflict errors, looking up the conflicting deployment,
// and wraps any other error with op.
func (s *Store) translate(ctx context.Context, op string, d *workflow.Deployment, err error) error {
	var pe *pq.Error
	if d == nil || !errors.As(err, &pe) || pe.Code != codeUniqueViolation {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	switch pe.Constraint {
	case activeDeploymentIndex:
		ae := &store.ActiveDeploymentError{WorkflowID: d.WorkflowID}
		if qerr := s.db.GetContext(ctx, &ae.DeploymentID, activeDeploymentIDSQL, d.WorkflowID, d.ID); qerr != nil &&
			!errors.Is(qerr, sql.ErrNoRows) {
			return fmt.Errorf("postgres: %s: find active deployment: %w", op, qerr)
		}
		return ae
	case webhookPathIndex:
		return s.webhookPathError(ctx, op, d, pe)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// webhookPathError finds which of d's webhook paths is taken, and by which
// deployment: another active one, or d itself when it lists a path twice.
func (s *Store) webhookPathError(ctx context.Context, op string, d *workflow.Deployment, pe *pq.Error) error {
	seen := make(map[string]bool)
	var dup string
	for _, t := range d.Triggers {
		if t.Type != workflow.TriggerWebhook || t.Webhook == nil {
			continue
		}
		p := strings.ToLower(t.Webhook.Path)
		var owner string
		err := s.db.GetContext(ctx, &owner, webhookPathOwnerSQL, p, d.ID)
		switch {
		case err == nil:
			return &store.WebhookPathError{Path: t.Webhook.Path, DeploymentID: owner}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("postgres: %s: find webhook path owner: %w", op, err)
		}
		if seen[p] && dup == "" {
			dup = t.Webhook.Path
		}
		seen[p] = true
	}
	if dup != "" {
		return &store.WebhookPathError{Path: dup, DeploymentID: d.ID}
	}
	// The owner went away since the conflict; report the path PostgreSQL named.
	path := pe.Detail
	if _, rest, ok := strings.Cut(pe.Detail, ")=("); ok {
		path, _, _ = strings.Cut(rest, ") already exists")
	}
	return &store.WebhookPathError{Path: path}
}
