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

func TestTokensContains(t *testing.T) {
	t.Parallel()

	set := NewTokens(tokenA, tokenB)
	require.Equal(t, 2, set.Len())
	tests := []struct {
		token string
		want  bool
	}{
		{tokenA, true},
		{tokenB, true},
		{"", false},
		{tokenA[:len(tokenA)-1], false},
		{tokenA + "x", false},
		{strings.ToUpper(tokenA), false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.token), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, set.Contains(tt.token))
		})
	}
	require.False(t, NewTokens().Contains(""), "an empty set holds nothing")
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

	bad := writeFile(t, tokenA+"\nshort\n\nhas space inside-0123456789\n")
	_, err = ReadTokenFile(bad)
	require.EqualError(t, err, bad+": line 2: token is shorter than 16 characters; line 4: token holds a character other than printable ASCII without spaces")
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
	set := NewTokens(tokens...)
	for b.Loop() {
		set.Contains(tokens[9])
	}
}
