package deployment

import (
	"context"
	"fmt"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Limits of a preview: fires per trigger, and in all, so that the longest
// answer (a deployment of 100 cron triggers) stays far below gRPC's 4 MiB.
const (
	defaultPreviewCount = 10
	maxPreviewCount     = 1000
	maxPreviewFires     = 10_000
)

// PreviewRequest asks for the next fires of a deployment's cron triggers, or
// of a bare spec of workflow WorkflowID: set DeploymentID or Cron.
type PreviewRequest struct {
	DeploymentID string
	Cron         *workflow.CronSpec
	WorkflowID   string
	// Count is the number of fires per trigger; 0 means 10.
	Count int32
	// From is where the fires start (inclusive); zero means now.
	From time.Time
}

// PreviewResponse holds a preview per cron trigger, in the deployment's order.
type PreviewResponse struct {
	Triggers []TriggerPreview
}

// TriggerPreview is the next fires of one cron trigger.
type TriggerPreview struct {
	// TriggerID is empty for a bare spec and a trigger not yet stored.
	TriggerID string
	// Index is the trigger's position among the deployment's triggers.
	Index int
	Cron  workflow.CronSpec
	Fires []cron.Upcoming
	// Ended is set when the schedule has fewer fires left than asked for.
	Ended bool
}

func (s *service) Preview(ctx context.Context, req PreviewRequest) (PreviewResponse, error) {
	const op errors.Op = "deployment.Preview"
	var v errors.Violations
	d := &workflow.Deployment{WorkflowID: req.WorkflowID}
	switch {
	case (req.DeploymentID == "") == (req.Cron == nil):
		v.Addf("deployment_id", "set exactly one of deployment_id, and cron with workflow_id")
	case req.DeploymentID != "":
		validateDeploymentID(&v, req.DeploymentID)
		if req.WorkflowID != "" {
			v.Addf("workflow_id", "must be empty with deployment_id: the deployment's workflow fixes the jitter")
		}
	default:
		validateWorkflowID(&v, req.WorkflowID)
		t := checkTrigger(&v, requestTriggerFields(""), workflow.Trigger{Type: workflow.TriggerCron, Cron: req.Cron})
		d.Triggers = []workflow.Trigger{t}
	}
	if req.Count < 0 || req.Count > maxPreviewCount {
		v.Addf("count", "must be 0-%d (0 means %d); got %d", maxPreviewCount, defaultPreviewCount, req.Count)
	}
	if err := v.Err(op); err != nil {
		return PreviewResponse{}, err
	}
	if req.DeploymentID != "" {
		var err error
		if d, err = s.store.GetDeployment(ctx, req.DeploymentID); err != nil {
			return PreviewResponse{}, errors.E(op, err)
		}
	}
	count := int(req.Count)
	if count == 0 {
		count = defaultPreviewCount
	}
	if crons := cronTriggers(d); crons*count > maxPreviewFires {
		return PreviewResponse{}, errors.Violations{{Field: "count", Description: fmt.Sprintf(
			"%d fires for each of the deployment's %d cron triggers make more than %d: ask for at most %d",
			count, crons, maxPreviewFires, maxPreviewFires/crons)}}.Err(op)
	}
	from := req.From
	if from.IsZero() {
		from = s.opts.Now()
	}
	triggers, err := s.upcoming(d, from, count)
	if err != nil {
		return PreviewResponse{}, errors.E(op, errors.FailedPrecondition, err)
	}
	return PreviewResponse{Triggers: triggers}, nil
}

func cronTriggers(d *workflow.Deployment) int {
	n := 0
	for _, t := range d.Triggers {
		if t.Cron != nil {
			n++
		}
	}
	return n
}

// upcoming previews, for each of d's cron triggers, its next count fires from the instant from.
func (s *service) upcoming(d *workflow.Deployment, from time.Time, count int) ([]TriggerPreview, error) {
	var out []TriggerPreview
	for i, t := range d.Triggers {
		if t.Cron == nil {
			continue
		}
		trigger, err := s.cronTrigger(d.WorkflowID, t.Cron)
		if err != nil {
			return nil, fmt.Errorf("trigger %s: its stored schedule does not parse: %w", t.ID, err)
		}
		fires, ended, err := trigger.Preview(from, count)
		if err != nil {
			return nil, fmt.Errorf("trigger %s: %w", t.ID, err)
		}
		out = append(out, TriggerPreview{TriggerID: t.ID, Index: i, Cron: *t.Cron, Fires: fires, Ended: ended})
	}
	return out, nil
}

// dryRun answers a ValidateOnly call with d as the call would leave it. The
// conflicts that the store would refuse are looked up; nothing is written,
// and nobody is told of a change.
func (s *service) dryRun(ctx context.Context, op errors.Op, d *workflow.Deployment) (Deployment, error) {
	if d.ID == "" {
		active, err := s.store.GetActiveDeployment(ctx, d.WorkflowID)
		if err == nil {
			err = errors.E(errors.AlreadyExists, &store.ActiveDeploymentError{WorkflowID: d.WorkflowID, DeploymentID: active.ID})
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Deployment{}, errors.E(op, err)
		}
	}
	if err := s.checkWebhookPaths(ctx, d); err != nil {
		return Deployment{}, errors.E(op, err)
	}
	now := s.opts.Now().UTC()
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.UpdatedAt = now
	out, err := s.viewOf(ctx, op, d)
	if err != nil {
		return Deployment{}, err
	}
	upcoming, err := s.upcoming(d, now, defaultPreviewCount)
	if err != nil {
		return Deployment{}, errors.E(op, errors.FailedPrecondition, err)
	}
	out.Upcoming = upcoming
	return out, nil
}

// checkWebhookPaths returns the error the store would give for the first of d's webhook
// paths that another active deployment uses. It reads every active webhook
// trigger: a dry run is rare, and the store has no lookup by path.
func (s *service) checkWebhookPaths(ctx context.Context, d *workflow.Deployment) error {
	paths := map[string]string{}
	for _, t := range d.Triggers {
		if t.Webhook != nil {
			paths[workflow.WebhookPathKey(t.Webhook.Path)] = t.Webhook.Path
		}
	}
	if len(paths) == 0 {
		return nil
	}
	hooks, err := s.store.ListWebhookTriggers(ctx, "")
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if p, ok := paths[workflow.WebhookPathKey(h.Spec.Path)]; ok && h.DeploymentID != d.ID {
			return errors.E(errors.AlreadyExists, &store.WebhookPathError{Path: p, DeploymentID: h.DeploymentID})
		}
	}
	return nil
}
