package http

import (
	"context"
	"math"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	grpctransport "github.com/workflow-runtime/workflow-runtime/transport/grpc"
)

// gateway is the REST mirror of the gRPC API: grpc-gateway's ServeMux, with
// hooks that answer bad requests in the API's own words before any RPC is
// made (bad input is INVALID_ARGUMENT, never INTERNAL), and a wrong method
// with 405 and an Allow header rather than the gateway's 501.
type gateway struct {
	mux    *runtime.ServeMux
	routes *routes
}

// newGateway returns the gateway's ServeMux, built with opts and the hooks
// that check requests against the OpenAPI document doc.
func newGateway(doc []byte, opts ...runtime.ServeMuxOption) (*runtime.ServeMux, error) {
	rt, err := newRoutes(doc)
	if err != nil {
		return nil, err
	}
	g := &gateway{routes: rt}
	g.mux = runtime.NewServeMux(append(opts,
		runtime.WithMiddlewares(g.check),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(g.routingError),
		// The fallback serves a form POSTed to a GET route, and with it
		// X-HTTP-Method-Override: a second way in that the API does not
		// document and whose form values check would not see.
		runtime.WithDisablePathLengthFallback(),
	)...)
	return g.mux, nil
}

// fail answers r with the status of err, a *errors.Error, as the gateway
// answers any error.
func (g *gateway) fail(w http.ResponseWriter, r *http.Request, err error) {
	_, out := runtime.MarshalerForRequest(g.mux, r)
	runtime.HTTPError(r.Context(), g.mux, out, w, r, grpctransport.Status(err).Err())
}

// errorHandler answers a request body that jsonBody refused with the status
// the decoder made, violations included: the generated code passes on only
// the error's text. A status with retry advice (google.rpc.RetryInfo) sets
// Retry-After, in whole seconds rounded up, which HTTP clients and proxies
// read without parsing the body.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if b, ok := r.Body.(*body); ok && b.refused != nil {
		err = b.refused
	}
	if after, ok := RetryAfter(err); ok {
		w.Header().Set("Retry-After", after)
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// RetryAfter is the Retry-After header value, in whole seconds rounded up,
// of a gRPC status error that carries a google.rpc.RetryInfo; ok is false
// when it carries none.
func RetryAfter(err error) (value string, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus {
		return "", false
	}
	for _, d := range st.Details() {
		if ri, isRetry := d.(*errdetails.RetryInfo); isRetry && ri.GetRetryDelay() != nil {
			secs := int64(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
			return strconv.FormatInt(max(secs, 1), 10), true
		}
	}
	return "", false
}

// routingError answers a path that the API serves but not with r's method
// with 405 and the methods it takes; other routing errors as the gateway
// does. The body's code is UNIMPLEMENTED, the gRPC code the gateway itself
// gives a missing method.
func (g *gateway) routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus != http.StatusMethodNotAllowed {
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
		return
	}
	allow := g.routes.allow(r.URL.EscapedPath())
	w.Header().Set("Allow", allow)
	err := status.Errorf(codes.Unimplemented, "%s %s is not served; this path takes %s", r.Method, r.URL.EscapedPath(), allow)
	runtime.HTTPError(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed, Err: err})
}
