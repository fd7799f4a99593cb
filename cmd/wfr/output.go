package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// formats are the values of --output.
var formats = []string{"table", "json", "yaml"}

func isFormat(s string) bool { return slices.Contains(formats, s) }

// jsonOptions are the REST API's, so that -o json answers as curl does.
var jsonOptions = protojson.MarshalOptions{UseProtoNames: true}

// print writes a command's answer: msg in JSON or YAML, or the human view
// that table draws.
func (a *app) print(msg proto.Message, table func(w io.Writer)) error {
	var (
		b   []byte
		err error
	)
	switch a.opts.output {
	case "json":
		b, err = encodeJSON(msg, true)
	case "yaml":
		b, err = encodeYAML(msg)
	default:
		var buf bytes.Buffer
		table(&buf)
		b = buf.Bytes()
	}
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(b)
	return err
}

// encodeJSON writes msg as protojson does, with stable whitespace: protojson
// varies its own on purpose, encoding/json's Indent and Compact do not.
func encodeJSON(msg proto.Message, indent bool) ([]byte, error) {
	raw, err := jsonOptions.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if indent {
		err = json.Indent(&buf, raw, "", "  ")
	} else {
		err = json.Compact(&buf, raw)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), err
}

// encodeYAML writes msg's JSON as block-style YAML, its fields in the same
// order. JSON is YAML, so the JSON is read as a YAML node tree whose flow
// style and quotes are then dropped; the encoder quotes what needs it.
func encodeYAML(msg proto.Message) ([]byte, error) {
	raw, err := jsonOptions.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	blockStyle(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// table aligns cells in columns two spaces apart. Rows may come in several
// flushes (runs --follow): a column is as wide as its widest cell so far, so
// that later rows stay aligned unless a wider cell comes.
type table struct {
	rows   [][]string
	widths []int
}

// newTable returns a table with header; without one, it lists fields.
func newTable(header ...string) *table {
	t := &table{}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if i == len(t.widths) {
			t.widths = append(t.widths, 0)
		}
		t.widths[i] = max(t.widths[i], utf8.RuneCountInString(c))
	}
	t.rows = append(t.rows, cells)
}

// field adds "name: value" unless value is empty.
func (t *table) field(name, value string) {
	if value != "" {
		t.row(name+":", value)
	}
}

// flush writes the rows added since the last flush.
func (t *table) flush(w io.Writer) {
	var b, line strings.Builder
	for _, r := range t.rows {
		line.Reset()
		for i, c := range r {
			line.WriteString(c)
			line.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(c)+2))
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	t.rows = t.rows[:0]
	_, _ = io.WriteString(w, b.String())
}

// stream writes the items of a stream, a few at a time: JSON lines, YAML
// documents, or table rows under one header.
type stream struct {
	a     *app
	table *table
	buf   bytes.Buffer
}

func (a *app) newStream(header ...string) *stream {
	if a.opts.output != "table" {
		header = nil
	}
	return &stream{a: a, table: newTable(header...)}
}

// add queues msg, drawn as cells in a table.
func (s *stream) add(msg proto.Message, cells ...string) error {
	switch s.a.opts.output {
	case "json":
		b, err := encodeJSON(msg, false)
		if err != nil {
			return err
		}
		s.buf.Write(b)
	case "yaml":
		b, err := encodeYAML(msg)
		if err != nil {
			return err
		}
		s.buf.WriteString("---\n")
		s.buf.Write(b)
	default:
		s.table.row(cells...)
	}
	return nil
}

// flush writes what was added since the last flush.
func (s *stream) flush() error {
	s.table.flush(&s.buf)
	_, err := s.a.stdout.Write(s.buf.Bytes())
	s.buf.Reset()
	return err
}

// short is an enum value's name without its type's prefix: DEPLOYED for
// DEPLOYMENT_STATUS_DEPLOYED.
func short(e protoreflect.Enum) string {
	d := e.Descriptor()
	v := d.Values().ByNumber(e.Number())
	if v == nil {
		return strconv.Itoa(int(e.Number()))
	}
	return strings.TrimPrefix(string(v.Name()), enumPrefix(d))
}

// enumPrefix is the prefix every value of d shares: DEPLOYMENT_STATUS_.
func enumPrefix(d protoreflect.EnumDescriptor) string {
	return strings.TrimSuffix(string(d.Values().ByNumber(0).Name()), "UNSPECIFIED")
}

// when is a time as people read it, in the local zone; "-" when unset.
func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().Local().Format(time.RFC3339)
}

// took is how long from start to end, when both are set.
func took(start, end *timestamppb.Timestamp) string {
	if start == nil || end == nil {
		return "-"
	}
	return end.AsTime().Sub(start.AsTime()).Round(time.Millisecond).String()
}

// seconds is a whole number of seconds as a duration: 300 is 5m0s.
func seconds[N int32 | int64](n N) string {
	return (time.Duration(n) * time.Second).String()
}

// count writes n with its noun, plural unless n is 1.
func count[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
