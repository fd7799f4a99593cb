package lock

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
)

func TestSlotsTakeOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	key := prefix + "slot:t1:1700000000000"
	slots := NewSlots(rdb)

	token, ok, err := slots.TryLock(ctx, key, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = slots.TryLock(ctx, key, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "a slot is taken once")
	ttl, err := rdb.PTTL(ctx, key).Result()
	require.NoError(t, err)
	require.InDelta(t, time.Minute, ttl, float64(5*time.Second))

	require.NoError(t, slots.Release(ctx, key, "someone else's token"))
	_, ok, err = slots.TryLock(ctx, key, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "a release with the wrong token leaves the lock")
	require.NoError(t, slots.Release(ctx, key, token))
	_, ok, err = slots.TryLock(ctx, key, time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "a released slot can be taken again")

	down := NewSlots(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}))
	_, _, err = down.TryLock(ctx, key, time.Minute)
	require.Error(t, err)
}

func TestSlotsMarkRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	key := prefix + "slot:t1:1700000000000"
	slots := NewSlots(rdb)

	done, err := slots.Recorded(ctx, key)
	require.NoError(t, err)
	require.False(t, done, "a free slot is not recorded")
	require.NoError(t, slots.MarkRecorded(ctx, key, "no one's token"), "marking a free slot is a no-op")
	done, err = slots.Recorded(ctx, key)
	require.NoError(t, err)
	require.False(t, done)

	token, ok, err := slots.TryLock(ctx, key, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	done, err = slots.Recorded(ctx, key)
	require.NoError(t, err)
	require.False(t, done, "taken but not yet recorded")
	require.NoError(t, slots.MarkRecorded(ctx, key, "someone else's token"))
	done, err = slots.Recorded(ctx, key)
	require.NoError(t, err)
	require.False(t, done, "only the holder marks its slot")

	require.NoError(t, slots.MarkRecorded(ctx, key, token))
	done, err = slots.Recorded(ctx, key)
	require.NoError(t, err)
	require.True(t, done)
	ttl, err := rdb.PTTL(ctx, key).Result()
	require.NoError(t, err)
	require.InDelta(t, time.Minute, ttl, float64(5*time.Second), "marking keeps the TTL")
	_, ok, err = slots.TryLock(ctx, key, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "a recorded slot stays taken")

	_, err = NewSlots(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})).Recorded(ctx, key)
	require.Error(t, err)
}
