package scheduling

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/generic"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/fanout"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
	"github.com/workflow-runtime/workflow-runtime/pkg/shard"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

// shardBenchReplicas is how many replica processes `make bench-shard` runs.
const shardBenchReplicas = 4

// shardBenchSeedSQL writes $1 DEPLOYED deployments of one cron trigger
// each, in a mix: 2.5 % every minute, 10 % every 5 minutes, 20 % every 15,
// 30 % hourly and 37.5 % daily, at minutes (and hours) spread by the
// deployment's number so that slots come due evenly, about 424 a second at
// 400,000.
var shardBenchSeedSQL = []string{
	`INSERT INTO workflows (id, name, definition) SELECT 'bench-' || i, 'bench-' || i, '{"nodes": []}' FROM generate_series(0, $1 - 1) i`,
	`INSERT INTO deployments (id, workflow_id, status, version, definition)
	SELECT gen_random_uuid(), 'bench-' || i, 'DEPLOYED', 1, '{"nodes": []}' FROM generate_series(0, $1 - 1) i`,
	`INSERT INTO deployment_triggers (id, deployment_id, type, spec, active)
	SELECT gen_random_uuid(), d.id, 'CRON', jsonb_build_object('expression', CASE
		WHEN i % 40 = 0 THEN '* * * * *'
		WHEN i % 40 < 5 THEN (i / 40 % 5) || '/5 * * * *'
		WHEN i % 40 < 13 THEN (i / 40 % 15) || '/15 * * * *'
		WHEN i % 40 < 25 THEN (i / 40 % 60) || ' * * * *'
		ELSE (i / 40 % 60) || ' ' || (i / 2400 % 24) || ' * * *' END), true
	FROM deployments d, LATERAL (SELECT substr(d.workflow_id, 7)::int AS i) n WHERE $1 > 0`,
}

// TestBenchShard is `make bench-shard`, not a test: 4 replica processes
// schedule WFR_BENCH_SHARD_TRIGGERS cron triggers over one PostgreSQL
// database and a Redis of the benchmark's own, first with every replica
// firing every trigger (all), then sharded. Fires are recorded as the
// service records them (slot lock, execution row) but nothing dispatches
// them, so the figures are the scheduler's. For each mode it prints the
// load time, resident memory per replica, Redis commands (INFO
// commandstats) and PostgreSQL transactions per recorded slot, fire lag and
// misfires; sharded, also how long the others take to hold the triggers of
// a replica that leaves.
func TestBenchShard(t *testing.T) {
	seconds := os.Getenv("WFR_BENCH_SHARD")
	if seconds == "" {
		t.Skip("a benchmark: run it with `make bench-shard`")
	}
	if id := os.Getenv("WFR_BENCH_SHARD_REPLICA"); id != "" {
		benchShardReplica(t, id)
		return
	}
	dur, err := strconv.Atoi(seconds)
	require.NoError(t, err)
	triggers, err := strconv.Atoi(os.Getenv("WFR_BENCH_SHARD_TRIGGERS"))
	require.NoError(t, err)
	ctx := context.Background()

	dbURL := pgtest.NewDatabase(t)
	db, err := sqlx.Open("postgres", dbURL)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, migrations.Up(ctx, db.DB))
	seeded := time.Now()
	for _, q := range shardBenchSeedSQL {
		_, err = db.ExecContext(ctx, q, triggers)
		require.NoError(t, err)
	}
	_, err = db.ExecContext(ctx, `VACUUM ANALYZE`)
	require.NoError(t, err)
	fmt.Printf("seeded %d cron triggers in %.1f s\n\n", triggers, time.Since(seeded).Seconds())

	addr, _ := redistest.Private(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()

	fmt.Printf("%-8s %9s %8s %8s %9s %12s %11s %13s %12s %8s %8s %8s %8s %10s\n", "mode", "slots", "load_s", "rss_mb",
		"slots/s", "redis/slot", "pg_tx/slot", "cpu_ms/slot", "pg_ms/slot", "p50_ms", "p99_ms", "max_ms", "misfires", "handoff_s")
	for mode := range strings.FieldsSeq(cmp.Or(os.Getenv("WFR_BENCH_SHARD_MODES"), "all sharded")) {
		r := runShardBench(t, db, rdb, addr, dbURL, mode, time.Duration(dur)*time.Second)
		handoff := "-"
		if r.handoff > 0 {
			handoff = fmt.Sprintf("%.1f", r.handoff.Seconds())
		}
		per := func(v float64) float64 { return v / float64(r.slots) }
		fmt.Printf("%-8s %9d %8.1f %8.0f %9.0f %12.2f %11.2f %13.3f %12.3f %8.2f %8.2f %8.2f %8d %10s\n", mode, r.slots, r.load, r.rss,
			float64(r.slots)/float64(dur), per(r.redis), per(r.pgTx), 1000*per(r.cpu), 1000*per(r.pgCPU),
			r.lag(0.5), r.lag(0.99), r.lag(1), r.misfires, handoff)
	}
}

// shardBenchResult is one mode's figures: load and rss are the replicas'
// highest, lags every replica's fires in the window.
type shardBenchResult struct {
	slots       int64
	load, rss   float64
	redis, pgTx float64
	// cpu and pgCPU are the CPU seconds of the replicas and of PostgreSQL.
	cpu, pgCPU float64
	lags       []float64
	misfires   int
	handoff    time.Duration
}

func (r shardBenchResult) lag(p float64) float64 {
	if len(r.lags) == 0 {
		return 0
	}
	return r.lags[int(p*float64(len(r.lags)-1))]
}

// shardChild is a replica process and what it has said so far.
type shardChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	loaded chan [2]float64
	result chan shardChildResult
	// held is how many triggers it last said it holds.
	held atomic.Int64
}

// stop signals the replica and closes its stdin, which ends it.
func (c *shardChild) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.stdin.Close()
}

type shardChildResult struct {
	lags     []float64
	misfires int
	rss      float64
}

func runShardBench(t *testing.T, db *sqlx.DB, rdb *redis.Client, redisAddr, dbURL, mode string, window time.Duration) shardBenchResult {
	ctx := context.Background()
	// Each mode starts with no slot recorded and none to catch up: the
	// deployments are stamped as changed an hour from now, so that the
	// slots due while the replicas load are not caught up (that would
	// measure the catch-up's lateness, not the steady state's), and the
	// rereads of changes, which take rows stamped up to now, leave them be.
	// TRUNCATE runs no row trigger: the tables that triggers keep from
	// executions go with it.
	_, err := db.ExecContext(ctx, `TRUNCATE executions, execution_queue, workflow_turns, workflow_slots, missed_slots, catchups;
UPDATE deployments SET updated_at = now() + interval '1 hour'`)
	require.NoError(t, err)
	require.NoError(t, rdb.FlushAll(ctx).Err())

	children := make([]*shardChild, shardBenchReplicas)
	for i := range children {
		children[i] = startShardChild(t, fmt.Sprintf("replica-%d", i+1), mode, dbURL, redisAddr)
	}
	var res shardBenchResult
	for _, c := range children {
		select {
		case l := <-c.loaded:
			res.load, res.rss = max(res.load, l[0]), max(res.rss, l[1])
		case <-time.After(10 * time.Minute):
			t.Fatal("a replica did not load its triggers in 10 minutes")
		}
	}
	// Fires of the load's first seconds are not steady state.
	time.Sleep(5 * time.Second)
	type reading struct{ slots, redis, pgTx, cpu, pgCPU float64 }
	snapshot := func() (r reading) {
		require.NoError(t, db.GetContext(ctx, &r.slots, `SELECT count(*) FROM executions`))
		require.NoError(t, db.GetContext(ctx, &r.pgTx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`))
		r.redis = redisCommands(t, rdb)
		for _, c := range children {
			r.cpu += pgtest.ProcessCPU(c.cmd.Process.Pid)
		}
		r.pgCPU, err = pgtest.ServerCPU(ctx, db.DB)
		require.NoError(t, err)
		return r
	}
	before := snapshot()
	for _, c := range children {
		_, err := fmt.Fprintf(c.stdin, "window %d\n", window)
		require.NoError(t, err)
	}
	time.Sleep(window)
	after := snapshot()
	res.slots, res.redis, res.pgTx = int64(after.slots-before.slots), after.redis-before.redis, after.pgTx-before.pgTx
	res.cpu, res.pgCPU = after.cpu-before.cpu, after.pgCPU-before.pgCPU
	for _, c := range children {
		r := <-c.result
		res.lags = append(res.lags, r.lags...)
		res.misfires += r.misfires
		res.rss = max(res.rss, r.rss)
	}
	slices.Sort(res.lags)

	if mode == "sharded" {
		// One replica leaves as a SIGTERM makes it; the others take its
		// triggers at their next beats.
		left := time.Now()
		children[len(children)-1].stop()
		all := totalTriggers(t, db)
		for {
			var sum int64
			for _, c := range children[:len(children)-1] {
				sum += c.held.Load()
			}
			if sum >= all {
				break
			}
			require.Less(t, time.Since(left), 2*time.Minute, "the leaver's triggers were not taken in 2 minutes")
			time.Sleep(10 * time.Millisecond)
		}
		res.handoff = time.Since(left)
	}
	for _, c := range children {
		c.stop()
	}
	for _, c := range children {
		require.NoError(t, c.cmd.Wait())
	}
	return res
}

func totalTriggers(t *testing.T, db *sqlx.DB) int64 {
	var n int64
	require.NoError(t, db.Get(&n, `SELECT count(*) FROM deployment_triggers`))
	return n
}

// redisCommands sums the calls of every command but INFO since the server
// started.
func redisCommands(t *testing.T, rdb *redis.Client) float64 {
	raw, err := rdb.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	var sum float64
	for line := range strings.SplitSeq(raw, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
		n, err := strconv.ParseFloat(calls, 64)
		require.NoError(t, err)
		sum += n
	}
	return sum
}

func startShardChild(t *testing.T, id, mode, dbURL, redisAddr string) *shardChild {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchShard$", "-test.v=false", "-test.timeout=0")
	cmd.Env = append(os.Environ(), "WFR_BENCH_SHARD_REPLICA="+id, "WFR_BENCH_SHARD_MODE="+mode,
		"WFR_BENCH_SHARD_DB="+dbURL, "WFR_BENCH_SHARD_REDIS="+redisAddr)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &shardChild{cmd: cmd, stdin: stdin, loaded: make(chan [2]float64, 1),
		result: make(chan shardChildResult, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "loaded":
				load, _ := strconv.ParseFloat(f[1], 64)
				rss, _ := strconv.ParseFloat(f[2], 64)
				c.loaded <- [2]float64{load, rss}
			case "held":
				n, _ := strconv.ParseInt(f[1], 10, 64)
				c.held.Store(n)
			case "result":
				var r shardChildResult
				r.misfires, _ = strconv.Atoi(f[1])
				r.rss, _ = strconv.ParseFloat(f[2], 64)
				for _, l := range f[3:] {
					v, _ := strconv.ParseFloat(l, 64)
					r.lags = append(r.lags, v)
				}
				c.result <- r
			}
		}
	}()
	return c
}

// benchShardReplica is one replica of `make bench-shard`: the scheduler,
// the recorder, the heartbeat and, sharded, the membership, wired as the
// service wires them with the default timing, over the benchmark's
// database and Redis. It says on stdout when it has loaded, how many
// triggers it holds whenever that changes, and, asked for a window on
// stdin, the lags of its fires in it; SIGTERM stops it as it stops the
// service.
func benchShardReplica(t *testing.T, id string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, err := postgres.Open(ctx, os.Getenv("WFR_BENCH_SHARD_DB"), 8)
	require.NoError(t, err)
	defer st.Close()
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("WFR_BENCH_SHARD_REDIS")})
	defer rdb.Close()
	const prefix = "bench:"

	var (
		mu       sync.Mutex
		from, to time.Time
		lags     []float64
	)
	misfires := generic.NewCounter("misfires")
	rec := &Recorder{Store: st, Locker: lock.NewSlots(rdb), KeyPrefix: prefix}
	handle := func(ctx context.Context, f Fire) error {
		mu.Lock()
		if !f.At.Before(from) && f.At.Before(to) {
			lags = append(lags, float64(f.Lag.Microseconds())/1000)
		}
		mu.Unlock()
		return rec.Record(ctx, f)
	}
	replicas := lock.NewReplicas(rdb, prefix+"replicas", id)
	opts := Options{Broadcaster: fanout.NewRedis(rdb, prefix+"events"),
		Slots: st, CatchUps: st, InstanceID: id, CatchupLease: 30 * time.Second, Metrics: Metrics{Misfires: misfires}}
	if os.Getenv("WFR_BENCH_SHARD_MODE") == "sharded" {
		m, err := shard.NewMembership(replicas, id, nil, nil)
		require.NoError(t, err)
		require.NoError(t, m.Start(ctx))
		defer func() { _ = m.Stop(context.Background()) }()
		// Load once every replica counts the others: as a replica that
		// joins a settled set does after its hand-off wait.
		for v := m.View(); v.Mode != shard.ModeSharded || v.Members.Len() < shardBenchReplicas; v = m.View() {
			time.Sleep(50 * time.Millisecond)
		}
		opts.Membership = m
	} else {
		require.NoError(t, replicas.Start(ctx))
		defer func() { _ = replicas.Stop(context.Background()) }()
	}
	s := New(st, handle, opts)
	started := time.Now()
	require.NoError(t, s.Start(ctx))
	fmt.Printf("loaded %.2f %.0f\n", time.Since(started).Seconds(), residentMB(t))
	defer func() {
		_ = s.Stop(context.Background())
		_ = rec.Stop(context.Background())
	}()

	go func() {
		last := -1
		for ctx.Err() == nil {
			if n := s.Held(); n != last {
				fmt.Printf("held %d\n", n)
				last = n
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// The parent stops a replica as it would stop the service, closing its
	// stdin as it signals it.
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) != 2 || f[0] != "window" {
			continue
		}
		d, err := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err)
		mu.Lock()
		from, to = time.Now(), time.Now().Add(time.Duration(d))
		mu.Unlock()
		time.Sleep(time.Duration(d) + time.Second)
		mu.Lock()
		out := []string{"result", strconv.Itoa(int(misfires.Value())), fmt.Sprintf("%.0f", residentMB(t))}
		for _, l := range lags {
			out = append(out, strconv.FormatFloat(l, 'f', 3, 64))
		}
		mu.Unlock()
		fmt.Println(strings.Join(out, " "))
	}
}
