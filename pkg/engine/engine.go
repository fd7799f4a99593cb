// Package engine is the runtime's side of the workflow engine contract
// (API.md §3): it dispatches executions to the engine, follows them and
// cancels them. Client is what the execution coordinator depends on; NewGRPC
// speaks the contract over gRPC.
package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// Client is a workflow engine as the execution coordinator sees it. Errors
// carry a kind from pkg/errors: Unavailable when the engine could not be
// reached (the coordinator keeps the execution PENDING and dispatches it
// again later), and otherwise the kind of the engine's answer; an error
// wrapping ErrRejected means the engine refused the call for good.
type Client interface {
	// Execute asks the engine to run an execution. Calls for the same
	// ExecutionID are safe to repeat: each carries the execution id as its
	// idempotency key, so the engine starts the execution at most once; a
	// repeated call may find it already finished, FAILED included, which is
	// reported in Accepted.Status rather than as an error.
	Execute(ctx context.Context, req ExecuteRequest) (Accepted, error)
	// Status reports where an execution stands in the engine. An execution
	// the engine does not know is Status{Found: false} and no error.
	Status(ctx context.Context, engineExecutionID string) (Status, error)
	// Cancel asks the engine to stop an execution. An error wrapping
	// ErrRejected means the engine declined, typically because the execution
	// had already finished.
	Cancel(ctx context.Context, engineExecutionID, reason string) error
}

// ExecuteRequest is one execution to dispatch: the parts of its
// workflow.Execution row that the engine is told about, the trigger payload and
// the deployed definition.
type ExecuteRequest struct {
	// ExecutionID is the runtime's execution id, also sent as the idempotency key.
	ExecutionID       string
	WorkflowID        string
	DeploymentID      string
	DeploymentVersion int64
	TriggerID         string
	TriggerType       workflow.TriggerType
	// ScheduledTime is the cron slot; required for CRON, ignored otherwise.
	ScheduledTime *time.Time
	// TriggeredBy is the caller's identity, sent for MANUAL executions.
	TriggeredBy string
	// WebhookPath is the matched webhook path, sent for WEBHOOK executions.
	WebhookPath string
	// TraceID is the execution row's trace id.
	TraceID string
	// TraceParent is the W3C traceparent the execution was started under, if any.
	TraceParent string
	// Input is the raw JSON trigger payload: a JSON object, or empty. CRON
	// executions send their scheduled time instead.
	Input []byte
	// DefinitionJSON is the deployed workflow definition; empty sends none.
	DefinitionJSON []byte
}

// Accepted is the engine's answer to a dispatch it took on.
type Accepted struct {
	// EngineExecutionID names the execution in the engine's Status and Cancel.
	EngineExecutionID string
	// Status is where the execution stood when the engine answered; an
	// engine that runs executions synchronously may already report the end.
	Status Status
}

// Status is an execution as the engine reports it.
type Status struct {
	// State is RUNNING while the engine has not finished the execution
	// (NEW, RUNNING, WAITING and PAUSED alike), else SUCCEEDED, FAILED or
	// CANCELLED.
	State workflow.ExecutionStatus
	// Found is false when the engine does not know the execution; the other
	// fields are then zero.
	Found bool
	// StartedAt and FinishedAt are nil until the engine reports them.
	StartedAt  *time.Time
	FinishedAt *time.Time
	// Error explains a FAILED execution (the execution's MetaErrorMessage,
	// else the engine's message) or a CANCELLED one (its MetaCancelReason);
	// empty otherwise.
	Error string
	// Result is a SUCCEEDED execution's MetaResult as JSON (text that is not
	// JSON becomes a JSON string); nil when there is none.
	Result []byte
}

// Terminal reports whether the engine has finished with the execution. A
// Status the engine did not report (no State) has not.
func (s Status) Terminal() bool {
	return s.State != "" && s.State.Terminal()
}

// ErrRejected is in the chain of every error by which the engine refused a
// call, as opposed to being unreachable: retrying will not change the answer.
var ErrRejected = errors.New("engine rejected the call")

// ErrCircuitOpen is in the chain of the Unavailable errors of calls that
// made no attempt, because recent calls found the engine unavailable: calls
// that surely did not reach it. A call whose retries the opening breaker
// cut short does not wrap it, since its earlier attempts may have.
var ErrCircuitOpen = errors.New("engine circuit breaker is open")

// state maps the engine's execution status to the runtime's. An unknown
// value is an error rather than RUNNING, so that a newer engine's status is
// not followed until the execution times out.
func state(s pb.ExecutionStatus) (workflow.ExecutionStatus, error) {
	switch s {
	case pb.ExecutionStatus_SUCCESS:
		return workflow.ExecutionSucceeded, nil
	case pb.ExecutionStatus_ERROR:
		return workflow.ExecutionFailed, nil
	case pb.ExecutionStatus_CANCELED:
		return workflow.ExecutionCancelled, nil
	case pb.ExecutionStatus_NEW, pb.ExecutionStatus_RUNNING, pb.ExecutionStatus_WAITING, pb.ExecutionStatus_PAUSED:
		return workflow.ExecutionRunning, nil
	}
	return "", fmt.Errorf("unknown engine execution status %d", s)
}

// Keys of ExecutionData.metadata by which an engine reports what the
// contract has no field for (ExecutionData carries no error, no result and
// no cancellation reason); engine-sim sets all three.
const (
	MetaErrorMessage = "error_message"
	MetaResult       = "result"
	MetaCancelReason = "cancel_reason"
)

// statusOf converts a found execution; times of 0 are unset.
func statusOf(e *pb.ExecutionData, message string) (Status, error) {
	st, err := state(e.GetStatus())
	if err != nil {
		return Status{}, err
	}
	s := Status{State: st, Found: true, StartedAt: unixMilli(e.GetStartTime()), FinishedAt: unixMilli(e.GetEndTime())}
	switch st {
	case workflow.ExecutionFailed:
		s.Error = e.GetMetadata()[MetaErrorMessage]
		if s.Error == "" {
			s.Error = message
		}
	case workflow.ExecutionSucceeded:
		s.Result = result(e.GetMetadata())
	case workflow.ExecutionCancelled:
		s.Error = e.GetMetadata()[MetaCancelReason]
	default:
		// RUNNING, the only other state the engine reports, has neither an
		// error nor a result yet.
	}
	return s, nil
}

// result keeps a result that is not JSON as a JSON string, since the
// coordinator stores results in a JSON column.
func result(md map[string]string) []byte {
	r, ok := md[MetaResult]
	if !ok {
		return nil
	}
	if json.Valid([]byte(r)) {
		return []byte(r)
	}
	// Marshalling a string cannot fail.
	b, _ := json.Marshal(r)
	return b
}

func unixMilli(ms int64) *time.Time {
	if ms <= 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}
