-- +goose Up
-- A backfill keeps to its triggers' bounds: the slots of its range outside
-- a trigger's [start_time, end_time) are counted when it is planned, those
-- past the trigger's max_runs when their chunk runs; both are skipped,
-- never started.
ALTER TABLE backfills ADD COLUMN out_of_bounds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE backfill_chunks ADD COLUMN out_of_bounds INTEGER NOT NULL DEFAULT 0;

-- The catch-up of a cron trigger under the ALL policy, planned by the
-- replica that came back after an outage and carried out by whichever
-- replica holds its lease: the plan accounts for the trigger's slots in
-- (after_slot, last_slot], those too old being recorded in missed_slots in
-- the plan's transaction and the rest listed in fires, run oldest first.
-- A replica that dies mid-way leaves the fires it had not run to the next
-- after its lease, on the database's clock as an execution's lease; the
-- slots' own unique key keeps a fire redone after a takeover to one run.
CREATE TABLE catchups (
    trigger_id       UUID        NOT NULL,
    deployment_id    UUID        NOT NULL REFERENCES deployments (id),
    after_slot       TIMESTAMPTZ NOT NULL,
    last_slot        TIMESTAMPTZ NOT NULL,
    -- A JSON array of [slot, fire] pairs in unix microseconds, oldest first.
    fires            TEXT        NOT NULL,
    fire_count       INTEGER     NOT NULL,
    -- How many of the fires were run.
    fired            INTEGER     NOT NULL DEFAULT 0,
    owner_instance   TEXT        NULL,
    lease_expires_at TIMESTAMPTZ NULL,
    done_at          TIMESTAMPTZ NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    CHECK (last_slot >= after_slot),
    -- Replicas that come back together plan from the same slot: one plan wins.
    PRIMARY KEY (trigger_id, after_slot)
);

-- Replicas look for open plans only; finished ones are pruned by age.
CREATE INDEX catchups_open_idx ON catchups (lease_expires_at) WHERE done_at IS NULL;
CREATE INDEX catchups_done_idx ON catchups (done_at) WHERE done_at IS NOT NULL;

-- +goose Down
DROP TABLE catchups;
ALTER TABLE backfill_chunks DROP COLUMN out_of_bounds;
ALTER TABLE backfills DROP COLUMN out_of_bounds;
