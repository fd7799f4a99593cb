package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

func (a *app) versionsCommand() *cobra.Command {
	var req pb.ListDeploymentVersionsRequest
	cmd := &cobra.Command{
		Use:   "versions " + deploymentArg,
		Short: "List a deployment's versions, newest first, each with its triggers",
		Long: `List every version of a deployment, newest first: when it was written, by whom, and the
triggers it had. -o json prints each version's definition and config as well.`,
		Example: `  wfr versions orders.sync
  wfr versions orders.sync -o json | jq '.versions[0].workflow_definition'`,
		Args:              exactArgs(deploymentArg),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := a.deploymentID(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			req.DeploymentId = id
			resp, err := call(cmd.Context(), a, a.rt.ListDeploymentVersions, &req)
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) {
				t := newTable("VERSION", "WRITTEN", "BY", "TRIGGERS")
				for _, v := range resp.GetVersions() {
					triggers := "(not kept)"
					if v.GetTriggersKept() {
						triggers = describeTriggers(v.GetTriggers())
					}
					t.row(strconv.FormatInt(v.GetVersion(), 10), when(v.GetCreatedAt()), forWhom(v.GetCreatedBy(), v.GetOnBehalfOf()), triggers)
				}
				t.flush(w)
				nextPage(w, resp.GetNextPageToken())
			})
		},
	}
	pageFlags(cmd, &req.PageSize, &req.PageToken, "versions")
	return cmd
}

func (a *app) eventsCommand() *cobra.Command {
	var req pb.ListDeploymentEventsRequest
	cmd := &cobra.Command{
		Use:   "events [" + deploymentArg + "]",
		Short: "List a deployment's audit trail, or a workflow's, newest first",
		Long: `List who changed a deployment, how, when, and from which version to which, newest first;
with --workflow, the changes of all the deployments a workflow ever had.`,
		Example: `  wfr events orders.sync
  wfr events --workflow orders.sync -o json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: a.completeDeployments,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && req.GetWorkflowId() == "":
				id, err := a.deploymentID(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				req.DeploymentId = id
			case len(args) == 0 && req.GetWorkflowId() != "":
			default:
				return usagef("name a deployment, or give --workflow")
			}
			resp, err := call(cmd.Context(), a, a.rt.ListDeploymentEvents, &req)
			if err != nil {
				return err
			}
			return a.print(resp, func(w io.Writer) {
				t := newTable("AT", "ACTION", "ACTOR", "VERSION", "STATUS", "REASON")
				for _, e := range resp.GetEvents() {
					t.row(when(e.GetAt()), e.GetAction(), forWhom(e.GetActor(), e.GetOnBehalfOf()), fromTo(versionCell(e.GetFromVersion()), strconv.FormatInt(e.GetToVersion(), 10)),
						fromTo(statusCell(e.GetFromStatus()), short(e.GetToStatus())), e.GetReason())
				}
				t.flush(w)
				nextPage(w, resp.GetNextPageToken())
			})
		},
	}
	cmd.Flags().StringVar(&req.WorkflowId, "workflow", "", "the events of all this workflow's deployments")
	pageFlags(cmd, &req.PageSize, &req.PageToken, "events")
	return cmd
}

func (a *app) rollbackCommand() *cobra.Command {
	var to, expected int64
	cmd := a.changeCommand("rollback", "Make a new version of a deployment equal to a past one (admin)",
		func(ctx context.Context, id string) (withDeployment, error) {
			return call(ctx, a, a.rt.RollbackDeployment, &pb.RollbackDeploymentRequest{DeploymentId: id, ToVersion: to, ExpectedVersion: expected})
		})
	cmd.Long = `Write a new version of a deployment with a past version's definition, triggers and config
(version numbers only grow). --expected-version is the version you last saw: the rollback is refused
(exit 5) when the deployment has moved on since. A webhook path the past version had that another
deployment owns now is refused too (exit 5), and so is the current version (exit 6).`
	cmd.Example = `  wfr versions orders.sync
  wfr rollback orders.sync --to 3 --expected-version 5`
	cmd.Flags().Int64Var(&to, "to", 0, "the past version to restore")
	cmd.Flags().Int64Var(&expected, "expected-version", 0, "the deployment's current version, as you last saw it")
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.MarkFlagRequired("expected-version")
	return cmd
}

func pageFlags(cmd *cobra.Command, size *int32, token *string, what string) {
	cmd.Flags().Int32Var(size, "limit", 0, what+" per page (default 50, at most 500)")
	cmd.Flags().StringVar(token, "page-token", "", "the page after the one that gave this token")
}

func nextPage(w io.Writer, token string) {
	if token != "" {
		fmt.Fprintf(w, "The next page: --page-token %s\n", token)
	}
}

func describeTriggers(ts []*pb.Trigger) string {
	if len(ts) == 0 {
		return "-"
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		switch {
		case t.GetCron() != nil:
			out[i] = "cron " + t.GetCron().GetExpression()
		case t.GetWebhook() != nil:
			out[i] = "webhook " + t.GetWebhook().GetPath()
		default:
			out[i] = strings.ToLower(short(t.GetType()))
		}
	}
	return strings.Join(out, ", ")
}

func versionCell(v int64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

func statusCell(s pb.DeploymentStatus) string {
	if s == pb.DeploymentStatus_DEPLOYMENT_STATUS_UNSPECIFIED {
		return ""
	}
	return short(s)
}

// forWhom is "by for onBehalfOf": an authenticated caller and the name its
// request gave; by alone when the request named no one else.
func forWhom(by, onBehalfOf string) string {
	if onBehalfOf == "" {
		return by
	}
	return by + " for " + onBehalfOf
}

// fromTo is "from → to", or to alone when there was no from.
func fromTo(from, to string) string {
	if from == "" {
		return to
	}
	return from + " → " + to
}
