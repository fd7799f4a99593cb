// Package fanout tells the other replicas, through Redis pub/sub, that a
// deployment changed, so that they reload it at once instead of at their
// next resync.
package fanout

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Redis publishes and receives deployment ids on one channel.
type Redis struct {
	client  redis.UniversalClient
	channel string
}

// NewRedis returns a fan-out over channel (e.g. "workflow_runtime:events").
func NewRedis(client redis.UniversalClient, channel string) *Redis {
	return &Redis{client: client, channel: channel}
}

// Publish announces that deploymentID changed.
func (r *Redis) Publish(ctx context.Context, deploymentID string) error {
	return r.client.Publish(ctx, r.channel, deploymentID).Err()
}

// Subscribe calls handle with every deployment id announced until ctx ends.
// go-redis resubscribes by itself after a lost connection; what is announced
// meanwhile is missed, which the caller's periodic resync makes good.
func (r *Redis) Subscribe(ctx context.Context, handle func(deploymentID string)) error {
	sub := r.client.Subscribe(ctx, r.channel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				return nil
			}
			handle(msg.Payload)
		}
	}
}
