package scheduling

import (
	"container/heap"
	"fmt"
	"sync"

	"github.com/reugn/go-quartz/quartz"
)

// The messages and wrapping match go-quartz's default queue, so callers that
// test with errors.Is or log the text see no difference between the two.
var (
	errQueueEmpty       = fmt.Errorf("%w: %w", quartz.ErrIllegalState, quartz.ErrQueueEmpty)
	errJobNotFound      = fmt.Errorf("%w: %w", quartz.ErrIllegalState, quartz.ErrJobNotFound)
	errJobAlreadyExists = fmt.Errorf("%w: %w", quartz.ErrIllegalState, quartz.ErrJobAlreadyExists)

	// The default queue panics on these; an error lets a bad caller fail alone
	// instead of taking down the scheduler's loop.
	errNilJob    = fmt.Errorf("%w: scheduled job is nil", quartz.ErrIllegalArgument)
	errNilJobKey = fmt.Errorf("%w: scheduled job has no job detail or key", quartz.ErrIllegalArgument)
)

// jobQueue is a quartz.JobQueue for the 100,000 jobs one replica holds:
// go-quartz's default queue copies and scans all jobs on every Push and
// Remove. Push, Pop and Remove are O(log n); Head, Get and Size are O(1).
//
// Jobs run in NextRunTime order and, at equal times, in the order they were
// pushed, so that the firing order of a slot does not depend on heap layout.
//
// StdScheduler calls Size and Head from its loop without taking the locker
// given to quartz.WithQueue, so the queue locks for itself. That locker must
// be a different mutex: the scheduler holds it while calling the queue.
type jobQueue struct {
	mu    sync.Mutex
	items jobHeap
	index map[quartz.JobKey]*queueItem
	seq   uint64
}

var _ quartz.JobQueue = (*jobQueue)(nil)

// queueItem keeps its own heap position so that a swap costs two field
// writes rather than two map updates.
type queueItem struct {
	job quartz.ScheduledJob
	// A JobKey value compares by group and name, exactly like JobKey.Equals;
	// JobKey.String would allocate and could collide, as "::" may occur in
	// either part.
	key quartz.JobKey
	// Cached because NextRunTime is an interface call, and a job whose time
	// changed while queued would silently break the heap.
	runAt int64
	seq   uint64
	pos   int
}

func newJobQueue() *jobQueue {
	return &jobQueue{index: make(map[quartz.JobKey]*queueItem)}
}

// Push follows the default queue on a key already queued: the new job takes
// its place if the new job's options ask to Replace, otherwise the error
// wraps quartz.ErrJobAlreadyExists. StdScheduler.ScheduleJob relies on this.
func (q *jobQueue) Push(job quartz.ScheduledJob) error {
	if job == nil {
		return errNilJob
	}
	detail := job.JobDetail()
	if detail == nil || detail.JobKey() == nil {
		return errNilJobKey
	}
	key := *detail.JobKey()
	runAt := job.NextRunTime()

	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	if it, ok := q.index[key]; ok {
		if opts := detail.Options(); opts == nil || !opts.Replace {
			return errJobAlreadyExists
		}
		// A fresh sequence makes the replacement rank as newly pushed, as the
		// default queue's remove-then-push does.
		it.job, it.runAt, it.seq = job, runAt, q.seq
		heap.Fix(&q.items, it.pos)
		return nil
	}
	it := &queueItem{job: job, key: key, runAt: runAt, seq: q.seq}
	q.index[key] = it
	heap.Push(&q.items, it)
	return nil
}

func (q *jobQueue) Pop() (quartz.ScheduledJob, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, errQueueEmpty
	}
	it := heap.Pop(&q.items).(*queueItem)
	delete(q.index, it.key)
	return it.job, nil
}

func (q *jobQueue) Head() (quartz.ScheduledJob, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, errQueueEmpty
	}
	return q.items[0].job, nil
}

// Get reports a nil key as not found: Push never admits one.
func (q *jobQueue) Get(jobKey *quartz.JobKey) (quartz.ScheduledJob, error) {
	if jobKey == nil {
		return nil, errJobNotFound
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.index[*jobKey]
	if !ok {
		return nil, errJobNotFound
	}
	return it.job, nil
}

func (q *jobQueue) Remove(jobKey *quartz.JobKey) (quartz.ScheduledJob, error) {
	if jobKey == nil {
		return nil, errJobNotFound
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.index[*jobKey]
	if !ok {
		return nil, errJobNotFound
	}
	heap.Remove(&q.items, it.pos)
	delete(q.index, it.key)
	return it.job, nil
}

// ScheduledJobs returns the jobs in no particular order, as the default queue
// does; sorting 100,000 jobs on every GetJobKeys would be wasted on callers
// that only filter. The result is never nil, again like the default queue.
func (q *jobQueue) ScheduledJobs(matchers []quartz.Matcher[quartz.ScheduledJob]) ([]quartz.ScheduledJob, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(matchers) == 0 {
		jobs := make([]quartz.ScheduledJob, len(q.items))
		for i, it := range q.items {
			jobs[i] = it.job
		}
		return jobs, nil
	}
	jobs := make([]quartz.ScheduledJob, 0)
next:
	for _, it := range q.items {
		for _, m := range matchers {
			if !m.IsMatch(it.job) {
				continue next
			}
		}
		jobs = append(jobs, it.job)
	}
	return jobs, nil
}

func (q *jobQueue) Size() (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items), nil
}

// Clear releases the storage: keeping room for 100,000 jobs after a Clear
// would pin memory the replica may never need again.
func (q *jobQueue) Clear() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = nil
	q.index = make(map[quartz.JobKey]*queueItem)
	return nil
}

// jobHeap implements heap.Interface; only jobQueue may call it, under its lock.
type jobHeap []*queueItem

func (h jobHeap) Len() int { return len(h) }

func (h jobHeap) Less(i, j int) bool {
	if h[i].runAt != h[j].runAt {
		return h[i].runAt < h[j].runAt
	}
	return h[i].seq < h[j].seq
}

func (h jobHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos = i
	h[j].pos = j
}

func (h *jobHeap) Push(x any) {
	it := x.(*queueItem)
	it.pos = len(*h)
	*h = append(*h, it)
}

func (h *jobHeap) Pop() any {
	old := *h
	n := len(old) - 1
	it := old[n]
	// Without this the backing array would keep a removed job reachable.
	old[n] = nil
	*h = old[:n]
	return it
}
