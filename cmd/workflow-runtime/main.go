// Command workflow-runtime serves the workflow runtime and manages its database.
//
//	workflow-runtime serve [flags]            serve gRPC and HTTP (migrates first unless --no-migrate)
//	workflow-runtime migrate up|down|status   apply, roll back one, or list PostgreSQL migrations
//	workflow-runtime version                  print the version
//
// Without WFR_DATABASE_URL, serve keeps its data in an embedded SQLite file in
// WFR_DATA_DIR (./data), migrated when opened, and serves as the only replica.
//
// Every flag has an environment variable of the same name (--grpc-addr = WFR_GRPC_ADDR).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usage = `usage:
  workflow-runtime serve [flags]              serve gRPC and HTTP (migrates first unless --no-migrate)
  workflow-runtime migrate up|down|status     apply all, roll back one, or list PostgreSQL migrations
  workflow-runtime version                    print the version
Run "workflow-runtime serve -h" for the flags; each has an environment variable, e.g. --grpc-addr = WFR_GRPC_ADDR.
Without WFR_DATABASE_URL, serve keeps its data in an embedded SQLite file in WFR_DATA_DIR (./data), one replica only;
without WFR_REDIS_URL it uses no Redis; without WFR_ENGINE_ADDR an engine-sim runs in the process.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, getenv)
	case "migrate":
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return migrate(ctx, args[1], args[2:], stdout, stderr, getenv)
	case "version":
		fmt.Fprintln(stdout, version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
	return 2
}
