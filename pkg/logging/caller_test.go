package logging

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/stretchr/testify/require"
)

// logVia logs through a helper of the caller's own, as redisLogger does in
// cmd/workflow-runtime: the caller is the helper's line.
func logVia(l log.Logger) int {
	_, _, line, _ := runtime.Caller(0)
	level.Warn(l).Log("msg", "via helper")
	return line + 1
}

func TestCaller(t *testing.T) {
	t.Parallel()

	// Each case logs one line and returns the line number it logged from.
	tests := []struct {
		name string
		log  func(log.Logger) int
	}{
		{"direct Log", func(l log.Logger) int {
			_, _, line, _ := runtime.Caller(0)
			l.Log("msg", "direct")
			return line + 1
		}},
		{"level.Info", func(l log.Logger) int {
			_, _, line, _ := runtime.Caller(0)
			level.Info(l).Log("msg", "info")
			return line + 1
		}},
		{"log.With then level", func(l log.Logger) int {
			l = log.With(l, "component", "x")
			_, _, line, _ := runtime.Caller(0)
			level.Error(l).Log("msg", "with")
			return line + 1
		}},
		{"level then log.With and WithPrefix", func(l log.Logger) int {
			l = log.WithPrefix(log.With(level.Info(l), "a", "1"), "b", "2")
			_, _, line, _ := runtime.Caller(0)
			l.Log("msg", "nested")
			return line + 1
		}},
		{"wrapped by a sync logger", func(l log.Logger) int {
			l = log.NewSyncLogger(l)
			_, _, line, _ := runtime.Caller(0)
			level.Info(l).Log("msg", "sync")
			return line + 1
		}},
		{"helper", logVia},
	}
	for _, tt := range tests {
		for _, format := range []string{"json", "logfmt"} {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				t.Parallel()

				var buf bytes.Buffer
				logger, _, err := New(&buf, format, "debug", "i")
				require.NoError(t, err)
				line := tt.log(logger)

				lines := decode(t, format, buf.String())
				require.Len(t, lines, 1, "output:\n%s", buf.String())
				if want := fmt.Sprintf("caller_test.go:%d", line); lines[0]["caller"] != want {
					t.Errorf("caller = %q, want %q", lines[0]["caller"], want)
				}
			})
		}
	}
}
