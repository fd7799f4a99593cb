package lock

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/workflow-runtime/workflow-runtime/pkg/startstop"
)

// Heartbeat timing by default (WFR_HEARTBEAT_INTERVAL, WFR_REPLICA_TTL): a
// replica beats every HeartbeatInterval and counts as live while its last
// beat is under LiveWithin old (API.md, GetSystemHealth).
const (
	HeartbeatInterval = 5 * time.Second
	LiveWithin        = 30 * time.Second
)

// heartbeatRemoveTimeout bounds the removal of a stopping replica's beat.
const heartbeatRemoveTimeout = 2 * time.Second

// Scores are Redis's own clock in milliseconds, so that replicas whose clocks
// disagree still judge each other's beats alike. Beating also drops members
// older than ARGV[2] ms and lets the whole set expire once every replica has
// stopped beating.
var (
	beatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return now`)
	liveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')`)
)

// Replicas keeps this replica's heartbeat in a Redis sorted set (e.g.
// "<prefix>replicas") of instance ids scored by when each was last seen, and
// lists the live ones. It is safe for concurrent use.
type Replicas struct {
	client     redis.UniversalClient
	key, id    string
	interval   time.Duration
	liveWithin time.Duration
	observe    func(sent time.Time, live []string, err error)
	loops      startstop.Loops
}

// NewReplicas returns the heartbeat of instance id in the sorted set key.
func NewReplicas(client redis.UniversalClient, key, id string) *Replicas {
	return &Replicas{client: client, key: key, id: id, interval: HeartbeatInterval, liveWithin: LiveWithin}
}

// SetTiming replaces the default interval and LiveWithin; call it before
// Start.
func (r *Replicas) SetTiming(interval, liveWithin time.Duration) {
	r.interval, r.liveWithin = interval, liveWithin
}

// Interval is how often the replica beats.
func (r *Replicas) Interval() time.Duration { return r.interval }

// LiveWithin is how recent a beat must be for its replica to count as live.
func (r *Replicas) LiveWithin() time.Duration { return r.liveWithin }

// OnBeat makes every beat of the loop that Start runs read the live set too,
// and hand it to f with when the beat was sent and the error of the beat or
// the read, if any; call it before Start.
func (r *Replicas) OnBeat(f func(sent time.Time, live []string, err error)) { r.observe = f }

// Beat records that this replica is live now.
func (r *Replicas) Beat(ctx context.Context) error {
	return beatScript.Run(ctx, r.client, []string{r.key}, r.id, r.liveWithin.Milliseconds()).Err()
}

// Live returns the ids of the replicas that beat in the last LiveWithin.
func (r *Replicas) Live(ctx context.Context) ([]string, error) {
	return liveScript.Run(ctx, r.client, []string{r.key}, r.liveWithin.Milliseconds()).StringSlice()
}

// Start beats for this replica until Stop (startstop.Service).
func (r *Replicas) Start(ctx context.Context) error {
	r.loops.Go(ctx, r.run)
	return nil
}

// Stop ends the beats and returns once this replica is out of the live set,
// or when ctx ends.
func (r *Replicas) Stop(ctx context.Context) error { return r.loops.Stop(ctx) }

// run beats at once and then every HeartbeatInterval until ctx ends, and
// then removes this replica from the set, so that the others stop counting
// it at once rather than after LiveWithin. A failed beat is retried at the
// next tick: Redis's own health check reports the outage.
func (r *Replicas) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.beat(ctx)
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), heartbeatRemoveTimeout)
			defer cancel()
			_ = r.client.ZRem(rctx, r.key, r.id).Err()
			return
		case <-t.C:
		}
	}
}

// beat beats once and, with an observer, reads the live set and tells it.
func (r *Replicas) beat(ctx context.Context) {
	sent := time.Now()
	err := r.Beat(ctx)
	if r.observe == nil {
		return
	}
	var live []string
	if err == nil {
		live, err = r.Live(ctx)
	}
	r.observe(sent, live, err)
}
