package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth/authtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// deployFile writes a deployment file of workflow, in YAML, with one cron
// trigger when schedule is set, and returns its path.
func deployFile(t *testing.T, workflow, schedule string) string {
	t.Helper()
	doc := "workflow_id: " + workflow + `
deployed_by: alice
workflow_definition:
  nodes:
    - {id: a, name: Sync, type: ACTION}
config: {overlap_policy: OVERLAP_POLICY_ALLOW_ALL, execution_timeout_seconds: 600}
`
	if schedule != "" {
		doc += "triggers:\n  - type: TRIGGER_TYPE_CRON\n    cron: {expression: \"" + schedule + "\", timezone: Europe/Berlin}\n"
	}
	return writeFile(t, workflow+".yaml", doc)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// deploy deploys workflow and returns its deployment id.
func deploy(t *testing.T, s *server, workflow, schedule string) string {
	t.Helper()
	resp := okJSON(t, s, &pb.DeployWorkflowResponse{}, "deploy", "-f", deployFile(t, workflow, schedule))
	return resp.GetDeployment().GetDeploymentId()
}

// deploymentsOf counts the deployments of workflow in every status.
func deploymentsOf(t *testing.T, s *server, workflow string) int64 {
	t.Helper()
	return okJSON(t, s, &pb.ListDeploymentsResponse{}, "list", "--workflow", workflow, "--status", "draft,deployed,paused,archived").GetTotalSize()
}

// field matches a "Name: value" line of a table.
func field(name, value string) string {
	return `(?m)^` + regexp.QuoteMeta(name) + `: +` + value + `$`
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)

	// YAML, answered with a table.
	yamlFile := deployFile(t, "deploy.yaml", "*/5 * * * *")
	out := s.ok(t, "deploy", "-f", yamlFile)
	for _, re := range []string{
		field("Workflow", `deploy\.yaml`),
		field("Status", "DEPLOYED"),
		field("Version", "1"),
		field("Deployed", `\S+ by admin for alice`),
		field("Config", "overlap ALLOW_ALL, timeout 10m0s, catch-up window default"),
		`(?m)^TRIGGER +TYPE +SPEC +JITTER +NEXT FIRE +LAST FIRE$`,
		`(?m)^[0-9a-f-]{36}  CRON +\*/5 \* \* \* \* Europe/Berlin  +\d+m?\d+s +\S+ +-$`,
	} {
		require.Regexp(t, re, out)
	}

	// JSON in, JSON out: the response message.
	jsonFile := writeFile(t, "deploy.json", `{"workflow_id": "deploy.json", "workflow_definition": {"nodes": [{"id": "a", "name": "Sync", "type": "ACTION"}]},
		"triggers": [{"type": "TRIGGER_TYPE_CRON", "cron": {"expression": "0 3 * * *", "jitter_window_seconds": 0}}]}`)
	resp := okJSON(t, s, &pb.DeployWorkflowResponse{}, "deploy", "-f", jsonFile, "--deployed-by", "bob")
	d := resp.GetDeployment()
	require.Equal(t, "deploy.json", d.GetWorkflowId())
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, d.GetStatus())
	require.Equal(t, [2]string{"admin", "bob"}, [2]string{d.GetDeployedBy(), d.GetOnBehalfOf()}, "the token's caller, for --deployed-by")
	require.Equal(t, "0 3 * * *", d.GetTriggers()[0].GetTrigger().GetCron().GetExpression())
	require.Zero(t, d.GetTriggers()[0].GetJitterSeconds())

	// Standard input, as a draft, in YAML out.
	r := wfrWith(context.Background(), s.env, "workflow_id: deploy.stdin\nworkflow_definition: {nodes: [{id: a, name: A, type: ACTION}]}\n",
		"deploy", "-f", "-", "--draft", "-o", "yaml")
	require.Equal(t, exitOK, r.code, r)
	require.Contains(t, r.stdout, "\n  status: DEPLOYMENT_STATUS_DRAFT\n")

	// Validate only: the answer, the next fires, and nothing written.
	out = s.ok(t, "deploy", "-f", deployFile(t, "deploy.dry", "0 * * * *"), "--validate-only")
	require.Contains(t, out, "Valid; nothing was written.\n")
	require.Regexp(t, `(?m)^\(new\) +CRON +0 \* \* \* \* Europe/Berlin`, out)
	require.Regexp(t, `(?m)^Trigger 0: 0 \* \* \* \* Europe/Berlin$`, out)
	require.Zero(t, deploymentsOf(t, s, "deploy.dry"))

	// Refusals: the exit code says which, and nothing is written.
	for _, tc := range []struct {
		name, workflow, file string
		code                 int
		stderr               string
	}{
		{"deployed already", "deploy.yaml", yamlFile, exitConflict, "wfr: ALREADY_EXISTS: "},
		{"bad cron", "deploy.badcron", deployFile(t, "deploy.badcron", "61 * * * *"), exitInvalid, "wfr: INVALID_ARGUMENT: "},
		{"unknown field", "deploy.unknown", writeFile(t, "u.yaml", "workflow_id: deploy.unknown\ntz: UTC\n"), exitUsage, `unknown field "tz"`},
		{"not YAML", "deploy.broken", writeFile(t, "b.yaml", "workflow_id: [deploy.broken\n"), exitUsage, "neither JSON nor YAML"},
		{"not a map of strings", "deploy.keys", writeFile(t, "k.yaml", "workflow_id: deploy.keys\n1: 2\n"), exitUsage, "keys must be strings"},
		{"empty", "deploy.empty", writeFile(t, "e.yaml", ""), exitUsage, "holds no request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := deploymentsOf(t, s, tc.workflow)
			r := s.fails(t, tc.code, "deploy", "-f", tc.file)
			require.Contains(t, r.stderr, tc.stderr)
			require.Empty(t, r.stdout)
			require.Equal(t, before, deploymentsOf(t, s, tc.workflow))
		})
	}
}

func TestDeploymentLifecycle(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	id := deploy(t, s, "life.cycle", "0 * * * *")

	// get by workflow id and by deployment id, as a table and as JSON.
	out := s.ok(t, "get", "life.cycle")
	require.Regexp(t, field("Deployment", id), out)
	require.Regexp(t, field("Running", "0"), out)
	require.Regexp(t, field("Last run", "-"), out)
	got := okJSON(t, s, &pb.GetDeploymentStatusResponse{}, "get", id)
	require.Equal(t, "life.cycle", got.GetDeployment().GetWorkflowId())

	// -o json is what the REST API answers, and -o yaml the same in YAML.
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, s.httpBase+"/api/v1/deployments/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	httpResp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	rest, err := io.ReadAll(httpResp.Body)
	httpResp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, httpResp.StatusCode, string(rest))
	var restDoc, cliDoc any
	require.NoError(t, json.Unmarshal(rest, &restDoc))
	require.NoError(t, json.Unmarshal([]byte(s.ok(t, "get", id, "-o", "json")), &cliDoc))
	if diff := cmp.Diff(restDoc, cliDoc); diff != "" {
		t.Errorf("wfr get -o json and GET /api/v1/deployments/{id} differ (-rest +wfr):\n%s", diff)
	}
	var yamlDoc any
	require.NoError(t, yaml.Unmarshal([]byte(s.ok(t, "get", id, "-o", "yaml")), &yamlDoc))
	// As JSON reads it: YAML's integers are ints, JSON's float64s.
	js, err := json.Marshal(yamlDoc)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(js, &yamlDoc))
	if diff := cmp.Diff(restDoc, yamlDoc); diff != "" {
		t.Errorf("wfr get -o yaml and GET /api/v1/deployments/{id} differ (-rest +wfr):\n%s", diff)
	}

	// list, as a table and as JSON.
	out = s.ok(t, "list", "--workflow", "life.cycle")
	require.Regexp(t, `(?m)^WORKFLOW +DEPLOYMENT +STATUS +VERSION +TRIGGERS +NEXT FIRE +UPDATED$`, out)
	require.Regexp(t, `(?m)^life\.cycle +`+id+` +DEPLOYED +1 +cron 0 \* \* \* \* Europe/Berlin +\S+ +\S+$`, out)
	require.Contains(t, out, "\n1 of 1 deployment\n")
	list := okJSON(t, s, &pb.ListDeploymentsResponse{}, "list", "--workflow", "life.cycle", "--trigger-type", "cron")
	require.Len(t, list.GetDeployments(), 1)
	require.Empty(t, okJSON(t, s, &pb.ListDeploymentsResponse{}, "list", "--workflow", "life.cycle", "--trigger-type", "webhook").GetDeployments())

	// pause, and pause again: FAILED_PRECONDITION.
	out = s.ok(t, "pause", "life.cycle")
	require.Regexp(t, field("Status", "PAUSED"), out)
	require.Regexp(t, field("Version", "2"), out)
	r := s.fails(t, exitPrecondition, "pause", "life.cycle")
	require.Contains(t, r.stderr, "wfr: FAILED_PRECONDITION: ")

	// resume at a stale version: ABORTED, and the deployment is unchanged.
	r = s.fails(t, exitConflict, "resume", id, "--expected-version", "1")
	require.Contains(t, r.stderr, "wfr: ABORTED: ")
	got = okJSON(t, s, &pb.GetDeploymentStatusResponse{}, "get", id)
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED, got.GetDeployment().GetStatus())
	require.EqualValues(t, 2, got.GetDeployment().GetVersion())
	resumed := okJSON(t, s, &pb.UpdateDeploymentResponse{}, "resume", "life.cycle", "--expected-version", "2")
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, resumed.GetDeployment().GetStatus())
	require.EqualValues(t, 3, resumed.GetDeployment().GetVersion())
	paused := okJSON(t, s, &pb.UpdateDeploymentResponse{}, "pause", id)
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED, paused.GetDeployment().GetStatus())
	require.Regexp(t, field("Status", "DEPLOYED"), s.ok(t, "resume", id))

	// delete: archived, no longer the workflow's active deployment, still
	// there by its id.
	out = s.ok(t, "delete", "life.cycle")
	require.Regexp(t, field("Status", "ARCHIVED"), out)
	r = s.fails(t, exitNotFound, "get", "life.cycle")
	require.Contains(t, r.stderr, "wfr: NOT_FOUND: ")
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_ARCHIVED, okJSON(t, s, &pb.GetDeploymentStatusResponse{}, "get", id).GetDeployment().GetStatus())
	require.Contains(t, s.ok(t, "list", "--workflow", "life.cycle"), "\n0 of 0 deployments\n")
	require.Regexp(t, `(?m)^life\.cycle +`+id+` +ARCHIVED `, s.ok(t, "list", "--workflow", "life.cycle", "--status", "archived"))
	s.fails(t, exitPrecondition, "delete", id)

	// delete -o json, on a deployment of its own.
	other := deploy(t, s, "life.deleted", "")
	deleted := okJSON(t, s, &pb.DeleteDeploymentResponse{}, "delete", other)
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_ARCHIVED, deleted.GetDeployment().GetStatus())

	// Names that reach nothing.
	for _, cmd := range []string{"get", "pause", "resume", "delete"} {
		s.fails(t, exitNotFound, cmd, "life.none")
		s.fails(t, exitNotFound, cmd, "00000000-0000-4000-8000-000000000000")
	}
	r = s.fails(t, exitInvalid, "get", "bad id!")
	require.Contains(t, r.stderr, "wfr: INVALID_ARGUMENT: ")
}

// TestUUIDWorkflowID checks that a workflow id shaped like a UUID still
// names its workflow where no deployment has that id.
func TestUUIDWorkflowID(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	const workflow = "6c1a1c1e-0000-4000-8000-000000000017"
	id := deploy(t, s, workflow, "")
	require.Regexp(t, field("Deployment", id), s.ok(t, "get", workflow))
	run := okJSON(t, s, &pb.TriggerWorkflowResponse{}, "trigger", workflow)
	require.Equal(t, run.GetExecutionId(), okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", workflow).GetExecutions()[0].GetExecutionId())
	require.Equal(t, run.GetExecutionId(), okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", id).GetExecutions()[0].GetExecutionId())
	require.Equal(t, workflow, okJSON(t, s, &pb.GetDeploymentStatusResponse{}, "get", id).GetDeployment().GetWorkflowId())
	triggered := okJSON(t, s, &pb.TriggerWorkflowResponse{}, "trigger", id)
	require.NotEqual(t, run.GetExecutionId(), triggered.GetExecutionId(), "a deployment id triggers its workflow")
}

func TestListPages(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	for range 3 {
		deploy(t, s, "list.pages", "")
		s.ok(t, "delete", "list.pages")
	}
	args := []string{"list", "--workflow", "list.pages", "--status", "archived", "--limit", "1"}
	out := s.ok(t, args...)
	require.Regexp(t, `(?m)^1 of 3 deployments; the next page: --page-token \S+$`, out)
	first := okJSON(t, s, &pb.ListDeploymentsResponse{}, args...)
	require.Len(t, first.GetDeployments(), 1)
	require.NotEmpty(t, first.GetNextPageToken())
	second := okJSON(t, s, &pb.ListDeploymentsResponse{}, append(args, "--page-token", first.GetNextPageToken())...)
	require.Len(t, second.GetDeployments(), 1)
	require.NotEqual(t, first.GetDeployments()[0].GetDeploymentId(), second.GetDeployments()[0].GetDeploymentId())

	all := okJSON(t, s, &pb.ListDeploymentsResponse{}, append(args, "--all")...)
	require.Len(t, all.GetDeployments(), 3)
	require.Empty(t, all.GetNextPageToken())
	require.Contains(t, s.ok(t, append(args, "--all")...), "\n3 of 3 deployments\n")
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	deploy(t, s, "trigger.ok", "")

	// A table, then JSON; the same idempotency key gives the same execution.
	out := s.ok(t, "trigger", "trigger.ok", "--idempotency-key", "k1")
	id := regexp.MustCompile(`(?m)^Execution: +([0-9a-f-]{36})$`).FindStringSubmatch(out)
	require.NotNil(t, id, out)
	require.Regexp(t, field("Status", `(PENDING|RUNNING|SUCCEEDED)`), out)
	again := okJSON(t, s, &pb.TriggerWorkflowResponse{}, "trigger", "trigger.ok", "--idempotency-key", "k1")
	require.Equal(t, id[1], again.GetExecutionId())
	require.True(t, again.GetDeduplicated())
	require.Regexp(t, field("Deduplicated", "yes: .*"), s.ok(t, "trigger", "trigger.ok", "--idempotency-key", "k1"))

	// --wait: the execution at its end; SUCCEEDED exits 0.
	out = s.ok(t, "trigger", "trigger.ok", "--wait", "--data", `{"order": 7}`, "--triggered-by", "ops")
	require.Regexp(t, field("Status", "SUCCEEDED"), out)
	require.Regexp(t, field("Triggered by", "admin for ops"), out)
	data := writeFile(t, "order.json", `{"order": 8}`)
	r := wfrWith(context.Background(), map[string]string{"WFR_ADDR": s.env["WFR_ADDR"], "WFR_TOKEN": testToken, "USER": "tester"}, "",
		"trigger", "trigger.ok", "--wait", "--data", "@"+data, "-o", "json")
	require.Equal(t, exitOK, r.code, r)
	var done pb.GetExecutionResponse
	require.NoError(t, protojson.Unmarshal([]byte(r.stdout), &done))
	require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED, done.GetExecution().GetStatus())
	require.Equal(t, [2]string{"admin", "wfr:tester"}, [2]string{done.GetExecution().GetTriggeredBy(), done.GetExecution().GetOnBehalfOf()},
		"the token's caller, for the default --triggered-by")
	require.Contains(t, r.stderr, "Execution "+done.GetExecution().GetExecutionId()+" is ")

	// Standard input as the data.
	r = wfrWith(context.Background(), s.env, `{"order": 9}`, "trigger", "trigger.ok", "--data", "@-")
	require.Equal(t, exitOK, r.code, r)

	// A failed execution: exit 9 after the table.
	deploy(t, s, failPrefix+"trigger", "")
	r = s.fails(t, exitRunFailed, "trigger", failPrefix+"trigger", "--wait")
	require.Regexp(t, field("Status", "FAILED"), r.stdout)
	require.Regexp(t, `wfr: execution [0-9a-f-]{36} ended FAILED`, r.stderr)
	r = s.fails(t, exitRunFailed, "trigger", failPrefix+"trigger", "--wait", "-o", "json")
	require.NoError(t, protojson.Unmarshal([]byte(r.stdout), &done))
	require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_FAILED, done.GetExecution().GetStatus())

	// Refusals start nothing.
	before := len(okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "trigger.ok", "--limit", "500").GetExecutions())
	r = s.fails(t, exitInvalid, "trigger", "trigger.ok", "--data", "[1, 2")
	require.Contains(t, r.stderr, "trigger_data")
	s.fails(t, exitUsage, "trigger", "trigger.ok", "--data", "@"+filepath.Join(t.TempDir(), "missing.json"))
	require.Len(t, okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "trigger.ok", "--limit", "500").GetExecutions(), before)
	s.fails(t, exitNotFound, "trigger", "trigger.none")
	deploy(t, s, "trigger.paused", "")
	s.ok(t, "pause", "trigger.paused")
	s.fails(t, exitPrecondition, "trigger", "trigger.paused")
}

func TestRuns(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	depID := deploy(t, s, "runs.list", "")
	var ids []string
	for range 2 {
		resp := okJSON(t, s, &pb.GetExecutionResponse{}, "trigger", "runs.list", "--wait")
		ids = append([]string{resp.GetExecution().GetExecutionId()}, ids...)
	}

	// runs: newest first, by workflow id or deployment id.
	out := s.ok(t, "runs", "runs.list")
	require.Regexp(t, `(?m)^EXECUTION +WORKFLOW +TRIGGER +STATUS +FIRED +DURATION +ERROR$`, out)
	require.Regexp(t, `(?s)`+ids[0]+` +runs\.list +MANUAL +SUCCEEDED +\S+ +\d+(\.\d+)?m?s\n`+ids[1]+` `, out)
	for _, ref := range []string{"runs.list", depID} {
		hist := okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", ref)
		var got []string
		for _, e := range hist.GetExecutions() {
			got = append(got, e.GetExecutionId())
		}
		require.Equal(t, ids, got, ref)
	}
	require.Empty(t, okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "runs.list", "--status", "failed,cancelled").GetExecutions())
	require.Empty(t, okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "runs.list", "--since", "1h").GetExecutions())
	require.Len(t, okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "runs.list", "--since", "-1h", "--until", "now", "--trigger-type", "manual").GetExecutions(), 2)
	page := okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "runs.list", "--limit", "1")
	require.Regexp(t, `(?m)^The next page: --page-token \S+$`, s.ok(t, "runs", "runs.list", "--limit", "1"))
	require.Equal(t, ids[1], okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "runs.list", "--limit", "1", "--page-token", page.GetNextPageToken()).GetExecutions()[0].GetExecutionId())

	// run: one execution.
	out = s.ok(t, "run", ids[0])
	require.Regexp(t, field("Execution", ids[0]), out)
	require.Regexp(t, field("Deployment", depID+` \(version 1\)`), out)
	require.Regexp(t, field("Status", "SUCCEEDED"), out)
	require.Equal(t, ids[0], okJSON(t, s, &pb.GetExecutionResponse{}, "run", ids[0]).GetExecution().GetExecutionId())
	s.fails(t, exitNotFound, "run", "00000000-0000-4000-8000-000000000000")
	s.fails(t, exitInvalid, "run", "not-an-id")

	// cancel: a running execution, then once more.
	deploy(t, s, hangPrefix+"runs", "")
	var running []string
	for range 2 {
		running = append(running, okJSON(t, s, &pb.TriggerWorkflowResponse{}, "trigger", hangPrefix+"runs").GetExecutionId())
	}
	for _, id := range running {
		require.Eventually(t, func() bool {
			return okJSON(t, s, &pb.GetExecutionResponse{}, "run", id).GetExecution().GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_RUNNING
		}, 10*time.Second, 20*time.Millisecond)
	}
	out = s.ok(t, "cancel", running[0], "--reason", "not needed")
	require.Regexp(t, field("Status", "CANCELLED"), out)
	cancelled := okJSON(t, s, &pb.CancelExecutionResponse{}, "cancel", running[1])
	require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_CANCELLED, cancelled.GetExecution().GetStatus())
	r := s.fails(t, exitPrecondition, "cancel", running[0])
	require.Contains(t, r.stderr, "wfr: FAILED_PRECONDITION: ")
	s.fails(t, exitNotFound, "cancel", "00000000-0000-4000-8000-000000000000")
}

// lockedBuffer is a buffer that a running command writes while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// follow starts runs --follow with args and returns its output, and a stop
// that interrupts it and returns its exit code.
func follow(s *server, args ...string) (*lockedBuffer, func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"runs", "--follow", "--interval", "20ms"}, args...), strings.NewReader(""), &out, &errOut,
			func(k string) string { return s.env[k] })
	}()
	return &out, func() int {
		cancel()
		return <-code
	}
}

func TestRunsFollow(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	deploy(t, s, "follow.table", "")
	deploy(t, s, "follow.json", "")
	oldest := okJSON(t, s, &pb.GetExecutionResponse{}, "trigger", "follow.table", "--wait").GetExecution().GetExecutionId()
	earlier := okJSON(t, s, &pb.GetExecutionResponse{}, "trigger", "follow.table", "--wait").GetExecution().GetExecutionId()

	// A table: the latest execution (--limit 1), then the new one until it
	// ends; never the older one, which the first page left out.
	out, stop := follow(s, "follow.table", "--limit", "1")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), earlier) }, 10*time.Second, 10*time.Millisecond)
	later := okJSON(t, s, &pb.TriggerWorkflowResponse{}, "trigger", "follow.table").GetExecutionId()
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`(?m)^` + later + ` +follow\.table +MANUAL +SUCCEEDED `).MatchString(out.String())
	}, 10*time.Second, 10*time.Millisecond, out.String())
	require.Equal(t, exitOK, stop(), "an interrupt is how --follow ends")
	text := out.String()
	require.Equal(t, 1, strings.Count(text, "EXECUTION "), text)
	require.Less(t, strings.Index(text, earlier), strings.Index(text, later), "oldest first")
	require.Equal(t, 1, strings.Count(text, earlier), "an execution that does not change is written once")
	require.NotContains(t, text, oldest, "older than the first page")

	// JSON: one execution per line, each change of status a new line.
	out, stop = follow(s, "follow.json", "-o", "json")
	later = okJSON(t, s, &pb.TriggerWorkflowResponse{}, "trigger", "follow.json").GetExecutionId()
	var statuses []pb.ExecutionStatus
	require.Eventually(t, func() bool {
		statuses = statuses[:0]
		for line := range strings.Lines(out.String()) {
			var e pb.Execution
			require.NoError(t, protojson.Unmarshal([]byte(line), &e), line)
			if e.GetExecutionId() == later {
				statuses = append(statuses, e.GetStatus())
			}
		}
		return len(statuses) > 0 && statuses[len(statuses)-1] == pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED
	}, 10*time.Second, 10*time.Millisecond, out.String())
	require.Equal(t, exitOK, stop())
	for i := 1; i < len(statuses); i++ {
		require.Less(t, statuses[i-1], statuses[i], "a line per change of status, in order: %v", statuses)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	out := s.ok(t, "health")
	require.Regexp(t, field("Status", "healthy"), out)
	require.Regexp(t, field("Instance", "wfr-test"), out)
	require.Regexp(t, `(?m)^DEPENDENCY +STATUS +LATENCY +ERROR$`, out)
	require.Regexp(t, `(?m)^database +healthy +\d+\.\dms$`, out)
	require.Regexp(t, `(?m)^redis +disabled +`, out)
	require.Regexp(t, `(?m)^workflow_engine +healthy +`, out)
	h := okJSON(t, s, &pb.GetSystemHealthResponse{}, "health")
	require.Equal(t, "healthy", h.GetStatus())
	require.Equal(t, []string{"wfr-test"}, h.GetLiveInstances())
	require.Equal(t, "healthy", h.GetDependencies()["database"].GetStatus())
}

func TestLoad(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	deploy(t, s, "load.minutely", "* * * * *")
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(24 * time.Hour).Truncate(time.Hour).Add(5 * time.Minute).UTC().Format(time.RFC3339)
	args := []string{"load", "--start", start, "--end", end, "--bucket", "1m"}
	out := s.ok(t, args...)
	require.Regexp(t, `^Peak fires per second: \d+ with jitter, \d+ without\.\n\nSTART +WITH JITTER +WITHOUT\n`, out)
	rows := regexp.MustCompile(`(?m)^\S+ +(\d+) +(\d+) +[#.]+$`).FindAllStringSubmatch(out, -1)
	require.Len(t, rows, 5, out)
	load := okJSON(t, s, &pb.GetLoadDistributionResponse{}, args...)
	require.Len(t, load.GetBuckets(), 5)
	for _, b := range load.GetBuckets() {
		require.Positive(t, b.GetFiresWithoutJitter(), "load.minutely fires every minute")
	}
	require.Positive(t, load.GetPeakPerSecondWithoutJitter())
}

func TestReport(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	id := deploy(t, s, "report.every-second", "* * * * * ?")
	out := s.ok(t, "report", "report.every-second", "--start", "-1m")
	require.Regexp(t, `^Slots from \S+ to \S+\.\n\nTRIGGER +WORKFLOW +DUE +RAN +SKIPPED +MISSED +ON TIME +LAG P50 +LAG P99\n`, out)
	require.Regexp(t, `(?m)^[0-9a-f-]{36} +report\.every-second +\d+ +\d+ +\d+ +\d+`, out)
	rep := okJSON(t, s, &pb.GetScheduleReportResponse{}, "report", id, "--start", "-1m")
	require.Len(t, rep.GetTriggers(), 1)
	r := rep.GetTriggers()[0]
	require.Equal(t, r.GetSlotsDue(), r.GetSlotsRan()+r.GetSlotsSkipped()+r.GetSlotsMissed(), "every slot due is accounted for")
	byTrigger := okJSON(t, s, &pb.GetScheduleReportResponse{}, "report", "--trigger", r.GetTriggerId(), "--start", "-1m")
	require.Equal(t, r.GetTriggerId(), byTrigger.GetTriggers()[0].GetTriggerId())
	s.fails(t, exitNotFound, "report", "00000000-0000-0000-0000-000000000001")
	res := s.fails(t, exitInvalid, "report", id, "--start", "now", "--end", "-1h")
	require.Contains(t, res.stderr, "end_time")
}

func TestPreview(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)

	// The API documentation's example: New York's spring forward.
	args := []string{"preview", "--workflow", "reports.nightly", "--cron", "30 2 * * *", "--timezone", "America/New_York",
		"--start", "2026-03-07T05:00:00Z", "--count", "3"}
	out := s.ok(t, args...)
	require.Contains(t, out, "\nTrigger 0: 30 2 * * * America/New_York\n")
	require.Regexp(t, `(?m)^SLOT +FIRE +LOCAL +DST +NOTE$`, out)
	require.Regexp(t, `(?m) 2026-03-08T02:30:00  SHIFTED  02:30 does not occur on 2026-03-08 in America/New_York: .*$`, out)
	pv := okJSON(t, s, &pb.PreviewScheduleResponse{}, args...)
	fires := pv.GetTriggers()[0].GetFires()
	require.Len(t, fires, 3)
	require.Equal(t, pb.DstEffect_DST_EFFECT_SHIFTED, fires[1].GetDstEffect())
	require.Equal(t, "2026-03-08T07:30:00Z", fires[1].GetSlotTime().AsTime().Format(time.RFC3339))

	// A deployment's triggers, named by workflow.
	deploy(t, s, "preview.dep", "0 12 * * *")
	pv = okJSON(t, s, &pb.PreviewScheduleResponse{}, "preview", "preview.dep", "--count", "2")
	require.Len(t, pv.GetTriggers(), 1)
	require.Len(t, pv.GetTriggers()[0].GetFires(), 2)
	out = s.ok(t, "preview", "preview.dep", "--count", "2")
	require.Regexp(t, `(?m)^Trigger 0 [0-9a-f-]{36}: 0 12 \* \* \* Europe/Berlin$`, out)
	require.Len(t, regexp.MustCompile(`(?m)T12:00:00 +NONE$`).FindAllString(out, -1), 2, out)

	r := s.fails(t, exitInvalid, "preview", "--workflow", "reports.nightly", "--cron", "30 2 * *")
	require.Contains(t, r.stderr, "cron.expression")
	s.fails(t, exitNotFound, "preview", "preview.none")
}

func TestBackfill(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	deploy(t, s, "backfill.dep", "0 * * * *")
	end := time.Now().Truncate(time.Hour).UTC()
	start := end.Add(-3 * time.Hour)
	args := []string{"backfill", "backfill.dep", "--start", start.Format(time.RFC3339), "--end", end.Format(time.RFC3339), "--overlap", "allow-all"}

	r := s.wfr(t, append(args, "--wait")...)
	require.Equal(t, exitOK, r.code, r)
	out := r.stdout
	id := regexp.MustCompile(`(?m)^Backfill: +(\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, id, out)
	require.Regexp(t, field("State", "COMPLETED"), out)
	require.Regexp(t, field("Overlap", "ALLOW_ALL"), out)
	require.Regexp(t, field("Slots", "3 planned, 3 started, 3 finished, 0 skipped, 0 of them out of bounds"), out)

	// Again: every slot ran already, so each is skipped.
	again := okJSON(t, s, &pb.BackfillDeploymentResponse{}, args...)
	require.EqualValues(t, 3, again.GetBackfill().GetPlannedSlots())
	status := okJSON(t, s, &pb.GetBackfillResponse{}, "backfill-status", again.GetBackfill().GetBackfillId(), "--wait")
	require.Equal(t, pb.BackfillState_BACKFILL_STATE_COMPLETED, status.GetBackfill().GetState())
	require.EqualValues(t, 3, status.GetBackfill().GetSkippedSlots())
	require.Regexp(t, field("State", "COMPLETED"), s.ok(t, "backfill-status", id[1]))

	r = s.fails(t, exitInvalid, "backfill", "backfill.dep", "--start", "now", "--end", "1h")
	require.Contains(t, r.stderr, "wfr: INVALID_ARGUMENT: ")
	s.fails(t, exitNotFound, "backfill-status", "00000000-0000-4000-8000-000000000000")
}

// connCase is a way of reaching a server, and the exit code it gets.
type connCase struct {
	name string
	env  map[string]string
	args []string
	code int
}

// connect runs command against the server of each case, with base and the
// case's own variables as its environment.
func connect(t *testing.T, base map[string]string, command []string, cases []connCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			maps.Copy(env, base)
			maps.Copy(env, tc.env)
			r := wfrWith(context.Background(), env, "", append(slices.Clone(command), tc.args...)...)
			require.Equal(t, tc.code, r.code, r)
			switch tc.code {
			case exitOK:
				require.NotEmpty(t, r.stdout)
			case exitAuth:
				require.Contains(t, r.stderr, "wfr: UNAUTHENTICATED: ")
			case exitUnavailable:
				require.Contains(t, r.stderr, "wfr: UNAVAILABLE: ")
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	addr := sharedServer(t).env["WFR_ADDR"]
	connect(t, nil, []string{"list", "--timeout", "5s"}, []connCase{
		{"token from the environment", map[string]string{"WFR_ADDR": addr, "WFR_TOKEN": testToken}, nil, exitOK},
		{"token from the flag", map[string]string{"WFR_ADDR": addr}, []string{"--token", testToken}, exitOK},
		{"no token", map[string]string{"WFR_ADDR": addr}, nil, exitAuth},
		{"the flag wins over the environment", map[string]string{"WFR_ADDR": addr, "WFR_TOKEN": testToken}, []string{"--token", "wrong"}, exitAuth},
		{"address from the flag", nil, []string{"--addr", addr, "--token", testToken}, exitOK},
		{"nothing listening", map[string]string{"WFR_ADDR": freeAddr()}, nil, exitUnavailable},
	})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	ca := authtest.NewCA(t, "wfr-test")
	serverPair, clientPair := ca.Issue(t, "server"), ca.Issue(t, "client")
	other := authtest.NewCA(t, "other").Issue(t, "stranger")
	s := startServer(t, map[string]string{
		"WFR_TLS_CERT": serverPair.CertFile, "WFR_TLS_KEY": serverPair.KeyFile, "WFR_TLS_CLIENT_CA": ca.CertFile,
	}, &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{clientPair.TLS}, MinVersion: tls.VersionTLS12})
	trusted := []string{"--ca", ca.CertFile, "--cert", clientPair.CertFile, "--key", clientPair.KeyFile}
	connect(t, s.env, []string{"health", "--timeout", "5s"}, []connCase{
		{"flags", nil, trusted, exitOK},
		{"environment", map[string]string{"WFR_CA": ca.CertFile, "WFR_CERT": clientPair.CertFile, "WFR_KEY": clientPair.KeyFile}, nil, exitOK},
		{"server name", nil, append(trusted, "--server-name", "localhost"), exitOK},
		{"wrong server name", nil, append(trusted, "--server-name", "elsewhere"), exitUnavailable},
		{"no client certificate", nil, []string{"--ca", ca.CertFile}, exitUnavailable},
		{"a client certificate of another CA", nil, []string{"--ca", ca.CertFile, "--cert", other.CertFile, "--key", other.KeyFile}, exitUnavailable},
		{"the system's CAs", map[string]string{"WFR_TLS": "true"}, []string{"--cert", clientPair.CertFile, "--key", clientPair.KeyFile}, exitUnavailable},
		{"plaintext", nil, nil, exitUnavailable},
	})
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{"bash": "__start_wfr", "zsh": "#compdef wfr", "fish": "complete -c wfr"} {
		r := wfrWith(context.Background(), nil, "", "completion", shell)
		require.Equal(t, exitOK, r.code, r)
		require.Contains(t, r.stdout, want, shell)
	}
	r := wfrWith(context.Background(), nil, "", "__complete", "runs", "--status", "")
	require.Equal(t, exitOK, r.code, r)
	require.True(t, strings.HasPrefix(r.stdout, "pending\nrunning\nsucceeded\nfailed\ncancelled\ntimed_out\nskipped\n:4\n"), r.stdout)
	r = wfrWith(context.Background(), nil, "", "__complete", "-o", "")
	require.True(t, strings.HasPrefix(r.stdout, "table\njson\nyaml\n:4\n"), r.stdout)
}

func TestCompletionOfDeployments(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	deploy(t, s, "complete.me", "")
	r := s.wfr(t, "__complete", "get", "complete.")
	require.Equal(t, exitOK, r.code, r)
	require.Contains(t, r.stdout, "complete.me\tDEPLOYED\n")
	require.NotContains(t, r.stdout, "life.cycle")
	require.True(t, strings.HasSuffix(r.stdout, ":4\n"), r.stdout)
}

// TestUsageErrors checks that a wrong command line exits 2 with a message
// and sends nothing: the address has no server, which would be exit 8.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	badFile := writeFile(t, "bad.yaml", "workflow_id: x\ntz: UTC\n")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		stderr string
	}{
		{"unknown command", nil, []string{"frobnicate"}, `unknown command "frobnicate" for "wfr"`},
		{"unknown flag", nil, []string{"list", "--bogus"}, "unknown flag: --bogus"},
		{"no argument", nil, []string{"get"}, "wfr get takes one DEPLOYMENT, got 0 arguments"},
		{"two arguments", nil, []string{"run", "a", "b"}, "wfr run takes one EXECUTION, got 2 arguments"},
		{"an argument too many", nil, []string{"list", "x"}, `wfr list takes no arguments, got ["x"]`},
		{"output format", nil, []string{"list", "-o", "xml"}, `--output "xml": must be one of table, json, yaml`},
		{"output format from the environment", map[string]string{"WFR_OUTPUT": "xml"}, []string{"list"}, `--output "xml"`},
		{"timeout from the environment", map[string]string{"WFR_TIMEOUT": "soon"}, []string{"list"}, `WFR_TIMEOUT="soon": `},
		{"tls from the environment", map[string]string{"WFR_TLS": "maybe"}, []string{"list"}, `WFR_TLS="maybe": `},
		{"enum value", nil, []string{"list", "--status", "running"}, `"running" is not one of draft, deployed, paused, archived`},
		{"overlap policy", nil, []string{"trigger", "x", "--overlap-policy", "queue"}, `"queue" is not one of skip, allow_all, buffer_one, cancel_other, buffer_all`},
		{"time", nil, []string{"runs", "--since", "yesterday"}, `not RFC 3339, "now" or a duration`},
		{"missing file flag", nil, []string{"deploy"}, `required flag(s) "file" not set`},
		{"missing file", nil, []string{"deploy", "-f", missing}, "no such file or directory"},
		{"bad file", nil, []string{"deploy", "-f", badFile}, `unknown field "tz"`},
		{"missing data file", nil, []string{"trigger", "x", "--data", "@" + missing}, "--data: "},
		{"certificate without key", nil, []string{"list", "--cert", "c.pem"}, "--cert and --key go together"},
		{"missing CA file", nil, []string{"list", "--ca", missing}, "--ca: "},
		{"preview of nothing", nil, []string{"preview"}, "name a deployment, or give --cron and --workflow"},
		{"backfill without range", nil, []string{"backfill", "x"}, `required flag(s) "end", "start" not set`},
		{"bucket", nil, []string{"load", "--bucket", "1500ms"}, "--bucket 1.5s: must be whole seconds"},
		{"report of nothing", nil, []string{"report"}, "name a deployment id or --trigger, not both"},
		{"report of both", nil, []string{"report", "x", "--trigger", "y"}, "name a deployment id or --trigger, not both"},
		{"interval", nil, []string{"runs", "--follow", "--interval", "0s"}, "--interval must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"WFR_ADDR": "127.0.0.1:1"}
			maps.Copy(env, tc.env)
			r := wfrWith(context.Background(), env, "", tc.args...)
			require.Equal(t, exitUsage, r.code, r)
			require.Contains(t, r.stderr, tc.stderr)
			require.Contains(t, r.stderr, "--help' for usage.")
			require.Empty(t, r.stdout)
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	r := wfrWith(context.Background(), nil, "", "--help")
	require.Equal(t, exitOK, r.code, r)
	require.Contains(t, r.stdout, "Exit codes:\n  0    success\n")
	r = wfrWith(context.Background(), nil, "", "--version")
	require.Equal(t, "wfr version dev\n", r.stdout)
}

// TestParseDeployRequest checks that a YAML file and its JSON give the
// same request.
func TestParseDeployRequest(t *testing.T) {
	t.Parallel()
	fromJSON, err := parseDeployRequest("a.json", []byte(`{"workflow_id": "w", "draft": true,
		"workflow_definition": {"nodes": [{"id": "a", "retries": 3, "ratio": 0.5, "on": true}]},
		"triggers": [{"type": "TRIGGER_TYPE_CRON", "cron": {"expression": "0 * * * *", "jitter_window_seconds": 0,
			"start_time": "2026-11-01T00:00:00Z"}}]}`))
	require.NoError(t, err)
	fromYAML, err := parseDeployRequest("a.yaml", []byte(`
workflow_id: w
draft: true
workflow_definition:
  nodes:
    - {id: a, retries: 3, ratio: 0.5, "on": true}
triggers:
  - type: TRIGGER_TYPE_CRON
    cron:
      expression: 0 * * * *
      jitter_window_seconds: 0
      start_time: 2026-11-01T00:00:00Z
`))
	require.NoError(t, err)
	if diff := cmp.Diff(fromJSON, fromYAML, protocmp.Transform()); diff != "" {
		t.Errorf("(-json +yaml):\n%s", diff)
	}
	require.NotNil(t, fromYAML.GetTriggers()[0].GetCron().JitterWindowSeconds, "an explicit 0 stays set")
}

// TestEncodeYAML checks that -o yaml keeps the fields in order and quotes
// what would read as another type.
func TestEncodeYAML(t *testing.T) {
	t.Parallel()
	b, err := encodeYAML(&pb.Deployment{
		WorkflowId: "007", Version: 3, Status: pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, DeployedBy: "true",
		Triggers: []*pb.TriggerStatus{{Trigger: &pb.Trigger{Cron: &pb.CronSpec{Expression: "*/5 * * * *"}}}},
	})
	require.NoError(t, err)
	want := `workflow_id: "007"
status: DEPLOYMENT_STATUS_DEPLOYED
version: "3"
triggers:
  - trigger:
      cron:
        expression: '*/5 * * * *'
deployed_by: "true"
`
	require.Equal(t, want, string(b))
	var back pb.Deployment
	var doc any
	require.NoError(t, yaml.Unmarshal(b, &doc))
	js, err := json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, protojson.Unmarshal(js, &back))
	require.Equal(t, "007", back.GetWorkflowId())
	require.True(t, proto.Equal(&back, &pb.Deployment{
		WorkflowId: "007", Version: 3, Status: pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, DeployedBy: "true",
		Triggers: []*pb.TriggerStatus{{Trigger: &pb.Trigger{Cron: &pb.CronSpec{Expression: "*/5 * * * *"}}}},
	}))
}

// TestTableAcrossFlushes checks that rows written in several flushes stay
// aligned under the header, as runs --follow writes them.
func TestTableAcrossFlushes(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	tb := newTable("ID", "STATUS", "ERROR")
	tb.row("abc", "RUNNING", "")
	tb.flush(&out)
	tb.row("de", "FAILED", "boom")
	tb.flush(&out)
	require.Equal(t, "ID   STATUS   ERROR\nabc  RUNNING\nde   FAILED   boom\n", out.String())
}

// TestExitCodes checks the exit code of every gRPC code and of the errors
// that are not the server's.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		code int
		line string
	}{
		{commandError{status.Error(codes.NotFound, "no such deployment")}, exitNotFound, "wfr: NOT_FOUND: no such deployment\n"},
		{commandError{status.Error(codes.InvalidArgument, "bad")}, exitInvalid, "wfr: INVALID_ARGUMENT: bad\n"},
		{commandError{status.Error(codes.OutOfRange, "far")}, exitInvalid, "wfr: OUT_OF_RANGE: far\n"},
		{commandError{status.Error(codes.AlreadyExists, "taken")}, exitConflict, "wfr: ALREADY_EXISTS: taken\n"},
		{commandError{status.Error(codes.Aborted, "version")}, exitConflict, "wfr: ABORTED: version\n"},
		{commandError{status.Error(codes.FailedPrecondition, "paused")}, exitPrecondition, "wfr: FAILED_PRECONDITION: paused\n"},
		{commandError{status.Error(codes.Unauthenticated, "token")}, exitAuth, "wfr: UNAUTHENTICATED: token\n"},
		{commandError{status.Error(codes.PermissionDenied, "role")}, exitAuth, "wfr: PERMISSION_DENIED: role\n"},
		{commandError{status.Error(codes.Unavailable, "down")}, exitUnavailable, "wfr: UNAVAILABLE: down\n"},
		{commandError{status.Error(codes.ResourceExhausted, "slow down")}, exitUnavailable, "wfr: RESOURCE_EXHAUSTED: slow down\n"},
		{commandError{status.Error(codes.DeadlineExceeded, "late")}, exitUnavailable, "wfr: DEADLINE_EXCEEDED: late\n"},
		{commandError{status.Error(codes.Canceled, "context canceled")}, exitInterrupted, "wfr: CANCELLED: context canceled\n"},
		{commandError{status.Error(codes.Internal, "internal error")}, exitError, "wfr: INTERNAL: internal error\n"},
		{commandError{status.Error(codes.Unimplemented, "unknown method")}, exitError, "wfr: UNIMPLEMENTED: unknown method\n"},
		{commandError{context.Canceled}, exitInterrupted, "wfr: interrupted\n"},
		{commandError{io.ErrShortWrite}, exitError, "wfr: short write\n"},
		{commandError{codeError{code: exitRunFailed, msg: "execution x ended FAILED"}}, exitRunFailed, "wfr: execution x ended FAILED\n"},
		{commandError{usagef("--interval must be positive")}, exitUsage, "wfr: --interval must be positive\nhint\n"},
		{errors.New(`unknown command "x" for "wfr"`), exitUsage, "wfr: unknown command \"x\" for \"wfr\"\nhint\n"},
	} {
		var out strings.Builder
		require.Equal(t, tc.code, report(&out, tc.err, "hint"), tc.err)
		require.Equal(t, tc.line, out.String())
	}

	// Field violations are listed unless the message has them already.
	st, err := status.New(codes.InvalidArgument, "invalid argument: workflow_id: too long").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "workflow_id", Description: "too long"},
			{Field: "triggers[0].cron.expression", Description: "61 is out of range"},
		},
	})
	require.NoError(t, err)
	var out strings.Builder
	require.Equal(t, exitInvalid, report(&out, commandError{st.Err()}, ""))
	require.Equal(t, "wfr: INVALID_ARGUMENT: invalid argument: workflow_id: too long\n  triggers[0].cron.expression: 61 is out of range\n", out.String())
}

// TestDocs checks that docs/api/wfr.md lists every command and every exit
// code, and that wfr --help lists every exit code.
func TestDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/api/wfr.md")
	require.NoError(t, err)
	a := &app{getenv: func(string) string { return "" }, now: time.Now}
	for _, c := range a.newRoot().Commands() {
		if c.Name() == "help" {
			continue
		}
		require.Regexp(t, "(?m)^\\| `("+regexp.QuoteMeta(c.Name())+"|[a-z-]+`, `"+regexp.QuoteMeta(c.Name())+")[ `]", string(doc), "a row for wfr %s", c.Name())
	}
	for _, code := range []int{exitOK, exitError, exitUsage, exitNotFound, exitInvalid, exitConflict, exitPrecondition,
		exitAuth, exitUnavailable, exitRunFailed, exitInterrupted} {
		require.Regexp(t, fmt.Sprintf(`(?m)^\| %d \| \S`, code), string(doc), "exit code %d in the docs", code)
		require.Regexp(t, fmt.Sprintf(`(?m)^  %-4d \S`, code), exitHelp, "exit code %d in wfr --help", code)
	}
}

// TestTriggerWaitFollowsRetries: trigger --wait on a run that retries
// follows its attempts and answers with the last one: with every run
// failing, the third of max_attempts 3.
func TestTriggerWaitFollowsRetries(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	s.ok(t, "deploy", "-f", writeFile(t, "retry.yaml", "workflow_id: "+failPrefix+"wait.retries"+`
workflow_definition:
  nodes:
    - {id: a, name: Sync, type: ACTION}
config:
  overlap_policy: OVERLAP_POLICY_ALLOW_ALL
  retry_policy: {max_attempts: 3, initial_interval: 0.1s}
`))
	r := s.fails(t, exitRunFailed, "trigger", failPrefix+"wait.retries", "--wait", "-o", "json")
	var done pb.GetExecutionResponse
	require.NoError(t, protojson.Unmarshal([]byte(r.stdout), &done))
	last := done.GetExecution()
	require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_FAILED, last.GetStatus())
	require.Equal(t, int32(3), last.GetAttempt(), "the answer is the last attempt")
	require.Regexp(t, `attempt 2, execution [0-9a-f-]{36}, follows`, r.stderr)
	require.Contains(t, r.stderr, "attempt 3, execution "+last.GetExecutionId()+", follows")
	require.Contains(t, r.stderr, "wfr: execution "+last.GetExecutionId()+" ended FAILED")
	attempts := okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "--attempts-of", last.GetFirstAttemptId()).GetExecutions()
	require.Len(t, attempts, 3)
}

func TestExecutionPolicies(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)

	// A failed run retries: run shows the attempt, runs --attempts-of the run.
	s.ok(t, "deploy", "-f", writeFile(t, "retry.yaml", "workflow_id: "+failPrefix+"policies"+`
workflow_definition:
  nodes:
    - {id: a, name: Sync, type: ACTION}
config:
  overlap_policy: OVERLAP_POLICY_ALLOW_ALL
  retry_policy: {max_attempts: 2, initial_interval: 0.1s}
`))
	first := okJSON(t, s, &pb.TriggerWorkflowResponse{}, "trigger", failPrefix+"policies").GetExecutionId()
	var attempts []*pb.Execution
	require.Eventually(t, func() bool {
		attempts = okJSON(t, s, &pb.GetExecutionHistoryResponse{}, "runs", "--attempts-of", first).GetExecutions()
		return len(attempts) == 2 && finished(attempts[0].GetStatus())
	}, 10*time.Second, 20*time.Millisecond)
	retry := attempts[0]
	require.Equal(t, int32(2), retry.GetAttempt())
	require.Equal(t, first, retry.GetFirstAttemptId())
	require.Equal(t, first, attempts[1].GetExecutionId())
	require.NotNil(t, retry.GetNotBefore())
	out := s.ok(t, "runs", "--attempts-of", first)
	require.Regexp(t, `(?s)`+retry.GetExecutionId()+` .*\n`+first+` `, out)
	out = s.ok(t, "run", retry.GetExecutionId())
	require.Regexp(t, field("Attempt", `2 \(first attempt `+first+`\)`), out)
	require.Regexp(t, field("Not before", `\S+`), out)
	require.Equal(t, first, okJSON(t, s, &pb.GetExecutionResponse{}, "run", retry.GetExecutionId()).GetExecution().GetFirstAttemptId())
	out = s.ok(t, "run", first)
	require.Regexp(t, field("Attempt", "1"), out)
	require.NotContains(t, out, "Not before:")

	// --overlap-policy overrides the deployment's (SKIP here) for one run; the admission tells what it did.
	s.ok(t, "deploy", "-f", writeFile(t, "skip.yaml", "workflow_id: "+hangPrefix+"policies"+`
workflow_definition:
  nodes:
    - {id: a, name: Sync, type: ACTION}
config: {overlap_policy: OVERLAP_POLICY_SKIP}
`))
	started := s.ok(t, "trigger", hangPrefix+"policies")
	require.Regexp(t, field("Admission", "STARTED"), started)
	running := regexp.MustCompile(`(?m)^Execution: +([0-9a-f-]{36})$`).FindStringSubmatch(started)[1]
	t.Cleanup(func() { wfrWith(context.Background(), s.env, "", "cancel", running) })
	require.Eventually(t, func() bool {
		return okJSON(t, s, &pb.GetExecutionResponse{}, "run", running).GetExecution().GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_RUNNING
	}, 10*time.Second, 20*time.Millisecond)
	require.Regexp(t, field("Admission", "SKIPPED"), s.ok(t, "trigger", hangPrefix+"policies"))
	alongside := okJSON(t, s, &pb.TriggerWorkflowResponse{}, "trigger", hangPrefix+"policies", "--overlap-policy", "allow-all")
	t.Cleanup(func() { wfrWith(context.Background(), s.env, "", "cancel", alongside.GetExecutionId()) })
	require.Equal(t, pb.Admission_ADMISSION_STARTED, alongside.GetAdmission())
}
