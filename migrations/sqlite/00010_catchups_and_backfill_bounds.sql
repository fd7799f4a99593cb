-- +goose Up
-- A backfill's slots outside its triggers' bounds (see
-- migrations/00014_catchups_and_backfill_bounds.sql).
ALTER TABLE backfills ADD COLUMN out_of_bounds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backfill_chunks ADD COLUMN out_of_bounds INTEGER NOT NULL DEFAULT 0;

-- The durable catch-up plans of cron triggers under the ALL policy, leased
-- by the replica that runs them (see migrations/00014_catchups_and_backfill_bounds.sql). Times
-- are unix microseconds.
CREATE TABLE catchups (
    trigger_id       TEXT    NOT NULL,
    deployment_id    TEXT    NOT NULL REFERENCES deployments (id),
    after_slot       INTEGER NOT NULL,
    last_slot        INTEGER NOT NULL,
    fires            TEXT    NOT NULL CHECK (json_valid(fires)),
    fire_count       INTEGER NOT NULL,
    fired            INTEGER NOT NULL DEFAULT 0,
    owner_instance   TEXT    NULL,
    lease_expires_at INTEGER NULL,
    done_at          INTEGER NULL,
    created_at       INTEGER NOT NULL,
    CHECK (last_slot >= after_slot),
    PRIMARY KEY (trigger_id, after_slot)
) STRICT;

CREATE INDEX catchups_open_idx ON catchups (lease_expires_at) WHERE done_at IS NULL;
CREATE INDEX catchups_done_idx ON catchups (done_at) WHERE done_at IS NOT NULL;

-- +goose Down
DROP TABLE catchups;
ALTER TABLE backfill_chunks DROP COLUMN out_of_bounds;
ALTER TABLE backfills DROP COLUMN out_of_bounds;
