//go:build multiprocess

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQuickStart follows README's quick start with the real binary and no
// server behind it: WFR_DATABASE_URL, WFR_REDIS_URL and WFR_ENGINE_ADDR
// unset, in an empty directory, so that the data goes to ./data. It runs the
// README's curl commands as written (on free ports instead of 8080 and 9090),
// checks that cron executions appear within 10 s of the deployment, that the
// start names the three embedded dependencies in one line each, and that a
// second process on the same data dir refuses to start.
func TestQuickStart(t *testing.T) {
	// Parallel with the other multi-process tests: its data directory and ports are its own.
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: builds and runs the binary")
	}
	for _, tool := range []string{"bash", "curl"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the quick start needs %s", tool)
	}
	qs := readQuickStart(t)
	bin := eoBuildCommand(t, "workflow-runtime")
	work := t.TempDir()

	begin := time.Now()
	first := startIn(t, work, "first", bin)
	grpcAddr, httpAddr := first.servingAddrs(t)
	httpBase := "http://" + httpAddr
	require.Eventually(t, func() bool {
		resp, err := http.Get(httpBase + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "not ready within 10 s:\n%s", readFile(t, first.logPath))
	t.Logf("ready %v after the start", time.Since(begin).Round(time.Millisecond))

	// The start names each embedded dependency in one line.
	log := readFile(t, first.logPath)
	for _, prefix := range []string{
		`"msg":"database: embedded SQLite data/workflow-runtime.db (one replica); set WFR_DATABASE_URL=postgres://`,
		`"msg":"redis: none; this single replica`,
		`"msg":"engine: embedded engine-sim at 127.0.0.1:`,
	} {
		require.Equal(t, 1, strings.Count(log, prefix), "%s in:\n%s", prefix, log)
	}
	for _, dep := range []string{"database", "redis", "engine"} {
		require.Equal(t, 1, strings.Count(log, `"msg":"`+dep+`: `), "lines about the %s in:\n%s", dep, log)
	}
	_, err := os.Stat(filepath.Join(work, "data", sqliteFile))
	require.NoError(t, err, "the database is in ./data")

	// A second process on the same data dir stops at once, in one line.
	second := startIn(t, work, "second", bin)
	require.True(t, second.waitExit(10*time.Second), "the second process did not stop")
	require.NotEqual(t, 0, second.cmd.ProcessState.ExitCode())
	out := strings.TrimSpace(readFile(t, second.logPath))
	lastLine := out[strings.LastIndex(out, "\n")+1:]
	require.Contains(t, lastLine, fmt.Sprintf(`data dir ./data is in use: another workflow-runtime process (pid %d) holds data/workflow-runtime.lock`, first.cmd.Process.Pid))
	require.Equal(t, 1, strings.Count(out, `"level":"error"`), out)

	// Swagger UI, curl and grpcurl deploy the same workflow.
	var swagger any
	require.NoError(t, json.Unmarshal([]byte(qs.body), &swagger))
	for _, command := range []string{qs.deploy, qs.grpcurl} {
		body := regexp.MustCompile(`(?s)-d '(.*?)'`).FindStringSubmatch(command)
		require.NotNil(t, body, "no -d '...' in the README's command:\n%s", command)
		var sent any
		require.NoError(t, json.Unmarshal([]byte(body[1]), &sent))
		require.Equal(t, swagger, sent, "the README's Swagger UI body and command differ:\n%s", command)
	}

	deployed := time.Now()
	resp := runReadme(t, qs.deploy, httpAddr, grpcAddr)
	require.Contains(t, resp, `"status":"DEPLOYMENT_STATUS_DEPLOYED"`)

	type page struct {
		Executions []struct {
			WorkflowID  string `json:"workflow_id"`
			TriggerType string `json:"trigger_type"`
			Status      string `json:"status"`
		} `json:"executions"`
	}
	var seen, succeeded time.Duration
	require.Eventually(t, func() bool {
		var p page
		if err := json.Unmarshal([]byte(runReadme(t, qs.watch, httpAddr, grpcAddr)), &p); err != nil {
			return false
		}
		for _, e := range p.Executions {
			if e.WorkflowID != "hello" || e.TriggerType != "TRIGGER_TYPE_CRON" {
				continue
			}
			if seen == 0 {
				seen = time.Since(deployed)
			}
			if e.Status == "EXECUTION_STATUS_SUCCEEDED" {
				succeeded = time.Since(deployed)
				return true
			}
		}
		return false
	}, 10*time.Second, 200*time.Millisecond, "no cron execution succeeded within 10 s of the deployment:\n%s", readFile(t, first.logPath))
	t.Logf("first execution listed %v after the deployment, first success %v", seen.Round(time.Millisecond), succeeded.Round(time.Millisecond))

	require.NoError(t, first.cmd.Process.Signal(syscall.SIGTERM))
	require.True(t, first.waitExit(20*time.Second), "did not stop on SIGTERM")
	require.Equal(t, 0, first.cmd.ProcessState.ExitCode(), readFile(t, first.logPath))
}

// quickStart holds what README's quick start tells a reader to run.
type quickStart struct {
	body    string // the body pasted into Swagger UI
	deploy  string // the curl deployment
	watch   string // the curl listing of executions
	grpcurl string // the grpcurl deployment and listing
}

func readQuickStart(t *testing.T) quickStart {
	t.Helper()
	readme := readFile(t, filepath.Join(repoRoot, "README.md"))
	start := strings.Index(readme, "\n## Quick start\n")
	require.NotEqual(t, -1, start, "README has no quick start")
	section := readme[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var qs quickStart
	for _, b := range regexp.MustCompile("(?s)```(\\w*)\n(.*?)```").FindAllStringSubmatch(section, -1) {
		lang, code := b[1], strings.TrimSpace(b[2])
		switch {
		case lang == "json" && qs.body == "":
			qs.body = code
		case lang == "sh" && strings.HasPrefix(code, "curl -s -X POST localhost:8080/api/v1/deployments "):
			qs.deploy = code
		case lang == "sh" && code == "curl -s localhost:8080/api/v1/executions":
			qs.watch = code
		case lang == "sh" && strings.HasPrefix(code, "grpcurl -plaintext -d '"):
			qs.grpcurl = code
		}
	}
	require.NotEmpty(t, qs.body, "README's quick start has no Swagger UI body")
	require.NotEmpty(t, qs.deploy, "README's quick start has no curl deployment")
	require.NotEmpty(t, qs.watch, "README's quick start has no curl listing of executions")
	require.NotEmpty(t, qs.grpcurl, "README's quick start has no grpcurl deployment")
	return qs
}

// runReadme runs a README command with bash, on the test's ports.
func runReadme(t *testing.T, command, httpAddr, grpcAddr string) string {
	t.Helper()
	command = strings.NewReplacer("localhost:8080", httpAddr, "localhost:9090", grpcAddr).Replace(command)
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", command).Output()
	require.NoError(t, err, "%s", command)
	return string(out)
}

// startIn starts bin serve in dir with no WFR_ setting but the two ports.
// startIn starts bin serve in dir, on ports of 127.0.0.1 it chooses.
func startIn(t *testing.T, dir, name, bin string) *eoProc {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name+".log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = eoEnv(map[string]string{"WFR_GRPC_ADDR": "127.0.0.1:0", "WFR_HTTP_ADDR": "127.0.0.1:0"})
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	f.Close()
	p := &eoProc{name: name, logPath: f.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
