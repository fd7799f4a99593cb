package http

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/transport"
)

// TestMarkAdmitted: a request the middleware admits, with a token or to an
// open path, keeps its connection past the pre-auth timeout; a refused one
// does not.
func TestMarkAdmitted(t *testing.T) {
	t.Parallel()
	const token = "mark-token-0123456789abcdef"
	a, err := auth.New(auth.Options{Tokens: []string{token}, OpenPaths: []string{"/livez"}})
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lis := transport.NewListener(raw, 0, time.Hour)
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener.Close()
	srv.Listener = lis
	srv.Config.Handler = a.Middleware(MarkAdmitted(lis, echo))
	srv.Start()
	t.Cleanup(srv.Close)

	get := func(path, authorization string) int {
		// A client of its own: one connection per request.
		client := &http.Client{Transport: &http.Transport{}}
		t.Cleanup(client.CloseIdleConnections)
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, get("/api/v1/deployments", ""))
	require.Equal(t, 1, lis.Waiting(), "a refused request admits nothing")
	require.Equal(t, http.StatusOK, get("/livez", ""))
	require.Equal(t, http.StatusOK, get("/api/v1/deployments", "Bearer "+token))
	require.Equal(t, 1, lis.Waiting(), "an open path and a token admit their connections")
}
