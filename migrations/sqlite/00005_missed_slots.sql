-- +goose Up
-- The slots of a cron trigger that never ran, a run of consecutive slots
-- per row: an outage of a million slots is one row. With the executions
-- (ran, or SKIPPED by the overlap policy) they account for every slot.
CREATE TABLE missed_slots (
    trigger_id    TEXT    NOT NULL,
    deployment_id TEXT    NOT NULL REFERENCES deployments (id),
    -- The first and last nominal slot of the run, both missed.
    from_slot     INTEGER NOT NULL,
    to_slot       INTEGER NOT NULL,
    slot_count    INTEGER NOT NULL CHECK (slot_count > 0),
    reason        TEXT    NOT NULL
        CONSTRAINT missed_slots_reason_check
        CHECK (reason IN ('OUTSIDE_CATCHUP_WINDOW', 'REPLICA_DOWN', 'PAUSED', 'CATCHUP_POLICY_NONE')),
    recorded_at   INTEGER NOT NULL,
    CHECK (to_slot >= from_slot),
    -- Replicas that come back together record the same run from the same
    -- first slot; the longer record wins.
    PRIMARY KEY (trigger_id, from_slot)
) STRICT;

-- +goose Down
DROP TABLE missed_slots;
