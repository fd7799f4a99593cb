package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

// tcpProxy forwards the connections it accepts on a loopback port to target.
// Cut closes every connection and refuses new ones until Heal: a database
// that goes away, without stopping the server others use.
type tcpProxy struct {
	lis    net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{lis: lis, target: target, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.serve()
	}()
	t.Cleanup(func() {
		lis.Close()
		<-done
		p.Cut()
	})
	return p
}

func (p *tcpProxy) serve() {
	for {
		down, err := p.lis.Accept()
		if err != nil {
			return
		}
		go p.forward(down)
	}
}

func (p *tcpProxy) forward(down net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		down.Close()
		return
	}
	if !p.track(down, up) {
		down.Close()
		up.Close()
		return
	}
	var wg sync.WaitGroup
	for _, pair := range [][2]net.Conn{{up, down}, {down, up}} {
		wg.Go(func() {
			_, _ = io.Copy(pair[0], pair[1])
			// One side's end ends both, as a real disconnect would.
			pair[0].Close()
			pair[1].Close()
		})
	}
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, down)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track records a forwarded pair, unless the proxy is cut.
func (p *tcpProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// Cut drops every connection and refuses new ones.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Heal forwards new connections again.
func (p *tcpProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// healthState is what a load balancer and an operator see of a replica.
type healthState struct {
	healthCode int
	health     map[string]any
	readyCode  int
	grpc       healthpb.HealthCheckResponse_ServingStatus
}

func (s *stack) healthState(t *testing.T) healthState {
	t.Helper()
	var hs healthState
	resp, err := http.Get(s.httpBase + "/health")
	require.NoError(t, err)
	hs.healthCode = resp.StatusCode
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&hs.health))
	resp.Body.Close()
	resp, err = http.Get(s.httpBase + "/readyz")
	require.NoError(t, err)
	hs.readyCode = resp.StatusCode
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(s.conn)
	whole, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	hs.grpc = whole.GetStatus()
	svc, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "workflowruntime.v1.WorkflowRuntimeService"})
	require.NoError(t, err)
	require.Equal(t, hs.grpc, svc.GetStatus(), "the service reads as the whole")
	return hs
}

func (hs healthState) dependency(name string) string {
	return hs.health["dependencies"].(map[string]any)[name].(map[string]any)["status"].(string)
}

// TestDatabaseCutWhileServing: with PostgreSQL unreachable, /health says
// unhealthy (503), /readyz 503 and gRPC health NOT_SERVING; once it is
// reachable again, all three say so, without a restart.
func TestDatabaseCutWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	proxy := startProxy(t, u.Host)
	u.Host = proxy.lis.Addr().String()
	s := startStack(t, map[string]string{"WFR_DATABASE_URL": u.String()})

	hs := s.healthState(t)
	require.Equal(t, http.StatusOK, hs.healthCode)
	require.Equal(t, "healthy", hs.health["status"])
	require.Equal(t, http.StatusOK, hs.readyCode)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hs.grpc)

	// A cut is seen by the next probe: no interval to wait for.
	proxy.Cut()
	hs = s.healthState(t)
	require.Equal(t, http.StatusServiceUnavailable, hs.healthCode)
	require.Equal(t, "unhealthy", hs.health["status"])
	require.Equal(t, "unhealthy", hs.dependency("database"))
	require.Equal(t, "healthy", hs.dependency("redis"))
	require.Equal(t, http.StatusServiceUnavailable, hs.readyCode)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, hs.grpc)

	proxy.Heal()
	// The pool may hold connections the cut broke; the database counts as
	// back once a new one answers.
	require.Eventually(t, func() bool {
		hs = s.healthState(t)
		return hs.health["status"] == "healthy"
	}, 10*time.Second, 50*time.Millisecond, "health never came back: %v", hs.health)
	require.Equal(t, http.StatusOK, hs.healthCode)
	require.Equal(t, http.StatusOK, hs.readyCode)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hs.grpc)

	require.NoError(t, s.stop())
}

// TestHealthWatchDoesNotHoldTheDrain: a client watching gRPC health (as
// client-side health checking does) sees NOT_SERVING when the replica stops,
// and its stream ends, so that the drain does not wait for the shutdown
// deadline.
func TestHealthWatchDoesNotHoldTheDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	// Far beyond what s.stop waits: a drain held by the stream fails the test.
	s := startStack(t, map[string]string{"WFR_SHUTDOWN_TIMEOUT": "60s"})
	stream, err := healthpb.NewHealthClient(s.conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	got, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, got.GetStatus())

	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	got, err = stream.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, got.GetStatus())
	_, err = stream.Recv()
	requireCode(t, err, codes.Unavailable)
	require.NoError(t, <-stopped)
}
