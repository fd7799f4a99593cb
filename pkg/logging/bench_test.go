package logging

import (
	"errors"
	"io"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// goKitFilter is the usual go-kit construction this package replaces: its
// valuers run before the filter sees the line.
func goKitFilter(w io.Writer) log.Logger {
	l := level.NewFilter(log.NewJSONLogger(log.NewSyncWriter(w)), level.AllowInfo())
	return log.With(l, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller, "instance_id", "i")
}

func benchLoggers(b *testing.B) map[string]log.Logger {
	l, _, err := New(io.Discard, "json", "info", "i")
	if err != nil {
		b.Fatal(err)
	}
	return map[string]log.Logger{"logging": l, "go-kit-filter": goKitFilter(io.Discard)}
}

// BenchmarkDroppedDebug measures a debug line below the level, the case the
// filter order is for.
func BenchmarkDroppedDebug(b *testing.B) {
	for name, l := range benchLoggers(b) {
		l = log.With(l, "component", "scheduler")
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				level.Debug(l).Log("msg", "slot not marked recorded", "trigger_id", "t-1")
			}
		})
	}
}

// BenchmarkWrittenLine measures a line that is written, masking included.
func BenchmarkWrittenLine(b *testing.B) {
	err := errors.New("connection refused")
	for name, l := range benchLoggers(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				level.Warn(l).Log("msg", "rpc", "method", "TriggerWorkflow", "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736",
					"code", "Unavailable", "took_ms", 1.25, "err", err)
			}
		})
	}
}
