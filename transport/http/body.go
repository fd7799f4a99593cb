package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	grpctransport "github.com/workflow-runtime/workflow-runtime/transport/grpc"
)

const opBody errors.Op = "rest.body"

// body is a request body that remembers why the decoder refused it, so that
// errorHandler can answer with the whole status: the generated code turns a
// decoder's error into a status of its text alone.
type body struct {
	io.ReadCloser
	refused error
}

// jsonBody is the gateway's marshaler: runtime.JSONPb, whose decoder says
// what is wrong with a body in the API's terms (the body must be JSON; the
// field, by its path and proto name; the values an enum takes) instead of
// encoding/json's or protojson's.
type jsonBody struct {
	*runtime.JSONPb
}

// NewDecoder returns a decoder of the JSON value that r holds.
func (m jsonBody) NewDecoder(r io.Reader) runtime.Decoder {
	d := json.NewDecoder(r)
	return runtime.DecoderFunc(func(v any) error {
		err := m.decode(d, v)
		if err == nil || errors.Is(err, io.EOF) {
			// An empty body is an empty request: the gateway ignores io.EOF.
			return err
		}
		st := grpctransport.Status(err)
		if b, ok := r.(*body); ok {
			b.refused = st.Err()
		}
		return errors.New(st.Message())
	})
}

func (m jsonBody) decode(d *json.Decoder, v any) error {
	var raw json.RawMessage
	if err := d.Decode(&raw); err != nil {
		return unreadable(err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		// json.Decoder reads one value of a stream; a body is one value.
		return errors.E(opBody, errors.Invalid, "the request body must be one JSON value, with nothing after it")
	}
	err := m.Unmarshal(raw, v)
	msg, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	if explained := explainBody(raw, msg.ProtoReflect().Descriptor()); explained != nil {
		return explained
	}
	// protojson begins its messages with "proto:" and then, at random per
	// build, a space or a no-break space, so that no one compares them.
	return errors.E(opBody, errors.Invalid, "request body: "+strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0"))
}

// unreadable says why a body is not one JSON value.
func unreadable(err error) error {
	var syntax *json.SyntaxError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return err
	case errors.As(err, &syntax):
		return errors.Errorf(opBody, errors.Invalid, "the request body must be JSON: %v at byte %d", syntax, syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.E(opBody, errors.Invalid, "the request body must be JSON: it ends inside a value")
	case errors.As(err, &tooLarge):
		return errors.Errorf(opBody, errors.Invalid, "the request body is larger than %d bytes", tooLarge.Limit)
	}
	return errors.E(opBody, errors.Invalid, err)
}

// explainBody finds what protojson refused in raw, a JSON value meant to be
// the message md: a body that is not an object, unknown fields, enum names
// that are not values, and values of the wrong JSON type. It returns nil
// when it finds none of them, for protojson's own message to be used.
func explainBody(raw []byte, md protoreflect.MessageDescriptor) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	// raw was read as one JSON value already: it decodes.
	_ = d.Decode(&v)
	if _, ok := v.(map[string]any); !ok {
		return errors.E(opBody, errors.Invalid, "the request body must be a JSON object")
	}
	var vs errors.Violations
	explainMessage(&vs, md, v, "")
	return vs.Err(opBody)
}

func explainMessage(vs *errors.Violations, md protoreflect.MessageDescriptor, v any, at string) {
	if md.FullName().Parent() == "google.protobuf" {
		// Well-known types have JSON forms of their own (a Struct is any
		// object, a Timestamp a string): protojson judges them.
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		vs.Addf(at, "must be a JSON object")
		return
	}
	fields := md.Fields()
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil {
			fd = fields.ByJSONName(name)
		}
		if fd == nil {
			names := make([]string, fields.Len())
			for i := range names {
				names[i] = string(fields.Get(i).Name())
			}
			vs.Addf(join(at, name), "is not a field of %s, which has %s", md.Name(), strings.Join(names, ", "))
			continue
		}
		explainField(vs, fd, obj[name], join(at, string(fd.Name())))
	}
}

func explainField(vs *errors.Violations, fd protoreflect.FieldDescriptor, v any, at string) {
	switch {
	case v == nil:
		// null leaves a field unset.
	case fd.IsMap():
		obj, ok := v.(map[string]any)
		if !ok {
			vs.Addf(at, "must be a JSON object")
			return
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			explainValue(vs, fd.MapValue(), obj[k], at+"["+strconv.Quote(k)+"]")
		}
	case fd.IsList():
		list, ok := v.([]any)
		if !ok {
			vs.Addf(at, "must be a JSON array")
			return
		}
		for i, e := range list {
			explainValue(vs, fd, e, fmt.Sprintf("%s[%d]", at, i))
		}
	default:
		explainValue(vs, fd, v, at)
	}
}

func explainValue(vs *errors.Violations, fd protoreflect.FieldDescriptor, v any, at string) {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		explainMessage(vs, fd.Message(), v, at)
	case protoreflect.EnumKind:
		name, ok := v.(string)
		values := fd.Enum().Values()
		if !ok || values.ByName(protoreflect.Name(name)) != nil {
			// A number is judged by protojson.
			return
		}
		names := make([]string, values.Len())
		for i := range names {
			names[i] = string(values.Get(i).Name())
		}
		vs.Addf(at, "%q is not one of %s", name, strings.Join(names, ", "))
	case protoreflect.StringKind, protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			vs.Addf(at, "must be a JSON string")
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			vs.Addf(at, "must be true or false")
		}
	default:
		switch v.(type) {
		case json.Number, string:
		default:
			vs.Addf(at, "must be a number")
		}
	}
}

// join appends a field's name to the path of the message that holds it.
func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}
