// Package postgres is the store on PostgreSQL, with sqlx and lib/pq: package
// sqlstore holds the store's logic, and this package what PostgreSQL does
// its own way (see Dialect). The schema is the one in the migrations
// package.
//
// The hot statements keep to what PostgreSQL does best: a group-committed
// batch is one statement over arrays (unnest), and leases are renewed and
// adopted with SKIP LOCKED, so that replicas never queue on each other's
// rows.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlstore"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Pool limits used by Open besides its size. As many connections stay idle
// as may be open: with fewer, every burst above the idle count closes the
// connections it opened and the next one opens them again, and a PostgreSQL
// connection costs a process fork and its start-up, milliseconds of the
// server's CPU. ConnMaxIdleTime still closes what a quiet replica does not
// use.
const (
	connMaxLifetime = 30 * time.Minute
	connMaxIdleTime = 5 * time.Minute
)

// Store is the store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	*sqlstore.Store
	db *sqlx.DB
}

// Open connects to the PostgreSQL database at url (a postgres:// URL or a
// lib/pq key=value DSN) with a pool of at most maxConns connections, sets
// the pool's other limits and pings it. The schema must
// have been migrated with the migrations package.
func Open(ctx context.Context, url string, maxConns int) (*Store, error) {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	s := New(db)
	if err := s.Ping(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// New returns a Store over an open pool; Close closes db.
func New(db *sqlx.DB) *Store { return &Store{Store: sqlstore.New(dialect, db, db), db: db} }

// DB returns the store's connection pool, for the migrator and health checks.
func (s *Store) DB() *sqlx.DB { return s.db }

// dialect is PostgreSQL's part of the store.
var dialect = sqlstore.Dialect{
	Name: "postgres", System: "postgresql",
	In: func(column, list string) string { return column + " = ANY(" + list + ")" },
	List: func(xs []string) any {
		return texts(xs) // nil too: {} and not NULL, which no value equals
	},
	Later:          func(micros string) string { return "now() + " + micros + " * interval '1 microsecond'" },
	ForUpdate:      "\nFOR UPDATE",
	SkipLocked:     "\nFOR UPDATE SKIP LOCKED",
	SkipLockedOf:   func(alias string) string { return "\nFOR UPDATE OF " + alias + " SKIP LOCKED" },
	Snapshot:       &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	Lazy:           `SET LOCAL synchronous_commit = off`,
	DefinitionSize: "octet_length(d.definition::text)",
	InsertRows:     insertRows, InsertArgs: insertArgs,
	TransitionRows: transitionRows, TransitionArgs: transitionArgs,
	RenewLeases: renewLeases, Kind: kind, Unique: unique,

	// An IN (subquery) may be planned as a hash join over the whole
	// table; an array, computed first, is looked up in the index.
	InSubquery: func(column, subquery string) string { return column + " = ANY(ARRAY(" + subquery + "))" },
}

// insertRows is one row per element of the arrays, each joined to its
// deployment by one index probe: a branch of the lateral join.
const insertRows = `unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::uuid[], $6::text[], $7::text[],
	$8::timestamptz[], $9::timestamptz[], $10::int[], $11::text[], $12::text[], $13::text[], $14::text[],
	$15::text[], $16::timestamptz[], $17::text[], $18::bigint[], $19::text[], $20::text[])
	AS v(id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
		scheduled_time, fired_time, jitter_seconds, skip_reason, trace_id, idempotency_key, triggered_by,
		owner_instance, lease_expires_at, input, lease_us, overlap_policy, on_behalf_of)
JOIN LATERAL (
	SELECT d.id, d.version FROM deployments d
	WHERE v.deployment_id IS NOT NULL AND d.id = v.deployment_id AND d.status = 'DEPLOYED'
	UNION ALL
	SELECT d.id, d.version FROM deployments d
	WHERE v.deployment_id IS NULL AND d.workflow_id = v.workflow_id AND d.status = 'DEPLOYED'
) d ON true`

// insertArgs are insertRows' arrays, one per column.
func insertArgs(es []workflow.Execution) []any {
	var c struct {
		ids, workflows, types, statuses                        []string
		deployments, triggers, skips, traces, keys, by, owners []*string
		inputs, policies, behalf                               []*string
		versions, leases                                       []int64
		jitters                                                []int32
		slots, until                                           []*time.Time
		fired                                                  []time.Time
	}
	for _, e := range es {
		c.ids, c.workflows = append(c.ids, e.ID), append(c.workflows, e.WorkflowID)
		c.types, c.statuses = append(c.types, string(e.TriggerType)), append(c.statuses, string(e.Status))
		c.deployments, c.triggers = append(c.deployments, null(e.DeploymentID)), append(c.triggers, null(e.TriggerID))
		c.skips, c.traces = append(c.skips, null(e.SkipReason)), append(c.traces, null(e.TraceID))
		c.keys, c.by = append(c.keys, null(e.IdempotencyKey)), append(c.by, null(e.TriggeredBy))
		c.owners, c.inputs = append(c.owners, null(e.OwnerInstance)), append(c.inputs, null(string(e.Input)))
		c.versions, c.jitters = append(c.versions, e.DeploymentVersion), append(c.jitters, e.JitterSeconds)
		c.slots, c.until = append(c.slots, e.ScheduledTime), append(c.until, e.LeaseExpiresAt)
		c.fired, c.leases = append(c.fired, e.FiredTime), append(c.leases, e.Lease.Microseconds())
		c.policies, c.behalf = append(c.policies, null(e.OverlapPolicy)), append(c.behalf, null(e.OnBehalfOf))
	}
	return []any{texts(c.ids), texts(c.workflows), nullTexts(c.deployments), pq.Array(c.versions),
		nullTexts(c.triggers), texts(c.types), texts(c.statuses), pq.Array(c.slots), pq.Array(c.fired),
		pq.Array(c.jitters), nullTexts(c.skips), nullTexts(c.traces), nullTexts(c.keys), nullTexts(c.by),
		nullTexts(c.owners), pq.Array(c.until), nullTexts(c.inputs), pq.Array(c.leases), nullTexts(c.policies), nullTexts(c.behalf)}
}

// transitionRows is one row per element of the arrays; $1 is the ids. The
// expected statuses of a row come comma-separated.
const transitionRows = `(
	SELECT u.id AS execution_id, u.to_status, string_to_array(u.from_list, ',') AS from_statuses, u.owner,
		u.without_turn, u.engine_execution_id AS set_engine_execution_id, u.started_time AS set_started_time,
		u.finished_time AS set_finished_time, u.error_message AS set_error_message,
		u.skip_reason AS set_skip_reason, u.result::jsonb AS set_result
	FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
		$8::text[], $9::text[], $10::text[], $11::bool[])
		AS u(id, to_status, from_list, owner, engine_execution_id, started_time, finished_time,
			error_message, skip_reason, result, without_turn)
) AS v`

// transitionArgs are transitionRows' arrays from $2 on; $1 is ids already.
func transitionArgs(_ []string, ts []store.Transition) []any {
	n := len(ts)
	to, from, owners := make([]string, n), make([]string, n), make([]string, n)
	engineIDs, errMsgs, skips, results := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	started, finished := make([]*time.Time, n), make([]*time.Time, n)
	withoutTurn := make([]bool, n)
	for i, t := range ts {
		to[i], owners[i], withoutTurn[i] = string(t.To), t.Owner, t.WithoutTurn
		statuses := make([]string, len(t.From))
		for j, st := range t.From {
			statuses[j] = string(st)
		}
		from[i] = strings.Join(statuses, ",")
		engineIDs[i], errMsgs[i], skips[i] = null(t.EngineExecutionID), null(t.ErrorMessage), null(t.SkipReason)
		results[i], started[i], finished[i] = null(string(t.Result)), t.StartedTime, t.FinishedTime
	}
	return []any{texts(to), texts(from), texts(owners), nullTexts(engineIDs), pq.Array(started),
		pq.Array(finished), nullTexts(errMsgs), nullTexts(skips), nullTexts(results), pq.Array(withoutTurn)}
}

// renewLeasesSQL skips a row another transaction has locked, neither
// renewed nor lost: a transition or an adoption is writing it, and the next
// renewal, a third of a lease later, learns which. Waiting instead queued
// each renewal behind every batch that held one of its rows, and each later
// batch behind the renewal: under load one renewal held its rows for over a
// second.
const renewLeasesSQL = `
WITH asked AS (
	SELECT DISTINCT unnest($2::uuid[]) AS id
), locked AS (
	SELECT id, owner_instance = $1 AND status IN ('PENDING', 'RUNNING') AS mine
	FROM executions WHERE id = ANY($2::uuid[])
	FOR UPDATE SKIP LOCKED
), renewed AS (
	UPDATE executions e SET lease_expires_at = now() + $3 * interval '1 microsecond'
	FROM locked l WHERE e.id = l.id AND l.mine
)
SELECT a.id FROM asked a LEFT JOIN locked l ON l.id = a.id
WHERE NOT COALESCE(l.mine, false)
	AND (l.id IS NOT NULL OR NOT EXISTS (SELECT 1 FROM executions e WHERE e.id = a.id))`

func renewLeases(ctx context.Context, db *sqlx.DB, owner string, ids []string, lease time.Duration) ([]string, error) {
	var lost []string
	err := db.SelectContext(ctx, &lost, renewLeasesSQL, owner, texts(ids), lease.Microseconds())
	return lost, err
}

func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// PostgreSQL error codes the store inspects.
func pqError(err error) *pq.Error {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// kind classifies PostgreSQL's errors: a server that refuses work for now
// (connection exceptions, class 08; insufficient resources such as too many
// connections, class 53; shutdown or start-up in progress, 57P01-57P03), a
// conflict between two writers (deadlock, serialization failure), and data
// it cannot take (class 22, such as a NUL byte in text; a NULL where none
// may be; a value a check constraint forbids).
func kind(err error) errors.Kind {
	pe := pqError(err)
	// The server gives every error a five-character SQLSTATE.
	if pe == nil || len(pe.Code) != 5 {
		return errors.Internal
	}
	switch code, class := pe.Code, pe.Code.Class(); {
	case class == pqerror.ClassConnectionException, class == pqerror.ClassInsufficientResources,
		code == pqerror.AdminShutdown, code == pqerror.CrashShutdown, code == pqerror.CannotConnectNow:
		return errors.Unavailable
	case code == pqerror.TRSerializationFailure, code == pqerror.TRDeadlockDetected:
		return errors.Aborted
	case class == pqerror.ClassDataException, code == pqerror.NotNullViolation, code == pqerror.CheckViolation:
		return errors.Invalid
	}
	return errors.Internal
}

// unique names the index of a unique violation and the value its detail
// gives: "Key (webhook_path)=(orders/new) already exists."
func unique(err error) (index, value string, ok bool) {
	pe := pqError(err)
	if pe == nil || pe.Code != pqerror.UniqueViolation {
		return "", "", false
	}
	value = pe.Detail
	if _, rest, found := strings.Cut(pe.Detail, ")=("); found {
		value, _, _ = strings.Cut(rest, ") already exists")
	}
	return pe.Constraint, value, true
}
