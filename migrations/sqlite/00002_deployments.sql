-- +goose Up
CREATE TABLE deployments (
    id          TEXT    PRIMARY KEY,
    workflow_id TEXT    NOT NULL REFERENCES workflows (id),
    status      TEXT    NOT NULL
        CONSTRAINT deployments_status_check
        CHECK (status IN ('DRAFT', 'DEPLOYED', 'PAUSED', 'ARCHIVED')),
    version     INTEGER NOT NULL,
    definition  TEXT    NOT NULL CHECK (json_valid(definition)),
    config      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    deployed_by TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deployed_at INTEGER NULL
) STRICT;

-- One active deployment per workflow: DRAFT, DEPLOYED and PAUSED all count.
CREATE UNIQUE INDEX deployments_one_active_per_workflow
    ON deployments (workflow_id) WHERE status <> 'ARCHIVED';
-- Keyset pagination, newest first.
CREATE INDEX deployments_created_at_id_idx ON deployments (created_at DESC, id DESC);

CREATE TABLE deployment_triggers (
    id            TEXT    PRIMARY KEY,
    deployment_id TEXT    NOT NULL REFERENCES deployments (id),
    type          TEXT    NOT NULL
        CONSTRAINT deployment_triggers_type_check
        CHECK (type IN ('CRON', 'WEBHOOK', 'MANUAL')),
    spec          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(spec)),
    -- Lower-cased copy of the webhook spec's path; NULL for other types.
    webhook_path  TEXT    NULL CHECK (length(webhook_path) <= 512),
    -- 1 while the deployment is not ARCHIVED.
    active        INTEGER NOT NULL CHECK (active IN (0, 1)),
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- Position of the trigger in its deployment's list, so that the list
    -- reads back in the order it was written.
    position      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

-- A webhook path belongs to at most one active deployment.
CREATE UNIQUE INDEX deployment_triggers_active_webhook_path_key
    ON deployment_triggers (webhook_path) WHERE active AND webhook_path IS NOT NULL;
CREATE INDEX deployment_triggers_deployment_id_idx ON deployment_triggers (deployment_id);

CREATE TABLE deployment_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id TEXT    NOT NULL REFERENCES deployments (id),
    workflow_id   TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    from_status   TEXT    NULL,
    to_status     TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    actor         TEXT    NOT NULL DEFAULT '',
    at            INTEGER NOT NULL
) STRICT;

CREATE INDEX deployment_events_deployment_id_id_idx ON deployment_events (deployment_id, id);

-- +goose Down
DROP TABLE deployment_events;
DROP TABLE deployment_triggers;
DROP TABLE deployments;
