// Package deployment manages workflow deployments: deploy, update (pause,
// resume, promote, replace definition, triggers or config), delete (archive)
// and read, with every change validated, versioned and recorded as an event.
package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Service is the deployment API, free of transport types.
type Service interface {
	Deploy(ctx context.Context, req DeployRequest) (Deployment, error)
	Update(ctx context.Context, req UpdateRequest) (Deployment, error)
	Delete(ctx context.Context, req DeleteRequest) (Deployment, error)
	Status(ctx context.Context, req StatusRequest) (StatusResponse, error)
	List(ctx context.Context, req ListRequest) (ListResponse, error)
	Preview(ctx context.Context, req PreviewRequest) (PreviewResponse, error)
	Versions(ctx context.Context, req VersionsRequest) (VersionsResponse, error)
	Events(ctx context.Context, req EventsRequest) (EventsResponse, error)
	Rollback(ctx context.Context, req RollbackRequest) (Deployment, error)
}

// DeployRequest asks for a new deployment of a workflow.
type DeployRequest struct {
	WorkflowID string
	// Definition is the workflow definition as decoded from JSON.
	Definition map[string]any
	// Triggers empty means: derive them from the definition's TRIGGER nodes.
	Triggers   []workflow.Trigger
	Config     workflow.Config
	DeployedBy string
	Draft      bool
	// ValidateOnly asks for the answer the call would give, with the
	// upcoming fires, writing nothing.
	ValidateOnly bool
}

// Fields of a deployment that UpdateRequest.Mask may name.
const (
	FieldStatus     = "status"
	FieldDefinition = "workflow_definition"
	FieldTriggers   = "triggers"
	FieldConfig     = "config"
)

// UpdateRequest changes a deployment. A field is applied when Mask names it,
// or, with an empty Mask, when it is set (non-nil, non-empty).
type UpdateRequest struct {
	DeploymentID string
	Status       *workflow.DeploymentStatus
	Definition   map[string]any
	// Triggers applied empty means: derive them from the (new or current) definition.
	Triggers        []workflow.Trigger
	Config          *workflow.Config
	Mask            []string
	ExpectedVersion int64
	// ValidateOnly asks for the answer the call would give, with the
	// upcoming fires, writing nothing.
	ValidateOnly bool
}

// DeleteRequest archives a deployment.
type DeleteRequest struct {
	DeploymentID string
}

// StatusRequest names a deployment by id or its workflow's active deployment.
type StatusRequest struct {
	DeploymentID string
	WorkflowID   string
	// Version, when set and not the current one, asks for that past
	// version's definition, triggers and config instead.
	Version int64
}

// StatusResponse is a deployment with its latest activity.
type StatusResponse struct {
	Deployment        Deployment
	LastExecution     *workflow.Execution
	RunningExecutions int64
}

// ListRequest filters and pages deployments.
type ListRequest struct {
	Statuses    []workflow.DeploymentStatus
	WorkflowID  string
	TriggerType workflow.TriggerType
	PageSize    int32
	PageToken   string
}

// ListResponse is one page of deployments.
type ListResponse struct {
	Deployments   []Deployment
	NextPageToken string
	TotalSize     int64
}

// Deployment is a stored deployment with its triggers' scheduling state.
type Deployment struct {
	*workflow.Deployment
	TriggerStatuses []TriggerStatus
	// ScheduleEnded is set when the deployment has cron triggers and all
	// of them have Ended.
	ScheduleEnded bool
	// Upcoming holds the next fires of each cron trigger in the answer to
	// a ValidateOnly call.
	Upcoming []TriggerPreview
}

// TriggerStatus is a trigger with what the scheduler derives from it.
type TriggerStatus struct {
	Trigger workflow.Trigger
	// JitterSeconds is the whole-second part of the workflow's offset from each CRON slot.
	JitterSeconds int32
	// NextFireTime is the next slot plus jitter while the deployment is DEPLOYED.
	NextFireTime      *time.Time
	RequiresSignature bool
	// Ended is set for a CRON trigger that has no fire left.
	Ended bool
	// RemainingRuns is how many runs a CRON trigger with max_runs has left.
	RemainingRuns *int32
}

// undoTimeout bounds the compensating update after a failed notification.
const undoTimeout = 10 * time.Second

// pageBudget ends a List page early once its definitions reach it (each may
// be 1 MiB), so that any page fits in one gRPC response.
const pageBudget = 8 << 20

// Notifier hears of every committed change of a deployment: the scheduler
// and the webhook index follow deployments through it.
type Notifier interface {
	DeploymentChanged(ctx context.Context, d *workflow.Deployment) error
}

// Notifiers tells each of its notifiers in turn, and stops at the first
// that fails: the change is then undone for all.
type Notifiers []Notifier

// DeploymentChanged tells each notifier of d.
func (ns Notifiers) DeploymentChanged(ctx context.Context, d *workflow.Deployment) error {
	for _, n := range ns {
		if err := n.DeploymentChanged(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// Options are the service's defaults.
type Options struct {
	// Notifier, when set, is told about each change after it commits; when it
	// fails, the change is undone by a compensating update and the caller gets
	// the error, so that no half-deployed state survives.
	Notifier Notifier
	// JitterWindow applies to cron triggers that set no window of their own.
	JitterWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Runs, when set, counts the runs of cron triggers with max_runs, for
	// their remaining_runs; without it none is counted.
	Runs RunCounter
}

// RunCounter counts the slots of a cron trigger that ran before an instant.
type RunCounter interface {
	CountSlotRuns(ctx context.Context, triggerID string, before time.Time) (int64, error)
}

type service struct {
	store store.Store
	opts  Options
}

// New returns the deployment service over st.
func New(st store.Store, opts Options) Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &service{store: st, opts: opts}
}

func (s *service) Deploy(ctx context.Context, req DeployRequest) (Deployment, error) {
	const op errors.Op = "deployment.Deploy"
	var v errors.Violations
	validateWorkflowID(&v, req.WorkflowID)
	def, derived := validateDefinition(&v, req.Definition)
	triggers := derived
	if len(req.Triggers) > 0 {
		triggers = validateTriggers(&v, clearIDs(req.Triggers))
	}
	cfg := validateConfig(&v, "config", req.Config)
	workflow.ActorText.Check(&v, "deployed_by", req.DeployedBy)
	if err := v.Err(op); err != nil {
		return Deployment{}, err
	}
	by, onBehalfOf := auth.Actor(ctx, req.DeployedBy)
	d := &workflow.Deployment{
		WorkflowID: req.WorkflowID,
		Status:     workflow.StatusDeployed,
		Version:    1,
		Definition: def,
		Config:     cfg,
		DeployedBy: by,
		OnBehalfOf: onBehalfOf,
		Triggers:   triggers,
	}
	if req.Draft {
		d.Status = workflow.StatusDraft
	} else {
		now := s.opts.Now().UTC()
		d.DeployedAt = &now
	}
	if req.ValidateOnly {
		return s.dryRun(ctx, op, d)
	}
	ev := workflow.Event{Action: workflow.ActionDeploy, ToStatus: d.Status, Version: d.Version, Actor: by, OnBehalfOf: onBehalfOf}
	if err := s.store.CreateDeployment(ctx, d, ev); err != nil {
		return Deployment{}, errors.E(op, err)
	}
	if err := s.committed(ctx, op, d, nil); err != nil {
		return Deployment{}, err
	}
	return s.viewOf(ctx, op, d)
}

func (s *service) Update(ctx context.Context, req UpdateRequest) (Deployment, error) {
	const op errors.Op = "deployment.Update"
	var v errors.Violations
	validateDeploymentID(&v, req.DeploymentID)
	apply, ok := fieldsToApply(&v, req)
	if ok && len(apply) == 0 {
		v.Addf("update_mask", "nothing to update: set status, workflow_definition, triggers or config")
	}
	if apply[FieldStatus] && (req.Status == nil || !slices.Contains([]workflow.DeploymentStatus{workflow.StatusDeployed, workflow.StatusPaused}, *req.Status)) {
		v.Addf("status", "must be DEPLOYMENT_STATUS_DEPLOYED or DEPLOYMENT_STATUS_PAUSED (archive with DeleteDeployment)")
	}
	var def json.RawMessage
	var derived []workflow.Trigger
	if apply[FieldDefinition] {
		def, derived = validateDefinition(&v, req.Definition)
	}
	var triggers []workflow.Trigger
	if apply[FieldTriggers] && len(req.Triggers) > 0 {
		triggers = validateTriggers(&v, clearIDs(req.Triggers))
	}
	var cfg workflow.Config
	if apply[FieldConfig] {
		var c workflow.Config
		if req.Config != nil {
			c = *req.Config
		}
		cfg = validateConfig(&v, "config", c)
	}
	if err := v.Err(op); err != nil {
		return Deployment{}, err
	}

	now := s.opts.Now().UTC()
	by, _ := auth.Actor(ctx, "")
	var prev workflow.Deployment
	mutate := func(d *workflow.Deployment) (workflow.Event, error) {
		if d.Status == workflow.StatusArchived {
			return workflow.Event{}, errors.Errorf(op, errors.FailedPrecondition, "deployment %s is ARCHIVED and cannot change", d.ID)
		}
		prev = *d
		prev.Triggers = slices.Clone(d.Triggers)
		if req.ExpectedVersion != 0 && d.Version != req.ExpectedVersion {
			return workflow.Event{}, errors.Errorf(op, errors.Aborted, "deployment %s is at version %d, not the expected %d", d.ID, d.Version, req.ExpectedVersion)
		}
		ev := workflow.Event{Action: workflow.ActionUpdate, FromStatus: d.Status, Actor: by}
		if apply[FieldStatus] {
			action, err := transition(d.Status, *req.Status)
			if err != nil {
				return workflow.Event{}, errors.E(op, err)
			}
			ev.Action = action
			if d.Status == workflow.StatusDraft {
				d.DeployedAt = &now
			}
			if action == workflow.ActionResume {
				// A resumed deployment counts its failures afresh.
				d.ConsecutiveFailures, d.PauseReason = 0, ""
			}
			d.Status = *req.Status
		}
		if apply[FieldDefinition] {
			if !apply[FieldTriggers] && derivedFrom(d) {
				d.Triggers = keepIDs(d.Triggers, derived)
			}
			d.Definition = def
		}
		if apply[FieldTriggers] {
			next := triggers
			if len(req.Triggers) == 0 {
				next = derived
				if !apply[FieldDefinition] {
					var cur map[string]any
					_ = json.Unmarshal(d.Definition, &cur)
					_, next = validateDefinition(&errors.Violations{}, cur)
				}
			}
			d.Triggers = keepIDs(d.Triggers, keepSecrets(d.Triggers, next))
		}
		if apply[FieldConfig] {
			d.Config = cfg
		}
		d.Version++
		ev.ToStatus, ev.Version = d.Status, d.Version
		return ev, nil
	}
	if req.ValidateOnly {
		d, err := s.store.GetDeployment(ctx, req.DeploymentID)
		if err == nil {
			_, err = mutate(d)
		}
		if err != nil {
			return Deployment{}, errors.E(op, err)
		}
		return s.dryRun(ctx, op, d)
	}
	d, err := s.store.UpdateDeployment(ctx, req.DeploymentID, mutate)
	if err != nil {
		return Deployment{}, errors.E(op, err)
	}
	if err := s.committed(ctx, op, d, &prev); err != nil {
		return Deployment{}, err
	}
	return s.viewOf(ctx, op, d)
}

func (s *service) Delete(ctx context.Context, req DeleteRequest) (Deployment, error) {
	const op errors.Op = "deployment.Delete"
	var v errors.Violations
	if validateDeploymentID(&v, req.DeploymentID); len(v) > 0 {
		return Deployment{}, v.Err(op)
	}
	by, _ := auth.Actor(ctx, "")
	var prev workflow.Deployment
	d, err := s.store.UpdateDeployment(ctx, req.DeploymentID, func(d *workflow.Deployment) (workflow.Event, error) {
		if d.Status == workflow.StatusArchived {
			return workflow.Event{}, errors.Errorf(op, errors.FailedPrecondition, "deployment %s is already ARCHIVED", d.ID)
		}
		prev = *d
		prev.Triggers = slices.Clone(d.Triggers)
		ev := workflow.Event{Action: workflow.ActionArchive, FromStatus: d.Status, ToStatus: workflow.StatusArchived, Version: d.Version + 1,
			Actor: by}
		d.Status, d.Version = workflow.StatusArchived, d.Version+1
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

func (s *service) Status(ctx context.Context, req StatusRequest) (StatusResponse, error) {
	const op errors.Op = "deployment.Status"
	var (
		d   *workflow.Deployment
		err error
	)
	var v errors.Violations
	validateOneOf(&v, req.DeploymentID, req.WorkflowID)
	if req.Version < 0 {
		v.Addf("version", "must not be negative")
	}
	if err := v.Err(op); err != nil {
		return StatusResponse{}, err
	}
	if req.DeploymentID != "" {
		d, err = s.store.GetDeployment(ctx, req.DeploymentID)
	} else {
		d, err = s.store.GetActiveDeployment(ctx, req.WorkflowID)
	}
	if err != nil {
		return StatusResponse{}, errors.E(op, err)
	}
	past := req.Version != 0 && req.Version != d.Version
	if past {
		v, err := s.store.GetDeploymentVersion(ctx, d.ID, req.Version)
		if err != nil {
			return StatusResponse{}, errors.E(op, err)
		}
		d.Version, d.Definition, d.Config, d.Triggers = v.Version, v.Definition, v.Config, v.Triggers
	}
	view, err := s.viewOf(ctx, op, d)
	if err != nil {
		return StatusResponse{}, err
	}
	if past {
		// Only the current version is scheduled: a past one's triggers
		// have no next fire, and their runs are the current triggers'.
		for i := range view.TriggerStatuses {
			ts := &view.TriggerStatuses[i]
			ts.NextFireTime, ts.RemainingRuns, ts.Ended = nil, nil, false
		}
		view.ScheduleEnded = false
	}
	resp := StatusResponse{Deployment: view}
	last, err := s.store.LastExecution(ctx, d.ID)
	switch {
	case err == nil:
		resp.LastExecution = last
	case !errors.Is(err, store.ErrNotFound):
		return StatusResponse{}, errors.E(op, err)
	}
	if resp.RunningExecutions, err = s.store.CountUnfinishedExecutions(ctx, d.ID); err != nil {
		return StatusResponse{}, errors.E(op, err)
	}
	return resp, nil
}

func (s *service) List(ctx context.Context, req ListRequest) (ListResponse, error) {
	const op errors.Op = "deployment.List"
	var v errors.Violations
	for i, st := range req.Statuses {
		if !slices.Contains([]workflow.DeploymentStatus{workflow.StatusDraft, workflow.StatusDeployed, workflow.StatusPaused, workflow.StatusArchived}, st) {
			v.Addf("statuses", "statuses[%d] %q is not a deployment status", i, st)
		}
	}
	if req.TriggerType != "" && !slices.Contains([]workflow.TriggerType{workflow.TriggerCron, workflow.TriggerWebhook, workflow.TriggerManual}, req.TriggerType) {
		v.Addf("trigger_type", "%q is not a trigger type", req.TriggerType)
	}
	if req.PageSize < 0 {
		v.Addf("page_size", "must not be negative")
	}
	if req.WorkflowID != "" {
		validateWorkflowID(&v, req.WorkflowID)
	}
	if err := v.Err(op); err != nil {
		return ListResponse{}, err
	}
	page, err := s.store.ListDeployments(ctx, workflow.ListFilter{
		Statuses: req.Statuses, WorkflowID: req.WorkflowID, TriggerType: req.TriggerType, Limit: workflow.PageLimit(req.PageSize), After: req.PageToken,
		MaxBytes: pageBudget,
	})
	if errors.Is(err, store.ErrBadCursor) {
		return ListResponse{}, errors.Violations{{Field: "page_token", Description: "is not a token this service issued"}}.Err(op)
	}
	if err != nil {
		return ListResponse{}, errors.E(op, err)
	}
	resp := ListResponse{NextPageToken: page.Next, TotalSize: page.Total, Deployments: make([]Deployment, len(page.Deployments))}
	for i := range page.Deployments {
		if resp.Deployments[i], err = s.viewOf(ctx, op, &page.Deployments[i]); err != nil {
			return ListResponse{}, err
		}
	}
	return resp, nil
}

// committed tells the notifier about d's committed change. When it fails, a
// compensating update puts back prev (or, for a new deployment, archives it),
// the notifier hears of that too, and the caller gets the failure.
func (s *service) committed(ctx context.Context, op errors.Op, d *workflow.Deployment, prev *workflow.Deployment) error {
	if s.opts.Notifier == nil {
		return nil
	}
	nerr := s.opts.Notifier.DeploymentChanged(ctx, d)
	if nerr == nil {
		return nil
	}
	// The undo must happen even when the caller has gone: it runs on its own clock.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	undone, err := s.store.UpdateDeployment(uctx, d.ID, func(cur *workflow.Deployment) (workflow.Event, error) {
		if cur.Version != d.Version {
			return workflow.Event{}, errors.Errorf(op, errors.Aborted, "deployment %s moved on to version %d; version %d is not undone", d.ID, cur.Version, d.Version)
		}
		ev := workflow.Event{Action: workflow.ActionRollback, FromStatus: cur.Status, Reason: "version " + strconv.FormatInt(d.Version, 10) + " undone: scheduling failed"}
		if prev == nil {
			cur.Status = workflow.StatusArchived
		} else {
			cur.Status, cur.Definition, cur.Config, cur.DeployedAt = prev.Status, prev.Definition, prev.Config, prev.DeployedAt
			cur.Triggers = keepIDs(cur.Triggers, clearIDs(prev.Triggers))
		}
		cur.Version++
		ev.ToStatus, ev.Version = cur.Status, cur.Version
		return ev, nil
	})
	if err != nil {
		return errors.E(op, errors.Unavailable, fmt.Errorf("%w; undoing the change failed too, the scheduler's resync will follow what is stored: %w", nerr, err))
	}
	// The notifier failed a moment ago; if it fails again, its resync catches up.
	_ = s.opts.Notifier.DeploymentChanged(uctx, undone)
	return errors.E(op, errors.Unavailable, fmt.Errorf("the change was undone because scheduling failed: %w", nerr))
}

// validateOneOf checks that exactly one of a deployment id and a workflow id
// names what a read is about, and that it is well formed.
func validateOneOf(v *errors.Violations, deploymentID, workflowID string) {
	switch {
	case (deploymentID == "") == (workflowID == ""):
		v.Addf("deployment_id", "set exactly one of deployment_id and workflow_id")
	case deploymentID != "":
		validateDeploymentID(v, deploymentID)
	default:
		validateWorkflowID(v, workflowID)
	}
}

// validateDeploymentID checks that id is a deployment id: this service only
// ever issues UUIDs.
func validateDeploymentID(v *errors.Violations, id string) {
	const field = "deployment_id"
	if id == "" {
		v.Addf(field, "must be set")
	} else if _, err := uuid.Parse(id); err != nil {
		v.Addf(field, "%q is not a deployment id (a UUID)", id)
	}
}

// fieldsToApply resolves the update mask; ok is false when the mask named an unknown field.
func fieldsToApply(v *errors.Violations, req UpdateRequest) (apply map[string]bool, ok bool) {
	apply = map[string]bool{}
	if len(req.Mask) == 0 {
		apply[FieldStatus] = req.Status != nil
		apply[FieldDefinition] = req.Definition != nil
		apply[FieldTriggers] = len(req.Triggers) > 0
		apply[FieldConfig] = req.Config != nil
		for f, on := range apply {
			if !on {
				delete(apply, f)
			}
		}
		return apply, true
	}
	ok = true
	for _, p := range req.Mask {
		switch p {
		case FieldStatus, FieldDefinition, FieldTriggers, FieldConfig:
			apply[p] = true
		default:
			v.Addf("update_mask", "unknown field %q: use status, workflow_definition, triggers or config", p)
			ok = false
		}
	}
	return apply, ok
}

// transition checks a status change asked for through Update and names its event.
func transition(from, to workflow.DeploymentStatus) (string, error) {
	switch {
	case from == workflow.StatusDeployed && to == workflow.StatusPaused:
		return workflow.ActionPause, nil
	case from == workflow.StatusPaused && to == workflow.StatusDeployed:
		return workflow.ActionResume, nil
	case from == workflow.StatusDraft && to == workflow.StatusDeployed:
		return workflow.ActionPromote, nil
	}
	return "", errors.Errorf("", errors.FailedPrecondition, "cannot change a %s deployment to %s", from, to)
}

// clearIDs drops caller-supplied trigger ids: they are output only.
func clearIDs(ts []workflow.Trigger) []workflow.Trigger {
	out := slices.Clone(ts)
	for i := range out {
		out[i].ID = ""
	}
	return out
}

// derivedFrom reports whether d's triggers are the ones its definition
// yields: then a new definition brings its own triggers with it.
func derivedFrom(d *workflow.Deployment) bool {
	var cur map[string]any
	if json.Unmarshal(d.Definition, &cur) != nil {
		return false
	}
	_, fromDef := validateDefinition(&errors.Violations{}, cur)
	if len(fromDef) != len(d.Triggers) {
		return false
	}
	for i := range fromDef {
		if !sameTrigger(fromDef[i], d.Triggers[i]) {
			return false
		}
	}
	return true
}

// keepSecrets gives a webhook trigger sent without secrets the secrets stored
// for its path. Secrets are never read back, so a client that sends back the
// triggers it read must not switch signature checks off by doing so.
func keepSecrets(current, next []workflow.Trigger) []workflow.Trigger {
	stored := map[string][]string{}
	for _, c := range current {
		if c.Webhook != nil && len(c.Webhook.Secrets) > 0 {
			stored[workflow.WebhookPathKey(c.Webhook.Path)] = c.Webhook.Secrets
		}
	}
	for i, n := range next {
		if n.Webhook == nil || len(n.Webhook.Secrets) > 0 {
			continue
		}
		if secrets, ok := stored[workflow.WebhookPathKey(n.Webhook.Path)]; ok {
			w := *n.Webhook
			w.Secrets = secrets
			next[i].Webhook = &w
		}
	}
	return next
}

// keepIDs gives each new trigger the id of an identical current one, so that
// a trigger that did not change keeps its identity (and its fired slots).
func keepIDs(current, next []workflow.Trigger) []workflow.Trigger {
	used := map[string]bool{}
	for i := range next {
		for _, c := range current {
			if !used[c.ID] && sameTrigger(c, next[i]) {
				next[i].ID, used[c.ID] = c.ID, true
				break
			}
		}
	}
	return next
}

// sameTrigger reports whether a and b differ only in their ids, comparing
// their specs as the store keeps them. A spec that cannot be encoded (a bound
// outside the years JSON times have) is the same as no other.
func sameTrigger(a, b workflow.Trigger) bool {
	ja, errA := json.Marshal([]any{a.Type, a.Cron, a.Webhook})
	jb, errB := json.Marshal([]any{b.Type, b.Cron, b.Webhook})
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// viewOf is view with the runs used by each cron trigger with max_runs,
// counted in the store.
func (s *service) viewOf(ctx context.Context, op errors.Op, d *workflow.Deployment) (Deployment, error) {
	out := s.view(d)
	for i := range out.TriggerStatuses {
		ts := &out.TriggerStatuses[i]
		c := ts.Trigger.Cron
		if c == nil || c.MaxRuns <= 0 {
			continue
		}
		var used int64
		if s.opts.Runs != nil && ts.Trigger.ID != "" {
			var err error
			if used, err = s.opts.Runs.CountSlotRuns(ctx, ts.Trigger.ID, maxTime); err != nil {
				return Deployment{}, errors.E(op, err)
			}
		}
		left := int32(max(int64(c.MaxRuns)-used, 0))
		ts.RemainingRuns = &left
		if left == 0 {
			ts.Ended, ts.NextFireTime = true, nil
		}
	}
	out.ScheduleEnded = scheduleEnded(out.TriggerStatuses)
	return out, nil
}

// maxTime is later than any slot.
var maxTime = time.Date(9999, time.December, 31, 0, 0, 0, 0, time.UTC)

// scheduleEnded reports whether there are cron triggers and all have ended.
func scheduleEnded(ts []TriggerStatus) bool {
	crons, ended := 0, 0
	for _, t := range ts {
		if t.Trigger.Cron != nil {
			crons++
			if t.Ended {
				ended++
			}
		}
	}
	return crons > 0 && ended == crons
}

// view adds what the scheduler derives from each trigger.
func (s *service) view(d *workflow.Deployment) Deployment {
	out := Deployment{Deployment: d, TriggerStatuses: make([]TriggerStatus, len(d.Triggers))}
	now := s.opts.Now()
	for i, t := range d.Triggers {
		ts := TriggerStatus{Trigger: t}
		switch {
		case t.Cron != nil:
			ts.JitterSeconds, ts.NextFireTime, ts.Ended = s.cronState(d.WorkflowID, t.Cron, now)
			if d.Status != workflow.StatusDeployed {
				ts.NextFireTime = nil
			}
		case t.Webhook != nil:
			ts.RequiresSignature = len(t.Webhook.Secrets) > 0
		}
		out.TriggerStatuses[i] = ts
	}
	out.ScheduleEnded = scheduleEnded(out.TriggerStatuses)
	return out
}

// cronState returns the workflow's jitter for spec's next fire and that
// fire's time, or that none is left: the scheduler's own trigger answers, so
// the two agree.
func (s *service) cronState(workflowID string, spec *workflow.CronSpec, now time.Time) (jitter int32, next *time.Time, ended bool) {
	trigger, err := s.cronTrigger(workflowID, spec)
	if err != nil {
		return 0, nil, false
	}
	slot, fire, err := trigger.NextFire(now)
	if err != nil {
		return 0, nil, errors.Is(err, cron.ErrEnded)
	}
	fire = fire.UTC()
	return int32(fire.Sub(slot) / time.Second), &fire, false
}

// cronTrigger is the trigger the scheduler fires for spec of workflowID.
func (s *service) cronTrigger(workflowID string, spec *workflow.CronSpec) (*cron.Trigger, error) {
	return cron.ForSpec(workflowID, spec, s.opts.JitterWindow)
}
