package coordination

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log/level"
	"github.com/google/uuid"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Limits on trigger requests (ARCHITECTURE "Webhooks", API.md).
const (
	maxPayloadBytes   = 1 << 20
	maxPayloadDepth   = 64
	defaultTriggerer  = "manual"
	defaultCancelNote = "cancelled by request"
)

// TriggerRequest starts an execution of a workflow's active deployment.
type TriggerRequest struct {
	WorkflowID string
	// TriggerData is the payload, JSON text passed to the engine as it is;
	// empty means {}.
	TriggerData    string
	WebhookPath    string
	IdempotencyKey string
	TriggerType    workflow.TriggerType
	TriggeredBy    string
	// Headers and HTTPMethod are the forwarded webhook call's.
	Headers    map[string]string
	HTTPMethod string
	// OverlapPolicy, when set, overrides the deployment's for this manual
	// run only.
	OverlapPolicy string
}

// overlapPolicies are the policies a manual trigger may override with.
var overlapPolicies = []string{workflow.OverlapSkip, workflow.OverlapAllowAll, workflow.OverlapBufferOne,
	workflow.OverlapCancelOther, workflow.OverlapBufferAll}

// TriggerResponse names the execution a trigger started, or the one it
// repeated (Deduplicated: the idempotency key matched it).
type TriggerResponse struct {
	Execution    workflow.Execution
	Deduplicated bool
	// ResultData is the engine's result, as JSON text, of an execution a
	// SYNC webhook waited for.
	ResultData string
	// Admission is what the overlap policy did with a new execution.
	Admission Admission
}

// Admission is what a new execution's overlap policy did with it: the
// first decision of its run.
type Admission string

// Admissions; empty when the run did not tell within Options.AdmissionWait.
const (
	// AdmissionStarted: the run goes to the engine now.
	AdmissionStarted Admission = "STARTED"
	// AdmissionWaiting: the run waits PENDING for its turn or a slot.
	AdmissionWaiting Admission = "WAITING"
	// AdmissionSkipped: the run was SKIPPED (see its skip_reason).
	AdmissionSkipped Admission = "SKIPPED"
)

// admission waits for the admission of execution id's run on this replica.
func (s *Coordinator) admission(ctx context.Context, id string) Admission {
	s.mu.Lock()
	h := s.owned[id]
	s.mu.Unlock()
	if h == nil {
		// The run is over already: its row tells.
		e, err := s.store.GetExecution(ctx, id)
		switch {
		case err != nil, e.Status == workflow.ExecutionPending:
			return ""
		case e.Status == workflow.ExecutionSkipped:
			return AdmissionSkipped
		}
		return AdmissionStarted
	}
	t := time.NewTimer(s.opts.AdmissionWait)
	defer t.Stop()
	select {
	case a := <-h.admitted:
		return a
	case <-ctx.Done():
	case <-t.C:
	}
	return ""
}

// CancelRequest names an execution to cancel.
type CancelRequest struct {
	ExecutionID string
	Reason      string
}

// IsWebhook reports whether req is a webhook trigger, for the webhook
// service, rather than a manual one (API.md: UNSPECIFIED is WEBHOOK when a
// webhook path is given).
func (req TriggerRequest) IsWebhook() bool {
	return req.TriggerType == workflow.TriggerWebhook || (req.TriggerType == "" && req.WebhookPath != "")
}

// Check records what is wrong with the fields that every trigger may carry,
// whichever service serves it, so that none reaches a row or a log unchecked:
// the payload, the ids and the text fields under their workflow.TextRule,
// the forwarded method and header names as HTTP tokens. What a trigger
// requires is each service's to check.
func (req TriggerRequest) Check(v *errors.Violations) {
	if req.WorkflowID != "" {
		if p := workflow.IDProblem(req.WorkflowID); p != "" {
			v.Addf("workflow_id", "%s", p)
		}
	}
	if req.WebhookPath != "" {
		if _, err := workflow.NormalizeWebhookPath(req.WebhookPath); err != nil {
			v.Addf("webhook_path", "%v", err)
		}
	}
	switch {
	case req.OverlapPolicy == "":
	case req.IsWebhook():
		// The gateway's callers are not the deployment's owners: a webhook
		// call never chooses how its run overlaps.
		v.Addf("overlap_policy", "a webhook trigger runs under its deployment's policy; an override is for manual triggers")
	case !slices.Contains(overlapPolicies, req.OverlapPolicy):
		v.Addf("overlap_policy", "%q is not an overlap policy", req.OverlapPolicy)
	}
	if p := PayloadProblem([]byte(req.TriggerData)); p != "" {
		v.Addf("trigger_data", "%s", p)
	}
	workflow.IdempotencyKeyText.Check(v, "idempotency_key", req.IdempotencyKey)
	workflow.ActorText.Check(v, "triggered_by", req.TriggeredBy)
	if req.HTTPMethod != "" {
		if p := workflow.TokenProblem(req.HTTPMethod); p != "" {
			v.Addf("http_method", "%s", p)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(req.Headers)) {
		if p := workflow.TokenProblem(name); p != "" {
			// The name is cut short: it is the sender's, of any length.
			v.Addf("headers", "name %.40q %s", name, p)
			continue
		}
		workflow.HeaderValueText.Check(v, "headers."+name, req.Headers[name])
	}
}

// Trigger records a PENDING manual execution and dispatches it; webhook
// triggers go to the webhook service, which checks what they carry first.
func (s *Coordinator) Trigger(ctx context.Context, req TriggerRequest) (TriggerResponse, error) {
	const op errors.Op = "coordination.Trigger"
	if req.IsWebhook() {
		return TriggerResponse{}, errors.E(op, errors.Invalid, "a webhook trigger is for the webhook service")
	}
	var v errors.Violations
	if req.WorkflowID == "" {
		v.Addf("workflow_id", "is required")
	}
	if req.TriggerType != "" && req.TriggerType != workflow.TriggerManual {
		v.Addf("trigger_type", "%q cannot be triggered by a call; use MANUAL", req.TriggerType)
	}
	req.Check(&v)
	if err := v.Err(op); err != nil {
		return TriggerResponse{}, err
	}
	room, err := s.opts.Backlog.Reserve(req.WorkflowID, 0)
	if err != nil {
		return TriggerResponse{}, errors.E(op, err)
	}

	// The row goes to the workflow's DEPLOYED deployment in the same
	// statement; only a trigger that writes nothing reads why.
	by, onBehalfOf := auth.Actor(ctx, req.TriggeredBy)
	e := &workflow.Execution{
		WorkflowID: req.WorkflowID, TriggerType: workflow.TriggerManual, FiredTime: s.opts.Now().UTC(),
		TraceID: cmp.Or(tracing.TraceID(ctx), tracing.NewID()), IdempotencyKey: req.IdempotencyKey,
		TriggeredBy: cmp.Or(by, defaultTriggerer), OnBehalfOf: onBehalfOf, OverlapPolicy: req.OverlapPolicy,
	}
	if len(bytes.TrimSpace([]byte(req.TriggerData))) > 0 {
		e.Input = json.RawMessage(req.TriggerData)
	}
	created, queued, err := s.create(ctx, e)
	room.Keep(created && err == nil)
	if err != nil {
		return TriggerResponse{}, errors.E(op, err)
	}
	if created {
		level.Info(s.opts.Logger).Log("msg", "workflow_triggered", "workflow_id", e.WorkflowID, "deployment_id", e.DeploymentID,
			"execution_id", e.ID, "trace_id", e.TraceID, "trigger_type", e.TriggerType, "triggered_by", e.TriggeredBy, "queued", queued)
		if queued {
			// Its overlap is decided when a replica claims it: the answer
			// does not wait for that.
			return TriggerResponse{Execution: *e}, nil
		}
		return TriggerResponse{Execution: *e, Admission: s.admission(ctx, e.ID)}, nil
	}
	if req.IdempotencyKey != "" {
		prev, err := s.store.FindExecutionByKey(ctx, req.WorkflowID, req.IdempotencyKey)
		if err == nil {
			return TriggerResponse{Execution: *prev, Deduplicated: true}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return TriggerResponse{}, errors.E(op, err)
		}
	}
	d, err := s.store.GetActiveDeployment(ctx, req.WorkflowID)
	if err != nil {
		return TriggerResponse{}, errors.E(op, err)
	}
	if d.Status != workflow.StatusDeployed {
		return TriggerResponse{}, errors.Errorf(op, errors.FailedPrecondition,
			"deployment %s of workflow %s is %s; only a DEPLOYED deployment runs", d.ID, d.WorkflowID, d.Status)
	}
	return TriggerResponse{}, errors.Errorf(op, errors.Aborted,
		"deployment %s of workflow %s changed while it was triggered; try again", d.ID, d.WorkflowID)
}

// PayloadProblem says what is wrong with a trigger payload, or returns "":
// it must be empty or a JSON object, at most 1 MiB and 64 levels deep.
func PayloadProblem(p []byte) string {
	switch {
	case len(p) > maxPayloadBytes:
		return fmt.Sprintf("is %d bytes long; at most %d", len(p), maxPayloadBytes)
	case len(bytes.TrimSpace(p)) == 0:
		return ""
	case !utf8.Valid(p) || !json.Valid(p):
		return "is not JSON"
	case bytes.TrimLeft(p, " \t\r\n")[0] != '{':
		return "must be a JSON object"
	case depth(p) > maxPayloadDepth:
		return fmt.Sprintf("is nested more than %d levels deep", maxPayloadDepth)
	}
	return ""
}

// depth returns the deepest nesting of objects and arrays in valid JSON p,
// skipping the insides of strings.
func depth(p []byte) int {
	deepest, level, inString, escaped := 0, 0, false, false
	for _, b := range p {
		switch {
		case escaped:
			escaped = false
		case inString && b == '\\':
			escaped = true
		case b == '"':
			inString = !inString
		case inString:
		case b == '{' || b == '[':
			level++
			deepest = max(deepest, level)
		case b == '}' || b == ']':
			level--
		}
	}
	return deepest
}

// errAlreadyOver is in the chain of a cancellation of an execution that had
// already ended.
var errAlreadyOver = errors.New("execution is already over")

// Cancel stops an execution: a PENDING one that waits for its turn is not
// dispatched; any other is stopped in the engine first, a PENDING one found
// there by its idempotency key; either ends CANCELLED. While the engine
// cannot answer, nothing changes and the error is Unavailable.
func (s *Coordinator) Cancel(ctx context.Context, req CancelRequest) (workflow.Execution, error) {
	const op errors.Op = "coordination.Cancel"
	var v errors.Violations
	if _, err := uuid.Parse(req.ExecutionID); err != nil {
		v.Addf("execution_id", "must be an execution id (a UUID)")
	}
	workflow.ReasonText.Check(&v, "reason", req.Reason)
	if err := v.Err(op); err != nil {
		return workflow.Execution{}, err
	}
	reason := req.Reason
	if reason == "" {
		reason = defaultCancelNote
	}
	e, err := s.cancel(ctx, req.ExecutionID, reason)
	switch {
	case errors.Is(err, errAlreadyOver):
		return workflow.Execution{}, errors.E(op, errors.FailedPrecondition, err)
	case errors.KindOf(err) != errors.Internal:
		return workflow.Execution{}, errors.E(op, err)
	case err != nil:
		return workflow.Execution{}, errors.E(op, err)
	}
	level.Info(s.opts.Logger).Log("msg", "execution_cancelled", "execution_id", e.ID, "workflow_id", e.WorkflowID,
		"trace_id", tracing.TraceID(ctx), "reason", reason)
	return *e, nil
}

// maxCancelRounds bounds how often a cancellation reads the execution again
// because it changed in between (PENDING became RUNNING, say).
const maxCancelRounds = 5

// cancel ends execution id as CANCELLED, from whichever replica: the engine
// first, then the row, by compare-and-set, then the workflow lock, so that
// the workflow is free at once and the engine runs nothing of it meanwhile.
// The owner's run finds the row changed and steps aside.
func (s *Coordinator) cancel(ctx context.Context, id, reason string) (*workflow.Execution, error) {
	var (
		asked bool           // the engine has been asked, and stops or never ran the execution
		eng   string         // the engine's run of the execution, once known
		ended *engine.Status // the engine's own end, when it declined because the execution had ended
	)
	for range maxCancelRounds {
		e, err := s.store.GetExecution(ctx, id)
		if err != nil {
			return nil, err
		}
		if e.Status.Terminal() {
			if asked && e.Status == workflow.ExecutionCancelled {
				// The owner's run recorded the engine's answer to our request first.
				return e, nil
			}
			return e, fmt.Errorf("execution %s is %s: %w", id, e.Status, errAlreadyOver)
		}
		now := s.opts.Now().UTC()
		t := store.Transition{
			From: []workflow.ExecutionStatus{e.Status}, To: workflow.ExecutionCancelled,
			FinishedTime: &now, ErrorMessage: "cancelled: " + reason,
		}
		if !asked {
			// A queued execution (never claimed) has not been sent either. One
			// claimed and sent between this read and the compare-and-set is
			// cancelled in the engine by its run, which finds its row ended
			// without the engine's run (lostRow).
			waiting, err := e.Status == workflow.ExecutionPending && e.OwnerInstance == "", error(nil)
			if !waiting {
				waiting, err = s.waitsForTurn(ctx, e)
			}
			switch {
			case err != nil:
				return nil, err
			case waiting:
				// Ended only if it still waits, in the same compare-and-set.
				t.WithoutTurn = true
			default:
				if eng, ended, err = s.stopInEngine(ctx, e, reason); err != nil {
					return nil, err
				}
				asked = true
			}
		}
		if ended != nil {
			t = finish(t, *ended, now)
		}
		t.EngineExecutionID = eng
		row, err := s.store.TransitionExecution(ctx, id, t)
		switch {
		case errors.Is(err, store.ErrStale):
			continue
		case err != nil:
			return nil, err
		}
		s.newRun(*row).finished()
		if row.Status != workflow.ExecutionCancelled {
			return row, fmt.Errorf("execution %s ended %s before it could be cancelled: %w", id, row.Status, errAlreadyOver)
		}
		return row, nil
	}
	return nil, errors.Errorf("", errors.Aborted, "execution %s kept changing while it was cancelled; try again", id)
}

// waitsForTurn reports whether e is a PENDING execution that waits for its
// workflow's turn or a slot, and so has not been sent to the engine: its
// policy takes turns or slots (unbounded ALLOW_ALL dispatches at once) and
// it holds none.
func (s *Coordinator) waitsForTurn(ctx context.Context, e *workflow.Execution) (bool, error) {
	if e.Status != workflow.ExecutionPending || e.HoldsTurn || e.HoldsSlot {
		return false, nil
	}
	info, err := s.deployments.get(ctx, e.DeploymentID, e.DeploymentVersion)
	if err != nil {
		return false, err
	}
	dep := forRun(info, *e)
	return dep.policy != workflow.OverlapAllowAll || dep.maxConcurrency > 0, nil
}

// stopInEngine cancels execution e in the engine and returns the engine's
// run of it. A PENDING execution may be there although its owner has not
// heard back: the engine's run of it is found by dispatching it again with
// its idempotency key, which starts it if it never arrived (to be cancelled
// at once), since no other call of the contract can tell. ended is the
// engine's account when the execution had ended before it could be
// cancelled.
func (s *Coordinator) stopInEngine(ctx context.Context, e *workflow.Execution, reason string) (eng string, ended *engine.Status, err error) {
	eng = e.EngineExecutionID
	if e.Status == workflow.ExecutionPending {
		dep, err := s.deployments.get(ctx, e.DeploymentID, e.DeploymentVersion)
		if err != nil {
			return "", nil, err
		}
		acc, err := s.engine.Execute(ctx, executeRequest(*e, dep))
		switch {
		case errors.Is(err, engine.ErrRejected):
			// The engine refuses to run it: there is nothing to stop.
			return "", nil, nil
		case err != nil:
			return "", nil, errors.E(errors.Unavailable, fmt.Errorf("execution %s may be in the engine, which could not be asked; nothing was changed: %w", e.ID, err))
		case acc.Status.Terminal():
			return acc.EngineExecutionID, &acc.Status, nil
		}
		eng = acc.EngineExecutionID
	}
	err = s.engine.Cancel(ctx, eng, reason)
	if err == nil {
		return eng, nil, nil
	}
	if !errors.Is(err, engine.ErrRejected) {
		return "", nil, err
	}
	// The engine could not cancel: it has usually just finished. Record its
	// end, as the owner's run will, and say so.
	st, serr := s.engine.Status(ctx, eng)
	if serr != nil || !st.Terminal() {
		return "", nil, errors.E(errors.FailedPrecondition, err)
	}
	return eng, &st, nil
}
