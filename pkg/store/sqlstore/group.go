package sqlstore

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
)

// group commits concurrent single-row writes of one kind together: its
// workers (groupWorkers) each take the calls waiting when they are free, up
// to maxBatch, and write them in one statement, hence one transaction and
// one WAL flush.
// Every caller still gets its own answer only after the commit, so a write
// is as durable as it was alone; what is shared is the cost of the commit,
// which is what bounds single-row writes (hundreds per second per
// connection, where a batch of 64 costs little more than one row).
//
// A call waits for its batch even when its context ends meanwhile: the row
// may be written by then, and the caller must not be told otherwise.
type group[In, Out any] struct {
	s *Store
	// op names a batch's span ("insertExecutions").
	op    string
	calls chan *groupCall[In, Out]
	// write writes a batch; outs[i] and errs[i] answer ins[i], and a
	// non-nil err answers them all.
	write func(ctx context.Context, ins []In) (outs []Out, errs []error, err error)
	// conflict reports whether two calls may not share a batch (two
	// transitions of one execution, say); the later waits for the next.
	conflict func(a, b In) bool
	maxBatch int
	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

type groupCall[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}
	// caller is the span of the call, which its batch's span links to.
	caller trace.SpanContext
}

// Group commit settings.
const (
	// groupWorkers is one writer per kind of write: the calls that come
	// while its batch is written make the next batch. With 4 writers,
	// `make bench-trigger` (2 cores, two runs each) wrote batches of 7 to
	// 9 rows, PostgreSQL spent 0.36 and 0.46 ms of CPU per trigger and
	// 2,589 and 2,090 triggers a second were accepted; with one, 26 to
	// 28 rows, 0.23 and 0.32 ms, 3,195 and 2,293 a second; `make
	// bench-sqlite` created and started 2,626 and 2,568 executions a
	// second instead of 1,290 and 1,286 (SQLite has one writer anyway).
	// Later, with dispatch yielding to a burst (2026-12-05), two writers
	// gave ratios to raw inserts of 1.08 and 1.17 against 1.00 to 1.17
	// with one, at 0.168 and 0.170 ms of PostgreSQL per trigger against
	// 0.127 to 0.139: smaller batches, no gain. A batch waits on nothing
	// long (its rows' locks are held only by other short statements of
	// unfinished executions), so one writer does not stall behind another,
	// and the database sees at most one batch of each kind per replica.
	groupWorkers  = 1
	groupMaxBatch = 256
	// groupTimeout bounds one batch's statement.
	groupTimeout = 30 * time.Second
)

func newGroup[In, Out any](s *Store, op string, write func(context.Context, []In) ([]Out, []error, error), conflict func(a, b In) bool) *group[In, Out] {
	g := &group[In, Out]{
		s: s, op: op, calls: make(chan *groupCall[In, Out]), write: write, conflict: conflict,
		maxBatch: groupMaxBatch, stop: make(chan struct{}),
	}
	for range groupWorkers {
		g.done.Add(1)
		go g.work()
	}
	return g
}

// do writes in with whatever other calls are waiting, and returns its answer.
func (g *group[In, Out]) do(ctx context.Context, in In) (Out, error) {
	c := &groupCall[In, Out]{in: in, done: make(chan struct{}), caller: trace.SpanContextFromContext(ctx)}
	select {
	case g.calls <- c:
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	case <-g.stop:
		var zero Out
		return zero, errClosed
	}
	<-c.done
	return c.out, c.err
}

func (g *group[In, Out]) work() {
	defer g.done.Done()
	var carry []*groupCall[In, Out]
	for {
		batch := carry
		carry = nil
		if len(batch) == 0 {
			select {
			case c := <-g.calls:
				batch = append(batch, c)
			case <-g.stop:
				return
			}
		}
	drain:
		for len(batch) < g.maxBatch {
			select {
			case c := <-g.calls:
				if g.clashes(batch, c) {
					carry = append(carry, c)
					continue
				}
				batch = append(batch, c)
			default:
				break drain
			}
		}
		g.flush(batch)
	}
}

func (g *group[In, Out]) clashes(batch []*groupCall[In, Out], c *groupCall[In, Out]) bool {
	if g.conflict == nil {
		return false
	}
	for _, b := range batch {
		if g.conflict(b.in, c.in) {
			return true
		}
	}
	return false
}

// flush writes batch and answers its calls. A statement fails as a whole,
// so a row the database refuses (a NUL byte in a text field, say) fails
// every row of its batch: such a batch is split in two and each half
// written again, down to the row at fault, so that a bad row fails alone.
// Halving costs about two statements per bad row and halving, where writing
// each row again alone would cost one per row of the batch. A database that
// cannot serve fails the batch at once, since every row would fail alike.
func (g *group[In, Out]) flush(batch []*groupCall[In, Out]) {
	ins := make([]In, len(batch))
	for i, c := range batch {
		ins[i] = c.in
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	ctx, span := g.span(ctx, batch)
	outs, errs, err := g.write(ctx, ins)
	tracing.EndSpan(span, err)
	cancel()
	if err != nil && len(batch) > 1 && g.splittable(err) {
		g.flush(batch[:len(batch)/2])
		g.flush(batch[len(batch)/2:])
		return
	}
	for i, c := range batch {
		switch {
		case err != nil:
			c.err = err
		default:
			c.out, c.err = outs[i], errs[i]
		}
		close(c.done)
	}
}

// splittable reports whether a failed batch may hold rows that would be
// written without the others: not when the database cannot serve, nor when
// the batch ran out of time.
func (g *group[In, Out]) splittable(err error) bool {
	return g.s.kind(err) != errors.Unavailable
}

// span starts the span of a batch: a trace of its own, since a batch
// serves many, linked to the span of each call it writes.
func (g *group[In, Out]) span(ctx context.Context, batch []*groupCall[In, Out]) (context.Context, trace.Span) {
	ctx, span := g.s.span(ctx, g.op)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("db.operation.batch.size", len(batch)))
		for _, c := range batch {
			if c.caller.IsValid() {
				span.AddLink(trace.Link{SpanContext: c.caller})
			}
		}
	}
	return ctx, span
}

// errClosed answers a write made after Close.
var errClosed = errors.New("store closed")

// close stops the workers once the batches in flight are written; later
// calls return errClosed.
func (g *group[In, Out]) close() {
	g.stopOnce.Do(func() { close(g.stop) })
	g.done.Wait()
}
