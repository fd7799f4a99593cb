//go:build multiprocess

package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEmbeddedRestartAdoptsAtOnce kills an embedded-mode process with
// executions running in an engine of their own, restarts it on the same
// data directory and checks that the new process owns every one of them
// within a few seconds of being ready, where the lease is a minute: holding
// the data directory's lock proves their owner is gone.
func TestEmbeddedRestartAdoptsAtOnce(t *testing.T) {
	// Parallel with the other multi-process tests: its data directory, engine-sim and ports are
	// its own.
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test: builds and runs the binaries")
	}
	const (
		executions = 5
		lease      = time.Minute
		takeover   = 10 * time.Second
	)
	work := t.TempDir()
	runtimeBin, simBin := eoBuild(t)
	sim := eoStartProc(t, "engine-sim", work, simBin, eoEnv(map[string]string{
		"ENGINE_SIM_GRPC_ADDR": "127.0.0.1:0", "ENGINE_SIM_HTTP_ADDR": "127.0.0.1:0",
		"ENGINE_SIM_MIN_DURATION": "10m", "ENGINE_SIM_MAX_DURATION": "10m",
	}))
	simGRPC, simHTTP := sim.servingAddrs(t)
	eoWaitHTTP(t, sim, "http://"+simHTTP+"/healthz")
	start := func(name string) (*eoProc, string) {
		p := eoStartProc(t, name, work, runtimeBin, eoEnv(map[string]string{
			"WFR_DATA_DIR": filepath.Join(work, "data"), "WFR_ENGINE_ADDR": simGRPC, "WFR_INSTANCE_ID": name,
			"WFR_LEASE": lease.String(), "WFR_GRPC_ADDR": "127.0.0.1:0", "WFR_HTTP_ADDR": "127.0.0.1:0",
		}), "serve")
		_, httpAddr := p.servingAddrs(t)
		eoWaitHTTP(t, p, "http://"+httpAddr+"/readyz")
		return p, "http://" + httpAddr
	}
	post := func(url, body string) {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "POST %s %s", url, body)
	}

	first, api := start("first")
	post(api+"/api/v1/deployments", `{"workflow_id": "held", "workflow_definition": {"nodes": [{"id": "a", "name": "A", "type": "ACTION"}]},
		"triggers": [{"type": "TRIGGER_TYPE_MANUAL"}], "config": {"overlap_policy": "OVERLAP_POLICY_ALLOW_ALL"}}`)
	for i := range executions {
		post(api+"/api/v1/workflows/held/trigger", fmt.Sprintf(`{"idempotency_key": "k%d"}`, i))
	}
	db, err := sql.Open("sqlite", filepath.Join(work, "data", sqliteFile)+"?_query_only=1")
	require.NoError(t, err)
	defer db.Close()
	owned := func(owner string) (n int) {
		require.NoError(t, db.QueryRowContext(context.Background(), `SELECT count(*) FROM executions
WHERE status IN ('PENDING', 'RUNNING') AND owner_instance = ?`, owner).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM executions WHERE status = 'RUNNING'`).Scan(&n))
		return n == executions
	}, 20*time.Second, 50*time.Millisecond, "the executions never ran:\n%s", first.tail(40))

	require.NoError(t, first.cmd.Process.Kill())
	<-first.done
	second, _ := start("second")
	ready := time.Now()
	require.Eventually(t, func() bool { return owned("first") == 0 && owned("second") == executions },
		takeover, 50*time.Millisecond, "%d executions still the dead process's %v after the restart (lease %v):\n%s",
		owned("first"), takeover, lease, second.tail(40))
	t.Logf("the dead process's %d executions taken over %v after the restart was ready", executions,
		time.Since(ready).Round(time.Millisecond))
}
