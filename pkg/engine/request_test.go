package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

var slot = time.Date(2026, 3, 29, 1, 30, 0, 0, time.FixedZone("CET", 3600))

const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// baseRequest is a manual execution with every optional field set; cases
// change what they test.
func baseRequest() ExecuteRequest {
	return ExecuteRequest{
		ExecutionID:       "exec-1",
		WorkflowID:        "wf-1",
		DeploymentID:      "dep-1",
		DeploymentVersion: 7,
		TriggerID:         "trg-1",
		TriggerType:       workflow.TriggerManual,
		TriggeredBy:       "alice",
		WebhookPath:       "/hooks/orders",
		TraceID:           "4bf92f3577b34da6a3ce929d0e0e4736",
		TraceParent:       traceParent,
		Input:             []byte(`{"name":"x"}`),
		DefinitionJSON:    []byte("{\n  \"nodes\": [ {\"id\": \"a\"} ],\n  \"b\": 1.50\n}"),
	}
}

func baseMetadata() map[string]string {
	return map[string]string{
		MetaRuntimeExecutionID: "exec-1",
		MetaIdempotencyKey:     "exec-1",
		MetaDeploymentID:       "dep-1",
		MetaDeploymentVersion:  "7",
		MetaTriggerID:          "trg-1",
		MetaTraceID:            "4bf92f3577b34da6a3ce929d0e0e4736",
		MetaTraceParent:        traceParent,
		MetaWorkflowDefinition: `{"nodes":[{"id":"a"}],"b":1.50}`,
	}
}

func TestBuildExecuteRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		edit           func(*ExecuteRequest)
		omitDefinition bool
		want           func(*pb.ExecuteWorkflowRequest)
	}{
		{
			name: "manual sends the caller and the payload",
		},
		{
			name: "webhook sends its path",
			edit: func(r *ExecuteRequest) { r.TriggerType = workflow.TriggerWebhook },
			want: func(w *pb.ExecuteWorkflowRequest) {
				w.Mode = pb.ExecutionMode_WEBHOOK
				w.TriggeredBy = "webhook:/hooks/orders"
			},
		},
		{
			name: "cron sends its slot instead of the payload",
			edit: func(r *ExecuteRequest) { r.TriggerType, r.ScheduledTime = workflow.TriggerCron, &slot },
			want: func(w *pb.ExecuteWorkflowRequest) {
				w.Mode = pb.ExecutionMode_SCHEDULED
				w.TriggeredBy = "cron:trg-1"
				w.InputData = map[string]string{InputScheduledTime: "2026-03-29T00:30:00Z"}
				w.Metadata[MetaScheduledTime] = "2026-03-29T00:30:00Z"
			},
		},
		{
			name: "cron slot keeps sub-second precision",
			edit: func(r *ExecuteRequest) {
				s := slot.Add(250 * time.Millisecond)
				r.TriggerType, r.ScheduledTime = workflow.TriggerCron, &s
			},
			want: func(w *pb.ExecuteWorkflowRequest) {
				w.Mode = pb.ExecutionMode_SCHEDULED
				w.TriggeredBy = "cron:trg-1"
				w.InputData = map[string]string{InputScheduledTime: "2026-03-29T00:30:00.25Z"}
				w.Metadata[MetaScheduledTime] = "2026-03-29T00:30:00.25Z"
			},
		},
		{
			name:           "definition omitted by option",
			omitDefinition: true,
			want:           func(w *pb.ExecuteWorkflowRequest) { delete(w.GetMetadata(), MetaWorkflowDefinition) },
		},
		{
			name: "empty values leave their keys out",
			edit: func(r *ExecuteRequest) {
				r.TriggerID, r.TraceID, r.TraceParent, r.DefinitionJSON, r.TriggeredBy = "", "", "", nil, ""
			},
			want: func(w *pb.ExecuteWorkflowRequest) {
				w.TriggeredBy = ""
				for _, k := range []string{MetaTriggerID, MetaTraceID, MetaTraceParent, MetaWorkflowDefinition} {
					delete(w.GetMetadata(), k)
				}
			},
		},
		{
			name: "empty payload sends no input",
			edit: func(r *ExecuteRequest) { r.Input = nil },
			want: func(w *pb.ExecuteWorkflowRequest) { w.InputData = nil },
		},
		{
			name: "blank payload sends no input",
			edit: func(r *ExecuteRequest) { r.Input = []byte(" \n\t") },
			want: func(w *pb.ExecuteWorkflowRequest) { w.InputData = nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := baseRequest()
			if tt.edit != nil {
				tt.edit(&req)
			}
			want := &pb.ExecuteWorkflowRequest{
				WorkflowId:  "wf-1",
				Mode:        pb.ExecutionMode_MANUAL,
				TriggeredBy: "alice",
				InputData:   map[string]string{"name": "x"},
				Metadata:    baseMetadata(),
			}
			if tt.want != nil {
				tt.want(want)
			}
			got, err := buildExecuteRequest(req, !tt.omitDefinition)
			require.NoError(t, err)
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInputData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    map[string]string
	}{
		{"string as it is", `{"s":"a \"quoted\" \u00e9 <b>&"}`, map[string]string{"s": `a "quoted" é <b>&`}},
		{"empty string", `{"s":""}`, map[string]string{"s": ""}},
		{"integer beyond float64", `{"n":12345678901234567890}`, map[string]string{"n": "12345678901234567890"}},
		{"decimal keeps its digits", `{"n":1.50}`, map[string]string{"n": "1.50"}},
		{"exponent kept", `{"n":-1E+400}`, map[string]string{"n": "-1E+400"}},
		{"booleans and null", `{"t":true,"f":false,"z":null}`, map[string]string{"t": "true", "f": "false", "z": "null"}},
		{
			"object compacted in its key order, strings untouched",
			"{\"o\": {\"z\": 1,\n \"a\": [ 1, 2.0 ], \"h\": \"<a b>\" }}",
			map[string]string{"o": `{"z":1,"a":[1,2.0],"h":"<a b>"}`},
		},
		{"array compacted", `{"a": [ "x" , {"k" : 0.10} ] }`, map[string]string{"a": `["x",{"k":0.10}]`}},
		{"last duplicate wins", `{"k":"1","k":"2"}`, map[string]string{"k": "2"}},
		{"surrounding whitespace", " \r\n{\"k\":\"v\"}\n", map[string]string{"k": "v"}},
		{"empty object", `{}`, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := inputData([]byte(tt.payload))
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("input_data (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildExecuteRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edit     func(*ExecuteRequest)
		wantKind errors.Kind
	}{
		{"payload array", func(r *ExecuteRequest) { r.Input = []byte(`[1]`) }, errors.Invalid},
		{"payload string", func(r *ExecuteRequest) { r.Input = []byte(`"x"`) }, errors.Invalid},
		{"payload null", func(r *ExecuteRequest) { r.Input = []byte(`null`) }, errors.Invalid},
		{"payload malformed", func(r *ExecuteRequest) { r.Input = []byte(`{"a":}`) }, errors.Invalid},
		{"payload with trailing data", func(r *ExecuteRequest) { r.Input = []byte(`{"a":1} {}`) }, errors.Invalid},
		{"payload not UTF-8", func(r *ExecuteRequest) { r.Input = []byte("{\"a\":[\"\xff\"]}") }, errors.Invalid},
		{"webhook payload checked too", func(r *ExecuteRequest) {
			r.TriggerType, r.Input = workflow.TriggerWebhook, []byte(`1`)
		}, errors.Invalid},
		{"cron without slot", func(r *ExecuteRequest) { r.TriggerType = workflow.TriggerCron }, errors.Internal},
		{"unknown trigger type", func(r *ExecuteRequest) { r.TriggerType = "EMAIL" }, errors.Internal},
		{"definition not JSON", func(r *ExecuteRequest) { r.DefinitionJSON = []byte(`{"a"`) }, errors.Internal},
		{"definition not UTF-8", func(r *ExecuteRequest) { r.DefinitionJSON = []byte("{\"a\":\"\xff\"}") }, errors.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := baseRequest()
			tt.edit(&req)
			_, err := buildExecuteRequest(req, true)
			require.Error(t, err)
			require.Equal(t, tt.wantKind, errors.KindOf(err), "kind of %v", err)
		})
	}
}

func TestStatusTerminal(t *testing.T) {
	t.Parallel()
	for st, want := range map[workflow.ExecutionStatus]bool{
		"":                          false,
		workflow.ExecutionRunning:   false,
		workflow.ExecutionSucceeded: true,
		workflow.ExecutionFailed:    true,
		workflow.ExecutionCancelled: true,
	} {
		require.Equal(t, want, Status{State: st}.Terminal(), st)
	}
}
