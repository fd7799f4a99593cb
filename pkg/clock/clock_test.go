package clock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
)

func TestFake(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clock.NewFake(at)
	require.Equal(t, at, c.Now())
	require.Equal(t, at, c.Now(), "it stands still")

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Advance(time.Second) })
	}
	wg.Wait()
	require.Equal(t, at.Add(10*time.Second), c.Now())
	c.Advance(-time.Minute)
	require.Equal(t, at.Add(-50*time.Second), c.Now())
}
