//go:build multiprocess

package main

import (
	"fmt"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

// cluster is what the multi-process tests of several replicas share: the
// binaries, one PostgreSQL database, a Redis key prefix of their own (deleted
// at the end), engine-sim, and every process started, whose logs are printed
// when the test fails.
type cluster struct {
	t                  *testing.T
	logDir, runtimeBin string
	dbURL, prefix      string
	sim                *eoProc
	simGRPC, simHTTP   string
	procs              []*eoProc
}

// newCluster builds the binaries and starts engine-sim with simEnv added to
// its listen addresses.
func newCluster(t *testing.T, name string, simEnv map[string]string) *cluster {
	t.Helper()
	runtimeBin, simBin := eoBuild(t)
	c := &cluster{
		t: t, logDir: t.TempDir(), runtimeBin: runtimeBin, dbURL: pgtest.NewDatabase(t),
		prefix: fmt.Sprintf("wfr_%s_%d_%d:", name, os.Getpid(), time.Now().UnixNano()),
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() {
		if _, err := eoDeleteKeys(rdb, c.prefix); err != nil {
			t.Errorf("deleting Redis keys %s*: %v", c.prefix, err)
		}
		_ = rdb.Close()
	})
	eoLogsOnFailure(t, func() []*eoProc { return c.procs })

	env := map[string]string{"ENGINE_SIM_GRPC_ADDR": "127.0.0.1:0", "ENGINE_SIM_HTTP_ADDR": "127.0.0.1:0"}
	maps.Copy(env, simEnv)
	c.sim = eoStartProc(t, "engine-sim", c.logDir, simBin, eoEnv(env))
	c.procs = append(c.procs, c.sim)
	c.simGRPC, c.simHTTP = c.sim.servingAddrs(t)
	eoWaitHTTP(t, c.sim, "http://"+c.simHTTP+"/healthz")
	return c
}

// replica starts a replica named name on the cluster's database, Redis and
// engine, with extra settings, and waits until it is ready. It returns the
// process and its gRPC address.
func (c *cluster) replica(name string, extra map[string]string) (*eoProc, string) {
	c.t.Helper()
	env := map[string]string{
		"WFR_DATABASE_URL": c.dbURL, "WFR_REDIS_URL": "redis://127.0.0.1:6379/0", "WFR_REDIS_PREFIX": c.prefix,
		"WFR_GRPC_ADDR": "127.0.0.1:0", "WFR_HTTP_ADDR": "127.0.0.1:0", "WFR_ENGINE_ADDR": c.simGRPC,
		"WFR_INSTANCE_ID": name, "WFR_DRAIN_DELAY": "0s",
	}
	maps.Copy(env, extra)
	p := eoStartProc(c.t, name, c.logDir, c.runtimeBin, eoEnv(env), "serve")
	c.procs = append(c.procs, p)
	grpcAddr, httpAddr := p.servingAddrs(c.t)
	eoWaitHTTP(c.t, p, "http://"+httpAddr+"/readyz")
	return p, grpcAddr
}

// checkLogs fails the test when a process logged a data race, a panic or a
// fatal error.
func (c *cluster) checkLogs() {
	c.t.Helper()
	for _, p := range c.procs {
		for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
			require.Zero(c.t, eoCountLines(p.logPath, bad), "%s's log has %q:\n%s", p.name, bad, eoGrep([]*eoProc{p}, 60, bad))
		}
	}
}
