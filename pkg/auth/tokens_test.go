package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

const (
	tokenA = "token-a-0123456789abcdef"
	tokenB = "token-b-0123456789abcdef"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestTokensLookup(t *testing.T) {
	t.Parallel()

	set, err := NewTokens(tokenA, "gateway:trigger:"+tokenB, "ops:read:with:colons-0123456789")
	require.NoError(t, err)
	require.Equal(t, 3, set.Len())
	admin := Identity{Name: PlainTokenName, Role: RoleAdmin}
	tests := []struct {
		token string
		want  Identity
		found bool
	}{
		{tokenA, admin, true},
		{tokenB, Identity{Name: "gateway", Role: RoleTrigger}, true},
		{"with:colons-0123456789", Identity{Name: "ops", Role: RoleRead}, true},
		{"gateway:trigger:" + tokenB, Identity{}, false},
		{"", Identity{}, false},
		{tokenA[:len(tokenA)-1], Identity{}, false},
		{tokenA + "x", Identity{}, false},
		{strings.ToUpper(tokenA), Identity{}, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.token), func(t *testing.T) {
			t.Parallel()
			id, found := set.Lookup(tt.token)
			require.Equal(t, tt.found, found)
			require.Equal(t, tt.want, id)
		})
	}
	empty, err := NewTokens()
	require.NoError(t, err)
	_, found := empty.Lookup("")
	require.False(t, found, "an empty set holds nothing")
}

func TestParseTokens(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, list string
		want       []string
		wantErr    string
	}{
		{name: "none", list: ""},
		{name: "one", list: tokenA, want: []string{tokenA}},
		{name: "several with spaces", list: " " + tokenA + " ,\t" + tokenB, want: []string{tokenA, tokenB}},
		{name: "trailing comma", list: tokenA + ",", wantErr: "token 2 is empty"},
		{name: "every problem on one line", list: "short,," + tokenA + ",tab\tinside-0123456789",
			wantErr: "token 1 is shorter than 16 characters; token 2 is empty; token 4 holds a character other than printable ASCII without spaces"},
		{name: "not ASCII", list: "tökén-0123456789abcdef", wantErr: "token 1 holds a character other than printable ASCII without spaces"},
		{name: "named", list: "gateway:trigger:" + tokenA + ",ops:admin:" + tokenB, want: []string{"gateway:trigger:" + tokenA, "ops:admin:" + tokenB}},
		{name: "a URL is a plain token", list: "https://user:pw@example.test/x", want: []string{"https://user:pw@example.test/x"}},
		{name: "unknown role, named without the token", list: "gateway:root:" + tokenA,
			wantErr: `token 1 (gateway) has the unknown role "root", not one of admin, operator, trigger, read`},
		{name: "short named token", list: tokenB + ",ci:read:short", wantErr: "token 2 (ci) is shorter than 16 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTokens(tt.list)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseTokens() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadTokenFile(t *testing.T) {
	t.Parallel()

	good := writeFile(t, "# CI\n"+tokenA+"\n\n   # ops, indented\n\t"+tokenB+"  \r\n")
	got, err := ReadTokenFile(good)
	require.NoError(t, err)
	if diff := cmp.Diff([]string{tokenA, tokenB}, got); diff != "" {
		t.Errorf("ReadTokenFile() mismatch (-want +got):\n%s", diff)
	}

	bad := writeFile(t, tokenA+"\nshort\n\nhas space inside-0123456789\nci:writer:"+tokenB+"\n")
	_, err = ReadTokenFile(bad)
	require.EqualError(t, err, bad+": line 2: token is shorter than 16 characters; line 4: token holds a character other than printable ASCII without spaces; "+
		`line 5: token (ci) has the unknown role "writer", not one of admin, operator, trigger, read`)
	require.NotContains(t, err.Error(), tokenB)
	require.NotContains(t, err.Error(), tokenA)

	empty := writeFile(t, "# nobody\n")
	_, err = ReadTokenFile(empty)
	require.EqualError(t, err, empty+" holds no token")

	long := writeFile(t, strings.Repeat("x", 70_000))
	_, err = ReadTokenFile(long)
	require.ErrorContains(t, err, long+": ")

	_, err = ReadTokenFile(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// BenchmarkContains prints what one check costs against a set of ten tokens.
func BenchmarkContains(b *testing.B) {
	tokens := make([]string, 10)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("token-%02d-0123456789abcdef", i)
	}
	set, err := NewTokens(tokens...)
	require.NoError(b, err)
	for b.Loop() {
		set.Lookup(tokens[9])
	}
}
