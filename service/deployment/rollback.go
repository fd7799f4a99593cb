package deployment

import (
	"context"
	"slices"
	"strconv"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// RollbackRequest asks for a new version of a deployment equal to one of its
// past versions.
type RollbackRequest struct {
	DeploymentID string
	ToVersion    int64
	// ExpectedVersion is required: a rollback undoes what the caller saw, so
	// it must not undo a change the caller has not seen.
	ExpectedVersion int64
}

func (s *service) Rollback(ctx context.Context, req RollbackRequest) (Deployment, error) {
	const op errors.Op = "deployment.Rollback"
	var v errors.Violations
	validateDeploymentID(&v, req.DeploymentID)
	if req.ToVersion <= 0 {
		v.Addf("to_version", "must be a version of the deployment, from 1")
	}
	if req.ExpectedVersion <= 0 {
		v.Addf("expected_version", "must be set to the deployment's current version")
	}
	if err := v.Err(op); err != nil {
		return Deployment{}, err
	}
	// A written version never changes, so it is read outside the update's
	// transaction.
	old, err := s.store.GetDeploymentVersion(ctx, req.DeploymentID, req.ToVersion)
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := s.store.GetDeployment(ctx, req.DeploymentID); gerr != nil {
			return Deployment{}, errors.E(op, gerr)
		}
		return Deployment{}, errors.Errorf(op, errors.NotFound, "deployment %s has no version %d", req.DeploymentID, req.ToVersion)
	}
	if err != nil {
		return Deployment{}, errors.E(op, err)
	}
	if !old.TriggersKept {
		return Deployment{}, errors.Errorf(op, errors.FailedPrecondition,
			"version %d of deployment %s was written before versions kept their triggers and cannot be restored", req.ToVersion, req.DeploymentID)
	}
	by, _ := auth.Actor(ctx, "")
	var prev workflow.Deployment
	d, err := s.store.UpdateDeployment(ctx, req.DeploymentID, func(d *workflow.Deployment) (workflow.Event, error) {
		switch {
		case d.Status == workflow.StatusArchived:
			return workflow.Event{}, errors.Errorf(op, errors.FailedPrecondition, "deployment %s is ARCHIVED and cannot change", d.ID)
		case d.Version != req.ExpectedVersion:
			return workflow.Event{}, errors.Errorf(op, errors.Aborted, "deployment %s is at version %d, not the expected %d", d.ID, d.Version, req.ExpectedVersion)
		case d.Version == req.ToVersion:
			return workflow.Event{}, errors.Errorf(op, errors.FailedPrecondition, "version %d is deployment %s's current version", req.ToVersion, d.ID)
		}
		prev = *d
		prev.Triggers = slices.Clone(d.Triggers)
		d.Definition, d.Config = old.Definition, old.Config
		d.Triggers = keepIDs(d.Triggers, restoreSecrets(d.Triggers, clearIDs(old.Triggers)))
		ev := workflow.Event{Action: workflow.ActionRollback, FromStatus: d.Status, ToStatus: d.Status,
			FromVersion: d.Version, Version: d.Version + 1, Actor: by,
			Reason: "rolled back to version " + strconv.FormatInt(req.ToVersion, 10)}
		d.Version++
		return ev, nil
	})
	if err != nil {
		return Deployment{}, errors.E(op, err)
	}
	if err := s.committed(ctx, op, d, &prev); err != nil {
		return Deployment{}, err
	}
	return s.viewOf(ctx, op, d)
}

// restoreSecrets gives each webhook trigger of a restored version the
// secrets the current version has for its path, rotated since perhaps, or
// none if the current version has the path unsigned; a path the current
// version does not have keeps the secrets it had in the restored version.
func restoreSecrets(current, restored []workflow.Trigger) []workflow.Trigger {
	stored := map[string][]string{}
	for _, c := range current {
		if c.Webhook != nil {
			stored[workflow.WebhookPathKey(c.Webhook.Path)] = c.Webhook.Secrets
		}
	}
	for i, r := range restored {
		if r.Webhook == nil {
			continue
		}
		if secrets, ok := stored[workflow.WebhookPathKey(r.Webhook.Path)]; ok {
			w := *r.Webhook
			w.Secrets = secrets
			restored[i].Webhook = &w
		}
	}
	return restored
}
