package console

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// triggeredBy names the console as the source of what it starts, in the
// executions' triggered_by and the deployments' deployed_by.
const triggeredBy = "console"

// maxSignInForm bounds the sign-in form, which anyone may post.
const maxSignInForm = 64 << 10

// overlapPolicies are the policies a deployment and a manual trigger may
// take, without their prefix.
var overlapPolicies = []string{"SKIP", "ALLOW_ALL", "BUFFER_ONE", "BUFFER_ALL", "CANCEL_OTHER"}

// backfillOverlapPolicies are those a backfill accepts: the backfill service
// refuses BUFFER_ALL, as its slots already run one after another.
var backfillOverlapPolicies = []string{"SKIP", "ALLOW_ALL", "BUFFER_ONE", "CANCEL_OTHER"}

// formOverlap reads an optional overlap policy field, refused as field when
// it is not one of allowed.
func formOverlap(value, field string, allowed []string) (pb.OverlapPolicy, error) {
	if value == "" {
		return pb.OverlapPolicy_OVERLAP_POLICY_UNSPECIFIED, nil
	}
	if !slices.Contains(allowed, value) {
		return 0, invalidField(field, "must be one of "+strings.Join(allowed, ", "))
	}
	return pb.OverlapPolicy(pb.OverlapPolicy_value["OVERLAP_POLICY_"+value]), nil
}

// httpStatus is the HTTP status that REST gives err's gRPC code.
func httpStatus(err error) int { return runtime.HTTPStatusFromCode(status.Code(err)) }

// invalidField is the INVALID_ARGUMENT error that the API would give a bad
// field, for what the console checks before it can call.
func invalidField(field, description string) error {
	st, _ := status.New(codes.InvalidArgument, field+": "+description).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: description}},
	})
	return st.Err()
}

// signInData is the sign-in page.
type signInData struct {
	Next string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "sign-in", c.newPage(r, "", "Sign in", signInData{Next: localPath(r.URL.Query().Get("next"))}))
}

// signIn checks the token with a call of the API and keeps it in the
// console's cookie.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSignInForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	d := signInData{Next: localPath(r.PostForm.Get("next"))}
	refuse := func(err error) {
		p := c.newPage(r, "", "Sign in", d)
		p.Problem = newProblem(err)
		c.render(w, r, httpStatus(err), "sign-in", p)
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		refuse(invalidField("token", "is required"))
		return
	}
	ctx, cancel := callContext(r)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(metadata.NewOutgoingContext(ctx, nil), "authorization", "Bearer "+token)
	// The cheapest call there is: one deployment.
	_, err := c.api.ListDeployments(ctx, &pb.ListDeploymentsRequest{PageSize: 1})
	if status.Code(err) == codes.Unauthenticated {
		refuse(status.Error(codes.Unauthenticated, "the token was not accepted"))
		return
	}
	http.SetCookie(w, auth.NewConsoleCookie(token, r.TLS != nil))
	seeOther(w, r, d.Next)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	ck := auth.NewConsoleCookie("", r.TLS != nil) //nolint:gosec // G124: Secure follows the port, as in auth.NewConsoleCookie
	ck.MaxAge = -1
	http.SetCookie(w, ck)
	seeOther(w, r, auth.ConsoleSignIn)
}

// deployForm is the deploy page's form.
type deployForm struct {
	WorkflowID, Definition, Cron, Timezone, Jitter, WebhookPath, Overlap string
	Draft                                                                bool
	Overlaps                                                             []string
}

// exampleDefinition fills the deploy form's definition: one action.
const exampleDefinition = `{
  "nodes": [{"id": "act", "name": "Act", "type": "ACTION"}],
  "connections": {}
}`

func (c *Console) deployPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "deploy", c.newPage(r, "deploy", "Deploy a workflow", deployForm{Definition: exampleDefinition, Overlaps: overlapPolicies}))
}

func (c *Console) deploy(w http.ResponseWriter, r *http.Request) {
	f := deployForm{
		WorkflowID: strings.TrimSpace(r.PostForm.Get("workflow_id")), Definition: r.PostForm.Get("definition"),
		Cron: strings.TrimSpace(r.PostForm.Get("cron")), Timezone: strings.TrimSpace(r.PostForm.Get("timezone")),
		Jitter: strings.TrimSpace(r.PostForm.Get("jitter")), WebhookPath: strings.TrimSpace(r.PostForm.Get("webhook_path")),
		Overlap: r.PostForm.Get("overlap"), Draft: r.PostForm.Get("draft") != "", Overlaps: overlapPolicies,
	}
	req, err := f.request()
	if err == nil {
		ctx, cancel := callContext(r)
		defer cancel()
		var resp *pb.DeployWorkflowResponse
		if resp, err = c.api.DeployWorkflow(ctx, req); err == nil {
			seeOther(w, r, Prefix+"deployments/"+resp.GetDeployment().GetDeploymentId())
			return
		}
	}
	c.failPage(w, r, "deploy", "Deploy a workflow", f, err)
}

// request is the DeployWorkflow call the form asks for. Its fields go to the
// API as they are, which checks them; only what cannot be sent at all (a
// definition that is not a JSON object, a jitter that is not a number) is
// refused here, named as the API names the field.
func (f deployForm) request() (*pb.DeployWorkflowRequest, error) {
	var def map[string]any
	if err := json.Unmarshal([]byte(f.Definition), &def); err != nil || def == nil {
		return nil, invalidField("workflow_definition", "must be a JSON object")
	}
	definition, err := structpb.NewStruct(def)
	if err != nil {
		return nil, invalidField("workflow_definition", err.Error())
	}
	req := &pb.DeployWorkflowRequest{WorkflowId: f.WorkflowID, WorkflowDefinition: definition, Draft: f.Draft, DeployedBy: triggeredBy}
	if f.Cron != "" {
		spec := &pb.CronSpec{Expression: f.Cron, Timezone: f.Timezone}
		if f.Jitter != "" {
			n, err := strconv.ParseInt(f.Jitter, 10, 32)
			if err != nil {
				return nil, invalidField("triggers[0].cron.jitter_window_seconds", "must be a whole number of seconds")
			}
			spec.JitterWindowSeconds = new(int32(n))
		}
		req.Triggers = append(req.Triggers, &pb.Trigger{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: spec})
	}
	if f.WebhookPath != "" {
		req.Triggers = append(req.Triggers, &pb.Trigger{Type: pb.TriggerType_TRIGGER_TYPE_WEBHOOK, Webhook: &pb.WebhookSpec{Path: f.WebhookPath}})
	}
	if f.Overlap != "" {
		policy, err := formOverlap(f.Overlap, "config.overlap_policy", overlapPolicies)
		if err != nil {
			return nil, err
		}
		req.Config = &pb.DeploymentConfig{OverlapPolicy: policy}
	}
	return req, nil
}

// setStatus pauses or resumes a deployment, or deploys a draft.
func (c *Console) setStatus(to pb.DeploymentStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := callContext(r)
		defer cancel()
		id := r.PathValue("id")
		if _, err := c.api.UpdateDeployment(ctx, &pb.UpdateDeploymentRequest{DeploymentId: id, Status: &to}); err != nil {
			c.failDeployment(w, r, err)
			return
		}
		seeOther(w, r, Prefix+"deployments/"+id)
	}
}

// rollback makes a new version of the deployment equal to the form's
// to_version. The form carries the version the page showed as current, as
// expected_version, so that a rollback from a page gone stale is refused
// rather than undoing a change its caller never saw.
func (c *Console) rollback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	to, err := formVersion(r, "to_version")
	var expected int64
	if err == nil {
		expected, err = formVersion(r, "expected_version")
	}
	if err == nil {
		ctx, cancel := callContext(r)
		defer cancel()
		_, err = c.api.RollbackDeployment(ctx, &pb.RollbackDeploymentRequest{DeploymentId: id, ToVersion: to, ExpectedVersion: expected})
	}
	if err != nil {
		c.failDeployment(w, r, err)
		return
	}
	seeOther(w, r, Prefix+"deployments/"+id)
}

// formVersion reads a version number field.
func formVersion(r *http.Request, field string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(r.PostForm.Get(field)), 10, 64)
	if err != nil || v <= 0 {
		return 0, invalidField(field, "must be a version number, from 1")
	}
	return v, nil
}

// failDeployment shows the deployment's page after a failed post, with what
// the forms held.
func (c *Console) failDeployment(w http.ResponseWriter, r *http.Request, err error) {
	if status.Code(err) == codes.Unauthenticated {
		toSignIn(w, r)
		return
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	c.showDeployment(w, r, httpStatus(err), err, form)
}

// trigger starts an execution of the deployment's workflow with the form's
// payload and overlap policy, and shows it with what the policy did: the
// admission goes in the address, as the console keeps no session to flash
// it from.
func (c *Console) trigger(w http.ResponseWriter, r *http.Request) {
	overlap, err := formOverlap(r.PostForm.Get("overlap_policy"), "overlap_policy", overlapPolicies)
	if err != nil {
		c.failDeployment(w, r, err)
		return
	}
	ctx, cancel := callContext(r)
	defer cancel()
	st, err := c.api.GetDeploymentStatus(ctx, &pb.GetDeploymentStatusRequest{DeploymentId: r.PathValue("id")})
	if err != nil {
		c.failDeployment(w, r, err)
		return
	}
	resp, err := c.api.TriggerWorkflow(ctx, &pb.TriggerWorkflowRequest{
		WorkflowId: st.GetDeployment().GetWorkflowId(), TriggerType: pb.TriggerType_TRIGGER_TYPE_MANUAL,
		TriggerData: r.PostForm.Get("payload"), IdempotencyKey: strings.TrimSpace(r.PostForm.Get("idempotency_key")),
		TriggeredBy: triggeredBy, OverlapPolicy: overlap,
	})
	if err != nil {
		c.failDeployment(w, r, err)
		return
	}
	target := Prefix + "executions/" + resp.GetExecutionId()
	if a := resp.GetAdmission(); a != pb.Admission_ADMISSION_UNSPECIFIED {
		target += "?admission=" + short(a)
	}
	seeOther(w, r, target)
}

// formTime reads a datetime-local field as UTC.
func formTime(r *http.Request, field string) (*timestamppb.Timestamp, error) {
	v := strings.TrimSpace(r.PostForm.Get(field))
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return timestamppb.New(t), nil
		}
	}
	return nil, invalidField(field, "must be a date and time, YYYY-MM-DDTHH:MM in UTC")
}

// backfill starts a backfill and shows its progress on the deployment's page.
func (c *Console) backfill(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req := &pb.BackfillDeploymentRequest{DeploymentId: id}
	var err error
	if req.StartTime, err = formTime(r, "start_time"); err != nil {
		c.failDeployment(w, r, err)
		return
	}
	if req.EndTime, err = formTime(r, "end_time"); err != nil {
		c.failDeployment(w, r, err)
		return
	}
	if req.OverlapPolicy, err = formOverlap(r.PostForm.Get("overlap_policy"), "overlap_policy", backfillOverlapPolicies); err != nil {
		c.failDeployment(w, r, err)
		return
	}
	ctx, cancel := callContext(r)
	defer cancel()
	resp, err := c.api.BackfillDeployment(ctx, req)
	if err != nil {
		c.failDeployment(w, r, err)
		return
	}
	seeOther(w, r, Prefix+"deployments/"+id+"?backfill="+resp.GetBackfill().GetBackfillId())
}

// cancel cancels an execution and shows it.
func (c *Console) cancel(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := callContext(r)
	defer cancel()
	id := r.PathValue("id")
	reason := r.PostForm.Get("reason")
	if _, err := c.api.CancelExecution(ctx, &pb.CancelExecutionRequest{ExecutionId: id, Reason: reason}); err != nil {
		if status.Code(err) == codes.Unauthenticated {
			toSignIn(w, r)
			return
		}
		c.showExecution(w, r, httpStatus(err), err, reason)
		return
	}
	seeOther(w, r, Prefix+"executions/"+id)
}
