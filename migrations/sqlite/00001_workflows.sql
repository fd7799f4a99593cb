-- The schema of embedded mode: the PostgreSQL schema in SQLite terms, one
-- file per table. Tables are STRICT, so that a value of the wrong type is
-- refused as PostgreSQL would refuse it. Timestamps are INTEGER unix
-- microseconds (UTC): they sort as times do and keep the microsecond
-- precision of PostgreSQL's timestamptz. Ids are UUIDs in canonical
-- lower-case text, which sorts as PostgreSQL's uuid does. JSON columns are
-- TEXT checked with json_valid, as jsonb refuses anything else. Booleans are
-- INTEGER 0 or 1.

-- +goose Up
CREATE TABLE workflows (
    id                TEXT    PRIMARY KEY CHECK (length(id) <= 128),
    name              TEXT    NOT NULL,
    definition        TEXT    NOT NULL CHECK (json_valid(definition)),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    -- The workflow mirrors its active deployment's status, deployment time
    -- and config.
    deployment_status TEXT    DEFAULT 'DRAFT'
        CONSTRAINT valid_deployment_status
        CHECK (deployment_status IN ('DRAFT', 'DEPLOYED', 'PAUSED', 'ARCHIVED')),
    deployed_at       INTEGER NULL,
    deployment_config TEXT    DEFAULT '{}' CHECK (json_valid(deployment_config))
) STRICT;

CREATE INDEX idx_workflows_deployment_status ON workflows (deployment_status);
CREATE INDEX idx_workflows_deployed_at ON workflows (deployed_at);

-- +goose Down
DROP TABLE workflows;
