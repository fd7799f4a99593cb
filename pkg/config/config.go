// Package config reads workflow-runtime's settings from the environment and
// from flags of the same name in kebab case (WFR_GRPC_ADDR = --grpc-addr);
// a flag wins over the environment.
package config

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
)

// Config is the validated configuration of one replica.
type Config struct {
	GRPCAddr    string
	HTTPAddr    string
	DatabaseURL string
	// DBMaxConns bounds the PostgreSQL connections this replica holds, so
	// that replicas × DBMaxConns can be kept under the server's
	// max_connections.
	DBMaxConns  int
	DataDir     string
	RedisURL    string
	RedisPrefix string
	EngineAddr  string
	// EngineCallTimeout is each engine call attempt's deadline,
	// EngineAttempts the attempts a call makes (the first included), and
	// EngineBreakerOpenFor how long the circuit breaker, once open, fails
	// engine calls at once before it lets one through.
	EngineCallTimeout    time.Duration
	EngineAttempts       int
	EngineBreakerOpenFor time.Duration
	JitterWindow         time.Duration
	// ResyncInterval is how often the scheduler rereads the deployments
	// changed since its last resync, making good a change announcement lost
	// with Redis.
	ResyncInterval time.Duration
	// HeartbeatInterval is how often a replica beats in Redis's live set,
	// and ReplicaTTL how long a replica counts as live after its last beat:
	// past it the others take its cron triggers.
	HeartbeatInterval time.Duration
	ReplicaTTL        time.Duration
	// CronMode is "all" (every replica fires every cron trigger; the
	// database decides) or "sharded" (with Redis, each trigger is fired by
	// the live replica that owns it).
	CronMode        string
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	// LogFile, when set, takes the log instead of stderr; it is rotated at
	// LogMaxSizeMB, and LogMaxBackups and LogMaxAgeDays bound the rotated
	// copies kept (0: no bound).
	LogFile       string
	LogMaxSizeMB  int
	LogMaxBackups int
	LogMaxAgeDays int
	// DrainDelay is how long readiness reads 503 before the servers stop
	// taking calls, so that load balancers notice first.
	DrainDelay time.Duration
	InstanceID string
	// Lease is how long an execution stays a replica's without renewal;
	// another replica adopts it after that.
	Lease time.Duration
	// DispatchConcurrency bounds the executions one replica dispatches at
	// once; past it, accepted executions wait PENDING for a replica with room.
	DispatchConcurrency int
	// DispatchYield is the CPU wait past which dispatch yields to
	// triggers; 0 never yields.
	DispatchYield time.Duration
	// BackfillRate is the backfilled slots per second one replica starts.
	BackfillRate float64
	// ExecutionRetention is the age past which finished executions and
	// missed slots are removed; 0 keeps everything.
	ExecutionRetention time.Duration
	// RetentionDuty is the share of a retention pass's time spent
	// deleting, in (0, 1].
	RetentionDuty float64
	// ExecutionTimeout applies to deployments that set none.
	ExecutionTimeout time.Duration
	// LockGrace is how long a workflow lock outlives its execution's timeout
	// when its holder stops renewing it.
	LockGrace time.Duration
	// WebhookRateLimit is the webhook calls per second one workflow may
	// receive on one replica.
	WebhookRateLimit float64
	// RateLimit is the API's sustained requests per second per replica; 0 turns limiting off.
	RateLimit float64
	RateBurst int
	// SyncWebhookLimit bounds the SYNC webhook calls waiting at once.
	SyncWebhookLimit int
	// BacklogMax and BacklogMaxPerWorkflow bound the PENDING executions
	// waiting for the engine, of all workflows and of one, past which
	// triggers are refused with RESOURCE_EXHAUSTED; 0: unbounded.
	BacklogMax            int
	BacklogMaxPerWorkflow int
	// RequestMemory is the memory, in bytes, that the requests being
	// decoded may take at once, both ports together.
	RequestMemory int64
	// MaxConnections caps each port's open connections (0: no cap), and
	// PreAuthTimeout closes a connection that has made no authenticated
	// call within it (0: never).
	MaxConnections int
	PreAuthTimeout time.Duration
	// AuthTokens and the tokens of AuthTokensFile are the bearer tokens
	// callers present; with neither, calls are not authenticated.
	AuthTokens     []string
	AuthTokensFile string
	// AuthOpenPaths are the plain HTTP endpoints served without credentials.
	AuthOpenPaths []string
	// TLSCert and TLSKey serve both ports over TLS; TLSClientCA makes them
	// require client certificates that it issued.
	TLSCert     string
	TLSKey      string
	TLSClientCA string
	// AuthClientRoles gives client certificates, by common name, a role.
	AuthClientRoles map[string]auth.Role
	NoMigrate       bool
}

type setting struct {
	env, def, usage string
	parse           func(c *Config, v string) error
}

// secretSettings may hold passwords or tokens: an error shows their values
// through these.
var secretSettings = map[string]func(string) string{
	"WFR_DATABASE_URL": redact,
	"WFR_REDIS_URL":    redact,
	"WFR_AUTH_TOKENS":  func(string) string { return "<redacted>" },
}

var settings = []setting{
	{"WFR_GRPC_ADDR", ":9090", "gRPC listen address", func(c *Config, v string) error { return addr(&c.GRPCAddr, v) }},
	{"WFR_HTTP_ADDR", ":8080", "HTTP listen address (REST, docs, health, metrics)", func(c *Config, v string) error { return addr(&c.HTTPAddr, v) }},
	{"WFR_DATABASE_URL", "", "PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/workflow_runtime?sslmode=disable; empty: an embedded SQLite file in WFR_DATA_DIR, one replica", func(c *Config, v string) error {
		return urlWithScheme(&c.DatabaseURL, v, false, "postgres", "postgresql")
	}},
	{"WFR_DB_MAX_CONNS", "20", "PostgreSQL connections one replica holds at most, kept open between bursts; replicas x this must stay under the server's max_connections", func(c *Config, v string) error {
		return integer(&c.DBMaxConns, v, 4)
	}},
	{"WFR_DATA_DIR", "./data", "directory of the embedded SQLite database (workflow-runtime.db) when WFR_DATABASE_URL is empty; created if missing", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		// SQLite's driver would read what follows a "?" as its parameters.
		if strings.Contains(v, "?") {
			return errors.New(`must not contain "?"`)
		}
		if fi, err := os.Stat(v); err == nil && !fi.IsDir() {
			return errors.New("is a file, not a directory")
		}
		c.DataDir = v
		return nil
	}},
	{"WFR_REDIS_URL", "", "Redis URL: redis://127.0.0.1:6379/0, rediss://, unix://, redis+cluster://h1,h2, redis+sentinel://s1,s2/master; empty: no Redis", func(c *Config, v string) error {
		return urlWithScheme(&c.RedisURL, v, false, "redis", "rediss", "unix", "redis+cluster", "redis+sentinel", "rediss+sentinel")
	}},
	{"WFR_REDIS_PREFIX", "workflow_runtime:", "prefix of every Redis key", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.RedisPrefix = v
		return nil
	}},
	{"WFR_ENGINE_ADDR", "", "workflow engine gRPC address, host:port", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		return addr(&c.EngineAddr, v)
	}},
	{"WFR_ENGINE_CALL_TIMEOUT", "5s", "deadline of each attempt of an engine call", func(c *Config, v string) error {
		return duration(&c.EngineCallTimeout, v, 10*time.Millisecond)
	}},
	{"WFR_ENGINE_ATTEMPTS", "5", "attempts an engine call makes, the first included, before it fails; 1: no retry", func(c *Config, v string) error {
		return integer(&c.EngineAttempts, v, 1)
	}},
	{"WFR_ENGINE_BREAKER_OPEN_FOR", "10s", "how long engine calls fail at once after 5 in a row found the engine unavailable, before one is let through", func(c *Config, v string) error {
		return duration(&c.EngineBreakerOpenFor, v, 10*time.Millisecond)
	}},
	{"WFR_JITTER_WINDOW", "300s", "default cron jitter window", func(c *Config, v string) error { return duration(&c.JitterWindow, v, 0) }},
	{"WFR_RESYNC_INTERVAL", "30s", "how often the scheduler rereads the deployments changed since its last resync (every 120th resync reloads every cron trigger) and the webhook index reloads every path", func(c *Config, v string) error {
		return duration(&c.ResyncInterval, v, time.Second)
	}},
	{"WFR_HEARTBEAT_INTERVAL", "5s", "how often a replica beats in Redis's set of live replicas", func(c *Config, v string) error {
		return duration(&c.HeartbeatInterval, v, 10*time.Millisecond)
	}},
	{"WFR_REPLICA_TTL", "30s", "how long a replica counts as live after its last beat, at least 3 beat intervals; the others then take its cron triggers", func(c *Config, v string) error {
		if err := duration(&c.ReplicaTTL, v, 10*time.Millisecond); err != nil {
			return err
		}
		if c.ReplicaTTL < 3*c.HeartbeatInterval {
			return fmt.Errorf("must be at least 3 × WFR_HEARTBEAT_INTERVAL (%s): a replica fences itself 2 intervals after its last beat, and the others must not count it gone before", c.HeartbeatInterval)
		}
		return nil
	}},
	{"WFR_CRON_MODE", "all", "all: every replica fires every cron trigger and the database keeps each slot to one run; sharded: with Redis, each trigger is fired by the one live replica that owns it (for more than about 100,000 triggers; a crashed owner's slots wait up to WFR_REPLICA_TTL and are caught up)", func(c *Config, v string) error {
		return oneOf(&c.CronMode, v, "all", "sharded")
	}},
	{"WFR_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, v string) error {
		return oneOf(&c.LogLevel, v, "debug", "info", "warn", "error")
	}},
	{"WFR_LOG_FORMAT", "json", "json or logfmt", func(c *Config, v string) error { return oneOf(&c.LogFormat, v, "json", "logfmt") }},
	{"WFR_LOG_FILE", "", "log file, rotated by size; empty: stderr", func(c *Config, v string) error {
		c.LogFile = v
		return nil
	}},
	{"WFR_LOG_MAX_SIZE_MB", "100", "size in MB at which the log file is rotated", func(c *Config, v string) error {
		return integer(&c.LogMaxSizeMB, v, 1)
	}},
	{"WFR_LOG_MAX_BACKUPS", "10", "rotated log files kept; 0: all", func(c *Config, v string) error {
		return integer(&c.LogMaxBackups, v, 0)
	}},
	{"WFR_LOG_MAX_AGE_DAYS", "30", "days a rotated log file is kept; 0: no limit", func(c *Config, v string) error {
		return integer(&c.LogMaxAgeDays, v, 0)
	}},
	{"WFR_SHUTDOWN_TIMEOUT", "30s", "how long a stop may drain in-flight work", func(c *Config, v string) error {
		return duration(&c.ShutdownTimeout, v, time.Second)
	}},
	{"WFR_DRAIN_DELAY", "5s", "how long readiness reads 503 before the servers stop taking calls", func(c *Config, v string) error {
		return duration(&c.DrainDelay, v, 0)
	}},
	{"WFR_INSTANCE_ID", "", "this replica's name; empty: hostname-pid", func(c *Config, v string) error {
		if v == "" {
			host, _ := os.Hostname()
			v = fmt.Sprintf("%s-%d", host, os.Getpid())
		}
		c.InstanceID = v
		return nil
	}},
	{"WFR_LEASE", "30s", "how long an execution stays a replica's without renewal before another adopts it", func(c *Config, v string) error {
		return duration(&c.Lease, v, 100*time.Millisecond)
	}},
	{"WFR_DISPATCH_CONCURRENCY", "64", "executions one replica dispatches to the engine at once, at most (fewer while the engine refuses for load); past it, accepted executions wait PENDING for any replica with room", func(c *Config, v string) error {
		return integer(&c.DispatchConcurrency, v, 1)
	}},
	{"WFR_DISPATCH_YIELD", "1ms", "while triggers are accepted faster than dispatched (some queued) and the backlog is below three quarters of WFR_BACKLOG_MAX, dispatch keeps an eighth of its places whenever goroutines wait longer than this for a CPU (90th percentile), so that a burst is answered first and started after; 0: never yield", func(c *Config, v string) error {
		return duration(&c.DispatchYield, v, 0)
	}},
	{"WFR_BACKFILL_RATE", "50", "backfilled slots per second one replica starts, all backfills together", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return errors.New("must be a number > 0")
		}
		c.BackfillRate = f
		return nil
	}},
	{"WFR_EXECUTION_RETENTION", "30d", "age past which finished executions and missed slots are removed, one replica at a time: days (30d) or a duration >= 24h (720h); 0: keep everything", func(c *Config, v string) error {
		return retention(&c.ExecutionRetention, v)
	}},
	{"WFR_RETENTION_DUTY", "0.03", "share of a retention pass's time spent deleting, in (0, 1]: after each batch (about 2 ms) the pass rests until its deletes have taken this share; lower disturbs the trigger path less, higher removes faster (about 700 rows/s at 0.03 on a 2-core host)", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1) {
			return errors.New("must be a number > 0 and <= 1")
		}
		c.RetentionDuty = f
		return nil
	}},
	{"WFR_EXECUTION_TIMEOUT", "1h", "execution timeout of deployments that set none", func(c *Config, v string) error {
		return duration(&c.ExecutionTimeout, v, time.Second)
	}},
	{"WFR_LOCK_GRACE", "60s", "how long a workflow lock outlives its execution's timeout when no one renews it", func(c *Config, v string) error {
		return duration(&c.LockGrace, v, time.Second)
	}},
	{"WFR_WEBHOOK_RATE_LIMIT", "100", "webhook calls per second one workflow may receive on one replica", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return errors.New("must be a number > 0")
		}
		c.WebhookRateLimit = f
		return nil
	}},
	{"WFR_RATE_LIMIT", "1000", "API requests per second per replica; 0: unlimited", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return errors.New("must be a number >= 0")
		}
		c.RateLimit = f
		return nil
	}},
	{"WFR_RATE_BURST", "2000", "API requests allowed in a burst above the rate", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errors.New("must be an integer >= 1")
		}
		c.RateBurst = n
		return nil
	}},
	{"WFR_SYNC_WEBHOOK_LIMIT", "200", "SYNC webhook calls that may wait for their execution at once on one replica; more are refused with RESOURCE_EXHAUSTED", func(c *Config, v string) error {
		return integer(&c.SyncWebhookLimit, v, 1)
	}},
	{"WFR_BACKLOG_MAX", "200000", "PENDING executions waiting for the engine, all workflows and replicas together, past which triggers are refused with RESOURCE_EXHAUSTED and a retry delay; 0: unbounded", func(c *Config, v string) error {
		return integer(&c.BacklogMax, v, 0)
	}},
	{"WFR_BACKLOG_MAX_PER_WORKFLOW", "50000", "PENDING executions of one workflow waiting for the engine past which its triggers are refused the same way; 0: unbounded", func(c *Config, v string) error {
		return integer(&c.BacklogMaxPerWorkflow, v, 0)
	}},
	{"WFR_REQUEST_MEMORY_MB", "192", "MiB that request bodies being decoded may take at once, both ports together (estimated from their size and JSON values); more wait their turn", func(c *Config, v string) error {
		var mb int
		if err := integer(&mb, v, 16); err != nil {
			return err
		}
		c.RequestMemory = int64(mb) << 20
		return nil
	}},
	{"WFR_MAX_CONNECTIONS", "1000", "open connections each port holds at once; more wait in the listen backlog; 0: no cap", func(c *Config, v string) error {
		return integer(&c.MaxConnections, v, 0)
	}},
	{"WFR_PREAUTH_TIMEOUT", "10s", "how long a connection may stay open without an admitted call (good credentials, or an open path); 0: no limit", func(c *Config, v string) error {
		return duration(&c.PreAuthTimeout, v, 0)
	}},
	{"WFR_AUTH_TOKENS", "", "comma-separated bearer tokens callers must send (authorization: Bearer <token>), each <name>:<role>:<token> (roles admin, operator, trigger, read) or a plain token (name admin, role admin); tokens are >= 16 printable ASCII characters; empty, with no token file: no authentication", func(c *Config, v string) error {
		tokens, err := auth.ParseTokens(v)
		c.AuthTokens = tokens
		return err
	}},
	{"WFR_AUTH_TOKENS_FILE", "", "file of further bearer tokens, one per line as in WFR_AUTH_TOKENS, # comments; re-read on SIGHUP", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if _, err := auth.ReadTokenFile(v); err != nil {
			return err
		}
		c.AuthTokensFile = v
		return nil
	}},
	{"WFR_AUTH_OPEN_PATHS", "/livez,/readyz", "HTTP paths served without token or client certificate, of " + strings.Join(auth.OpenablePaths, ",") + ", or none; Kubernetes probes need /livez,/readyz", func(c *Config, v string) error {
		c.AuthOpenPaths = nil
		if v == "none" {
			return nil
		}
		for p := range strings.SplitSeq(v, ",") {
			if !slices.Contains(auth.OpenablePaths, p) {
				return fmt.Errorf("must be none or a comma-separated list of %s", strings.Join(auth.OpenablePaths, ", "))
			}
			c.AuthOpenPaths = append(c.AuthOpenPaths, p)
		}
		return nil
	}},
	// The TLS rows are parsed in this order, so that each can check the ones above it.
	{"WFR_TLS_CERT", "", "PEM server certificate (chain) of both ports; empty: no TLS", func(c *Config, v string) error {
		c.TLSCert = v
		return nil
	}},
	{"WFR_TLS_KEY", "", "PEM private key of WFR_TLS_CERT", func(c *Config, v string) error {
		switch {
		case v == "" && c.TLSCert != "":
			return errors.New("must be set with WFR_TLS_CERT")
		case v != "" && c.TLSCert == "":
			return errors.New("needs WFR_TLS_CERT")
		case v != "":
			if _, err := tls.LoadX509KeyPair(c.TLSCert, v); err != nil {
				return fmt.Errorf("with WFR_TLS_CERT: %w", err)
			}
		}
		c.TLSKey = v
		return nil
	}},
	{"WFR_TLS_CLIENT_CA", "", "PEM CA certificates: both ports require client certificates they issued (HTTP: except on open paths); empty: none required", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if c.TLSCert == "" {
			return errors.New("needs WFR_TLS_CERT and WFR_TLS_KEY: client certificates are checked only over TLS")
		}
		if _, err := auth.LoadCertPool(v); err != nil {
			return err
		}
		c.TLSClientCA = v
		return nil
	}},
	{"WFR_AUTH_CLIENT_ROLES", "", "comma-separated CN=<common name>:<role> (admin, operator, trigger, read): the name and role of callers by their client certificate; needs WFR_TLS_CLIENT_CA; empty: certificates carry no role, and callers without a token act unchecked", func(c *Config, v string) error {
		roles, err := auth.ParseClientRoles(v)
		if err != nil {
			return err
		}
		if roles != nil && c.TLSClientCA == "" {
			return errors.New("needs WFR_TLS_CLIENT_CA: roles are given to verified client certificates")
		}
		c.AuthClientRoles = roles
		return nil
	}},
}

// Load reads the configuration of command cmd from args (flags) and getenv,
// and returns every bad setting at once, one per line.
func Load(cmd string, args []string, getenv func(string) string, output io.Writer) (Config, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(output)
	values := make([]*string, len(settings))
	for i, s := range settings {
		def := s.def
		if v, ok := lookup(getenv, s.env); ok {
			def = v
		}
		values[i] = fs.String(flagName(s.env), def, s.usage+" ($"+s.env+")")
		// Usage shows the default, which the environment set: hide secrets.
		if hide, ok := secretSettings[s.env]; ok && def != "" {
			fs.Lookup(flagName(s.env)).DefValue = hide(def)
		}
	}
	var c Config
	fs.BoolVar(&c.NoMigrate, "no-migrate", false, "do not apply PostgreSQL migrations on start (the embedded SQLite database always migrates)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var errs []error
	for i, s := range settings {
		if err := s.parse(&c, *values[i]); err != nil {
			shown := *values[i]
			if hide, ok := secretSettings[s.env]; ok {
				shown = hide(shown)
			}
			errs = append(errs, fmt.Errorf("%s (--%s) = %q: %w", s.env, flagName(s.env), shown, err))
		}
	}
	return c, errors.Join(errs...)
}

func lookup(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "WFR_")), "_", "-")
}

func addr(dst *string, v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return errors.New("must be host:port or :port")
	}
	*dst = v
	return nil
}

func urlWithScheme(dst *string, v string, required bool, schemes ...string) error {
	if v == "" {
		if required {
			return errors.New("must be set")
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("is not a URL")
	}
	if slices.Contains(schemes, u.Scheme) {
		*dst = v
		return nil
	}
	return fmt.Errorf("scheme must be one of %s", strings.Join(schemes, ", "))
}

func duration(dst *time.Duration, v string, least time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < least {
		return fmt.Errorf("must be a duration >= %s, e.g. 30s", least)
	}
	*dst = d
	return nil
}

// retention reads a retention: 0, whole days ("30d"), or a Go duration of
// at least a day, so that a unit slip ("30m") cannot empty the history.
func retention(dst *time.Duration, v string) error {
	const bad = "must be 0 (keep everything), days (30d) or a duration >= 24h"
	if v == "0" {
		*dst = 0
		return nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 100*365 {
			return errors.New(bad)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else if parsed, err := time.ParseDuration(v); err == nil {
		d = parsed
	}
	if d < 24*time.Hour {
		return errors.New(bad)
	}
	*dst = d
	return nil
}

func integer(dst *int, v string, least int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		return fmt.Errorf("must be an integer >= %d", least)
	}
	*dst = n
	return nil
}

func oneOf(dst *string, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		*dst = v
		return nil
	}
	return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
}

// Redacted returns the configuration with passwords in URLs and bearer tokens
// masked, fit for a log line.
func (c Config) Redacted() Config {
	c.DatabaseURL = redact(c.DatabaseURL)
	c.RedisURL = redact(c.RedisURL)
	if c.AuthTokens != nil {
		c.AuthTokens = slices.Repeat([]string{masked}, len(c.AuthTokens))
	}
	return c
}

// redact masks the password of a URL, in its user info or its query (lib/pq
// and go-redis read both); anything that is not a URL (a key=value DSN, a
// typo) is masked whole, because it may hold a password in any form.
func redact(v string) string {
	if v == "" {
		return v
	}
	if !strings.Contains(v, "://") {
		return "<redacted>"
	}
	u, err := url.Parse(v)
	if err != nil {
		return "<redacted>"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), masked)
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", masked)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

const masked = "xxxxx"
