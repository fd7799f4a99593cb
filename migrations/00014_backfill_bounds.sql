-- +goose Up
-- A backfill keeps to its triggers' bounds: the slots of its range outside
-- a trigger's [start_time, end_time) are counted when it is planned, those
-- past the trigger's max_runs when their chunk runs; both are skipped,
-- never started.
ALTER TABLE backfills ADD COLUMN out_of_bounds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE backfill_chunks ADD COLUMN out_of_bounds INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE backfill_chunks DROP COLUMN out_of_bounds;
ALTER TABLE backfills DROP COLUMN out_of_bounds;
