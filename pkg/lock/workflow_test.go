package lock

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// newTestManager returns a manager on the local Redis under a key prefix of
// its own, whose keys are deleted when the test ends.
func newTestManager(t *testing.T, hooks ...redis.Hook) (*DistributedLockManager, *redis.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis")
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	for _, h := range hooks {
		rdb.AddHook(h)
	}
	prefix := "wfr_test_" + uuid.NewString() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		admin := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer admin.Close()
		if keys, err := admin.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			admin.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return NewDistributedLockManager(rdb, prefix), rdb
}

// unreachable is a client of a port where nothing listens, failing at once.
func unreachable(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// outage makes every command fail as if Redis had gone away while set, so
// that a test can take Redis down under a holder that already has the lock.
type outage struct{ down atomic.Bool }

func (o *outage) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o *outage) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if o.down.Load() {
			err := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (o *outage) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, prefix, want string
	}{
		{"seed's key under the default prefix", "", "workflow_runtime:locks:workflow_wf-1"},
		{"configured prefix", "staging:", "staging:locks:workflow_wf-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := NewDistributedLockManager(nil, tt.prefix).Key("wf-1")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Key (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAcquireLockExcludesOthers(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t)
	ctx := context.Background()
	const workers = 50
	var inside, overlaps, entered atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				l, err := m.AcquireLock(ctx, "wf", 10*time.Second)
				if errors.Is(err, ErrLockHeld) {
					time.Sleep(time.Millisecond) // back off, not synchronise
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				time.Sleep(time.Millisecond) // stay inside long enough for an overlap to show
				inside.Add(-1)
				entered.Add(1)
				if err := m.ReleaseLock(ctx, l); err != nil {
					t.Error(err)
				}
				return
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff(int32(0), overlaps.Load()); diff != "" {
		t.Errorf("entries while another held the lock (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(int32(workers), entered.Load()); diff != "" {
		t.Errorf("holders that got the lock (-want +got):\n%s", diff)
	}
}

func TestLockExpiresAfterTTL(t *testing.T) {
	t.Parallel()
	m, rdb := newTestManager(t)
	ctx := context.Background()
	const ttl = 200 * time.Millisecond

	first, err := m.AcquireLock(ctx, "wf", ttl)
	require.NoError(t, err)
	_, err = m.AcquireLock(ctx, "wf", ttl)
	require.ErrorIs(t, err, ErrLockHeld)
	if diff := cmp.Diff(errors.FailedPrecondition, errors.KindOf(err)); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	left, err := rdb.PTTL(ctx, first.Key).Result()
	require.NoError(t, err)
	require.True(t, left > 0 && left <= ttl, "PTTL %v, want in (0, %v]", left, ttl)

	var second *Lock
	require.Eventually(t, func() bool {
		l, err := m.AcquireLock(ctx, "wf", time.Minute)
		second = l
		return err == nil
	}, 3*time.Second, 20*time.Millisecond, "the lock is free once its TTL has passed")
	require.NotEqual(t, first.Token, second.Token)

	require.ErrorIs(t, m.ExtendLock(ctx, first, time.Minute), ErrNotHolder, "an expired holder cannot extend")
	require.ErrorIs(t, m.ReleaseLock(ctx, first), ErrNotHolder, "an expired holder cannot release")
	got, err := rdb.Get(ctx, first.Key).Result()
	require.NoError(t, err)
	if diff := cmp.Diff(second.Token, got); diff != "" {
		t.Errorf("the new holder keeps the lock (-want +got):\n%s", diff)
	}
}

func TestCompareAndSet(t *testing.T) {
	t.Parallel()
	stranger := func(l *Lock) *Lock { return &Lock{WorkflowID: l.WorkflowID, Key: l.Key, Token: "not-the-token"} }
	tests := []struct {
		name     string
		act      func(context.Context, *DistributedLockManager, *Lock) error
		wantErr  error
		wantTTL  time.Duration // remaining time afterwards; 0 when the key is gone
		wantKept bool          // the key still holds the holder's token
	}{
		{
			name:    "holder releases",
			act:     func(ctx context.Context, m *DistributedLockManager, l *Lock) error { return m.ReleaseLock(ctx, l) },
			wantTTL: 0,
		},
		{
			name: "holder releases twice",
			act: func(ctx context.Context, m *DistributedLockManager, l *Lock) error {
				require.NoError(t, m.ReleaseLock(ctx, l))
				return m.ReleaseLock(ctx, l)
			},
			wantErr: ErrNotHolder,
		},
		{
			name: "stranger cannot release",
			act: func(ctx context.Context, m *DistributedLockManager, l *Lock) error {
				return m.ReleaseLock(ctx, stranger(l))
			},
			wantErr:  ErrNotHolder,
			wantTTL:  10 * time.Second,
			wantKept: true,
		},
		{
			name: "holder extends",
			act: func(ctx context.Context, m *DistributedLockManager, l *Lock) error {
				return m.ExtendLock(ctx, l, time.Minute)
			},
			wantTTL:  time.Minute,
			wantKept: true,
		},
		{
			name: "stranger cannot extend",
			act: func(ctx context.Context, m *DistributedLockManager, l *Lock) error {
				return m.ExtendLock(ctx, stranger(l), time.Minute)
			},
			wantErr:  ErrNotHolder,
			wantTTL:  10 * time.Second,
			wantKept: true,
		},
		{
			name: "released lock is not revived by extend",
			act: func(ctx context.Context, m *DistributedLockManager, l *Lock) error {
				require.NoError(t, m.ReleaseLock(ctx, l))
				return m.ExtendLock(ctx, l, time.Minute)
			},
			wantErr: ErrNotHolder,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, rdb := newTestManager(t)
			ctx := context.Background()
			l, err := m.AcquireLock(ctx, "wf", 10*time.Second)
			require.NoError(t, err)

			err = tt.act(ctx, m, l)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
				if diff := cmp.Diff(errors.Aborted, errors.KindOf(err)); diff != "" {
					t.Errorf("kind (-want +got):\n%s", diff)
				}
			}
			got, err := rdb.Get(ctx, l.Key).Result()
			if tt.wantKept {
				require.NoError(t, err)
				if diff := cmp.Diff(l.Token, got); diff != "" {
					t.Errorf("token in Redis (-want +got):\n%s", diff)
				}
			} else {
				require.ErrorIs(t, err, redis.Nil)
			}
			left, err := rdb.PTTL(ctx, l.Key).Result()
			require.NoError(t, err)
			if tt.wantTTL == 0 {
				require.Negative(t, left, "key gone")
			} else {
				require.InDelta(t, tt.wantTTL, left, float64(2*time.Second))
			}
		})
	}
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(context.Context, *DistributedLockManager) error
	}{
		{"acquire without workflow", func(ctx context.Context, m *DistributedLockManager) error {
			_, err := m.AcquireLock(ctx, "", time.Minute)
			return err
		}},
		{"acquire for under a millisecond", func(ctx context.Context, m *DistributedLockManager) error {
			_, err := m.AcquireLock(ctx, "wf", 500*time.Microsecond)
			return err
		}},
		{"hold for no time", func(ctx context.Context, m *DistributedLockManager) error {
			_, _, err := m.Hold(ctx, "wf", 0)
			return err
		}},
		{"release nil", func(ctx context.Context, m *DistributedLockManager) error { return m.ReleaseLock(ctx, nil) }},
		{"extend nil", func(ctx context.Context, m *DistributedLockManager) error { return m.ExtendLock(ctx, nil, time.Minute) }},
		{"extend by a negative ttl", func(ctx context.Context, m *DistributedLockManager) error {
			return m.ExtendLock(ctx, &Lock{WorkflowID: "wf", Key: "k", Token: "t"}, -time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Arguments are checked before Redis is asked, so no Redis is needed.
			m := NewDistributedLockManager(unreachable(t), "")
			err := tt.call(context.Background(), m)
			require.Error(t, err)
			if diff := cmp.Diff(errors.Invalid, errors.KindOf(err)); diff != "" {
				t.Errorf("kind (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	held := &Lock{WorkflowID: "wf", Key: "k", Token: "t"}
	tests := []struct {
		name string
		call func(context.Context, *DistributedLockManager) error
	}{
		{"acquire", func(ctx context.Context, m *DistributedLockManager) error {
			_, err := m.AcquireLock(ctx, "wf", time.Minute)
			return err
		}},
		{"release", func(ctx context.Context, m *DistributedLockManager) error { return m.ReleaseLock(ctx, held) }},
		{"extend", func(ctx context.Context, m *DistributedLockManager) error {
			return m.ExtendLock(ctx, held, time.Minute)
		}},
		{"hold", func(ctx context.Context, m *DistributedLockManager) error {
			_, _, err := m.Hold(ctx, "wf", time.Minute)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := NewDistributedLockManager(unreachable(t), "")
			err := tt.call(context.Background(), m)
			require.ErrorIs(t, err, ErrUnavailable)
			require.ErrorIs(t, err, syscall.ECONNREFUSED, "the Redis cause is kept")
			if diff := cmp.Diff(codes.Unavailable, errors.Code(err)); diff != "" {
				t.Errorf("gRPC code (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallerCancelIsNotUnavailable(t *testing.T) {
	t.Parallel()
	m := NewDistributedLockManager(unreachable(t), "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.AcquireLock(ctx, "wf", time.Minute)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrUnavailable, "the caller gave up; Redis may be fine")
	if diff := cmp.Diff(codes.Canceled, errors.Code(err)); diff != "" {
		t.Errorf("gRPC code (-want +got):\n%s", diff)
	}
}

// waitDone waits for ctx to end, failing the test if it does not within d.
func waitDone(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(d):
		t.Fatalf("context still live after %v", d)
	}
}

func TestHoldKeepsLockUntilLost(t *testing.T) {
	t.Parallel()
	m, rdb := newTestManager(t)
	ctx := context.Background()
	const ttl = 600 * time.Millisecond

	held, release, err := m.Hold(ctx, "wf", ttl)
	require.NoError(t, err)
	select {
	case <-held.Done():
		t.Fatalf("lock lost while held: %v", context.Cause(held))
	case <-time.After(3 * ttl):
	}
	_, err = m.AcquireLock(ctx, "wf", ttl)
	require.ErrorIs(t, err, ErrLockHeld, "renewals keep the lock past several TTLs")

	require.NoError(t, rdb.Del(ctx, m.Key("wf")).Err())
	// The next renewal, at most ttl/3 away, finds the key gone; waiting
	// for the TTL to run out instead would take at least 2*ttl/3.
	waitDone(t, held, ttl/2)
	cause := context.Cause(held)
	require.ErrorIs(t, cause, ErrLockLost)
	require.ErrorIs(t, cause, ErrNotHolder)
	if diff := cmp.Diff(errors.Aborted, errors.KindOf(cause)); diff != "" {
		t.Errorf("kind of the cause (-want +got):\n%s", diff)
	}
	require.ErrorIs(t, release(ctx), ErrNotHolder, "release reports that the lock was lost")
}

func TestHoldLosesLockWhenRedisGoesAway(t *testing.T) {
	t.Parallel()
	var o outage
	m, _ := newTestManager(t, &o)
	ctx := context.Background()
	// Renewals every 500 ms, so that one has failed before the lock's
	// expiry under any load: with 300 ms, a goroutine scheduled late saw
	// none fail, and "not renewed" was the reason.
	const ttl = 1500 * time.Millisecond

	held, release, err := m.Hold(ctx, "wf", ttl)
	require.NoError(t, err)
	o.down.Store(true)
	waitDone(t, held, 3*ttl)
	cause := context.Cause(held)
	require.ErrorIs(t, cause, ErrLockLost)
	require.ErrorIs(t, cause, ErrUnavailable, "the last renewal failure is the reason")
	require.ErrorIs(t, release(ctx), ErrUnavailable)
}

func TestHoldRelease(t *testing.T) {
	t.Parallel()
	m, rdb := newTestManager(t)
	ctx := context.Background()

	held, release, err := m.Hold(ctx, "wf", time.Minute)
	require.NoError(t, err)
	_, _, err = m.Hold(ctx, "wf", time.Minute)
	require.ErrorIs(t, err, ErrLockHeld)

	require.NoError(t, release(ctx))
	require.NoError(t, release(ctx), "release is idempotent")
	require.ErrorIs(t, context.Cause(held), context.Canceled, "released, not lost")
	n, err := rdb.Exists(ctx, m.Key("wf")).Result()
	require.NoError(t, err)
	if diff := cmp.Diff(int64(0), n); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
	_, err = m.AcquireLock(ctx, "wf", time.Minute)
	require.NoError(t, err, "a released lock can be taken again")
}

func TestWatchdogStopsWithItsContext(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t)
	ctx, cancel := context.WithCancel(context.Background())
	l, err := m.AcquireLock(ctx, "wf", time.Minute)
	require.NoError(t, err)

	w := m.watch(ctx, l, time.Minute, time.Now())
	cancel()
	select {
	case <-w.done:
	case <-time.After(time.Second):
		t.Fatal("watchdog still running after its context ended")
	}
	require.NoError(t, w.release(context.Background()), "the lock outlives the watchdog until released")
}

func TestAcquireLockFor(t *testing.T) {
	t.Parallel()
	m, rdb := newTestManager(t)
	ctx := context.Background()
	const holder = "5b0e8a39-96a3-4c32-9d59-7e0e3f0f0a11"

	l, err := m.AcquireLockFor(ctx, "wf", holder, 10*time.Second)
	require.NoError(t, err)
	if diff := cmp.Diff(&Lock{WorkflowID: "wf", Key: m.Key("wf"), Token: holder}, l); diff != "" {
		t.Errorf("AcquireLockFor (-want +got):\n%s", diff)
	}
	got, err := rdb.Get(ctx, m.Key("wf")).Result()
	require.NoError(t, err)
	if diff := cmp.Diff(holder, got); diff != "" {
		t.Errorf("token in Redis (-want +got):\n%s", diff)
	}
	left, err := rdb.PTTL(ctx, l.Key).Result()
	require.NoError(t, err)
	require.True(t, left > 0 && left <= 10*time.Second, "PTTL %v, want in (0, 10s]", left)

	// The lock is held, by another holder or by the same one.
	for _, h := range []string{"another-execution", holder} {
		_, err = m.AcquireLockFor(ctx, "wf", h, time.Minute)
		require.ErrorIs(t, err, ErrLockHeld, "holder %q", h)
		if diff := cmp.Diff(errors.FailedPrecondition, errors.KindOf(err)); diff != "" {
			t.Errorf("kind (-want +got):\n%s", diff)
		}
	}
	_, err = m.AcquireLock(ctx, "wf", time.Minute)
	require.ErrorIs(t, err, ErrLockHeld, "a random token does not take it either")
	got, err = rdb.Get(ctx, m.Key("wf")).Result()
	require.NoError(t, err)
	require.Equal(t, holder, got, "failed acquisitions leave the token")
	left, err = rdb.PTTL(ctx, l.Key).Result()
	require.NoError(t, err)
	require.LessOrEqual(t, left, 10*time.Second, "failed acquisitions leave the TTL")

	other, err := m.AcquireLockFor(ctx, "wf-2", holder, time.Minute)
	require.NoError(t, err, "locks are per workflow")
	require.Equal(t, m.Key("wf-2"), other.Key)

	require.NoError(t, m.ReleaseLock(ctx, l))
	l, err = m.AcquireLockFor(ctx, "wf", "another-execution", time.Minute)
	require.NoError(t, err, "a released lock is free for any holder")
	require.Equal(t, "another-execution", l.Token)
}

func TestAcquireLockForInvalid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, workflowID, holder string
		ttl                      time.Duration
	}{
		{"empty holder", "wf", "", time.Minute},
		{"empty workflow", "", "holder", time.Minute},
		{"ttl under a millisecond", "wf", "holder", time.Microsecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Arguments are checked before Redis is asked: Invalid, not Unavailable.
			m := NewDistributedLockManager(unreachable(t), "")
			l, err := m.AcquireLockFor(context.Background(), tt.workflowID, tt.holder, tt.ttl)
			require.Error(t, err)
			require.Nil(t, l)
			require.NotErrorIs(t, err, ErrUnavailable)
			if diff := cmp.Diff(errors.Invalid, errors.KindOf(err)); diff != "" {
				t.Errorf("kind (-want +got):\n%s", diff)
			}
		})
	}

	// With Redis there, an empty holder writes nothing.
	m, rdb := newTestManager(t)
	ctx := context.Background()
	_, err := m.AcquireLockFor(ctx, "wf", "", time.Minute)
	require.Error(t, err)
	n, err := rdb.Exists(ctx, m.Key("wf")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "no key written for an empty holder")
}

func TestHeldBy(t *testing.T) {
	t.Parallel()
	// HeldBy does not ask Redis: a manager without a client answers.
	offline := NewDistributedLockManager(nil, "staging:")
	if diff := cmp.Diff(&Lock{WorkflowID: "wf-1", Key: "staging:locks:workflow_wf-1", Token: "exec-1"}, offline.HeldBy("wf-1", "exec-1")); diff != "" {
		t.Errorf("HeldBy (-want +got):\n%s", diff)
	}

	m, rdb := newTestManager(t)
	ctx := context.Background()
	const holder = "exec-1"
	_, err := m.AcquireLockFor(ctx, "wf", holder, 10*time.Second)
	require.NoError(t, err)

	// Another holder's Lock neither extends nor releases it.
	stranger := m.HeldBy("wf", "exec-2")
	for name, err := range map[string]error{
		"extend":  m.ExtendLock(ctx, stranger, time.Minute),
		"release": m.ReleaseLock(ctx, stranger),
	} {
		require.ErrorIs(t, err, ErrNotHolder, name)
		if diff := cmp.Diff(errors.Aborted, errors.KindOf(err)); diff != "" {
			t.Errorf("%s: kind (-want +got):\n%s", name, diff)
		}
	}
	got, err := rdb.Get(ctx, m.Key("wf")).Result()
	require.NoError(t, err)
	require.Equal(t, holder, got)
	left, err := rdb.PTTL(ctx, m.Key("wf")).Result()
	require.NoError(t, err)
	require.LessOrEqual(t, left, 10*time.Second, "the stranger did not extend it")

	// The holder's Lock, rebuilt without the one AcquireLockFor returned
	// (by another replica, say, under the same prefix), extends and releases it.
	adopter := NewDistributedLockManager(rdb, m.prefix)
	mine := adopter.HeldBy("wf", holder)
	require.NoError(t, adopter.ExtendLock(ctx, mine, time.Minute))
	left, err = rdb.PTTL(ctx, m.Key("wf")).Result()
	require.NoError(t, err)
	require.InDelta(t, time.Minute, left, float64(2*time.Second))
	require.NoError(t, adopter.ReleaseLock(ctx, mine))
	n, err := rdb.Exists(ctx, m.Key("wf")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "released")
	require.ErrorIs(t, adopter.ExtendLock(ctx, mine, time.Minute), ErrNotHolder, "a released lock is not revived")
	require.ErrorIs(t, adopter.ReleaseLock(ctx, mine), ErrNotHolder)
}

func TestHolder(t *testing.T) {
	t.Parallel()
	m, rdb := newTestManager(t)
	ctx := context.Background()

	got, err := m.Holder(ctx, "wf")
	require.NoError(t, err)
	require.Empty(t, got, "a free lock has no holder")

	l, err := m.AcquireLockFor(ctx, "wf", "exec-1", time.Minute)
	require.NoError(t, err)
	got, err = m.Holder(ctx, "wf")
	require.NoError(t, err)
	require.Equal(t, "exec-1", got)
	got, err = m.Holder(ctx, "wf-2")
	require.NoError(t, err)
	require.Empty(t, got, "locks are per workflow")

	random, err := m.AcquireLock(ctx, "wf-3", time.Minute)
	require.NoError(t, err)
	got, err = m.Holder(ctx, "wf-3")
	require.NoError(t, err)
	require.Equal(t, random.Token, got, "a random token is a holder too")

	require.NoError(t, m.ReleaseLock(ctx, l))
	got, err = m.Holder(ctx, "wf")
	require.NoError(t, err)
	require.Empty(t, got, "released")

	// A key set another way, with the seed's naming, is read as it is.
	require.NoError(t, rdb.Set(ctx, m.Key("wf"), "seed-execution", time.Minute).Err())
	got, err = m.Holder(ctx, "wf")
	require.NoError(t, err)
	require.Equal(t, "seed-execution", got)
}

func TestHolderUnreachable(t *testing.T) {
	t.Parallel()
	m := NewDistributedLockManager(unreachable(t), "")
	got, err := m.Holder(context.Background(), "wf")
	require.Empty(t, got)
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "the Redis cause is kept")
	if diff := cmp.Diff(errors.Unavailable, errors.KindOf(err)); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(codes.Unavailable, errors.Code(err)); diff != "" {
		t.Errorf("gRPC code (-want +got):\n%s", diff)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Holder(ctx, "wf")
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrUnavailable, "the caller gave up; Redis may be fine")
}

func TestKeep(t *testing.T) {
	t.Parallel()
	m, rdb := newTestManager(t)
	ctx := context.Background()
	// Renewals every 300 ms, with 600 ms of slack for a late one on a
	// loaded host (300 ms had 200).
	const ttl = 900 * time.Millisecond
	const holder = "exec-1"

	sent := time.Now()
	l, err := m.AcquireLockFor(ctx, "wf", holder, ttl)
	require.NoError(t, err)
	held, release := m.Keep(ctx, l, ttl, sent)
	select {
	case <-held.Done():
		t.Fatalf("lock lost while kept: %v", context.Cause(held))
	case <-time.After(4 * ttl):
	}
	got, err := m.Holder(ctx, "wf")
	require.NoError(t, err)
	require.Equal(t, holder, got, "renewals keep the lock past several TTLs")
	left, err := rdb.PTTL(ctx, l.Key).Result()
	require.NoError(t, err)
	require.True(t, left > 0 && left <= ttl, "PTTL %v, want in (0, %v]", left, ttl)

	require.NoError(t, release(ctx))
	require.NoError(t, release(ctx), "release is idempotent")
	require.ErrorIs(t, context.Cause(held), context.Canceled, "released, not lost")
	got, err = m.Holder(ctx, "wf")
	require.NoError(t, err)
	require.Empty(t, got, "release releases the lock")
	_, err = m.AcquireLockFor(ctx, "wf", "exec-2", time.Minute)
	require.NoError(t, err, "a released lock can be taken again")
}

func TestKeepAdoptedLock(t *testing.T) {
	t.Parallel()
	m, rdb := newTestManager(t)
	ctx := context.Background()
	// Renewals every 300 ms, with 600 ms of slack for a late one on a
	// loaded host (300 ms had 200).
	const ttl = 900 * time.Millisecond

	// One replica took the lock for an execution; another carries it on
	// from the execution id alone.
	_, err := m.AcquireLockFor(ctx, "wf", "exec-1", ttl)
	require.NoError(t, err)
	adopter := NewDistributedLockManager(rdb, m.prefix)
	l := adopter.HeldBy("wf", "exec-1")
	sent := time.Now()
	require.NoError(t, adopter.ExtendLock(ctx, l, ttl))
	held, release := adopter.Keep(ctx, l, ttl, sent)
	select {
	case <-held.Done():
		t.Fatalf("lock lost while kept: %v", context.Cause(held))
	case <-time.After(3 * ttl):
	}
	got, err := m.Holder(ctx, "wf")
	require.NoError(t, err)
	require.Equal(t, "exec-1", got)
	require.NoError(t, release(ctx))
	got, err = m.Holder(ctx, "wf")
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestKeepLosesDeletedLock(t *testing.T) {
	t.Parallel()
	m, rdb := newTestManager(t)
	ctx := context.Background()
	// Renewals every 500 ms: with 300 ms, a renewal late by more than
	// 150 ms on a loaded host let the lock expire before the test looked.
	const ttl = 1500 * time.Millisecond

	sent := time.Now()
	l, err := m.AcquireLockFor(ctx, "wf", "exec-1", ttl)
	require.NoError(t, err)
	held, release := m.Keep(ctx, l, ttl, sent)
	time.Sleep(ttl / 2) // past the first renewal
	require.NoError(t, held.Err(), "kept so far")

	require.NoError(t, rdb.Del(ctx, m.Key("wf")).Err())
	// The next renewal, at most ttl/3 away, finds the key gone.
	waitDone(t, held, ttl)
	cause := context.Cause(held)
	require.ErrorIs(t, cause, ErrLockLost)
	require.ErrorIs(t, cause, ErrNotHolder, "a renewal found the key gone")
	if diff := cmp.Diff(errors.Aborted, errors.KindOf(cause)); diff != "" {
		t.Errorf("kind of the cause (-want +got):\n%s", diff)
	}
	require.ErrorIs(t, release(ctx), ErrNotHolder, "release reports that the lock was lost")
}

func TestKeepCountsFromSent(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t)
	ctx := context.Background()
	// Long enough that the first renewal, ttl/3 away, cannot come first.
	const ttl = 3 * time.Second

	// A request sent a whole TTL ago may have taken a lock that is already
	// gone: the watchdog gives it up before its first renewal.
	l, err := m.AcquireLockFor(ctx, "wf", "exec-1", ttl)
	require.NoError(t, err)
	held, release := m.Keep(ctx, l, ttl, time.Now().Add(-ttl))
	waitDone(t, held, ttl/6)
	require.ErrorIs(t, context.Cause(held), ErrLockLost)
	require.NotErrorIs(t, context.Cause(held), ErrNotHolder, "lost to time, not to another holder")
	require.NoError(t, release(ctx), "the key still held the token: release deletes it")
}
