package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/go-kit/log/level"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// webhookSpec stands for a service type holding webhook secrets.
type webhookSpec struct {
	Path    string
	Secrets []string
}

// request stands for a logged request whose headers are a field.
type request struct {
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Hidden  string            `json:"-"`
	next    *request
}

// Every kind of secret, logged through the real logger in both formats: the
// secret never reaches the output, and keyed secrets keep their key.
func TestMaskSecrets(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		key    string
		value  any
		secret string
		// want is the JSON of the masked value.
		want string
	}{
		{"URL password", "database", "postgres://app:pw-url-1@db:5432/wf?sslmode=disable", "pw-url-1",
			`"postgres://app:xxxxx@db:5432/wf?sslmode=disable"`},
		{"URL password with @ in it", "dsn", "redis://u:pw@url@2@cache:6379/0", "pw@url@2", `"redis://u:xxxxx@cache:6379/0"`},
		{"URL in free text", "msg", `dial "rediss://:pw-url-3@cache:6380": refused`, "pw-url-3",
			`"dial \"rediss://:xxxxx@cache:6380\": refused"`},
		{"URL secret parameter", "callback", "https://h/cb?x=1&access_token=pw-q-1#f", "pw-q-1", `"https://h/cb?x=1&access_token=xxxxx#f"`},
		{"URL inside a URL", "next", "https://h/login?next=https://u:pw-nested@i/", "pw-nested", `"https://h/login?next=https://u:xxxxx@i/"`},
		{"*url.URL", "target", &url.URL{Scheme: "https", User: url.UserPassword("u", "pw-url-4"), Host: "h"}, "pw-url-4", `"https://u:xxxxx@h"`},
		{"URL in an error", "err", fmt.Errorf("database: %w", errors.New("connect postgres://u:pw-err@db/x")), "pw-err",
			`"database: connect postgres://u:xxxxx@db/x"`},
		{"password key", "password", "pw-key-1", "pw-key-1", `"<redacted>"`},
		{"key case and dashes", "X-API-Key", "pw-key-2", "pw-key-2", `"<redacted>"`},
		{"passwd", "DB_PASSWD", "pw-key-3", "pw-key-3", `"<redacted>"`},
		{"token key", "refresh_token", "pw-key-4", "pw-key-4", `"<redacted>"`},
		{"apikey", "apiKey", "pw-key-5", "pw-key-5", `"<redacted>"`},
		{"credential", "Credentials", "pw-key-6", "pw-key-6", `"<redacted>"`},
		{"private key", "private-key", "pw-key-7", "pw-key-7", `"<redacted>"`},
		{"non-string value", "client_secret", []byte("pw-key-8"), "pw-key-8", `"<redacted>"`},
		{"bearer token in an error", "err", errors.New("upstream answered 401 to Authorization: Bearer pw-txt-1"), "pw-txt-1",
			`"upstream answered 401 to Authorization: Bearer xxxxx"`},
		{"prose about a bearer token", "reason", errors.New("the bearer token is not valid"), "\x00",
			`"the bearer token is not valid"`},
		{"basic credentials in text", "note", "sent basic pw-txt-2 again", "pw-txt-2", `"sent basic xxxxx again"`},
		{"DSN password", "err", errors.New("connect host=db user=app Password=pw-txt-3 dbname=wf: refused"), "pw-txt-3",
			`"connect host=db user=app Password=xxxxx dbname=wf: refused"`},
		{"token pair in text", "note", `retry with token="pw-txt-4"`, "pw-txt-4", `"retry with token=\"xxxxx\""`},
		{"cookie header", "headers", map[string]string{"Cookie": "sid=pw-ck-1", "Set-Cookie": "sid=pw-ck-2"}, "pw-ck-",
			`{"Cookie":"<redacted>","Set-Cookie":"<redacted>"}`},
		{"webhook secret in text", "note", "rotated to whsec_cHctd2gtMQ== today", "cHctd2gtMQ", `"rotated to whsec_xxxxx today"`},
		{"webhook secrets of a spec", "spec", webhookSpec{Path: "orders", Secrets: []string{"pw-wh-1", "pw-wh-2"}}, "pw-wh-",
			`{"Path":"orders","Secrets":"<redacted>"}`},
		{"header map", "headers", map[string]string{
			"webhook-signature": "v1,pw-sig-1", "Authorization": "Bearer pw-sig-2", "X-Hub-Signature-256": "sha256=pw-sig-3",
			"x-hub-signature": "sha1=pw-sig-4", "content-type": "application/json",
		}, "pw-sig-",
			`{"Authorization":"<redacted>","X-Hub-Signature-256":"<redacted>","content-type":"application/json","webhook-signature":"<redacted>","x-hub-signature":"<redacted>"}`},
		{"http.Header", "h", http.Header{"Authorization": {"Basic pw-hdr-1"}, "Accept": {"*/*"}}, "pw-hdr-",
			`{"Accept":["*/*"],"Authorization":"<redacted>"}`},
		{"struct of headers, by pointer", "request", &request{
			Method: "POST", Headers: map[string]string{"Webhook-Signature": "v1,pw-st-1"}, Hidden: "pw-st-2",
			next: &request{Headers: map[string]string{"authorization": "pw-st-3"}},
		}, "pw-st-", `{"headers":{"Webhook-Signature":"<redacted>"},"method":"POST"}`},
		{"protobuf request", "req", &pb.TriggerWorkflowRequest{
			WorkflowId: "wf", Headers: map[string]string{"webhook-signature": "v1,pw-pb-1", "webhook-id": "msg_1"},
		}, "pw-pb-", `{"headers":{"webhook-id":"msg_1","webhook-signature":"<redacted>"},"workflow_id":"wf"}`},
		{"protobuf webhook spec", "webhook", &pb.WebhookSpec{Path: "p", Secrets: []string{"whsec_cHctcGItMg=="}}, "cHctcGItMg",
			`{"path":"p","secrets":"<redacted>"}`},
		{"slice of URLs", "urls", []string{"redis://:pw-sl-1@a", "redis://b"}, "pw-sl-", `["redis://:xxxxx@a","redis://b"]`},
		{"nil map", "headers", map[string]string(nil), "", `null`},
		{"nil pointer", "request", (*request)(nil), "", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var jsonOut, logfmtOut bytes.Buffer
			jl, _, err := New(&jsonOut, "json", "info", "i")
			require.NoError(t, err)
			ll, _, err := New(&logfmtOut, "logfmt", "info", "i")
			require.NoError(t, err)
			level.Info(jl).Log(tt.key, tt.value)
			level.Info(ll).Log(tt.key, tt.value)

			for _, out := range []string{jsonOut.String(), logfmtOut.String()} {
				if tt.secret != "" && strings.Contains(out, tt.secret) {
					t.Errorf("secret %q reached the log:\n%s", tt.secret, out)
				}
			}
			var line map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(jsonOut.Bytes(), &line), "output:\n%s", jsonOut.String())
			if diff := cmp.Diff(tt.want, string(line[tt.key])); diff != "" {
				t.Errorf("json value of %q mismatch (-want +got):\n%s", tt.key, diff)
			}
			// logfmt writes composite values as their JSON.
			got := parseLogfmt(t, strings.TrimSuffix(logfmtOut.String(), "\n"))[tt.key]
			want := tt.want
			if s, err := strconv.Unquote(want); err == nil {
				want = s
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("logfmt value of %q mismatch (-want +got):\n%s", tt.key, diff)
			}
		})
	}
}

func TestMaskLeavesOtherValues(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	logger, _, err := New(&buf, "json", "info", "i")
	require.NoError(t, err)
	level.Info(logger).Log("msg", "a://b is not a secret", "n", 3, "ok", true, "url", "https://example.com/x?a=1",
		"kind", errors.NotFound, "idempotency_key", "k-1", "user", "https://user@h/")

	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got))
	for _, k := range []string{"ts", "caller", "level"} {
		delete(got, k)
	}
	want := map[string]any{
		"instance_id": "i", "msg": "a://b is not a secret", "n": float64(3), "ok": true,
		"url": "https://example.com/x?a=1", "kind": "not found", "idempotency_key": "k-1", "user": "https://user@h/",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("line mismatch (-want +got):\n%s", diff)
	}
}

// A value whose String panics on a nil receiver is left to go-kit, which
// writes it without crashing.
func TestMaskNilStringer(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	logger, _, err := New(&buf, "json", "info", "i")
	require.NoError(t, err)
	var u *url.URL
	var e *errors.Error
	require.NoError(t, level.Info(logger).Log("u", u, "e", e))
	require.Contains(t, buf.String(), `"u":"NULL"`)
	require.Contains(t, buf.String(), `"e":null`)
}

func TestMaskTooDeep(t *testing.T) {
	t.Parallel()

	type node struct{ Next *node }
	loop := &node{}
	loop.Next = loop
	var buf bytes.Buffer
	logger, _, err := New(&buf, "json", "info", "i")
	require.NoError(t, err)
	require.NoError(t, level.Info(logger).Log("loop", loop))
	require.Contains(t, buf.String(), `<too deep>`)
}

func TestErrorKind(t *testing.T) {
	t.Parallel()

	notFound := errors.E(errors.Op("x.Get"), errors.NotFound, "no such thing")
	tests := []struct {
		name    string
		keyvals []any
		want    string // error_kind, "" for none
	}{
		{"kind of a pkg/errors error", []any{"err", notFound}, "not found"},
		{"kind through fmt wrapping", []any{"err", fmt.Errorf("load: %w", notFound)}, "not found"},
		{"internal kind", []any{"err", errors.E(errors.Op("x"), "broke")}, "internal"},
		{"plain error has no kind", []any{"err", fmt.Errorf("plain")}, ""},
		{"err that is not an error", []any{"err", "text"}, ""},
		{"kind already given is kept once", []any{"err", notFound, "error_kind", "not found"}, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var buf bytes.Buffer
			logger, _, err := New(&buf, "logfmt", "info", "i")
			require.NoError(t, err)
			level.Error(logger).Log(tt.keyvals...)

			out := strings.TrimSuffix(buf.String(), "\n")
			line := parseLogfmt(t, out)
			if diff := cmp.Diff(tt.want, line["error_kind"]); diff != "" {
				t.Errorf("error_kind mismatch (-want +got):\n%s\noutput: %s", diff, out)
			}
			wantCount := 0
			if tt.want != "" {
				wantCount = 1
			}
			if n := strings.Count(out, "error_kind="); n != wantCount {
				t.Errorf("error_kind written %d times, want %d: %s", n, wantCount, out)
			}
			if line["err"] == "" {
				t.Errorf("err missing: %s", out)
			}
		})
	}
}
