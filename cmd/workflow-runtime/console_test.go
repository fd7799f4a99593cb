package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// consoleClient requests console pages as a browser on the console's own
// origin would, without following redirects.
type consoleClient struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
}

// page is a console answer: its status, where it redirects and its body.
type consolePage struct {
	status   int
	location string
	body     string
	cookies  []*http.Cookie
}

func (c *consoleClient) do(method, path string, form url.Values, header map[string]string) consolePage {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return consolePage{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), cookies: resp.Cookies()}
}

func (c *consoleClient) get(path string) consolePage { return c.do(http.MethodGet, path, nil, nil) }

func (c *consoleClient) post(path string, form url.Values) consolePage {
	return c.do(http.MethodPost, path, form, nil)
}

// pageCase is a console page and what it must show.
type pageCase struct {
	path string
	want int
	// shows are texts the page must hold.
	shows []string
}

func checkPages(t *testing.T, c *consoleClient, cases []pageCase) {
	t.Helper()
	for _, pc := range cases {
		t.Run(strings.TrimPrefix(pc.path, "/ui/"), func(t *testing.T) {
			p := c.get(pc.path)
			require.Equal(t, pc.want, p.status, "%s:\n%s", pc.path, p.body)
			for _, s := range pc.shows {
				require.Contains(t, p.body, s, "%s", pc.path)
			}
			// A template that fails half way leaves the page unfinished.
			if !strings.Contains(pc.path, "fragment=") {
				require.Contains(t, p.body, "</html>", "%s ends early", pc.path)
			}
		})
	}
}

// TestConsolePages renders every page of the console with an empty database
// and with one that holds deployments of every status and executions, on
// PostgreSQL; TestConsolePagesEmbedded does so on the embedded SQLite.
func TestConsolePages(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	t.Parallel()
	testConsolePages(t, nil)
}

func TestConsolePagesEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole service")
	}
	t.Parallel()
	testConsolePages(t, map[string]string{"WFR_DATABASE_URL": "", "WFR_REDIS_URL": "", "WFR_DATA_DIR": t.TempDir()})
}

func testConsolePages(t *testing.T, env map[string]string) {
	s := startStack(t, env)
	c := &consoleClient{t: t, base: s.httpBase}

	t.Run("empty", func(t *testing.T) {
		checkPages(t, c, []pageCase{
			{"/ui/", http.StatusOK, []string{"Overview", "Database", "healthy", `id="pending-backlog">0<`}},
			{"/ui/deployments", http.StatusOK, []string{"No deployment matches."}},
			{"/ui/deployments?status=PAUSED&workflow_id=x", http.StatusOK, []string{"No deployment matches.", `<option value="PAUSED" selected>`}},
			{"/ui/deploy", http.StatusOK, []string{`<label for="workflow_id">`, `&#34;type&#34;: &#34;ACTION&#34;`}},
			{"/ui/load", http.StatusOK, []string{`id="load-chart"`, "Nothing is planned", "nothing to judge", "No deployment has a cron trigger."}},
			{"/ui/load?range=day", http.StatusOK, []string{`id="load-chart"`, "mean over 10 s"}},
			{"/ui/sign-in", http.StatusOK, []string{`<label for="token">`}},
			{"/ui/deployments/00000000-0000-0000-0000-000000000000", http.StatusNotFound, []string{"NotFound"}},
			{"/ui/executions/00000000-0000-0000-0000-000000000000", http.StatusNotFound, []string{"NotFound"}},
			{"/ui/nowhere", http.StatusNotFound, []string{"no console page at /ui/nowhere"}},
			{"/ui/deployments?status=LOST", http.StatusBadRequest, []string{"status"}},
			{"/ui/load?range=week", http.StatusBadRequest, []string{"range"}},
		})
	})

	ctx := context.Background()
	deploy := func(req *pb.DeployWorkflowRequest) *pb.Deployment {
		req.WorkflowDefinition = definition(t, actionNode)
		resp, err := s.client.DeployWorkflow(ctx, req)
		require.NoError(t, err)
		return resp.GetDeployment()
	}
	zero := int32(0)
	cron := deploy(&pb.DeployWorkflowRequest{WorkflowId: "pages.cron", Triggers: []*pb.Trigger{
		{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "* * * * * ?", JitterWindowSeconds: &zero}},
	}})
	deploy(&pb.DeployWorkflowRequest{WorkflowId: "pages.hook", Triggers: []*pb.Trigger{webhookSpec}})
	deploy(&pb.DeployWorkflowRequest{WorkflowId: "pages.draft", Draft: true})
	paused := deploy(&pb.DeployWorkflowRequest{WorkflowId: "pages.paused", Triggers: []*pb.Trigger{
		{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "0 3 * * *", Timezone: "Europe/Berlin"}},
	}})
	to := pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED
	_, err := s.client.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: paused.GetDeploymentId(), Status: &to})
	require.NoError(t, err)
	manual := deploy(&pb.DeployWorkflowRequest{WorkflowId: "pages.manual"})
	trig, err := s.client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "pages.manual", TriggerData: `{"order": 7}`})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		e, err := s.client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: trig.GetExecutionId()})
		return err == nil && e.GetExecution().GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED
	}, 10*time.Second, 20*time.Millisecond, "the manual execution never succeeded")
	var cronRun string
	require.Eventually(t, func() bool {
		h, err := s.client.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{DeploymentId: cron.GetDeploymentId()})
		if err != nil || len(h.GetExecutions()) == 0 {
			return false
		}
		cronRun = h.GetExecutions()[0].GetExecutionId()
		return true
	}, 10*time.Second, 20*time.Millisecond, "no cron execution")

	t.Run("populated", func(t *testing.T) {
		d := "/ui/deployments/"
		checkPages(t, c, []pageCase{
			{"/ui/", http.StatusOK, []string{`href="/ui/deployments?status=PAUSED"`, "SUCCEEDED", "Fire lag p99"}},
			{"/ui/?fragment=overview", http.StatusOK, []string{`data-live="overview"`}},
			{"/ui/deployments", http.StatusOK, []string{"5 deployments", "pages.cron", "pages.hook", "pages.draft", "pages.paused", "pages.manual"}},
			{"/ui/deployments?status=PAUSED", http.StatusOK, []string{"1 deployment<", "pages.paused"}},
			{"/ui/deployments?workflow_id=pages.hook", http.StatusOK, []string{"1 deployment<", "pages.hook"}},
			{"/ui/deployments?fragment=deployments", http.StatusOK, []string{`data-live="deployments"`, "pages.cron"}},
			{d + cron.GetDeploymentId(), http.StatusOK, []string{"pages.cron", `id="pause"`, `id="trigger"`, `id="backfill"`, "Next fires", "* * * * * ?", "/ui/executions/"}},
			{d + cron.GetDeploymentId() + "?fragment=executions", http.StatusOK, []string{`data-live="executions"`, cronRun}},
			{d + cron.GetDeploymentId() + "?fragment=status", http.StatusOK, []string{`data-live="status"`, "DEPLOYED"}},
			{d + cron.GetDeploymentId() + "?fragment=nothing", http.StatusNotFound, nil},
			{d + paused.GetDeploymentId(), http.StatusOK, []string{`id="resume"`, "Europe/Berlin", "No executions yet.",
				`id="version-2"`, `id="version-1"`, "PAUSE", "1 → 2", "DEPLOYED → PAUSED"}},
			{d + manual.GetDeploymentId(), http.StatusOK, []string{"No triggers: only manual runs.", trig.GetExecutionId()}},
			{"/ui/executions/" + trig.GetExecutionId(), http.StatusOK, []string{"SUCCEEDED", "Timeline", "&#34;order&#34;: 7", "Result", "MANUAL"}},
			{"/ui/executions/" + cronRun, http.StatusOK, []string{"Scheduled", "nominal slot", "CRON"}},
			{"/ui/load", http.StatusOK, []string{`polyline class="series with"`, "pages.cron (DEPLOYED)"}},
			{"/ui/load?report=" + cron.GetDeploymentId() + "&report_range=1h", http.StatusOK, []string{"Schedule report"}},
		})
	})
}

// TestConsoleActions changes deployments and executions through the
// console's forms as a browser posts them: bad input is refused with the
// API's error next to the form and writes nothing, and a form posted from
// another site is refused.
func TestConsoleActions(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	t.Parallel()
	s := startStack(t, nil)
	c := &consoleClient{t: t, base: s.httpBase}
	ctx := context.Background()
	count := func() int64 {
		l, err := s.client.ListDeployments(ctx, &pb.ListDeploymentsRequest{})
		require.NoError(t, err)
		return l.GetTotalSize()
	}

	form := url.Values{"workflow_id": {"actions.demo"}, "definition": {"not json"}}
	p := c.post("/ui/deploy", form)
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "workflow_definition")
	require.Contains(t, p.body, `value="actions.demo"`, "the form keeps what was sent")
	form.Set("definition", `{"nodes": [{"id": "a", "name": "A", "type": "ACTION"}]}`)
	form.Set("cron", "61 * * * *")
	p = c.post("/ui/deploy", form)
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "triggers[0].cron.expression", "the API's violation, named")
	form.Set("cron", "*/5 * * * *")
	form.Set("jitter", "soon")
	p = c.post("/ui/deploy", form)
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "jitter_window_seconds")
	form.Set("jitter", "")
	form.Set("overlap", "SOMETIMES")
	require.Equal(t, http.StatusBadRequest, c.post("/ui/deploy", form).status)
	require.Zero(t, count(), "refused deploys wrote nothing")

	form.Set("overlap", "BUFFER_ONE")
	form.Set("webhook_path", "actions/demo")
	p = c.post("/ui/deploy", form)
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	require.True(t, strings.HasPrefix(p.location, "/ui/deployments/"), p.location)
	page := p.location
	id := strings.TrimPrefix(page, "/ui/deployments/")
	got, err := s.client.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: id})
	require.NoError(t, err)
	require.Equal(t, pb.OverlapPolicy_OVERLAP_POLICY_BUFFER_ONE, got.GetDeployment().GetConfig().GetOverlapPolicy())
	require.Len(t, got.GetDeployment().GetTriggers(), 2)
	require.Equal(t, "console", got.GetDeployment().GetDeployedBy())
	p = c.post("/ui/deploy", form)
	require.Equal(t, http.StatusConflict, p.status, "a second active deployment of the workflow")
	require.Contains(t, p.body, "AlreadyExists")

	// Forged forms: from another site, or with another origin, are refused
	// before anything is called.
	for name, header := range map[string]map[string]string{
		"cross-site fetch metadata":         {"Sec-Fetch-Site": "cross-site"},
		"foreign origin, no fetch metadata": {"Origin": "http://attacker.example", "Sec-Fetch-Site": ""},
	} {
		p := c.do(http.MethodPost, page+"/pause", url.Values{}, header)
		require.Equal(t, http.StatusForbidden, p.status, name)
		require.Contains(t, p.body, "cross-origin", name)
	}
	got, err = s.client.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: id})
	require.NoError(t, err)
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED, got.GetDeployment().GetStatus(), "a forged pause changed nothing")

	// Trigger: a payload that is not JSON is the API's INVALID_ARGUMENT,
	// shown on the deployment's page with the payload kept; a good one
	// opens the new execution.
	p = c.post(page+"/trigger", url.Values{"payload": {"{not json"}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "trigger_data")
	require.Contains(t, p.body, "{not json</textarea>")
	h, err := s.client.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{DeploymentId: id})
	require.NoError(t, err)
	require.Empty(t, h.GetExecutions(), "a refused trigger started nothing")
	p = c.post(page+"/trigger", url.Values{"payload": {`{"n": 1}`}, "idempotency_key": {"once"}})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	execution, admission, _ := strings.Cut(p.location, "?")
	require.True(t, strings.HasPrefix(execution, "/ui/executions/"), p.location)
	require.Equal(t, "admission=STARTED", admission, "the page is told how the run was admitted")
	p = c.post(page+"/trigger", url.Values{"payload": {`{"n": 1}`}, "idempotency_key": {"once"}})
	// A replayed key names the execution it started, and no admission: no
	// overlap decision was taken for the replay.
	require.Equal(t, execution, p.location, "the same idempotency key, the same execution")

	// Backfill: bad times are refused before the call.
	p = c.post(page+"/backfill", url.Values{"start_time": {"yesterday"}, "end_time": {"2026-01-02T00:00"}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "start_time")
	p = c.post(page+"/backfill", url.Values{"start_time": {"2026-01-01T00:00"}, "end_time": {"2026-01-02T00:00"}, "overlap_policy": {"NEVER"}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "overlap_policy")

	// Pause, then pausing again is the API's FAILED_PRECONDITION on the page.
	p = c.post(page+"/pause", url.Values{})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	require.Equal(t, page, p.location)
	p = c.post(page+"/pause", url.Values{})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "FailedPrecondition")
	p = c.post(page+"/resume", url.Values{})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)

	// Roll back: the page offers the past versions, and a form from a page
	// gone stale (it saw version 2 as current) is the API's ABORTED.
	p = c.get(page)
	require.Contains(t, p.body, `id="rollback-1"`)
	require.NotContains(t, p.body, `id="rollback-3"`, "the current version")
	p = c.post(page+"/rollback", url.Values{"to_version": {"1"}, "expected_version": {"2"}})
	require.Equal(t, http.StatusConflict, p.status)
	require.Contains(t, p.body, "Aborted")
	p = c.post(page+"/rollback", url.Values{"to_version": {"1"}, "expected_version": {"3"}})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	got, err = s.client.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: id})
	require.NoError(t, err)
	require.EqualValues(t, 4, got.GetDeployment().GetVersion())

	// Cancel an execution that has ended: refused, with the reason kept.
	executionID := strings.TrimPrefix(execution, "/ui/executions/")
	require.Eventually(t, func() bool {
		e, err := s.client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: executionID})
		return err == nil && e.GetExecution().GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED
	}, 10*time.Second, 20*time.Millisecond)
	p = c.post(execution+"/cancel", url.Values{"reason": {"too late"}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "FailedPrecondition")
}

// TestConsoleCancel cancels a running execution from its page.
func TestConsoleCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	t.Parallel()
	// An engine whose executions never end, so that one is RUNNING to cancel.
	s := startStack(t, map[string]string{"WFR_ENGINE_ADDR": simtest.Serve(t, enginesim.New(enginesim.Config{HangRate: 1}), "127.0.0.1:0")})
	c := &consoleClient{t: t, base: s.httpBase}
	ctx := context.Background()
	_, err := s.client.DeployWorkflow(ctx, &pb.DeployWorkflowRequest{WorkflowId: "cancel.me", WorkflowDefinition: definition(t, actionNode)})
	require.NoError(t, err)
	trig, err := s.client.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{WorkflowId: "cancel.me"})
	require.NoError(t, err)
	path := "/ui/executions/" + trig.GetExecutionId()
	require.Contains(t, c.get(path).body, "Cancel execution")
	p := c.post(path+"/cancel", url.Values{"reason": {"from the console"}})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	e, err := s.client.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: trig.GetExecutionId()})
	require.NoError(t, err)
	require.Equal(t, pb.ExecutionStatus_EXECUTION_STATUS_CANCELLED, e.GetExecution().GetStatus())
	after := c.get(path)
	require.NotContains(t, after.body, "Cancel execution", "an ended execution offers no cancel")
	require.NotContains(t, after.body, "data-every", "an ended execution's page stops updating")
}

// TestConsoleSignIn: with tokens on, the console asks for one, keeps it in a
// cookie only its pages get, and forgets it on sign-out.
func TestConsoleSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	t.Parallel()
	const token = "console-sign-in-test-token"
	s := startStack(t, map[string]string{"WFR_AUTH_TOKENS": token})
	c := &consoleClient{t: t, base: s.httpBase}

	p := c.get("/ui/deployments?status=PAUSED")
	require.Equal(t, http.StatusSeeOther, p.status)
	require.Equal(t, "/ui/sign-in?next=%2Fui%2Fdeployments%3Fstatus%3DPAUSED", p.location)
	require.Equal(t, http.StatusOK, c.get(p.location).status)
	require.Equal(t, http.StatusOK, c.get("/ui/static/console.css").status, "assets are open")

	p = c.post("/ui/sign-in", url.Values{"token": {"not-the-token-at-all"}, "next": {"/ui/deployments?status=PAUSED"}})
	require.Equal(t, http.StatusUnauthorized, p.status)
	require.Contains(t, p.body, "the token was not accepted")
	require.Empty(t, p.cookies)
	p = c.post("/ui/sign-in", url.Values{"token": {""}})
	require.Equal(t, http.StatusBadRequest, p.status)

	p = c.post("/ui/sign-in", url.Values{"token": {token}, "next": {"https://elsewhere.example/ui/"}})
	require.Equal(t, http.StatusSeeOther, p.status)
	require.Equal(t, "/ui/", p.location, "no redirect off the console")
	p = c.post("/ui/sign-in", url.Values{"token": {token}, "next": {"/ui/deployments?status=PAUSED"}})
	require.Equal(t, "/ui/deployments?status=PAUSED", p.location)
	require.Len(t, p.cookies, 1)
	ck := p.cookies[0]
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	require.Equal(t, "/ui/", ck.Path)
	require.False(t, ck.Secure, "plain HTTP: no Secure flag, or the browser would not send it back")
	require.NotContains(t, ck.Value, token, "kept encoded")

	c.cookie = ck
	p = c.get("/ui/")
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, "Sign out")
	// The cookie is the console's: the API wants its header.
	resp, err := http.Get(s.httpBase + "/api/v1/deployments")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// The console's calls carry the caller's token to the API, which checks it.
	_, err = s.client.ListDeployments(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token), &pb.ListDeploymentsRequest{})
	require.NoError(t, err)

	p = c.post("/ui/sign-out", url.Values{})
	require.Equal(t, http.StatusSeeOther, p.status)
	require.Len(t, p.cookies, 1)
	require.Negative(t, p.cookies[0].MaxAge, "the cookie is deleted")
}

// TestConsoleBackfillAndReport backfills a deployment through its page and
// reads its schedule report on the load page.
func TestConsoleBackfillAndReport(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	t.Parallel()
	s := startStack(t, nil)
	c := &consoleClient{t: t, base: s.httpBase}
	resp, err := s.client.DeployWorkflow(context.Background(), &pb.DeployWorkflowRequest{
		WorkflowId: "backfill.me", WorkflowDefinition: definition(t, actionNode),
		Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "0 * * * *"}}},
	})
	require.NoError(t, err)
	page := "/ui/deployments/" + resp.GetDeployment().GetDeploymentId()

	report := c.get("/ui/load?report_range=24h&report=" + resp.GetDeployment().GetDeploymentId())
	require.Equal(t, http.StatusOK, report.status)
	require.NotContains(t, report.body, "does not offer it yet")
	require.Contains(t, report.body, `id="report-table"`)
	require.Contains(t, report.body, "<code>"+resp.GetDeployment().GetTriggers()[0].GetTrigger().GetTriggerId()+"</code>",
		"the report has a row for the cron trigger")

	end := time.Now().UTC().Truncate(time.Hour)
	p := c.post(page+"/backfill", url.Values{
		"start_time": {end.Add(-3 * time.Hour).Format("2006-01-02T15:04")}, "end_time": {end.Format("2006-01-02T15:04")},
	})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	require.True(t, strings.HasPrefix(p.location, page+"?backfill="), p.location)
	progress := c.get(p.location)
	require.Equal(t, http.StatusOK, progress.status)
	require.Contains(t, progress.body, "Planned slots</dt><dd>3<")
	require.Contains(t, progress.body, "Of them out of bounds</dt><dd>0<")
}
