package workflow

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// TextRule is what one text field of a request may hold. Every text field is
// checked against its rule before the request reads or writes anything:
// PostgreSQL refuses NUL in text, and the other control characters would let
// a value forge lines and fields where it is logged or forwarded.
type TextRule struct {
	// MaxBytes bounds the length; 0 leaves it to the request size limit.
	MaxBytes int
	// Controls lists the control characters the field may hold, such as
	// "\t\n\r" for prose; every other one (C0, DEL and C1) is refused.
	Controls string
}

// The rules of the text fields that no parser of their own checks.
var (
	// ActorText is who a request names as its author (deployed_by,
	// triggered_by): one line, as it is stored and logged.
	ActorText = TextRule{MaxBytes: 256}
	// IdempotencyKeyText is an idempotency key, given or taken from a
	// webhook-id header: one line.
	IdempotencyKeyText = TextRule{MaxBytes: 256}
	// ReasonText is why an execution is cancelled: prose, which may run
	// over lines and hold tabs.
	ReasonText = TextRule{MaxBytes: 1024, Controls: "\t\n\r"}
	// HeaderValueText is the value of a forwarded HTTP header, which may hold
	// tabs (RFC 9110 field-value) but never a line break.
	HeaderValueText = TextRule{Controls: "\t"}
	// LineText is one line of text bounded by nothing but the request: a cron
	// expression, a time zone name.
	LineText = TextRule{}
)

// Problem says what is wrong with s under r, or returns "" when nothing is:
// s must be valid UTF-8, at most MaxBytes long, with no control character
// but those of r.Controls. The answer never quotes s.
func (r TextRule) Problem(s string) string {
	if r.MaxBytes > 0 && len(s) > r.MaxBytes {
		return fmt.Sprintf("is %d bytes long; at most %d", len(s), r.MaxBytes)
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	i := strings.IndexFunc(s, func(c rune) bool { return unicode.IsControl(c) && !strings.ContainsRune(r.Controls, c) })
	if i < 0 {
		return ""
	}
	c, _ := utf8.DecodeRuneInString(s[i:])
	return fmt.Sprintf("must not contain the control character %U (at byte %d)", c, i)
}

// Check records Problem's answer for s, if any, as a violation of field.
func (r TextRule) Check(v *errors.Violations, field, s string) {
	if p := r.Problem(s); p != "" {
		v.Addf(field, "%s", p)
	}
}

// TokenProblem says what is wrong with an HTTP method or header name, or
// returns "": both are RFC 9110 tokens, ASCII letters, digits and
// !#$%&'*+-.^_`|~, so that matching them ignoring case never folds a
// look-alike into a known name.
func TokenProblem(s string) string {
	if !httpguts.ValidHeaderFieldName(s) {
		return "must be an HTTP token: ASCII letters, digits and !#$%&'*+-.^_`|~"
	}
	return ""
}
