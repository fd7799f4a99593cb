package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestLockDataDir: a second holder of the data dir is refused, in one line
// that names the dir, the holder and the way out, until the first releases it.
func TestLockDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	release, err := lockDataDir(dir)
	require.NoError(t, err)

	_, err = lockDataDir(dir)
	require.Error(t, err)
	want := fmt.Sprintf("data dir %s is in use: another workflow-runtime process (pid %d) holds %s, and the embedded database serves one process; "+
		"stop that one, set WFR_DATA_DIR to another directory, or set WFR_DATABASE_URL to share PostgreSQL between replicas",
		dir, os.Getpid(), filepath.Join(dir, lockFile))
	require.Equal(t, want, err.Error())
	require.NotContains(t, err.Error(), "\n")

	release()
	again, err := lockDataDir(dir)
	require.NoError(t, err, "a released data dir is free")
	again()
}

// TestLockDataDirNotADirectory: a data dir that cannot be made fails the lock.
func TestLockDataDirNotADirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err := lockDataDir(filepath.Join(file, "data"))
	require.ErrorContains(t, err, "data dir: ")
}

func TestPidNote(t *testing.T) {
	t.Parallel()
	require.Equal(t, " (pid 42)", pidNote([]byte("42\n")))
	require.Empty(t, pidNote(nil), "a lock file not yet written names no one")
	require.Empty(t, pidNote([]byte("garbage")))
}

func TestRedisLine(t *testing.T) {
	t.Parallel()
	pg := "postgres://u:secret@db/x"
	for _, tt := range []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{DatabaseURL: pg, RedisURL: "redis://:secret@cache:6379/0", CronMode: "sharded"},
			"redis: redis://:xxxxx@cache:6379/0 holds the workflow and slot locks, carries changes between replicas and shares the cron triggers among the live ones"},
		{config.Config{DatabaseURL: pg, RedisURL: "redis://:secret@cache:6379/0", CronMode: "all"},
			"redis: redis://:xxxxx@cache:6379/0 holds the workflow and slot locks and carries changes between replicas; every replica fires every cron trigger"},
		{config.Config{},
			"redis: none; this single replica decides slots and overlaps in its database and applies its changes at once; set WFR_REDIS_URL=redis://127.0.0.1:6379/0, with WFR_DATABASE_URL, to run several replicas"},
		{config.Config{DatabaseURL: pg, ResyncInterval: 30 * time.Second},
			"redis: none; every replica fires every cron trigger, PostgreSQL decides slots and overlaps, and replicas learn of changes at each resync (every 30s); set WFR_REDIS_URL=redis://127.0.0.1:6379/0 for locks and change fan-out"},
	} {
		require.Equal(t, tt.want, redisLine(tt.cfg))
	}
}

// TestEngineLine: the start names the engine in one line, embedded or not.
func TestEngineLine(t *testing.T) {
	t.Parallel()
	var buf logtest.Buffer
	_, stop, err := engineClient(config.Config{}, log.NewLogfmtLogger(&buf))
	require.NoError(t, err)
	stop()
	_, stop, err = engineClient(config.Config{EngineAddr: "127.0.0.1:1"}, log.NewLogfmtLogger(&buf))
	require.NoError(t, err)
	stop()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	require.Regexp(t, `^level=info msg="engine: embedded engine-sim at 127\.0\.0\.1:\d+ \(executions succeed after 200ms to 2s\); set WFR_ENGINE_ADDR=host:port for a real engine"$`, lines[0])
	require.Equal(t, `level=info msg="engine: 127.0.0.1:1"`, lines[1])
}

// TestOpenStorePostgres: PostgreSQL is opened, migrated unless told not to,
// and named in one line; an unreachable one fails the start.
func TestOpenStorePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	for _, noMigrate := range []bool{false, true} {
		var buf logtest.Buffer
		url := pgtest.NewDatabase(t)
		st, err := openStore(ctx, config.Config{DatabaseURL: url, NoMigrate: noMigrate}, log.NewLogfmtLogger(&buf))
		require.NoError(t, err)
		require.NoError(t, st.Ping(ctx))
		if noMigrate {
			require.Contains(t, buf.String(), `msg="migrations skipped (--no-migrate)"`)
		} else {
			require.Contains(t, buf.String(), `msg="migrations applied"`)
			_, err = st.traced().ListDeployments(ctx, workflow.ListFilter{})
			require.NoError(t, err)
			_, err = st.UnfinishedByStatus(ctx)
			require.NoError(t, err)
		}
		require.Equal(t, 1, strings.Count(buf.String(), `msg="database: PostgreSQL postgres://`))
		// PostgreSQL takes several replicas: no lock keeps a second one out.
		other, err := openStore(ctx, config.Config{DatabaseURL: url, NoMigrate: true}, log.NewNopLogger())
		require.NoError(t, err)
		other.close()
		st.close()
	}

	_, err := openStore(ctx, config.Config{DatabaseURL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}, log.NewNopLogger())
	require.ErrorContains(t, err, "database: ")
}
