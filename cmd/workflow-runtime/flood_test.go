//go:build multiprocess

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// The scenario of TestFloodMemory.
const (
	floodToken = "flood-token-0123456789abcdef"
	// floodMemLimit is what the runtime sets GOMEMLIMIT to in a container
	// limited to 1 GiB, as k8s/ has it: 90 % of the limit.
	floodMemLimit = "921MiB"
	// floodBound is the peak RSS that no flood may push the process over:
	// half the container's limit.
	floodBound = 512 << 20
)

// deepJSON returns a JSON array of about size bytes whose elements nest 60
// levels deep, the costliest shape to decode per byte.
func deepJSON(size int) string {
	chain := strings.Repeat(`{"a":[`, 30) + "1" + strings.Repeat(`]}`, 30)
	var b strings.Builder
	b.WriteString("[")
	for b.Len() < size-len(chain)-2 {
		b.WriteString(chain + ",")
	}
	b.WriteString(chain + "]")
	return b.String()
}

// deployBody is a DeployWorkflow request of about size bytes of JSON.
func deployBody(size int) string {
	return `{"workflow_id":"flood","workflow_definition":{"nodes":[],"x":` + deepJSON(size-80) + `}}`
}

// deployMessage is a DeployWorkflow request of about size bytes, encoded.
func deployMessage(t *testing.T, size int) encoded {
	t.Helper()
	probe := &pb.DeployWorkflowRequest{}
	require.NoError(t, protojson.Unmarshal([]byte(deployBody(64<<10)), probe))
	perJSONByte := float64(proto.Size(probe)) / float64(64<<10)
	req := &pb.DeployWorkflowRequest{}
	require.NoError(t, protojson.Unmarshal([]byte(deployBody(int(float64(size)/perJSONByte))), req))
	b, err := proto.Marshal(req)
	require.NoError(t, err)
	return b
}

// encoded is a request message encoded once: a deeply nested message takes
// seconds to encode, which would make the flood a test of the client.
type encoded []byte

// encodedCodec sends encoded messages as they are and decodes answers.
type encodedCodec struct{}

func (encodedCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(encoded))}, nil
}

func (encodedCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func (encodedCodec) Name() string { return "proto" }

// vmHWM returns the peak resident set size of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if kb, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			require.NoError(t, err)
			return n << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestFloodMemory runs the workflow-runtime binary with tokens on and a
// memory limit as in a 1 GiB container, and floods it with large, deeply
// nested requests: without a token over HTTP (8 MiB JSON bodies, 4 then 48
// at once) and gRPC (7.5 MB messages, 8 at once), and with a token (1 MiB
// definitions, the largest valid, 8 at once on each port; 8 MiB bodies and
// 7.5 MB messages, 4 at once). It prints the process's peak RSS after each
// flood and fails when the peak passes floodBound.
//
// Build tag multiprocess: it builds the binary (never with -race, whose
// memory would swamp the figures) and needs PostgreSQL.
func TestFloodMemory(t *testing.T) {
	// Parallel with the other long multi-process tests: its figure is its own process's peak RSS, and
	// its database, Redis prefix, ports and directories are its own.
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: needs PostgreSQL")
	}
	dbURL := pgtest.NewDatabase(t)
	bin := eoBuildBinary(t, "workflow-runtime", false)
	p := eoStartProc(t, "flood", t.TempDir(), bin, eoEnv(map[string]string{
		"WFR_DATABASE_URL": dbURL,
		"WFR_GRPC_ADDR":    "127.0.0.1:0",
		"WFR_HTTP_ADDR":    "127.0.0.1:0",
		"WFR_INSTANCE_ID":  "flood",
		"WFR_AUTH_TOKENS":  floodToken,
		"WFR_LOG_LEVEL":    "info",
		"GOMEMLIMIT":       floodMemLimit,
	}), "serve")
	grpcAddr, httpAddr := p.servingAddrs(t)
	eoWaitHTTP(t, p, "http://"+httpAddr+"/readyz")
	pid := p.cmd.Process.Pid

	hc := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 64}}
	post := func(body, token string) string {
		req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/api/v1/deployments", strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			// The server may answer and close before the whole body is sent.
			return "connection closed"
		}
		resp.Body.Close()
		return strconv.Itoa(resp.StatusCode)
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	deploy := func(req encoded, token string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		err := conn.Invoke(ctx, pb.WorkflowRuntimeService_DeployWorkflow_FullMethodName, req, &pb.DeployWorkflowResponse{},
			grpc.ForceCodecV2(encodedCodec{}))
		return status.Code(err).String()
	}

	big, valid := deployBody(8<<20-1024), deployBody(1<<20)
	bigMsg, validMsg := deployMessage(t, 7_500_000), deployMessage(t, 1<<20)
	t.Logf("bodies: %d and %d bytes of JSON; messages: %d and %d bytes of protobuf", len(big), len(valid), len(bigMsg), len(validMsg))
	floods := []struct {
		name  string
		calls int
		call  func() string
	}{
		{"HTTP 8 MiB deep JSON x4, no token", 4, func() string { return post(big, "") }},
		{"HTTP 8 MiB deep JSON x48, no token", 48, func() string { return post(big, "") }},
		{"gRPC 7.5 MB x8, no token", 8, func() string { return deploy(bigMsg, "") }},
		{"HTTP 1 MiB definitions x8, token", 8, func() string { return post(valid, floodToken) }},
		{"gRPC 1 MiB definitions x8, token", 8, func() string { return deploy(validMsg, floodToken) }},
		{"HTTP 8 MiB deep JSON x4, token", 4, func() string { return post(big, floodToken) }},
		{"gRPC 7.5 MB x4, token", 4, func() string { return deploy(bigMsg, floodToken) }},
	}
	var report bytes.Buffer
	fmt.Fprintf(&report, "peak RSS (VmHWM) of workflow-runtime, GOMEMLIMIT=%s, bound %d MiB:\n", floodMemLimit, floodBound>>20)
	fmt.Fprintf(&report, "  %-40s %5d MiB\n", "started", vmHWM(t, pid)>>20)
	for _, f := range floods {
		begin := time.Now()
		outcomes := map[string]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range f.calls {
			wg.Go(func() {
				o := f.call()
				mu.Lock()
				outcomes[o]++
				mu.Unlock()
			})
		}
		wg.Wait()
		peak := vmHWM(t, pid)
		fmt.Fprintf(&report, "  %-40s %5d MiB  answers %v in %v\n", f.name, peak>>20, outcomes, time.Since(begin).Round(time.Millisecond))
		require.False(t, p.exited(), "the process died in %s:\n%s", f.name, p.tail(20))
		// Stop at the first flood over the bound: the next would only take
		// more of the machine.
		require.Less(t, peak, int64(floodBound), "peak RSS above the bound:\n%s", report.String())
	}
	t.Log(report.String())
}
