package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// Metadata keys of ExecuteWorkflowRequest (API.md §3).
const (
	MetaRuntimeExecutionID = "runtime_execution_id"
	MetaIdempotencyKey     = "idempotency_key"
	MetaDeploymentID       = "deployment_id"
	MetaDeploymentVersion  = "deployment_version"
	MetaTriggerID          = "trigger_id"
	MetaScheduledTime      = "scheduled_time"
	MetaTraceID            = "trace_id"
	MetaTraceParent        = "traceparent"
	MetaWorkflowDefinition = "workflow_definition"
)

// InputScheduledTime is the input_data key under which a cron fire sends its
// slot instead of a payload.
const InputScheduledTime = "scheduled_time"

// buildExecuteRequest turns req into the contract's request. A request the
// runtime could not have meant (unknown trigger type, cron without a slot,
// stored definition that is not JSON) is Internal; a payload that is not a
// JSON object is Invalid, since it comes from a trigger's caller.
func buildExecuteRequest(req ExecuteRequest, sendDefinition bool) (*pb.ExecuteWorkflowRequest, error) {
	out := &pb.ExecuteWorkflowRequest{WorkflowId: req.WorkflowID}
	var err error
	switch req.TriggerType {
	case workflow.TriggerCron:
		if req.ScheduledTime == nil {
			return nil, errors.E(errors.Internal, "cron execution without a scheduled time")
		}
		out.Mode = pb.ExecutionMode_SCHEDULED
		out.TriggeredBy = "cron:" + req.TriggerID
		out.InputData = map[string]string{InputScheduledTime: rfc3339(*req.ScheduledTime)}
	case workflow.TriggerWebhook:
		out.Mode = pb.ExecutionMode_WEBHOOK
		out.TriggeredBy = "webhook:" + req.WebhookPath
		out.InputData, err = inputData(req.Input)
	case workflow.TriggerManual:
		out.Mode = pb.ExecutionMode_MANUAL
		out.TriggeredBy = req.TriggeredBy
		out.InputData, err = inputData(req.Input)
	default:
		return nil, errors.E(errors.Internal, fmt.Errorf("unknown trigger type %q", req.TriggerType))
	}
	if err != nil {
		return nil, err
	}

	// Keys without a value are left out so that the engine can tell "none"
	// from an empty id; the identity keys are always present.
	meta := map[string]string{
		MetaRuntimeExecutionID: req.ExecutionID,
		MetaIdempotencyKey:     req.ExecutionID,
		MetaDeploymentID:       req.DeploymentID,
		MetaDeploymentVersion:  strconv.FormatInt(req.DeploymentVersion, 10),
	}
	setIf(meta, MetaTriggerID, req.TriggerID)
	if req.ScheduledTime != nil {
		meta[MetaScheduledTime] = rfc3339(*req.ScheduledTime)
	}
	setIf(meta, MetaTraceID, req.TraceID)
	setIf(meta, MetaTraceParent, req.TraceParent)
	if sendDefinition && len(bytes.TrimSpace(req.DefinitionJSON)) > 0 {
		def, err := compact(req.DefinitionJSON)
		if err != nil {
			return nil, errors.E(errors.Internal, fmt.Errorf("workflow definition: %w", err))
		}
		meta[MetaWorkflowDefinition] = def
	}
	out.Metadata = meta
	return out, nil
}

func setIf(m map[string]string, key, value string) {
	if value != "" {
		m[key] = value
	}
}

// rfc3339 keeps sub-second precision when there is some, so that the engine
// sees the same instant as the execution row.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// inputData flattens a JSON object payload into input_data: string values as
// they are, any other value as compact JSON. Values are taken as the raw
// bytes of the payload rather than decoded and encoded again, so numbers
// keep their exact digits (no float64 rounding of 12345678901234567890 or
// 1.10), nested objects keep their key order and nothing is HTML-escaped.
func inputData(payload []byte) (map[string]string, error) {
	p := bytes.Trim(payload, " \t\r\n")
	if len(p) == 0 {
		return nil, nil
	}
	if p[0] != '{' {
		return nil, errors.E(errors.Invalid, "trigger payload must be a JSON object")
	}
	// Raw values are copied into proto strings, which must be valid UTF-8;
	// json.Unmarshal would let invalid bytes through inside a RawMessage.
	if !utf8.Valid(p) {
		return nil, errors.E(errors.Invalid, "trigger payload is not valid UTF-8")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(p, &fields); err != nil {
		return nil, errors.E(errors.Invalid, fmt.Errorf("trigger payload: %w", err))
	}
	// Unmarshal validated the whole payload, so decoding or compacting one of
	// its values cannot fail.
	out := make(map[string]string, len(fields))
	for k, raw := range fields {
		if raw[0] == '"' {
			var s string
			_ = json.Unmarshal(raw, &s)
			out[k] = s
			continue
		}
		var b bytes.Buffer
		_ = json.Compact(&b, raw)
		out[k] = b.String()
	}
	return out, nil
}

func compact(raw []byte) (string, error) {
	if !utf8.Valid(raw) {
		return "", errors.New("not valid UTF-8")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}
