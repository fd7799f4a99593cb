package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	"github.com/workflow-runtime/workflow-runtime/transport"
)

func TestLogLevelHandler(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		method, url  string
		contentType  string
		body         string
		wantCode     int
		wantLevel    string // the level afterwards
		wantChanged  bool   // a change line was logged
		wantResponse string
	}{
		{"get", "GET", "/admin/log-level", "", "", 200, "warn", false, `{"level":"warn","configured":"warn"}`},
		{"put query", "PUT", "/admin/log-level?level=debug", "", "", 200, "debug", true, `{"level":"debug","configured":"warn"}`},
		{"put form", "PUT", "/admin/log-level", "application/x-www-form-urlencoded", "level=error", 200, "error", true,
			`{"level":"error","configured":"warn"}`},
		{"put json", "PUT", "/admin/log-level", "application/json; charset=utf-8", `{"level":"info"}`, 200, "info", true,
			`{"level":"info","configured":"warn"}`},
		{"unknown level", "PUT", "/admin/log-level?level=trace", "", "", 400, "warn", false, ""},
		{"no level", "PUT", "/admin/log-level", "", "", 400, "warn", false, ""},
		{"bad json", "PUT", "/admin/log-level", "application/json", `{"level":`, 400, "warn", false, ""},
		{"body too large", "PUT", "/admin/log-level", "application/x-www-form-urlencoded", "level=debug&pad=" + strings.Repeat("x", 2000), 400, "warn", false, ""},
		{"post not allowed", "POST", "/admin/log-level?level=debug", "", "", 405, "warn", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var logs bytes.Buffer
			_, lvl, err := logging.New(&logs, "json", "warn", "i")
			require.NoError(t, err)
			req := httptest.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			logLevelHandler(lvl).ServeHTTP(rec, req)

			require.Equal(t, tt.wantCode, rec.Code, "body: %s", rec.Body.String())
			require.Equal(t, tt.wantLevel, lvl.String())
			if tt.wantResponse != "" {
				require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				if diff := cmp.Diff(tt.wantResponse+"\n", rec.Body.String()); diff != "" {
					t.Errorf("response mismatch (-want +got):\n%s", diff)
				}
			}
			if !tt.wantChanged {
				require.Empty(t, logs.String())
				return
			}
			var line map[string]any
			require.NoError(t, json.Unmarshal(logs.Bytes(), &line))
			require.Equal(t, "log level changed", line["msg"])
			require.Equal(t, tt.wantLevel, line["to"])
			require.Equal(t, "PUT /admin/log-level from "+req.RemoteAddr, line["by"])
			require.Regexp(t, `^loglevel\.go:\d+$`, line["caller"])
		})
	}
}

// The route is served by the port's handler.
func TestNewHandlerServesLogLevel(t *testing.T) {
	t.Parallel()

	_, lvl, err := logging.New(&bytes.Buffer{}, "json", "info", "i")
	require.NoError(t, err)
	h, err := NewHandler(t.Context(), nil, nil, http.NotFoundHandler(), 1<<20, transport.NewBudget(1<<20), lvl, nil)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/admin/log-level?level=debug", nil))
	require.Equal(t, 200, rec.Code, "body: %s", rec.Body.String())
	require.Equal(t, "debug", lvl.String())
}
