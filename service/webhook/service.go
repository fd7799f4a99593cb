package webhook

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"golang.org/x/time/rate"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	signature "github.com/workflow-runtime/workflow-runtime/pkg/webhook"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
)

// Store is what the service reads and writes directly.
type Store interface {
	GetExecution(ctx context.Context, id string) (*workflow.Execution, error)
	FindExecutionByKey(ctx context.Context, workflowID, key string) (*workflow.Execution, error)
	ExpireIdempotencyKey(ctx context.Context, id string, before time.Time) (bool, error)
	ListExecutions(ctx context.Context, f workflow.ExecutionFilter) (workflow.ExecutionPage, error)
}

// Executions records an execution and runs it (the coordinator).
type Executions interface {
	CreateExecution(ctx context.Context, e *workflow.Execution) (bool, error)
}

// Options tune the service; zero values take the defaults named below.
type Options struct {
	// RatePerWorkflow is the sustained webhook calls per second one workflow
	// may receive on this replica (default 100); Burst is its burst (default
	// twice the rate).
	RatePerWorkflow float64
	Burst           int
	// MaxSyncWaiting bounds the SYNC calls that wait for their execution at
	// once on this replica (default 200); past it a SYNC call is refused
	// with RESOURCE_EXHAUSTED before anything is recorded.
	MaxSyncWaiting int
	// Backlog, when set, bounds the executions waiting for the engine: a
	// call takes a place in it before anything is recorded, and a SYNC
	// call is refused when it would not leave it within its timeout.
	Backlog *coordination.Backlog
	Logger  log.Logger
	Now     func() time.Time
}

// Defaults of the webhook contract (API.md WebhookSpec).
const (
	defaultSyncTimeout = 30 * time.Second
	// idempotencyWindow is how long a key names the same execution.
	idempotencyWindow = 24 * time.Hour
	defaultMethod     = "POST"
	// minSyncPoll and maxSyncPoll bound the wait between two reads of an
	// execution a SYNC call waits for.
	minSyncPoll = 10 * time.Millisecond
	maxSyncPoll = 250 * time.Millisecond
)

// ResolveRequest asks which deployment a webhook path reaches.
type ResolveRequest struct {
	Path   string
	Method string
}

// Service serves webhook triggers: ResolveWebhook and the webhook side of
// TriggerWorkflow.
type Service struct {
	index *Index
	store Store
	exec  Executions
	opts  Options

	limiters sync.Map // workflow id -> *rate.Limiter
	// syncSlots holds a token per waiting SYNC call.
	syncSlots chan struct{}
}

// New returns the service over index, st and exec.
func New(index *Index, st Store, exec Executions, opts Options) *Service {
	if opts.RatePerWorkflow <= 0 {
		opts.RatePerWorkflow = 100
	}
	if opts.Burst <= 0 {
		opts.Burst = int(2 * opts.RatePerWorkflow)
	}
	if opts.MaxSyncWaiting <= 0 {
		opts.MaxSyncWaiting = 200
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{index: index, store: st, exec: exec, opts: opts, syncSlots: make(chan struct{}, opts.MaxSyncWaiting)}
}

// Resolve names the active deployment and trigger that a webhook path
// reaches; with a method, it must be one the trigger accepts.
func (s *Service) Resolve(_ context.Context, req ResolveRequest) (workflow.WebhookTrigger, error) {
	const op errors.Op = "webhook.Resolve"
	if req.Method != "" {
		if p := workflow.TokenProblem(req.Method); p != "" {
			return workflow.WebhookTrigger{}, errors.Violations{{Field: "method", Description: p}}.Err(op)
		}
	}
	wt, err := s.lookup(op, req.Path, "path")
	if err != nil {
		return workflow.WebhookTrigger{}, err
	}
	if req.Method != "" {
		if err := checkMethod(op, wt, req.Method); err != nil {
			return workflow.WebhookTrigger{}, err
		}
	}
	return wt, nil
}

// lookup finds the trigger of path, which it checks first: the index is
// keyed by valid paths, and a path that is not one reaches nothing.
func (s *Service) lookup(op errors.Op, path, field string) (workflow.WebhookTrigger, error) {
	p, err := workflow.NormalizeWebhookPath(path)
	if err != nil {
		return workflow.WebhookTrigger{}, errors.Violations{{Field: field, Description: err.Error()}}.Err(op)
	}
	if wt, ok := s.index.Lookup(p); ok {
		return wt, nil
	}
	return workflow.WebhookTrigger{}, errors.Errorf(op, errors.NotFound, "no active deployment has webhook path %q", p)
}

func checkMethod(op errors.Op, wt workflow.WebhookTrigger, method string) error {
	allowed := wt.Spec.Methods
	if len(allowed) == 0 {
		allowed = []string{defaultMethod}
	}
	if !slices.ContainsFunc(allowed, func(m string) bool { return strings.EqualFold(m, method) }) {
		return errors.Errorf(op, errors.FailedPrecondition, "method %s is not allowed on webhook path %q; allowed: %s",
			strings.ToUpper(method), wt.Spec.Path, strings.Join(allowed, ", "))
	}
	return nil
}

// Trigger runs a webhook call forwarded by the API Gateway: it checks every
// field (TriggerRequest.Check), resolves the path (or the workflow's webhook
// trigger), checks the method and the signature, dedupes on the idempotency key (or the webhook-id
// header; always the webhook-id of a signed call), records the execution
// with the payload as it came, and answers at once (ASYNC) or when the
// execution ends (SYNC).
func (s *Service) Trigger(ctx context.Context, req coordination.TriggerRequest) (coordination.TriggerResponse, error) {
	const op errors.Op = "webhook.Trigger"
	var v errors.Violations
	if req.WebhookPath == "" && req.WorkflowID == "" {
		v.Addf("webhook_path", "is required, or workflow_id")
	}
	req.Check(&v)
	if err := v.Err(op); err != nil {
		return coordination.TriggerResponse{}, err
	}
	var (
		wt  workflow.WebhookTrigger
		err error
	)
	if req.WebhookPath != "" {
		wt, err = s.lookup(op, req.WebhookPath, "webhook_path")
	} else if w, ok := s.index.LookupWorkflow(req.WorkflowID); ok {
		wt = w
	} else {
		err = errors.Errorf(op, errors.NotFound, "workflow %s has no active deployment with a webhook trigger", req.WorkflowID)
	}
	if err != nil {
		return coordination.TriggerResponse{}, err
	}
	if wt.DeploymentStatus != workflow.StatusDeployed {
		return coordination.TriggerResponse{}, errors.Errorf(op, errors.FailedPrecondition,
			"deployment %s of workflow %s is %s; only a DEPLOYED deployment runs", wt.DeploymentID, wt.WorkflowID, wt.DeploymentStatus)
	}
	if err := checkMethod(op, wt, cmp.Or(req.HTTPMethod, defaultMethod)); err != nil {
		return coordination.TriggerResponse{}, err
	}
	id, err := signature.Header(req.Headers, signature.HeaderID)
	if err != nil {
		return coordination.TriggerResponse{}, headerError(op, err)
	}
	signed := len(wt.Spec.Secrets) > 0
	if signed {
		if err := signature.Verify(req.Headers, []byte(req.TriggerData), wt.Spec.Secrets, s.opts.Now()); err != nil {
			return coordination.TriggerResponse{}, headerError(op, err)
		}
	}
	// A signature covers the webhook-id, not the caller's key: a signed call
	// is deduplicated on the id it signed, so that replaying it with a fresh
	// key within the signature's tolerance starts nothing new.
	key, keyField := req.IdempotencyKey, "idempotency_key"
	if signed || key == "" {
		key, keyField = id, "headers."+signature.HeaderID
	}
	if p := workflow.IdempotencyKeyText.Problem(key); p != "" {
		return coordination.TriggerResponse{}, errors.Violations{{Field: keyField, Description: p}}.Err(op)
	}
	if !s.limiter(wt.WorkflowID).Allow() {
		return coordination.TriggerResponse{}, errors.Errorf(op, errors.ResourceExhausted,
			"workflow %s receives more than %g webhook calls per second", wt.WorkflowID, s.opts.RatePerWorkflow)
	}
	var timeout time.Duration
	if wt.Spec.ResponseMode == workflow.ResponseSync {
		select {
		case s.syncSlots <- struct{}{}:
			defer func() { <-s.syncSlots }()
		default:
			return coordination.TriggerResponse{}, errors.Errorf(op, errors.ResourceExhausted,
				"%d SYNC webhook calls already wait on this replica: retry later, or trigger ASYNC and read the execution", s.opts.MaxSyncWaiting)
		}
		timeout = defaultSyncTimeout
		if wt.Spec.SyncTimeoutSeconds > 0 {
			timeout = time.Duration(wt.Spec.SyncTimeoutSeconds) * time.Second
		}
	}
	room, err := s.opts.Backlog.Reserve(wt.WorkflowID, timeout)
	if err != nil {
		return coordination.TriggerResponse{}, errors.E(op, err)
	}

	e, dedup, err := s.record(ctx, wt, req, key)
	room.Keep(err == nil && !dedup)
	if err != nil {
		return coordination.TriggerResponse{}, errors.E(op, err)
	}
	resp := coordination.TriggerResponse{Execution: *e, Deduplicated: dedup}
	if wt.Spec.ResponseMode != workflow.ResponseSync {
		return resp, nil
	}
	done, err := s.wait(ctx, e.ID, timeout)
	if err != nil {
		return coordination.TriggerResponse{}, errors.E(op, err)
	}
	resp.Execution = *done
	resp.ResultData = string(done.Result)
	return resp, nil
}

// record writes the execution, or finds the one the key names: a key older
// than the idempotency window is freed and starts a new execution.
func (s *Service) record(ctx context.Context, wt workflow.WebhookTrigger, req coordination.TriggerRequest, key string) (*workflow.Execution, bool, error) {
	for range 2 {
		e := &workflow.Execution{
			WorkflowID: wt.WorkflowID, DeploymentID: wt.DeploymentID, DeploymentVersion: wt.DeploymentVersion,
			TriggerID: wt.TriggerID, TriggerType: workflow.TriggerWebhook, FiredTime: s.opts.Now().UTC(),
			TraceID: cmp.Or(tracing.TraceID(ctx), tracing.NewID()), IdempotencyKey: key,
			TriggeredBy: "webhook:" + wt.Spec.Path,
		}
		if strings.TrimSpace(req.TriggerData) != "" {
			e.Input = []byte(req.TriggerData)
		}
		created, err := s.exec.CreateExecution(ctx, e)
		switch {
		case err != nil:
			return nil, false, err
		case created:
			level.Info(s.opts.Logger).Log("msg", "webhook_triggered", "workflow_id", e.WorkflowID, "deployment_id", e.DeploymentID,
				"execution_id", e.ID, "trace_id", e.TraceID, "path", wt.Spec.Path)
			return e, false, nil
		case key == "":
			return nil, false, errors.Errorf("", errors.FailedPrecondition,
				"deployment %s of workflow %s stopped being DEPLOYED while it was triggered", wt.DeploymentID, wt.WorkflowID)
		}
		prev, err := s.store.FindExecutionByKey(ctx, wt.WorkflowID, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, false, errors.Errorf("", errors.FailedPrecondition,
				"deployment %s of workflow %s stopped being DEPLOYED while it was triggered", wt.DeploymentID, wt.WorkflowID)
		case err != nil:
			return nil, false, err
		}
		cutoff := s.opts.Now().Add(-idempotencyWindow)
		if !prev.FiredTime.Before(cutoff) {
			return prev, true, nil
		}
		if _, err := s.store.ExpireIdempotencyKey(ctx, prev.ID, cutoff); err != nil {
			return nil, false, err
		}
	}
	return nil, false, errors.Errorf("", errors.Aborted, "idempotency key %q kept changing; try again", key)
}

// wait reads execution id until its run ends, its retries included, or
// timeout passes; the caller then gets DEADLINE_EXCEEDED with the id of the
// attempt it waited for, to look it up later.
func (s *Service) wait(ctx context.Context, id string, timeout time.Duration) (*workflow.Execution, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := minSyncPoll
	for {
		e, err := s.store.GetExecution(ctx, id)
		if err == nil && e.Status.Terminal() {
			next, err := s.retriedBy(ctx, e)
			switch {
			case err == nil && next == "":
				return e, nil
			case err == nil:
				// The retry is the run's answer now: it is waited for at once.
				id, delay = next, minSyncPoll
				continue
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("execution %s did not end within %v; read it with GetExecution: %w", id, timeout, context.DeadlineExceeded)
		case <-t.C:
		}
		delay = min(2*delay, maxSyncPoll)
	}
}

// maxAttempts is the most attempts a run may make (the retry policy's
// bound): one page holds them all.
const maxAttempts = 100

// retriedBy returns the attempt that followed ended execution e, or "" when
// e is its run's last: a retry is written in the same transaction as the
// end of the attempt it follows, so that once e has ended its retry, if
// any, is there to be read.
func (s *Service) retriedBy(ctx context.Context, e *workflow.Execution) (string, error) {
	if e.Status == workflow.ExecutionSucceeded {
		return "", nil
	}
	page, err := s.store.ListExecutions(ctx, workflow.ExecutionFilter{WorkflowID: e.WorkflowID, FirstAttemptID: e.FirstAttemptID, Limit: maxAttempts})
	if err != nil {
		return "", err
	}
	for _, x := range page.Executions {
		if x.Attempt == e.Attempt+1 {
			return x.ID, nil
		}
	}
	return "", nil
}

func (s *Service) limiter(workflowID string) *rate.Limiter {
	if l, ok := s.limiters.Load(workflowID); ok {
		return l.(*rate.Limiter)
	}
	l, _ := s.limiters.LoadOrStore(workflowID, rate.NewLimiter(rate.Limit(s.opts.RatePerWorkflow), s.opts.Burst))
	return l.(*rate.Limiter)
}

// headerError answers a signature that does not verify, or headers that say
// two things at once.
func headerError(op errors.Op, err error) error {
	if errors.Is(err, signature.ErrAmbiguousHeader) {
		return errors.Violations{{Field: "headers", Description: err.Error()}}.Err(op)
	}
	return errors.E(op, errors.PermissionDenied, err)
}
