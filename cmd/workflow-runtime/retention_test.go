package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestRetentionOnServe: a server started without Redis on a database that
// holds old and young finished executions removes the old ones (its first
// pass comes at start) and keeps the young, counting them in /metrics.
func TestRetentionOnServe(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	db, err := sql.Open("postgres", dbURL)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, migrations.Up(ctx, db))
	// Ten executions fired 3 days ago and five fired 12 hours ago, all
	// finished, under a retention of 2 days.
	_, err = db.ExecContext(ctx, `
INSERT INTO workflows (id, name, definition) VALUES ('kept.short', 'kept.short', '{}');
INSERT INTO deployments (id, workflow_id, status, version, definition)
VALUES ('00000000-0000-0000-0000-0000000000aa', 'kept.short', 'ARCHIVED', 1, '{}');
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time, finished_time)
SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'kept.short', '00000000-0000-0000-0000-0000000000aa', 1,
	'MANUAL', 'SUCCEEDED', now() - CASE WHEN i <= 10 THEN interval '3 days' ELSE interval '12 hours' END, now()
FROM generate_series(1, 15) AS i;`)
	require.NoError(t, err)

	s := startStackOn(t, dbURL, map[string]string{"WFR_REDIS_URL": "", "WFR_EXECUTION_RETENTION": "2d"})
	metrics := func() string {
		resp, err := http.Get(s.httpBase + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	require.Eventually(t, func() bool {
		return strings.Contains(metrics(), "workflow_runtime_retention_pass_duration_seconds_count 1")
	}, 20*time.Second, 20*time.Millisecond, "no retention pass at start")
	require.Contains(t, metrics(), `workflow_runtime_retention_removed_total{table="executions"} 10`)
	for i := 1; i <= 15; i++ {
		_, err := s.client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: fmt.Sprintf("00000000-0000-0000-0000-%012d", i)})
		if i <= 10 {
			require.Equal(t, codes.NotFound, status.Code(err), "execution %d, fired 3 days ago", i)
		} else {
			require.NoError(t, err, "execution %d, fired 12 hours ago", i)
		}
	}
}
