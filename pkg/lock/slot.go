// Package lock holds the Redis locks that keep replicas from doing the same
// work twice. They save work; correctness rests on PostgreSQL constraints.
package lock

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Slots takes short-lived, never-released locks, one per key: the first
// replica to ask for a cron slot gets it and the others skip the slot.
type Slots struct {
	client redis.UniversalClient
}

// NewSlots returns slot locks kept in client.
func NewSlots(client redis.UniversalClient) *Slots { return &Slots{client: client} }

// TryLock takes key for ttl unless someone holds it, and reports whether it did.
// The lock is never released: it lives until its TTL so that a replica that
// fires the same slot a little later still sees it taken.
func (s *Slots) TryLock(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return s.client.SetNX(ctx, key, 1, ttl).Result()
}
