package console

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// TestOverviewShowsBackPressure: the overview shows the replica's backlog
// waiting for the engine, its bounds, the drain, the refusals by bound and
// the last one; without back-pressure given, no such section.
func TestOverviewShowsBackPressure(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.UnaryInterceptor(f.intercept))
	pb.RegisterWorkflowRuntimeServiceServer(srv, f)
	pb.RegisterMonitoringServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	c, err := New(conn, Options{Now: func() time.Time { return testNow }, BackPressure: func() workflow.BackPressure {
		return workflow.BackPressure{
			MaxTotal: 10000, Backlog: 9876, DrainPerSecond: 412.5,
			Busiest:     []workflow.Waiting{{WorkflowID: "orders.sync", Pending: 2500}, {WorkflowID: "<b>", Pending: 3}},
			Refused:     map[string]int64{"workflow": 7, "sync": 2},
			LastRefusal: testNow, LastRefusalMessage: "workflow orders.sync has 2500 executions waiting for the engine, at its bound",
		}
	}})
	require.NoError(t, err)
	hs := httptest.NewServer(c)
	t.Cleanup(hs.Close)

	a := request(t, http.MethodGet, hs.URL+"/ui/", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	for _, want := range []string{`id="trigger-backlog">9876<`, "bound 10000 · per workflow none", "412.5/s",
		`id="refused-workflow">7<`, `id="refused-total">0<`, `id="refused-sync">2<`,
		"<code>orders.sync</code> 2500, <code>&lt;b&gt;</code> 3", "at its bound"} {
		require.Contains(t, a.body, want)
	}

	plain := serve(t, &fakeAPI{})
	a = request(t, http.MethodGet, plain.URL+"/ui/", nil, nil)
	require.NotContains(t, a.body, "h-backpressure")
}
