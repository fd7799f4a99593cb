-- +goose Up
-- The index of unfinished executions by status, owner and fired order, as
-- in PostgreSQL's schema: a claim reads the queued executions from it.
DROP INDEX executions_unfinished_status_idx;
CREATE INDEX executions_unfinished_status_idx ON executions (status, owner_instance, fired_time, id)
    WHERE status IN ('PENDING', 'RUNNING');

-- +goose Down
DROP INDEX executions_unfinished_status_idx;
CREATE INDEX executions_unfinished_status_idx ON executions (status)
    WHERE status IN ('PENDING', 'RUNNING');
