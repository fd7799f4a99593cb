-- +goose Up
CREATE TABLE executions (
    id                  UUID         PRIMARY KEY,
    workflow_id         VARCHAR(128) NOT NULL,
    deployment_id       UUID         NOT NULL REFERENCES deployments (id),
    deployment_version  BIGINT       NOT NULL,
    trigger_id          UUID         NULL,
    trigger_type        VARCHAR(20)  NOT NULL,
    status              VARCHAR(20)  NOT NULL
        CONSTRAINT executions_status_check
        CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'SKIPPED')),
    -- Nominal slot of a cron fire; NULL for webhook and manual runs.
    scheduled_time      TIMESTAMPTZ  NULL,
    fired_time          TIMESTAMPTZ  NOT NULL,
    started_time        TIMESTAMPTZ  NULL,
    finished_time       TIMESTAMPTZ  NULL,
    jitter_seconds      INT          NOT NULL DEFAULT 0,
    engine_execution_id TEXT         NULL,
    error_message       TEXT         NULL,
    skip_reason         TEXT         NULL,
    trace_id            TEXT         NULL,
    idempotency_key     TEXT         NULL,
    triggered_by        TEXT         NULL,
    owner_instance      TEXT         NULL,
    lease_expires_at    TIMESTAMPTZ  NULL,
    input               JSONB        NULL,
    result              JSONB        NULL,
    -- One run per cron slot: replicas insert with
    -- ON CONFLICT (trigger_id, scheduled_time) DO NOTHING.
    CONSTRAINT executions_trigger_slot_key UNIQUE (trigger_id, scheduled_time)
);

-- Retried webhooks and manual triggers dedupe on their idempotency key.
CREATE UNIQUE INDEX executions_workflow_idempotency_key
    ON executions (workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX executions_workflow_fired_idx ON executions (workflow_id, fired_time DESC);
CREATE INDEX executions_deployment_fired_idx ON executions (deployment_id, fired_time DESC);
CREATE INDEX executions_unfinished_status_idx ON executions (status)
    WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX executions_fired_time_idx ON executions (fired_time);

-- +goose Down
DROP TABLE executions;
