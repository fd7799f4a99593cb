package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MinTokenLength is the shortest bearer token accepted: shorter ones are
// guessable.
const MinTokenLength = 16

// Tokens is a set of bearer tokens kept as SHA-256 digests, so that every
// comparison runs over 32 bytes whatever the length of the token presented,
// each with the identity of the callers that send it.
type Tokens struct {
	digests    [][sha256.Size]byte
	identities []Identity
}

// NewTokens returns the set of token entries, each a plain token or
// name:role:token, as ParseTokens and ReadTokenFile return them.
func NewTokens(entries ...string) (*Tokens, error) {
	t := &Tokens{digests: make([][sha256.Size]byte, len(entries)), identities: make([]Identity, len(entries))}
	for i, e := range entries {
		id, tok, err := parseEntry(e)
		if err != nil {
			return nil, fmt.Errorf("token %d %w", i+1, err)
		}
		t.digests[i], t.identities[i] = sha256.Sum256([]byte(tok)), id
	}
	return t, nil
}

// Len is the number of tokens in the set.
func (t *Tokens) Len() int { return len(t.digests) }

// Lookup returns the identity of token, and whether it is in the set. It
// compares against every token without an early exit, so that its time
// tells neither whether nor which token matched.
func (t *Tokens) Lookup(token string) (Identity, bool) {
	d := sha256.Sum256([]byte(token))
	found, at := 0, 0
	for i := range t.digests {
		eq := subtle.ConstantTimeCompare(d[:], t.digests[i][:])
		at = subtle.ConstantTimeSelect(eq, i, at)
		found |= eq
	}
	if found != 1 {
		return Identity{}, false
	}
	return t.identities[at], true
}

// ParseTokens splits a comma-separated list of token entries, as
// WFR_AUTH_TOKENS holds them: plain tokens, or name:role:token. Its error
// names bad entries by position and name, never by token, on one line.
func ParseTokens(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	var tokens, problems []string
	for i, tok := range strings.Split(list, ",") {
		tok = strings.TrimSpace(tok)
		if _, _, err := parseEntry(tok); err != nil {
			problems = append(problems, fmt.Sprintf("token %d %v", i+1, err))
			continue
		}
		tokens = append(tokens, tok)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return tokens, nil
}

// ReadTokenFile reads the token entries of a file that holds one per line,
// each a plain token or name:role:token; blank
// lines and lines starting with # are ignored. A file without a token is an
// error, because it would silently turn authentication off.
func ReadTokenFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tokens, problems []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		tok := strings.TrimSpace(sc.Text())
		if tok == "" || strings.HasPrefix(tok, "#") {
			continue
		}
		if _, _, err := parseEntry(tok); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: token %v", n, err))
			continue
		}
		tokens = append(tokens, tok)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", path, strings.Join(problems, "; "))
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s holds no token", path)
	}
	return tokens, nil
}

// checkToken's errors complete a sentence that names the token.
func checkToken(tok string) error {
	if tok == "" {
		return errors.New("is empty")
	}
	if len(tok) < MinTokenLength {
		return fmt.Errorf("is shorter than %d characters", MinTokenLength)
	}
	for i := range len(tok) {
		// What an Authorization header and gRPC metadata carry unchanged.
		if tok[i] < 0x21 || tok[i] > 0x7e {
			return errors.New("holds a character other than printable ASCII without spaces")
		}
	}
	return nil
}
