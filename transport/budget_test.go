package transport

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBudget(t *testing.T) {
	t.Parallel()
	b := NewBudget(100)
	require.Equal(t, int64(100), b.Size())
	ctx := context.Background()

	release60, err := b.Acquire(ctx, 60)
	require.NoError(t, err)
	full, cancel := context.WithCancel(ctx)
	cancel()
	_, err = b.Acquire(full, 50)
	require.ErrorIs(t, err, context.Canceled, "50 more do not fit while 60 are taken")
	release40, err := b.Acquire(ctx, 40)
	require.NoError(t, err)
	release60()
	release40()

	whole, err := b.Acquire(ctx, 1000)
	require.NoError(t, err, "a cost above the budget takes the whole budget")
	_, err = b.Acquire(full, 1)
	require.ErrorIs(t, err, context.Canceled)
	whole()
	none, err := b.Acquire(ctx, -1)
	require.NoError(t, err, "no cost needs no room")
	none()
}
