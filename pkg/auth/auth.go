// Package auth authenticates the callers of workflow-runtime's gRPC and HTTP
// ports: bearer tokens, compared in constant time, and client certificates
// verified by TLS. One Authenticator backs the gRPC tap handle and the HTTP
// middleware, so that REST calls, which the gateway forwards over gRPC, pass
// the same check as gRPC calls.
package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/kit/metrics/discard"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
)

// OpenablePaths are the plain HTTP endpoints that may be served without
// credentials; a path opens its subtree too (/docs opens /docs/).
var OpenablePaths = []string{"/livez", "/readyz", "/health", "/metrics", "/docs", "/openapi.json"}

// healthService stays open: Kubernetes' gRPC probes carry no credentials.
const healthService = "/grpc.health.v1.Health/"

// refusal is why a call was refused: reason labels the refusals metric,
// message is what the caller and the log see. None shows what the caller sent.
type refusal struct{ reason, message string }

func (r *refusal) Error() string { return r.message }

// Refusals.
var (
	errNoToken    = &refusal{"no_token", "missing credentials: send the header authorization: Bearer <token>"}
	errManyTokens = &refusal{"many_tokens", "more than one authorization header"}
	errNotBearer  = &refusal{"not_bearer", "the authorization header must read Bearer <token>"}
	errWrongToken = &refusal{"wrong_token", "the bearer token is not valid"}
	errNoCert     = &refusal{"no_client_cert", "a client certificate is required"}
)

// The web console's paths. A browser cannot add an Authorization header to
// the pages it loads, so the console's pages carry the caller's token in the
// cookie ConsoleCookie, which the sign-in page sets; the sign-in page and the
// console's assets are open, and hold no data.
const (
	ConsolePrefix = "/ui/"
	ConsoleSignIn = ConsolePrefix + "sign-in"
	ConsoleCookie = "wfr_token"
	consoleAssets = ConsolePrefix + "static/"
)

// Reasons are the values of the reason label of Options.Refusals.
var Reasons = []string{errNoToken.reason, errManyTokens.reason, errNotBearer.reason, errWrongToken.reason, errNoCert.reason}

// Ports are the values of the port label of Options.Refusals.
var Ports = []string{"grpc", "http"}

// Refusals are logged at most refusalLogRate lines a second, and what the
// caller chose (a path, a method name) at most loggedBytes of it: a flood
// of refused calls must not become a flood of log.
const (
	refusalLogRate  = 5
	refusalLogBurst = 20
	loggedBytes     = 256
	refusedMessage  = "call refused: unauthenticated"
)

// Options configure an Authenticator.
type Options struct {
	// Tokens and the tokens of TokensFile are the bearer tokens accepted. With
	// neither, tokens are not checked.
	Tokens     []string
	TokensFile string
	// OpenPaths are HTTP paths, of OpenablePaths, served without credentials.
	OpenPaths []string
	// ClientCerts makes every other HTTP path require a verified client
	// certificate. TLS verifies a certificate that is presented; it does not
	// require one on the HTTP port, so that probes reach the open paths.
	ClientCerts bool
	Logger      log.Logger
	// Refusals counts refused calls by port (Ports) and reason (Reasons);
	// nil: not counted.
	Refusals metrics.Counter
	// ClientRoles gives verified client certificates, by common name, a
	// role (ParseClientRoles); nil: certificates carry no identity.
	ClientRoles map[string]Role
	// Denials counts calls beyond their caller's role, by role and method;
	// nil: not counted.
	Denials metrics.Counter
}

// Authenticator checks the credentials of calls.
type Authenticator struct {
	tokens      atomic.Pointer[Tokens]
	static      []string
	file        string
	enabled     bool
	open        []string
	clientCerts bool
	refusalLog  log.Logger
	refusals    metrics.Counter
	clientRoles map[string]Role
	denials     metrics.Counter
}

// New returns an Authenticator with the tokens of o, reading o.TokensFile.
func New(o Options) (*Authenticator, error) {
	a := &Authenticator{
		static: o.Tokens, file: o.TokensFile, enabled: len(o.Tokens) > 0 || o.TokensFile != "",
		open: o.OpenPaths, clientCerts: o.ClientCerts, refusals: o.Refusals,
		clientRoles: o.ClientRoles, denials: o.Denials,
	}
	logger := o.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	a.refusalLog = level.Warn(logging.NewThrottled(logger, refusalLogRate, refusalLogBurst))
	if a.refusals == nil {
		a.refusals = discard.NewCounter()
	}
	if a.denials == nil {
		a.denials = discard.NewCounter()
	}
	for _, p := range o.OpenPaths {
		if !slices.Contains(OpenablePaths, p) {
			return nil, errors.New("open path " + p + " is not one of " + strings.Join(OpenablePaths, ", "))
		}
	}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// TokensEnabled reports whether calls need a bearer token.
func (a *Authenticator) TokensEnabled() bool { return a.enabled }

// Tokens is the number of tokens accepted now.
func (a *Authenticator) Tokens() int { return a.tokens.Load().Len() }

// Reload reads the token file again. On an error the tokens accepted so far
// stay, so that a bad edit does not lock every caller out.
func (a *Authenticator) Reload() error {
	tokens := slices.Clone(a.static)
	if a.file != "" {
		fromFile, err := ReadTokenFile(a.file)
		if err != nil {
			return err
		}
		tokens = append(tokens, fromFile...)
	}
	set, err := NewTokens(tokens...)
	if err != nil {
		return err
	}
	a.tokens.Store(set)
	return nil
}

// check returns the caller that the authorization values authenticate, or
// why they do not. With tokens off, it returns no caller and no refusal.
func (a *Authenticator) check(values []string) (*Identity, *refusal) {
	if !a.enabled {
		return nil, nil
	}
	switch len(values) {
	case 0:
		return nil, errNoToken
	case 1:
	default:
		return nil, errManyTokens
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, errNotBearer
	}
	id, ok := a.tokens.Load().Lookup(strings.TrimSpace(token))
	if !ok {
		return nil, errWrongToken
	}
	return &id, nil
}

// TapHandle is a grpc.InTapHandle: it refuses a call without a valid token
// with UNAUTHENTICATED as soon as its headers arrive, before its message is
// read, so that a caller without credentials costs no decoding. Calls of
// grpc.health.v1.Health stay open, for probes; server reflection needs a
// token like the API it describes. A client certificate, where required, was
// checked by the TLS handshake.
func (a *Authenticator) TapHandle(ctx context.Context, info *tap.Info) (context.Context, error) {
	if strings.HasPrefix(info.FullMethodName, healthService) {
		return ctx, nil
	}
	id, r := a.check(info.Header.Get("authorization"))
	if r != nil {
		a.refuse("grpc", r, "method", logging.Truncate(info.FullMethodName, loggedBytes), "peer", peerAddr(ctx))
		return ctx, status.Error(codes.Unauthenticated, r.message)
	}
	if id != nil {
		ctx = WithCaller(ctx, *id)
	}
	return ctx, nil
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// refuse counts and logs a refused call.
func (a *Authenticator) refuse(port string, r *refusal, keyvals ...any) {
	a.refusals.With("port", port, "reason", r.reason).Add(1)
	_ = a.refusalLog.Log(append([]any{"msg", refusedMessage, "port", port, "reason", r.message}, keyvals...)...)
}

// Middleware guards the HTTP port, before anything reads a request's body.
// Open paths pass. Others need a verified client certificate when
// ClientCerts is set, then a token; REST calls under /api/ are checked here
// as well as by the gRPC server they are forwarded to. The console's pages
// take the token from its cookie too, and send a caller without one to its
// sign-in page.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Cleaned as the mux will route it, so that /docs/../metrics is
		// judged as /metrics.
		p := path.Clean("/" + r.URL.Path)
		if a.isOpen(p) {
			next.ServeHTTP(w, r)
			return
		}
		console := strings.HasPrefix(p+"/", ConsolePrefix)
		refused := errNoCert
		var id *Identity
		if !a.clientCerts || (r.TLS != nil && len(r.TLS.VerifiedChains) > 0) {
			switch {
			case p == ConsoleSignIn || strings.HasPrefix(p, consoleAssets):
				refused = nil
			case console:
				id, refused = a.check(consoleCredentials(r))
			default:
				id, refused = a.check(r.Header.Values("Authorization"))
			}
		}
		if refused != nil {
			a.refuse("http", refused, "path", logging.Truncate(p, loggedBytes), "peer", r.RemoteAddr)
			if console && refused != errNoCert {
				// Back to the page after signing in: a post's page is the one
				// that sent it.
				next := r.URL.RequestURI()
				if r.Method != http.MethodGet {
					next = r.Header.Get("Referer")
				}
				http.Redirect(w, r, ConsoleSignIn+"?next="+url.QueryEscape(next), http.StatusSeeOther)
				return
			}
			writeRefusal(w, refused)
			return
		}
		if msg := a.httpDenial(r, p, id); msg != "" {
			writeError(w, http.StatusForbidden, codes.PermissionDenied, msg)
			return
		}
		// The console shows a caller what their role allows.
		if id != nil {
			r = r.WithContext(WithCaller(r.Context(), *id))
		}
		next.ServeHTTP(w, r)
	})
}

// consoleCredentials are the Authorization header of a console request, or
// else the token of its cookie.
func consoleCredentials(r *http.Request) []string {
	if v := r.Header.Values("Authorization"); len(v) > 0 {
		return v
	}
	if token := ConsoleToken(r); token != "" {
		return []string{"Bearer " + token}
	}
	return nil
}

// NewConsoleCookie returns the cookie that keeps token for the console's
// pages: out of reach of scripts (HttpOnly), never sent with a request that
// another site starts (SameSite=Strict), only over TLS when the console is
// served over TLS (secure), and gone when the browser closes. The token is
// base64url-encoded, because a token may hold characters that a cookie
// cannot.
func NewConsoleCookie(token string, secure bool) *http.Cookie {
	//nolint:gosec // G124: Secure follows the port: a cookie marked Secure over plain HTTP would never come back.
	return &http.Cookie{
		Name: ConsoleCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(token)), Path: ConsolePrefix,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
	}
}

// ConsoleToken returns the token of r's console cookie, or "" without one.
func ConsoleToken(r *http.Request) string {
	c, err := r.Cookie(ConsoleCookie)
	if err != nil {
		return ""
	}
	token, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return ""
	}
	return string(token)
}

func (a *Authenticator) isOpen(p string) bool {
	for _, o := range a.open {
		if p == o || strings.HasPrefix(p, o+"/") {
			return true
		}
	}
	return false
}

// httpDenial says why an authenticated HTTP request is beyond its caller's
// role, or "" when it is not. The API's and the console's calls are judged
// by the gRPC server they go through, by the token they carry; what is left
// here is what that server cannot judge: the admin paths, which are the
// HTTP port's own, and callers known only by a client certificate, whose
// REST calls reach that server without it. Those must be admin, or send a
// token.
func (a *Authenticator) httpDenial(r *http.Request, p string, id *Identity) string {
	if p == ConsoleSignIn || strings.HasPrefix(p, consoleAssets) {
		return ""
	}
	byCert := id == nil && a.clientRoles != nil && r.TLS != nil && len(r.TLS.VerifiedChains) > 0
	if byCert {
		cert := a.certIdentity(r.TLS.VerifiedChains[0][0])
		id = &cert
	}
	admin := strings.HasPrefix(p+"/", "/admin/")
	if id == nil || id.Role == RoleAdmin || (!admin && !byCert) {
		return ""
	}
	role := string(id.Role)
	if role == "" {
		role = "none"
	}
	a.denials.With("role", role, "method", "http").Add(1)
	_ = a.refusalLog.Log("msg", "call denied: beyond the caller's role", "caller", id.Name, "role", role,
		"path", logging.Truncate(p, loggedBytes), "peer", r.RemoteAddr)
	if admin {
		return id.Name + " (role " + role + ") may not use " + p + ": it is for admin"
	}
	return id.Name + " (role " + role + ") is known by its client certificate, whose role applies to the gRPC port: over HTTP, send a bearer token"
}

// writeRefusal answers 401 with a body shaped like the gateway's errors.
func writeRefusal(w http.ResponseWriter, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="workflow-runtime"`)
	writeError(w, http.StatusUnauthorized, codes.Unauthenticated, err.Error())
}

// writeError answers with a body shaped like the gateway's errors.
func writeError(w http.ResponseWriter, httpStatus int, code codes.Code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	body, _ := json.Marshal(struct {
		Code    codes.Code `json:"code"`
		Message string     `json:"message"`
	}{code, message})
	// A write error means the client has gone; there is no one left to tell.
	_, _ = w.Write(body)
}
