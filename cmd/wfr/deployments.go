package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// deploymentArg is the usage of a command's deployment argument.
const deploymentArg = "DEPLOYMENT"

func (a *app) deployCommand() *cobra.Command {
	var (
		file, deployedBy    string
		draft, validateOnly bool
	)
	cmd := &cobra.Command{
		Use:   "deploy -f FILE",
		Short: "Deploy a workflow from a JSON or YAML file",
		Long: `Deploy a workflow. The file (or - for standard input) holds a DeployWorkflowRequest,
in JSON or in YAML, as the REST API's POST /api/v1/deployments takes it: workflow_id,
workflow_definition, triggers, config, deployed_by, draft.`,
		Example: `  wfr deploy -f orders.yaml
  wfr deploy -f orders.json --validate-only
  cat orders.yaml | wfr deploy -f - --draft`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := a.readInput(file)
			if err != nil {
				return err
			}
			req, err := parseDeployRequest(file, data)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("draft") {
				req.Draft = draft
			}
			if cmd.Flags().Changed("validate-only") {
				req.ValidateOnly = validateOnly
			}
			if deployedBy != "" {
				req.DeployedBy = deployedBy
			}
			resp, err := call(cmd.Context(), a, a.rt.DeployWorkflow, req)
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) {
				if req.GetValidateOnly() {
					fmt.Fprintln(w, "Valid; nothing was written.")
				}
				drawDeployment(w, resp.GetDeployment())
				drawPreviews(w, resp.GetUpcoming())
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "file of the DeployWorkflowRequest, JSON or YAML; - for standard input")
	cmd.Flags().BoolVar(&draft, "draft", false, "store as a draft: nothing is scheduled until resume")
	cmd.Flags().BoolVar(&validateOnly, "validate-only", false, "check the request in full and show the next fires, writing nothing")
	cmd.Flags().StringVar(&deployedBy, "deployed-by", "", "who deploys, recorded with the deployment (default: the file's deployed_by)")
	_ = cmd.MarkFlagRequired("file")
	_ = cmd.MarkFlagFilename("file", "json", "yaml", "yml")
	return cmd
}

func (a *app) getCommand() *cobra.Command {
	return &cobra.Command{
		Use:               "get " + deploymentArg,
		Short:             "Show a deployment: its triggers, next fires and last execution",
		Args:              exactArgs(deploymentArg),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := a.deployment(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) {
				last := "-"
				if e := resp.GetLastExecution(); e != nil {
					last = fmt.Sprintf("%s %s, fired %s", e.GetExecutionId(), short(e.GetStatus()), when(e.GetFiredTime()))
				}
				drawDeployment(w, resp.GetDeployment(),
					[2]string{"Running", fmt.Sprint(resp.GetRunningExecutions())},
					[2]string{"Last run", last})
			})
		},
	}
}

func (a *app) listCommand() *cobra.Command {
	var (
		req      pb.ListDeploymentsRequest
		triggers []pb.TriggerType
		all      bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List deployments, newest first",
		Example: `  wfr list --status paused
  wfr list --workflow orders.sync --status deployed,archived
  wfr list --all -o json | jq -r '.deployments[].workflow_id'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.TriggerType = last(triggers)
			resp, err := call(cmd.Context(), a, a.rt.ListDeployments, &req)
			for err == nil && all && resp.GetNextPageToken() != "" {
				req.PageToken = resp.GetNextPageToken()
				var next *pb.ListDeploymentsResponse
				next, err = call(cmd.Context(), a, a.rt.ListDeployments, &req)
				resp.Deployments = append(resp.Deployments, next.GetDeployments()...)
				resp.NextPageToken = next.GetNextPageToken()
			}
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) {
				t := newTable("WORKFLOW", "DEPLOYMENT", "STATUS", "VERSION", "TRIGGERS", "NEXT FIRE", "UPDATED")
				for _, d := range resp.GetDeployments() {
					t.row(d.GetWorkflowId(), d.GetDeploymentId(), short(d.GetStatus()), fmt.Sprint(d.GetVersion()),
						triggerSummary(d), when(nextFire(d)), when(d.GetUpdatedAt()))
				}
				t.flush(w)
				fmt.Fprintf(w, "%d of %s", len(resp.GetDeployments()), count(resp.GetTotalSize(), "deployment"))
				if tok := resp.GetNextPageToken(); tok != "" {
					fmt.Fprintf(w, "; the next page: --page-token %s", tok)
				}
				fmt.Fprintln(w)
			})
		},
	}
	enumFlag(cmd, &req.Statuses, "status", "only deployments in these statuses (default: all but archived)")
	enumFlag(cmd, &triggers, "trigger-type", "only deployments with a trigger of this type")
	cmd.Flags().StringVar(&req.WorkflowId, "workflow", "", "only the deployments of this workflow")
	cmd.Flags().Int32Var(&req.PageSize, "limit", 0, "deployments per page (default 50, at most 500)")
	cmd.Flags().StringVar(&req.PageToken, "page-token", "", "the page after the one that gave this token")
	cmd.Flags().BoolVar(&all, "all", false, "every page, not just the first")
	return cmd
}

// withDeployment is an answer that holds a deployment.
type withDeployment interface {
	proto.Message
	GetDeployment() *pb.Deployment
}

// changeCommand changes the deployment its argument names, and shows it
// changed: pause, resume, delete.
func (a *app) changeCommand(name, short string, change func(ctx context.Context, id string) (withDeployment, error)) *cobra.Command {
	return &cobra.Command{
		Use:               name + " " + deploymentArg,
		Short:             short,
		Args:              exactArgs(deploymentArg),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := a.deploymentID(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			resp, err := change(cmd.Context(), id)
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) { drawDeployment(w, resp.GetDeployment()) })
		},
	}
}

// statusCommand moves a deployment to status: pause and resume.
func (a *app) statusCommand(name, short string, status pb.DeploymentStatus) *cobra.Command {
	var expected int64
	cmd := a.changeCommand(name, short, func(ctx context.Context, id string) (withDeployment, error) {
		return call(ctx, a, a.rt.UpdateDeployment, &pb.UpdateDeploymentRequest{DeploymentId: id, Status: &status, ExpectedVersion: expected})
	})
	cmd.Flags().Int64Var(&expected, "expected-version", 0, "refuse (ABORTED) unless the deployment is at this version")
	return cmd
}

func (a *app) deleteCommand() *cobra.Command {
	return a.changeCommand("delete", "Archive a deployment: its triggers stop, its history stays", func(ctx context.Context, id string) (withDeployment, error) {
		return call(ctx, a, a.rt.DeleteDeployment, &pb.DeleteDeploymentRequest{DeploymentId: id})
	})
}

func (a *app) previewCommand() *cobra.Command {
	var (
		req      pb.PreviewScheduleRequest
		cronSpec pb.CronSpec
		jitter   int32
	)
	cmd := &cobra.Command{
		Use:   "preview [" + deploymentArg + "]",
		Short: "List the next fires of a deployment's cron triggers, or of a cron spec",
		Long: `List the next fires of each cron trigger of a deployment, whatever its status, or of a
cron spec not yet deployed (--cron with --workflow, whose id fixes the jitter), with a
note where daylight saving time moved, doubled or dropped a slot.`,
		Example: `  wfr preview orders.sync --count 5
  wfr preview --workflow reports.nightly --cron '30 2 * * *' --timezone America/New_York --start 2026-03-07T05:00:00Z`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && cronSpec.GetExpression() == "":
				id, err := a.deploymentID(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				req.DeploymentId = id
			case len(args) == 0 && cronSpec.GetExpression() != "" && req.GetWorkflowId() != "":
				if cmd.Flags().Changed("jitter-window") {
					cronSpec.JitterWindowSeconds = &jitter
				}
				req.Cron = &cronSpec
			default:
				return usagef("name a deployment, or give --cron and --workflow")
			}
			resp, err := call(cmd.Context(), a, a.rt.PreviewSchedule, &req)
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) { drawPreviews(w, resp.GetTriggers()) })
		},
	}
	f := cmd.Flags()
	f.Int32Var(&req.Count, "count", 0, "fires per trigger (default 10, at most 1000)")
	a.timeFlag(cmd, &req.StartTime, "start", "list fires from this time on (default now)")
	f.StringVar(&cronSpec.Expression, "cron", "", "a cron expression to preview instead of a deployment")
	f.StringVar(&cronSpec.Timezone, "timezone", "", "with --cron: its IANA time zone (default UTC)")
	f.Int32Var(&jitter, "jitter-window", 0, "with --cron: the jitter window in seconds (default the service's)")
	f.StringVar(&req.WorkflowId, "workflow", "", "with --cron: the workflow it is for, which fixes its jitter")
	return cmd
}

func (a *app) backfillCommand() *cobra.Command {
	var (
		req     pb.BackfillDeploymentRequest
		overlap []pb.OverlapPolicy
		wait    bool
	)
	cmd := &cobra.Command{
		Use:   "backfill " + deploymentArg + " --start TIME --end TIME",
		Short: "Run every slot of a deployment's cron triggers in a past range, each at most once",
		Long: `Run every slot of a deployment's cron triggers in [--start, --end), each at most once
ever: a slot that already ran is counted as skipped, so repeating a backfill is harmless.
The backfill goes on in the service; --wait follows it until every slot has run.`,
		Example: `  wfr backfill orders.sync --start -24h --end now
  wfr backfill orders.sync --start 2026-11-01T00:00:00Z --end 2026-11-02T00:00:00Z --overlap allow-all --wait`,
		Args:              exactArgs(deploymentArg),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := a.deploymentID(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			req.DeploymentId, req.OverlapPolicy = id, last(overlap)
			resp, err := call(cmd.Context(), a, a.rt.BackfillDeployment, &req)
			if err != nil {
				return err
			}
			if wait {
				return a.waitBackfill(cmd.Context(), resp.GetBackfill().GetBackfillId())
			}
			return a.print(resp, func(w io.Writer) { drawBackfill(w, resp.GetBackfill()) })
		},
	}
	a.timeFlag(cmd, &req.StartTime, "start", "first slot to run (inclusive)")
	a.timeFlag(cmd, &req.EndTime, "end", "end of the range (exclusive), not in the future")
	enumFlag(cmd, &overlap, "overlap", "overlap policy of the backfill's executions (default the deployment's)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the backfill until it completes")
	_ = cmd.MarkFlagRequired("start")
	_ = cmd.MarkFlagRequired("end")
	return cmd
}

func (a *app) backfillStatusCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "backfill-status BACKFILL",
		Short: "Show a backfill's progress",
		Args:  exactArgs("BACKFILL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wait {
				return a.waitBackfill(cmd.Context(), args[0])
			}
			resp, err := call(cmd.Context(), a, a.rt.GetBackfill, &pb.GetBackfillRequest{BackfillId: args[0]})
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) { drawBackfill(w, resp.GetBackfill()) })
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the backfill until it completes")
	return cmd
}

// waitBackfill polls a backfill until it completes and prints it then.
func (a *app) waitBackfill(ctx context.Context, id string) error {
	resp, err := waitFor(ctx, func() (*pb.GetBackfillResponse, error) {
		return call(ctx, a, a.rt.GetBackfill, &pb.GetBackfillRequest{BackfillId: id})
	}, func(r *pb.GetBackfillResponse) bool {
		return r.GetBackfill().GetState() == pb.BackfillState_BACKFILL_STATE_COMPLETED
	})
	if err != nil {
		return err
	}
	return a.print(resp, func(w io.Writer) { drawBackfill(w, resp.GetBackfill()) })
}

// deployment looks up the deployment that ref names: by deployment id when
// ref is a UUID and such a deployment exists, else as the active deployment
// of the workflow ref (a workflow id may be a UUID too).
func (a *app) deployment(ctx context.Context, ref string) (*pb.GetDeploymentStatusResponse, error) {
	if _, err := uuid.Parse(ref); err == nil {
		resp, err := call(ctx, a, a.rt.GetDeploymentStatus, &pb.GetDeploymentStatusRequest{DeploymentId: ref})
		if status.Code(err) != codes.NotFound {
			return resp, err
		}
	}
	return call(ctx, a, a.rt.GetDeploymentStatus, &pb.GetDeploymentStatusRequest{WorkflowId: ref})
}

// deploymentID is the id of the deployment that ref names.
func (a *app) deploymentID(ctx context.Context, ref string) (string, error) {
	resp, err := a.deployment(ctx, ref)
	return resp.GetDeployment().GetDeploymentId(), err
}

// completeDeployments offers the workflow ids of the active deployments.
func (a *app) completeDeployments(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if a.prepare() != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	resp, err := call(ctx, a, a.rt.ListDeployments, &pb.ListDeploymentsRequest{PageSize: 500})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []cobra.Completion
	for _, d := range resp.GetDeployments() {
		if strings.HasPrefix(d.GetWorkflowId(), prefix) {
			out = append(out, cobra.CompletionWithDesc(d.GetWorkflowId(), short(d.GetStatus())))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// drawDeployment writes a deployment's fields, then more, then its triggers.
func drawDeployment(w io.Writer, d *pb.Deployment, more ...[2]string) {
	t := newTable()
	t.field("Deployment", d.GetDeploymentId())
	t.field("Workflow", d.GetWorkflowId())
	st := short(d.GetStatus())
	if d.GetScheduleEnded() {
		st += " (every cron trigger has ended)"
	}
	t.field("Status", st)
	t.field("Version", fmt.Sprint(d.GetVersion()))
	if d.GetDeployedAt() != nil {
		t.field("Deployed", strings.TrimSuffix(when(d.GetDeployedAt())+" by "+forWhom(d.GetDeployedBy(), d.GetOnBehalfOf()), " by "))
	}
	t.field("Updated", when(d.GetUpdatedAt()))
	cfg := d.GetConfig()
	t.field("Config", fmt.Sprintf("overlap %s, timeout %s, catch-up window %s",
		short(cfg.GetOverlapPolicy()), orDefault(cfg.GetExecutionTimeoutSeconds()), orDefault(cfg.GetCatchupWindowSeconds())))
	for _, f := range more {
		t.field(f[0], f[1])
	}
	t.flush(w)
	if len(d.GetTriggers()) == 0 {
		return
	}
	fmt.Fprintln(w)
	t = newTable("TRIGGER", "TYPE", "SPEC", "JITTER", "NEXT FIRE", "LAST FIRE")
	for _, ts := range d.GetTriggers() {
		tr := ts.GetTrigger()
		id, jitter, next := tr.GetTriggerId(), "-", when(ts.GetNextFireTime())
		if id == "" {
			id = "(new)"
		}
		if tr.GetType() == pb.TriggerType_TRIGGER_TYPE_CRON {
			jitter = seconds(ts.GetJitterSeconds())
			if ts.GetEnded() {
				next = "ended"
			}
		}
		t.row(id, short(tr.GetType()), triggerSpec(ts), jitter, next, when(ts.GetLastFireTime()))
	}
	t.flush(w)
}

// orDefault is a setting in seconds, 0 being the service's default.
func orDefault(s int32) string {
	if s == 0 {
		return "default"
	}
	return seconds(s)
}

// triggerSpec says what fires a trigger: its cron schedule or its webhook.
func triggerSpec(ts *pb.TriggerStatus) string {
	tr := ts.GetTrigger()
	switch tr.GetType() {
	case pb.TriggerType_TRIGGER_TYPE_CRON:
		c := tr.GetCron()
		parts := []string{c.GetExpression()}
		if c.GetTimezone() != "" {
			parts = append(parts, c.GetTimezone())
		}
		if c.GetMaxRuns() > 0 {
			parts = append(parts, fmt.Sprintf("(%d of %s left)", ts.GetRemainingRuns(), count(int64(c.GetMaxRuns()), "run")))
		}
		return strings.Join(parts, " ")
	case pb.TriggerType_TRIGGER_TYPE_WEBHOOK:
		h := tr.GetWebhook()
		methods := h.GetMethods()
		if len(methods) == 0 {
			methods = []string{"POST"}
		}
		spec := strings.Join(methods, ",") + " " + h.GetPath()
		if ts.GetRequiresSignature() {
			spec += " (signed)"
		}
		if h.GetResponseMode() == pb.ResponseMode_RESPONSE_MODE_SYNC {
			spec += " (sync)"
		}
		return spec
	default:
		return "-"
	}
}

// triggerSummary lists a deployment's triggers in a few words each.
func triggerSummary(d *pb.Deployment) string {
	parts := make([]string, len(d.GetTriggers()))
	for i, ts := range d.GetTriggers() {
		parts[i] = strings.ToLower(short(ts.GetTrigger().GetType())) + " " + triggerSpec(ts)
	}
	return strings.Join(parts, "; ")
}

// nextFire is the earliest next fire of d's triggers.
func nextFire(d *pb.Deployment) *timestamppb.Timestamp {
	var next *timestamppb.Timestamp
	for _, ts := range d.GetTriggers() {
		if n := ts.GetNextFireTime(); n != nil && (next == nil || n.AsTime().Before(next.AsTime())) {
			next = n
		}
	}
	return next
}

// drawPreviews writes the upcoming fires of each cron trigger.
func drawPreviews(w io.Writer, previews []*pb.TriggerPreview) {
	for _, p := range previews {
		c := p.GetCron()
		name := fmt.Sprint("Trigger ", p.GetTriggerIndex())
		if id := p.GetTriggerId(); id != "" {
			name += " " + id
		}
		fmt.Fprintf(w, "\n%s: %s %s\n", name, c.GetExpression(), cmp.Or(c.GetTimezone(), "UTC"))
		t := newTable("SLOT", "FIRE", "LOCAL", "DST", "NOTE")
		for _, f := range p.GetFires() {
			t.row(when(f.GetSlotTime()), when(f.GetFireTime()), f.GetLocalTime(), short(f.GetDstEffect()), f.GetNote())
		}
		t.flush(w)
		if p.GetEnded() {
			fmt.Fprintln(w, "The schedule ends: no later fires.")
		}
	}
}

// drawBackfill writes a backfill's range and progress.
func drawBackfill(w io.Writer, b *pb.Backfill) {
	t := newTable()
	t.field("Backfill", b.GetBackfillId())
	t.field("Deployment", b.GetDeploymentId())
	t.field("Range", when(b.GetStartTime())+" to "+when(b.GetEndTime()))
	t.field("Overlap", short(b.GetOverlapPolicy()))
	t.field("State", short(b.GetState()))
	t.field("Slots", fmt.Sprintf("%d planned, %d started, %d finished, %d skipped, %d of them out of bounds",
		b.GetPlannedSlots(), b.GetStartedSlots(), b.GetFinishedSlots(), b.GetSkippedSlots(), b.GetOutOfBoundsSlots()))
	t.field("Created", when(b.GetCreatedAt()))
	if b.GetCompletedAt() != nil {
		t.field("Completed", when(b.GetCompletedAt()))
	}
	t.flush(w)
}

// noArgs refuses arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// exactArgs wants one argument, named name in the error.
func exactArgs(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("%s takes one %s, got %d arguments", cmd.CommandPath(), name, len(args))
		}
		return nil
	}
}
