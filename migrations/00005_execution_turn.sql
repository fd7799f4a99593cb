-- +goose Up
-- The turn of a workflow: the one execution allowed to run under an overlap
-- policy other than ALLOW_ALL takes it before it is dispatched, and gives it
-- up by ending, since the index covers unfinished rows only. PostgreSQL thus
-- decides overlaps whatever Redis says, also for replicas that disagree on
-- whether Redis is up.
ALTER TABLE executions ADD COLUMN holds_turn BOOLEAN NOT NULL DEFAULT false;
CREATE UNIQUE INDEX executions_workflow_turn_key ON executions (workflow_id)
    WHERE holds_turn AND status IN ('PENDING', 'RUNNING');

-- +goose Down
DROP INDEX executions_workflow_turn_key;
ALTER TABLE executions DROP COLUMN holds_turn;
