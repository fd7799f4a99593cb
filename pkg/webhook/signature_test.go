package webhook

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The example of the Standard Webhooks specification, recomputed independently:
//
//	python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); print("v1,"+base64.b64encode(hmac.new(k,b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}",hashlib.sha256).digest()).decode())'
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// A raw (non-whsec_) secret, recomputed independently:
//
//	python3 -c 'import hmac,hashlib,base64; print("v1,"+base64.b64encode(hmac.new(b"raw-secret",b"msg_raw.1700000000.hello",hashlib.sha256).digest()).decode())'
const (
	rawSecret    = "raw-secret"
	rawID        = "msg_raw"
	rawTimestamp = 1700000000
	rawBody      = "hello"
	rawSignature = "v1,OhGktu8gv0f7PLaqH4RlMAzLyMh6M9r9lcUW1EGxEAs="
)

func TestSignKnownVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, secret, id string
		ts               int64
		body, want       string
	}{
		{"whsec_ secret (spec example)", specSecret, specID, specTimestamp, specBody, specSignature},
		{"raw secret", rawSecret, rawID, rawTimestamp, rawBody, rawSignature},
		{"whsec_ secret not base64", "whsec_not base64!", rawID, rawTimestamp, rawBody, ""},
		{"empty secret", "", rawID, rawTimestamp, rawBody, ""},
		{"whsec_ secret with empty key", "whsec_", rawID, rawTimestamp, rawBody, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, Sign(tc.secret, tc.id, time.Unix(tc.ts, 0), []byte(tc.body)))
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(rawTimestamp, 0)
	ts := strconv.FormatInt(rawTimestamp, 10)
	sign := func(secret string) string { return Sign(secret, rawID, now, []byte(rawBody)) }
	otherSig := sign("another-secret")
	headers := func(sig string) map[string]string {
		return map[string]string{HeaderID: rawID, HeaderTimestamp: ts, HeaderSignature: sig}
	}
	without := func(name string) map[string]string {
		h := headers(rawSignature)
		delete(h, name)
		return h
	}
	emptied := func(name string) map[string]string {
		h := headers(rawSignature)
		h[name] = ""
		return h
	}
	at := func(ts int64) map[string]string {
		s := strconv.FormatInt(ts, 10)
		return map[string]string{HeaderID: rawID, HeaderTimestamp: s, HeaderSignature: Sign(rawSecret, rawID, time.Unix(ts, 0), []byte(rawBody))}
	}
	sigBytes, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(rawSignature, "v1,"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    string
		secrets []string
		now     time.Time
		want    error
		msg     string // substring of the error message
	}{
		{
			name: "spec example", now: time.Unix(specTimestamp, 0), body: specBody, secrets: []string{specSecret},
			headers: map[string]string{HeaderID: specID, HeaderTimestamp: strconv.Itoa(specTimestamp), HeaderSignature: specSignature},
		},
		{name: "valid raw secret", headers: headers(rawSignature), secrets: []string{rawSecret}},
		{name: "valid whsec_ secret", headers: headers(sign("whsec_c2VjcmV0LWtleQ==")), secrets: []string{"whsec_c2VjcmV0LWtleQ=="}},
		{
			// The whsec_ prefix is what makes the key the decoded bytes.
			name: "base64 text without whsec_ is a raw secret", headers: headers(sign("whsec_c2VjcmV0LWtleQ==")),
			secrets: []string{"c2VjcmV0LWtleQ=="}, want: ErrNoMatch,
		},
		{name: "second of several secrets matches", headers: headers(rawSignature), secrets: []string{"old-secret", rawSecret, "whsec_c2VjcmV0LWtleQ=="}},
		{name: "second of several entries matches", headers: headers(otherSig + " " + rawSignature), secrets: []string{rawSecret}},
		{name: "extra spaces between entries", headers: headers("  " + otherSig + "   " + rawSignature + " "), secrets: []string{rawSecret}},
		{name: "unknown versions are skipped", headers: headers("v1a,AAAA v2," + strings.TrimPrefix(rawSignature, "v1,") + " " + rawSignature), secrets: []string{rawSecret}},
		{name: "invalid whsec_ secret skipped, next one matches", headers: headers(rawSignature), secrets: []string{"whsec_%%%", "", "whsec_", rawSecret}},
		{
			name:    "header names in other case",
			headers: map[string]string{"Webhook-Id": rawID, "WEBHOOK-TIMESTAMP": ts, "Webhook-Signature": rawSignature},
			secrets: []string{rawSecret},
		},
		{
			name:    "one header in several spellings with one value",
			headers: map[string]string{HeaderID: rawID, "Webhook-Id": rawID, HeaderTimestamp: ts, HeaderSignature: rawSignature},
			secrets: []string{rawSecret},
		},
		{
			// Reading either copy would let the sender choose what the signature
			// check and deduplication each see.
			name:    "one header in several spellings with different values",
			headers: map[string]string{HeaderID: rawID, "Webhook-Id": "msg_other", HeaderTimestamp: ts, HeaderSignature: rawSignature},
			secrets: []string{rawSecret}, want: ErrAmbiguousHeader, msg: "header webhook-id is given in several spellings with different values",
		},
		{
			name: "an empty spelling is a different value",
			headers: map[string]string{HeaderID: rawID, HeaderTimestamp: ts, "WEBHOOK-TIMESTAMP": "",
				HeaderSignature: rawSignature},
			secrets: []string{rawSecret}, want: ErrAmbiguousHeader, msg: "webhook-timestamp",
		},
		{
			name:    "a non-ASCII look-alike of a name is another header",
			headers: map[string]string{"webhoo\u212a-id": rawID, HeaderTimestamp: ts, HeaderSignature: rawSignature},
			secrets: []string{rawSecret}, want: ErrMissingHeaders, msg: "missing webhook header(s): webhook-id",
		},
		{name: "missing webhook-id", headers: without(HeaderID), secrets: []string{rawSecret}, want: ErrMissingHeaders, msg: "missing webhook header(s): webhook-id"},
		{name: "missing webhook-timestamp", headers: without(HeaderTimestamp), secrets: []string{rawSecret}, want: ErrMissingHeaders, msg: "missing webhook header(s): webhook-timestamp"},
		{name: "missing webhook-signature", headers: without(HeaderSignature), secrets: []string{rawSecret}, want: ErrMissingHeaders, msg: "missing webhook header(s): webhook-signature"},
		{name: "empty webhook-signature", headers: emptied(HeaderSignature), secrets: []string{rawSecret}, want: ErrMissingHeaders, msg: "webhook-signature"},
		{name: "empty webhook-id", headers: emptied(HeaderID), secrets: []string{rawSecret}, want: ErrMissingHeaders, msg: "webhook-id"},
		{name: "no headers", headers: nil, secrets: []string{rawSecret}, want: ErrMissingHeaders, msg: "webhook-id, webhook-timestamp, webhook-signature"},
		{name: "only spaces in webhook-signature", headers: headers("   "), secrets: []string{rawSecret}, want: ErrNoMatch, msg: "no well-formed entry"},
		{name: "v2 entry", headers: headers("v2," + strings.TrimPrefix(rawSignature, "v1,")), secrets: []string{rawSecret}, want: ErrNoMatch, msg: "no well-formed entry"},
		{name: "v1 without comma", headers: headers("v1"), secrets: []string{rawSecret}, want: ErrNoMatch, msg: "no well-formed entry"},
		{name: "v1 with empty signature", headers: headers("v1,"), secrets: []string{rawSecret}, want: ErrNoMatch, msg: "no well-formed entry"},
		{name: "garbage", headers: headers("garbage"), secrets: []string{rawSecret}, want: ErrNoMatch, msg: "no well-formed entry"},
		{name: "bad base64", headers: headers("v1,not*base64"), secrets: []string{rawSecret}, want: ErrNoMatch, msg: "no well-formed entry"},
		{name: "URL-safe base64 is not the spec's", headers: headers("v1," + base64.RawURLEncoding.EncodeToString(sigBytes) + "-_"), secrets: []string{rawSecret}, want: ErrNoMatch},
		{name: "truncated signature", headers: headers("v1," + base64.StdEncoding.EncodeToString(sigBytes[:16])), secrets: []string{rawSecret}, want: ErrNoMatch, msg: "no webhook-signature entry matches"},
		{name: "wrong secret", headers: headers(rawSignature), secrets: []string{"wrong-secret"}, want: ErrNoMatch, msg: "no webhook-signature entry matches"},
		{name: "body changed by one byte", headers: headers(rawSignature), body: "hellO", secrets: []string{rawSecret}, want: ErrNoMatch},
		{name: "empty body", headers: headers(rawSignature), body: "-", secrets: []string{rawSecret}, want: ErrNoMatch},
		{name: "other webhook-id", headers: map[string]string{HeaderID: "msg_other", HeaderTimestamp: ts, HeaderSignature: rawSignature}, secrets: []string{rawSecret}, want: ErrNoMatch},
		{
			// Signed text is the header as sent, so a reformatted timestamp of
			// the same instant does not carry the signature over.
			name:    "same instant written differently",
			headers: map[string]string{HeaderID: rawID, HeaderTimestamp: "0" + ts, HeaderSignature: rawSignature},
			secrets: []string{rawSecret}, want: ErrNoMatch,
		},
		{name: "no secrets", headers: headers(rawSignature), secrets: nil, want: ErrNoMatch},
		{name: "no usable secret", headers: headers(rawSignature), secrets: []string{"whsec_!!", "", "whsec_"}, want: ErrNoMatch},
		{
			name: "10 minutes old", headers: at(rawTimestamp - 600), secrets: []string{rawSecret}, want: ErrTimestampOutOfRange,
			msg: "webhook-timestamp 1699999400 is 10m0s in the past; at most 5m0s either way is accepted",
		},
		{
			name: "10 minutes in the future", headers: at(rawTimestamp + 600), secrets: []string{rawSecret}, want: ErrTimestampOutOfRange,
			msg: "webhook-timestamp 1700000600 is 10m0s in the future; at most 5m0s either way is accepted",
		},
		{name: "4m59s old", headers: at(rawTimestamp - 299), secrets: []string{rawSecret}},
		{name: "4m59s in the future", headers: at(rawTimestamp + 299), secrets: []string{rawSecret}},
		{name: "exactly 5m old", headers: at(rawTimestamp - 300), secrets: []string{rawSecret}},
		{name: "exactly 5m in the future", headers: at(rawTimestamp + 300), secrets: []string{rawSecret}},
		{
			name: "5m0.5s old (sub-second now)", headers: at(rawTimestamp - 300), now: now.Add(500 * time.Millisecond),
			secrets: []string{rawSecret}, want: ErrTimestampOutOfRange, msg: "is 5m0.5s in the past",
		},
		{
			name: "4m59.5s in the future (sub-second now)", headers: at(rawTimestamp + 300), now: now.Add(500 * time.Millisecond),
			secrets: []string{rawSecret},
		},
		{name: "5m1s old", headers: at(rawTimestamp - 301), secrets: []string{rawSecret}, want: ErrTimestampOutOfRange, msg: "5m1s in the past"},
		{
			name: "largest timestamp", headers: at(math.MaxInt64), secrets: []string{rawSecret}, want: ErrTimestampOutOfRange,
			msg: "webhook-timestamp 9223372036854775807 is 9223372035154775807s in the future",
		},
		{
			name: "smallest timestamp", headers: at(math.MinInt64), secrets: []string{rawSecret}, want: ErrTimestampOutOfRange,
			msg: "webhook-timestamp -9223372036854775808 is 9223372038554775808s in the past",
		},
		{name: "zero timestamp", headers: at(0), secrets: []string{rawSecret}, want: ErrTimestampOutOfRange, msg: "in the past"},
		{
			name:    "non-numeric timestamp",
			headers: map[string]string{HeaderID: rawID, HeaderTimestamp: "yesterday", HeaderSignature: rawSignature},
			secrets: []string{rawSecret}, want: ErrBadTimestamp, msg: `webhook-timestamp "yesterday" is not an integer of Unix seconds`,
		},
		{
			name:    "timestamp in milliseconds",
			headers: map[string]string{HeaderID: rawID, HeaderTimestamp: ts + "000", HeaderSignature: rawSignature},
			secrets: []string{rawSecret}, want: ErrTimestampOutOfRange, msg: "in the future",
		},
		{
			name:    "fractional timestamp",
			headers: map[string]string{HeaderID: rawID, HeaderTimestamp: ts + ".5", HeaderSignature: rawSignature},
			secrets: []string{rawSecret}, want: ErrBadTimestamp,
		},
		{
			name:    "long timestamp is cut in the message",
			headers: map[string]string{HeaderID: rawID, HeaderTimestamp: strings.Repeat("x", 100), HeaderSignature: rawSignature},
			secrets: []string{rawSecret}, want: ErrBadTimestamp, msg: `"` + strings.Repeat("x", 32) + `"… is not`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := tc.body
			switch body {
			case "":
				body = rawBody
			case "-":
				body = ""
			}
			when := tc.now
			if when.IsZero() {
				when = now
			}
			err := Verify(tc.headers, []byte(body), tc.secrets, when)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.msg)
			for _, s := range append(tc.secrets, rawSignature, strings.TrimPrefix(rawSignature, "v1,"), otherSig) {
				if s != "" {
					require.NotContains(t, err.Error(), s, "messages must not reveal secrets or signatures")
				}
			}
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, secret string
		body         []byte
		sent         time.Time
	}{
		{"whsec_ secret", "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")), []byte(`{"a":1}`), now},
		{"raw secret", "plain text secret", []byte(`{"a":1}`), now.Add(-time.Minute)},
		{"empty body", specSecret, nil, now.Add(time.Minute)},
		{"binary body", rawSecret, []byte{0, 1, 2, 0xff, '.', '\n'}, now},
		// Sign keeps whole seconds, as the header does; the sub-second part is
		// dropped, not rounded.
		{"sub-second send time", rawSecret, []byte("x"), now.Add(999 * time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig := Sign(tc.secret, "msg_1", tc.sent, tc.body)
			require.True(t, strings.HasPrefix(sig, "v1,"))
			h := map[string]string{
				"Webhook-Id":        "msg_1",
				"Webhook-Timestamp": strconv.FormatInt(tc.sent.Unix(), 10),
				"Webhook-Signature": sig,
			}
			require.NoError(t, Verify(h, tc.body, []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("rotated-out")), tc.secret}, now))
			require.ErrorIs(t, Verify(h, append([]byte("!"), tc.body...), []string{tc.secret}, now), ErrNoMatch)
		})
	}
}
