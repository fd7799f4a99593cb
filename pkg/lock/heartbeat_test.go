package lock

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
)

func TestReplicasHeartbeat(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	key := prefix + "replicas"
	a, b := NewReplicas(rdb, key, "a"), NewReplicas(rdb, key, "b")

	live, err := a.Live(ctx)
	require.NoError(t, err)
	require.Empty(t, live, "nobody has beaten yet")

	require.NoError(t, a.Beat(ctx))
	require.NoError(t, b.Beat(ctx))
	live, err = a.Live(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"a", "b"}, live)
	ttl, err := rdb.PTTL(ctx, key).Result()
	require.NoError(t, err)
	require.InDelta(t, LiveWithin, ttl, float64(time.Second), "the set expires once every replica stops")

	// A beat older than LiveWithin is neither live nor kept: "old" is
	// scored a minute in the past of Redis's clock.
	now, err := rdb.Time(ctx).Result()
	require.NoError(t, err)
	require.NoError(t, rdb.ZAdd(ctx, key, redisZ(now.Add(-time.Minute), "old")).Err())
	live, err = b.Live(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"a", "b"}, live)
	require.NoError(t, b.Beat(ctx))
	members, err := rdb.ZRange(ctx, key, 0, -1).Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"a", "b"}, members, "a beat trims stale members")
}

func TestReplicasStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	t.Parallel()
	rdb, prefix := redistest.New(t)
	key := prefix + "replicas"
	r := NewReplicas(rdb, key, "runner")
	r.interval = 10 * time.Millisecond
	start, cancel := context.WithCancel(context.Background())
	require.NoError(t, r.Start(start))
	// The start's context bounds the start only.
	cancel()

	var first float64
	require.Eventually(t, func() bool {
		score, err := rdb.ZScore(context.Background(), key, "runner").Result()
		first = score
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "Start beats at once")
	require.Eventually(t, func() bool {
		score, err := rdb.ZScore(context.Background(), key, "runner").Result()
		return err == nil && score > first
	}, 5*time.Second, 5*time.Millisecond, "and again every interval")

	require.NoError(t, r.Stop(context.Background()))
	live, err := r.Live(context.Background())
	require.NoError(t, err)
	require.Empty(t, live, "a stopped replica removes itself")
}

// redisZ is a sorted set member scored as the heartbeat scores: Unix milliseconds.
func redisZ(at time.Time, member string) redis.Z {
	return redis.Z{Score: float64(at.UnixMilli()), Member: member}
}

func TestReplicasOnBeat(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	t.Parallel()
	rdb, prefix := redistest.New(t)
	key := prefix + "replicas"
	other := NewReplicas(rdb, key, "other")
	require.NoError(t, other.Beat(context.Background()))
	r := NewReplicas(rdb, key, "watcher")
	r.SetTiming(10*time.Millisecond, time.Minute)
	require.Equal(t, 10*time.Millisecond, r.Interval())
	require.Equal(t, time.Minute, r.LiveWithin())
	type seen struct {
		sent time.Time
		live []string
		err  error
	}
	beats := make(chan seen, 100)
	r.OnBeat(func(sent time.Time, live []string, err error) {
		select {
		case beats <- seen{sent, live, err}:
		default:
		}
	})
	before := time.Now()
	require.NoError(t, r.Start(context.Background()))
	first := <-beats
	require.NoError(t, first.err)
	require.False(t, first.sent.Before(before), "sent is taken as the beat goes out")
	require.ElementsMatch(t, []string{"other", "watcher"}, first.live, "each beat reads the live set, itself included")
	second := <-beats
	require.True(t, second.sent.After(first.sent))
	require.NoError(t, r.Stop(context.Background()))

	// With Redis gone, the observer hears the error.
	addr, stop := redistest.Private(t)
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	stop()
	gone := NewReplicas(client, key, "gone")
	errs := make(chan error, 1)
	gone.OnBeat(func(_ time.Time, _ []string, err error) {
		select {
		case errs <- err:
		default:
		}
	})
	require.NoError(t, gone.Start(context.Background()))
	require.Error(t, <-errs)
	require.NoError(t, gone.Stop(context.Background()))
}
