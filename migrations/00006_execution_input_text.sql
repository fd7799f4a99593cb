-- +goose Up
-- A trigger's payload is kept as it came: the engine receives its values
-- byte for byte (API.md §3), also from the replica that adopts an execution
-- and reads it back. JSONB would reorder keys and drop duplicates. The
-- payload is checked to be JSON before it is stored.
ALTER TABLE executions ALTER COLUMN input TYPE TEXT USING input::text;

-- +goose Down
ALTER TABLE executions ALTER COLUMN input TYPE JSONB USING input::jsonb;
