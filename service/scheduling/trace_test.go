package scheduling

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/tracing/tracingtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// executions records what the Recorder writes, failing the first failures calls.
type executions struct {
	failures int
	calls    int
	traceIDs []string
	spans    []trace.SpanContext
}

func (e *executions) CreateExecution(ctx context.Context, ex *workflow.Execution) (bool, error) {
	e.calls++
	e.traceIDs = append(e.traceIDs, ex.TraceID)
	e.spans = append(e.spans, trace.SpanContextFromContext(ctx))
	if e.calls <= e.failures {
		return false, errors.New("database blinked")
	}
	return true, nil
}

// TestFireIsOneSpan checks that a fire, its retries included, is one root
// span whose trace id is the execution row's.
func TestFireIsOneSpan(t *testing.T) {
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	h := &held{ct: cronTrigger("t1", "d1", "* * * * *", 1), catchup: time.Hour}
	for _, tc := range []struct {
		name       string
		failures   int
		wantStatus codes.Code
	}{
		{"retried", 1, codes.Unset},
		{"misfired", fireAttempts, codes.Error},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := tracingtest.Install(t)
			st := &executions{failures: tc.failures}
			rec := &Recorder{Store: st}
			s := New(&fakeStore{}, rec.Record, Options{Now: func() time.Time { return now }, retryInterval: time.Millisecond})
			s.fireWithRetries(context.Background(), h, now.Add(-time.Minute), now.Add(-30*time.Second), true)

			// The provider is global: a span another test's goroutine ends
			// meanwhile (a recorder's late confirmation) may land here too.
			var fires []tracetest.SpanStub
			for _, sp := range exp.GetSpans() {
				if sp.Name == "scheduling.Fire" {
					fires = append(fires, sp)
				}
			}
			require.Len(t, fires, 1)
			fire := fires[0]
			for _, sp := range exp.GetSpans() {
				require.False(t, sp.Name != fire.Name && sp.SpanContext.TraceID() == fire.SpanContext.TraceID(),
					"the fire's trace holds %s too", sp.Name)
			}
			require.False(t, fire.Parent.IsValid(), "a fire starts its own trace")
			require.Equal(t, tc.wantStatus, fire.Status.Code)
			id := fire.SpanContext.TraceID().String()
			for i := range st.calls {
				require.Equal(t, id, st.traceIDs[i], "trace id of attempt %d's row", i+1)
				require.Equal(t, fire.SpanContext.SpanID(), st.spans[i].SpanID(), "span of attempt %d", i+1)
			}
		})
	}
}
