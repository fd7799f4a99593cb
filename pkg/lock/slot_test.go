package lock

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestSlotsTakeOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	key := "wfr_test_" + uuid.NewString() + ":slot:t1:1700000000000"
	t.Cleanup(func() {
		rdb.Del(context.Background(), key)
		rdb.Close()
	})
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
