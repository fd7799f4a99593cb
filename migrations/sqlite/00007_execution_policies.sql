-- +goose Up
-- SQLite cannot change a table's constraint in place: the table is rebuilt
-- with the attempts' columns and a slot key that includes the attempt.
CREATE TABLE executions_new (
    id                  TEXT    PRIMARY KEY,
    workflow_id         TEXT    NOT NULL,
    deployment_id       TEXT    NOT NULL REFERENCES deployments (id),
    deployment_version  INTEGER NOT NULL,
    trigger_id          TEXT    NULL,
    trigger_type        TEXT    NOT NULL,
    status              TEXT    NOT NULL
        CONSTRAINT executions_status_check
        CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'SKIPPED')),
    -- Nominal slot of a cron fire; NULL for webhook and manual runs.
    scheduled_time      INTEGER NULL,
    fired_time          INTEGER NOT NULL,
    started_time        INTEGER NULL,
    finished_time       INTEGER NULL,
    jitter_seconds      INTEGER NOT NULL DEFAULT 0,
    engine_execution_id TEXT    NULL,
    error_message       TEXT    NULL,
    skip_reason         TEXT    NULL,
    trace_id            TEXT    NULL,
    idempotency_key     TEXT    NULL,
    triggered_by        TEXT    NULL,
    owner_instance      TEXT    NULL,
    lease_expires_at    INTEGER NULL,
    -- A trigger's payload, kept byte for byte as it came (API.md §3).
    input               TEXT    NULL,
    result              TEXT    NULL CHECK (json_valid(result)),
    -- The turn of a workflow: the one execution allowed to run under an
    -- overlap policy other than ALLOW_ALL takes it before it is dispatched,
    -- and gives it up by ending, since the index below covers unfinished rows
    -- only.
    holds_turn          INTEGER NOT NULL DEFAULT 0 CHECK (holds_turn IN (0, 1)),
    -- A retried run is one execution per attempt, numbered from 1;
    -- first_attempt_id names the run's first attempt (NULL on that one);
    -- not_before is when a retry is due.
    attempt             INTEGER NOT NULL DEFAULT 1,
    first_attempt_id    TEXT    NULL,
    not_before          INTEGER NULL,
    -- max_concurrency: an ALLOW_ALL execution of a deployment that bounds
    -- its concurrency takes one of the workflow's numbered slots before it
    -- is dispatched, and gives it up by ending, as the turn is given up.
    concurrency_slot    INTEGER NULL,
    -- A manual run's own overlap policy, overriding its deployment's for
    -- that run only; NULL: the deployment's.
    overlap_policy      TEXT    NULL,
    -- One run per cron slot: attempt 1 is what replicas race to record,
    -- attempt n is written once, with the end of attempt n-1.
    CONSTRAINT executions_trigger_slot_key UNIQUE (trigger_id, scheduled_time, attempt)
) STRICT;

INSERT INTO executions_new (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
    scheduled_time, fired_time, started_time, finished_time, jitter_seconds, engine_execution_id,
    error_message, skip_reason, trace_id, idempotency_key, triggered_by, owner_instance,
    lease_expires_at, input, result, holds_turn)
SELECT id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
    scheduled_time, fired_time, started_time, finished_time, jitter_seconds, engine_execution_id,
    error_message, skip_reason, trace_id, idempotency_key, triggered_by, owner_instance,
    lease_expires_at, input, result, holds_turn
FROM executions;
DROP TABLE executions;
ALTER TABLE executions_new RENAME TO executions;
-- Retried webhooks and manual triggers dedupe on their idempotency key.
CREATE UNIQUE INDEX executions_workflow_idempotency_key
    ON executions (workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX executions_workflow_turn_key ON executions (workflow_id)
    WHERE holds_turn AND status IN ('PENDING', 'RUNNING');
-- Listings walk these newest first, page after page: with id last, the
-- order of a page, (fired_time DESC, id DESC), is the order of the index,
-- and a page reads its rows and no more.
CREATE INDEX executions_workflow_status_fired_idx ON executions (workflow_id, status, fired_time DESC, id DESC);
CREATE INDEX executions_deployment_fired_idx ON executions (deployment_id, fired_time DESC, id DESC);
CREATE INDEX executions_fired_time_idx ON executions (fired_time DESC, id DESC);
CREATE INDEX executions_unfinished_status_idx ON executions (status)
    WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX executions_first_attempt_idx ON executions (first_attempt_id) WHERE first_attempt_id IS NOT NULL;
CREATE UNIQUE INDEX executions_workflow_slot_key ON executions (workflow_id, concurrency_slot)
    WHERE concurrency_slot IS NOT NULL AND status IN ('PENDING', 'RUNNING');

-- Pause on failure: the runs of a deployment that ended failed in a row
-- (counted while its config sets pause_after_failures), why the runtime
-- paused it, and the reason on the event that did.
ALTER TABLE deployments ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN pause_reason TEXT NULL;
ALTER TABLE deployment_events ADD COLUMN reason TEXT NULL;

-- +goose Down
ALTER TABLE deployment_events DROP COLUMN reason;
ALTER TABLE deployments DROP COLUMN pause_reason;
ALTER TABLE deployments DROP COLUMN consecutive_failures;
CREATE TABLE executions_old (
    id                  TEXT    PRIMARY KEY,
    workflow_id         TEXT    NOT NULL,
    deployment_id       TEXT    NOT NULL REFERENCES deployments (id),
    deployment_version  INTEGER NOT NULL,
    trigger_id          TEXT    NULL,
    trigger_type        TEXT    NOT NULL,
    status              TEXT    NOT NULL
        CONSTRAINT executions_status_check
        CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'SKIPPED')),
    -- Nominal slot of a cron fire; NULL for webhook and manual runs.
    scheduled_time      INTEGER NULL,
    fired_time          INTEGER NOT NULL,
    started_time        INTEGER NULL,
    finished_time       INTEGER NULL,
    jitter_seconds      INTEGER NOT NULL DEFAULT 0,
    engine_execution_id TEXT    NULL,
    error_message       TEXT    NULL,
    skip_reason         TEXT    NULL,
    trace_id            TEXT    NULL,
    idempotency_key     TEXT    NULL,
    triggered_by        TEXT    NULL,
    owner_instance      TEXT    NULL,
    lease_expires_at    INTEGER NULL,
    -- A trigger's payload, kept byte for byte as it came (API.md §3).
    input               TEXT    NULL,
    result              TEXT    NULL CHECK (json_valid(result)),
    -- The turn of a workflow: the one execution allowed to run under an
    -- overlap policy other than ALLOW_ALL takes it before it is dispatched,
    -- and gives it up by ending, since the index below covers unfinished rows
    -- only.
    holds_turn          INTEGER NOT NULL DEFAULT 0 CHECK (holds_turn IN (0, 1)),
    -- One run per cron slot.
    CONSTRAINT executions_trigger_slot_key UNIQUE (trigger_id, scheduled_time)
) STRICT;

INSERT INTO executions_old (id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
    scheduled_time, fired_time, started_time, finished_time, jitter_seconds, engine_execution_id,
    error_message, skip_reason, trace_id, idempotency_key, triggered_by, owner_instance,
    lease_expires_at, input, result, holds_turn)
SELECT id, workflow_id, deployment_id, deployment_version, trigger_id, trigger_type, status,
    scheduled_time, fired_time, started_time, finished_time, jitter_seconds, engine_execution_id,
    error_message, skip_reason, trace_id, idempotency_key, triggered_by, owner_instance,
    lease_expires_at, input, result, holds_turn
FROM executions WHERE attempt = 1;
DROP TABLE executions;
ALTER TABLE executions_old RENAME TO executions;
-- Retried webhooks and manual triggers dedupe on their idempotency key.
CREATE UNIQUE INDEX executions_workflow_idempotency_key
    ON executions (workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX executions_workflow_turn_key ON executions (workflow_id)
    WHERE holds_turn AND status IN ('PENDING', 'RUNNING');
-- Listings walk these newest first, page after page: with id last, the
-- order of a page, (fired_time DESC, id DESC), is the order of the index,
-- and a page reads its rows and no more.
CREATE INDEX executions_workflow_status_fired_idx ON executions (workflow_id, status, fired_time DESC, id DESC);
CREATE INDEX executions_deployment_fired_idx ON executions (deployment_id, fired_time DESC, id DESC);
CREATE INDEX executions_fired_time_idx ON executions (fired_time DESC, id DESC);
CREATE INDEX executions_unfinished_status_idx ON executions (status)
    WHERE status IN ('PENDING', 'RUNNING');
