-- +goose Up
-- A backfill's slots outside its triggers' bounds (see
-- migrations/00014_backfill_bounds.sql).
ALTER TABLE backfills ADD COLUMN out_of_bounds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backfill_chunks ADD COLUMN out_of_bounds INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE backfill_chunks DROP COLUMN out_of_bounds;
ALTER TABLE backfills DROP COLUMN out_of_bounds;
