package retention

import (
	"testing"
	"time"
)

func TestNextBatch(t *testing.T) {
	t.Parallel()
	const target = 100 * time.Millisecond
	for _, c := range []struct {
		n    int
		took time.Duration
		want int
	}{
		{1000, 100 * time.Millisecond, 1000},
		{1000, 80 * time.Millisecond, 1250},
		{1000, 10 * time.Millisecond, 2000},
		{1000, 0, 2000},
		{1000, time.Second, 500},
		{100, time.Second, MinBatch},
		{MaxBatch, time.Millisecond, MaxBatch},
	} {
		if got := nextBatch(c.n, c.took, target); got != c.want {
			t.Errorf("nextBatch(%d, %s) = %d, want %d", c.n, c.took, got, c.want)
		}
	}
}
