package migrations_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

// pgMigrations are the PostgreSQL migrations' versions and names, in
// order: a file added without its line here fails the status checks.
var pgMigrations = [][2]string{
	{"00001", "workflows"},
	{"00002", "workflow_deployment_status"},
	{"00003", "deployments"},
	{"00004", "executions"},
	{"00005", "execution_turn"},
	{"00006", "execution_input_text"},
	{"00007", "execution_history_index"},
	{"00008", "deployment_versions"},
	{"00009", "missed_slots"},
	{"00010", "backfills"},
	{"00011", "execution_policies"},
	{"00012", "version_history"},
	{"00013", "actors"},
	{"00014", "catchups_and_backfill_bounds"},
	{"00015", "retention"},
	{"00016", "execution_fillfactor"},
	{"00017", "deployments_updated_at"},
	{"00018", "unfinished_by_owner"},
	{"00019", "execution_queue"},
	{"00020", "turns_and_slots"},
	{"00021", "turn_and_slot_keys"},
}

var migrationCount = len(pgMigrations)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", pgtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// schema describes the public schema (columns, constraints, indexes), minus
// goose's bookkeeping table, one sorted line per object.
func schema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	const q = `
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
	|| coalesce('(' || character_maximum_length || ')', '') || ' ' || is_nullable
	|| coalesce(' default ' || column_default, '')
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name <> 'goose_db_version'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'goose_db_version'
UNION ALL
SELECT 'index ' || indexdef
FROM pg_indexes
WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
ORDER BY 1`
	return texts(t, db, q)
}

// texts returns the one text column of query's rows, in their order.
func texts(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func status(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, migrations.Status(context.Background(), db, &buf))
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

var statusLine = regexp.MustCompile(`^(\d{5})  (\S+) +(pending|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$`)

// checkStatus checks that the first applied migrations are applied and the
// others pending.
func checkStatus(t *testing.T, db *sql.DB, applied int) {
	t.Helper()
	lines := status(t, db)
	require.Len(t, lines, migrationCount, "status:\n%s", strings.Join(lines, "\n"))
	for i, l := range lines {
		m := statusLine.FindStringSubmatch(l)
		require.NotNil(t, m, "status line %q", l)
		if got, want := m[1], pgMigrations[i][0]; got != want {
			t.Errorf("line %d version = %s, want %s", i, got, want)
		}
		if m[2] != pgMigrations[i][1] {
			t.Errorf("line %d name = %s, want %s", i, m[2], pgMigrations[i][1])
		}
		if pending := m[3] == "pending"; pending != (i >= applied) {
			t.Errorf("with %d applied, line %q: pending = %v", applied, l, pending)
		}
	}
}

func TestUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)

	checkStatus(t, db, 0)
	require.NoError(t, migrations.Up(ctx, db))
	checkStatus(t, db, migrationCount)
	want := schema(t, db)

	// The seed's migration, as written.
	for _, obj := range []string{
		"column workflows.deployment_status character varying(50) YES default 'DRAFT'::character varying",
		"column workflows.deployed_at timestamp with time zone YES",
		"column workflows.deployment_config jsonb YES default '{}'::jsonb",
		"constraint workflows.valid_deployment_status CHECK (((deployment_status)::text = ANY " +
			"((ARRAY['DRAFT'::character varying, 'DEPLOYED'::character varying, 'PAUSED'::character varying, " +
			"'ARCHIVED'::character varying])::text[])))",
		"index CREATE INDEX idx_workflows_deployment_status ON public.workflows USING btree (deployment_status)",
		"index CREATE INDEX idx_workflows_deployed_at ON public.workflows USING btree (deployed_at)",
		// The guards the runtime relies on.
		"constraint executions.executions_trigger_slot_key UNIQUE (trigger_id, scheduled_time, attempt)",
		"index CREATE UNIQUE INDEX executions_workflow_idempotency_key ON public.executions USING btree " +
			"(workflow_id, idempotency_key) WHERE (idempotency_key IS NOT NULL)",
		"index CREATE UNIQUE INDEX deployments_one_active_per_workflow ON public.deployments USING btree " +
			"(workflow_id) WHERE ((status)::text <> 'ARCHIVED'::text)",
		"index CREATE UNIQUE INDEX deployment_triggers_active_webhook_path_key ON public.deployment_triggers " +
			"USING btree (webhook_path) WHERE (active AND (webhook_path IS NOT NULL))",
	} {
		if !slices.Contains(want, obj) {
			t.Errorf("schema lacks %q; schema:\n%s", obj, strings.Join(want, "\n"))
		}
	}

	// Up on an up-to-date schema changes nothing.
	require.NoError(t, migrations.Up(ctx, db))
	if diff := cmp.Diff(want, schema(t, db)); diff != "" {
		t.Errorf("schema after a second Up (-want +got):\n%s", diff)
	}

	for applied := migrationCount - 1; applied >= 0; applied-- {
		require.NoError(t, migrations.Down(ctx, db))
		checkStatus(t, db, applied)
	}
	if got := schema(t, db); len(got) != 0 {
		t.Errorf("schema after rolling everything back:\n%s", strings.Join(got, "\n"))
	}
	if err := migrations.Down(ctx, db); !errors.Is(err, migrations.ErrNothingToRollBack) {
		t.Errorf("Down with nothing applied: %v, want ErrNothingToRollBack", err)
	}

	require.NoError(t, migrations.Up(ctx, db))
	checkStatus(t, db, migrationCount)
	if diff := cmp.Diff(want, schema(t, db)); diff != "" {
		t.Errorf("schema after up, down to 0, up (-want +got):\n%s", diff)
	}
}

// Each down migration undoes exactly its up migration.
func TestDownUndoesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)

	var before [][]string
	for i := range migrationCount {
		before = append(before, schema(t, db))
		require.NoError(t, upByOne(ctx, db, i))
	}
	for i := migrationCount - 1; i >= 0; i-- {
		require.NoError(t, migrations.Down(ctx, db))
		if diff := cmp.Diff(before[i], schema(t, db)); diff != "" {
			t.Errorf("schema after rolling back migration %d (-want +got):\n%s", i+1, diff)
		}
	}
}

// upByOne applies migrations until applied+1 are applied, by rolling back
// from the top: the package applies all pending migrations at once.
func upByOne(ctx context.Context, db *sql.DB, applied int) error {
	if err := migrations.Up(ctx, db); err != nil {
		return err
	}
	for i := migrationCount; i > applied+1; i-- {
		if err := migrations.Down(ctx, db); err != nil {
			return err
		}
	}
	return nil
}

func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)

	const replicas = 3
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() { errs[i] = migrations.Up(ctx, db) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Up: %v", i, err)
		}
	}
	checkStatus(t, db, migrationCount)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)

	if err := migrations.Status(ctx, db, failingWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Status to a failing writer: %v, want the writer's error", err)
	}

	for name, f := range map[string]func() error{
		"Up":     func() error { return migrations.Up(ctx, nil) },
		"Down":   func() error { return migrations.Down(ctx, nil) },
		"Status": func() error { return migrations.Status(ctx, nil, &bytes.Buffer{}) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s without a database: nil error", name)
		}
	}

	require.NoError(t, db.Close())
	if err := migrations.Up(ctx, db); err == nil {
		t.Error("Up on a closed pool: nil error")
	}
	if err := migrations.Down(ctx, db); err == nil || errors.Is(err, migrations.ErrNothingToRollBack) {
		t.Errorf("Down on a closed pool: %v, want a connection error", err)
	}
	if err := migrations.Status(ctx, db, &bytes.Buffer{}); err == nil {
		t.Error("Status on a closed pool: nil error")
	}
}

// TestUpgradePopulated upgrades a database that holds executions and missed
// slots, as of migration 00018, through the last migration, which must keep
// every row, give the leases and the index that retention uses, put the
// executions queued without an owner, and only those, in the queue (00019),
// and the turn and slots held in their tables (00020), which triggers keep
// from then on; rolling the last one back keeps the rows too.
func TestUpgradePopulated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	const before = 18 // unfinished_by_owner
	require.NoError(t, upByOne(ctx, db, before-1))
	checkStatus(t, db, before)

	const populate = `
INSERT INTO workflows (id, name, definition) VALUES ('wf', 'wf', '{}');
INSERT INTO deployments (id, workflow_id, status, version, definition)
VALUES ('00000000-0000-0000-0000-000000000001', 'wf', 'DEPLOYED', 1, '{}');
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
SELECT gen_random_uuid(), 'wf', '00000000-0000-0000-0000-000000000001', 1, 'MANUAL',
	CASE WHEN i % 10 = 0 THEN 'RUNNING' ELSE 'SUCCEEDED' END, now() - i * interval '1 hour'
FROM generate_series(1, 2000) AS i;
INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time, owner_instance)
SELECT gen_random_uuid(), 'wf', '00000000-0000-0000-0000-000000000001', 1, 'MANUAL', 'PENDING', now() + i * interval '1 second',
	CASE WHEN i % 3 = 0 THEN 'replica-1' END
FROM generate_series(1, 30) AS i;
UPDATE executions SET holds_turn = true
WHERE id = (SELECT id FROM executions WHERE status = 'RUNNING' ORDER BY fired_time LIMIT 1);
UPDATE executions SET concurrency_slot = 1
WHERE id = (SELECT id FROM executions WHERE status = 'RUNNING' ORDER BY fired_time OFFSET 1 LIMIT 1);
UPDATE executions SET concurrency_slot = 2
WHERE id = (SELECT id FROM executions WHERE status = 'RUNNING' ORDER BY fired_time OFFSET 2 LIMIT 1);
INSERT INTO missed_slots (trigger_id, deployment_id, from_slot, to_slot, slot_count, reason, recorded_at)
SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001', now() - i * interval '1 day',
	now() - i * interval '1 day' + interval '1 minute', 2, 'REPLICA_DOWN', now()
FROM generate_series(1, 50) AS i;`
	_, err := db.ExecContext(ctx, populate)
	require.NoError(t, err)
	counts := func() (executions, missed int) {
		t.Helper()
		require.NoError(t, db.QueryRowContext(ctx,
			`SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM missed_slots)`).Scan(&executions, &missed))
		return executions, missed
	}

	require.NoError(t, migrations.Up(ctx, db))
	checkStatus(t, db, migrationCount)
	executions, missed := counts()
	require.Equal(t, 2030, executions)
	require.Equal(t, 50, missed)
	queue := func() []string { return texts(t, db, `SELECT id FROM execution_queue ORDER BY fired_time, id`) }
	unowned := func() []string {
		return texts(t, db, `SELECT id FROM executions WHERE status = 'PENDING' AND owner_instance IS NULL ORDER BY fired_time, id`)
	}
	require.Len(t, queue(), 20)
	require.Equal(t, unowned(), queue())
	for _, change := range []string{
		`INSERT INTO executions (id, workflow_id, deployment_id, deployment_version, trigger_type, status, fired_time)
		VALUES (gen_random_uuid(), 'wf', '00000000-0000-0000-0000-000000000001', 1, 'MANUAL', 'PENDING', now())`,
		`UPDATE executions SET owner_instance = 'replica-2' WHERE id = (SELECT id FROM execution_queue ORDER BY fired_time, id LIMIT 1)`,
		`UPDATE executions SET status = 'CANCELLED' WHERE id = (SELECT id FROM execution_queue ORDER BY fired_time, id LIMIT 1)`,
		`DELETE FROM executions WHERE id = (SELECT id FROM execution_queue ORDER BY fired_time, id LIMIT 1)`,
	} {
		_, err = db.ExecContext(ctx, change)
		require.NoError(t, err, change)
		require.Equal(t, unowned(), queue(), "the queue after %s", change)
	}
	require.Len(t, queue(), 18)

	held := func() []string {
		return texts(t, db, `SELECT 'turn ' || execution_id FROM workflow_turns
			UNION ALL SELECT 'slot ' || slot || ' ' || execution_id FROM workflow_slots ORDER BY 1`)
	}
	require.Equal(t, texts(t, db, `SELECT 'turn ' || id FROM executions WHERE holds_turn
		UNION ALL SELECT 'slot ' || concurrency_slot || ' ' || id FROM executions WHERE concurrency_slot IS NOT NULL ORDER BY 1`), held())
	require.Len(t, held(), 3)
	_, err = db.ExecContext(ctx, `UPDATE executions SET holds_turn = true
		WHERE id = (SELECT id FROM executions WHERE status = 'PENDING' AND NOT holds_turn LIMIT 1)`)
	require.ErrorContains(t, err, "executions_workflow_turn_key", "a second run cannot take the turn, and the violation has its old name")
	_, err = db.ExecContext(ctx, `UPDATE executions SET status = 'SUCCEEDED' WHERE holds_turn OR concurrency_slot = 1`)
	require.NoError(t, err)
	require.Len(t, held(), 1, "ending its holder frees the turn and the slot")
	_, err = db.ExecContext(ctx, `UPDATE executions SET holds_turn = true
		WHERE id = (SELECT id FROM executions WHERE status = 'PENDING' AND NOT holds_turn LIMIT 1)`)
	require.NoError(t, err, "the free turn is taken")
	require.Len(t, held(), 2)
	require.Contains(t, schema(t, db), "index CREATE INDEX missed_slots_to_slot_idx ON public.missed_slots USING btree (to_slot)")
	_, err = db.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ('retention', 'r1', now())`)
	require.NoError(t, err)

	require.NoError(t, migrations.Down(ctx, db))
	checkStatus(t, db, migrationCount-1)
	executions, missed = counts()
	require.Equal(t, 2030, executions)
	require.Equal(t, 50, missed)
}
