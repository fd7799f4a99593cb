package console

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// recentExecutions is how many executions a deployment's page lists.
const recentExecutions = 20

// recentHistory is how many versions and changes a deployment's page lists;
// wfr versions and wfr events page through the rest.
const recentHistory = 10

// maxAttempts is the most attempts a retry policy allows a run, so one page
// of history holds them all.
const maxAttempts = 100

// overviewSlower is how many times longer the overview waits between
// refreshes than the lists do.
const overviewSlower = 5

// previewFires is how many next fires a deployment's page lists per trigger.
const previewFires = 5

// section is one API answer of a page: the pages show what they got and say
// what failed, rather than failing whole because one call did.
type section[T any] struct {
	Value   T
	Problem *problem
}

// fetch calls f and keeps its answer or its error.
func fetch[T any](s *section[T], f func() (T, error)) {
	v, err := f()
	if err != nil {
		s.Problem = newProblem(err)
		return
	}
	s.Value = v
}

// overviewData is the overview page.
type overviewData struct {
	Health     section[*pb.GetSystemHealthResponse]
	Stats      section[*pb.GetDeploymentStatsResponse]
	Scheduling section[*pb.GetSchedulingMetricsResponse]
	// BackPressure is nil when the console was not given it.
	BackPressure *workflow.BackPressure
}

// Refusals are the back-pressure's refusals by bound, every bound listed.
func (d overviewData) Refusals() []counted {
	return counts(refusalBounds, d.BackPressure.Refused)
}

// refusalBounds are the bounds in the order the console lists them.
var refusalBounds = []string{"workflow", "total", "sync"}

// dependency is one dependency's health as the overview shows it.
type dependency struct {
	Label, Status, Latency, Error string
}

// dependencies are the health report's keys, and what the overview calls them.
var dependencies = []struct{ key, label string }{
	{"database", "Database"}, {"redis", "Redis"}, {"workflow_engine", "Workflow engine"},
}

// Dependencies are the dependencies' health in a fixed order.
func (d overviewData) Dependencies() []dependency {
	var out []dependency
	for _, dep := range dependencies {
		h := d.Health.Value.GetDependencies()[dep.key]
		row := dependency{Label: dep.label, Status: h.GetStatus(), Error: h.GetError()}
		if row.Status == "" {
			row.Status = "unknown"
		}
		if h.GetStatus() == "healthy" {
			row.Latency = fmt.Sprintf("%.1f ms", h.GetLatencyMs())
		}
		out = append(out, row)
	}
	return out
}

// counted is a count under a status name.
type counted struct {
	Key   string
	Class string
	N     int64
}

func counts(keys []string, m map[string]int64) []counted {
	out := make([]counted, len(keys))
	for i, k := range keys {
		out[i] = counted{Key: k, Class: strings.ToLower(k), N: m[k]}
	}
	return out
}

// DeploymentCounts are the deployments by status, every status listed.
func (d overviewData) DeploymentCounts() []counted {
	return counts(deploymentStatuses, d.Stats.Value.GetByStatus())
}

// ExecutionCounts are the last hour's executions by status, every status
// listed.
func (d overviewData) ExecutionCounts() []counted {
	return counts(executionStatuses, d.Stats.Value.GetExecutionsByStatus())
}

// deploymentStatuses are the statuses in the order the console lists them.
var deploymentStatuses = []string{"DRAFT", "DEPLOYED", "PAUSED", "ARCHIVED"}

// executionStatuses are the statuses in the order the console lists them.
var executionStatuses = []string{"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "SKIPPED"}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := callContext(r)
	defer cancel()
	var d overviewData
	hourAgo := timestamppb.New(c.opts.Now().Add(-time.Hour))
	var wg sync.WaitGroup
	wg.Go(func() {
		fetch(&d.Health, func() (*pb.GetSystemHealthResponse, error) {
			return c.mon.GetSystemHealth(ctx, &pb.GetSystemHealthRequest{})
		})
	})
	wg.Go(func() {
		fetch(&d.Stats, func() (*pb.GetDeploymentStatsResponse, error) {
			return c.mon.GetDeploymentStats(ctx, &pb.GetDeploymentStatsRequest{StartTime: hourAgo})
		})
	})
	wg.Go(func() {
		fetch(&d.Scheduling, func() (*pb.GetSchedulingMetricsResponse, error) {
			return c.mon.GetSchedulingMetrics(ctx, &pb.GetSchedulingMetricsRequest{})
		})
	})
	wg.Wait()
	if c.opts.BackPressure != nil {
		bp := c.opts.BackPressure()
		d.BackPressure = &bp
	}
	if err := firstUnauthenticated(d.Health.Problem, d.Stats.Problem, d.Scheduling.Problem); err != nil {
		toSignIn(w, r)
		return
	}
	p := c.newPage(r, "overview", "Overview", d)
	// The overview's reads are the heaviest and change slowest.
	p.Refresh *= overviewSlower
	c.render(w, r, http.StatusOK, "overview", p)
}

// firstUnauthenticated reports whether any section was refused for want of
// credentials: then the whole page is.
func firstUnauthenticated(problems ...*problem) *problem {
	for _, p := range problems {
		if p != nil && p.Code == "Unauthenticated" {
			return p
		}
	}
	return nil
}

// deploymentsData is the deployments page.
type deploymentsData struct {
	WorkflowID string
	Status     string
	PageToken  string
	Statuses   []string
	List       *pb.ListDeploymentsResponse
}

func (c *Console) deployments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := deploymentsData{
		WorkflowID: strings.TrimSpace(q.Get("workflow_id")), Status: q.Get("status"), PageToken: q.Get("page_token"),
		Statuses: deploymentStatuses,
	}
	req := &pb.ListDeploymentsRequest{WorkflowId: d.WorkflowID, PageToken: d.PageToken, PageSize: 25}
	if d.Status != "" {
		if !slices.Contains(deploymentStatuses, d.Status) {
			c.failPage(w, r, "deployments", "Deployments", d, invalidField("status", "must be one of "+strings.Join(deploymentStatuses, ", ")))
			return
		}
		req.Statuses = []pb.DeploymentStatus{pb.DeploymentStatus(pb.DeploymentStatus_value["DEPLOYMENT_STATUS_"+d.Status])}
	}
	ctx, cancel := callContext(r)
	defer cancel()
	list, err := c.api.ListDeployments(ctx, req)
	if err != nil {
		c.failPage(w, r, "deployments", "Deployments", d, err)
		return
	}
	d.List = list
	c.render(w, r, http.StatusOK, "deployments", c.newPage(r, "deployments", "Deployments", d))
}

// failPage shows a page with an error above it, with the status the error
// has in REST; an unauthenticated caller goes to sign in.
func (c *Console) failPage(w http.ResponseWriter, r *http.Request, name, title string, data any, err error) {
	p := newProblem(err)
	if p.Code == "Unauthenticated" {
		toSignIn(w, r)
		return
	}
	pg := c.newPage(r, name, title, data)
	pg.Problem = p
	c.render(w, r, httpStatus(err), name, pg)
}

// deploymentData is a deployment's page.
type deploymentData struct {
	Status     *pb.GetDeploymentStatusResponse
	Preview    section[*pb.PreviewScheduleResponse]
	Executions section[*pb.GetExecutionHistoryResponse]
	Backfill   section[*pb.Backfill]
	Versions   section[*pb.ListDeploymentVersionsResponse]
	Events     section[*pb.ListDeploymentEventsResponse]
	// BackfillID is the backfill just started, whose progress the page shows.
	BackfillID string
	// Form holds what a failed post sent, to show it again.
	Form map[string]string
	// Overlaps are the overlap policies a manual trigger may take, and
	// BackfillOverlaps those a backfill may.
	Overlaps, BackfillOverlaps []string
}

// HasCron reports whether the deployment has a cron trigger: only then can
// it be backfilled and previewed.
func (d *deploymentData) HasCron() bool {
	for _, t := range d.Status.GetDeployment().GetTriggers() {
		if t.GetTrigger().GetType() == pb.TriggerType_TRIGGER_TYPE_CRON {
			return true
		}
	}
	return false
}

func (c *Console) deployment(w http.ResponseWriter, r *http.Request) {
	c.showDeployment(w, r, http.StatusOK, nil, nil)
}

// showDeployment renders a deployment's page; after a failed post, with its
// error and what the form held.
func (c *Console) showDeployment(w http.ResponseWriter, r *http.Request, code int, failed error, form map[string]string) {
	ctx, cancel := callContext(r)
	defer cancel()
	id := r.PathValue("id")
	st, err := c.api.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: id})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := &deploymentData{Status: st, Form: form, BackfillID: r.URL.Query().Get("backfill"), Overlaps: overlapPolicies, BackfillOverlaps: backfillOverlapPolicies}
	var wg sync.WaitGroup
	if d.HasCron() {
		wg.Go(func() {
			fetch(&d.Preview, func() (*pb.PreviewScheduleResponse, error) {
				return c.api.PreviewSchedule(ctx, &pb.PreviewScheduleRequest{DeploymentId: id, Count: previewFires})
			})
		})
	}
	wg.Go(func() {
		fetch(&d.Executions, func() (*pb.GetExecutionHistoryResponse, error) {
			return c.api.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{DeploymentId: id, PageSize: recentExecutions})
		})
	})
	wg.Go(func() {
		fetch(&d.Versions, func() (*pb.ListDeploymentVersionsResponse, error) {
			return c.api.ListDeploymentVersions(ctx, &pb.ListDeploymentVersionsRequest{DeploymentId: id, PageSize: recentHistory})
		})
	})
	wg.Go(func() {
		fetch(&d.Events, func() (*pb.ListDeploymentEventsResponse, error) {
			return c.api.ListDeploymentEvents(ctx, &pb.ListDeploymentEventsRequest{DeploymentId: id, PageSize: recentHistory})
		})
	})
	if d.BackfillID != "" {
		wg.Go(func() {
			fetch(&d.Backfill, func() (*pb.Backfill, error) {
				b, err := c.api.GetBackfill(ctx, &pb.GetBackfillRequest{BackfillId: d.BackfillID})
				return b.GetBackfill(), err
			})
		})
	}
	wg.Wait()
	p := c.newPage(r, "deployments", st.GetDeployment().GetWorkflowId(), d)
	if failed != nil {
		p.Problem = newProblem(failed)
	}
	c.render(w, r, code, "deployment", p)
}

// executionData is an execution's page.
type executionData struct {
	Execution *pb.Execution
	Input     string
	Result    string
	// Reason is what a failed cancel sent.
	Reason string
	// Admission is what the overlap policy did with the execution the
	// console just triggered.
	Admission string
	// Attempts are the run's attempts, the first one's and its retries.
	Attempts section[*pb.GetExecutionHistoryResponse]
}

// admissions are the admissions a trigger may report, with what they mean.
var admissions = map[string]string{
	"STARTED": "Started: the execution went to the engine.",
	"WAITING": "Waiting: the execution is PENDING until the running one ends or a slot frees.",
	"SKIPPED": "Skipped: the overlap policy did not run it.",
}

func (c *Console) execution(w http.ResponseWriter, r *http.Request) {
	c.showExecution(w, r, http.StatusOK, nil, "")
}

func (c *Console) showExecution(w http.ResponseWriter, r *http.Request, code int, failed error, reason string) {
	ctx, cancel := callContext(r)
	defer cancel()
	e, err := c.api.GetExecution(ctx, &pb.GetExecutionRequest{ExecutionId: r.PathValue("id")})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := executionData{
		Execution: e.GetExecution(), Input: indentJSON(e.GetInputData()), Result: indentJSON(e.GetResultData()), Reason: reason,
		Admission: admissions[r.URL.Query().Get("admission")],
	}
	// The live fragment, refetched every few seconds, leaves the attempts out.
	if r.URL.Query().Get("fragment") == "" {
		// Executions recorded before retries existed name no first attempt.
		first := cmp.Or(e.GetExecution().GetFirstAttemptId(), e.GetExecution().GetExecutionId())
		fetch(&d.Attempts, func() (*pb.GetExecutionHistoryResponse, error) {
			return c.api.GetExecutionHistory(ctx, &pb.GetExecutionHistoryRequest{FirstAttemptId: first, PageSize: maxAttempts})
		})
	}
	p := c.newPage(r, "deployments", "Execution "+e.GetExecution().GetExecutionId(), d)
	if failed != nil {
		p.Problem = newProblem(failed)
	}
	c.render(w, r, code, "execution", p)
}

// loadRanges are the load page's ranges: span and bucket width. A bucket of
// a second shows the per-second load itself; a day in seconds would be more
// buckets than one call may ask for.
var loadRanges = map[string]struct {
	span   time.Duration
	bucket int32
}{
	"hour": {time.Hour, 1},
	"day":  {24 * time.Hour, 10},
}

// reportRanges are the spans the schedule report may look back over.
var reportRanges = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

// loadData is the load page.
type loadData struct {
	Range  string
	Load   section[*pb.GetLoadDistributionResponse]
	Chart  *lineChart
	Jitter section[*pb.GetJitterDistributionResponse]
	Hist   *histogram
	// CronDeployments are those a schedule report can be asked for.
	CronDeployments section[[]*pb.Deployment]
	ReportFor       string
	ReportRange     string
	Report          section[*pb.GetScheduleReportResponse]
}

func (c *Console) load(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &loadData{Range: q.Get("range"), ReportFor: q.Get("report"), ReportRange: q.Get("report_range")}
	if d.Range == "" {
		d.Range = "hour"
	}
	if d.ReportRange == "" {
		d.ReportRange = "24h"
	}
	lr, okRange := loadRanges[d.Range]
	back, okReport := reportRanges[d.ReportRange]
	if !okRange || !okReport {
		c.failPage(w, r, "load", "Load", d, invalidField("range", "must be hour or day, and the report's 1h, 24h or 7d"))
		return
	}
	ctx, cancel := callContext(r)
	defer cancel()
	now := c.opts.Now().Truncate(time.Second)
	var wg sync.WaitGroup
	wg.Go(func() {
		fetch(&d.Load, func() (*pb.GetLoadDistributionResponse, error) {
			return c.mon.GetLoadDistribution(ctx, &pb.GetLoadDistributionRequest{
				StartTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(lr.span)), BucketSeconds: lr.bucket,
			})
		})
	})
	wg.Go(func() {
		fetch(&d.Jitter, func() (*pb.GetJitterDistributionResponse, error) {
			return c.mon.GetJitterDistribution(ctx, &pb.GetJitterDistributionRequest{})
		})
	})
	wg.Go(func() {
		fetch(&d.CronDeployments, func() ([]*pb.Deployment, error) {
			l, err := c.api.ListDeployments(ctx, &pb.ListDeploymentsRequest{TriggerType: pb.TriggerType_TRIGGER_TYPE_CRON, PageSize: 200})
			return l.GetDeployments(), err
		})
	})
	if d.ReportFor != "" {
		wg.Go(func() {
			fetch(&d.Report, func() (*pb.GetScheduleReportResponse, error) {
				return c.mon.GetScheduleReport(ctx, &pb.GetScheduleReportRequest{
					DeploymentId: d.ReportFor, StartTime: timestamppb.New(now.Add(-back)), EndTime: timestamppb.New(now),
				})
			})
		})
	}
	wg.Wait()
	if firstUnauthenticated(d.Load.Problem, d.Jitter.Problem, d.CronDeployments.Problem) != nil {
		toSignIn(w, r)
		return
	}
	if d.Load.Value != nil {
		d.Chart = newLoadChart(d.Load.Value, lr.bucket)
	}
	if d.Jitter.Value != nil {
		d.Hist = newHistogram(d.Jitter.Value)
	}
	c.render(w, r, http.StatusOK, "load", c.newPage(r, "load", "Load", d))
}
