package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/auth/authtest"
)

const (
	tokenA = "token-a-0123456789abcdef"
	tokenB = "token-b-0123456789abcdef"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestLoadSecurity(t *testing.T) {
	t.Parallel()

	ca := authtest.NewCA(t, "clients")
	server := authtest.NewCA(t, "servers").Issue(t, "server")
	tokens := writeFile(t, "tokens", "# operators\n\n  "+tokenB+"  \n")
	env := map[string]string{
		"WFR_DATABASE_URL":      testDatabaseURL,
		"WFR_INSTANCE_ID":       "x",
		"WFR_AUTH_TOKENS":       tokenA + ", gateway:trigger:" + tokenB,
		"WFR_AUTH_TOKENS_FILE":  tokens,
		"WFR_AUTH_OPEN_PATHS":   "/livez,/readyz,/metrics",
		"WFR_TLS_CERT":          server.CertFile,
		"WFR_TLS_KEY":           server.KeyFile,
		"WFR_TLS_CLIENT_CA":     ca.CertFile,
		"WFR_AUTH_CLIENT_ROLES": "CN=gateway:trigger,CN=ops:admin",
	}
	want := func(c Config) Config {
		c.AuthTokens = []string{tokenA, "gateway:trigger:" + tokenB}
		c.AuthClientRoles = map[string]auth.Role{"gateway": auth.RoleTrigger, "ops": auth.RoleAdmin}
		c.AuthTokensFile = tokens
		c.AuthOpenPaths = []string{"/livez", "/readyz", "/metrics"}
		c.TLSCert, c.TLSKey, c.TLSClientCA = server.CertFile, server.KeyFile, ca.CertFile
		return c
	}
	base, err := Load("workflow-runtime", nil, func(k string) string {
		if k == "WFR_DATABASE_URL" || k == "WFR_INSTANCE_ID" {
			return env[k]
		}
		return ""
	}, &bytes.Buffer{})
	require.NoError(t, err)

	fromEnv, err := Load("workflow-runtime", nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	require.NoError(t, err)
	if diff := cmp.Diff(want(base), fromEnv); diff != "" {
		t.Errorf("Load() from the environment mismatch (-want +got):\n%s", diff)
	}
	var args []string
	for k, v := range env {
		if strings.HasPrefix(k, "WFR_AUTH") || strings.HasPrefix(k, "WFR_TLS") {
			args = append(args, fmt.Sprintf("--%s=%s", flagName(k), v))
		}
	}
	fromFlags, err := Load("workflow-runtime", args, func(k string) string {
		if k == "WFR_DATABASE_URL" || k == "WFR_INSTANCE_ID" {
			return env[k]
		}
		return ""
	}, &bytes.Buffer{})
	require.NoError(t, err)
	if diff := cmp.Diff(want(base), fromFlags); diff != "" {
		t.Errorf("Load() from flags mismatch (-want +got):\n%s", diff)
	}

	none, err := Load("workflow-runtime", []string{"--auth-open-paths=none"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	require.NoError(t, err)
	require.Empty(t, none.AuthOpenPaths)

	redacted := fmt.Sprintf("%+v", fromEnv.Redacted())
	require.NotContains(t, redacted, tokenA)
	require.NotContains(t, redacted, tokenB)
	require.Contains(t, redacted, "AuthTokens:[xxxxx xxxxx]")
	require.Equal(t, []string{tokenA, "gateway:trigger:" + tokenB}, fromEnv.AuthTokens, "Redacted() changed its receiver")
}

func TestLoadBadSecurity(t *testing.T) {
	t.Parallel()

	servers := authtest.NewCA(t, "servers")
	server, other := servers.Issue(t, "server"), servers.Issue(t, "other")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	commentsOnly := writeFile(t, "comments", "# nobody yet\n\n")
	badFile := writeFile(t, "bad", tokenA+"\nshort\n")
	notPEM := writeFile(t, "ca.pem", "not a certificate")

	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{
			name: "empty and short tokens, named by position only",
			env:  map[string]string{"WFR_AUTH_TOKENS": tokenA + ",,hunter2"},
			want: `WFR_AUTH_TOKENS (--auth-tokens) = "<redacted>": token 2 is empty; token 3 is shorter than 16 characters`,
		},
		{
			name: "token with a space",
			env:  map[string]string{"WFR_AUTH_TOKENS": "token with spaces inside"},
			want: `WFR_AUTH_TOKENS (--auth-tokens) = "<redacted>": token 1 holds a character other than printable ASCII without spaces`,
		},
		{
			name: "token looking like a URL stays hidden",
			env:  map[string]string{"WFR_AUTH_TOKENS": "https://user:pw@example.test/x,short"},
			want: `WFR_AUTH_TOKENS (--auth-tokens) = "<redacted>": token 2 is shorter than 16 characters`,
		},
		{
			name: "unknown role, named without the token",
			env:  map[string]string{"WFR_AUTH_TOKENS": "gateway:trigger:" + tokenA + ",ci:root:" + tokenA},
			want: `WFR_AUTH_TOKENS (--auth-tokens) = "<redacted>": token 2 (ci) has the unknown role "root", not one of admin, operator, trigger, read`,
		},
		{
			name: "named entry with a short token",
			env:  map[string]string{"WFR_AUTH_TOKENS": "ci:read:hunter2"},
			want: `WFR_AUTH_TOKENS (--auth-tokens) = "<redacted>": token 1 (ci) is shorter than 16 characters`,
		},
		{
			name: "client roles without client CA",
			env:  map[string]string{"WFR_AUTH_CLIENT_ROLES": "CN=gateway:trigger"},
			want: `WFR_AUTH_CLIENT_ROLES (--auth-client-roles) = "CN=gateway:trigger": needs WFR_TLS_CLIENT_CA: roles are given to verified client certificates`,
		},
		{
			name: "client role unknown",
			env:  map[string]string{"WFR_TLS_CERT": server.CertFile, "WFR_TLS_KEY": server.KeyFile, "WFR_TLS_CLIENT_CA": servers.CertFile, "WFR_AUTH_CLIENT_ROLES": "CN=gateway:root"},
			want: `WFR_AUTH_CLIENT_ROLES (--auth-client-roles) = "CN=gateway:root": entry 1 (CN=gateway) has the unknown role "root", not one of admin, operator, trigger, read`,
		},
		{
			name: "unreadable token file",
			env:  map[string]string{"WFR_AUTH_TOKENS_FILE": missing},
			want: fmt.Sprintf(`WFR_AUTH_TOKENS_FILE (--auth-tokens-file) = %q: open %s: no such file or directory`, missing, missing),
		},
		{
			name: "token file without tokens",
			env:  map[string]string{"WFR_AUTH_TOKENS_FILE": commentsOnly},
			want: fmt.Sprintf(`WFR_AUTH_TOKENS_FILE (--auth-tokens-file) = %q: %s holds no token`, commentsOnly, commentsOnly),
		},
		{
			name: "bad token in a file",
			env:  map[string]string{"WFR_AUTH_TOKENS_FILE": badFile},
			want: fmt.Sprintf(`WFR_AUTH_TOKENS_FILE (--auth-tokens-file) = %q: %s: line 2: token is shorter than 16 characters`, badFile, badFile),
		},
		{
			name: "unknown open path",
			env:  map[string]string{"WFR_AUTH_OPEN_PATHS": "/livez,/api/v1/deployments"},
			want: `WFR_AUTH_OPEN_PATHS (--auth-open-paths) = "/livez,/api/v1/deployments": must be none or a comma-separated list of /livez, /readyz, /health, /metrics, /docs, /openapi.json`,
		},
		{
			name: "certificate without key",
			env:  map[string]string{"WFR_TLS_CERT": server.CertFile},
			want: `WFR_TLS_KEY (--tls-key) = "": must be set with WFR_TLS_CERT`,
		},
		{
			name: "key without certificate",
			env:  map[string]string{"WFR_TLS_KEY": server.KeyFile},
			want: fmt.Sprintf(`WFR_TLS_KEY (--tls-key) = %q: needs WFR_TLS_CERT`, server.KeyFile),
		},
		{
			name: "key of another certificate",
			env:  map[string]string{"WFR_TLS_CERT": server.CertFile, "WFR_TLS_KEY": other.KeyFile},
			want: fmt.Sprintf(`WFR_TLS_KEY (--tls-key) = %q: with WFR_TLS_CERT: tls: private key does not match public key`, other.KeyFile),
		},
		{
			name: "unreadable certificate",
			env:  map[string]string{"WFR_TLS_CERT": missing, "WFR_TLS_KEY": server.KeyFile},
			want: fmt.Sprintf(`WFR_TLS_KEY (--tls-key) = %q: with WFR_TLS_CERT: open %s: no such file or directory`, server.KeyFile, missing),
		},
		{
			name: "client CA without certificate",
			env:  map[string]string{"WFR_TLS_CLIENT_CA": servers.CertFile},
			want: fmt.Sprintf(`WFR_TLS_CLIENT_CA (--tls-client-ca) = %q: needs WFR_TLS_CERT and WFR_TLS_KEY: client certificates are checked only over TLS`, servers.CertFile),
		},
		{
			name: "client CA not PEM",
			env:  map[string]string{"WFR_TLS_CERT": server.CertFile, "WFR_TLS_KEY": server.KeyFile, "WFR_TLS_CLIENT_CA": notPEM},
			want: fmt.Sprintf(`WFR_TLS_CLIENT_CA (--tls-client-ca) = %q: %s holds no PEM certificate`, notPEM, notPEM),
		},
		{
			name: "client CA unreadable",
			env:  map[string]string{"WFR_TLS_CERT": server.CertFile, "WFR_TLS_KEY": server.KeyFile, "WFR_TLS_CLIENT_CA": missing},
			want: fmt.Sprintf(`WFR_TLS_CLIENT_CA (--tls-client-ca) = %q: open %s: no such file or directory`, missing, missing),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			tt.env["WFR_DATABASE_URL"] = testDatabaseURL
			_, err := Load("workflow-runtime", nil, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			require.Error(t, err)
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("Load() error mismatch (-want +got):\n%s", diff)
			}
			require.NotContains(t, err.Error(), tokenA)
			require.NotContains(t, err.Error(), "hunter2")
			require.NotContains(t, err.Error(), "pw@")
		})
	}
}

func TestUsageHidesSecrets(t *testing.T) {
	t.Parallel()

	var out bytes.Buffer
	_, err := Load("workflow-runtime", []string{"-h"}, env(map[string]string{
		"WFR_DATABASE_URL": "postgres://app:hunter2@db/wfr",
		"WFR_AUTH_TOKENS":  tokenA,
	}), &out)
	require.Error(t, err)
	require.NotContains(t, out.String(), tokenA)
	require.NotContains(t, out.String(), "hunter2")
	require.Contains(t, out.String(), `(default "<redacted>")`)
	require.Contains(t, out.String(), `(default "postgres://app:xxxxx@db/wfr")`)
}
