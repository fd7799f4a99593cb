package http

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"

	"github.com/workflow-runtime/workflow-runtime/transport"
)

func TestScanJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		body          string
		depth, values int
	}{
		{"empty object", `{}`, 1, 1},
		{"flat object", `{"a":1,"b":"x"}`, 1, 4},
		{"array of objects", `[{},{},{}]`, 2, 6},
		{"nested", `{"a":{"b":[1,[2]]}}`, 4, 7},
		{"brackets in strings do not count", `{"a":"{[,:]}"}`, 1, 2},
		{"escaped quotes stay in the string", `{"a":"\"{[","b":[]}`, 2, 5},
		{"escaped backslash ends the escape", `["\\",{}]`, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			depth, values := scanJSON([]byte(tt.body))
			require.Equal(t, tt.depth, depth, "depth")
			require.Equal(t, tt.values, values, "values")
		})
	}
}

// echo answers with the body it reads.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	_, _ = w.Write(b)
})

func TestBodyLimits(t *testing.T) {
	t.Parallel()
	const maxBytes = 4 << 20
	srv := httptest.NewServer(limitBodies(echo, maxBytes, transport.NewBudget(1<<30)))
	t.Cleanup(srv.Close)

	tests := []struct {
		name      string
		body      io.Reader
		chunked   bool
		wantCode  int
		wantError string
	}{
		{name: "small body passes", body: strings.NewReader(`{"workflow_id":"a"}`), wantCode: 200},
		{name: "no body passes", wantCode: 200},
		{name: "declared too large", body: strings.NewReader(strings.Repeat(" ", maxBytes+1)), wantCode: 400,
			wantError: "the request body is larger than 4194304 bytes"},
		{name: "chunked too large", body: strings.NewReader(strings.Repeat(" ", maxBytes+1)), chunked: true, wantCode: 400,
			wantError: "the request body is larger than 4194304 bytes"},
		{name: "too deep", body: strings.NewReader(strings.Repeat("[", maxBodyDepth+1) + strings.Repeat("]", maxBodyDepth+1)), wantCode: 400,
			wantError: "the request body is nested more than 100 levels deep"},
		{name: "deep enough for any valid request", body: strings.NewReader(strings.Repeat("[", maxBodyDepth) + strings.Repeat("]", maxBodyDepth)), wantCode: 200},
		{name: "too many values", body: strings.NewReader("[" + strings.Repeat("{},", maxBodyValues/2) + "{}]"), wantCode: 400,
			wantError: "the request body holds more than 1048576 JSON values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := tt.body
			if tt.chunked {
				// No length known in advance: sent chunked.
				body = io.MultiReader(body)
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/deployments", body)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.wantCode, resp.StatusCode, "%.200s", got)
			if tt.wantError != "" {
				requireError(t, got, codes.InvalidArgument, tt.wantError)
			}
		})
	}
}

func requireError(t *testing.T, body []byte, code codes.Code, message string) {
	t.Helper()
	var e struct {
		Code    codes.Code `json:"code"`
		Message string     `json:"message"`
	}
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	require.Equal(t, code, e.Code)
	require.Equal(t, message, e.Message)
}

// TestBodyBudget: a body holds its cost from the budget while its call
// runs; one that finds no room within the wait is refused with
// RESOURCE_EXHAUSTED.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	budget := transport.NewBudget(128 << 10)
	held := make(chan struct{})
	release := make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(held)
			<-release
		}
		echo(w, r)
	})
	srv := httptest.NewServer(&bodyLimiter{next: next, maxBytes: 1 << 20, budget: budget, reading: semaphore.NewWeighted(1 << 20), wait: 50 * time.Millisecond})
	defer srv.Close()
	// post answers the status and body, or 0 and the error: it may run
	// off the test's goroutine, where require cannot stop the test.
	post := func(path, body string) (int, string) {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err.Error()
		}
		return resp.StatusCode, string(b)
	}

	// 200 values cost 89,600 bytes: most of the budget.
	heavy := "[" + strings.Repeat("1,", 199) + "1]"
	done := make(chan int)
	go func() {
		code, _ := post("/hold", heavy)
		done <- code
	}()
	<-held
	code, body := post("/other", heavy)
	require.Equal(t, http.StatusTooManyRequests, code, "%s", body)
	requireError(t, []byte(body), codes.ResourceExhausted, "the server is busy decoding other large requests: retry later")
	code, body = post("/other", `{"small":1}`)
	require.Equal(t, http.StatusOK, code, "a small body still fits: %s", body)
	require.Equal(t, `{"small":1}`, body)

	close(release)
	require.Equal(t, http.StatusOK, <-done)
	code, body = post("/other", heavy)
	require.Equal(t, http.StatusOK, code, "the budget is back once the call ended: %s", body)
	full, err := budget.Acquire(context.Background(), budget.Size())
	require.NoError(t, err, "every call gave its cost back")
	full()
}
