// Package lock holds the Redis locks that keep replicas from doing the same
// work twice. They save work; correctness rests on PostgreSQL constraints.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
)

// Slots takes short-lived, never-released locks, one per key: the first
// replica to ask for a cron slot gets it and the others skip the slot.
type Slots struct {
	client redis.UniversalClient
}

// NewSlots returns slot locks kept in client.
func NewSlots(client redis.UniversalClient) *Slots { return &Slots{client: client} }

// TryLock takes key for ttl unless someone holds it, and reports whether it
// did, with the token that Release needs. A taken slot is not released after
// success: it lives until its TTL, so that a replica that fires the same slot
// a little later still sees it taken.
func (s *Slots) TryLock(ctx context.Context, key string, ttl time.Duration) (_ string, ok bool, err error) {
	ctx, span := startSpan(ctx, "lock.TryLockSlot", key)
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(attribute.Bool("workflow_runtime.lock.acquired", ok))
		}
		endSpan(span, err)
	}()
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	ok, err = s.client.SetNX(ctx, key, token, ttl).Result()
	return token, ok, err
}

// releaseScript deletes the key only while it still holds the caller's token,
// so that a lock that expired and was taken by another is left alone.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Release gives key up when the attempt that took it failed, so that a retry
// or another replica can take the slot.
func (s *Slots) Release(ctx context.Context, key, token string) (err error) {
	ctx, span := startSpan(ctx, "lock.ReleaseSlot", key)
	defer func() { endSpan(span, err) }()
	return releaseScript.Run(ctx, s.client, []string{key}, token).Err()
}

// slotRecorded is the value of a slot lock whose holder recorded the slot.
const slotRecorded = "recorded"

// markScript replaces the holder's token by slotRecorded, keeping the TTL,
// only while the key still holds that token.
var markScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("SET", KEYS[1], ARGV[2], "KEEPTTL")
end
return false`)

// MarkRecorded notes that the holder of key, by token, recorded its slot,
// so that the replicas it kept out need not check the database.
func (s *Slots) MarkRecorded(ctx context.Context, key, token string) (err error) {
	ctx, span := startSpan(ctx, "lock.MarkSlotRecorded", key)
	defer func() { endSpan(span, err) }()
	err = markScript.Run(ctx, s.client, []string{key}, token, slotRecorded).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// Recorded reports whether key's holder marked its slot recorded.
func (s *Slots) Recorded(ctx context.Context, key string) (_ bool, err error) {
	ctx, span := startSpan(ctx, "lock.SlotRecorded", key)
	defer func() { endSpan(span, err) }()
	v, err := s.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return v == slotRecorded, err
}
