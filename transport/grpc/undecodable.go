package grpc

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// undecodable is the refusal of a request message that protobuf cannot
// decode. grpc-go answers a codec's error with INTERNAL, as if the server
// had failed; the caller sent it, so it is INVALID_ARGUMENT, naming the
// field when the fault is one (a string that is not UTF-8, which is what
// REST refuses as a 400 before it reaches here).
func undecodable(b []byte, md protoreflect.MessageDescriptor, cause error) error {
	const op errors.Op = "grpc.Unmarshal"
	var v errors.Violations
	if field := invalidUTF8(b, md); field != "" {
		v.Addf(field, "is not valid UTF-8")
		return v.Err(op)
	}
	return errors.Errorf(op, errors.Invalid, "the request message cannot be decoded: %v", cause)
}

// invalidUTF8 returns the path of the first string field of the wire form b
// of a message of md whose value is not UTF-8, as the service names fields
// (config.overlap_policy, triggers[0].webhook.path; a map by its name), or
// "" when there is none. What it cannot read, it leaves to the decoder's
// error.
func invalidUTF8(b []byte, md protoreflect.MessageDescriptor) string {
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if typ != protowire.BytesType || fd == nil {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return ""
			}
			b = b[n:]
			continue
		}
		val, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		name := string(fd.Name())
		if fd.IsList() {
			name = fmt.Sprintf("%s[%d]", name, seen[num])
			seen[num]++
		}
		switch {
		case fd.Kind() == protoreflect.StringKind && !utf8.Valid(val):
			return name
		case fd.IsMap():
			if invalidUTF8(val, fd.Message()) != "" {
				return name
			}
		case fd.Message() != nil:
			if inner := invalidUTF8(val, fd.Message()); inner != "" {
				return name + "." + inner
			}
		}
	}
	return ""
}
