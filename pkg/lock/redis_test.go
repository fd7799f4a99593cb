package lock

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

// target is the part of a redisTarget that a URL decides.
type target struct {
	Mode                               string
	Network                            string
	Addrs                              []string
	MasterName                         string
	DB                                 int
	Username, Password                 string
	SentinelUsername, SentinelPassword string
	TLS                                bool
}

func summarize(t redisTarget) target {
	switch {
	case t.cluster != nil:
		o := t.cluster
		return target{Mode: "cluster", Addrs: o.Addrs, Username: o.Username, Password: o.Password, TLS: o.TLSConfig != nil}
	case t.failover != nil:
		o := t.failover
		return target{
			Mode: "sentinel", Addrs: o.SentinelAddrs, MasterName: o.MasterName, DB: o.DB,
			Username: o.Username, Password: o.Password,
			SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
			TLS: o.TLSConfig != nil,
		}
	}
	o := t.single
	return target{
		Mode: "single", Network: o.Network, Addrs: []string{o.Addr}, DB: o.DB,
		Username: o.Username, Password: o.Password, TLS: o.TLSConfig != nil,
	}
}

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
		want      target
	}{
		{
			name: "one node with database",
			url:  "redis://127.0.0.1:6379/2",
			want: target{Mode: "single", Network: "tcp", Addrs: []string{"127.0.0.1:6379"}, DB: 2},
		},
		{
			name: "one node, default port, credentials",
			url:  "redis://app:pw@cache",
			want: target{Mode: "single", Network: "tcp", Addrs: []string{"cache:6379"}, Username: "app", Password: "pw"},
		},
		{
			name: "one node over TLS with options",
			url:  "rediss://cache:6380/0?dial_timeout=3s&max_retries=-1",
			want: target{Mode: "single", Network: "tcp", Addrs: []string{"cache:6380"}, TLS: true},
		},
		{
			name: "unix socket",
			url:  "unix:///run/redis.sock?db=3",
			want: target{Mode: "single", Network: "unix", Addrs: []string{"/run/redis.sock"}, DB: 3},
		},
		{
			name: "host list is a cluster",
			url:  "redis://n1:7000,n2:7001,n3?max_redirects=5",
			want: target{Mode: "cluster", Addrs: []string{"n1:7000", "n2:7001", "n3:6379"}},
		},
		{
			name: "cluster over TLS with credentials and database 0",
			url:  "rediss://app:pw@n1,n2/0",
			want: target{Mode: "cluster", Addrs: []string{"n1:6379", "n2:6379"}, Username: "app", Password: "pw", TLS: true},
		},
		{
			name: "cluster from one seed",
			url:  "redis+cluster://n1:7000",
			want: target{Mode: "cluster", Addrs: []string{"n1:7000"}},
		},
		{
			name: "sentinel with master credentials and sentinel password",
			url:  "redis+sentinel://:pw@s1,s2:26380/mymaster/1?sentinel_username=sen&sentinel_password=spw",
			want: target{
				Mode: "sentinel", Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mymaster", DB: 1,
				Password: "pw", SentinelUsername: "sen", SentinelPassword: "spw",
			},
		},
		{
			name: "sentinel over TLS on IPv6",
			url:  "rediss+sentinel://[::1]/mymaster",
			want: target{Mode: "sentinel", Addrs: []string{"[::1]:26379"}, MasterName: "mymaster", TLS: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseRedisURL(tt.url)
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("parseRedisURL(%q) (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

func TestNewRedisManagerRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, want string
	}{
		{"unknown scheme", "http://cache", "invalid URL scheme"},
		{"no scheme", "redis+cluster", "missing scheme"},
		{"bad port keeps the password out", "redis://app:s3cret@cache:port/0", "invalid port"},
		{"bad port in a host list keeps the password out", "redis://app:s3cret@n1:port,n2", "invalid port"},
		{"unknown option", "redis://cache/0?bogus=1", "unexpected option"},
		{"unknown cluster option", "redis://n1,n2?bogus=1", "unexpected option"},
		{"empty host in a list", "redis://n1,,n2", "empty host"},
		{"cluster database", "redis://n1,n2/3", "database 0 only"},
		{"sentinel without master", "redis+sentinel://s1", "master name"},
		{"sentinel path too long", "redis+sentinel://s1/m/0/x", "master name"},
		{"bad port among sentinels keeps the password out", "redis+sentinel://app:s3cret@s1:port/m", "invalid port"},
		{"sentinel bad database", "redis+sentinel://s1/m/x", "invalid database number"},
		{"sentinel routed to replicas", "redis+sentinel://s1/m?route_randomly=true", "replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewRedisManager(tt.url)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "s3cret")
			if diff := cmp.Diff(errors.Invalid, errors.KindOf(err)); diff != "" {
				t.Errorf("kind (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRedisManagerClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, want string
	}{
		{"one node", "redis://127.0.0.1:6379/0", "*redis.Client"},
		{"cluster", "redis://127.0.0.1:7000,127.0.0.1:7001", "*redis.ClusterClient"},
		{"sentinel", "redis+sentinel://127.0.0.1:26379/mymaster", "*redis.Client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := NewRedisManager(tt.url)
			require.NoError(t, err)
			var got string
			switch m.Client().(type) {
			case *redis.Client:
				got = "*redis.Client"
			case *redis.ClusterClient:
				got = "*redis.ClusterClient"
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("client type (-want +got):\n%s", diff)
			}
			require.NoError(t, m.Close())
		})
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs Redis")
	}
	tests := []struct {
		name, url string
		wantErr   error
	}{
		{"Redis up", "redis://127.0.0.1:6379/0", nil},
		{"Redis unreachable", "redis://127.0.0.1:1/0?max_retries=-1", ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := NewRedisManager(tt.url)
			require.NoError(t, err)
			t.Cleanup(func() { _ = m.Close() })
			latency, err := m.HealthCheck(context.Background())
			require.ErrorIs(t, err, tt.wantErr)
			require.Positive(t, latency)
			if err != nil {
				require.True(t, strings.HasPrefix(err.Error(), string(opHealthCheck)), "error %q names the operation", err)
			}
		})
	}
}
