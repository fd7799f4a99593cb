package lock

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

const (
	opNewRedisManager errors.Op = "lock.NewRedisManager"
	opHealthCheck     errors.Op = "lock.HealthCheck"
)

// RedisManager owns the Redis connection pool that the replica's locks,
// change fan-out and heartbeats share. It is safe for concurrent use.
type RedisManager struct {
	client redis.UniversalClient
}

// NewRedisManager builds the client that rawURL (WFR_REDIS_URL) names. It
// does not connect: the pool dials on first use, so call HealthCheck to find
// out whether Redis is there. A malformed URL is an Invalid error whose text
// never contains the URL's password.
//
// Accepted forms; query parameters are go-redis's (dial_timeout=3s,
// pool_size=20, max_retries=-1, skip_verify=true, ...), and rediss and
// rediss+cluster/rediss+sentinel use TLS:
//
//	redis://[user:password@]host[:6379][/db]         one node
//	rediss://[user:password@]host[:6379][/db]        one node over TLS
//	unix://[user:password@]/path/to.sock[?db=N]      one node on a Unix socket
//	redis://[user:password@]host1[:6379],host2[:6379] Cluster seeded by the hosts
//	redis+cluster://[user:password@]host[:6379][,...] Cluster, even from one seed
//	redis+sentinel://[user:password@]sentinel1[:26379][,...]/master_name[/db]
//
// In the Sentinel form the hosts are the sentinels and user:password are the
// master's; the sentinels' own credentials, when they have any, go in the
// query as sentinel_username and sentinel_password. It may not ask for
// replica reads (route_by_latency, route_randomly, replica_only): locks are
// written to the master. A Cluster has database 0 only, so its path must be
// empty or /0.
func NewRedisManager(rawURL string) (*RedisManager, error) {
	t, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, errors.E(opNewRedisManager, errors.Invalid, fmt.Errorf("redis URL: %w", err))
	}
	return &RedisManager{client: t.newClient()}, nil
}

// Client returns the shared pool: one node, Cluster or Sentinel-backed,
// whichever the URL named. Closing it is Close's job.
func (m *RedisManager) Client() redis.UniversalClient { return m.client }

// HealthCheck pings Redis and returns the round trip; a failure is
// ErrUnavailable (health then says degraded), and its duration is how long
// the attempt took. For a Cluster, one node answers.
func (m *RedisManager) HealthCheck(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	err := m.client.Ping(ctx).Err()
	latency := time.Since(start)
	if err != nil {
		return latency, redisError(opHealthCheck, err)
	}
	return latency, nil
}

// Close closes the pool; commands issued afterwards fail.
func (m *RedisManager) Close() error { return m.client.Close() }

// redisTarget is what a URL names, before a client is built: exactly one of
// the fields is set.
type redisTarget struct {
	single   *redis.Options
	cluster  *redis.ClusterOptions
	failover *redis.FailoverOptions
}

func (t redisTarget) newClient() redis.UniversalClient {
	switch {
	case t.cluster != nil:
		return redis.NewClusterClient(t.cluster)
	case t.failover != nil:
		return redis.NewFailoverClient(t.failover)
	}
	return redis.NewClient(t.single)
}

// parseRedisURL rewrites the forms go-redis does not know (host lists,
// redis+cluster, redis+sentinel) into the ones its ParseClusterURL and
// ParseFailoverURL do know (first host in the authority, the others as addr
// parameters), so that every form accepts the same query parameters as
// go-redis documents.
func parseRedisURL(raw string) (redisTarget, error) {
	scheme, _, _ := strings.Cut(raw, "://")
	switch strings.ToLower(scheme) {
	case "redis+sentinel", "rediss+sentinel":
		return parseSentinelURL(raw)
	case "redis+cluster", "rediss+cluster":
		return parseClusterURL(raw)
	case "redis", "rediss":
		if _, _, hosts, _, err := splitHosts(raw); err == nil && len(hosts) > 1 {
			return parseClusterURL(raw)
		}
	}
	if _, err := url.Parse(raw); err != nil {
		return redisTarget{}, withoutURL(err)
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return redisTarget{}, err
	}
	return redisTarget{single: o}, nil
}

func parseClusterURL(raw string) (redisTarget, error) {
	u, err := nativeURL(raw, "6379")
	if err != nil {
		return redisTarget{}, err
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return redisTarget{}, fmt.Errorf("a cluster has database 0 only, not %q", p)
	}
	u.Path = ""
	o, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return redisTarget{}, err
	}
	return redisTarget{cluster: o}, nil
}

func parseSentinelURL(raw string) (redisTarget, error) {
	u, err := nativeURL(raw, "26379")
	if err != nil {
		return redisTarget{}, err
	}
	segs := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	if len(segs) < 1 || len(segs) > 2 {
		return redisTarget{}, fmt.Errorf("a sentinel URL's path is /<master name>[/<db>], not %q", u.Path)
	}
	q := u.Query()
	q.Set("master_name", segs[0])
	sentinelUser, sentinelPassword := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	u.RawQuery = q.Encode()
	u.Path = ""
	if len(segs) == 2 {
		u.Path = "/" + segs[1]
	}
	// ParseFailoverURL takes user info for the sentinels' credentials; ours
	// is the master's, like every other form's.
	user := u.User
	u.User = nil
	o, err := redis.ParseFailoverURL(u.String())
	if err != nil {
		return redisTarget{}, err
	}
	if o.RouteByLatency || o.RouteRandomly || o.ReplicaOnly {
		return redisTarget{}, errors.New("a sentinel URL may not route to replicas: locks are written to the master")
	}
	if user != nil {
		o.Username = user.Username()
		o.Password, _ = user.Password()
	}
	o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPassword
	return redisTarget{failover: o}, nil
}

// nativeURL parses raw, a URL whose authority may list hosts separated by
// commas, as go-redis's multi-node parsers want it: the scheme without its
// "+cluster" or "+sentinel", the first host in the authority and the others
// as addr parameters, each host with defaultPort unless it has a port.
func nativeURL(raw, defaultPort string) (*url.URL, error) {
	scheme, userinfo, hosts, rest, err := splitHosts(raw)
	if err != nil {
		return nil, err
	}
	for i, h := range hosts {
		if h == "" {
			return nil, errors.New("empty host in host list")
		}
		hosts[i] = withPort(h, defaultPort)
	}
	scheme, _, _ = strings.Cut(strings.ToLower(scheme), "+")
	u, err := url.Parse(scheme + "://" + userinfo + hosts[0] + rest)
	if err != nil {
		return nil, withoutURL(err)
	}
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// splitHosts cuts raw into its scheme, its user info (with its '@'), the
// comma-separated hosts of its authority, and the rest (path, query,
// fragment). The last '@' ends the user info, as in url.Parse.
func splitHosts(raw string) (scheme, userinfo string, hosts []string, rest string, err error) {
	scheme, after, ok := strings.Cut(raw, "://")
	if !ok {
		return "", "", nil, "", errors.New("missing scheme")
	}
	authority := after
	if i := strings.IndexAny(after, "/?#"); i >= 0 {
		authority, rest = after[:i], after[i:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, authority = authority[:i+1], authority[i+1:]
	}
	return scheme, userinfo, strings.Split(authority, ","), rest, nil
}

// withPort returns host:port for a host given with or without its port,
// brackets included for IPv6.
func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), port)
}

// withoutURL drops the URL that url.Parse repeats in its errors, since it
// may carry a password.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
