package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// parseDeployRequest reads a DeployWorkflowRequest from a file's JSON, or
// from its YAML turned into the same JSON, so that both take exactly what
// the REST API's body takes: proto field names or JSON names, enums by name.
func parseDeployRequest(name string, data []byte) (*pb.DeployWorkflowRequest, error) {
	js := data
	if !json.Valid(data) {
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, usagef("%s: neither JSON nor YAML: %w", name, err)
		}
		if doc == nil {
			return nil, usagef("%s: holds no request", name)
		}
		var err error
		if js, err = json.Marshal(doc); err != nil {
			return nil, usagef("%s: the YAML has no JSON form (keys must be strings): %w", name, err)
		}
	}
	req := &pb.DeployWorkflowRequest{}
	if err := protojson.Unmarshal(js, req); err != nil {
		return nil, usagef("%s: not a DeployWorkflowRequest: %w", name, err)
	}
	return req, nil
}

// triggerData is --data: JSON text, @file, or @- for standard input.
func (a *app) triggerData(data string) (string, error) {
	name, ok := strings.CutPrefix(data, "@")
	if !ok {
		return data, nil
	}
	b, err := a.readInput(name)
	if err != nil {
		return "", fmt.Errorf("--data: %w", err)
	}
	return string(b), nil
}

// timeValue is a flag that takes a time: RFC 3339, "now", or a duration
// from now ("-24h" is a day ago).
type timeValue struct {
	now func() time.Time
	ts  **timestamppb.Timestamp
}

func (a *app) timeFlag(cmd *cobra.Command, ts **timestamppb.Timestamp, name, usage string) {
	cmd.Flags().Var(timeValue{now: a.now, ts: ts}, name, usage+` (RFC 3339, "now", or a duration from now such as -24h)`)
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.NoFileCompletions)
}

func (v timeValue) Set(s string) error {
	var t time.Time
	switch d, derr := time.ParseDuration(s); {
	case s == "now":
		t = v.now()
	case derr == nil:
		t = v.now().Add(d)
	default:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return errors.New(`not RFC 3339, "now" or a duration`)
		}
	}
	*v.ts = timestamppb.New(t)
	return nil
}

func (v timeValue) String() string {
	if *v.ts == nil {
		return ""
	}
	return (*v.ts).AsTime().Format(time.RFC3339)
}

func (timeValue) Type() string { return "time" }

// protoEnum is a generated proto enum type.
type protoEnum interface {
	~int32
	protoreflect.Enum
}

// enumValue is a flag that takes values of a proto enum by their short
// names in any case (--status paused) or full names; a repeated flag and a
// comma-separated list give several.
type enumValue[E protoEnum] struct{ vals *[]E }

// enumFlag adds an enum flag to cmd, with its values as completions.
func enumFlag[E protoEnum](cmd *cobra.Command, vals *[]E, name, usage string) {
	names := enumNames[E]()
	cmd.Flags().Var(enumValue[E]{vals: vals}, name, usage+": "+strings.Join(names, ", "))
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
}

// enumNames are the short names of E's values but UNSPECIFIED, in lower case.
func enumNames[E protoEnum]() []string {
	var zero E
	values := zero.Descriptor().Values()
	names := make([]string, 0, values.Len()-1)
	for i := 1; i < values.Len(); i++ {
		names = append(names, strings.ToLower(short(E(values.Get(i).Number()))))
	}
	return names
}

func (v enumValue[E]) Set(s string) error {
	var zero E
	d := zero.Descriptor()
	prefix := enumPrefix(d)
	for part := range strings.SplitSeq(s, ",") {
		name := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(part), "-", "_"))
		ev := d.Values().ByName(protoreflect.Name(prefix + strings.TrimPrefix(name, prefix)))
		if ev == nil || ev.Number() == 0 {
			return fmt.Errorf("%q is not one of %s", part, strings.Join(enumNames[E](), ", "))
		}
		*v.vals = append(*v.vals, E(ev.Number()))
	}
	return nil
}

func (v enumValue[E]) String() string {
	names := make([]string, len(*v.vals))
	for i, e := range *v.vals {
		names[i] = strings.ToLower(short(e))
	}
	return strings.Join(names, ",")
}

// Type names the enum in help: deployment-status.
func (v enumValue[E]) Type() string {
	var zero E
	var b strings.Builder
	for i, r := range string(zero.Descriptor().Name()) {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// last is the value of a single-valued enum flag: the last one given, or
// UNSPECIFIED.
func last[E ~int32](vals []E) E {
	if len(vals) == 0 {
		return 0
	}
	return vals[len(vals)-1]
}
