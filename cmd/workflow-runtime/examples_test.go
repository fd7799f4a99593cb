package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/examples/client"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestClientExample runs examples/client against a serving runtime, twice:
// the second run finds its workflows deployed and carries on.
func TestClientExample(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	s := startStack(t, nil)
	for run := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var out bytes.Buffer
		ended, err := client.Run(ctx, s.conn, &out)
		cancel()
		require.NoError(t, err, "run %d:\n%s", run, out.String())
		require.Len(t, ended, 2)
		for _, e := range ended {
			require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED, e.GetStatus(), "run %d:\n%s", run, out.String())
		}
		require.Equal(t, client.CronWorkflow, ended[0].GetWorkflowId())
		require.Equal(t, pb.TriggerType_TRIGGER_TYPE_MANUAL, ended[0].GetTriggerType())
		require.Equal(t, client.WebhookWorkflow, ended[1].GetWorkflowId())
		require.Equal(t, pb.TriggerType_TRIGGER_TYPE_WEBHOOK, ended[1].GetTriggerType())
		t.Logf("run %d:\n%s", run, out.String())
	}
}

// TestShellExample runs examples/shell/quickstart.sh, with the grpcurl its
// go.mod pins and the machine's curl, against a serving runtime, twice.
func TestShellExample(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis, and builds grpcurl")
	}
	for _, tool := range []string{"bash", "curl"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the shell example needs %s", tool)
	}
	grpcurl := filepath.Join(t.TempDir(), "grpcurl")
	build := exec.Command("go", "build", "-o", grpcurl, "github.com/fullstorydev/grpcurl/cmd/grpcurl")
	build.Dir = filepath.Join(repoRoot, "examples/shell")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building grpcurl:\n%s", out)

	s := startStack(t, nil)
	for run := range 2 {
		script := exec.Command("bash", filepath.Join(repoRoot, "examples/shell/quickstart.sh"))
		script.Env = append(script.Environ(), "GRPC_ADDR="+s.conn.Target(), "HTTP_BASE="+s.httpBase, "GRPCURL="+grpcurl)
		out, err := script.CombinedOutput()
		require.NoError(t, err, "run %d:\n%s", run, out)
		require.Equal(t, 2, strings.Count(string(out), "ended EXECUTION_STATUS_SUCCEEDED"), "run %d:\n%s", run, out)
		if run == 1 {
			require.Equal(t, 2, strings.Count(string(out), "already deployed"), "run %d:\n%s", run, out)
		}
		t.Logf("run %d:\n%s", run, out)
	}
}
