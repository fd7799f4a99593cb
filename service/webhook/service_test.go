package webhook

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim/simtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	signature "github.com/workflow-runtime/workflow-runtime/pkg/webhook"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
	"github.com/workflow-runtime/workflow-runtime/service/coordination"
)

// rig is the webhook service over real PostgreSQL, Redis and an engine-sim
// served over gRPC, with a coordinator that runs what it records. Every
// ExecuteWorkflow request the engine receives is kept, to check what the
// engine was sent.
type rig struct {
	t     *testing.T
	st    *postgres.Store
	sim   *enginesim.Sim
	index *Index
	svc   *Service
	coord *coordination.Coordinator

	mu   sync.Mutex
	sent map[string]*pb.ExecuteWorkflowRequest // by runtime execution id
}

func newRig(t *testing.T, sim enginesim.Config, opts Options) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	r := &rig{t: t, st: pgtest.NewStore(t), sim: enginesim.New(sim), sent: map[string]*pb.ExecuteWorkflowRequest{}}
	addr := simtest.Serve(t, r.sim, "127.0.0.1:0", grpc.UnaryInterceptor(r.record))
	rdb, prefix := redistest.New(t)
	r.coord = coordination.New(r.st, simtest.Client(t, addr), lock.NewDistributedLockManager(rdb, prefix), coordination.Options{
		InstanceID: "a", Lease: time.Second, PollMin: 10 * time.Millisecond, PollMax: 50 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	})
	require.NoError(t, r.coord.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, r.coord.Stop(context.Background())) })
	r.index = NewIndex(r.st, nil)
	r.svc = New(r.index, r.st, r.coord, opts)
	return r
}

func (r *rig) record(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if ex, ok := req.(*pb.ExecuteWorkflowRequest); ok {
		r.mu.Lock()
		r.sent[ex.GetMetadata()["runtime_execution_id"]] = ex
		r.mu.Unlock()
	}
	return h(ctx, req)
}

func (r *rig) sentFor(id string) *pb.ExecuteWorkflowRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent[id]
}

// deploy creates a deployment of a new workflow with one webhook trigger and
// indexes it.
func (r *rig) deploy(status workflow.DeploymentStatus, spec workflow.WebhookSpec) *workflow.Deployment {
	r.t.Helper()
	return r.deployWith(status, spec, workflow.Config{OverlapPolicy: workflow.OverlapAllowAll})
}

// deployWith is deploy with the deployment's config.
func (r *rig) deployWith(status workflow.DeploymentStatus, spec workflow.WebhookSpec, cfg workflow.Config) *workflow.Deployment {
	r.t.Helper()
	d := &workflow.Deployment{
		WorkflowID: "wf-" + uuid.NewString()[:8], Status: status, Version: 1,
		Definition: []byte(`{"nodes":[{"id":"a","name":"A","type":"ACTION"}]}`),
		Config:     cfg,
		Triggers:   []workflow.Trigger{{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &spec}},
	}
	require.NoError(r.t, r.st.CreateDeployment(context.Background(), d, workflow.Event{Action: workflow.ActionDeploy}))
	require.NoError(r.t, r.index.Refresh(context.Background(), d.ID))
	return d
}

func (r *rig) count() int {
	r.t.Helper()
	var n int
	require.NoError(r.t, r.st.DB().Get(&n, `SELECT count(*) FROM executions`))
	return n
}

func (r *rig) waitEnd(id string) workflow.Execution {
	r.t.Helper()
	var e *workflow.Execution
	require.Eventually(r.t, func() bool {
		var err error
		e, err = r.st.GetExecution(context.Background(), id)
		return err == nil && e.Status.Terminal()
	}, 10*time.Second, 10*time.Millisecond)
	return *e
}

// sign returns the Standard Webhooks headers of body sent as id at ts,
// signed with secret.
func sign(id string, ts time.Time, secret, body string) map[string]string {
	return map[string]string{
		"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts.Unix(), 10),
		"webhook-signature": signature.Sign(secret, id, ts, []byte(body)),
	}
}

func TestWebhookBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{}, Options{})
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "orders/created"})
	signedHook := r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "payments/Settled", Secrets: []string{"whsec_b2xkLXNlY3JldA==", secret}})
	r.deploy(workflow.StatusPaused, workflow.WebhookSpec{Path: "paused/hook"})
	now := time.Now()
	body := `{"amount": 12.50}`
	// One call that succeeds, so that replaying its webhook-id can be tried.
	first, err := r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "payments/settled",
		TriggerData: body, Headers: sign("msg_1", now, secret, body), HTTPMethod: "POST"})
	require.NoError(t, err)
	require.Equal(t, signedHook.ID, first.Execution.DeploymentID)
	written := r.count()

	// A replayed webhook-id is the execution it named, not a new one.
	again, err := r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "payments/settled",
		TriggerData: body, Headers: sign("msg_1", now, secret, body)})
	require.NoError(t, err)
	require.True(t, again.Deduplicated)
	require.Equal(t, first.Execution.ID, again.Execution.ID)
	require.Equal(t, written, r.count(), "a replay writes nothing")

	// The refused calls run in parallel once this function returns; when
	// all have, none may have written.
	t.Cleanup(func() { require.Equal(t, written, r.count(), "a refused call writes no execution") })
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	for _, tc := range []struct {
		name string
		req  coordination.TriggerRequest
		kind errors.Kind
	}{
		{"non-JSON body", coordination.TriggerRequest{WebhookPath: "orders/created", TriggerData: "amount=12"}, errors.Invalid},
		{"JSON array body", coordination.TriggerRequest{WebhookPath: "orders/created", TriggerData: `[1, 2]`}, errors.Invalid},
		{"2 MiB body", coordination.TriggerRequest{WebhookPath: "orders/created", TriggerData: `{"a":"` + strings.Repeat("x", 2<<20) + `"}`}, errors.Invalid},
		{"depth-100 JSON", coordination.TriggerRequest{WebhookPath: "orders/created", TriggerData: deep}, errors.Invalid},
		{"unknown path", coordination.TriggerRequest{WebhookPath: "orders/deleted"}, errors.NotFound},
		{"path with ..", coordination.TriggerRequest{WebhookPath: "orders/../created"}, errors.Invalid},
		{"wrong method", coordination.TriggerRequest{WebhookPath: "orders/created", HTTPMethod: "GET"}, errors.FailedPrecondition},
		{"missing signature", coordination.TriggerRequest{WebhookPath: "payments/settled", TriggerData: body}, errors.PermissionDenied},
		{"signature with a wrong secret", coordination.TriggerRequest{WebhookPath: "payments/settled", TriggerData: body,
			Headers: sign("msg_2", now, "whsec_d3Jvbmc=", body)}, errors.PermissionDenied},
		{"timestamp 10 minutes old", coordination.TriggerRequest{WebhookPath: "payments/settled", TriggerData: body,
			Headers: sign("msg_3", now.Add(-10*time.Minute), secret, body)}, errors.PermissionDenied},
		{"body changed after signing", coordination.TriggerRequest{WebhookPath: "payments/settled", TriggerData: `{"amount": 99}`,
			Headers: sign("msg_4", now, secret, body)}, errors.PermissionDenied},
		{"trigger on a PAUSED deployment", coordination.TriggerRequest{WebhookPath: "paused/hook"}, errors.FailedPrecondition},
		{"unknown workflow id", coordination.TriggerRequest{WorkflowID: "wf-unknown", TriggerType: workflow.TriggerWebhook}, errors.NotFound},
		{"neither path nor workflow", coordination.TriggerRequest{TriggerType: workflow.TriggerWebhook}, errors.Invalid},
		{"key too long", coordination.TriggerRequest{WebhookPath: "orders/created", IdempotencyKey: strings.Repeat("k", 300)}, errors.Invalid},
		{"NUL in the key", coordination.TriggerRequest{WebhookPath: "orders/created", IdempotencyKey: "k\x00"}, errors.Invalid},
		{"NUL in a webhook-id", coordination.TriggerRequest{WebhookPath: "orders/created", Headers: map[string]string{"webhook-id": "m\x00"}}, errors.Invalid},
		{"line break in a header", coordination.TriggerRequest{WebhookPath: "orders/created", Headers: map[string]string{"x-a": "1\r\nx-b: 2"}}, errors.Invalid},
		{"header name not a token", coordination.TriggerRequest{WebhookPath: "orders/created", Headers: map[string]string{"x a": "1"}}, errors.Invalid},
		{"method not a token", coordination.TriggerRequest{WebhookPath: "orders/created", HTTPMethod: "PO\u017fT"}, errors.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := r.svc.Trigger(context.Background(), tc.req)
			require.Error(t, err)
			require.Equal(t, tc.kind, errors.KindOf(err), "%v", err)
		})
	}
}

// TestWebhookRunsWithThePayloadAsSent: an ASYNC call answers at once with
// the execution, which the engine receives with the payload's values as they
// were written.
func TestWebhookRunsWithThePayloadAsSent(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{}, Options{})
	d := r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "Orders/Created", Methods: []string{"POST", "PUT"}})
	body := `{"id": 12345678901234567890, "price": 1.10, "name": "café", "nested": {"b": 1, "a": [true, null]}}`
	resp, err := r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "/orders/created/", TriggerData: body, HTTPMethod: "put"})
	require.NoError(t, err)
	require.False(t, resp.Deduplicated)
	require.Equal(t, workflow.ExecutionPending, resp.Execution.Status)
	require.Equal(t, workflow.TriggerWebhook, resp.Execution.TriggerType)
	require.Equal(t, d.Triggers[0].ID, resp.Execution.TriggerID)

	done := r.waitEnd(resp.Execution.ID)
	require.Equal(t, workflow.ExecutionSucceeded, done.Status)
	sent := r.sentFor(resp.Execution.ID)
	require.NotNil(t, sent)
	require.Equal(t, pb.ExecutionMode_WEBHOOK, sent.GetMode())
	require.Equal(t, "webhook:Orders/Created", sent.GetTriggeredBy())
	require.Equal(t, map[string]string{
		"id": "12345678901234567890", "price": "1.10", "name": "café", "nested": `{"b":1,"a":[true,null]}`,
	}, sent.GetInputData())

	// By workflow id, the workflow's webhook trigger.
	resp, err = r.svc.Trigger(context.Background(), coordination.TriggerRequest{WorkflowID: d.WorkflowID, TriggerType: workflow.TriggerWebhook})
	require.NoError(t, err)
	require.Equal(t, d.Triggers[0].ID, resp.Execution.TriggerID)
}

func TestWebhookSync(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{MinDuration: 100 * time.Millisecond, MaxDuration: 100 * time.Millisecond}, Options{})
	r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "sync/ok", ResponseMode: workflow.ResponseSync, SyncTimeoutSeconds: 5})
	resp, err := r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "sync/ok", TriggerData: `{"n": 1}`})
	require.NoError(t, err)
	require.Equal(t, workflow.ExecutionSucceeded, resp.Execution.Status)
	require.NotEmpty(t, resp.ResultData)
	require.JSONEq(t, string(resp.Execution.Result), resp.ResultData)

	hang := newRig(t, enginesim.Config{HangRate: 1}, Options{})
	hang.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "sync/hangs", ResponseMode: workflow.ResponseSync, SyncTimeoutSeconds: 1})
	start := time.Now()
	_, err = hang.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "sync/hangs"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), time.Second)
	var id string
	require.NoError(t, hang.st.DB().Get(&id, `SELECT id FROM executions`))
	require.Contains(t, err.Error(), id, "the caller can look the execution up")
}

// TestSyncAnswersTheLastAttempt: a SYNC webhook of a deployment that
// retries answers with the run's last attempt, not its first: with every
// run failing, the third of max_attempts 3.
func TestSyncAnswersTheLastAttempt(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{FailureRate: 1}, Options{})
	r.deployWith(workflow.StatusDeployed, workflow.WebhookSpec{Path: "sync/retries", ResponseMode: workflow.ResponseSync, SyncTimeoutSeconds: 30},
		workflow.Config{OverlapPolicy: workflow.OverlapAllowAll, Retry: &workflow.RetryPolicy{
			MaxAttempts: 3, InitialInterval: 50 * time.Millisecond, BackoffCoefficient: 1, MaxInterval: 50 * time.Millisecond,
			RetryOn: []workflow.ExecutionStatus{workflow.ExecutionFailed},
		}})
	resp, err := r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "sync/retries"})
	require.NoError(t, err)
	last := resp.Execution
	require.Equal(t, workflow.ExecutionFailed, last.Status)
	require.Equal(t, int32(3), last.Attempt, "the answer is the last attempt")
	require.NotEqual(t, last.FirstAttemptID, last.ID)
	require.Equal(t, 3, r.count(), "three attempts, each its own execution")
	require.Equal(t, last, r.waitEnd(last.ID), "the answer is the attempt as recorded")
}

// TestWebhookKeyAcrossReplicas: the same key sent to two replicas at once
// starts one execution; the others are told it is the same.
func TestWebhookKeyAcrossReplicas(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{}, Options{})
	d := r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "hooks/key"})
	other := New(NewIndex(r.st, nil), r.st, r.coord, Options{})
	require.NoError(t, other.index.Reload(context.Background()))

	const calls = 10
	var wg sync.WaitGroup
	resps := make([]coordination.TriggerResponse, calls)
	errs := make([]error, calls)
	for i := range calls {
		svc := r.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Go(func() {
			resps[i], errs[i] = svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "hooks/key",
				Headers: map[string]string{"Webhook-Id": "msg_same"}})
		})
	}
	wg.Wait()
	fresh := 0
	for i, resp := range resps {
		require.NoError(t, errs[i], "call %d", i)
		require.Equal(t, resps[0].Execution.ID, resp.Execution.ID)
		if !resp.Deduplicated {
			fresh++
		}
	}
	require.Equal(t, 1, fresh)
	require.Equal(t, 1, r.count())
	require.Equal(t, "msg_same", resps[0].Execution.IdempotencyKey)

	// A day later the key starts a new execution.
	later := New(r.index, r.st, r.coord, Options{Now: func() time.Time { return time.Now().Add(25 * time.Hour) }})
	resp, err := later.Trigger(context.Background(), coordination.TriggerRequest{WorkflowID: d.WorkflowID, TriggerType: workflow.TriggerWebhook,
		IdempotencyKey: "msg_same"})
	require.NoError(t, err)
	require.False(t, resp.Deduplicated)
	require.NotEqual(t, resps[0].Execution.ID, resp.Execution.ID)
	require.Equal(t, 2, r.count())
}

func TestWebhookRateLimitPerWorkflow(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{}, Options{RatePerWorkflow: 0.001, Burst: 2})
	r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "limited/a"})
	r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "limited/b"})
	for range 2 {
		_, err := r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "limited/a"})
		require.NoError(t, err)
	}
	_, err := r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "limited/a"})
	require.Equal(t, errors.ResourceExhausted, errors.KindOf(err), "%v", err)
	_, err = r.svc.Trigger(context.Background(), coordination.TriggerRequest{WebhookPath: "limited/b"})
	require.NoError(t, err, "each workflow has its own limit")
	require.Equal(t, 3, r.count())
}

func TestResolveAndIndexFollowsDeployments(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{}, Options{})
	ctx := context.Background()
	d := r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "resolve/Me", Secrets: []string{"s"}, ResponseMode: workflow.ResponseSync})
	wt, err := r.svc.Resolve(ctx, ResolveRequest{Path: "RESOLVE/me", Method: "post"})
	require.NoError(t, err)
	require.Equal(t, d.ID, wt.DeploymentID)
	require.Equal(t, d.WorkflowID, wt.WorkflowID)
	require.Equal(t, d.Triggers[0].ID, wt.TriggerID)
	_, err = r.svc.Resolve(ctx, ResolveRequest{Path: "resolve/me", Method: "DELETE"})
	require.Equal(t, errors.FailedPrecondition, errors.KindOf(err))
	_, err = r.svc.Resolve(ctx, ResolveRequest{Path: "resolve//me"})
	require.Equal(t, errors.Invalid, errors.KindOf(err))
	_, err = r.svc.Resolve(ctx, ResolveRequest{Path: "resolve/me", Method: "PO\u017fT"})
	require.Equal(t, errors.Invalid, errors.KindOf(err), "a method is an ASCII token: no case folding reaches POST")
	_, err = r.svc.Resolve(ctx, ResolveRequest{Path: "resolve/you"})
	require.Equal(t, errors.NotFound, errors.KindOf(err))

	// Paused: still resolved, refused when triggered.
	_, err = r.st.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = workflow.StatusPaused
		d.Version++
		return workflow.Event{Action: workflow.ActionPause}, nil
	})
	require.NoError(t, err)
	require.NoError(t, r.index.DeploymentChanged(ctx, d))
	_, err = r.svc.Trigger(ctx, coordination.TriggerRequest{WebhookPath: "resolve/me"})
	require.Equal(t, errors.FailedPrecondition, errors.KindOf(err))

	// Archived without this replica being told: the next reload drops it.
	_, err = r.st.UpdateDeployment(ctx, d.ID, func(d *workflow.Deployment) (workflow.Event, error) {
		d.Status = workflow.StatusArchived
		d.Version++
		return workflow.Event{Action: workflow.ActionArchive}, nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, r.index.Len())
	require.NoError(t, r.index.Reload(ctx))
	require.Zero(t, r.index.Len())
	_, ok := r.index.LookupWorkflow(d.WorkflowID)
	require.False(t, ok)
}

// TestLookAlikePathsReachNothing: a path that only Unicode case folding turns
// into an indexed one (KELVIN SIGN U+212A folds to "k") is not a webhook
// path, so a gateway rule written for "kelvin/hook" cannot be walked around
// by resolving or triggering "%E2%84%AAelvin/hoo%E2%84%AA".
func TestLookAlikePathsReachNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{}, Options{})
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	d := r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "kelvin/hook", Secrets: []string{secret}})
	ctx := context.Background()
	wt, err := r.svc.Resolve(ctx, ResolveRequest{Path: "KELVIN/Hook"})
	require.NoError(t, err, "ASCII case still does not matter")
	require.Equal(t, d.ID, wt.DeploymentID)

	body := `{"n": 1}`
	for _, path := range []string{"\u212aelvin/hoo\u212a", "/\u212aelvin/hook/", "kelv\u0130n/hook", "kelvin/hoo\u212a"} {
		_, err := r.svc.Resolve(ctx, ResolveRequest{Path: path, Method: "POST"})
		require.Equal(t, errors.Invalid, errors.KindOf(err), "resolve %q: %v", path, err)
		_, err = r.svc.Trigger(ctx, coordination.TriggerRequest{WebhookPath: path, TriggerData: body, HTTPMethod: "POST",
			Headers: sign("msg_"+path, time.Now(), secret, body)})
		require.Equal(t, errors.Invalid, errors.KindOf(err), "trigger %q: %v", path, err)
	}
	require.Zero(t, r.count(), "a look-alike path started an execution")
}

// TestSignedWebhookReplays: a captured, validly signed call replayed within
// the signature's tolerance starts nothing new, whatever idempotency key the
// replay carries and however it spells a second webhook-id.
func TestSignedWebhookReplays(t *testing.T) {
	t.Parallel()
	r := newRig(t, enginesim.Config{}, Options{})
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	r.deploy(workflow.StatusDeployed, workflow.WebhookSpec{Path: "signed/replayed", Secrets: []string{secret}})
	ctx := context.Background()
	body := `{"amount": 12.50}`
	captured := sign("msg_captured", time.Now(), secret, body)
	first, err := r.svc.Trigger(ctx, coordination.TriggerRequest{WebhookPath: "signed/replayed", TriggerData: body,
		Headers: captured, IdempotencyKey: "key-0"})
	require.NoError(t, err)
	require.Equal(t, "msg_captured", first.Execution.IdempotencyKey, "a signed call is keyed by the id it signed")

	t.Run("fresh idempotency keys", func(t *testing.T) {
		t.Parallel()
		for i := range 5 {
			resp, err := r.svc.Trigger(ctx, coordination.TriggerRequest{WebhookPath: "signed/replayed", TriggerData: body,
				Headers: captured, IdempotencyKey: "key-" + strconv.Itoa(i+1)})
			require.NoError(t, err)
			require.True(t, resp.Deduplicated, "replay %d", i)
			require.Equal(t, first.Execution.ID, resp.Execution.ID)
		}
		require.Equal(t, 1, r.count(), "a replay started an execution")
	})

	t.Run("an unsigned second webhook-id", func(t *testing.T) {
		t.Parallel()
		for i := range 10 {
			headers := maps.Clone(captured)
			headers["Webhook-Id"] = "msg_fresh_" + strconv.Itoa(i)
			_, err := r.svc.Trigger(ctx, coordination.TriggerRequest{WebhookPath: "signed/replayed", TriggerData: body, Headers: headers})
			require.Equal(t, errors.Invalid, errors.KindOf(err), "try %d: %v", i, err)
		}
		require.Equal(t, 1, r.count(), "a replay started an execution")

		// The same id in two spellings says one thing: it is the same call.
		headers := maps.Clone(captured)
		headers["Webhook-Id"] = captured["webhook-id"]
		resp, err := r.svc.Trigger(ctx, coordination.TriggerRequest{WebhookPath: "signed/replayed", TriggerData: body, Headers: headers})
		require.NoError(t, err)
		require.True(t, resp.Deduplicated)
		require.Equal(t, first.Execution.ID, resp.Execution.ID)
	})
}
