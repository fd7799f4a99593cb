package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// Polling of --wait: quick at first, for executions that end at once, then
// every few seconds at most.
const (
	pollFirst   = 100 * time.Millisecond
	pollLongest = 2 * time.Second
)

// followMargin is how far before the newest execution seen runs --follow
// looks again: executions committed late, or fired by a replica whose clock
// is behind, still appear.
const followMargin = time.Minute

// runHeader heads every table of executions; runRow fills it.
var runHeader = []string{"EXECUTION", "WORKFLOW", "TRIGGER", "STATUS", "FIRED", "DURATION", "ERROR"}

func runRow(e *pb.Execution) []string {
	return []string{e.GetExecutionId(), e.GetWorkflowId(), short(e.GetTriggerType()), short(e.GetStatus()),
		when(e.GetFiredTime()), took(e.GetStartedTime(), e.GetFinishedTime()), cmp.Or(e.GetErrorMessage(), e.GetSkipReason())}
}

func (a *app) triggerCommand() *cobra.Command {
	var (
		req     pb.TriggerWorkflowRequest
		overlap []pb.OverlapPolicy
		data    string
		wait    bool
	)
	cmd := &cobra.Command{
		Use:   "trigger WORKFLOW",
		Short: "Start an execution of a workflow now",
		Long: `Start an execution of a workflow's active deployment now, with --data as its input.
--wait follows it to its end, through its retries, and exits with 9 unless the last attempt
SUCCEEDED.`,
		Example: `  wfr trigger orders.sync --data '{"order": 7}'
  wfr trigger orders.sync --data @order.json --idempotency-key order-7 --wait`,
		Args:              exactArgs("WORKFLOW"),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if req.TriggerData, err = a.triggerData(data); err != nil {
				return err
			}
			if !cmd.Flags().Changed("triggered-by") {
				req.TriggeredBy = "wfr"
				if user := a.getenv("USER"); user != "" {
					req.TriggeredBy += ":" + user
				}
			}
			req.WorkflowId = args[0]
			if _, err := uuid.Parse(args[0]); err == nil {
				d, err := a.deployment(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				req.WorkflowId = d.GetDeployment().GetWorkflowId()
			}
			req.TriggerType, req.OverlapPolicy = pb.TriggerType_TRIGGER_TYPE_MANUAL, last(overlap)
			resp, err := call(cmd.Context(), a, a.rt.TriggerWorkflow, &req)
			if err != nil {
				return err
			}
			if !wait {
				return a.print(resp, func(w io.Writer) {
					t := newTable()
					t.field("Execution", resp.GetExecutionId())
					t.field("Status", short(resp.GetStatus()))
					if resp.GetAdmission() != pb.Admission_ADMISSION_UNSPECIFIED {
						t.field("Admission", short(resp.GetAdmission()))
					}
					if resp.GetDeduplicated() {
						t.field("Deduplicated", "yes: the idempotency key matched this earlier execution")
					}
					t.field("Message", resp.GetMessage())
					t.flush(w)
				})
			}
			fmt.Fprintf(a.stderr, "Execution %s is %s; waiting for its end.\n", resp.GetExecutionId(), short(resp.GetStatus()))
			return a.waitExecution(cmd.Context(), resp.GetExecutionId())
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "the input: a JSON object, @FILE, or @- for standard input (default {})")
	f.StringVar(&req.IdempotencyKey, "idempotency-key", "", "the same key within 24 h returns the same execution")
	f.StringVar(&req.TriggeredBy, "triggered-by", "", "who triggers, recorded with the execution (default wfr:$USER)")
	f.BoolVar(&wait, "wait", false, "wait for the execution's end; exit 9 unless it SUCCEEDED")
	enumFlag(cmd, &overlap, "overlap-policy", "overlap policy of this run only (default the deployment's)")
	return cmd
}

// waitExecution polls an execution until its run ends, following its
// retries, prints the last attempt, and fails with exitRunFailed unless it
// SUCCEEDED.
func (a *app) waitExecution(ctx context.Context, id string) error {
	var resp *pb.GetExecutionResponse
	for {
		var err error
		resp, err = waitFor(ctx, func() (*pb.GetExecutionResponse, error) {
			return call(ctx, a, a.rt.GetExecution, &pb.GetExecutionRequest{ExecutionId: id})
		}, func(r *pb.GetExecutionResponse) bool { return finished(r.GetExecution().GetStatus()) })
		if err != nil {
			return err
		}
		next, err := a.nextAttempt(ctx, resp.GetExecution())
		if err != nil {
			return err
		}
		if next == resp.GetExecution() {
			break
		}
		fmt.Fprintf(a.stderr, "Execution %s ended %s; attempt %d, execution %s, follows.\n",
			id, short(resp.GetExecution().GetStatus()), next.GetAttempt(), next.GetExecutionId())
		id = next.GetExecutionId()
	}
	e := resp.GetExecution()
	if err := a.print(resp, func(w io.Writer) { drawExecution(w, e) }); err != nil {
		return err
	}
	if e.GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED {
		return nil
	}
	msg := fmt.Sprintf("execution %s ended %s", id, short(e.GetStatus()))
	if why := cmp.Or(e.GetErrorMessage(), e.GetSkipReason()); why != "" {
		msg += ": " + why
	}
	return codeError{code: exitRunFailed, msg: msg}
}

// maxAttempts is the most attempts a run may make (the retry policy's
// bound): one page of history holds them all.
const maxAttempts = 100

// nextAttempt returns the attempt that followed ended execution e, or e
// when it is its run's last. The service writes a retry with the end of the
// attempt before it, so it is there once e has ended.
func (a *app) nextAttempt(ctx context.Context, e *pb.Execution) (*pb.Execution, error) {
	if e.GetStatus() == pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED {
		return e, nil
	}
	resp, err := call(ctx, a, a.rt.GetExecutionHistory, &pb.GetExecutionHistoryRequest{
		WorkflowId: e.GetWorkflowId(), FirstAttemptId: e.GetFirstAttemptId(), PageSize: maxAttempts,
	})
	if err != nil {
		return nil, err
	}
	for _, x := range resp.GetExecutions() {
		if x.GetAttempt() == e.GetAttempt()+1 {
			return x, nil
		}
	}
	return e, nil
}

func (a *app) runsCommand() *cobra.Command {
	var (
		req      pb.GetExecutionHistoryRequest
		triggers []pb.TriggerType
		follow   bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "runs [" + deploymentArg + "]",
		Short: "List executions, newest first, or follow them as they come",
		Long: `List executions, newest first: all of them, or those of a deployment or a workflow.
--follow lists the latest oldest first, then each new execution and each change of status
as it happens, until interrupted.`,
		Example: `  wfr runs orders.sync --status failed --since -24h
  wfr runs --follow
  wfr runs --attempts-of 0d7c2f0e-5b8a-4c1e-9a3f-2b6d8e4f1a7c
  wfr runs orders.sync --follow -o json | jq -r 'select(.status == "EXECUTION_STATUS_FAILED") | .execution_id'`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			req.TriggerType = last(triggers)
			if len(args) == 1 {
				if err := a.historyOf(cmd.Context(), &req, args[0]); err != nil {
					return err
				}
			}
			if follow {
				if interval <= 0 {
					return usagef("--interval must be positive")
				}
				return a.follow(cmd.Context(), &req, interval)
			}
			resp, err := call(cmd.Context(), a, a.rt.GetExecutionHistory, &req)
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) {
				t := newTable(runHeader...)
				for _, e := range resp.GetExecutions() {
					t.row(runRow(e)...)
				}
				t.flush(w)
				nextPage(w, resp.GetNextPageToken())
			})
		},
	}
	f := cmd.Flags()
	enumFlag(cmd, &req.Statuses, "status", "only executions in these statuses")
	enumFlag(cmd, &triggers, "trigger-type", "only executions started by this type of trigger")
	a.timeFlag(cmd, &req.StartTime, "since", "only executions fired at or after this time")
	a.timeFlag(cmd, &req.EndTime, "until", "only executions fired before this time")
	f.Int32Var(&req.PageSize, "limit", 0, "executions per page (default 50, at most 500)")
	f.StringVar(&req.PageToken, "page-token", "", "the page after the one that gave this token")
	f.StringVar(&req.FirstAttemptId, "attempts-of", "", "only the attempts of the run whose first attempt is this execution")
	f.BoolVarP(&follow, "follow", "f", false, "keep writing new executions and changes of status until interrupted")
	f.DurationVar(&interval, "interval", time.Second, "with --follow: how often to ask the server")
	return cmd
}

// historyOf narrows req to the executions of the deployment ref names, or
// else of the workflow ref, whether or not it has an active deployment.
func (a *app) historyOf(ctx context.Context, req *pb.GetExecutionHistoryRequest, ref string) error {
	if _, err := uuid.Parse(ref); err == nil {
		_, err := call(ctx, a, a.rt.GetDeploymentStatus, &pb.GetDeploymentStatusRequest{DeploymentId: ref})
		switch status.Code(err) {
		case codes.OK:
			req.DeploymentId = ref
			return nil
		case codes.NotFound:
		default:
			return err
		}
	}
	req.WorkflowId = ref
	return nil
}

// follow writes the latest executions req selects, oldest first, then each
// new one and each change of status, asking every interval until ctx ends,
// which is how it ends.
func (a *app) follow(ctx context.Context, req *pb.GetExecutionHistoryRequest, interval time.Duration) error {
	out := a.newStream(runHeader...)
	// shown holds the executions written, as written, while they may still
	// change or come back in a query.
	shown := map[string]*pb.Execution{}
	// Executions fired before floor and not shown are older than the first
	// page: the caller did not ask for them.
	var newest, floor time.Time
	write := func(execs []*pb.Execution) error {
		slices.SortFunc(execs, func(x, y *pb.Execution) int {
			return cmp.Or(x.GetFiredTime().AsTime().Compare(y.GetFiredTime().AsTime()), cmp.Compare(x.GetExecutionId(), y.GetExecutionId()))
		})
		for _, e := range execs {
			old, ok := shown[e.GetExecutionId()]
			if ok && old.GetStatus() == e.GetStatus() || !ok && e.GetFiredTime().AsTime().Before(floor) {
				continue
			}
			shown[e.GetExecutionId()] = e
			if fired := e.GetFiredTime().AsTime(); fired.After(newest) {
				newest = fired
			}
			if len(req.GetStatuses()) == 0 || slices.Contains(req.GetStatuses(), e.GetStatus()) {
				if err := out.add(e, runRow(e)...); err != nil {
					return err
				}
			}
		}
		return out.flush()
	}
	first, err := call(ctx, a, a.rt.GetExecutionHistory, req)
	if err != nil {
		return err
	}
	if err := write(first.GetExecutions()); err != nil {
		return err
	}
	// write sorted the first page oldest first.
	if execs := first.GetExecutions(); first.GetNextPageToken() != "" && len(execs) > 0 {
		floor = execs[0].GetFiredTime().AsTime()
	}
	if newest.IsZero() {
		newest = a.now()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		q := proto.CloneOf(req)
		from := newest.Add(-followMargin)
		if start := req.GetStartTime(); start == nil || start.AsTime().Before(from) {
			q.StartTime = timestamppb.New(from)
		}
		q.PageSize, q.PageToken = 500, ""
		var batch []*pb.Execution
		returned := map[string]bool{}
		for {
			page, err := call(ctx, a, a.rt.GetExecutionHistory, q)
			if err != nil {
				return ignoreInterrupt(ctx, err)
			}
			for _, e := range page.GetExecutions() {
				returned[e.GetExecutionId()] = true
			}
			batch = append(batch, page.GetExecutions()...)
			if q.PageToken = page.GetNextPageToken(); q.GetPageToken() == "" {
				break
			}
		}
		// Executions still unfinished that the query did not return: fired
		// before its window, or filtered out by --status since.
		for id, e := range shown {
			if returned[id] || finished(e.GetStatus()) {
				continue
			}
			resp, err := call(ctx, a, a.rt.GetExecution, &pb.GetExecutionRequest{ExecutionId: id})
			if err != nil {
				return ignoreInterrupt(ctx, err)
			}
			batch = append(batch, resp.GetExecution())
		}
		if err := write(batch); err != nil {
			return err
		}
		for id, e := range shown {
			if finished(e.GetStatus()) && e.GetFiredTime().AsTime().Before(q.GetStartTime().AsTime()) {
				delete(shown, id)
			}
		}
	}
}

// ignoreInterrupt drops the error of a call that the interrupt ending
// --follow cut short.
func ignoreInterrupt(ctx context.Context, err error) error {
	select {
	case <-ctx.Done():
		return nil
	default:
		return err
	}
}

func (a *app) runCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "run EXECUTION",
		Short: "Show an execution",
		Args:  exactArgs("EXECUTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(cmd.Context(), a, a.rt.GetExecution, &pb.GetExecutionRequest{ExecutionId: args[0]})
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) { drawExecution(w, resp.GetExecution()) })
		},
	}
}

func (a *app) cancelCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel EXECUTION",
		Short: "Cancel a pending or running execution, in the engine too",
		Args:  exactArgs("EXECUTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(cmd.Context(), a, a.rt.CancelExecution, &pb.CancelExecutionRequest{ExecutionId: args[0], Reason: reason})
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) { drawExecution(w, resp.GetExecution()) })
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the execution")
	return cmd
}

// drawExecution writes an execution's fields.
func drawExecution(w io.Writer, e *pb.Execution) {
	t := newTable()
	t.field("Execution", e.GetExecutionId())
	t.field("Workflow", e.GetWorkflowId())
	t.field("Deployment", fmt.Sprintf("%s (version %d)", e.GetDeploymentId(), e.GetDeploymentVersion()))
	t.field("Trigger", short(e.GetTriggerType())+" "+e.GetTriggerId())
	t.field("Status", short(e.GetStatus()))
	switch {
	case e.GetAttempt() > 1:
		t.field("Attempt", fmt.Sprintf("%d (first attempt %s)", e.GetAttempt(), e.GetFirstAttemptId()))
	case e.GetAttempt() == 1:
		t.field("Attempt", "1")
	}
	if e.GetNotBefore() != nil {
		t.field("Not before", when(e.GetNotBefore()))
	}
	t.field("Error", e.GetErrorMessage())
	t.field("Skipped", e.GetSkipReason())
	if e.GetScheduledTime() != nil {
		t.field("Scheduled", fmt.Sprintf("%s (jitter %s)", when(e.GetScheduledTime()), seconds(e.GetJitterSeconds())))
	}
	t.field("Fired", when(e.GetFiredTime()))
	t.field("Started", when(e.GetStartedTime()))
	t.field("Finished", when(e.GetFinishedTime()))
	t.field("Duration", took(e.GetStartedTime(), e.GetFinishedTime()))
	t.field("Triggered by", forWhom(e.GetTriggeredBy(), e.GetOnBehalfOf()))
	t.field("Engine run", e.GetEngineExecutionId())
	t.field("Idempotency", e.GetIdempotencyKey())
	t.field("Trace", e.GetTraceId())
	t.flush(w)
}

// finished tells the statuses an execution ends in.
func finished(s pb.ExecutionStatus) bool {
	switch s {
	case pb.ExecutionStatus_EXECUTION_STATUS_SUCCEEDED, pb.ExecutionStatus_EXECUTION_STATUS_FAILED,
		pb.ExecutionStatus_EXECUTION_STATUS_CANCELLED, pb.ExecutionStatus_EXECUTION_STATUS_TIMED_OUT,
		pb.ExecutionStatus_EXECUTION_STATUS_SKIPPED:
		return true
	default:
		return false
	}
}

// errNotYet tells the backoff of waitFor that the answer is not final.
var errNotYet = errors.New("not final yet")

// waitFor calls get until final says its answer is final, get fails, or ctx
// ends. The pauses between calls grow from pollFirst to pollLongest, with
// jitter, so that many waiting clients do not ask in step.
func waitFor[T any](ctx context.Context, get func() (T, error), final func(T) bool) (T, error) {
	return backoff.Retry(ctx, func() (T, error) {
		v, err := get()
		switch {
		case err != nil:
			return v, backoff.Permanent(err)
		case !final(v):
			return v, errNotYet
		}
		return v, nil
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval: pollFirst, MaxInterval: pollLongest, Multiplier: 2, RandomizationFactor: 0.2,
	}), backoff.WithMaxElapsedTime(0))
}
