package workflow

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

func TestTextRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rule TextRule
		in   string
		want string
	}{
		{"plain", ActorText, "alice@example.com", ""},
		{"non-ASCII", ActorText, "Zoë 北京", ""},
		{"empty", ActorText, "", ""},
		{"NUL", ActorText, "al\x00ice", "must not contain the control character U+0000 (at byte 2)"},
		{"escape", IdempotencyKeyText, "k\x1b[31m", "must not contain the control character U+001B (at byte 1)"},
		{"DEL", IdempotencyKeyText, "k\x7f", "must not contain the control character U+007F (at byte 1)"},
		{"C1", IdempotencyKeyText, "k\u0085", "must not contain the control character U+0085 (at byte 1)"},
		{"tab in one line", ActorText, "a\tb", "must not contain the control character U+0009 (at byte 1)"},
		{"line break in one line", LineText, "0 * * * *\n", "must not contain the control character U+000A (at byte 9)"},
		{"prose may break lines", ReasonText, "first\r\n\tsecond", ""},
		{"but holds no NUL", ReasonText, "first\n\x00", "must not contain the control character U+0000 (at byte 6)"},
		{"header value with a tab", HeaderValueText, "a,\tb", ""},
		{"header value with a line break", HeaderValueText, "a\r\nX-Injected: 1", "must not contain the control character U+000D (at byte 1)"},
		{"invalid UTF-8", ActorText, "a\xffb", "is not valid UTF-8"},
		{"at the bound", ActorText, strings.Repeat("a", 256), ""},
		{"over the bound", ActorText, strings.Repeat("a", 257), "is 257 bytes long; at most 256"},
		{"no bound", HeaderValueText, strings.Repeat("a", 1<<16), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.rule.Problem(tc.in); got != tc.want {
				t.Errorf("Problem(%q) = %q, want %q", tc.in, got, tc.want)
			}
			var v errors.Violations
			tc.rule.Check(&v, "f", tc.in)
			var want errors.Violations
			if tc.want != "" {
				want = errors.Violations{{Field: "f", Description: tc.want}}
			}
			if diff := cmp.Diff(want, v); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenProblem(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{
		"POST": true, "webhook-id": true, "X-Custom_1!": true,
		"": false, "PO ST": false, "PO\x00ST": false, "P\u017fST": false, "webhoo\u212a-id": false, "a:b": false,
	} {
		if got := TokenProblem(in) == ""; got != ok {
			t.Errorf("TokenProblem(%q) accepts: %v, want %v", in, got, ok)
		}
	}
}
