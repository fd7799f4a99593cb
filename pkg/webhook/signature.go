// Package webhook verifies and produces Standard Webhooks signatures
// (https://www.standardwebhooks.com): HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<body>", sent in the webhook-signature
// header as space-separated "v1,<base64>" entries. It depends on nothing but
// the standard library so that the gateway and its examples can share it.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers a signed webhook carries (Standard Webhooks). Header names given to
// Verify are matched as Header matches them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a webhook's timestamp may be from now, either way.
const Tolerance = 5 * time.Minute

// Errors returned by Verify, matched with errors.Is. The returned errors carry
// a message for the API caller that names the header at fault but never a
// secret or a signature.
var (
	// ErrMissingHeaders: a required header is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing signature headers")
	// ErrBadTimestamp: webhook-timestamp is not an integer of Unix seconds.
	ErrBadTimestamp = errors.New("webhook: malformed timestamp")
	// ErrTimestampOutOfRange: webhook-timestamp is more than Tolerance away from now.
	ErrTimestampOutOfRange = errors.New("webhook: timestamp out of range")
	// ErrNoMatch: no v1 signature matches any secret, including when no entry
	// is a well-formed v1 entry or no secret is usable.
	ErrNoMatch = errors.New("webhook: signature does not match")
	// ErrAmbiguousHeader: a header is given in several spellings with
	// different values (see Header).
	ErrAmbiguousHeader = errors.New("webhook: ambiguous header")
)

// secretPrefix marks a secret whose key is the base64 text after it.
const secretPrefix = "whsec_"

// signatureVersion is the only scheme Standard Webhooks defines for symmetric
// keys; entries of other versions (v1a is asymmetric) are ignored.
const signatureVersion = "v1"

// maxQuoted bounds how much of a sender-controlled value goes into a message,
// so that a huge header cannot bloat logs and responses.
const maxQuoted = 32

// verifyError keeps the message free of the sentinel's text while errors.Is
// still finds the sentinel.
type verifyError struct {
	kind error
	msg  string
}

func (e *verifyError) Error() string { return e.msg }
func (e *verifyError) Unwrap() error { return e.kind }

// Verify checks that body, sent with headers, is signed by one of secrets at
// now. headers maps header names (any case) to values.
//
// A secret "whsec_<base64>" is its standard-base64-decoded key; any other
// secret is used as its raw bytes. A whsec_ secret that is not valid base64 is
// skipped rather than used as raw bytes, because a sender following the spec
// could never sign with it and a typo should not silently turn into a
// different key. Empty keys are skipped too, since everybody knows them. When
// no usable secret remains, Verify returns ErrNoMatch.
//
// Checks run in this order: headers unambiguous (ErrAmbiguousHeader, see
// Header) and present (ErrMissingHeaders), timestamp an integer
// (ErrBadTimestamp), within ±Tolerance of now inclusive
// (ErrTimestampOutOfRange), then a v1 entry matching a secret (ErrNoMatch).
// Every entry is compared against every secret with hmac.Equal, without
// stopping at the first match, so that the time taken does not tell which
// secret or entry matched.
func Verify(headers map[string]string, body []byte, secrets []string, now time.Time) error {
	var values [3]string
	for i, name := range [...]string{HeaderID, HeaderTimestamp, HeaderSignature} {
		var err error
		if values[i], err = Header(headers, name); err != nil {
			return err
		}
	}
	id, ts, sigs := values[0], values[1], values[2]
	var missing []string
	for _, h := range [...]struct{ name, value string }{
		{HeaderID, id}, {HeaderTimestamp, ts}, {HeaderSignature, sigs},
	} {
		if h.value == "" {
			missing = append(missing, h.name)
		}
	}
	if len(missing) > 0 {
		return &verifyError{ErrMissingHeaders, "missing webhook header(s): " + strings.Join(missing, ", ")}
	}

	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return &verifyError{ErrBadTimestamp, fmt.Sprintf("%s %s is not an integer of Unix seconds", HeaderTimestamp, quote(ts))}
	}
	// Compare whole seconds first: time.Unix and Time.Sub overflow or
	// saturate for timestamps centuries away, which a sender can choose.
	nowSec, tol := now.Unix(), int64(Tolerance/time.Second)
	if sec < nowSec-tol-1 || sec > nowSec+tol+1 {
		return outOfRange(now, sec)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > Tolerance || age < -Tolerance {
		return outOfRange(now, sec)
	}

	var given [][]byte
	for entry := range strings.FieldsSeq(sigs) {
		version, encoded, ok := strings.Cut(entry, ",")
		if !ok || version != signatureVersion {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(sig) == 0 {
			continue
		}
		given = append(given, sig)
	}
	if len(given) == 0 {
		return &verifyError{ErrNoMatch, fmt.Sprintf(`%s holds no well-formed entry; want space-separated "v1,<base64 signature>"`, HeaderSignature)}
	}

	matched := false
	for _, s := range secrets {
		key, ok := decodeSecret(s)
		if !ok {
			continue
		}
		want := mac(key, id, ts, body)
		for _, sig := range given {
			// Accumulate instead of returning so that every pair costs the same.
			matched = hmac.Equal(sig, want) || matched
		}
	}
	if !matched {
		return &verifyError{ErrNoMatch, fmt.Sprintf("no %s entry matches the body, %s and %s", HeaderSignature, HeaderID, HeaderTimestamp)}
	}
	return nil
}

// Sign returns the webhook-signature header value "v1,<base64>" for id,
// timestamp (whole Unix seconds) and body with secret: what a sender computes.
// Secrets are read as Verify reads them; for a secret Verify would skip (a
// whsec_ secret that is not valid base64, or an empty key) Sign returns "",
// which Verify refuses as a missing header, rather than a signature no
// receiver would accept.
func Sign(secret, id string, timestamp time.Time, body []byte) string {
	key, ok := decodeSecret(secret)
	if !ok {
		return ""
	}
	sig := mac(key, id, strconv.FormatInt(timestamp.Unix(), 10), body)
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(sig)
}

// mac signs the timestamp text exactly as sent, since "0170..." and "170..."
// are the same instant but different signed content.
func mac(key []byte, id, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

func decodeSecret(secret string) ([]byte, bool) {
	key := []byte(secret)
	if encoded, ok := strings.CutPrefix(secret, secretPrefix); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(encoded); err != nil {
			return nil, false
		}
	}
	return key, len(key) > 0
}

// Header returns the value of header name (ASCII, as all of this package's
// are) in headers, matching names case-insensitively, or "" when none is
// given. A name given in several spellings must carry the same value in all,
// else Header returns ErrAmbiguousHeader: HTTP forbids repeating a
// single-valued field, and whichever copy a reader picked, a sender could
// make another reader (the gateway, or a later check) pick the other one.
// Everything that reads a webhook header reads it through Header, so that
// the signature check and deduplication always see the same webhook-id.
func Header(headers map[string]string, name string) (string, error) {
	value, found := "", false
	for k, v := range headers {
		// With equal byte lengths, EqualFold cannot match an ASCII name to a
		// non-ASCII look-alike (KELVIN SIGN for k): those are longer.
		if len(k) != len(name) || !strings.EqualFold(k, name) {
			continue
		}
		if found && v != value {
			return "", &verifyError{ErrAmbiguousHeader, fmt.Sprintf("header %s is given in several spellings with different values", name)}
		}
		value, found = v, true
	}
	return value, nil
}

func outOfRange(now time.Time, sec int64) error {
	nowSec := now.Unix()
	when := "in the past"
	// Unsigned subtraction gives the exact distance even where the signed
	// one would overflow.
	dist := uint64(nowSec) - uint64(sec)
	if sec > nowSec {
		when, dist = "in the future", uint64(sec)-uint64(nowSec)
	}
	far := fmt.Sprintf("%ds", dist)
	if dist < 1<<32 {
		age := now.Sub(time.Unix(sec, 0))
		far = max(age, -age).String()
	}
	return &verifyError{ErrTimestampOutOfRange, fmt.Sprintf("%s %d is %s %s; at most %s either way is accepted", HeaderTimestamp, sec, far, when, Tolerance)}
}

// quote shows a sender-supplied value safely and briefly.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "…"
	}
	return strconv.Quote(s)
}
