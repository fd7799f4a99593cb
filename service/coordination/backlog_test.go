package coordination

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// counts is the database's answer to the backlog's count, set by the test:
// these tests are of the backlog's arithmetic, the store's query has its
// own in the store contract.
type counts func() []store.WorkflowBacklog

func (c counts) PendingBacklog(context.Context, time.Time) ([]store.WorkflowBacklog, error) {
	return c(), nil
}

// pending is a count of the given workflows, none waiting for its turn.
func pending(kv ...any) []store.WorkflowBacklog {
	var out []store.WorkflowBacklog
	for i := 0; i < len(kv); i += 2 {
		out = append(out, store.WorkflowBacklog{WorkflowID: kv[i].(string), Pending: int64(kv[i+1].(int))})
	}
	return out
}

// byBound is a counter labelled bound alone that keeps its counts.
type byBound struct {
	mu    sync.Mutex
	bound string
	n     map[string]float64
	root  *byBound
}

func (c *byBound) With(labelValues ...string) metrics.Counter {
	return &byBound{bound: labelValues[1], root: c}
}

func (c *byBound) Add(d float64) {
	c.root.mu.Lock()
	defer c.root.mu.Unlock()
	c.root.n[c.bound] += d
}

func (c *byBound) get(bound string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[bound]
}

// accept takes a place in b and keeps it, as a trigger that wrote its
// execution does.
func accept(b *Backlog, workflowID string, syncTimeout time.Duration) (Room, error) {
	room, err := b.Reserve(workflowID, syncTimeout)
	if err == nil {
		room.Keep(true)
	}
	return room, err
}

// refusedFor requires err to be a refusal with retry advice after, whose
// message says want.
func refusedFor(t *testing.T, err error, after time.Duration, want string) {
	t.Helper()
	require.Equal(t, errors.ResourceExhausted, errors.KindOf(err), "%v", err)
	var e *errors.Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, after, e.RetryAfter, "%v", err)
	require.ErrorContains(t, err, want)
}

func TestBacklogBounds(t *testing.T) {
	t.Parallel()
	now := clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	rows := pending("wf-a", 3, "wf-b", 5)
	refused := &byBound{n: map[string]float64{}}
	b := NewBacklog(counts(func() []store.WorkflowBacklog { return rows }),
		BacklogOptions{MaxTotal: 10, MaxPerWorkflow: 4, Now: now.Now, Metrics: BacklogMetrics{Refused: refused}})
	require.NoError(t, b.Count(context.Background()))

	_, err := accept(b, "wf-a", 0)
	require.NoError(t, err, "3 of 4")
	_, err = accept(b, "wf-a", 0)
	refusedFor(t, err, maxRetryAfter, "workflow wf-a has 4 executions waiting for the engine, at its bound of 4 (WFR_BACKLOG_MAX_PER_WORKFLOW): retry in 30s")

	room, err := b.Reserve("wf-c", 0)
	require.NoError(t, err, "9 of 10, its write not ended")
	_, err = accept(b, "wf-d", 0)
	refusedFor(t, err, maxRetryAfter, "10 executions wait for the engine, at the bound of 10 for all workflows (WFR_BACKLOG_MAX): retry in 30s")
	room.Keep(false)
	_, err = accept(b, "wf-d", 0)
	require.NoError(t, err, "a place given back is free again")

	require.InDelta(t, 1, refused.get(BoundWorkflow), 0)
	require.InDelta(t, 1, refused.get(BoundTotal), 0)
	bp := b.BackPressure()
	require.Equal(t, int64(10), bp.Backlog)
	require.Equal(t, []workflow.Waiting{{WorkflowID: "wf-b", Pending: 5}, {WorkflowID: "wf-a", Pending: 4}, {WorkflowID: "wf-d", Pending: 1}}, bp.Busiest)
	require.Equal(t, map[string]int64{BoundWorkflow: 1, BoundTotal: 1}, bp.Refused)
	require.Equal(t, now.Now(), bp.LastRefusal)
	require.Contains(t, bp.LastRefusalMessage, "(WFR_BACKLOG_MAX)")

	// The next count holds what was accepted; what left makes room.
	rows = pending("wf-a", 1, "wf-b", 5, "wf-d", 1)
	now.Advance(time.Second)
	require.NoError(t, b.Count(context.Background()))
	require.Equal(t, int64(7), b.BackPressure().Backlog)
	_, err = accept(b, "wf-a", 0)
	require.NoError(t, err)

	var unbounded *Backlog
	room, err = unbounded.Reserve("wf-a", time.Second)
	require.NoError(t, err, "no backlog, no bound")
	room.Keep(false)
	require.Equal(t, workflow.BackPressure{}, unbounded.BackPressure())
}

// TestBacklogRetryAdvice: the advice is the time for the backlog over the
// bound to leave at the drain rate measured between counts, clamped to
// 1–30 s; a workflow's share of the drain is its share of the backlog.
func TestBacklogRetryAdvice(t *testing.T) {
	t.Parallel()
	now := clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	rows := pending("wf-a", 60, "wf-b", 60)
	b := NewBacklog(counts(func() []store.WorkflowBacklog { return rows }), BacklogOptions{MaxTotal: 40, MaxPerWorkflow: 25, Now: now.Now})
	require.NoError(t, b.Count(context.Background()))
	_, err := accept(b, "wf-a", 0)
	refusedFor(t, err, maxRetryAfter, "at its bound of 25")

	// 40 left in two seconds, and this replica accepted none: 20 a second.
	rows = pending("wf-a", 40, "wf-b", 40)
	now.Advance(2 * time.Second)
	require.NoError(t, b.Count(context.Background()))
	require.InDelta(t, 20, b.BackPressure().DrainPerSecond, 0.01)
	_, err = accept(b, "wf-a", 0)
	// 16 of wf-a must leave at its half of 20 a second.
	refusedFor(t, err, 2*time.Second, "workflow wf-a has 40 executions")

	b.opts.MaxPerWorkflow = 0
	_, err = accept(b, "wf-a", 0)
	// 41 must leave at 20 a second.
	refusedFor(t, err, 2*time.Second, "80 executions wait for the engine, at the bound of 40")
	b.opts.MaxTotal = 80
	_, err = accept(b, "wf-a", 0)
	refusedFor(t, err, minRetryAfter, "retry in 1s")
	b.opts.MaxTotal = 1000
	rows = pending("wf-a", 2000)
	now.Advance(time.Second)
	require.NoError(t, b.Count(context.Background()))
	_, err = accept(b, "wf-a", 0)
	refusedFor(t, err, maxRetryAfter, "2000 executions wait")

	// Counts that leave the window are forgotten.
	rows = pending("wf-a", 1000)
	now.Advance(drainWindow + time.Second)
	require.NoError(t, b.Count(context.Background()))
	require.InDelta(t, 1000/(drainWindow+time.Second).Seconds(), b.BackPressure().DrainPerSecond, 0.1)
}

// TestBacklogSync: a SYNC call is refused when the executions ready ahead
// of it would not leave within its timeout at the drain rate, or have sat
// with none leaving for stallGrace or a quarter of its timeout, the longer;
// executions that wait for their
// workflow's turn are not ahead of it.
func TestBacklogSync(t *testing.T) {
	t.Parallel()
	now := clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	fired := now.Now()
	waiting := func(n int64) []store.WorkflowBacklog {
		return []store.WorkflowBacklog{{WorkflowID: "wf-a", Pending: n, Oldest: fired}}
	}
	rows := waiting(5)
	refused := &byBound{n: map[string]float64{}}
	b := NewBacklog(counts(func() []store.WorkflowBacklog { return rows }), BacklogOptions{Now: now.Now, Metrics: BacklogMetrics{Refused: refused}})
	require.NoError(t, b.Count(context.Background()))
	_, err := accept(b, "wf-s", 8*time.Second)
	require.NoError(t, err, "no rate yet, and none waited long: admitted")

	// Nothing left, and the oldest has waited less than stallGrace.
	rows = waiting(6)
	now.Advance(stallGrace - time.Millisecond)
	require.NoError(t, b.Count(context.Background()))
	_, err = accept(b, "wf-s", 8*time.Second)
	require.NoError(t, err, "the oldest waited less than stallGrace")
	rows = waiting(7)
	now.Advance(time.Millisecond)
	require.NoError(t, b.Count(context.Background()))
	_, err = accept(b, "wf-s", 8*time.Second)
	refusedFor(t, err, maxRetryAfter, "7 executions wait for the engine, the oldest for 2s, and none left in the last 10s: a SYNC call would not start within its timeout of 8s; retry in 30s, or trigger ASYNC")
	_, err = accept(b, "wf-s", 0)
	require.NoError(t, err, "an ASYNC call waits as long as it takes")
	_, err = accept(b, "wf-s", 120*time.Second)
	require.NoError(t, err, "a call of 120 s allows a stall of 30 s")
	rows = waiting(9) // the two just accepted
	now.Advance(28 * time.Second)
	require.NoError(t, b.Count(context.Background()))
	_, err = accept(b, "wf-s", 120*time.Second)
	refusedFor(t, err, maxRetryAfter, "9 executions wait for the engine, the oldest for 30s, and none left in the last 10s: a SYNC call would not start within its timeout of 2m0s; retry in 30s, or trigger ASYNC")

	// 80 left in 2 s: 40 a second; 400 ready ahead take 10 s.
	b = NewBacklog(counts(func() []store.WorkflowBacklog { return rows }), BacklogOptions{Now: now.Now, Metrics: BacklogMetrics{Refused: refused}})
	rows = pending("wf-a", 480)
	require.NoError(t, b.Count(context.Background()))
	rows = pending("wf-a", 400)
	now.Advance(2 * time.Second)
	require.NoError(t, b.Count(context.Background()))
	require.InDelta(t, 40, b.BackPressure().DrainPerSecond, 0.01)
	_, err = accept(b, "wf-s", 5*time.Second)
	// 200 over what leaves in 5 s, at 40 a second.
	refusedFor(t, err, 5*time.Second, "400 executions wait for the engine, which takes 40 a second: a SYNC call would not start within its timeout of 5s; retry in 5s, or trigger ASYNC")
	_, err = accept(b, "wf-s", 20*time.Second)
	require.NoError(t, err, "10 s of backlog, 20 s to wait")

	// Behind a held turn, executions wait for that run, not for dispatch.
	rows = []store.WorkflowBacklog{{WorkflowID: "wf-a", Pending: 400, TurnHeld: true}}
	now.Advance(time.Second)
	require.NoError(t, b.Count(context.Background()))
	_, err = accept(b, "wf-s", time.Second)
	require.NoError(t, err)
	require.InDelta(t, 3, refused.get(BoundSync), 0)
}

// TestBacklogAcceptedDuringCount: an acceptance made while a count runs is
// counted until the next count, whether or not the running one saw it.
func TestBacklogAcceptedDuringCount(t *testing.T) {
	t.Parallel()
	var (
		b      *Backlog
		during = true
	)
	b = NewBacklog(counts(func() []store.WorkflowBacklog {
		if during {
			_, err := accept(b, "wf-a", 0)
			require.NoError(t, err)
			during = false
		}
		return pending("wf-a", 2)
	}), BacklogOptions{MaxPerWorkflow: 3})
	_, err := accept(b, "wf-a", 0)
	require.NoError(t, err)
	require.NoError(t, b.Count(context.Background()))
	require.Equal(t, int64(3), b.BackPressure().Backlog, "2 counted and 1 accepted during the count")
	_, err = accept(b, "wf-a", 0)
	require.Equal(t, errors.ResourceExhausted, errors.KindOf(err), "%v", err)
	require.NoError(t, b.Count(context.Background()))
	require.Equal(t, int64(2), b.BackPressure().Backlog, "the next count is the database's alone")
}

// TestBacklogWriteAcrossCount: a place whose write has not ended when a
// count begins stays counted until a count after its end, whether or not
// the first saw it; a place given back is no longer counted.
func TestBacklogWriteAcrossCount(t *testing.T) {
	t.Parallel()
	rows := pending("wf-a", 1)
	b := NewBacklog(counts(func() []store.WorkflowBacklog { return rows }), BacklogOptions{})
	require.NoError(t, b.Count(context.Background()))
	room, err := b.Reserve("wf-b", 0)
	require.NoError(t, err)
	require.NoError(t, b.Count(context.Background()))
	require.Equal(t, int64(2), b.BackPressure().Backlog, "written after the count's snapshot")
	room.Keep(true)
	require.Equal(t, int64(2), b.BackPressure().Backlog)
	rows = pending("wf-a", 1, "wf-b", 1)
	require.NoError(t, b.Count(context.Background()))
	require.Equal(t, int64(2), b.BackPressure().Backlog, "the count holds it now")

	// A write that ends while a count runs may be in its result and in the
	// acceptances since: counted twice until the next count, which does not
	// take it for a drain.
	room, err = b.Reserve("wf-b", 0)
	require.NoError(t, err)
	b.store = counts(func() []store.WorkflowBacklog {
		room.Keep(true)
		return pending("wf-a", 1, "wf-b", 2)
	})
	require.NoError(t, b.Count(context.Background()))
	require.Equal(t, int64(4), b.BackPressure().Backlog)
	b.store = counts(func() []store.WorkflowBacklog { return pending("wf-a", 1, "wf-b", 2) })
	require.NoError(t, b.Count(context.Background()))
	require.Equal(t, int64(3), b.BackPressure().Backlog)
	require.Zero(t, b.BackPressure().DrainPerSecond, "nothing left")
	rows = pending("wf-a", 1, "wf-b", 1)
	b.store = counts(func() []store.WorkflowBacklog { return rows })
	require.NoError(t, b.Count(context.Background()))

	room, err = b.Reserve("wf-b", 0)
	require.NoError(t, err)
	require.Equal(t, int64(3), b.BackPressure().Backlog)
	room.Keep(false)
	require.Equal(t, int64(2), b.BackPressure().Backlog)
	require.Equal(t, []workflow.Waiting{{WorkflowID: "wf-a", Pending: 1}, {WorkflowID: "wf-b", Pending: 1}}, b.BackPressure().Busiest)
}

// TestBacklogStartStop: Start counts at once and then every Refresh.
func TestBacklogStartStop(t *testing.T) {
	t.Parallel()
	calls := make(chan struct{}, 100)
	b := NewBacklog(counts(func() []store.WorkflowBacklog {
		calls <- struct{}{}
		return pending("wf-a", 1)
	}), BacklogOptions{Refresh: time.Millisecond})
	require.NoError(t, b.Start(context.Background()))
	// A count every millisecond: the next may come before this line.
	require.NotEmpty(t, calls, "counted before Start returns")
	<-calls
	<-calls
	require.NoError(t, b.Stop(context.Background()))
	require.Equal(t, int64(1), b.BackPressure().Backlog)
}

// TestBacklogCountsAtMostATenthOfTheTime: a count that takes longer than a
// tenth of Refresh spaces the next one by ten times its duration.
func TestBacklogCountsAtMostATenthOfTheTime(t *testing.T) {
	t.Parallel()
	const took = 20 * time.Millisecond
	var n atomic.Int64
	b := NewBacklog(counts(func() []store.WorkflowBacklog {
		n.Add(1)
		time.Sleep(took)
		return pending("wf-a", 1)
	}), BacklogOptions{Refresh: time.Millisecond})
	require.NoError(t, b.Start(context.Background()))
	time.Sleep(50 * countSpacing * took / 10)
	require.NoError(t, b.Stop(context.Background()))
	// 1 s: the first count and at most 5 spaced ones (about 45 at Refresh).
	require.LessOrEqual(t, n.Load(), int64(6))
	require.GreaterOrEqual(t, n.Load(), int64(2))
}
