package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

// TestServeLogFile runs the serve command with a log file: every line goes to
// the file, stamped and free of the database password, and a level change
// through the admin route is logged.
func TestServeLogFile(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	const password = "e2e-log-secret"
	dbURL, err := url.Parse(pgtest.NewDatabase(t))
	require.NoError(t, err)
	dbURL.User = url.UserPassword(dbURL.User.Username(), password) // trust auth ignores it
	logFile := filepath.Join(t.TempDir(), "wfr.log")
	env := map[string]string{
		"WFR_DATABASE_URL": dbURL.String(), "WFR_GRPC_ADDR": "127.0.0.1:0", "WFR_HTTP_ADDR": "127.0.0.1:0",
		"WFR_INSTANCE_ID": "log-e2e", "WFR_DRAIN_DELAY": "0s", "WFR_LOG_FILE": logFile, "WFR_LOG_MAX_SIZE_MB": "1",
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, &stdout, &stderr, func(k string) string { return env[k] }) }()
	stop := sync.OnceValue(func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(20 * time.Second):
			return -1
		}
	})
	defer stop()

	_, httpAddr := servingAddrs(t, logFile, func() bool { return len(done) > 0 })
	base := "http://" + httpAddr
	awaitReady(t, http.DefaultClient, base+"/readyz", done)

	req, err := http.NewRequest(http.MethodPut, base+"/admin/log-level?level=debug", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	require.JSONEq(t, `{"level":"debug","configured":"info"}`, string(body))

	require.Equal(t, 0, stop(), "serve did not stop cleanly; stderr: %s", stderr.String())

	require.Empty(t, stderr.String(), "the log goes to the file alone")
	out, err := os.ReadFile(logFile)
	require.NoError(t, err)
	require.NotContains(t, string(out), password)
	var changed bool
	for text := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(text), &line), "line: %s", text)
		for _, k := range []string{"ts", "level", "caller", "instance_id"} {
			require.NotEmpty(t, line[k], "%s missing: %s", k, text)
		}
		require.NotContains(t, line["caller"], "logging/", "caller points into package logging: %s", text)
		if line["msg"] == "log level changed" {
			changed = line["to"] == "debug" && strings.HasPrefix(line["by"].(string), "PUT /admin/log-level from 127.0.0.1:")
		}
	}
	require.True(t, changed, "no level change line:\n%s", out)
}
