package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

const testDatabaseURL = "postgres://postgres@127.0.0.1:5432/workflow_runtime?sslmode=disable"

// env returns a getenv over m; a missing key reads as "".
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()

	var out bytes.Buffer
	got, err := Load("workflow-runtime", nil, env(map[string]string{
		"WFR_DATABASE_URL": testDatabaseURL,
		"WFR_INSTANCE_ID":  "replica-1",
	}), &out)
	require.NoError(t, err)

	want := Config{
		GRPCAddr:              ":9090",
		HTTPAddr:              ":8080",
		DatabaseURL:           testDatabaseURL,
		DataDir:               "./data",
		RedisURL:              "",
		RedisPrefix:           "workflow_runtime:",
		EngineAddr:            "",
		EngineCallTimeout:     5 * time.Second,
		EngineAttempts:        5,
		EngineBreakerOpenFor:  10 * time.Second,
		JitterWindow:          300 * time.Second,
		LogLevel:              "info",
		LogFormat:             "json",
		LogMaxSizeMB:          100,
		LogMaxBackups:         10,
		LogMaxAgeDays:         30,
		ShutdownTimeout:       30 * time.Second,
		DrainDelay:            5 * time.Second,
		ResyncInterval:        30 * time.Second,
		HeartbeatInterval:     5 * time.Second,
		ReplicaTTL:            30 * time.Second,
		CronMode:              "all",
		InstanceID:            "replica-1",
		Lease:                 30 * time.Second,
		DispatchConcurrency:   64,
		DispatchYield:         time.Millisecond,
		BackfillRate:          50,
		DBMaxConns:            20,
		ExecutionTimeout:      time.Hour,
		LockGrace:             time.Minute,
		WebhookRateLimit:      100,
		RateLimit:             1000,
		RateBurst:             2000,
		SyncWebhookLimit:      200,
		BacklogMax:            200000,
		BacklogMaxPerWorkflow: 50000,
		RequestMemory:         192 << 20,
		MaxConnections:        1000,
		PreAuthTimeout:        10 * time.Second,
		AuthOpenPaths:         []string{"/livez", "/readyz"},
		NoMigrate:             false,

		ExecutionRetention: 30 * 24 * time.Hour, RetentionDuty: 0.03,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	if out.Len() != 0 {
		t.Errorf("Load() wrote %q to output, want nothing", out.String())
	}
}

func TestLoadInstanceIDDefaultsToHostnamePID(t *testing.T) {
	t.Parallel()

	host, err := os.Hostname()
	require.NoError(t, err)

	got, err := Load("workflow-runtime", nil, env(map[string]string{"WFR_DATABASE_URL": testDatabaseURL}), &bytes.Buffer{})
	require.NoError(t, err)

	want := fmt.Sprintf("%s-%d", host, os.Getpid())
	if diff := cmp.Diff(want, got.InstanceID); diff != "" {
		t.Errorf("InstanceID mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadOverrides(t *testing.T) {
	t.Parallel()

	fullEnv := map[string]string{
		"WFR_GRPC_ADDR":                "127.0.0.1:19090",
		"WFR_HTTP_ADDR":                "127.0.0.1:18080",
		"WFR_DATABASE_URL":             "postgresql://u:p@db:5432/wfr",
		"WFR_DATA_DIR":                 "/var/lib/wfr",
		"WFR_REDIS_URL":                "redis://cache:6379/1",
		"WFR_REDIS_PREFIX":             "wfr:",
		"WFR_ENGINE_ADDR":              "engine:50051",
		"WFR_ENGINE_CALL_TIMEOUT":      "2s",
		"WFR_ENGINE_ATTEMPTS":          "1",
		"WFR_ENGINE_BREAKER_OPEN_FOR":  "1m",
		"WFR_JITTER_WINDOW":            "0s",
		"WFR_LOG_LEVEL":                "debug",
		"WFR_LOG_FORMAT":               "logfmt",
		"WFR_LOG_FILE":                 "/var/log/wfr.log",
		"WFR_LOG_MAX_SIZE_MB":          "5",
		"WFR_LOG_MAX_BACKUPS":          "0",
		"WFR_LOG_MAX_AGE_DAYS":         "0",
		"WFR_SHUTDOWN_TIMEOUT":         "1s",
		"WFR_DRAIN_DELAY":              "0s",
		"WFR_RESYNC_INTERVAL":          "2s",
		"WFR_HEARTBEAT_INTERVAL":       "1s",
		"WFR_REPLICA_TTL":              "4s",
		"WFR_CRON_MODE":                "sharded",
		"WFR_INSTANCE_ID":              "from-env",
		"WFR_RATE_LIMIT":               "0",
		"WFR_RATE_BURST":               "1",
		"WFR_LEASE":                    "2s",
		"WFR_DISPATCH_CONCURRENCY":     "8",
		"WFR_DISPATCH_YIELD":           "0",
		"WFR_BACKFILL_RATE":            "5",
		"WFR_DB_MAX_CONNS":             "9",
		"WFR_EXECUTION_TIMEOUT":        "10m",
		"WFR_LOCK_GRACE":               "5s",
		"WFR_WEBHOOK_RATE_LIMIT":       "7",
		"WFR_SYNC_WEBHOOK_LIMIT":       "3",
		"WFR_BACKLOG_MAX":              "0",
		"WFR_BACKLOG_MAX_PER_WORKFLOW": "0",
		"WFR_REQUEST_MEMORY_MB":        "64",
		"WFR_MAX_CONNECTIONS":          "0",
		"WFR_PREAUTH_TIMEOUT":          "0s",

		"WFR_EXECUTION_RETENTION": "48h",
		"WFR_RETENTION_DUTY":      "0.5",
	}
	fromEnv := Config{
		GRPCAddr:             "127.0.0.1:19090",
		HTTPAddr:             "127.0.0.1:18080",
		DatabaseURL:          "postgresql://u:p@db:5432/wfr",
		DataDir:              "/var/lib/wfr",
		RedisURL:             "redis://cache:6379/1",
		RedisPrefix:          "wfr:",
		EngineAddr:           "engine:50051",
		EngineCallTimeout:    2 * time.Second,
		EngineAttempts:       1,
		EngineBreakerOpenFor: time.Minute,
		JitterWindow:         0,
		LogLevel:             "debug",
		LogFormat:            "logfmt",
		LogFile:              "/var/log/wfr.log",
		LogMaxSizeMB:         5,
		ShutdownTimeout:      time.Second,
		ResyncInterval:       2 * time.Second,
		HeartbeatInterval:    time.Second,
		ReplicaTTL:           4 * time.Second,
		CronMode:             "sharded",
		InstanceID:           "from-env",
		Lease:                2 * time.Second,
		DispatchConcurrency:  8,
		BackfillRate:         5,
		DBMaxConns:           9,
		ExecutionTimeout:     10 * time.Minute,
		LockGrace:            5 * time.Second,
		WebhookRateLimit:     7,
		RateLimit:            0,
		RateBurst:            1,
		SyncWebhookLimit:     3,
		RequestMemory:        64 << 20,
		AuthOpenPaths:        []string{"/livez", "/readyz"},

		ExecutionRetention: 48 * time.Hour, RetentionDuty: 0.5,
	}

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want Config
	}{
		{
			name: "every setting from the environment",
			env:  fullEnv,
			want: fromEnv,
		},
		{
			name: "every setting from flags",
			env:  map[string]string{},
			args: []string{
				"--grpc-addr=127.0.0.1:19090",
				"--http-addr", "127.0.0.1:18080",
				"--database-url=postgresql://u:p@db:5432/wfr",
				"--data-dir=/var/lib/wfr",
				"--redis-url=redis://cache:6379/1",
				"--redis-prefix=wfr:",
				"--engine-addr=engine:50051",
				"--engine-call-timeout=2s",
				"--engine-attempts=1",
				"--engine-breaker-open-for=1m",
				"--jitter-window=0s",
				"--log-level=debug",
				"--log-format=logfmt",
				"--log-file=/var/log/wfr.log",
				"--log-max-size-mb=5",
				"--log-max-backups=0",
				"--log-max-age-days=0",
				"--shutdown-timeout=1s",
				"--drain-delay=0s",
				"--resync-interval=2s",
				"--heartbeat-interval=1s",
				"--replica-ttl=4s",
				"--cron-mode=sharded",
				"--lease=2s",
				"--dispatch-concurrency=8",
				"--dispatch-yield=0",
				"--backfill-rate=5",
				"--db-max-conns=9",
				"--execution-timeout=10m",
				"--lock-grace=5s",
				"--webhook-rate-limit=7",
				"--instance-id=from-env",
				"--rate-limit=0",
				"--rate-burst=1",
				"--sync-webhook-limit=3",
				"--backlog-max=0",
				"--backlog-max-per-workflow=0",
				"--request-memory-mb=64",
				"--max-connections=0",
				"--preauth-timeout=0s",
				"--execution-retention=48h",
				"--retention-duty=0.5",
			},
			want: fromEnv,
		},
		{
			name: "a flag wins over the environment",
			env:  fullEnv,
			args: []string{"--grpc-addr=:7000", "--log-level=error", "--rate-limit=2.5", "--redis-url=rediss://secure:6380/0"},
			want: func() Config {
				c := fromEnv
				c.GRPCAddr = ":7000"
				c.LogLevel = "error"
				c.RateLimit = 2.5
				c.RedisURL = "rediss://secure:6380/0"
				return c
			}(),
		},
		{
			name: "no-migrate flag",
			env:  fullEnv,
			args: []string{"--no-migrate"},
			want: func() Config {
				c := fromEnv
				c.NoMigrate = true
				return c
			}(),
		},
		{
			name: "unix socket Redis URL",
			env:  map[string]string{"WFR_DATABASE_URL": testDatabaseURL, "WFR_INSTANCE_ID": "x", "WFR_REDIS_URL": "unix:///run/redis.sock"},
			want: Config{
				GRPCAddr: ":9090", HTTPAddr: ":8080", DatabaseURL: testDatabaseURL, DataDir: "./data", RedisURL: "unix:///run/redis.sock",
				RedisPrefix: "workflow_runtime:", EngineCallTimeout: 5 * time.Second, EngineAttempts: 5, EngineBreakerOpenFor: 10 * time.Second,
				JitterWindow: 300 * time.Second, ResyncInterval: 30 * time.Second, HeartbeatInterval: 5 * time.Second, ReplicaTTL: 30 * time.Second, CronMode: "all", LogLevel: "info", LogFormat: "json",
				LogMaxSizeMB: 100, LogMaxBackups: 10, LogMaxAgeDays: 30,
				ShutdownTimeout: 30 * time.Second, DrainDelay: 5 * time.Second, InstanceID: "x", RateLimit: 1000, RateBurst: 2000,
				Lease: 30 * time.Second, DispatchConcurrency: 64, DispatchYield: time.Millisecond, BackfillRate: 50, ExecutionTimeout: time.Hour, LockGrace: time.Minute, WebhookRateLimit: 100,
				SyncWebhookLimit: 200, DBMaxConns: 20, BacklogMax: 200000, BacklogMaxPerWorkflow: 50000, RequestMemory: 192 << 20, MaxConnections: 1000, PreAuthTimeout: 10 * time.Second,
				AuthOpenPaths: []string{"/livez", "/readyz"},

				ExecutionRetention: 30 * 24 * time.Hour, RetentionDuty: 0.03,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := Load("workflow-runtime", tt.args, env(tt.env), &bytes.Buffer{})
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadExecutionRetention: days, durations of a day or more, and 0.
func TestLoadExecutionRetention(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"0": 0, "7d": 7 * 24 * time.Hour, "24h": 24 * time.Hour, "2160h": 90 * 24 * time.Hour} {
		got, err := Load("workflow-runtime", nil, env(map[string]string{"WFR_EXECUTION_RETENTION": v}), &bytes.Buffer{})
		require.NoError(t, err, v)
		require.Equal(t, want, got.ExecutionRetention, v)
	}
}

func TestLoadInvalidSetting(t *testing.T) {
	t.Parallel()

	tests := []struct {
		env, value, wantProblem string
		shown                   string // the value as the error shows it; "" = value
	}{
		{"WFR_GRPC_ADDR", "9090", "must be host:port or :port", ""},
		{"WFR_GRPC_ADDR", "localhost:", "must be host:port or :port", ""},
		{"WFR_HTTP_ADDR", "not an address", "must be host:port or :port", ""},
		{"WFR_DATABASE_URL", "mysql://db/x", "scheme must be one of postgres, postgresql", ""},
		{"WFR_DATABASE_URL", "postgres://db:bad port/x", "is not a URL", "<redacted>"},
		{"WFR_DATA_DIR", "config_test.go", "is a file, not a directory", ""},
		{"WFR_DATA_DIR", "data?mode=ro", `must not contain "?"`, ""},
		{"WFR_REDIS_URL", "http://cache:6379", "scheme must be one of redis, rediss, unix, redis+cluster, redis+sentinel, rediss+sentinel", ""},
		{"WFR_ENGINE_ADDR", "engine", "must be host:port or :port", ""},
		{"WFR_ENGINE_CALL_TIMEOUT", "5ms", "must be a duration >= 10ms, e.g. 30s", ""},
		{"WFR_ENGINE_ATTEMPTS", "0", "must be an integer >= 1", ""},
		{"WFR_DISPATCH_CONCURRENCY", "0", "must be an integer >= 1", ""},
		{"WFR_DISPATCH_YIELD", "-1ms", "must be a duration >= 0s, e.g. 30s", ""},
		{"WFR_ENGINE_BREAKER_OPEN_FOR", "never", "must be a duration >= 10ms, e.g. 30s", ""},
		{"WFR_JITTER_WINDOW", "five minutes", "must be a duration >= 0s, e.g. 30s", ""},
		{"WFR_JITTER_WINDOW", "-1s", "must be a duration >= 0s, e.g. 30s", ""},
		{"WFR_LOG_LEVEL", "verbose", "must be one of debug, info, warn, error", ""},
		{"WFR_LOG_FORMAT", "text", "must be one of json, logfmt", ""},
		{"WFR_LOG_MAX_SIZE_MB", "0", "must be an integer >= 1", ""},
		{"WFR_LOG_MAX_SIZE_MB", "1.5", "must be an integer >= 1", ""},
		{"WFR_LOG_MAX_BACKUPS", "-1", "must be an integer >= 0", ""},
		{"WFR_LOG_MAX_AGE_DAYS", "a week", "must be an integer >= 0", ""},
		{"WFR_SHUTDOWN_TIMEOUT", "500ms", "must be a duration >= 1s, e.g. 30s", ""},
		{"WFR_SHUTDOWN_TIMEOUT", "forever", "must be a duration >= 1s, e.g. 30s", ""},
		{"WFR_DATABASE_URL", "host=db user=app password=hunter2", "scheme must be one of postgres, postgresql", "<redacted>"},
		{"WFR_DRAIN_DELAY", "-1s", "must be a duration >= 0s, e.g. 30s", ""},
		{"WFR_RESYNC_INTERVAL", "10ms", "must be a duration >= 1s, e.g. 30s", ""},
		{"WFR_HEARTBEAT_INTERVAL", "1ms", "must be a duration >= 10ms, e.g. 30s", ""},
		{"WFR_REPLICA_TTL", "10s", "must be at least 3 × WFR_HEARTBEAT_INTERVAL (5s): a replica fences itself 2 intervals after its last beat, and the others must not count it gone before", ""},
		{"WFR_BACKFILL_RATE", "0", "must be a number > 0", ""},
		{"WFR_DB_MAX_CONNS", "3", "must be an integer >= 4", ""},
		{"WFR_EXECUTION_RETENTION", "thirty days", "must be 0 (keep everything), days (30d) or a duration >= 24h", ""},
		{"WFR_EXECUTION_RETENTION", "30m", "must be 0 (keep everything), days (30d) or a duration >= 24h", ""},
		{"WFR_EXECUTION_RETENTION", "0d", "must be 0 (keep everything), days (30d) or a duration >= 24h", ""},
		{"WFR_EXECUTION_RETENTION", "-7d", "must be 0 (keep everything), days (30d) or a duration >= 24h", ""},
		{"WFR_RETENTION_DUTY", "0", "must be a number > 0 and <= 1", ""},
		{"WFR_RETENTION_DUTY", "1.5", "must be a number > 0 and <= 1", ""},
		{"WFR_RETENTION_DUTY", "a tenth", "must be a number > 0 and <= 1", ""},
		{"WFR_RETENTION_DUTY", "NaN", "must be a number > 0 and <= 1", ""},
		{"WFR_RATE_LIMIT", "-1", "must be a number >= 0", ""},
		{"WFR_RATE_LIMIT", "fast", "must be a number >= 0", ""},
		{"WFR_RATE_BURST", "0", "must be an integer >= 1", ""},
		{"WFR_RATE_BURST", "1.5", "must be an integer >= 1", ""},
		{"WFR_SYNC_WEBHOOK_LIMIT", "0", "must be an integer >= 1", ""},
		{"WFR_BACKLOG_MAX", "-1", "must be an integer >= 0", ""},
		{"WFR_BACKLOG_MAX", "10k", "must be an integer >= 0", ""},
		{"WFR_BACKLOG_MAX_PER_WORKFLOW", "-5", "must be an integer >= 0", ""},
		{"WFR_BACKLOG_MAX_PER_WORKFLOW", "2.5", "must be an integer >= 0", ""},
		{"WFR_REQUEST_MEMORY_MB", "8", "must be an integer >= 16", ""},
		{"WFR_MAX_CONNECTIONS", "-1", "must be an integer >= 0", ""},
		{"WFR_PREAUTH_TIMEOUT", "soon", "must be a duration >= 0s, e.g. 30s", ""},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			t.Parallel()

			flagName := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(tt.env, "WFR_")), "_", "-")
			shown := tt.value
			if tt.shown != "" {
				shown = tt.shown
			}
			want := fmt.Sprintf("%s (--%s) = %q: %s", tt.env, flagName, shown, tt.wantProblem)

			// The same bad value is reported the same way from the environment and from its flag.
			sources := map[string]struct {
				env  map[string]string
				args []string
			}{
				"env":  {env: map[string]string{"WFR_DATABASE_URL": testDatabaseURL, tt.env: tt.value}},
				"flag": {env: map[string]string{"WFR_DATABASE_URL": testDatabaseURL}, args: []string{"--" + flagName + "=" + tt.value}},
			}
			for name, src := range sources {
				_, err := Load("workflow-runtime", src.args, env(src.env), &bytes.Buffer{})
				require.Error(t, err, "from %s", name)
				if diff := cmp.Diff(want, err.Error()); diff != "" {
					t.Errorf("Load() from %s error mismatch (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// TestLoadEmbedded: with no database URL the configuration is valid and
// names the data directory of the embedded database.
func TestLoadEmbedded(t *testing.T) {
	t.Parallel()

	got, err := Load("workflow-runtime", nil, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	require.Empty(t, got.DatabaseURL)
	require.Equal(t, "./data", got.DataDir)

	got, err = Load("workflow-runtime", []string{"--data-dir=" + t.TempDir()}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	require.NotEqual(t, "./data", got.DataDir)
}

func TestLoadReportsEveryBadSetting(t *testing.T) {
	t.Parallel()

	_, err := Load("workflow-runtime", []string{"--rate-burst=0"}, env(map[string]string{
		"WFR_GRPC_ADDR":     "nope",
		"WFR_LOG_LEVEL":     "loud",
		"WFR_REDIS_URL":     "http://x",
		"WFR_REDIS_PREFIX":  "", // empty in the environment means unset: the default applies
		"WFR_JITTER_WINDOW": "-5s",
	}), &bytes.Buffer{})
	require.Error(t, err)

	// errors.Join: one line per bad setting, in the order settings are declared.
	want := []string{
		`WFR_GRPC_ADDR (--grpc-addr) = "nope": must be host:port or :port`,
		`WFR_REDIS_URL (--redis-url) = "http://x": scheme must be one of redis, rediss, unix, redis+cluster, redis+sentinel, rediss+sentinel`,
		`WFR_JITTER_WINDOW (--jitter-window) = "-5s": must be a duration >= 0s, e.g. 30s`,
		`WFR_LOG_LEVEL (--log-level) = "loud": must be one of debug, info, warn, error`,
		`WFR_RATE_BURST (--rate-burst) = "0": must be an integer >= 1`,
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Load() error lines mismatch (-want +got):\n%s", diff)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "Load() error %T is not an errors.Join", err)
	if got := len(joined.Unwrap()); got != len(want) {
		t.Errorf("Load() joined %d errors, want %d", got, len(want))
	}
}

func TestLoadEmptyRedisPrefixFlag(t *testing.T) {
	t.Parallel()

	_, err := Load("workflow-runtime", []string{"--redis-prefix="}, env(map[string]string{"WFR_DATABASE_URL": testDatabaseURL}), &bytes.Buffer{})
	require.Error(t, err)
	if diff := cmp.Diff(`WFR_REDIS_PREFIX (--redis-prefix) = "": must not be empty`, err.Error()); diff != "" {
		t.Errorf("Load() error mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadBadURLDoesNotLeakPassword(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, env, value, want string
	}{
		{
			name:  "wrong scheme: password masked",
			env:   "WFR_DATABASE_URL",
			value: "mysql://admin:s3cret@db:3306/x",
			want:  `WFR_DATABASE_URL (--database-url) = "mysql://admin:xxxxx@db:3306/x": scheme must be one of postgres, postgresql`,
		},
		{
			name:  "wrong scheme Redis: password masked",
			env:   "WFR_REDIS_URL",
			value: "http://:s3cret@cache:6379",
			want:  `WFR_REDIS_URL (--redis-url) = "http://:xxxxx@cache:6379": scheme must be one of redis, rediss, unix, redis+cluster, redis+sentinel, rediss+sentinel`,
		},
		{
			name:  "unparsable URL: masked whole",
			env:   "WFR_DATABASE_URL",
			value: "postgres://admin:s3cret@db:bad port/x",
			want:  `WFR_DATABASE_URL (--database-url) = "<redacted>": is not a URL`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			e := map[string]string{"WFR_DATABASE_URL": testDatabaseURL, tt.env: tt.value}
			_, err := Load("workflow-runtime", nil, env(e), &bytes.Buffer{})
			require.Error(t, err)
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Load() error %q leaks the password", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("Load() error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadArgumentErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		args      []string
		wantErr   string
		wantIs    error
		wantUsage bool
	}{
		{name: "positional arguments", args: []string{"serve", "now"}, wantErr: "unexpected arguments: serve now"},
		{name: "positional after flags", args: []string{"--grpc-addr=:1", "extra"}, wantErr: "unexpected arguments: extra"},
		{name: "-h", args: []string{"-h"}, wantIs: flag.ErrHelp, wantUsage: true},
		{name: "--help", args: []string{"--help"}, wantIs: flag.ErrHelp, wantUsage: true},
		{name: "unknown flag", args: []string{"--colour=blue"}, wantErr: "flag provided but not defined: -colour", wantUsage: true},
		{name: "flag without value", args: []string{"--grpc-addr"}, wantErr: "flag needs an argument: -grpc-addr", wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var out bytes.Buffer
			got, err := Load("workflow-runtime", tt.args, env(map[string]string{"WFR_DATABASE_URL": testDatabaseURL}), &out)
			require.Error(t, err)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Load() error = %v, want %v", err, tt.wantIs)
			}
			if tt.wantErr != "" {
				if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
					t.Errorf("Load() error mismatch (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(Config{}, got); diff != "" {
				t.Errorf("Load() returned a config on error (-want +got):\n%s", diff)
			}
			if gotUsage := strings.Contains(out.String(), "Usage of workflow-runtime"); gotUsage != tt.wantUsage {
				t.Errorf("usage printed = %v, want %v; output:\n%s", gotUsage, tt.wantUsage, out.String())
			}
			if tt.wantUsage {
				// Usage names each setting's environment variable.
				for _, s := range []string{"$WFR_GRPC_ADDR", "$WFR_DATABASE_URL", "$WFR_RATE_BURST", "-no-migrate"} {
					if !strings.Contains(out.String(), s) {
						t.Errorf("usage does not mention %s:\n%s", s, out.String())
					}
				}
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name                    string
		databaseURL, redisURL   string
		wantDatabase, wantRedis string
	}{
		{
			name:         "passwords masked",
			databaseURL:  "postgres://admin:s3cret@db:5432/wfr?sslmode=disable",
			redisURL:     "redis://:hunter2@cache:6379/0",
			wantDatabase: "postgres://admin:xxxxx@db:5432/wfr?sslmode=disable",
			wantRedis:    "redis://:xxxxx@cache:6379/0",
		},
		{
			name:         "user without password left intact",
			databaseURL:  testDatabaseURL,
			redisURL:     "rediss://default@cache:6380/2",
			wantDatabase: testDatabaseURL,
			wantRedis:    "rediss://default@cache:6380/2",
		},
		{
			name:         "no credentials left intact",
			databaseURL:  "postgresql://db/wfr",
			redisURL:     "unix:///run/redis.sock",
			wantDatabase: "postgresql://db/wfr",
			wantRedis:    "unix:///run/redis.sock",
		},
		{
			name:         "password in the query masked",
			databaseURL:  "postgres://admin@db/wfr?password=s3cret&sslmode=disable",
			redisURL:     "redis://cache:6379/0?password=s3cret",
			wantDatabase: "postgres://admin@db/wfr?password=xxxxx&sslmode=disable",
			wantRedis:    "redis://cache:6379/0?password=xxxxx",
		},
		{
			name:         "empty left empty",
			databaseURL:  "",
			redisURL:     "",
			wantDatabase: "",
			wantRedis:    "",
		},
		{
			name:         "unparsable URL masked whole",
			databaseURL:  "postgres://admin:s3cret@db:bad port/wfr",
			redisURL:     "redis://:s3cret@cache:port/0",
			wantDatabase: "<redacted>",
			wantRedis:    "<redacted>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c := Config{GRPCAddr: ":9090", DatabaseURL: tt.databaseURL, RedisURL: tt.redisURL, InstanceID: "i", RateBurst: 3}
			got := c.Redacted()

			want := c
			want.DatabaseURL, want.RedisURL = tt.wantDatabase, tt.wantRedis
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Redacted() mismatch (-want +got):\n%s", diff)
			}
			if c.DatabaseURL != tt.databaseURL || c.RedisURL != tt.redisURL {
				t.Errorf("Redacted() changed its receiver")
			}
		})
	}
}
