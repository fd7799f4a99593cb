// Command client runs the examples/client walk-through against a serving
// workflow-runtime: go run ./examples/client/cmd/client -addr localhost:9090
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/workflow-runtime/workflow-runtime/examples/client"
)

func main() {
	addr := flag.String("addr", "localhost:9090", "workflow-runtime gRPC address")
	timeout := flag.Duration("timeout", time.Minute, "how long to wait for the executions to end")
	flag.Parse()
	if err := run(*addr, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run is main's body, so that its deferred closes run before the exit.
func run(addr string, timeout time.Duration) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err = client.Run(ctx, conn, os.Stdout)
	return err
}
