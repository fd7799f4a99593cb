package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// DefaultPrefix is the key prefix of the seed (WFR_REDIS_PREFIX's default):
// with it, a workflow's lock lives at the seed's key
// "workflow_runtime:locks:workflow_<workflow_id>".
const DefaultPrefix = "workflow_runtime:"

// Sentinel errors of the workflow lock. Every error the manager returns is an
// *errors.Error whose kind tells the transport how to answer; these say what
// happened and are matched with errors.Is.
var (
	// ErrLockHeld means another holder has the workflow's lock (kind
	// FailedPrecondition): under the SKIP policy the execution is skipped.
	ErrLockHeld = errors.New("locked by another holder")
	// ErrNotHolder means the lock is no longer the caller's (kind Aborted):
	// it was released, it expired, or it expired and someone else took it.
	// Whatever the caller did under the lock may now overlap another holder.
	ErrNotHolder = errors.New("lock not held: released, expired or taken by another holder")
	// ErrUnavailable means Redis gave no answer (kind Unavailable): it could
	// not be reached, timed out, or refused the command. The Redis error is
	// wrapped. Callers fall back to PostgreSQL (ARCHITECTURE "Redis down").
	ErrUnavailable = errors.New("redis unavailable")
	// ErrLockLost is the context.Cause of a context returned by Hold once the
	// watchdog could no longer keep the lock: it wraps ErrNotHolder when a
	// renewal found the lock gone, or the last renewal failure (usually
	// ErrUnavailable) when a whole TTL passed without a successful renewal.
	ErrLockLost = errors.New("workflow lock lost")
)

const (
	opAcquire errors.Op = "lock.AcquireLock"
	opRelease errors.Op = "lock.ReleaseLock"
	opExtend  errors.Op = "lock.ExtendLock"
	opHold    errors.Op = "lock.Hold"
	opHolder  errors.Op = "lock.Holder"
)

// extendScript resets the TTL only while the key still holds the caller's
// token: a plain PEXPIRE would revive a lock that expired and was taken by
// another holder.
var extendScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// DistributedLockManager takes the per-workflow locks that keep a workflow
// from running twice at once across replicas (ARCHITECTURE "Execution
// coordination"). It is safe for concurrent use.
type DistributedLockManager struct {
	client redis.UniversalClient
	prefix string
}

// NewDistributedLockManager returns a manager keeping its locks in client
// under prefix; an empty prefix means DefaultPrefix, so that a forgotten
// setting does not move the locks away from the keys other replicas use.
func NewDistributedLockManager(client redis.UniversalClient, prefix string) *DistributedLockManager {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &DistributedLockManager{client: client, prefix: prefix}
}

// Lock is what one holder owns: the key and the holder's token stored in it.
// AcquireLock draws a random token; the execution coordinator passes the
// execution id to AcquireLockFor instead, as the seed does, so that a replica
// that adopts the execution of a dead one can renew and release its lock.
// Two processes carrying on the same execution may then both renew it, which
// is right: the lock stands for the execution, not for a process.
type Lock struct {
	WorkflowID string
	Key        string
	Token      string
}

// Key returns the Redis key of workflowID's lock:
// "<prefix>locks:workflow_<workflow_id>", as the seed names it.
func (m *DistributedLockManager) Key(workflowID string) string {
	return m.prefix + "locks:workflow_" + workflowID
}

// AcquireLock takes workflowID's lock for ttl under a fresh random token, or
// fails with ErrLockHeld without waiting when another holder has it. The
// lock expires after ttl unless extended; ttl is kept to the millisecond and
// must be at least one.
func (m *DistributedLockManager) AcquireLock(ctx context.Context, workflowID string, ttl time.Duration) (*Lock, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return m.AcquireLockFor(ctx, workflowID, hex.EncodeToString(b[:]), ttl)
}

// AcquireLockFor is AcquireLock with the caller's token: holder must be
// unique to the holder, like an execution id. A lock that already holds
// holder is held all the same: ErrLockHeld.
func (m *DistributedLockManager) AcquireLockFor(ctx context.Context, workflowID, holder string, ttl time.Duration) (_ *Lock, err error) {
	ctx, span := startSpan(ctx, "lock.AcquireLock", m.Key(workflowID))
	defer func() { endSpan(span, err) }()
	if err := checkArgs(workflowID, ttl); err != nil {
		return nil, errors.E(opAcquire, errors.Invalid, err)
	}
	if holder == "" {
		return nil, errors.E(opAcquire, errors.Invalid, "empty holder token")
	}
	l := m.HeldBy(workflowID, holder)
	ok, err := m.client.SetNX(ctx, l.Key, l.Token, ttl).Result()
	switch {
	case err != nil:
		return nil, redisError(opAcquire, err)
	case !ok:
		return nil, errors.E(opAcquire, errors.FailedPrecondition, fmt.Errorf("workflow %s: %w", workflowID, ErrLockHeld))
	}
	return l, nil
}

// HeldBy returns the Lock that holder has, or would have, on workflowID's
// lock, without asking Redis: ExtendLock and ReleaseLock on it succeed only
// while the key holds holder.
func (m *DistributedLockManager) HeldBy(workflowID, holder string) *Lock {
	return &Lock{WorkflowID: workflowID, Key: m.Key(workflowID), Token: holder}
}

// Holder returns the token stored in workflowID's lock, or "" when the lock is free.
func (m *DistributedLockManager) Holder(ctx context.Context, workflowID string) (_ string, err error) {
	ctx, span := startSpan(ctx, "lock.Holder", m.Key(workflowID))
	defer func() { endSpan(span, err) }()
	v, err := m.client.Get(ctx, m.Key(workflowID)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", nil
	case err != nil:
		return "", redisError(opHolder, err)
	}
	return v, nil
}

// ReleaseLock deletes l's key if it still holds l's token, and fails with
// ErrNotHolder if it does not; a lock that expired and was taken by another
// holder is left to that holder.
func (m *DistributedLockManager) ReleaseLock(ctx context.Context, l *Lock) (err error) {
	if l == nil {
		return errors.E(opRelease, errors.Invalid, "nil lock")
	}
	ctx, span := startSpan(ctx, "lock.ReleaseLock", l.Key)
	defer func() { endSpan(span, err) }()
	n, err := releaseScript.Run(ctx, m.client, []string{l.Key}, l.Token).Int()
	return compareResult(opRelease, l, n, err)
}

// ExtendLock sets l's remaining time to ttl (not ttl more) if the key still
// holds l's token, and fails with ErrNotHolder if it does not: an expired
// lock is never revived, since someone may have held it in between.
func (m *DistributedLockManager) ExtendLock(ctx context.Context, l *Lock, ttl time.Duration) (err error) {
	if l == nil {
		return errors.E(opExtend, errors.Invalid, "nil lock")
	}
	ctx, span := startSpan(ctx, "lock.ExtendLock", l.Key)
	defer func() { endSpan(span, err) }()
	if err := checkArgs(l.WorkflowID, ttl); err != nil {
		return errors.E(opExtend, errors.Invalid, err)
	}
	n, err := extendScript.Run(ctx, m.client, []string{l.Key}, l.Token, ttl.Milliseconds()).Int()
	return compareResult(opExtend, l, n, err)
}

// Hold acquires workflowID's lock for ttl (as AcquireLock) and keeps it with
// a watchdog that renews it every ttl/3, for an execution that runs longer
// than ttl.
//
// The returned context is derived from ctx. It is cancelled when the lock is
// lost, with a context.Cause that wraps ErrLockLost; the holder must then
// stop, as another may take the lock. The watchdog gives the lock up for
// lost when a renewal finds another token (or none), or when ttl passes
// without a successful renewal (Redis unreachable): from then on another
// replica could acquire it.
//
// release stops the watchdog, waits for it to exit, releases the lock and
// cancels the returned context; it reports ReleaseLock's error (ErrNotHolder
// if the lock was lost) and returns that same error on later calls. Give it
// a context of its own, not the held one, which may be cancelled already. The
// watchdog also exits, without releasing, when ctx ends: release must still
// be called, as with context.WithCancel.
func (m *DistributedLockManager) Hold(ctx context.Context, workflowID string, ttl time.Duration) (held context.Context, release func(context.Context) error, err error) {
	start := time.Now()
	l, err := m.AcquireLock(ctx, workflowID, ttl)
	if err != nil {
		return nil, nil, err
	}
	w := m.watch(ctx, l, ttl, start)
	return w.held, w.release, nil
}

// Keep is Hold for a lock already taken (or just extended) by a request sent
// at sent, with ttl: the watchdog renews it, and gives it up for lost, as in
// Hold.
func (m *DistributedLockManager) Keep(ctx context.Context, l *Lock, ttl time.Duration, sent time.Time) (held context.Context, release func(context.Context) error) {
	w := m.watch(ctx, l, ttl, sent)
	return w.held, w.release
}

// watchdog renews one lock until it is released, lost or its context ends.
type watchdog struct {
	m      *DistributedLockManager
	lock   *Lock
	ttl    time.Duration
	held   context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{} // closed when run has returned
	once   sync.Once
	err    error
}

// watch starts the watchdog of l, which was acquired by a request sent at
// sent: the lock is sure to last until sent+ttl, not until ttl after the
// reply arrived.
func (m *DistributedLockManager) watch(ctx context.Context, l *Lock, ttl time.Duration, sent time.Time) *watchdog {
	held, cancel := context.WithCancelCause(ctx)
	w := &watchdog{
		m: m, lock: l, ttl: ttl, held: held, cancel: cancel,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go w.run(sent)
	return w
}

func (w *watchdog) run(sent time.Time) {
	defer close(w.done)
	interval := w.ttl / 3
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	expiry := time.NewTimer(time.Until(sent.Add(w.ttl)))
	defer expiry.Stop()
	reason := fmt.Errorf("not renewed within %v", w.ttl)
	for {
		select {
		case <-w.stop:
			return
		case <-w.held.Done():
			return
		case <-expiry.C:
			w.cancel(lost(reason))
			return
		case <-ticker.C:
			sent := time.Now()
			// A renewal that hangs longer than the interval would make the
			// next one late; the expiry timer covers the lock meanwhile.
			ctx, cancel := context.WithTimeout(w.held, interval)
			err := w.m.ExtendLock(ctx, w.lock, w.ttl)
			cancel()
			switch {
			case err == nil:
				expiry.Reset(time.Until(sent.Add(w.ttl)))
			case errors.Is(err, ErrNotHolder):
				w.cancel(lost(err))
				return
			default:
				reason = err
			}
		}
	}
}

func (w *watchdog) release(ctx context.Context) error {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		w.err = w.m.ReleaseLock(ctx, w.lock)
		w.cancel(nil)
	})
	return w.err
}

func lost(reason error) error {
	return errors.E(opHold, errors.Aborted, fmt.Errorf("%w: %w", ErrLockLost, reason))
}

func checkArgs(workflowID string, ttl time.Duration) error {
	switch {
	case workflowID == "":
		return errors.New("empty workflow id")
	case ttl < time.Millisecond:
		return fmt.Errorf("ttl %v is below Redis's resolution of 1ms", ttl)
	}
	return nil
}

// compareResult turns the reply of a compare-and-delete or compare-and-extend
// script (1 when the token matched) into the caller's error.
func compareResult(op errors.Op, l *Lock, n int, err error) error {
	switch {
	case err != nil:
		return redisError(op, err)
	case n == 0:
		return errors.E(op, errors.Aborted, fmt.Errorf("workflow %s: %w", l.WorkflowID, ErrNotHolder))
	}
	return nil
}

// redisError wraps a failed Redis call. A caller that cancelled its own
// context did not find Redis unreachable, so that error stays out of
// ErrUnavailable and the transport answers Canceled; a deadline, by
// contrast, means Redis did not answer in the time it was given.
func redisError(op errors.Op, err error) error {
	if errors.Is(err, context.Canceled) {
		return errors.E(op, err)
	}
	return errors.E(op, errors.Unavailable, fmt.Errorf("%w: %w", ErrUnavailable, err))
}
