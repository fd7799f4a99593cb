package logging

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"unicode"

	"google.golang.org/protobuf/proto"
)

// Masking happens here, on every line, rather than at the call sites, so
// that no call site can forget it:
//   - the value of a key named like a secret (secretWords) is replaced whole,
//     also inside logged maps, structs and protobuf messages, which is how
//     header maps (authorization, webhook-signature, x-hub-signature-256) and
//     webhook trigger specs (Secrets) are covered;
//   - in any text (strings, errors, Stringers) the password of a URL, the
//     values of its query parameters named like a secret, Standard Webhooks
//     secrets (whsec_...), the credentials after "Bearer " or "Basic ", and
//     the values of key=value pairs named like a secret (a libpq DSN's
//     password=..., say) are replaced.
const (
	redacted       = "<redacted>"
	maskedPassword = "xxxxx"
	whsecPrefix    = "whsec_"
	// maxDepth bounds the walk of nested values, which may be cyclic.
	maxDepth = 8
	// minCredential is the shortest value after "Bearer " or "Basic " taken
	// for a credential.
	minCredential = 8
)

// secretWords are matched case-insensitively anywhere in a key, with '-'
// matching '_' so that header names (x-api-key) match too.
var secretWords = []string{
	"password", "passwd", "secret", "token", "authorization", "api_key", "apikey",
	"signature", "credential", "private_key", "privatekey", "cookie",
}

// textSecrets start, in free text and whatever their case, a value that is
// masked up to the next space or quote.
var textSecrets = []string{
	"bearer ", "basic ", "password=", "passwd=", "secret=", "token=", "api_key=", "apikey=",
}

func secretKey(k string) bool {
	for _, w := range secretWords {
		if containsWord(k, w) {
			return true
		}
	}
	return false
}

// containsWord reports whether s contains word (lower case) ignoring ASCII
// case and taking '-' for '_'; it does not allocate, since it runs on every
// key of every line.
func containsWord(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		j := 0
		for ; j < len(word); j++ {
			c := s[i+j]
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case c == '-':
				c = '_'
			}
			if c != word[j] {
				break
			}
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

// mask returns v as it may be written under key k.
func (c *core) mask(k, v any) any {
	if name, ok := k.(string); ok && secretKey(name) {
		return redacted
	}
	m, walked := scrub(v, 0)
	if walked && c.flat {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			return redacted
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	return m
}

// scrub masks the secrets of v. Composite values come back as maps and
// slices of masked values, and walked reports that.
func scrub(v any, depth int) (masked any, walked bool) {
	switch x := v.(type) {
	case nil, bool, int, int32, int64, uint, uint32, uint64, float32, float64, []byte:
		return v, false
	case string:
		return maskText(x), false
	case *url.URL:
		if x == nil {
			return v, false
		}
		return maskText(x.String()), false
	case url.URL:
		return maskText(x.String()), false
	case proto.Message:
		// Before fmt.Stringer: a message's String prints every field.
		return walk(reflect.ValueOf(x), depth), true
	case json.Marshaler, encoding.TextMarshaler:
		return v, false
	case error:
		if s, ok := safeText(x.Error); ok {
			return maskText(s), false
		}
		return v, false
	case fmt.Stringer:
		if s, ok := safeText(x.String); ok {
			return maskText(s), false
		}
		return v, false
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Map, reflect.Struct, reflect.Slice, reflect.Array, reflect.Pointer, reflect.Interface:
		return walk(reflect.ValueOf(v), depth), true
	}
	return v, false
}

// safeText calls a String or Error method that may panic on a nil receiver;
// on a panic the value is left for go-kit, which writes it safely.
func safeText(f func() string) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return f(), true
}

func walk(rv reflect.Value, depth int) any {
	if depth >= maxDepth {
		return "<too deep>"
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return walkElem(rv.Elem(), depth)
	case reflect.Map:
		if rv.IsNil() {
			return nil
		}
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key().Interface())
			m[k] = walkField(k, it.Value(), depth)
		}
		return m
	case reflect.Struct:
		m := map[string]any{}
		t := rv.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" || (strings.Contains(opts, "omitempty") && rv.Field(i).IsZero()) {
				continue
			}
			if name == "" {
				name = f.Name
			}
			m[name] = walkField(name, rv.Field(i), depth)
		}
		return m
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil
		}
		s := make([]any, rv.Len())
		for i := range s {
			s[i] = walkElem(rv.Index(i), depth)
		}
		return s
	}
	return rv.Interface()
}

func walkField(name string, v reflect.Value, depth int) any {
	if secretKey(name) {
		return redacted
	}
	return walkElem(v, depth)
}

func walkElem(v reflect.Value, depth int) any {
	m, _ := scrub(v.Interface(), depth+1)
	return m
}

// maskText masks the URL passwords, secret URL parameters and webhook
// secrets in s, wherever they are in it (an error often quotes a URL).
func maskText(s string) string {
	if strings.Contains(s, "://") {
		s = eachToken(s, "://", maskURLTail)
	}
	if strings.Contains(s, whsecPrefix) {
		s = eachToken(s, whsecPrefix, func(string) string { return maskedPassword })
	}
	// Every text secret's prefix ends in a space or '=': a value with
	// neither, as most ids, names and numbers are, skips the scan for
	// them, which costs len(s) times their count.
	if strings.IndexByte(s, ' ') < 0 && strings.IndexByte(s, '=') < 0 {
		return s
	}
	for _, prefix := range textSecrets {
		if containsWord(s, prefix) {
			s = eachTokenFold(s, prefix)
		}
	}
	return s
}

// eachTokenFold masks, after each occurrence of prefix (lower case) in s,
// matched ignoring ASCII case, the value that follows: up to its closing
// quote when it is quoted, else up to the next space or quote. A value
// already masked (a URL's query parameter) is left as it is.
func eachTokenFold(s, prefix string) string {
	var b strings.Builder
	for {
		i := indexFold(s, prefix)
		if i < 0 {
			break
		}
		b.WriteString(s[:i+len(prefix)])
		rest := s[i+len(prefix):]
		if len(rest) > 0 && (rest[0] == '"' || rest[0] == '\'') {
			if end := strings.IndexByte(rest[1:], rest[0]); end >= 0 {
				b.WriteString(string(rest[0]) + maskedPassword + string(rest[0]))
				s = rest[end+2:]
				continue
			}
		}
		end := strings.IndexFunc(rest, tokenEnd)
		if end < 0 {
			end = len(rest)
		}
		// After an auth scheme, a short word is prose ("the bearer token is
		// not valid"), not a credential.
		short := prefix[len(prefix)-1] == ' ' && end < minCredential
		if value := rest[:end]; value == "" || short || strings.HasPrefix(value, maskedPassword) {
			b.WriteString(value)
		} else {
			b.WriteString(maskedPassword)
		}
		s = rest[end:]
	}
	b.WriteString(s)
	return b.String()
}

// indexFold is strings.Index ignoring ASCII case, for a lower-case sep.
func indexFold(s, sep string) int {
	for i := 0; i+len(sep) <= len(s); i++ {
		if containsWord(s[i:i+len(sep)], sep) {
			return i
		}
	}
	return -1
}

// eachToken replaces, after each occurrence of sep in s, the text up to the
// next space or quote by f of it.
func eachToken(s, sep string, f func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, sep)
		if i < 0 {
			break
		}
		rest := s[i+len(sep):]
		end := strings.IndexFunc(rest, tokenEnd)
		if end < 0 {
			end = len(rest)
		}
		b.WriteString(s[:i+len(sep)])
		b.WriteString(f(rest[:end]))
		s = rest[end:]
	}
	b.WriteString(s)
	return b.String()
}

func tokenEnd(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("\"'`<>", r)
}

// maskURLTail masks a URL after its "scheme://": the password of its user
// info and its query parameters named like a secret.
func maskURLTail(t string) string {
	authEnd := strings.IndexAny(t, "/?#")
	if authEnd < 0 {
		authEnd = len(t)
	}
	auth, rest := t[:authEnd], t[authEnd:]
	if strings.Contains(rest, "://") {
		// A URL inside this one's path or query (a redirect target).
		rest = eachToken(rest, "://", maskURLTail)
	}
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		if colon := strings.IndexByte(auth[:at], ':'); colon >= 0 {
			auth = auth[:colon+1] + maskedPassword + auth[at:]
		}
	}
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		return auth + rest
	}
	query, frag := rest[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		if name, _, ok := strings.Cut(p, "="); ok && secretKey(name) {
			params[i] = name + "=" + maskedPassword
		}
	}
	return auth + rest[:q+1] + strings.Join(params, "&") + frag
}
