package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/workflow-runtime/workflow-runtime/pkg/enginesim"
	enginepb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// testToken is the bearer token the shared server requires.
const testToken = "wfr-test-token-0123456789abcdef"

// Workflows whose id starts with these prefixes fail, or never finish, in the
// test engine; every other one succeeds.
const (
	failPrefix = "fail."
	hangPrefix = "hang."
)

// harness holds what the tests share: the server binary, built once, the
// test engine, the servers to stop when the tests end, and their files.
var harness struct {
	mu     sync.Mutex
	dir    string
	binary string
	engine string
	shared *server
	err    error
	stops  []func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	harness.mu.Lock()
	for _, stop := range harness.stops {
		stop()
	}
	if harness.dir != "" {
		os.RemoveAll(harness.dir)
	}
	harness.mu.Unlock()
	os.Exit(code)
}

// server is a workflow-runtime process: the real binary serving on free
// ports of 127.0.0.1, its data in embedded SQLite, its engine the test
// engine of this process.
type server struct {
	// env is what the CLI needs to reach it: WFR_ADDR, WFR_TOKEN.
	env      map[string]string
	httpBase string
	logPath  string
}

// sharedServer returns the server most tests use, started on first use,
// which requires testToken. Tests on it use workflow ids of their own.
func sharedServer(t *testing.T) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the CLI against the workflow-runtime binary")
	}
	harness.mu.Lock()
	defer harness.mu.Unlock()
	if harness.shared == nil && harness.err == nil {
		var stop func()
		harness.shared, stop, harness.err = startServerLocked(map[string]string{"WFR_AUTH_TOKENS": testToken}, nil)
		if stop != nil {
			harness.stops = append(harness.stops, stop)
		}
		if harness.err == nil {
			harness.shared.env["WFR_TOKEN"] = testToken
		}
	}
	require.NoError(t, harness.err)
	return harness.shared
}

// startServer starts a server of its own for t, with settings (WFR_*) added;
// tlsConfig, when the server serves TLS, is how to reach it.
func startServer(t *testing.T, settings map[string]string, tlsConfig *tls.Config) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the CLI against the workflow-runtime binary")
	}
	harness.mu.Lock()
	s, stop, err := startServerLocked(settings, tlsConfig)
	harness.mu.Unlock()
	if stop != nil {
		t.Cleanup(stop)
	}
	require.NoError(t, err)
	return s
}

// startServerLocked builds the binary and serves the test engine if they
// are not yet, then starts a server and waits until it is ready.
func startServerLocked(settings map[string]string, tlsConfig *tls.Config) (*server, func(), error) {
	if harness.dir == "" {
		dir, err := os.MkdirTemp("", "wfr-test-")
		if err != nil {
			return nil, nil, err
		}
		harness.dir = dir
	}
	if harness.binary == "" {
		bin, err := buildServer()
		if err != nil {
			return nil, nil, err
		}
		harness.binary = bin
	}
	if harness.engine == "" {
		addr, stop, err := serveEngine()
		if err != nil {
			return nil, nil, err
		}
		harness.engine = addr
		harness.stops = append(harness.stops, stop)
	}
	grpcAddr, httpAddr := freeAddr(), freeAddr()
	work, err := os.MkdirTemp(harness.dir, "server-")
	if err != nil {
		return nil, nil, err
	}
	env := []string{
		"WFR_GRPC_ADDR=" + grpcAddr,
		"WFR_HTTP_ADDR=" + httpAddr,
		"WFR_DATA_DIR=" + filepath.Join(work, "data"),
		"WFR_ENGINE_ADDR=" + harness.engine,
		"WFR_INSTANCE_ID=wfr-test",
		"WFR_SHUTDOWN_TIMEOUT=2s",
		"WFR_DRAIN_DELAY=0s",
	}
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	// The server reads only the settings given here, whatever the
	// environment of the test holds (a WFR_DATABASE_URL, say).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WFR_") {
			env = append(env, kv)
		}
	}
	logPath := filepath.Join(work, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(harness.binary, "serve")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = work, env, logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	s := &server{env: map[string]string{"WFR_ADDR": grpcAddr}, httpBase: "http://" + httpAddr, logPath: logPath}
	client := &http.Client{Timeout: time.Second}
	if tlsConfig != nil {
		s.httpBase = "https://" + httpAddr
		client.Transport = &http.Transport{TLSClientConfig: tlsConfig}
	}
	if err := waitReady(client, s.httpBase+"/readyz", exited); err != nil {
		stop()
		log, _ := os.ReadFile(logPath)
		return nil, nil, fmt.Errorf("%w; server log:\n%s", err, log)
	}
	return s, stop, nil
}

// waitReady asks url until it answers 200, or the server exits, for at
// most 30 s.
func waitReady(client *http.Client, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("the server exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready within 30 s")
}

// buildServer builds cmd/workflow-runtime, without -race: the CLI is what
// these tests test. The binary goes to a directory of this checkout's own,
// kept between runs, where go build leaves it alone while it is up to date:
// linking the server anew takes longer than all the tests.
func buildServer() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command must be on PATH: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	checkout := fnv.New64a()
	checkout.Write([]byte(filepath.Dir(filepath.Dir(wd))))
	out := filepath.Join(os.TempDir(), fmt.Sprintf("wfr-test-%x", checkout.Sum64()), "workflow-runtime")
	msg, err := exec.Command(goBin, "build", "-o", out, "github.com/workflow-runtime/workflow-runtime/cmd/workflow-runtime").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, msg)
	}
	return out, nil
}

// freeAddr returns a 127.0.0.1 address whose port is free now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// fateEngine is the test engine: three engine-sims behind one gRPC service,
// chosen by the workflow id's prefix, so that one server has executions
// that succeed, fail, and never finish.
type fateEngine struct {
	enginepb.UnimplementedWorkflowServiceServer
	succeed, fail, hang *enginesim.Sim
	owner               sync.Map // engine execution id -> *enginesim.Sim
}

func serveEngine() (string, func(), error) {
	quick := enginesim.Config{MinDuration: 20 * time.Millisecond, MaxDuration: 100 * time.Millisecond}
	failing, hanging := quick, quick
	failing.FailureRate = 1
	hanging.HangRate = 1
	e := &fateEngine{succeed: enginesim.New(quick), fail: enginesim.New(failing), hang: enginesim.New(hanging)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := grpc.NewServer()
	enginepb.RegisterWorkflowServiceServer(srv, e)
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), srv.Stop, nil
}

func (e *fateEngine) ExecuteWorkflow(ctx context.Context, req *enginepb.ExecuteWorkflowRequest) (*enginepb.ExecuteWorkflowResponse, error) {
	sim := e.succeed
	switch id := req.GetWorkflowId(); {
	case strings.HasPrefix(id, failPrefix):
		sim = e.fail
	case strings.HasPrefix(id, hangPrefix):
		sim = e.hang
	}
	resp, err := sim.ExecuteWorkflow(ctx, req)
	if err == nil {
		e.owner.Store(resp.GetExecutionId(), sim)
	}
	return resp, err
}

// sim is the engine-sim that runs an execution; the succeeding one answers
// for ids no sim knows.
func (e *fateEngine) sim(id string) *enginesim.Sim {
	if s, ok := e.owner.Load(id); ok {
		return s.(*enginesim.Sim)
	}
	return e.succeed
}

func (e *fateEngine) GetExecutionStatus(ctx context.Context, req *enginepb.GetExecutionStatusRequest) (*enginepb.GetExecutionStatusResponse, error) {
	return e.sim(req.GetExecutionId()).GetExecutionStatus(ctx, req)
}

func (e *fateEngine) CancelExecution(ctx context.Context, req *enginepb.CancelExecutionRequest) (*enginepb.CancelExecutionResponse, error) {
	return e.sim(req.GetExecutionId()).CancelExecution(ctx, req)
}

// result is what one run of wfr did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// wfr runs the CLI in this process against s.
func (s *server) wfr(t *testing.T, args ...string) result {
	t.Helper()
	return wfrWith(context.Background(), s.env, "", args...)
}

// wfrWith runs the CLI in this process with env as its environment and
// stdin as its standard input.
func wfrWith(ctx context.Context, env map[string]string, stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// ok runs the CLI against s and requires it to succeed.
func (s *server) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := s.wfr(t, args...)
	require.Equal(t, exitOK, r.code, "wfr %s: %s", strings.Join(args, " "), r)
	return r.stdout
}

// okJSON runs the CLI with -o json against s, requires it to succeed, and
// reads its answer into m.
func okJSON[M proto.Message](t *testing.T, s *server, m M, args ...string) M {
	t.Helper()
	out := s.ok(t, append(args, "-o", "json")...)
	require.NoError(t, protojson.Unmarshal([]byte(out), m), out)
	return m
}

// fails runs the CLI against s and requires it to exit with code.
func (s *server) fails(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := s.wfr(t, args...)
	require.Equal(t, code, r.code, "wfr %s: %s", strings.Join(args, " "), r)
	return r
}
