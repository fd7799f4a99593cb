package scheduling

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/reugn/go-quartz/matcher"
	"github.com/reugn/go-quartz/quartz"
	"github.com/stretchr/testify/require"
)

type inertJob struct{}

func (inertJob) Execute(context.Context) error { return nil }
func (inertJob) Description() string           { return "noop" }

// fixedTimeTrigger lets a test choose a job's NextRunTime through the scheduler.
type fixedTimeTrigger int64

func (f fixedTimeTrigger) NextFireTime(int64) (int64, error) { return int64(f), nil }
func (fixedTimeTrigger) Description() string                 { return "fixed" }

// stubScheduledJob is a ScheduledJob that needs no scheduler; the default queue cannot
// hold it, so only tests of jobQueue alone use it.
type stubScheduledJob struct {
	detail *quartz.JobDetail
	at     int64
}

func (s *stubScheduledJob) JobDetail() *quartz.JobDetail { return s.detail }
func (s *stubScheduledJob) Trigger() quartz.Trigger      { return fixedTimeTrigger(s.at) }
func (s *stubScheduledJob) NextRunTime() int64           { return s.at }

func newStubScheduledJob(name string, at int64, replace bool) *stubScheduledJob {
	opts := quartz.NewDefaultJobDetailOptions()
	opts.Replace = replace
	return &stubScheduledJob{
		detail: quartz.NewJobDetailWithOptions(inertJob{}, quartz.NewJobKey(name), opts),
		at:     at,
	}
}

// quartzJobFactory makes go-quartz's own ScheduledJob values, the only kind its
// default queue accepts, by scheduling through an idle StdScheduler.
type quartzJobFactory struct {
	sched quartz.Scheduler
}

func newQuartzJobFactory(tb testing.TB) *quartzJobFactory {
	tb.Helper()
	sched, err := quartz.NewStdScheduler()
	require.NoError(tb, err)
	return &quartzJobFactory{sched: sched}
}

func (f *quartzJobFactory) make(tb testing.TB, key *quartz.JobKey, at int64, replace, suspended bool) quartz.ScheduledJob {
	tb.Helper()
	opts := quartz.NewDefaultJobDetailOptions()
	opts.Replace = replace
	require.NoError(tb, f.sched.ScheduleJob(quartz.NewJobDetailWithOptions(inertJob{}, key, opts), fixedTimeTrigger(at)))
	job, err := f.sched.GetScheduledJob(key)
	require.NoError(tb, err)
	require.NoError(tb, f.sched.DeleteJob(key))
	// Set only now so the job keeps the chosen time rather than MaxInt64.
	opts.Suspended = suspended
	return job
}

// checkQueueHeap verifies the heap order, the items' positions and the index.
func checkQueueHeap(tb testing.TB, q *jobQueue) {
	tb.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	// Plain comparisons: require's reflection would dominate the 10,000-step run.
	if len(q.index) != len(q.items) {
		tb.Fatalf("index holds %d keys, heap %d items", len(q.index), len(q.items))
	}
	for i, it := range q.items {
		switch {
		case it.pos != i:
			tb.Fatalf("item %d records position %d", i, it.pos)
		case q.index[it.key] != it:
			tb.Fatalf("index does not map %v to item %d", it.key, i)
		case i > 0 && q.items.Less(i, (i-1)/2):
			tb.Fatalf("item %d precedes its parent", i)
		}
	}
}

func queueErrText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestQueueErrors(t *testing.T) {
	t.Parallel()
	present := newStubScheduledJob("present", 1, false)
	keyless := &stubScheduledJob{detail: quartz.NewJobDetail(inertJob{}, nil)}
	noOptions := &stubScheduledJob{detail: quartz.NewJobDetailWithOptions(inertJob{}, quartz.NewJobKey("present"), nil)}

	tests := []struct {
		name string
		call func(q *jobQueue) error
		want []error
	}{
		{"pop empty", func(q *jobQueue) error { _, _ = q.Pop(); _, err := q.Pop(); return err }, []error{quartz.ErrIllegalState, quartz.ErrQueueEmpty}},
		{"head empty", func(q *jobQueue) error { _, _ = q.Pop(); _, err := q.Head(); return err }, []error{quartz.ErrIllegalState, quartz.ErrQueueEmpty}},
		{"get missing", func(q *jobQueue) error { _, err := q.Get(quartz.NewJobKey("missing")); return err }, []error{quartz.ErrIllegalState, quartz.ErrJobNotFound}},
		{"get other group", func(q *jobQueue) error { _, err := q.Get(quartz.NewJobKeyWithGroup("present", "other")); return err }, []error{quartz.ErrJobNotFound}},
		{"get nil", func(q *jobQueue) error { _, err := q.Get(nil); return err }, []error{quartz.ErrJobNotFound}},
		{"remove missing", func(q *jobQueue) error { _, err := q.Remove(quartz.NewJobKey("missing")); return err }, []error{quartz.ErrIllegalState, quartz.ErrJobNotFound}},
		{"remove nil", func(q *jobQueue) error { _, err := q.Remove(nil); return err }, []error{quartz.ErrJobNotFound}},
		{"push duplicate", func(q *jobQueue) error { return q.Push(newStubScheduledJob("present", 2, false)) }, []error{quartz.ErrIllegalState, quartz.ErrJobAlreadyExists}},
		{"push duplicate without options", func(q *jobQueue) error { return q.Push(noOptions) }, []error{quartz.ErrJobAlreadyExists}},
		{"push nil", func(q *jobQueue) error { return q.Push(nil) }, []error{quartz.ErrIllegalArgument}},
		{"push nil detail", func(q *jobQueue) error { return q.Push(&stubScheduledJob{}) }, []error{quartz.ErrIllegalArgument}},
		{"push nil key", func(q *jobQueue) error { return q.Push(keyless) }, []error{quartz.ErrIllegalArgument}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := newJobQueue()
			require.NoError(t, q.Push(present))
			err := tt.call(q)
			for _, want := range tt.want {
				require.ErrorIs(t, err, want)
			}
			checkQueueHeap(t, q)
		})
	}
}

// TestQueueErrorText pins the messages to the default queue's.
func TestQueueErrorText(t *testing.T) {
	t.Parallel()
	f := newQuartzJobFactory(t)
	job := f.make(t, quartz.NewJobKey("a"), 1, false, false)
	ours, theirs := quartz.JobQueue(newJobQueue()), quartz.NewJobQueue()
	for _, q := range []quartz.JobQueue{ours, theirs} {
		require.NoError(t, q.Push(job))
	}
	results := func(q quartz.JobQueue) []string {
		_, getErr := q.Get(quartz.NewJobKey("b"))
		_, removeErr := q.Remove(quartz.NewJobKey("b"))
		pushErr := q.Push(job)
		require.NoError(t, q.Clear())
		_, popErr := q.Pop()
		_, headErr := q.Head()
		return []string{queueErrText(getErr), queueErrText(removeErr), queueErrText(pushErr), queueErrText(popErr), queueErrText(headErr)}
	}
	if diff := gocmp.Diff(results(theirs), results(ours)); diff != "" {
		t.Errorf("error texts (-want +got):\n%s", diff)
	}
}

func TestQueueOrder(t *testing.T) {
	t.Parallel()
	type push struct {
		name    string
		at      int64
		replace bool
	}
	tests := []struct {
		name   string
		pushes []push
		want   []string
	}{
		{
			name:   "by time",
			pushes: []push{{"c", 30, false}, {"a", 10, false}, {"b", 20, false}},
			want:   []string{"a", "b", "c"},
		},
		{
			name:   "ties in push order",
			pushes: []push{{"x", 5, false}, {"b", 1, false}, {"a", 1, false}, {"c", 1, false}},
			want:   []string{"b", "a", "c", "x"},
		},
		{
			name:   "replacement ranks as newly pushed",
			pushes: []push{{"a", 1, false}, {"b", 1, false}, {"a", 1, true}},
			want:   []string{"b", "a"},
		},
		{
			name:   "replacement moves later",
			pushes: []push{{"a", 1, false}, {"b", 2, false}, {"a", 3, true}},
			want:   []string{"b", "a"},
		},
		{
			name:   "replacement moves earlier",
			pushes: []push{{"a", 1, false}, {"b", 2, false}, {"b", 0, true}},
			want:   []string{"b", "a"},
		},
		{
			name:   "duplicate without replace is ignored",
			pushes: []push{{"a", 2, false}, {"b", 3, false}, {"b", 1, false}},
			want:   []string{"a", "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := newJobQueue()
			for _, p := range tt.pushes {
				_ = q.Push(newStubScheduledJob(p.name, p.at, p.replace))
				checkQueueHeap(t, q)
			}
			var got []string
			for {
				job, err := q.Pop()
				if errors.Is(err, quartz.ErrQueueEmpty) {
					break
				}
				require.NoError(t, err)
				got = append(got, job.JobDetail().JobKey().Name())
				checkQueueHeap(t, q)
			}
			if diff := gocmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pop order (-want +got):\n%s", diff)
			}
		})
	}
}

// jobView is what the parity test compares; id tells apart jobs pushed under
// the same key.
type jobView struct {
	ID        int
	Key       string
	At        int64
	Suspended bool
}

// TestQueueParity runs one random sequence against the default queue and
// ours and compares every result. With shared times the two may break ties
// differently, so there a pop takes the whole group at the head and heads
// are compared by time.
func TestQueueParity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		seed     uint64
		distinct bool
	}{
		{"distinct times", 1, true},
		{"shared times", 2, false},
		{"distinct times again", 3, true},
		{"shared times again", 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runParity(t, rand.New(rand.NewPCG(tt.seed, 0)), 2000, tt.distinct)
		})
	}
}

func runParity(t *testing.T, rng *rand.Rand, steps int, distinct bool) {
	f := newQuartzJobFactory(t)
	ours := newJobQueue()
	theirs := quartz.NewJobQueue()

	var keys []*quartz.JobKey
	for i := range 40 {
		keys = append(keys, quartz.NewJobKeyWithGroup(fmt.Sprintf("job%d", i), fmt.Sprintf("g%d", i%3)))
	}
	matcherSets := [][]quartz.Matcher[quartz.ScheduledJob]{
		nil,
		{},
		{matcher.JobActive()},
		{matcher.JobPaused()},
		{matcher.JobGroupEquals("g1")},
		{matcher.JobActive(), matcher.JobGroupEquals("g2")},
		{matcher.JobNameStartsWith("job1"), matcher.JobGroupEquals("g0")},
	}

	ids := make(map[quartz.ScheduledJob]int)
	view := func(job quartz.ScheduledJob) jobView {
		if job == nil {
			return jobView{}
		}
		return jobView{
			ID:        ids[job],
			Key:       job.JobDetail().JobKey().String(),
			At:        job.NextRunTime(),
			Suspended: job.JobDetail().Options().Suspended,
		}
	}
	sorted := func(jobs []quartz.ScheduledJob) []jobView {
		views := make([]jobView, len(jobs))
		for i, job := range jobs {
			views[i] = view(job)
		}
		slices.SortFunc(views, func(a, b jobView) int {
			return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Key, b.Key))
		})
		return views
	}
	compare := func(step int, op string, want, got any) {
		t.Helper()
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Fatalf("step %d %s (-want +got):\n%s", step, op, diff)
		}
	}
	usedTimes := make(map[int64]bool)
	nextTime := func() int64 {
		if !distinct {
			return rng.Int64N(15)
		}
		for {
			at := rng.Int64N(1 << 40)
			if !usedTimes[at] {
				usedTimes[at] = true
				return at
			}
		}
	}
	// popGroup pops every job sharing the head's time, so that both queues
	// lose the same jobs whichever way they break the tie.
	popGroup := func(q quartz.JobQueue) ([]jobView, string) {
		head, err := q.Head()
		if err != nil {
			_, err = q.Pop()
			return nil, queueErrText(err)
		}
		var jobs []quartz.ScheduledJob
		for {
			next, err := q.Head()
			if err != nil || next.NextRunTime() != head.NextRunTime() {
				return sorted(jobs), ""
			}
			job, err := q.Pop()
			require.NoError(t, err)
			jobs = append(jobs, job)
		}
	}

	for step := range steps {
		switch r := rng.IntN(100); {
		case r < 40:
			job := f.make(t, keys[rng.IntN(len(keys))], nextTime(), rng.IntN(3) == 0, rng.IntN(5) == 0)
			ids[job] = len(ids) + 1
			compare(step, "push", queueErrText(theirs.Push(job)), queueErrText(ours.Push(job)))
		case r < 50:
			if distinct {
				wantJob, wantErr := theirs.Pop()
				gotJob, gotErr := ours.Pop()
				compare(step, "pop", []any{view(wantJob), queueErrText(wantErr)}, []any{view(gotJob), queueErrText(gotErr)})
			} else {
				wantJobs, wantErr := popGroup(theirs)
				gotJobs, gotErr := popGroup(ours)
				compare(step, "pop group", []any{wantJobs, wantErr}, []any{gotJobs, gotErr})
			}
		case r < 58:
			wantJob, wantErr := theirs.Head()
			gotJob, gotErr := ours.Head()
			want, got := view(wantJob), view(gotJob)
			if !distinct {
				want, got = jobView{At: want.At}, jobView{At: got.At}
			}
			compare(step, "head", []any{want, queueErrText(wantErr)}, []any{got, queueErrText(gotErr)})
		case r < 68:
			key := keys[rng.IntN(len(keys))]
			wantJob, wantErr := theirs.Get(key)
			gotJob, gotErr := ours.Get(key)
			compare(step, "get", []any{view(wantJob), queueErrText(wantErr)}, []any{view(gotJob), queueErrText(gotErr)})
		case r < 80:
			key := keys[rng.IntN(len(keys))]
			wantJob, wantErr := theirs.Remove(key)
			gotJob, gotErr := ours.Remove(key)
			compare(step, "remove", []any{view(wantJob), queueErrText(wantErr)}, []any{view(gotJob), queueErrText(gotErr)})
		case r < 88:
			want, wantErr := theirs.Size()
			got, gotErr := ours.Size()
			compare(step, "size", []any{want, queueErrText(wantErr)}, []any{got, queueErrText(gotErr)})
		case r < 99:
			matchers := matcherSets[rng.IntN(len(matcherSets))]
			want, wantErr := theirs.ScheduledJobs(matchers)
			got, gotErr := ours.ScheduledJobs(matchers)
			require.Equal(t, want == nil, got == nil, "step %d: nil result", step)
			compare(step, "scheduled jobs", []any{sorted(want), queueErrText(wantErr)}, []any{sorted(got), queueErrText(gotErr)})
		default:
			compare(step, "clear", queueErrText(theirs.Clear()), queueErrText(ours.Clear()))
		}
		checkQueueHeap(t, ours)
	}
}

// TestQueueHeapInvariant checks the heap after every one of 10,000 random
// operations and that pops come out in (time, push order) order.
func TestQueueHeapInvariant(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(42, 0))
	q := newJobQueue()
	const keys = 300
	var lastAt int64 = math.MinInt64
	for step := range 10_000 {
		name := fmt.Sprintf("job%d", rng.IntN(keys))
		switch r := rng.IntN(10); {
		case r < 5:
			_ = q.Push(newStubScheduledJob(name, rng.Int64N(1000), rng.IntN(2) == 0))
			lastAt = math.MinInt64
		case r < 7:
			job, err := q.Pop()
			if err == nil {
				require.GreaterOrEqual(t, job.NextRunTime(), lastAt, "step %d", step)
				lastAt = job.NextRunTime()
			}
		case r < 9:
			_, _ = q.Remove(quartz.NewJobKey(name))
		default:
			if head, err := q.Head(); err == nil {
				got, err := q.Get(head.JobDetail().JobKey())
				require.NoError(t, err)
				require.Same(t, head, got)
			}
		}
		checkQueueHeap(t, q)
	}
}

func TestQueueConcurrent(t *testing.T) {
	t.Parallel()
	q := newJobQueue()
	const (
		workers = 8
		ops     = 2000
		keys    = 200
	)
	var net atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range ops {
				key := quartz.NewJobKey(fmt.Sprintf("job%d", rng.IntN(keys)))
				switch rng.IntN(7) {
				case 0, 1, 2:
					switch err := q.Push(newStubScheduledJob(key.Name(), rng.Int64N(100), false)); {
					case err == nil:
						net.Add(1)
					case !errors.Is(err, quartz.ErrJobAlreadyExists):
						t.Errorf("push: %v", err)
					}
				case 3:
					switch _, err := q.Remove(key); {
					case err == nil:
						net.Add(-1)
					case !errors.Is(err, quartz.ErrJobNotFound):
						t.Errorf("remove: %v", err)
					}
				case 4:
					switch _, err := q.Pop(); {
					case err == nil:
						net.Add(-1)
					case !errors.Is(err, quartz.ErrQueueEmpty):
						t.Errorf("pop: %v", err)
					}
				case 5:
					_, _ = q.Head()
					_, _ = q.Get(key)
				default:
					_, _ = q.Size()
					_, _ = q.ScheduledJobs([]quartz.Matcher[quartz.ScheduledJob]{matcher.JobActive()})
				}
			}
		})
	}
	wg.Wait()
	size, err := q.Size()
	require.NoError(t, err)
	require.EqualValues(t, net.Load(), size)
	jobs, err := q.ScheduledJobs(nil)
	require.NoError(t, err)
	require.Len(t, jobs, size)
	checkQueueHeap(t, q)
}

// signallingJob reports each run without ever blocking the scheduler.
type signallingJob struct {
	name string
	runs chan<- string
}

func (j signallingJob) Execute(context.Context) error {
	select {
	case j.runs <- j.name:
	default:
	}
	return nil
}

func (j signallingJob) Description() string { return j.name }

func TestQueueWithScheduler(t *testing.T) {
	t.Parallel()
	q := newJobQueue()
	// Blocking execution runs jobs one at a time in the scheduler's loop, so
	// a job that fires after another cannot report before it.
	sched, err := quartz.NewStdScheduler(quartz.WithQueue(q, &sync.Mutex{}), quartz.WithBlockingExecution())
	require.NoError(t, err)
	runs := make(chan string, 64)
	schedule := func(name string, trigger quartz.Trigger) *quartz.JobKey {
		t.Helper()
		key := quartz.NewJobKey(name)
		require.NoError(t, sched.ScheduleJob(quartz.NewJobDetail(signallingJob{name: name, runs: runs}, key), trigger))
		return key
	}
	await := func(name string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case got := <-runs:
				if got == name {
					return
				}
			case <-timeout:
				t.Fatalf("%s did not run", name)
			}
		}
	}

	once := schedule("once", quartz.NewRunOnceTrigger(time.Millisecond))
	every := schedule("every", quartz.NewSimpleTrigger(10*time.Millisecond))
	never := schedule("never", quartz.NewSimpleTrigger(time.Hour))
	err = sched.ScheduleJob(quartz.NewJobDetail(inertJob{}, never), quartz.NewSimpleTrigger(time.Minute))
	require.ErrorIs(t, err, quartz.ErrJobAlreadyExists)

	sched.Start(t.Context())
	defer func() {
		sched.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sched.Wait(ctx)
	}()

	await("once")
	await("every")
	await("every")
	// An expired run-once trigger leaves the queue when it fires.
	_, err = sched.GetScheduledJob(once)
	require.ErrorIs(t, err, quartz.ErrJobNotFound)

	require.NoError(t, sched.PauseJob(never))
	paused, err := sched.GetScheduledJob(never)
	require.NoError(t, err)
	require.Equal(t, int64(math.MaxInt64), paused.NextRunTime())
	require.NoError(t, sched.ResumeJob(never))

	require.NoError(t, sched.DeleteJob(every))
	// Runs that ended before the delete may still wait in the channel, the
	// more of them the slower this goroutine got here: they are not late.
	for drained := false; !drained; {
		select {
		case <-runs:
		default:
			drained = true
		}
	}
	_, err = sched.GetScheduledJob(every)
	require.ErrorIs(t, err, quartz.ErrJobNotFound)
	require.ErrorIs(t, sched.DeleteJob(every), quartz.ErrJobNotFound)
	keys, err := sched.GetJobKeys()
	require.NoError(t, err)
	if diff := gocmp.Diff([]string{"default::never"}, sortedKeyStrings(keys)); diff != "" {
		t.Errorf("job keys (-want +got):\n%s", diff)
	}

	// A run of "every" may have been fetched just before the delete and end
	// after the drain; once a later job has run, no further run can follow.
	schedule("sentinel", quartz.NewRunOnceTrigger(30*time.Millisecond))
	late := 0
	timeout := time.After(5 * time.Second)
	for sentinel := false; !sentinel; {
		select {
		case got := <-runs:
			sentinel = got == "sentinel"
			if got == "every" {
				late++
			}
		case <-timeout:
			t.Fatal("sentinel did not run")
		}
	}
	require.LessOrEqual(t, late, 1)
	select {
	case got := <-runs:
		t.Fatalf("unexpected run of %s", got)
	default:
	}
}

func sortedKeyStrings(keys []*quartz.JobKey) []string {
	out := make([]string, len(keys))
	for i, key := range keys {
		out[i] = key.String()
	}
	slices.Sort(out)
	return out
}

// BenchmarkQueue compares ours with go-quartz's default queue. An iteration
// pushes n jobs, removes a random half by key and pops the rest, so no
// untimed refill is needed: refilling the default queue costs far more than
// what is measured. Each phase reports its cost per job it handled.
func BenchmarkQueue(b *testing.B) {
	impls := []struct {
		name  string
		new   func() quartz.JobQueue
		sizes []int
	}{
		{"indexed", func() quartz.JobQueue { return newJobQueue() }, []int{1_000, 10_000, 100_000}},
		// The default queue copies itself on each push and remove; beyond
		// 5,000 jobs a single iteration takes seconds.
		{"default", quartz.NewJobQueue, []int{1_000, 5_000}},
	}
	f := newQuartzJobFactory(b)
	rng := rand.New(rand.NewPCG(9, 9))
	var jobs []quartz.ScheduledJob
	for i := range 100_000 {
		jobs = append(jobs, f.make(b, quartz.NewJobKey(fmt.Sprintf("job%d", i)), rng.Int64N(1<<40), false, false))
	}

	for _, impl := range impls {
		for _, n := range impl.sizes {
			jobs := jobs[:n]
			removed := make([]*quartz.JobKey, n)
			for i, job := range jobs {
				removed[i] = job.JobDetail().JobKey()
			}
			rng.Shuffle(n, func(i, j int) { removed[i], removed[j] = removed[j], removed[i] })
			removed = removed[:n/2]
			b.Run(fmt.Sprintf("%s/%d", impl.name, n), func(b *testing.B) {
				b.ReportAllocs()
				var push, remove, pop time.Duration
				iterations := 0
				for b.Loop() {
					q := impl.new()
					start := time.Now()
					for _, job := range jobs {
						if err := q.Push(job); err != nil {
							b.Fatal(err)
						}
					}
					push += time.Since(start)
					start = time.Now()
					for _, key := range removed {
						if _, err := q.Remove(key); err != nil {
							b.Fatal(err)
						}
					}
					remove += time.Since(start)
					start = time.Now()
					for range n - len(removed) {
						if _, err := q.Pop(); err != nil {
							b.Fatal(err)
						}
					}
					pop += time.Since(start)
					iterations++
				}
				perJob := func(d time.Duration, jobs int) float64 {
					return float64(d.Nanoseconds()) / float64(iterations*jobs)
				}
				b.ReportMetric(perJob(push, n), "push-ns/job")
				b.ReportMetric(perJob(remove, len(removed)), "remove-ns/job")
				b.ReportMetric(perJob(pop, n-len(removed)), "pop-ns/job")
			})
		}
	}
}
