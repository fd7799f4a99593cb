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

func TestRest(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		took  time.Duration
		duty  float64
		pause time.Duration
		want  time.Duration
	}{
		{2 * time.Millisecond, 0.1, 10 * time.Millisecond, 18 * time.Millisecond},
		{20 * time.Millisecond, 0.1, 10 * time.Millisecond, 180 * time.Millisecond},
		{time.Millisecond, 0.1, 10 * time.Millisecond, 10 * time.Millisecond},
		{10 * time.Millisecond, 0.5, time.Millisecond, 10 * time.Millisecond},
		{10 * time.Millisecond, 1, time.Millisecond, time.Millisecond},
	} {
		if got := rest(c.took, c.duty, c.pause); got != c.want {
			t.Errorf("rest(%s, %v, %s) = %s, want %s", c.took, c.duty, c.pause, got, c.want)
		}
	}
}
