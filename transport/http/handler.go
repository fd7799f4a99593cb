// Package http serves the HTTP port: the REST mirror of the gRPC API through
// grpc-gateway, the web console, the OpenAPI document and Swagger UI, health,
// readiness, Prometheus metrics and the log level.
package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/workflow-runtime/workflow-runtime/openapi"
	"github.com/workflow-runtime/workflow-runtime/pkg/health"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
	"github.com/workflow-runtime/workflow-runtime/transport"
	"github.com/workflow-runtime/workflow-runtime/transport/http/console"
)

// NewHandler returns the HTTP port's handler. REST calls go through conn to the
// gRPC server, so that they pass the same interceptors and endpoint chain as
// gRPC calls do.
// Request bodies above maxBody bytes, or too deep or too many values to decode,
// are refused before the gateway reads them; the rest wait for room in budget.
// logLevel is read and changed at /admin/log-level. backPressure, when set,
// is this replica's back-pressure, which the console's overview shows.
func NewHandler(ctx context.Context, conn *grpc.ClientConn, checker *health.Checker, metrics http.Handler, maxBody int64, budget *transport.Budget,
	logLevel *logging.Level, backPressure func() workflow.BackPressure) (http.Handler, error) {
	gw, err := newGateway(openapi.Document,
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonBody{&runtime.JSONPb{
			MarshalOptions: protojson.MarshalOptions{UseProtoNames: true},
		}}),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
	)
	if err != nil {
		return nil, err
	}
	if err := pb.RegisterWorkflowRuntimeServiceHandler(ctx, gw, conn); err != nil {
		return nil, err
	}
	if err := pb.RegisterMonitoringServiceHandler(ctx, gw, conn); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/api/", limitBodies(gw, maxBody, budget))
	openapi.Register(mux)
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !checker.Ready(r.Context()) {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		rep := checker.Check(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if rep.Status == health.StatusUnhealthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
	mux.Handle(logLevelPath, logLevelHandler(logLevel))
	ui, err := console.New(conn, console.Options{BackPressure: backPressure})
	if err != nil {
		return nil, err
	}
	mux.Handle(console.Prefix, ui)
	return mux, nil
}

// incomingHeader forwards, besides grpc-gateway's defaults, the headers that
// carry a trace id, so that REST calls keep the caller's trace.
func incomingHeader(key string) (string, bool) {
	switch strings.ToLower(textproto.CanonicalMIMEHeaderKey(key)) {
	case "traceparent", "tracestate", "x-request-id":
		return strings.ToLower(key), true
	}
	return runtime.DefaultHeaderMatcher(key)
}
