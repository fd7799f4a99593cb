package fanout

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestPublishReachesSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	f := NewRedis(rdb, "wfr_test_"+uuid.NewString()+":events")

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- f.Subscribe(ctx, func(id string) { got <- id }) }()

	// A subscription starts asynchronously: publish until it hears.
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for heard := false; !heard; {
		select {
		case id := <-got:
			require.Equal(t, "d-1", id)
			heard = true
		case <-tick.C:
			require.NoError(t, f.Publish(ctx, "d-1"))
		case <-deadline:
			t.Fatal("the subscriber heard nothing")
		}
	}
	cancel()
	require.NoError(t, <-done)
}
