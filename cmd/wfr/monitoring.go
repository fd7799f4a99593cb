package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// barWidth is the widest bar of load's chart, in characters.
const barWidth = 40

func (a *app) healthCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Show the service's health: database, Redis, engine, and live replicas",
		Long: `Show the service's health: its status, each dependency's, and the live replicas.
Exits with 8 when the service is unhealthy, as GET /health answers 503.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(cmd.Context(), a, a.mon.GetSystemHealth, &pb.GetSystemHealthRequest{})
			if err != nil {
				return err
			}
			err = a.print(resp, func(w io.Writer) {
				t := newTable()
				t.field("Status", resp.GetStatus())
				t.field("Version", resp.GetVersion())
				t.field("Instance", resp.GetInstanceId())
				t.field("Uptime", seconds(resp.GetUptimeSeconds()))
				t.field("Replicas", strings.Join(resp.GetLiveInstances(), ", "))
				t.field("Cron mode", resp.GetCronMode())
				t.flush(w)
				if rs := resp.GetReplicas(); len(rs) > 0 {
					fmt.Fprintln(w)
					t = newTable("REPLICA", "OWNED TRIGGERS")
					for _, r := range rs {
						t.row(r.GetInstanceId(), strconv.FormatInt(r.GetOwnedTriggers(), 10))
					}
					t.flush(w)
				}
				fmt.Fprintln(w)
				t = newTable("DEPENDENCY", "STATUS", "LATENCY", "ERROR")
				deps := resp.GetDependencies()
				for _, name := range slices.Sorted(maps.Keys(deps)) {
					d := deps[name]
					t.row(name, d.GetStatus(), fmt.Sprintf("%.1fms", d.GetLatencyMs()), d.GetError())
				}
				t.flush(w)
			})
			if err == nil && resp.GetStatus() == "unhealthy" {
				return codeError{code: exitUnavailable, msg: "the service is unhealthy"}
			}
			return err
		},
	}
}

func (a *app) loadCommand() *cobra.Command {
	var (
		req    pb.GetLoadDistributionRequest
		bucket time.Duration
	)
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Chart the planned fires per bucket, with and without jitter",
		Long: `Chart the cron fires planned over a time range (default: the next hour) per bucket,
with the jitter that spreads them (#) and as they would be without it (.), and the peak
fires per second of each: what jitter buys.`,
		Example: `  wfr load
  wfr load --start now --end 24h --bucket 15m`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bucket%time.Second != 0 || bucket < 0 {
				return usagef("--bucket %s: must be whole seconds", bucket)
			}
			req.BucketSeconds = int32(bucket / time.Second)
			resp, err := call(cmd.Context(), a, a.mon.GetLoadDistribution, &req)
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) { drawLoad(w, resp) })
		},
	}
	a.timeFlag(cmd, &req.StartTime, "start", "start of the range (default now)")
	a.timeFlag(cmd, &req.EndTime, "end", "end of the range (default an hour after --start)")
	cmd.Flags().DurationVar(&bucket, "bucket", 0, "bucket width, whole seconds (default 1m)")
	return cmd
}

// drawLoad writes the peaks, then a row per bucket with a bar of its fires
// with jitter (#) extended to its fires without (.).
func drawLoad(w io.Writer, resp *pb.GetLoadDistributionResponse) {
	fmt.Fprintf(w, "Peak fires per second: %d with jitter, %d without.\n\n",
		resp.GetPeakPerSecondWithJitter(), resp.GetPeakPerSecondWithoutJitter())
	var top int64
	for _, b := range resp.GetBuckets() {
		top = max(top, b.GetFiresWithJitter(), b.GetFiresWithoutJitter())
	}
	scale := func(n int64) int {
		if top == 0 {
			return 0
		}
		return int((n*barWidth + top - 1) / top)
	}
	t := newTable("START", "WITH JITTER", "WITHOUT", "")
	for _, b := range resp.GetBuckets() {
		with, without := scale(b.GetFiresWithJitter()), scale(b.GetFiresWithoutJitter())
		t.row(when(b.GetStart()), fmt.Sprint(b.GetFiresWithJitter()), fmt.Sprint(b.GetFiresWithoutJitter()),
			strings.Repeat("#", with)+strings.Repeat(".", max(0, without-with)))
	}
	t.flush(w)
}

func (a *app) reportCommand() *cobra.Command {
	var req pb.GetScheduleReportRequest
	cmd := &cobra.Command{
		Use:   "report [DEPLOYMENT]",
		Short: "Account for every slot of a deployment's cron schedule: ran, skipped, missed",
		Long: `Account for every slot of a deployment's cron triggers over a time range (default: the
last 24 hours), from the database, so that every replica answers the same: the slots due,
and of them those that ran, that the overlap policy skipped, and that were missed, by
reason; the share that fired within a second of their slot plus jitter, and the fire lag.
With --trigger, one cron trigger (no deployment id).`,
		Example: `  wfr report orders.sync
  wfr report --trigger 1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b --start -168h`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (req.GetTriggerId() != "") {
				return usagef("name a deployment id or --trigger, not both")
			}
			if len(args) == 1 {
				id, err := a.deploymentID(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				req.DeploymentId = id
			}
			resp, err := call(cmd.Context(), a, a.mon.GetScheduleReport, &req)
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) { drawReport(w, resp) })
		},
	}
	cmd.Flags().StringVar(&req.TriggerId, "trigger", "", "report on this cron trigger only")
	a.timeFlag(cmd, &req.StartTime, "start", "first nominal slot of the range (default 24h before --end)")
	a.timeFlag(cmd, &req.EndTime, "end", "end of the range, exclusive (default now)")
	return cmd
}

// drawReport writes the range, then a row per trigger; the reasons of the
// missed slots follow their count.
func drawReport(w io.Writer, resp *pb.GetScheduleReportResponse) {
	fmt.Fprintf(w, "Slots from %s to %s.\n\n", when(resp.GetStartTime()), when(resp.GetEndTime()))
	t := newTable("TRIGGER", "WORKFLOW", "DUE", "RAN", "SKIPPED", "MISSED", "ON TIME", "LAG P50", "LAG P99")
	for _, r := range resp.GetTriggers() {
		var missed strings.Builder
		fmt.Fprint(&missed, r.GetSlotsMissed())
		reasons := r.GetMissedByReason()
		for _, reason := range slices.Sorted(maps.Keys(reasons)) {
			fmt.Fprintf(&missed, " %s=%d", reason, reasons[reason])
		}
		t.row(r.GetTriggerId(), r.GetWorkflowId(), fmt.Sprint(r.GetSlotsDue()), fmt.Sprint(r.GetSlotsRan()),
			fmt.Sprint(r.GetSlotsSkipped()), missed.String(), fmt.Sprintf("%.1f%%", r.GetOnTimePercent()),
			fmt.Sprintf("%.0fms", r.GetFireLagP50Ms()), fmt.Sprintf("%.0fms", r.GetFireLagP99Ms()))
	}
	t.flush(w)
}
