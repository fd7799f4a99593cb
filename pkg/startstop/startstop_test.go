package startstop

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type key struct{}

func TestLoops(t *testing.T) {
	t.Parallel()
	var l Loops
	require.NoError(t, l.Stop(context.Background()), "Stop before any Go")

	start, cancelStart := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ended := make(chan string, 2)
	for range 2 {
		l.Go(start, func(ctx context.Context) {
			<-ctx.Done()
			ended <- ctx.Value(key{}).(string)
		})
	}
	cancelStart()
	require.NoError(t, l.Stop(context.Background()))
	require.Len(t, ended, 2, "Stop returned before its goroutines")
	require.Equal(t, "v", <-ended, "the goroutines keep the start's values")
	require.NoError(t, l.Stop(context.Background()), "a second Stop")

	stuck := make(chan struct{})
	l.Go(context.Background(), func(context.Context) { <-stuck })
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.Stop(gone), context.Canceled, "Stop gives up when its context ends")
	close(stuck)
}

func TestEvery(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	Every(ctx, time.Millisecond, func(context.Context) {
		if calls++; calls == 3 {
			cancel()
		}
	})
	require.Equal(t, 3, calls, "Every returns once its context ends")
}
