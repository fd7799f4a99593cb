-- +goose Up
-- The turn and the concurrency slots of each workflow in tables of their
-- own, kept by triggers from executions' holds_turn and concurrency_slot,
-- as in PostgreSQL's schema (its migration 00020 says why).
CREATE TABLE workflow_turns (
    workflow_id  TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL
) STRICT;

CREATE TABLE workflow_slots (
    workflow_id  TEXT    NOT NULL,
    slot         INTEGER NOT NULL,
    execution_id TEXT    NOT NULL,
    PRIMARY KEY (workflow_id, slot)
) STRICT;

-- +goose StatementBegin
CREATE TRIGGER executions_turns_and_slots_inserted AFTER INSERT ON executions
WHEN NEW.status IN ('PENDING', 'RUNNING') AND (NEW.holds_turn OR NEW.concurrency_slot IS NOT NULL)
BEGIN
    INSERT INTO workflow_turns (workflow_id, execution_id) SELECT NEW.workflow_id, NEW.id WHERE NEW.holds_turn;
    INSERT INTO workflow_slots (workflow_id, slot, execution_id)
    SELECT NEW.workflow_id, NEW.concurrency_slot, NEW.id WHERE NEW.concurrency_slot IS NOT NULL;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER executions_turns_and_slots_updated AFTER UPDATE OF holds_turn, concurrency_slot, status ON executions
WHEN (OLD.holds_turn AND OLD.status IN ('PENDING', 'RUNNING'))
        IS NOT (NEW.holds_turn AND NEW.status IN ('PENDING', 'RUNNING'))
    OR (CASE WHEN OLD.status IN ('PENDING', 'RUNNING') THEN OLD.concurrency_slot END)
        IS NOT (CASE WHEN NEW.status IN ('PENDING', 'RUNNING') THEN NEW.concurrency_slot END)
BEGIN
    DELETE FROM workflow_turns WHERE workflow_id = OLD.workflow_id AND execution_id = OLD.id
        AND NOT (NEW.holds_turn AND NEW.status IN ('PENDING', 'RUNNING'));
    INSERT INTO workflow_turns (workflow_id, execution_id) SELECT NEW.workflow_id, NEW.id
    WHERE NEW.holds_turn AND NEW.status IN ('PENDING', 'RUNNING')
        AND NOT (OLD.holds_turn AND OLD.status IN ('PENDING', 'RUNNING'));
    DELETE FROM workflow_slots WHERE workflow_id = OLD.workflow_id AND slot = OLD.concurrency_slot AND execution_id = OLD.id
        AND (CASE WHEN OLD.status IN ('PENDING', 'RUNNING') THEN OLD.concurrency_slot END)
            IS NOT (CASE WHEN NEW.status IN ('PENDING', 'RUNNING') THEN NEW.concurrency_slot END);
    INSERT INTO workflow_slots (workflow_id, slot, execution_id) SELECT NEW.workflow_id, NEW.concurrency_slot, NEW.id
    WHERE NEW.concurrency_slot IS NOT NULL AND NEW.status IN ('PENDING', 'RUNNING')
        AND (CASE WHEN OLD.status IN ('PENDING', 'RUNNING') THEN OLD.concurrency_slot END) IS NOT NEW.concurrency_slot;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER executions_turns_and_slots_deleted AFTER DELETE ON executions
WHEN OLD.status IN ('PENDING', 'RUNNING') AND (OLD.holds_turn OR OLD.concurrency_slot IS NOT NULL)
BEGIN
    DELETE FROM workflow_turns WHERE workflow_id = OLD.workflow_id AND execution_id = OLD.id;
    DELETE FROM workflow_slots WHERE workflow_id = OLD.workflow_id AND slot = OLD.concurrency_slot AND execution_id = OLD.id;
END;
-- +goose StatementEnd

INSERT INTO workflow_turns (workflow_id, execution_id)
SELECT workflow_id, id FROM executions WHERE holds_turn AND status IN ('PENDING', 'RUNNING');

INSERT INTO workflow_slots (workflow_id, slot, execution_id)
SELECT workflow_id, concurrency_slot, id FROM executions
WHERE concurrency_slot IS NOT NULL AND status IN ('PENDING', 'RUNNING');

DROP INDEX executions_workflow_turn_key;
DROP INDEX executions_workflow_slot_key;

-- +goose Down
CREATE UNIQUE INDEX executions_workflow_turn_key ON executions (workflow_id)
    WHERE holds_turn AND status IN ('PENDING', 'RUNNING');
CREATE UNIQUE INDEX executions_workflow_slot_key ON executions (workflow_id, concurrency_slot)
    WHERE concurrency_slot IS NOT NULL AND status IN ('PENDING', 'RUNNING');
DROP TRIGGER executions_turns_and_slots_deleted;
DROP TRIGGER executions_turns_and_slots_updated;
DROP TRIGGER executions_turns_and_slots_inserted;
DROP TABLE workflow_slots;
DROP TABLE workflow_turns;
