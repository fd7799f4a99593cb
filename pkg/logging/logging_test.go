package logging

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// decode parses every line of out, written in format, into key-value maps.
func decode(t *testing.T, format, out string) []map[string]string {
	t.Helper()
	var lines []map[string]string
	switch format {
	case "json":
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var m map[string]any
			require.NoError(t, dec.Decode(&m))
			line := map[string]string{}
			for k, v := range m {
				s, ok := v.(string)
				require.True(t, ok, "key %q holds %T, want a string", k, v)
				line[k] = s
			}
			lines = append(lines, line)
		}
	case "logfmt":
		for text := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
			if text != "" {
				lines = append(lines, parseLogfmt(t, text))
			}
		}
	default:
		t.Fatalf("unknown format %q", format)
	}
	return lines
}

func TestNewStampsEveryLine(t *testing.T) {
	t.Parallel()

	for _, format := range []string{"json", "logfmt"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()

			var buf bytes.Buffer
			logger, _, err := New(&buf, format, "info", "replica-7")
			require.NoError(t, err)

			before := time.Now().UTC().Add(-time.Second)
			require.NoError(t, level.Info(logger).Log("msg", "hello world", "k", "v"))
			after := time.Now().UTC().Add(time.Second)

			lines := decode(t, format, buf.String())
			require.Len(t, lines, 1, "output:\n%s", buf.String())
			got := lines[0]

			ts, err := time.Parse(time.RFC3339Nano, got["ts"])
			require.NoError(t, err, "ts %q", got["ts"])
			if ts.Before(before) || ts.After(after) || ts.Location() != time.UTC {
				t.Errorf("ts = %v, want a UTC time near now", ts)
			}
			// The caller is the line that logged, not a line of package logging or go-kit.
			if !strings.HasPrefix(got["caller"], "logging_test.go:") {
				t.Errorf("caller = %q, want logging_test.go:<line>", got["caller"])
			}
			delete(got, "ts")
			delete(got, "caller")

			want := map[string]string{"level": "info", "instance_id": "replica-7", "msg": "hello world", "k": "v"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("line mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewLevelFilter(t *testing.T) {
	t.Parallel()

	logAt := map[string]func(log.Logger) log.Logger{
		"debug": level.Debug,
		"info":  level.Info,
		"warn":  level.Warn,
		"error": level.Error,
	}
	order := []string{"debug", "info", "warn", "error"}

	tests := []struct {
		minLevel string
		want     []string
	}{
		{"debug", []string{"debug", "info", "warn", "error"}},
		{"info", []string{"info", "warn", "error"}},
		{"warn", []string{"warn", "error"}},
		{"error", []string{"error"}},
	}
	for _, tt := range tests {
		for _, format := range []string{"json", "logfmt"} {
			t.Run(format+"/"+tt.minLevel, func(t *testing.T) {
				t.Parallel()

				var buf bytes.Buffer
				logger, _, err := New(&buf, format, tt.minLevel, "i")
				require.NoError(t, err)
				for _, l := range order {
					require.NoError(t, logAt[l](logger).Log("msg", "at "+l))
				}

				var got []string
				for _, line := range decode(t, format, buf.String()) {
					got = append(got, line["level"])
					if line["msg"] != "at "+line["level"] {
						t.Errorf("line at level %q has msg %q", line["level"], line["msg"])
					}
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("levels written mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, format, level, wantErr string
	}{
		{"unknown format", "text", "info", `logging: unknown format "text"`},
		{"empty format", "", "info", `logging: unknown format ""`},
		{"unknown level", "json", "trace", `logging: unknown level "trace"`},
		{"level is case-sensitive", "logfmt", "INFO", `logging: unknown level "INFO"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var buf bytes.Buffer
			logger, lvl, err := New(&buf, tt.format, tt.level, "i")
			require.Error(t, err)
			if lvl != nil {
				t.Errorf("New() level = %v, want nil on error", lvl)
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("New() error mismatch (-want +got):\n%s", diff)
			}
			if logger != nil {
				t.Errorf("New() logger = %v, want nil on error", logger)
			}
		})
	}
}

// parseLogfmt parses one logfmt line of key=value pairs, values bare or double-quoted.
func parseLogfmt(t *testing.T, text string) map[string]string {
	t.Helper()
	line := map[string]string{}
	for text != "" {
		eq := strings.IndexByte(text, '=')
		require.GreaterOrEqual(t, eq, 1, "no key=value at %q", text)
		key := text[:eq]
		text = text[eq+1:]
		var value string
		if strings.HasPrefix(text, `"`) {
			end := 1
			for ; end < len(text) && text[end] != '"'; end++ {
				if text[end] == '\\' {
					end++
				}
			}
			require.Less(t, end, len(text), "unterminated quote in %q", text)
			var err error
			value, err = strconv.Unquote(text[:end+1])
			require.NoError(t, err)
			text = text[end+1:]
		} else {
			end := strings.IndexByte(text, ' ')
			if end < 0 {
				end = len(text)
			}
			value, text = text[:end], text[end:]
		}
		line[key] = value
		text = strings.TrimPrefix(text, " ")
	}
	return line
}
