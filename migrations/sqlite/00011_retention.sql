-- +goose Up
-- Leases of cluster-wide background work that one replica at a time does
-- (retention's passes), as in PostgreSQL's schema.
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- Retention removes a trigger's missed runs whose last slot has expired.
CREATE INDEX missed_slots_to_slot_idx ON missed_slots (to_slot);

-- +goose Down
DROP INDEX missed_slots_to_slot_idx;
DROP TABLE leases;
