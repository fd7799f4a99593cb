// Package coordination turns triggers into executions in the workflow engine
// and answers for them: it dispatches each execution under its deployment's
// overlap policy, follows it to its end, cancels it on request, and reads
// one execution or the history.
package coordination

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Service answers for executions, free of transport types.
type Service interface {
	GetExecution(ctx context.Context, req GetRequest) (GetResponse, error)
	History(ctx context.Context, req HistoryRequest) (HistoryResponse, error)
	Trigger(ctx context.Context, req TriggerRequest) (TriggerResponse, error)
	Cancel(ctx context.Context, req CancelRequest) (workflow.Execution, error)
}

// GetRequest names one execution.
type GetRequest struct {
	ExecutionID string
	// IncludeDefinition asks for the deployment version the execution ran.
	IncludeDefinition bool
}

// GetResponse is one execution, with the deployment version it ran when
// asked for.
type GetResponse struct {
	workflow.Execution
	Version *workflow.DeploymentVersion
}

// HistoryRequest filters and pages the execution history, newest first.
type HistoryRequest struct {
	WorkflowID   string
	DeploymentID string
	Statuses     []workflow.ExecutionStatus
	TriggerType  workflow.TriggerType
	// StartTime (inclusive) and EndTime (exclusive) bound fired_time; zero means unbounded.
	StartTime, EndTime time.Time
	PageSize           int32
	PageToken          string
	// FirstAttemptID selects the attempts of one run.
	FirstAttemptID string
}

// HistoryResponse is one page of the history.
type HistoryResponse struct {
	Executions    []workflow.Execution
	NextPageToken string
}

var (
	executionStatuses = []workflow.ExecutionStatus{workflow.ExecutionPending, workflow.ExecutionRunning, workflow.ExecutionSucceeded,
		workflow.ExecutionFailed, workflow.ExecutionCancelled, workflow.ExecutionTimedOut, workflow.ExecutionSkipped}
	triggerTypes = []workflow.TriggerType{workflow.TriggerCron, workflow.TriggerWebhook, workflow.TriggerManual}
)

// GetExecution returns the execution req names: Invalid when its id is not
// a UUID, NotFound when no execution has it.
func (s *Coordinator) GetExecution(ctx context.Context, req GetRequest) (GetResponse, error) {
	const op errors.Op = "coordination.GetExecution"
	if _, err := uuid.Parse(req.ExecutionID); err != nil {
		return GetResponse{}, errors.Violations{{Field: "execution_id", Description: "must be an execution id (a UUID)"}}.Err(op)
	}
	e, err := s.store.GetExecution(ctx, req.ExecutionID)
	if err != nil {
		return GetResponse{}, errors.E(op, err)
	}
	resp := GetResponse{Execution: *e}
	if req.IncludeDefinition {
		// Of the versions written before the store kept them all, only the
		// then current one is there: an execution of another has none to give.
		v, err := s.store.GetDeploymentVersion(ctx, e.DeploymentID, e.DeploymentVersion)
		switch {
		case err == nil:
			resp.Version = v
		case !errors.Is(err, store.ErrNotFound):
			return GetResponse{}, errors.E(op, err)
		}
	}
	return resp, nil
}

// History returns a page of the executions that match req's filters,
// newest first. Every bad filter is reported at once, as Invalid; so is a
// page token this service did not issue.
func (s *Coordinator) History(ctx context.Context, req HistoryRequest) (HistoryResponse, error) {
	const op errors.Op = "coordination.History"
	var v errors.Violations
	if req.WorkflowID != "" {
		if p := workflow.IDProblem(req.WorkflowID); p != "" {
			v.Addf("workflow_id", "%s", p)
		}
	}
	if req.DeploymentID != "" {
		if _, err := uuid.Parse(req.DeploymentID); err != nil {
			v.Addf("deployment_id", "must be a deployment id (a UUID)")
		}
	}
	for i, st := range req.Statuses {
		if !slices.Contains(executionStatuses, st) {
			v.Addf("statuses", "statuses[%d] %q is not an execution status", i, st)
		}
	}
	if req.FirstAttemptID != "" {
		if _, err := uuid.Parse(req.FirstAttemptID); err != nil {
			v.Addf("first_attempt_id", "must be an execution id (a UUID)")
		}
	}
	if req.TriggerType != "" && !slices.Contains(triggerTypes, req.TriggerType) {
		v.Addf("trigger_type", "%q is not a trigger type", req.TriggerType)
	}
	if !req.StartTime.IsZero() && !req.EndTime.IsZero() && !req.EndTime.After(req.StartTime) {
		v.Addf("end_time", "must be after start_time")
	}
	if req.PageSize < 0 {
		v.Addf("page_size", "must not be negative")
	}
	if err := v.Err(op); err != nil {
		return HistoryResponse{}, err
	}
	page, err := s.store.ListExecutions(ctx, workflow.ExecutionFilter{
		WorkflowID: req.WorkflowID, DeploymentID: req.DeploymentID, Statuses: req.Statuses, TriggerType: req.TriggerType,
		From: req.StartTime, To: req.EndTime, Limit: workflow.PageLimit(req.PageSize), After: req.PageToken,
		FirstAttemptID: req.FirstAttemptID,
	})
	if errors.Is(err, store.ErrBadCursor) {
		return HistoryResponse{}, errors.Violations{{Field: "page_token", Description: "is not a token this service issued"}}.Err(op)
	}
	if err != nil {
		return HistoryResponse{}, errors.E(op, err)
	}
	return HistoryResponse{Executions: page.Executions, NextPageToken: page.Next}, nil
}
