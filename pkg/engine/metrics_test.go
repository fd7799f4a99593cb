package engine

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// recorded keeps what the fake metrics saw, by series: the metric name and
// its label values.
type recorded struct {
	mu     sync.Mutex
	counts map[string]float64
	obs    map[string][]float64
}

func newRecorded() *recorded {
	return &recorded{counts: map[string]float64{}, obs: map[string][]float64{}}
}

func (r *recorded) metrics() Metrics {
	return Metrics{Duration: fakeHistogram{r: r, name: "duration"}, Errors: fakeCounter{r: r, name: "errors"}}
}

func (r *recorded) count(series string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[series]
}

func (r *recorded) observations(series string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.obs[series]
}

func seriesName(name string, labels []string) string {
	return name + "{" + strings.Join(labels, ",") + "}"
}

type fakeCounter struct {
	r      *recorded
	name   string
	labels []string
}

func (c fakeCounter) With(lv ...string) metrics.Counter {
	return fakeCounter{r: c.r, name: c.name, labels: append(append([]string(nil), c.labels...), lv...)}
}

func (c fakeCounter) Add(d float64) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.r.counts[seriesName(c.name, c.labels)] += d
}

type fakeHistogram struct {
	r      *recorded
	name   string
	labels []string
}

func (h fakeHistogram) With(lv ...string) metrics.Histogram {
	return fakeHistogram{r: h.r, name: h.name, labels: append(append([]string(nil), h.labels...), lv...)}
}

func (h fakeHistogram) Observe(v float64) {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	k := seriesName(h.name, h.labels)
	h.r.obs[k] = append(h.r.obs[k], v)
}

// answering is a Client answering every call with err, and with its
// accepted and status values, after took on clock.
type answering struct {
	accepted Accepted
	status   Status
	err      error
	clock    *clock.Fake
	took     time.Duration
}

func (a answering) Execute(context.Context, ExecuteRequest) (Accepted, error) {
	a.clock.Advance(a.took)
	return a.accepted, a.err
}

func (a answering) Status(context.Context, string) (Status, error) {
	a.clock.Advance(a.took)
	return a.status, a.err
}

func (a answering) Cancel(context.Context, string, string) error {
	a.clock.Advance(a.took)
	return a.err
}

func TestInstrumentRecordsEachCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		err    error
		reason string
	}{
		{"ok", nil, ""},
		{"unreachable", errors.E(errors.Op("engine.Execute"), errors.Unavailable, fmt.Errorf("engine unavailable after 3 attempt(s)")), ReasonUnavailable},
		{"breaker open", errors.E(errors.Op("engine.Execute"), errors.Unavailable, ErrCircuitOpen), ReasonCircuitOpen},
		{"refused", errors.E(errors.Op("engine.Cancel"), errors.FailedPrecondition, fmt.Errorf("%w: already finished", ErrRejected)), ReasonRejected},
		{"caller canceled", errors.E(errors.Op("engine.Status"), context.Canceled), ReasonCanceled},
		{"caller deadline", errors.E(errors.Op("engine.Status"), context.DeadlineExceeded), ReasonCanceled},
		{"other answer", errors.E(errors.Op("engine.Status"), errors.Internal, errors.New("permission denied")), ReasonError},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRecorded()
			next := answering{
				accepted: Accepted{EngineExecutionID: "eng-1"},
				status:   Status{State: "RUNNING", Found: true},
				err:      c.err,
				clock:    clock.NewFake(time.Unix(0, 0)), took: 1500 * time.Millisecond,
			}
			m := r.metrics()
			m.Now = next.clock.Now
			eng := Instrument(next, m)

			a, err := eng.Execute(ctx, ExecuteRequest{ExecutionID: "x"})
			require.Equal(t, next.accepted, a)
			require.Equal(t, c.err, err)
			s, err := eng.Status(ctx, "eng-1")
			require.Equal(t, next.status, s)
			require.Equal(t, c.err, err)
			require.Equal(t, c.err, eng.Cancel(ctx, "eng-1", "why"))

			outcome := "ok"
			if c.err != nil {
				outcome = c.reason
			}
			for _, m := range Methods {
				obs := r.observations(seriesName("duration", []string{"method", m, "outcome", outcome}))
				require.Equal(t, []float64{1.5}, obs, m)
				want := 0.0
				if c.err != nil {
					want = 1
				}
				require.Equal(t, want, r.count(seriesName("errors", []string{"method", m, "reason", c.reason})), m)
			}
		})
	}
}

// TestInstrumentOverGRPC classifies the gRPC client's real errors: an
// engine's refusal, and an engine that cannot be reached.
func TestInstrumentOverGRPC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	f := &fakeEngine{cancel: failFirst[*pb.CancelExecutionRequest](0, codes.OK, &pb.CancelExecutionResponse{Message: "already finished"})}
	c, _ := start(t, f, Options{})
	r := newRecorded()
	require.ErrorIs(t, Instrument(c, r.metrics()).Cancel(ctx, "eng-1", "timeout"), ErrRejected)
	require.Equal(t, 1.0, r.count(seriesName("errors", []string{"method", MethodCancel, "reason", ReasonRejected})))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	c, _ = newClient(t, addr, Options{MaxAttempts: 2})
	r = newRecorded()
	_, err = Instrument(c, r.metrics()).Status(ctx, "eng-1")
	require.Error(t, err)
	require.Equal(t, 1.0, r.count(seriesName("errors", []string{"method", MethodStatus, "reason", ReasonUnavailable})))
	require.Len(t, r.observations(seriesName("duration", []string{"method", MethodStatus, "outcome", ReasonUnavailable})), 1)
}
