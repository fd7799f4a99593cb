-- +goose Up
CREATE TABLE deployments (
    id          UUID         PRIMARY KEY,
    workflow_id VARCHAR(128) NOT NULL REFERENCES workflows (id),
    status      VARCHAR(20)  NOT NULL
        CONSTRAINT deployments_status_check
        CHECK (status IN ('DRAFT', 'DEPLOYED', 'PAUSED', 'ARCHIVED')),
    version     BIGINT       NOT NULL,
    definition  JSONB        NOT NULL,
    config      JSONB        NOT NULL DEFAULT '{}',
    deployed_by TEXT         NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    deployed_at TIMESTAMPTZ  NULL
);

-- One active deployment per workflow: DRAFT, DEPLOYED and PAUSED all count.
CREATE UNIQUE INDEX deployments_one_active_per_workflow
    ON deployments (workflow_id) WHERE status <> 'ARCHIVED';
-- Keyset pagination, newest first.
CREATE INDEX deployments_created_at_id_idx ON deployments (created_at DESC, id DESC);

CREATE TABLE deployment_triggers (
    id            UUID         PRIMARY KEY,
    deployment_id UUID         NOT NULL REFERENCES deployments (id),
    type          VARCHAR(20)  NOT NULL
        CONSTRAINT deployment_triggers_type_check
        CHECK (type IN ('CRON', 'WEBHOOK', 'MANUAL')),
    spec          JSONB        NOT NULL DEFAULT '{}',
    -- Lower-cased copy of the webhook spec's path; NULL for other types.
    webhook_path  VARCHAR(512) NULL,
    -- True while the deployment is not ARCHIVED.
    active        BOOLEAN      NOT NULL,
    enabled       BOOLEAN      NOT NULL DEFAULT true,
    -- Position of the trigger in its deployment's list, so that the list
    -- reads back in the order it was written.
    position      INT          NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- A webhook path belongs to at most one active deployment.
CREATE UNIQUE INDEX deployment_triggers_active_webhook_path_key
    ON deployment_triggers (webhook_path) WHERE active AND webhook_path IS NOT NULL;
CREATE INDEX deployment_triggers_deployment_id_idx ON deployment_triggers (deployment_id);

CREATE TABLE deployment_events (
    id            BIGSERIAL    PRIMARY KEY,
    deployment_id UUID         NOT NULL REFERENCES deployments (id),
    workflow_id   VARCHAR(128) NOT NULL,
    action        VARCHAR(20)  NOT NULL,
    from_status   VARCHAR(20)  NULL,
    to_status     VARCHAR(20)  NOT NULL,
    version       BIGINT       NOT NULL,
    actor         TEXT         NOT NULL DEFAULT '',
    at            TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE INDEX deployment_events_deployment_id_id_idx ON deployment_events (deployment_id, id);

-- +goose Down
DROP TABLE deployment_events;
DROP TABLE deployment_triggers;
DROP TABLE deployments;
