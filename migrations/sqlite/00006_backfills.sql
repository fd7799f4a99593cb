-- +goose Up
-- A backfill and its chunks of planned slots, leased by the replica that
-- runs them (see migrations/00010_backfills.sql). Times are unix
-- microseconds.
CREATE TABLE backfills (
    id             TEXT    PRIMARY KEY,
    deployment_id  TEXT    NOT NULL REFERENCES deployments (id),
    workflow_id    TEXT    NOT NULL,
    start_time     INTEGER NOT NULL,
    end_time       INTEGER NOT NULL,
    overlap_policy TEXT    NOT NULL,
    planned_slots  INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    CONSTRAINT backfills_range_check CHECK (end_time > start_time)
) STRICT;

CREATE TABLE backfill_chunks (
    backfill_id      TEXT    NOT NULL REFERENCES backfills (id),
    seq              INTEGER NOT NULL,
    trigger_id       TEXT    NOT NULL,
    first_slot       INTEGER NOT NULL,
    last_slot        INTEGER NOT NULL,
    slots            TEXT    NOT NULL CHECK (json_valid(slots)),
    slot_count       INTEGER NOT NULL,
    owner_instance   TEXT    NULL,
    lease_expires_at INTEGER NULL,
    done_at          INTEGER NULL,
    elsewhere        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (backfill_id, seq)
) STRICT;

CREATE INDEX backfill_chunks_open_idx ON backfill_chunks (backfill_id, seq) WHERE done_at IS NULL;

-- +goose Down
DROP TABLE backfill_chunks;
DROP TABLE backfills;
