package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// maxResponseBytes matches the server's largest answer: a page of
// deployments with their definitions.
const maxResponseBytes = 32 << 20

// exitHelp ends the root command's help: what scripts need to know.
const exitHelp = `
Every global flag has an environment variable: WFR_ and its name in capitals,
with _ for - (--addr = WFR_ADDR, --server-name = WFR_SERVER_NAME). A flag given
on the command line wins over its variable.

-o json and -o yaml print the API's response message as the REST API writes it
(protojson, proto field names); runs --follow prints one execution per line
(JSON) or per document (YAML).

Exit codes:
  0    success
  1    any other error (an internal error of the server)
  2    usage: a wrong command line, environment variable or input file; nothing was sent
  3    NOT_FOUND: no such deployment, execution or backfill
  4    INVALID_ARGUMENT: the server refused the request as malformed
  5    ALREADY_EXISTS or ABORTED: a conflict with another deployment or an expected version
  6    FAILED_PRECONDITION: not allowed in the current state
  7    UNAUTHENTICATED or PERMISSION_DENIED
  8    UNAVAILABLE, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED: retry later; health: unhealthy
  9    trigger --wait: the execution ended FAILED, CANCELLED, TIMED_OUT or SKIPPED
  130  interrupted
`

// options are the global flags.
type options struct {
	addr, token               string
	tls                       bool
	ca, cert, key, serverName string
	output                    string
	timeout                   time.Duration
}

// app is one run of wfr: its streams and settings, and its connection once a
// command needs one.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	opts           options
	root           *cobra.Command
	prepared       bool
	conn           *grpc.ClientConn
	// rt and mon dial on their first call, so that commands that make none
	// (help, completion) need no reachable settings.
	rt  pb.WorkflowRuntimeServiceClient
	mon pb.MonitoringServiceClient
}

// run is main without the process: it runs the command line args and
// returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now}
	a.rt = pb.NewWorkflowRuntimeServiceClient(lazyConn{a})
	a.mon = pb.NewMonitoringServiceClient(lazyConn{a})
	root := a.newRoot()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if a.conn != nil {
		_ = a.conn.Close()
	}
	if err == nil {
		return exitOK
	}
	if cmd == nil {
		cmd = root
	}
	return report(stderr, err, fmt.Sprintf("Run '%s --help' for usage.", cmd.CommandPath()))
}

// newRoot builds the command tree. A new command is a constructor here and
// a file of its own.
func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "wfr",
		Short: "The command-line client of workflow-runtime",
		Long: `wfr deploys workflows, starts, follows and cancels their executions, previews and
backfills their schedules, and reports the service's health and planned load,
over workflow-runtime's gRPC API.

A deployment is named by its deployment id or by its workflow id (the workflow's
active deployment).` + "\n" + exitHelp,
		Version:           version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.prepare() },
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	a.root = root

	f := root.PersistentFlags()
	f.StringVar(&a.opts.addr, "addr", "localhost:9090", "gRPC address of workflow-runtime (host:port)")
	f.StringVar(&a.opts.token, "token", "", "bearer token, when the server requires one (prefer WFR_TOKEN: a flag shows in ps)")
	f.BoolVar(&a.opts.tls, "tls", false, "connect over TLS (implied by --ca, --cert, --key and --server-name)")
	f.StringVar(&a.opts.ca, "ca", "", "PEM file of the CAs that issued the server's certificate (default: the system's)")
	f.StringVar(&a.opts.cert, "cert", "", "PEM client certificate, when the server requires one (with --key)")
	f.StringVar(&a.opts.key, "key", "", "PEM private key of --cert")
	f.StringVar(&a.opts.serverName, "server-name", "", "name to verify the server's certificate against (default: the host of --addr)")
	f.StringVarP(&a.opts.output, "output", "o", "table", "output format: table, json or yaml")
	f.DurationVar(&a.opts.timeout, "timeout", 30*time.Second, "how long each call to the server may take")
	for _, name := range []string{"ca", "cert", "key"} {
		_ = root.MarkPersistentFlagFilename(name, "pem", "crt", "key")
	}
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))

	root.AddGroup(
		&cobra.Group{ID: "deployments", Title: "Deployments:"},
		&cobra.Group{ID: "executions", Title: "Executions:"},
		&cobra.Group{ID: "service", Title: "Service:"},
	)
	for _, c := range []*cobra.Command{
		a.deployCommand(), a.getCommand(), a.listCommand(),
		a.statusCommand("pause", "Pause a deployment: nothing fires, webhooks are refused", pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED),
		a.statusCommand("resume", "Resume a paused deployment, or deploy a draft", pb.DeploymentStatus_DEPLOYMENT_STATUS_DEPLOYED),
		a.deleteCommand(), a.previewCommand(), a.backfillCommand(), a.backfillStatusCommand(),
		a.versionsCommand(), a.eventsCommand(), a.rollbackCommand(),
	} {
		c.GroupID = "deployments"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.triggerCommand(), a.runsCommand(), a.runCommand(), a.cancelCommand()} {
		c.GroupID = "executions"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.healthCommand(), a.loadCommand(), a.reportCommand()} {
		c.GroupID = "service"
		root.AddCommand(c)
	}
	root.InitDefaultCompletionCmd()
	markCommandErrors(root)
	return root
}

// markCommandErrors wraps the errors of every RunE in the tree, so that
// report tells them from cobra's own, which are usage errors.
func markCommandErrors(c *cobra.Command) {
	if runE := c.RunE; runE != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := runE(cmd, args); err != nil {
				return commandError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markCommandErrors(sub)
	}
}

// prepare fills each global flag not given on the command line from its
// environment variable and checks the settings. Completion calls it too:
// cobra runs no PersistentPreRunE for it.
func (a *app) prepare() error {
	if a.prepared {
		return nil
	}
	var errs []error
	a.root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		env := envName(f.Name)
		if v := a.getenv(env); v != "" && !f.Changed {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	if !isFormat(a.opts.output) {
		return usagef("--output %q: must be one of %s", a.opts.output, strings.Join(formats, ", "))
	}
	if (a.opts.cert == "") != (a.opts.key == "") {
		return usagef("--cert and --key go together")
	}
	a.prepared = true
	return nil
}

// envName is the environment variable of a global flag.
func envName(flag string) string {
	return "WFR_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// dial connects to the server on first use; the connection lasts as long as
// the run.
func (a *app) dial() (*grpc.ClientConn, error) {
	if a.conn != nil {
		return a.conn, nil
	}
	creds := insecure.NewCredentials()
	o := a.opts
	if o.tls || o.ca != "" || o.cert != "" || o.key != "" || o.serverName != "" {
		cfg, err := o.tlsConfig()
		if err != nil {
			return nil, usageError{err}
		}
		creds = credentials.NewTLS(cfg)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes)),
		grpc.WithUserAgent("wfr/" + version),
	}
	if o.token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearer(o.token)))
	}
	conn, err := grpc.NewClient(o.addr, dialOpts...)
	if err != nil {
		return nil, usagef("--addr %q: %w", o.addr, err)
	}
	a.conn = conn
	return conn, nil
}

// tlsConfig is the client side of the server's TLS: its CAs, the client
// certificate, and the name to check.
func (o options) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.serverName}
	if o.ca != "" {
		pool, err := auth.LoadCertPool(o.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		cfg.RootCAs = pool
	}
	if o.cert != "" {
		pair, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("--cert and --key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// bearer sends the token with every call. It goes over plaintext too, as
// grpcurl's -H does: a local server may check tokens without TLS.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// lazyConn is the app's connection, made on the first call through it.
type lazyConn struct{ a *app }

func (l lazyConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	conn, err := l.a.dial()
	if err != nil {
		return err
	}
	return conn.Invoke(ctx, method, args, reply, opts...)
}

func (l lazyConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	conn, err := l.a.dial()
	if err != nil {
		return nil, err
	}
	return conn.NewStream(ctx, desc, method, opts...)
}

// call makes one call under --timeout.
func call[Req, Resp any](ctx context.Context, a *app, method func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.timeout)
	defer cancel()
	return method(ctx, req)
}

// readInput reads a file named on the command line; "-" is standard input.
func (a *app) readInput(name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, usagef("standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, usageError{err}
	}
	return b, nil
}
