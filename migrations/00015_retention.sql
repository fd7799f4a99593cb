-- +goose Up
-- Leases of cluster-wide background work that one replica at a time does
-- (retention's passes): a row per job, held by holder until expires_at on
-- the database's clock. A row in the database rather than a Redis lock, so
-- that it holds without Redis too.
CREATE TABLE leases (
    name       TEXT        PRIMARY KEY,
    holder     TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Retention removes a trigger's missed runs whose last slot has expired,
-- the oldest first. The table is small (a row per outage of a trigger), so
-- a plain build holds its writers for a moment only.
CREATE INDEX missed_slots_to_slot_idx ON missed_slots (to_slot);

-- +goose Down
DROP INDEX missed_slots_to_slot_idx;
DROP TABLE leases;
