package logging

import (
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
)

func TestThrottled(t *testing.T) {
	t.Parallel()

	out := &logtest.Buffer{}
	now := time.Unix(0, 0)
	th := NewThrottled(log.NewLogfmtLogger(out), 1, 2)
	th.now = func() time.Time { return now }
	for i := range 5 {
		require.NoError(t, th.Log("msg", "refused", "i", i))
	}
	now = now.Add(time.Second)
	require.NoError(t, th.Log("msg", "refused", "i", 5))
	want := "msg=refused i=0\nmsg=refused i=1\nmsg=refused i=5 suppressed=3\n"
	require.Equal(t, want, out.String())
}

func TestTruncate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "/api/v1", 10, "/api/v1"},
		{"exact", "abcd", 4, "abcd"},
		{"long", strings.Repeat("a", 20), 8, "aaaaaaaa...(20 bytes)"},
		{"rune boundary", "aaaé" + strings.Repeat("b", 10), 4, "aaa...(15 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Truncate(tt.in, tt.n))
		})
	}
}
