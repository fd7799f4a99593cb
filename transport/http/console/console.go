// Package console serves the web console under /ui/: server-rendered pages
// over the service's own gRPC API, with their templates, styles, script and
// charts embedded in the binary.
//
// Every page and every action is a gRPC call on the connection the REST
// gateway uses, carrying the caller's token, so that authentication,
// validation, rate limits and roles apply to the console exactly as to any
// API caller. The console holds no state of its own.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// Prefix is where the console is mounted.
const Prefix = auth.ConsolePrefix

// callTimeout bounds the API calls of one page.
const callTimeout = 10 * time.Second

// maxForm bounds a posted form: a trigger payload is at most 1 MiB, and
// escaping in the form encoding can triple it.
const maxForm = 4 << 20

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Options configure a Console; zero values take the defaults in brackets.
type Options struct {
	// Now is the clock [time.Now].
	Now func() time.Time
	// Refresh is how often open lists update themselves [2s].
	Refresh time.Duration
	// BackPressure, when set, is the back-pressure on triggers as this
	// replica sees it, which the overview shows; it is the replica's own,
	// not an RPC's, like the metrics it mirrors.
	BackPressure func() workflow.BackPressure
}

// Console is the web console's handler.
type Console struct {
	api   pb.WorkflowRuntimeServiceClient
	mon   pb.MonitoringServiceClient
	pages map[string]*template.Template
	opts  Options
	mux   *http.ServeMux
}

// New returns the console over conn, a connection to the service's gRPC
// server.
func New(conn grpc.ClientConnInterface, opts Options) (*Console, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Refresh == 0 {
		opts.Refresh = 2 * time.Second
	}
	c := &Console{api: pb.NewWorkflowRuntimeServiceClient(conn), mon: pb.NewMonitoringServiceClient(conn), opts: opts}
	pages, err := parsePages(c.funcs())
	if err != nil {
		return nil, err
	}
	c.pages = pages
	c.mux = c.routes()
	return c, nil
}

func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", assets(http.FileServerFS(static))))
	mux.HandleFunc("GET "+auth.ConsoleSignIn, c.signInPage)
	mux.HandleFunc("POST "+auth.ConsoleSignIn, c.signIn)
	mux.HandleFunc("POST "+Prefix+"sign-out", c.signOut)
	mux.HandleFunc("GET "+Prefix+"{$}", c.overview)
	mux.HandleFunc("GET "+Prefix+"deployments", c.deployments)
	mux.HandleFunc("GET "+Prefix+"deploy", c.deployPage)
	mux.HandleFunc("POST "+Prefix+"deploy", c.act(actDeploy, c.deploy))
	mux.HandleFunc("GET "+Prefix+"deployments/{id}", c.deployment)
	mux.HandleFunc("POST "+Prefix+"deployments/{id}/pause", c.act(actPause, c.setStatus(pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED)))
	mux.HandleFunc("POST "+Prefix+"deployments/{id}/resume", c.act(actResume, c.setStatus(pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED)))
	mux.HandleFunc("POST "+Prefix+"deployments/{id}/trigger", c.act(actTrigger, c.trigger))
	mux.HandleFunc("POST "+Prefix+"deployments/{id}/backfill", c.act(actBackfill, c.backfill))
	mux.HandleFunc("POST "+Prefix+"deployments/{id}/rollback", c.act(actRollback, c.rollback))
	mux.HandleFunc("GET "+Prefix+"executions/{id}", c.execution)
	mux.HandleFunc("POST "+Prefix+"executions/{id}/cancel", c.act(actCancel, c.cancel))
	mux.HandleFunc("GET "+Prefix+"load", c.load)
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, status.Error(codes.NotFound, "no console page at "+r.URL.Path))
	})
	return mux
}

// ServeHTTP serves the console. State-changing requests must come from the
// console's own pages: CrossOriginProtection refuses those a browser marks as
// cross-origin (Sec-Fetch-Site, or an Origin that is not the Host), which is
// what a forged form or fetch from another site is. Requests without either
// header come from no browser, so no victim's cookie rides on them. The
// token cookie is SameSite=Strict besides, but that alone would not cover a
// server whose tokens are off, where there is no cookie to withhold.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	crossOrigin.Handler(c.mux).ServeHTTP(w, r)
}

var crossOrigin = func() *http.CrossOriginProtection {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "refused: this form was not sent from the console's own pages (cross-origin request)", http.StatusForbidden)
	}))
	return p
}()

// assets lets browsers keep the embedded files for an hour: they change
// only with the binary.
func assets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// callContext is the context of the API calls made for r: bounded, and
// carrying the caller's token from the console's cookie, or the
// Authorization header of a caller that sends one.
func callContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	if h := r.Header.Get("Authorization"); h != "" {
		return metadata.AppendToOutgoingContext(ctx, "authorization", h), cancel
	}
	if token := auth.ConsoleToken(r); token != "" {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), cancel
	}
	return ctx, cancel
}

// action is something a caller changes through the console.
type action string

const (
	actDeploy   action = "deploy"
	actPause    action = "pause"
	actResume   action = "resume"
	actTrigger  action = "trigger"
	actBackfill action = "backfill"
	actCancel   action = "cancel"
	actRollback action = "rollback"
)

// permissions are the actions a caller may take: the pages show only their
// buttons and the console refuses the others' posts.
type permissions map[action]bool

// actionMethods are the RPCs the actions call, whose roles decide them.
var actionMethods = map[action]string{
	actDeploy:   pb.WorkflowRuntimeService_DeployWorkflow_FullMethodName,
	actPause:    pb.WorkflowRuntimeService_UpdateDeployment_FullMethodName,
	actResume:   pb.WorkflowRuntimeService_UpdateDeployment_FullMethodName,
	actTrigger:  pb.WorkflowRuntimeService_TriggerWorkflow_FullMethodName,
	actBackfill: pb.WorkflowRuntimeService_BackfillDeployment_FullMethodName,
	actCancel:   pb.WorkflowRuntimeService_CancelExecution_FullMethodName,
	actRollback: pb.WorkflowRuntimeService_RollbackDeployment_FullMethodName,
}

// permitted returns what the caller of r may do: what the role of the
// token that the auth middleware found allows, or everything when
// authentication is off. The API refuses what the role does not allow in
// any case; this only spares the caller buttons that would fail.
func permitted(r *http.Request) permissions {
	id, authenticated := auth.Caller(r.Context())
	p := permissions{}
	for a, method := range actionMethods {
		p[a] = !authenticated || auth.Allowed(id.Role, method)
	}
	return p
}

// Can reports whether the caller may take the action named a.
func (p permissions) Can(a string) bool { return p[action(a)] }

// act guards the handler of a posted form: the caller must be permitted the
// action, and the form is read within maxForm.
func (c *Console) act(a action, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !permitted(r)[a] {
			c.fail(w, r, status.Errorf(codes.PermissionDenied, "you may not %s", a))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, status.Errorf(codes.InvalidArgument, "the form could not be read: %v", err))
			return
		}
		h(w, r)
	}
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      string
	SignedIn bool
	Can      permissions
	// Refresh is the live lists' period in milliseconds.
	Refresh int64
	// Problem is an error to show at the top of the page.
	Problem *problem
	Data    any
}

// problem is an API error as the console shows it.
type problem struct {
	Code    string
	Message string
	// Fields are the field violations of an INVALID_ARGUMENT error.
	Fields []fieldProblem
}

type fieldProblem struct{ Field, Description string }

func newProblem(err error) *problem {
	st := status.Convert(err)
	p := &problem{Code: st.Code().String(), Message: st.Message()}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				p.Fields = append(p.Fields, fieldProblem{v.GetField(), v.GetDescription()})
			}
		}
	}
	switch st.Code() {
	case codes.Unimplemented:
		p.Message = "this server does not offer it yet (" + st.Message() + ")"
	case codes.DeadlineExceeded, codes.Canceled:
		if errors.Is(err, context.DeadlineExceeded) {
			p.Message = "the API did not answer within " + callTimeout.String()
		}
	}
	return p
}

// For reports the violations of one field.
func (p *problem) For(field string) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, f := range p.Fields {
		if f.Field == field || strings.HasPrefix(f.Field, field+".") || strings.HasPrefix(f.Field, field+"[") {
			out = append(out, f.Description)
		}
	}
	return out
}

func (c *Console) newPage(r *http.Request, nav, title string, data any) *page {
	return &page{
		Title: title, Nav: nav, Data: data, Can: permitted(r),
		SignedIn: auth.ConsoleToken(r) != "",
		Refresh:  c.opts.Refresh.Milliseconds(),
	}
}

// render writes the page, or only its block named by the query parameter
// fragment, which the live lists fetch.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name string, p *page) {
	t := c.pages[name]
	tmpl := "layout"
	if f := r.URL.Query().Get("fragment"); f != "" {
		if t.Lookup("live-"+f) == nil {
			http.Error(w, "no fragment "+f, http.StatusNotFound)
			return
		}
		tmpl = "live-" + f
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = t.ExecuteTemplate(w, tmpl, p)
}

// fail answers a request whose API call failed. An unauthenticated caller
// goes to the sign-in page; others see the error with the HTTP status the
// REST gateway would give it.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	if status.Code(err) == codes.Unauthenticated {
		toSignIn(w, r)
		return
	}
	p := c.newPage(r, "", "Error", nil)
	p.Problem = newProblem(err)
	c.render(w, r, runtime.HTTPStatusFromCode(status.Code(err)), "error", p)
}

// toSignIn sends the caller to the sign-in page, to come back to r's page.
// A live list's fetch gets 401 instead: its script reloads the page, which
// then goes there.
func toSignIn(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("fragment") {
		http.Error(w, "sign in again", http.StatusUnauthorized)
		return
	}
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		next = r.Header.Get("Referer")
	}
	http.Redirect(w, r, auth.ConsoleSignIn+"?next="+url.QueryEscape(localPath(next)), http.StatusSeeOther)
}

// localPath returns target when it is a console page of this server, and
// the overview otherwise, so that a sign-in link cannot send a caller
// elsewhere.
func localPath(target string) string {
	u, err := url.Parse(target)
	if err != nil || !strings.HasPrefix(u.Path, Prefix) || strings.Contains(u.Path, "..") {
		return Prefix
	}
	if u.Path == auth.ConsoleSignIn {
		return Prefix
	}
	return (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).String()
}

// seeOther sends the caller to a console page after a successful post.
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}
