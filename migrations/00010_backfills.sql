-- +goose Up
-- A backfill runs every slot of a deployment's cron triggers in a past range
-- [start_time, end_time). Its slots are planned when it is created and cut
-- into chunks; a replica leases a chunk, on the database's clock as an
-- execution's lease, starts its slots and marks it done, so that replicas
-- share a backfill and one that dies leaves its chunk to the next after the
-- lease. The executions it starts say so in triggered_by
-- ('backfill:<id>'); the slots' own unique key keeps each slot to one run.
CREATE TABLE backfills (
    id             UUID        PRIMARY KEY,
    deployment_id  UUID        NOT NULL REFERENCES deployments (id),
    workflow_id    TEXT        NOT NULL,
    start_time     TIMESTAMPTZ NOT NULL,
    end_time       TIMESTAMPTZ NOT NULL,
    overlap_policy TEXT        NOT NULL,
    planned_slots  BIGINT      NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT backfills_range_check CHECK (end_time > start_time)
);

CREATE TABLE backfill_chunks (
    backfill_id      UUID        NOT NULL REFERENCES backfills (id),
    seq              INTEGER     NOT NULL,
    -- The chunk's slots are consecutive slots of one trigger: first_slot to
    -- last_slot, both included, listed in slots (a JSON array of unix
    -- microseconds) so that a chunk runs what was planned whatever later
    -- happens to the trigger.
    trigger_id       UUID        NOT NULL,
    first_slot       TIMESTAMPTZ NOT NULL,
    last_slot        TIMESTAMPTZ NOT NULL,
    slots            TEXT        NOT NULL,
    slot_count       INTEGER     NOT NULL,
    owner_instance   TEXT        NULL,
    lease_expires_at TIMESTAMPTZ NULL,
    done_at          TIMESTAMPTZ NULL,
    -- Slots of the chunk that another run held (counted when it is done).
    elsewhere        INTEGER     NOT NULL DEFAULT 0,
    PRIMARY KEY (backfill_id, seq)
);

-- Replicas look for open chunks only.
CREATE INDEX backfill_chunks_open_idx ON backfill_chunks (backfill_id, seq) WHERE done_at IS NULL;

-- +goose Down
DROP TABLE backfill_chunks;
DROP TABLE backfills;
