package logging

import (
	"bytes"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
)

func TestLevelSet(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	logger, lvl, err := New(&buf, "json", "info", "i")
	require.NoError(t, err)
	require.Equal(t, "info", lvl.String())
	require.Equal(t, "info", lvl.Configured())

	level.Debug(logger).Log("msg", "dropped at info")
	require.NoError(t, lvl.Set("debug", "test"))
	level.Debug(logger).Log("msg", "kept at debug")
	require.NoError(t, lvl.Set("error", "test"))
	level.Warn(logger).Log("msg", "dropped at error")

	err = lvl.Set("verbose", "test")
	require.EqualError(t, err, `logging: unknown level "verbose"`)
	require.Equal(t, "error", lvl.String(), "a bad level changes nothing")

	lvl.Reset("test reset")
	require.Equal(t, "info", lvl.String())
	require.Equal(t, "info", lvl.Configured())

	var got []map[string]string
	for _, line := range decode(t, "json", buf.String()) {
		delete(line, "ts")
		delete(line, "caller")
		delete(line, "instance_id")
		got = append(got, line)
	}
	// The change to error is written although error drops info lines.
	want := []map[string]string{
		{"level": "info", "msg": "log level changed", "from": "info", "to": "debug", "by": "test"},
		{"level": "debug", "msg": "kept at debug"},
		{"level": "info", "msg": "log level changed", "from": "debug", "to": "error", "by": "test"},
		{"level": "info", "msg": "log level changed", "from": "error", "to": "info", "by": "test reset"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines mismatch (-want +got):\n%s", diff)
	}
}

// The change line names the code that asked for the change.
func TestLevelSetCaller(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	_, lvl, err := New(&buf, "logfmt", "info", "i")
	require.NoError(t, err)
	require.NoError(t, lvl.Set("warn", "test"))
	lines := decode(t, "logfmt", buf.String())
	require.Len(t, lines, 1)
	require.Regexp(t, `^level_test\.go:\d+$`, lines[0]["caller"])
}

func TestLinesWithoutLevelPass(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	logger, _, err := New(&buf, "json", "error", "i")
	require.NoError(t, err)
	logger.Log("msg", "no level")
	level.Info(logger).Log("msg", "dropped")
	lines := decode(t, "json", buf.String())
	require.Len(t, lines, 1)
	require.Equal(t, "no level", lines[0]["msg"])
}

// SIGUSR1 raises the level to debug, SIGUSR2 restores the configured one.
// Not parallel: signals reach the whole process.
func TestNotifySignals(t *testing.T) {
	var buf logtest.Buffer
	_, lvl, err := New(&buf, "json", "warn", "i")
	require.NoError(t, err)
	stop := lvl.NotifySignals()
	defer stop()

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	require.Eventually(t, func() bool { return lvl.String() == "debug" }, 5*time.Second, time.Millisecond)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
	require.Eventually(t, func() bool { return lvl.String() == "warn" }, 5*time.Second, time.Millisecond)
	stop()
	stop() // stopping twice is harmless

	var got []map[string]string
	for _, line := range decode(t, "json", buf.String()) {
		require.Regexp(t, `^level\.go:\d+$`, line["caller"])
		got = append(got, map[string]string{"to": line["to"], "by": line["by"]})
	}
	want := []map[string]string{{"to": "debug", "by": "SIGUSR1"}, {"to": "warn", "by": "SIGUSR2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("change lines mismatch (-want +got):\n%s", diff)
	}
}

// Changing the level while lines are logged is safe (run with -race).
func TestLevelConcurrent(t *testing.T) {
	t.Parallel()

	logger, lvl, err := New(io.Discard, "json", "info", "i")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				level.Debug(logger).Log("msg", "x")
				level.Info(log.With(logger, "k", "v")).Log("msg", "y")
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			require.NoError(t, lvl.Set(levelNames[i%len(levelNames)], "test"))
		}
	})
	wg.Wait()
}

// A dropped line costs no more than a line to a logger that writes nothing:
// the filter runs before the timestamp and the caller are taken.
func TestDroppedLineAllocations(t *testing.T) {
	logger, _, err := New(io.Discard, "json", "info", "i")
	require.NoError(t, err)
	dropped := level.Debug(log.With(logger, "component", "c"))
	nop := level.Debug(log.With(log.NewNopLogger(), "component", "c"))

	got := testing.AllocsPerRun(100, func() { dropped.Log("msg", "m", "n", 1) })
	want := testing.AllocsPerRun(100, func() { nop.Log("msg", "m", "n", 1) })
	if got > want {
		t.Errorf("a dropped line allocates %v times, a no-op logger %v", got, want)
	}
}
