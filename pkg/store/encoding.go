package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// What follows is how both SQL stores encode the model the same way: ids,
// trigger specs and page cursors. Keeping it in one place keeps a cursor or a
// spec written by one store readable by the other's code and tests.

// CanonicalID returns id in canonical form, and false when it is not a UUID:
// such an id names no row, and must not reach a query as a uuid parameter.
func CanonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// TriggerColumns is what a trigger writes besides its ids.
type TriggerColumns struct {
	Spec string
	// WebhookPath is the lower-cased webhook path, nil for other types.
	WebhookPath *string
}

// EncodeTrigger encodes the spec of t, the i-th trigger of its deployment. A
// CRON or WEBHOOK trigger must carry its spec; MANUAL triggers store {}.
func EncodeTrigger(i int, t *workflow.Trigger) (TriggerColumns, error) {
	c, err := encodeSpec(i, t)
	if err != nil || t.ExecutionTimeoutSeconds <= 0 {
		return c, err
	}
	// Every type's spec is a JSON object: the timeout joins it as a key.
	var spec map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.Spec), &spec); err != nil {
		return TriggerColumns{}, fmt.Errorf("trigger %d: spec: %w", i, err)
	}
	spec[TriggerTimeoutKey] = json.RawMessage(strconv.Itoa(int(t.ExecutionTimeoutSeconds)))
	b, err := json.Marshal(spec)
	if err != nil {
		return TriggerColumns{}, fmt.Errorf("trigger %d: spec: %w", i, err)
	}
	c.Spec = string(b)
	return c, nil
}

// TriggerTimeoutKey is the key of a trigger's execution timeout in its spec.
const TriggerTimeoutKey = "execution_timeout_seconds"

func encodeSpec(i int, t *workflow.Trigger) (TriggerColumns, error) {
	switch t.Type {
	case workflow.TriggerCron:
		if t.Cron == nil {
			return TriggerColumns{}, fmt.Errorf("trigger %d: CRON trigger without a cron spec", i)
		}
		// Only a start or end time outside the years 0-9999 fails.
		spec, err := json.Marshal(t.Cron)
		if err != nil {
			return TriggerColumns{}, fmt.Errorf("trigger %d: cron spec: %w", i, err)
		}
		return TriggerColumns{Spec: string(spec)}, nil
	case workflow.TriggerWebhook:
		if t.Webhook == nil {
			return TriggerColumns{}, fmt.Errorf("trigger %d: WEBHOOK trigger without a webhook spec", i)
		}
		p := strings.ToLower(t.Webhook.Path)
		spec, _ := json.Marshal(t.Webhook)
		return TriggerColumns{Spec: string(spec), WebhookPath: &p}, nil
	case workflow.TriggerManual:
		return TriggerColumns{Spec: "{}"}, nil
	}
	return TriggerColumns{}, fmt.Errorf("trigger %d: unknown trigger type %q", i, t.Type)
}

// EncodeConfig encodes a deployment's settings. It fails only for a retry
// policy's backoff coefficient that JSON cannot hold (NaN, ±Inf), which
// validation refuses before.
func EncodeConfig(c workflow.Config) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	return string(b), nil
}

// EncodeCursor makes the opaque cursor of the page after the row (t, id):
// base64url of "<t in unix microseconds>:<id>".
func EncodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + ":" + id))
}

// DecodeCursor reverses EncodeCursor, or returns ErrBadCursor.
func DecodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", ErrBadCursor
	}
	us, id, ok := strings.Cut(string(b), ":")
	if !ok {
		return time.Time{}, "", ErrBadCursor
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return time.Time{}, "", ErrBadCursor
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return time.Time{}, "", ErrBadCursor
	}
	return time.UnixMicro(n).UTC(), u.String(), nil
}

// EncodeSeqCursor makes the opaque cursor of the page after the row with
// sequence number n (an event id, a version): base64url of its decimal.
func EncodeSeqCursor(n int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(n, 10)))
}

// DecodeSeqCursor reverses EncodeSeqCursor, or returns ErrBadCursor.
func DecodeSeqCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, ErrBadCursor
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrBadCursor
	}
	return n, nil
}
