// Package redistest gives a test a client of the machine's Redis and a key
// prefix of its own, as pgtest gives it a database.
package redistest

import (
	"context"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Addr is the Redis the tests use: the machine's, started by .ci/run.
const Addr = "127.0.0.1:6379"

// New returns a client of the machine's Redis and a key prefix of the
// test's own. The test fails at once when Redis does not answer; its keys
// are deleted and the client closed when it ends.
func New(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		t.Fatalf("Redis at %s: %v", Addr, err)
	}
	prefix := "wfr_test_" + uuid.NewString()[:8] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}

// Private starts a redis-server of the test's own on a free port of
// 127.0.0.1, so that the test may stop it without disturbing any other, and
// returns its address and a stop that kills it (also run when the test ends).
func Private(t testing.TB) (addr string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = lis.Addr().String()
	lis.Close()
	_, port, _ := net.SplitHostPort(addr)
	// The server lives until stop, which the test's cleanup runs.
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()) //nolint:noctx // see above
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(5 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("redis-server on %s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, stop
}
