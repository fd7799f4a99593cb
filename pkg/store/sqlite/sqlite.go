// Package sqlite is the store on an embedded SQLite file, with
// modernc.org/sqlite (pure Go, no cgo): embedded mode, when the service runs
// without PostgreSQL. Package sqlstore holds the store's logic, and this
// package what SQLite does its own way. The schema is the SQLite one in the
// migrations package, which Open applies.
//
// SQLite runs one writer at a time. The store writes through a pool of a
// single connection, so its writers queue in the process, in order, instead
// of failing with SQLITE_BUSY, and every write transaction is serial: what
// PostgreSQL gets from row locks, SKIP LOCKED and the workflows-row lock, a
// transaction gets here from being alone. Reads go through a pool of
// read-only connections, which WAL lets run beside the writer, each
// statement (or read transaction) on one snapshot. Lists travel as JSON
// arrays, which json_each reads.
package sqlite

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlstore"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Connection settings, as modernc.org/sqlite DSN parameters.
//
// Both pools wait up to busyTimeout for a lock another process holds (a
// migrate command, a backup) before SQLITE_BUSY, and bind a time.Time as
// unix microseconds, the schema's timestamps. WAL lets readers run beside
// the writer. synchronous=FULL syncs the WAL at every commit: a store whose
// CreateExecution returned true has the row even after a power cut, as with
// PostgreSQL; NORMAL would keep it through a crash of the process but could
// lose the last commits to a crash of the machine, and the idempotency and
// cron-slot guards are only as good as the rows they find. The writer begins
// its transactions IMMEDIATE, taking the write lock at BEGIN, so that a
// transaction that reads first never fails to upgrade its lock. Readers are
// query_only: a write sent to them by mistake fails instead of racing the
// writer.
const (
	busyTimeout  = 5 * time.Second
	commonParams = "_time_integer_format=unix_micro&_foreign_keys=1"
	writerParams = commonParams + "&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate"
	readerParams = commonParams + "&_query_only=1"
	readConns    = 4
)

// registerNow gives the driver's connections now(), the database's clock:
// in embedded mode the clock of the one process that has the database, in
// unix microseconds like every stored time. The driver keeps it for every
// connection opened after, so the first pool registers it.
var registerNow = sync.OnceFunc(func() {
	sqlite.MustRegisterScalarFunction("now", 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		return time.Now().Round(time.Microsecond).UnixMicro(), nil
	})
})

// Store is the store on an SQLite file. It is safe for concurrent use.
type Store struct{ *sqlstore.Store }

// Open opens the SQLite database at path, creating the file and its
// directory when they do not exist, applies the SQLite migrations and
// returns the store.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.E(errors.Invalid, "sqlite: open: empty path")
	}
	// The driver reads DSN parameters after the first "?".
	if strings.Contains(path, "?") {
		return nil, errors.Errorf("sqlite.Open", errors.Invalid, "%s: the path must not contain \"?\"", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w, err := openPool(ctx, path, writerParams, 1)
	if err != nil {
		return nil, err
	}
	if err := migrations.UpSQLite(ctx, w.DB); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r, err := openPool(ctx, path, readerParams, readConns)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	return &Store{sqlstore.New(dialect, w, r)}, nil
}

// openPool opens a pool of up to conns connections to path and pings it.
// Idle connections stay open: an SQLite connection is cheap to keep and
// reopening one re-reads the schema.
func openPool(ctx context.Context, path, params string, conns int) (*sqlx.DB, error) {
	registerNow()
	dsn := fmt.Sprintf("%s?_busy_timeout=%d&%s", path, busyTimeout.Milliseconds(), params)
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, errors.E(errors.Op("sqlite.Open"), kind(err), fmt.Errorf("%s: %w", path, err))
	}
	return db, nil
}

var dialect = sqlstore.Dialect{
	Name: "sqlite", System: "sqlite", Kind: kind, Unique: unique, RenewLeases: renewLeases,
	In:    func(column, list string) string { return column + " IN (SELECT value FROM json_each(" + list + "))" },
	List:  func(xs []string) any { return jsonList(xs) },
	Later: func(micros string) string { return "(now() + " + micros + ")" },
	// SQLite runs an IN (subquery) as a list of lookups.
	InSubquery: func(column, subquery string) string { return column + " IN (" + subquery + ")" },
	// No ForUpdate, SkipLocked, Snapshot or Lazy, and SkipLockedOf adds
	// nothing: a write transaction is alone (a write of the trigger path
	// waits for a whole batch of deletes, however it commits), and a read
	// one reads one snapshot.
	SkipLockedOf:   func(string) string { return "" },
	DefinitionSize: "length(CAST(d.definition AS BLOB))",
	InsertArgs:     insertArgs, TransitionArgs: transitionArgs,
	InsertRows: insertRows, TransitionRows: transitionRows,
}

// jsonList encodes xs as a JSON array, which cannot fail; nil is an empty
// one.
func jsonList(xs []string) string {
	if xs == nil {
		return "[]"
	}
	b, _ := json.Marshal(xs)
	return string(b)
}

// insertRows is one row per object of the JSON array $1, each joined to its
// deployment: its own by primary key, or its workflow's DEPLOYED one through
// the index of active deployments. WHERE true tells SQLite that the ON
// CONFLICT after it is the upsert's, not the join's.
var insertRows = jsonRows("$1", "id", "workflow_id", "deployment_id", "deployment_version", "trigger_id",
	"trigger_type", "status", "scheduled_time", "fired_time", "jitter_seconds", "skip_reason", "trace_id",
	"idempotency_key", "triggered_by", "owner_instance", "lease_expires_at", "input", "lease_us", "overlap_policy",
	"on_behalf_of") + `
JOIN deployments d ON d.status = 'DEPLOYED' AND d.id = COALESCE(v.deployment_id,
	(SELECT a.id FROM deployments a WHERE a.workflow_id = v.workflow_id AND a.status = 'DEPLOYED'))
WHERE true`

// jsonRows is the relation v of the objects of the JSON array in param, a
// column per key.
func jsonRows(param string, keys ...string) string {
	fields := make([]string, len(keys))
	for i, k := range keys {
		fields[i] = "value ->> '" + k + "' AS " + k
	}
	return "(SELECT " + strings.Join(fields, ", ") + " FROM json_each(" + param + ")) AS v"
}

// insertRow is an object of insertRows' array: NULL where nil, times in unix
// microseconds. Its fields are strings and integers, so that encoding cannot
// fail (errchkjson checks that it stays so).
type insertRow struct {
	ID                string                   `json:"id"`
	WorkflowID        string                   `json:"workflow_id"`
	DeploymentID      *string                  `json:"deployment_id"`
	DeploymentVersion int64                    `json:"deployment_version"`
	TriggerID         *string                  `json:"trigger_id"`
	TriggerType       workflow.TriggerType     `json:"trigger_type"`
	Status            workflow.ExecutionStatus `json:"status"`
	ScheduledTime     *int64                   `json:"scheduled_time"`
	FiredTime         int64                    `json:"fired_time"`
	JitterSeconds     int32                    `json:"jitter_seconds"`
	SkipReason        *string                  `json:"skip_reason"`
	TraceID           *string                  `json:"trace_id"`
	IdempotencyKey    *string                  `json:"idempotency_key"`
	TriggeredBy       *string                  `json:"triggered_by"`
	OwnerInstance     *string                  `json:"owner_instance"`
	LeaseExpiresAt    *int64                   `json:"lease_expires_at"`
	Input             *string                  `json:"input"`
	LeaseMicros       int64                    `json:"lease_us"`
	OverlapPolicy     *string                  `json:"overlap_policy"`
	OnBehalfOf        *string                  `json:"on_behalf_of"`
}

// insertArgs is insertRows' array.
func insertArgs(es []workflow.Execution) []any {
	rows := make([]insertRow, len(es))
	for i, e := range es {
		rows[i] = insertRow{ID: e.ID, WorkflowID: e.WorkflowID, DeploymentID: null(e.DeploymentID),
			DeploymentVersion: e.DeploymentVersion, TriggerID: null(e.TriggerID), TriggerType: e.TriggerType,
			Status: e.Status, ScheduledTime: micros(e.ScheduledTime), FiredTime: e.FiredTime.UnixMicro(),
			JitterSeconds: e.JitterSeconds, SkipReason: null(e.SkipReason), TraceID: null(e.TraceID),
			IdempotencyKey: null(e.IdempotencyKey), TriggeredBy: null(e.TriggeredBy),
			OwnerInstance: null(e.OwnerInstance), LeaseExpiresAt: micros(e.LeaseExpiresAt),
			Input: null(string(e.Input)), LeaseMicros: e.Lease.Microseconds(), OverlapPolicy: null(e.OverlapPolicy),
			OnBehalfOf: null(e.OnBehalfOf)}
	}
	b, _ := json.Marshal(rows)
	return []any{string(b)}
}

// transitionRows is one row per object of the JSON array $2.
var transitionRows = jsonRows("$2", "execution_id", "to_status", "from_statuses", "owner", "without_turn", "set_engine_execution_id",
	"set_started_time", "set_finished_time", "set_error_message", "set_skip_reason", "set_result")

// transitionRow is an object of transitionRows' array, encoded as insertRow is.
type transitionRow struct {
	ExecutionID          string                     `json:"execution_id"`
	ToStatus             workflow.ExecutionStatus   `json:"to_status"`
	FromStatuses         []workflow.ExecutionStatus `json:"from_statuses"`
	Owner                string                     `json:"owner"`
	WithoutTurn          bool                       `json:"without_turn"`
	SetEngineExecutionID *string                    `json:"set_engine_execution_id"`
	SetStartedTime       *int64                     `json:"set_started_time"`
	SetFinishedTime      *int64                     `json:"set_finished_time"`
	SetErrorMessage      *string                    `json:"set_error_message"`
	SetSkipReason        *string                    `json:"set_skip_reason"`
	SetResult            *string                    `json:"set_result"`
}

func transitionArgs(ids []string, ts []store.Transition) []any {
	rows := make([]transitionRow, len(ts))
	for i, t := range ts {
		rows[i] = transitionRow{ExecutionID: ids[i], ToStatus: t.To, FromStatuses: t.From, Owner: t.Owner,
			WithoutTurn: t.WithoutTurn, SetEngineExecutionID: null(t.EngineExecutionID), SetStartedTime: micros(t.StartedTime),
			SetFinishedTime: micros(t.FinishedTime), SetErrorMessage: null(t.ErrorMessage),
			SetSkipReason: null(t.SkipReason), SetResult: null(string(t.Result))}
	}
	b, _ := json.Marshal(rows)
	return []any{string(b)}
}

// renewLeases renews in one statement, which no other writer can interleave
// with: every asked row is either renewed or lost.
func renewLeases(ctx context.Context, db *sqlx.DB, owner string, ids []string, lease time.Duration) ([]string, error) {
	var renewed []string
	if err := db.SelectContext(ctx, &renewed, `
UPDATE executions SET lease_expires_at = now() + $3
WHERE id IN (SELECT value FROM json_each($2)) AND owner_instance = $1 AND status IN ('PENDING', 'RUNNING')
RETURNING id`, owner, jsonList(ids), lease.Microseconds()); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range renewed {
		seen[id] = true
	}
	var lost []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			lost = append(lost, id)
		}
	}
	return lost, nil
}

func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func micros(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// code returns err's SQLite extended result code, or 0.
func code(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// kind classifies SQLite's errors: a transaction that lost its snapshot to
// another writer; a database that cannot serve (locked by another process
// past the busy timeout, out of memory or disk, failing to read or write
// its file, or unable to open it); and data it cannot take (a value a
// constraint forbids, of the wrong type for a strict column, or too large).
func kind(err error) errors.Kind {
	c := code(err)
	if c == sqlite3.SQLITE_BUSY_SNAPSHOT {
		return errors.Aborted
	}
	switch c {
	case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL, sqlite3.SQLITE_CONSTRAINT_DATATYPE:
		return errors.Invalid
	}
	switch c & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
		return errors.Unavailable
	case sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG:
		return errors.Invalid
	}
	return errors.Internal
}

// uniqueIndexes are the unique indexes whose violations the store turns
// into errors of its own, by the columns SQLite names in its message, which
// the driver ends with the code: "UNIQUE constraint failed:
// deployments.workflow_id (2067)".
var uniqueIndexes = map[string]string{
	"deployments.workflow_id":                         sqlstore.ActiveDeploymentIndex,
	"deployment_triggers.webhook_path":                sqlstore.WebhookPathIndex,
	"workflow_turns.workflow_id":                      sqlstore.TurnIndex,
	"workflow_slots.workflow_id, workflow_slots.slot": sqlstore.SlotIndex,
}

// unique names the index of a unique violation, a primary key's included;
// SQLite names no value.
func unique(err error) (index, value string, ok bool) {
	if c := code(err); c != sqlite3.SQLITE_CONSTRAINT_UNIQUE && c != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return "", "", false
	}
	_, columns, _ := strings.Cut(err.Error(), "UNIQUE constraint failed: ")
	columns, _, _ = strings.Cut(columns, " (")
	return uniqueIndexes[columns], "", true
}
