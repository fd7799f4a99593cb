package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// metricsDoc is the page that documents every metric.
const metricsDoc = "../../docs/observability/metrics.md"

// TestMetricsAreDocumented scrapes /metrics from a running stack and checks
// it against docs/observability/metrics.md both ways: every documented
// metric is served with its documented type, and every workflow_runtime_*
// metric served is documented.
func TestMetricsAreDocumented(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	doc, err := os.ReadFile(metricsDoc)
	require.NoError(t, err)
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(workflow_runtime_[a-z_]+)` \\| (counter|gauge|histogram) \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = m[2]
	}
	require.NotEmpty(t, documented, "no metric rows in %s", metricsDoc)

	s := startStack(t, nil)
	// One call, so that the RPC histogram has a series.
	_, err = s.client.GetExecutionHistory(context.Background(), &pb.GetExecutionHistoryRequest{WorkflowId: "nothing-here"})
	require.NoError(t, err)

	resp, err := http.Get(s.httpBase + "/metrics")
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body := string(raw)
	served := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (workflow_runtime_[a-z_]+) (\w+)$`).FindAllStringSubmatch(body, -1) {
		served[m[1]] = m[2]
	}

	for name, typ := range documented {
		if got, ok := served[name]; !ok {
			t.Errorf("%s is documented but not served", name)
		} else if got != typ {
			t.Errorf("%s is served as a %s, documented as a %s", name, got, typ)
		}
	}
	for name := range served {
		if _, ok := documented[name]; !ok {
			t.Errorf("%s is served but not documented in %s", name, metricsDoc)
		}
	}

	// The series the suggested alerts rely on are there before any event.
	for _, series := range []string{
		`workflow_runtime_rpc_duration_seconds_count{code="OK",method="GetExecutionHistory"} 1`,
		`workflow_runtime_workflow_lock_attempts_total{outcome="lost"} 0`,
		`workflow_runtime_misfires_total 0`,
		`workflow_runtime_fire_lag_seconds_count 0`,
		`workflow_runtime_engine_call_errors_total{method="execute",reason="unavailable"} 0`,
		`workflow_runtime_engine_call_errors_total{method="cancel",reason="circuit_open"} 0`,
		`workflow_runtime_executions_finished_total{status="TIMED_OUT"} 0`,
		`workflow_runtime_executions{status="PENDING"} 0`,
		`workflow_runtime_executions{status="RUNNING"} 0`,
		`workflow_runtime_engine_call_duration_seconds_count{method="execute",outcome="ok"} 0`,
	} {
		if !strings.Contains(body, series+"\n") {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	require.True(t, slices.ContainsFunc(strings.Split(body, "\n"), func(l string) bool {
		return strings.HasPrefix(l, "go_goroutines ")
	}), "/metrics lacks the Go collector")
}

// TestUnfinishedCollector checks that a database that does not answer
// leaves workflow_runtime_executions out of the scrape, rather than failing
// it or reporting an empty backlog.
func TestUnfinishedCollector(t *testing.T) {
	t.Parallel()
	counts := map[workflow.ExecutionStatus]int64{workflow.ExecutionPending: 3, workflow.ExecutionRunning: 1}
	var (
		fail     error
		deadline atomic.Bool
	)
	r := prometheus.NewRegistry()
	r.MustRegister(unfinishedCollector{count: func(ctx context.Context) (map[workflow.ExecutionStatus]int64, error) {
		_, ok := ctx.Deadline()
		deadline.Store(ok)
		return counts, fail
	}})

	families, err := r.Gather()
	require.NoError(t, err)
	require.True(t, deadline.Load(), "the query has no deadline")
	require.Len(t, families, 1)
	got := map[string]float64{}
	for _, m := range families[0].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	require.Equal(t, map[string]float64{"PENDING": 3, "RUNNING": 1}, got)

	fail = errors.New("database down")
	families, err = r.Gather()
	require.NoError(t, err)
	require.Empty(t, families)
}
