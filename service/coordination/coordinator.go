package coordination

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/metrics"
	"github.com/go-kit/kit/metrics/discard"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/engine"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Store is what the coordinator reads and writes.
type Store interface {
	GetDeployment(ctx context.Context, id string) (*workflow.Deployment, error)
	GetDeploymentVersion(ctx context.Context, id string, version int64) (*workflow.DeploymentVersion, error)
	GetActiveDeployment(ctx context.Context, workflowID string) (*workflow.Deployment, error)
	CreateExecution(ctx context.Context, e *workflow.Execution) (bool, error)
	FindExecutionByKey(ctx context.Context, workflowID, key string) (*workflow.Execution, error)
	GetExecution(ctx context.Context, id string) (*workflow.Execution, error)
	ListExecutions(ctx context.Context, f workflow.ExecutionFilter) (workflow.ExecutionPage, error)
	ListUnfinishedExecutions(ctx context.Context, workflowID string) ([]workflow.Execution, error)
	TakeTurn(ctx context.Context, id, owner string) (string, error)
	TakeSlot(ctx context.Context, id, owner string, n int32) (bool, error)
	TransitionExecution(ctx context.Context, id string, t store.Transition) (*workflow.Execution, error)
	RetryExecution(ctx context.Context, id string, t store.Transition, firedAt, notBefore time.Time, lease time.Duration) (ended, next *workflow.Execution, err error)
	CountRunEnd(ctx context.Context, id string, failed bool) (int32, error)
	UpdateDeployment(ctx context.Context, id string, m store.Mutation) (*workflow.Deployment, error)
	RenewLeases(ctx context.Context, owner string, ids []string, lease time.Duration) (lost []string, err error)
	AdoptExecutions(ctx context.Context, owner string, lease time.Duration, limit int) ([]workflow.Execution, error)
	ClaimExecutions(ctx context.Context, owner string, lease time.Duration, limit int) ([]workflow.Execution, error)
	LeaseExpired(ctx context.Context, id string) (bool, error)
	ReleaseLeases(ctx context.Context, owner string, ids []string) error
	// GetBackfill names the overlap policy of a backfill's executions.
	GetBackfill(ctx context.Context, id string) (*workflow.Backfill, error)
}

// Locker is the per-workflow lock (lock.DistributedLockManager). The
// coordinator holds it under the execution id, so that the replica that
// adopts an execution can renew and release its lock.
type Locker interface {
	AcquireLockFor(ctx context.Context, workflowID, holder string, ttl time.Duration) (*lock.Lock, error)
	HeldBy(workflowID, holder string) *lock.Lock
	Holder(ctx context.Context, workflowID string) (string, error)
	ExtendLock(ctx context.Context, l *lock.Lock, ttl time.Duration) error
	ReleaseLock(ctx context.Context, l *lock.Lock) error
	Keep(ctx context.Context, l *lock.Lock, ttl time.Duration, sent time.Time) (context.Context, func(context.Context) error)
}

// Options tune the coordinator; zero values take the defaults named below.
type Options struct {
	// InstanceID names this replica as the owner of the executions it runs.
	InstanceID string
	// Lease is how long an execution stays this replica's without a renewal
	// (default 30 s); leases are renewed every Lease/3, and another replica
	// adopts an execution whose lease ran out.
	Lease time.Duration
	// ExecutionTimeout applies to deployments that set none (default 1 h).
	ExecutionTimeout time.Duration
	// LockGrace is how long a workflow lock outlives the execution's
	// timeout when no one renews it (default 1 min).
	LockGrace time.Duration
	// PollMin and PollMax bound the wait between two status reads of a
	// running execution (default 100 ms, doubling up to 5 s).
	PollMin, PollMax time.Duration
	// MaxConcurrentPolls bounds the status reads in flight (default 64).
	MaxConcurrentPolls int
	// RetryMin and RetryMax bound the wait between two attempts to reach an
	// unavailable engine, database or lock (default 200 ms, doubling up to 10 s).
	RetryMin, RetryMax time.Duration
	// BufferRetry is how often an execution buffered by BUFFER_ONE tries the
	// workflow's lock again (default 500 ms).
	BufferRetry time.Duration
	// AdoptBatch is how many expired executions one adoption takes, and how
	// many queued ones one claim may take (default 100).
	AdoptBatch int
	// DispatchConcurrency bounds the executions this replica dispatches at
	// once (default 64); the bound in force follows what the engine takes,
	// between 1 and this (see pool). An execution accepted while it is
	// reached waits PENDING, queued, for any replica with room to claim it.
	DispatchConcurrency int
	// DispatchYield, when above 0, makes dispatch yield to triggers while
	// the Go scheduler's 90th percentile wait for a CPU passes it, the
	// replica accepts triggers, some executions wait in the queue and
	// Backlog is below three quarters of its bound: the pool then keeps an
	// eighth of its places (yield.go).
	DispatchYield time.Duration
	// AdmissionWait bounds how long a trigger waits for its run's
	// admission (default 2 s): it takes a read or two of the database, and
	// the answer must not wait for a database that does not answer.
	AdmissionWait time.Duration
	// ClaimPoll is how often a replica with room looks for queued
	// executions it was not told of: another replica's backlog (default 1 s).
	ClaimPoll time.Duration
	// Notifier, when set, is told of a deployment the coordinator paused
	// after failures, as the deployment service tells of its changes, so
	// that the scheduler and the webhook index stop at once.
	Notifier interface {
		DeploymentChanged(ctx context.Context, d *workflow.Deployment) error
	}
	// Backlog, when set, bounds the executions waiting for the engine: a
	// manual trigger takes a place in it before anything is written
	// (ARCHITECTURE "Back-pressure").
	Backlog *Backlog
	// Now is the clock that deadlines and recorded times read [time.Now].
	// Waits are real timers whatever it says. It is the wall clock wherever
	// Redis locks are used: their expiry is reckoned from its readings.
	Now     func() time.Time
	Logger  log.Logger
	Metrics Metrics
}

// Metrics are the coordinator's instruments; nil ones discard.
type Metrics struct {
	// Finished counts executions that reached a terminal status, by "status".
	Finished metrics.Counter
	// Locks counts workflow lock attempts by "outcome": acquired, held,
	// unavailable; and, as "lost", the locks a run held and lost.
	Locks metrics.Counter
	// DispatchLatency observes seconds from an execution's fire to the
	// engine's acceptance.
	DispatchLatency metrics.Histogram
	// DispatchLimit is the dispatch pool's bound in force; DispatchInUse
	// the places taken.
	DispatchLimit, DispatchInUse metrics.Gauge
	// Queued counts executions accepted into the queue, the pool being
	// full; Claimed the queued executions this replica claimed.
	Queued, Claimed metrics.Counter
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Lease, 30*time.Second)
	def(&o.ExecutionTimeout, time.Hour)
	def(&o.LockGrace, time.Minute)
	def(&o.PollMin, 100*time.Millisecond)
	def(&o.PollMax, 5*time.Second)
	def(&o.RetryMin, 200*time.Millisecond)
	def(&o.RetryMax, 10*time.Second)
	def(&o.BufferRetry, 500*time.Millisecond)
	def(&o.ClaimPoll, time.Second)
	def(&o.AdmissionWait, 2*time.Second)
	if o.DispatchConcurrency <= 0 {
		o.DispatchConcurrency = 64
	}
	if o.MaxConcurrentPolls <= 0 {
		o.MaxConcurrentPolls = 64
	}
	if o.AdoptBatch <= 0 {
		o.AdoptBatch = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Metrics.Finished == nil {
		o.Metrics.Finished = discard.NewCounter()
	}
	if o.Metrics.Locks == nil {
		o.Metrics.Locks = discard.NewCounter()
	}
	if o.Metrics.DispatchLatency == nil {
		o.Metrics.DispatchLatency = discard.NewHistogram()
	}
	for _, g := range []*metrics.Gauge{&o.Metrics.DispatchLimit, &o.Metrics.DispatchInUse} {
		if *g == nil {
			*g = discard.NewGauge()
		}
	}
	for _, c := range []*metrics.Counter{&o.Metrics.Queued, &o.Metrics.Claimed} {
		if *c == nil {
			*c = discard.NewCounter()
		}
	}
	return o
}

// Bounds of work done on contexts of their own, detached from the run's.
const (
	// dispatchTimeout bounds one dispatch to the engine and the write that
	// records it, which finish even when the replica stops meanwhile.
	dispatchTimeout = 30 * time.Second
	// cleanupTimeout bounds releasing a lock or a lease.
	cleanupTimeout = 5 * time.Second
	// redisBackoff is how long the coordinator decides overlaps in the
	// database alone after Redis failed to answer, instead of waiting for
	// Redis's timeout on every execution.
	redisBackoff = 5 * time.Second
	// adoptRounds bounds the batches adopted per lease tick.
	adoptRounds = 10
)

// Coordinator runs executions: it dispatches each one to the engine under its
// deployment's overlap policy, follows it to its end, and keeps the leases
// through which another replica carries on when this one dies. It is the
// execution coordination service of ARCHITECTURE.md.
type Coordinator struct {
	store  Store
	engine engine.Client
	locks  Locker // nil without Redis
	opts   Options

	deployments deploymentCache
	polls       chan struct{}
	pool        *pool

	// redisDownUntil is when Redis is asked again after it failed; a
	// reading of the clock (time.Now's carries a monotonic reading).
	redisMu        sync.Mutex
	redisDownUntil time.Time

	base context.Context
	halt context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	owned    map[string]*handle
	stopping bool

	signals testSignals
}

// testSignals tell a test what the coordinator did, so that it waits for
// that instead of for time to pass (as River's TestSignals do). Outside
// tests the channels are nil and a signal costs a nil check; a test makes
// them with room for every signal it causes.
type testSignals struct {
	// ran gets the id of each execution whose run on this replica returned.
	ran chan string
	// dispatchFailed gets the id of each execution whose dispatch attempt
	// failed, leaving it PENDING.
	dispatchFailed chan string
	// waiting gets the id of each execution that waits under BUFFER_ONE
	// or BUFFER_ALL for the one that holds its workflow, or for a slot.
	waiting chan string
	// due gets the id of each retry that waits for its due time, each time
	// it reads the clock and finds it early.
	due chan string
	// looked gets "" each time a claim of queued executions returns.
	looked chan string
}

// signal sends id on ch, if the test made ch. It never blocks the
// coordinator: a test that lets ch fill up misses later signals.
func (testSignals) signal(ch chan string, id string) {
	if ch == nil {
		return
	}
	select {
	case ch <- id:
	default:
	}
}

// handle is one run of an execution, to stop it. A run that outlives its
// ownership (adopted elsewhere, then adopted back here) must not stop the
// run that replaced it, hence a handle per run rather than per id.
type handle struct {
	cancel context.CancelFunc
	// admitted gets the run's first admission (see Admission).
	admitted chan Admission
	// ended is set when the run has written its execution's end.
	ended atomic.Bool
}

// New returns a coordinator over st, eng and locks (nil without Redis). It
// runs executions it creates at once; Start adds lease renewal and adoption.
func New(st Store, eng engine.Client, locks Locker, opts Options) *Coordinator {
	opts = opts.withDefaults()
	base, halt := context.WithCancel(context.Background())
	return &Coordinator{
		store: st, engine: eng, locks: locks, opts: opts,
		deployments: deploymentCache{store: st, timeout: opts.ExecutionTimeout},
		polls:       make(chan struct{}, opts.MaxConcurrentPolls),
		// The limit is cut at most once per RetryMin: the failures of one
		// round of dispatches count once.
		pool: newPool(opts.DispatchConcurrency, opts.RetryMin, opts.Now, opts.Logger, opts.Metrics),
		base: base, halt: halt,
		owned: map[string]*handle{},
	}
}

// Start renews this replica's leases, adopts executions whose lease ran
// out and claims queued ones, until Stop (startstop.Service). It adopts
// once at once, so that a replica restarting after a crash picks up what no
// one else did.
func (c *Coordinator) Start(context.Context) error {
	c.wg.Go(c.claimQueued)
	if c.opts.DispatchYield > 0 && c.opts.Backlog != nil {
		c.wg.Go(c.yieldToTriggers)
	}
	c.wg.Go(func() {
		c.adopt()
		t := time.NewTicker(c.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-c.base.Done():
				return
			case <-t.C:
				c.renew()
				c.adopt()
			}
		}
	})
	return nil
}

// Stop ends the coordinator's work, as ARCHITECTURE "Shutdown" says:
// dispatches in flight finish, every other run stops where it is, and the
// leases of executions not over are released so that another replica adopts
// them at once. Workflow locks of executions still running in the engine
// are kept for their adopter. Stop returns when all that is done, or when
// ctx ends. Only the first call does it: a later one (a deferred Stop after
// the shutdown's own) returns at once instead of outlasting the deadline.
// Its error is ctx's when ctx ended before the dispatches in flight.
func (c *Coordinator) Stop(ctx context.Context) error {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return nil
	}
	c.stopping = true
	runs := maps.Clone(c.owned)
	c.mu.Unlock()
	c.halt()

	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	var cut error
	select {
	case <-done:
	case <-ctx.Done():
		cut = ctx.Err()
		level.Warn(c.opts.Logger).Log("msg", "coordinator stopped before every dispatch in flight finished", "err", cut)
	}
	// A run that wrote its end while the stop began (the execution of a
	// SYNC call the drain waited for) has no lease left to give up.
	var ids []string
	for id, h := range runs {
		if !h.ended.Load() {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return cut
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := c.store.ReleaseLeases(rctx, c.opts.InstanceID, ids); err != nil {
		level.Warn(c.opts.Logger).Log("msg", "leases not released; they run out by themselves", "executions", len(ids), "err", err)
		return cut
	}
	level.Info(c.opts.Logger).Log("msg", "leases released", "executions", len(ids))
	return cut
}

// CreateExecution records e as a PENDING execution and runs it, or queues
// it when the dispatch pool is full; it writes nothing, and returns false,
// when store.CreateExecution does not. The scheduler records its fires
// through it.
func (c *Coordinator) CreateExecution(ctx context.Context, e *workflow.Execution) (bool, error) {
	created, _, err := c.create(ctx, e)
	return created, err
}

// create writes e in one insert, and does not wait for its dispatch. With a
// free place in the dispatch pool (and no backlog before it) the row is
// this replica's, leased, and its run starts at once, as does that of a
// run under an exclusive policy, which then waits for a place; otherwise it
// is written without an owner or a lease, queued, for whichever replica has
// room to claim (queued true).
func (c *Coordinator) create(ctx context.Context, e *workflow.Execution) (created, queued bool, err error) {
	e.Status = workflow.ExecutionPending
	c.mu.Lock()
	stopping := c.stopping
	c.mu.Unlock()
	placed := !stopping && c.pool.tryTake()
	// Only a run that starts beside any other waits in the queue. One under
	// an exclusive policy (SKIP, BUFFER_ONE, BUFFER_ALL, CANCEL_OTHER) runs
	// at once to make its overlap decision, which its caller and the other
	// runs of its workflow need now (a SKIP while the engine is stuck is
	// still a SKIP), and waits for a place only to dispatch: at most one run
	// per workflow holds the turn, so these do not make the burst.
	owned := placed || !stopping && c.exclusive(ctx, *e)
	e.OwnerInstance, e.Lease = "", 0
	if owned {
		e.OwnerInstance = c.opts.InstanceID
		// The lease runs on the database's clock, as its renewals do.
		e.Lease = c.opts.Lease
	}
	created, err = c.store.CreateExecution(ctx, e)
	switch {
	case err != nil || !created:
		if placed {
			c.pool.give(1)
		}
		return created, false, err
	case !owned:
		c.opts.Metrics.Queued.Add(1)
		c.pool.markQueued()
		return true, true, nil
	}
	c.start(*e, false, trace.SpanContextFromContext(ctx), placed)
	return true, false, nil
}

// exclusive reports whether e's run keeps its workflow to one run at a
// time; a deployment it cannot read counts as not, and the run finds out.
// A manual trigger names no deployment before its insert, which writes the
// row to the workflow's DEPLOYED deployment: its policy is that one's,
// unless the trigger overrides it. (Read as the policy of no deployment,
// it counted as not exclusive, and a SKIP run triggered while the pool was
// full waited queued behind a stuck engine: TestManualTriggerUnderAFullPool.)
func (c *Coordinator) exclusive(ctx context.Context, e workflow.Execution) bool {
	if e.DeploymentID == "" {
		if e.OverlapPolicy != "" {
			return e.OverlapPolicy != workflow.OverlapAllowAll
		}
		d, err := c.store.GetActiveDeployment(ctx, e.WorkflowID)
		if err != nil {
			return false
		}
		e.DeploymentID, e.DeploymentVersion = d.ID, d.Version
	}
	info, err := c.deployments.of(ctx, e)
	return err == nil && forRun(info, e).policy != workflow.OverlapAllowAll
}

// claimQueued claims queued executions while the pool has room: when a
// place frees while a backlog exists, when this replica queues one, and
// every ClaimPoll for the backlogs of other replicas.
func (c *Coordinator) claimQueued() {
	t := time.NewTicker(c.opts.ClaimPoll)
	defer t.Stop()
	for {
		c.claim()
		select {
		case <-c.base.Done():
			return
		case <-c.pool.wake:
		case <-t.C:
		}
	}
}

// claim takes queued executions, oldest first, as many as the pool has
// room for, until the queue is empty or the pool full. Without a known
// backlog it takes one, to look. It takes its places before it asks the
// database and gives back those it did not fill: a claim that counted its
// room and reserved none could claim a row after a new execution took the
// place, and that row would then wait here while a replica with room could
// not claim it. A trigger that comes during a claim's query finds no place
// and is queued, to be claimed next.
func (c *Coordinator) claim() {
	defer c.signals.signal(c.signals.looked, "")
	for c.base.Err() == nil {
		want := c.opts.AdoptBatch
		if !c.pool.hasBacklog() {
			want = 1
		}
		n := c.pool.takeRoom(want)
		if n == 0 {
			return
		}
		seq := c.pool.queuedSeq()
		ctx, cancel := context.WithTimeout(c.base, c.opts.Lease/3)
		rows, err := c.store.ClaimExecutions(ctx, c.opts.InstanceID, c.opts.Lease, n)
		cancel()
		if err != nil {
			c.pool.giveUnclaimed(n)
			if c.base.Err() == nil {
				level.Warn(c.opts.Logger).Log("msg", "queued executions not claimed", "err", err)
			}
			return
		}
		c.opts.Metrics.Claimed.Add(float64(len(rows)))
		c.pool.settle(len(rows) == n, seq)
		c.pool.give(n - len(rows))
		for _, e := range rows {
			c.start(e, false, trace.SpanContext{}, true)
		}
		if len(rows) < n {
			return
		}
	}
}

// start runs e in a goroutine of its own, unless this replica runs it
// already or is stopping; a stopping replica gives the lease up instead.
// adopted says that another replica may have worked on e before; placed
// that the run holds a place of the dispatch pool, taken for it. The run's
// spans are of e's trace, under parent when it is the span that created e.
func (c *Coordinator) start(e workflow.Execution, adopted bool, parent trace.SpanContext, placed bool) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		c.pool.give(b2i(placed))
		c.releaseLeases(e.ID)
		return
	}
	if _, ok := c.owned[e.ID]; ok {
		c.mu.Unlock()
		c.pool.give(b2i(placed))
		return
	}
	ctx, cancel := context.WithCancel(c.base)
	h := &handle{cancel: cancel, admitted: make(chan Admission, 1)}
	c.owned[e.ID] = h
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		r := c.newRun(e)
		r.adopted, r.admitted, r.placed = adopted, h.admitted, placed
		r.run(tracing.Resume(ctx, e.TraceID, parent))
		h.ended.Store(r.e.Status.Terminal())
		r.unplace()
		// A run that ended without an admission (timed out, stopped) has none to tell.
		r.admit("")
		c.drop(e.ID, h)
		c.signals.signal(c.signals.ran, e.ID)
	}()
}

// drop stops run h of execution id and forgets it, if it is still the one
// running id here (nil: whichever is).
func (c *Coordinator) drop(id string, h *handle) {
	c.mu.Lock()
	cur, ok := c.owned[id]
	if ok && (h == nil || cur == h) {
		delete(c.owned, id)
	}
	c.mu.Unlock()
	if ok && (h == nil || cur == h) {
		cur.cancel()
	}
	if h != nil {
		h.cancel()
	}
}

func (c *Coordinator) releaseLeases(ids ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := c.store.ReleaseLeases(ctx, c.opts.InstanceID, ids); err != nil {
		level.Warn(c.opts.Logger).Log("msg", "lease not released; it runs out by itself", "err", err)
	}
}

// renew extends the leases of every execution this replica runs, and stops
// the runs whose lease it no longer holds: they are over, or another replica
// adopted them while this one could not renew.
func (c *Coordinator) renew() {
	c.mu.Lock()
	ids := slices.Collect(maps.Keys(c.owned))
	c.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c.base, c.opts.Lease/3)
	defer cancel()
	lost, err := c.store.RenewLeases(ctx, c.opts.InstanceID, ids, c.opts.Lease)
	if err != nil {
		if c.base.Err() == nil {
			level.Warn(c.opts.Logger).Log("msg", "leases not renewed", "executions", len(ids), "err", err)
		}
		return
	}
	for _, id := range lost {
		c.drop(id, nil)
	}
}

// adopt takes over executions whose lease ran out and runs them, within one
// Lease/3 in all so that the renewal after it is not late. Its statements
// are not cut by Stop: rows adopted as the replica stops are handed back by
// start rather than left owned and idle until their lease runs out.
func (c *Coordinator) adopt() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.base), c.opts.Lease/3)
	defer cancel()
	for range adoptRounds {
		if c.base.Err() != nil {
			return
		}
		rows, err := c.store.AdoptExecutions(ctx, c.opts.InstanceID, c.opts.Lease, c.opts.AdoptBatch)
		if err != nil {
			level.Warn(c.opts.Logger).Log("msg", "adoption failed", "err", err)
			return
		}
		for _, e := range rows {
			level.Info(c.opts.Logger).Log("msg", "execution_adopted", "execution_id", e.ID, "workflow_id", e.WorkflowID,
				"status", e.Status, "trace_id", e.TraceID)
			c.start(e, true, trace.SpanContext{}, false)
		}
		if len(rows) < c.opts.AdoptBatch {
			return
		}
	}
}

// redisUsable reports whether the workflow locks are worth asking now.
func (c *Coordinator) redisUsable() bool {
	if c.locks == nil {
		return false
	}
	c.redisMu.Lock()
	defer c.redisMu.Unlock()
	return !c.opts.Now().Before(c.redisDownUntil)
}

func (c *Coordinator) redisFailed(err error) {
	c.redisMu.Lock()
	c.redisDownUntil = c.opts.Now().Add(redisBackoff)
	c.redisMu.Unlock()
	level.Warn(c.opts.Logger).Log("msg", "workflow locks unavailable: overlaps are decided in the database", "err", err)
}

// deploymentInfo is what running an execution needs of the deployment
// version it was created for. (Its trigger, the other setting of that
// version it needs, is on its row: a webhook execution's triggered_by names
// the path it came in by.)
type deploymentInfo struct {
	policy     string
	timeout    time.Duration
	definition json.RawMessage
	retry      *workflow.RetryPolicy
	pauseAfter int32
	// maxConcurrency bounds ALLOW_ALL (0: unbounded); maxBuffered the runs
	// that wait under BUFFER_ALL or maxConcurrency.
	maxConcurrency int32
	maxBuffered    int
	// triggerTimeouts are the execution timeouts that triggers set,
	// overriding timeout for their executions.
	triggerTimeouts map[string]time.Duration
}

// deploymentCache keeps deployment versions by id and version: a version
// never changes, so an entry never goes stale, and an execution of a
// version this replica has seen (nearly all of them) costs no query.
type deploymentCache struct {
	store   Store
	timeout time.Duration
	mu      sync.Mutex
	m       map[deploymentKey]*deploymentInfo
	// backfills holds backfills' overlap policies, which never change.
	backfills map[string]string
}

type deploymentKey struct {
	id      string
	version int64
}

// forRun is the deployment info that execution e runs with: its own
// overlap policy, a manual trigger's override, and its trigger's timeout,
// over the deployment's.
func forRun(info *deploymentInfo, e workflow.Execution) *deploymentInfo {
	timeout, byTrigger := info.triggerTimeouts[e.TriggerID]
	if (e.OverlapPolicy == "" || e.OverlapPolicy == info.policy) && !byTrigger {
		return info
	}
	own := *info
	own.policy = cmp.Or(e.OverlapPolicy, info.policy)
	if byTrigger {
		own.timeout = timeout
	}
	return &own
}

// maxCachedDeployments bounds the cache; past it the cache starts over.
const maxCachedDeployments = 10000

// get returns the deployment as it was at version. A version that the store
// does not keep, one written before it kept versions, runs with the
// deployment's current settings: they are the only ones left.
func (dc *deploymentCache) get(ctx context.Context, id string, version int64) (*deploymentInfo, error) {
	key := deploymentKey{id, version}
	dc.mu.Lock()
	info, ok := dc.m[key]
	dc.mu.Unlock()
	if ok {
		return info, nil
	}
	v, err := dc.store.GetDeploymentVersion(ctx, id, version)
	if errors.Is(err, store.ErrNotFound) {
		var d *workflow.Deployment
		if d, err = dc.store.GetDeployment(ctx, id); err == nil {
			v = &workflow.DeploymentVersion{DeploymentID: d.ID, Version: d.Version, Definition: d.Definition, Config: d.Config}
		}
	}
	if err != nil {
		return nil, err
	}
	info = &deploymentInfo{policy: cmp.Or(v.Config.OverlapPolicy, workflow.OverlapSkip), timeout: dc.timeout, definition: v.Definition,
		retry: v.Config.Retry, pauseAfter: v.Config.PauseAfterFailures, maxConcurrency: v.Config.MaxConcurrency,
		maxBuffered: int(cmp.Or(v.Config.MaxBuffered, workflow.DefaultMaxBuffered))}
	if v.Config.ExecutionTimeoutSeconds > 0 {
		info.timeout = time.Duration(v.Config.ExecutionTimeoutSeconds) * time.Second
	}
	// Triggers keep no versions: their current settings apply.
	d, err := dc.store.GetDeployment(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, t := range d.Triggers {
		if t.ExecutionTimeoutSeconds > 0 {
			if info.triggerTimeouts == nil {
				info.triggerTimeouts = map[string]time.Duration{}
			}
			info.triggerTimeouts[t.ID] = time.Duration(t.ExecutionTimeoutSeconds) * time.Second
		}
	}
	dc.mu.Lock()
	if dc.m == nil || len(dc.m) >= maxCachedDeployments {
		dc.m = map[deploymentKey]*deploymentInfo{}
	}
	dc.m[key] = info
	dc.mu.Unlock()
	return info, nil
}

// of returns what running e needs: its deployment version's settings, under
// the overlap policy of the backfill that started it, if one did.
func (dc *deploymentCache) of(ctx context.Context, e workflow.Execution) (*deploymentInfo, error) {
	info, err := dc.get(ctx, e.DeploymentID, e.DeploymentVersion)
	id, ok := workflow.BackfillOf(e.TriggeredBy)
	if err != nil || !ok {
		return info, err
	}
	dc.mu.Lock()
	policy, ok := dc.backfills[id]
	dc.mu.Unlock()
	if !ok {
		b, err := dc.store.GetBackfill(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return info, nil
		case err != nil:
			return nil, err
		}
		policy = b.OverlapPolicy
		dc.mu.Lock()
		if dc.backfills == nil || len(dc.backfills) >= maxCachedDeployments {
			dc.backfills = map[string]string{}
		}
		dc.backfills[id] = policy
		dc.mu.Unlock()
	}
	if policy == "" || policy == info.policy {
		return info, nil
	}
	own := *info
	own.policy = policy
	return &own, nil
}

// sleep waits d, and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// backoff doubles d up to limit.
func backoff(d, limit time.Duration) time.Duration {
	return min(2*d, limit)
}
