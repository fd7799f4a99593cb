// Command wfr is the command-line client of workflow-runtime. It deploys
// workflows, starts, follows and cancels their executions, previews and
// backfills their schedules, and reports the service's health and planned
// load, over the gRPC API:
//
//	wfr deploy -f orders.yaml
//	wfr list
//	wfr trigger orders.sync --data @order.json --wait
//	wfr runs orders.sync --follow
//
// Answers are tables for people, or with -o json and -o yaml the API's
// response messages as the REST API writes them, for scripts. Every global
// flag has an environment variable (--addr = WFR_ADDR), and the exit code
// tells a script what went wrong: "wfr --help" lists the codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// An interrupt ends --follow and --wait; any call in flight is cancelled.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
