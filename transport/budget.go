package transport

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// Budget bounds the memory that the requests being decoded take at once.
// Decoding is where a request costs most: a JSON or protobuf message becomes
// a tree of Go values many times its size (see DecodeCost), and every request
// admitted holds its share until its call ends.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// Size is the budget's size in bytes.
func (b *Budget) Size() int64 { return b.size }

// Acquire waits until cost bytes are free, or ctx ends, and returns the
// function that gives them back. A cost above the whole budget takes the
// whole budget: such a request is decoded alone rather than never.
func (b *Budget) Acquire(ctx context.Context, cost int64) (release func(), err error) {
	cost = min(max(cost, 0), b.size)
	if err := b.sem.Acquire(ctx, cost); err != nil {
		return nil, err
	}
	return func() { b.sem.Release(cost) }, nil
}
