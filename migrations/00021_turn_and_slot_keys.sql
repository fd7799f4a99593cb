-- The unique indexes of executions that held the turn and the slots give
-- way to the tables of migration 00020, whose primary keys take their
-- names: a unique violation of a turn or slot taken at once reads as it
-- did to every version of the runtime. Without a transaction, so that the
-- indexes are dropped concurrently while triggers keep being written; each
-- step can run again after a failure.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS executions_workflow_turn_key;
DROP INDEX CONCURRENTLY IF EXISTS executions_workflow_slot_key;

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'workflow_turns_pkey') THEN
        ALTER TABLE workflow_turns RENAME CONSTRAINT workflow_turns_pkey TO executions_workflow_turn_key;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'workflow_slots_pkey') THEN
        ALTER TABLE workflow_slots RENAME CONSTRAINT workflow_slots_pkey TO executions_workflow_slot_key;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'executions_workflow_turn_key') THEN
        ALTER TABLE workflow_turns RENAME CONSTRAINT executions_workflow_turn_key TO workflow_turns_pkey;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'executions_workflow_slot_key') THEN
        ALTER TABLE workflow_slots RENAME CONSTRAINT executions_workflow_slot_key TO workflow_slots_pkey;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS executions_workflow_turn_key ON executions (workflow_id)
    WHERE holds_turn AND status IN ('PENDING', 'RUNNING');
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS executions_workflow_slot_key ON executions (workflow_id, concurrency_slot)
    WHERE concurrency_slot IS NOT NULL AND status IN ('PENDING', 'RUNNING');
