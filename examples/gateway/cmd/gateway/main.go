// Command gateway serves examples/gateway: POST /webhook/<path> on -listen,
// forwarded to the workflow-runtime at -runtime over gRPC. With WFR_TOKEN
// set, its calls carry that token: give the gateway a token of role
// trigger, which allows what it calls (ResolveWebhook, TriggerWorkflow,
// GetExecution) and nothing more.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/workflow-runtime/workflow-runtime/examples/gateway"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

func main() {
	listen := flag.String("listen", ":8090", "HTTP listen address of the webhook URLs")
	target := flag.String("runtime", "127.0.0.1:9090", "workflow-runtime gRPC address")
	flag.Parse()
	log.Fatal(serve(*listen, *target, os.Getenv("WFR_TOKEN")))
}

// serve is main's body, so that its deferred close runs before the exit.
func serve(listen, target, token string) error {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	if err != nil {
		return err
	}
	defer conn.Close()
	srv := &http.Server{
		Addr: listen, Handler: gateway.Handler(pb.NewWorkflowRuntimeServiceClient(conn)),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute,
	}
	log.Printf("gateway on %s, forwarding to workflow-runtime at %s", listen, target)
	return srv.ListenAndServe()
}
