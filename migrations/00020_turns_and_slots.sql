-- The turn and the concurrency slots of each workflow in small tables of
-- their own, so that taking or leaving one writes no index of executions.
-- The unique indexes that held them, executions_workflow_turn_key
-- (workflow_id) and executions_workflow_slot_key (workflow_id,
-- concurrency_slot), had holds_turn, concurrency_slot and the status in
-- their keys and predicates, so taking a turn or a slot was never a HOT
-- update. executions keeps holds_turn and concurrency_slot as the row's own
-- record (which run held what, read with the row, also once it ended);
-- triggers keep the tables from them, whoever writes, and the tables'
-- primary keys decide between runs taking one at once, as the indexes did.
-- A run holds its turn or slot while it is PENDING or RUNNING; its row
-- leaves the table when it ends, gives it up or is deleted.
--
-- One transaction: the triggers' creation waits for the writes in flight,
-- and blocks writers until the tables are filled, which reads the holders
-- through the old indexes. Migration 00021 drops those, concurrently, and
-- gives the primary keys their names, so that a replica of the previous
-- version, which knows a taken turn or slot by them, keeps working through
-- a rolling upgrade.

-- +goose Up
CREATE TABLE workflow_turns (
    workflow_id  VARCHAR(128) PRIMARY KEY,
    execution_id UUID         NOT NULL
);

CREATE TABLE workflow_slots (
    workflow_id  VARCHAR(128) NOT NULL,
    slot         INT          NOT NULL,
    execution_id UUID         NOT NULL,
    PRIMARY KEY (workflow_id, slot)
);

-- +goose StatementBegin
CREATE FUNCTION keep_turns_and_slots() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_turn BOOLEAN := false;
    new_turn BOOLEAN := false;
    old_slot INT;
    new_slot INT;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF OLD.status IN ('PENDING', 'RUNNING') THEN
            old_turn := OLD.holds_turn;
            old_slot := OLD.concurrency_slot;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.status IN ('PENDING', 'RUNNING') THEN
            new_turn := NEW.holds_turn;
            new_slot := NEW.concurrency_slot;
        END IF;
    END IF;
    IF old_turn AND NOT new_turn THEN
        DELETE FROM workflow_turns WHERE workflow_id = OLD.workflow_id AND execution_id = OLD.id;
    ELSIF new_turn AND NOT old_turn THEN
        INSERT INTO workflow_turns (workflow_id, execution_id) VALUES (NEW.workflow_id, NEW.id);
    END IF;
    IF old_slot IS DISTINCT FROM new_slot THEN
        IF old_slot IS NOT NULL THEN
            DELETE FROM workflow_slots WHERE workflow_id = OLD.workflow_id AND slot = old_slot AND execution_id = OLD.id;
        END IF;
        IF new_slot IS NOT NULL THEN
            INSERT INTO workflow_slots (workflow_id, slot, execution_id) VALUES (NEW.workflow_id, new_slot, NEW.id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- The WHEN clauses are tested before any function runs: the writes that
-- change no turn or slot, nearly all of them, pay a comparison.
CREATE TRIGGER executions_turns_and_slots_inserted AFTER INSERT ON executions
    FOR EACH ROW WHEN (NEW.holds_turn OR NEW.concurrency_slot IS NOT NULL)
    EXECUTE FUNCTION keep_turns_and_slots();

CREATE TRIGGER executions_turns_and_slots_updated AFTER UPDATE OF holds_turn, concurrency_slot, status ON executions
    FOR EACH ROW WHEN (
        (OLD.holds_turn AND OLD.status IN ('PENDING', 'RUNNING'))
            IS DISTINCT FROM (NEW.holds_turn AND NEW.status IN ('PENDING', 'RUNNING'))
        OR (CASE WHEN OLD.status IN ('PENDING', 'RUNNING') THEN OLD.concurrency_slot END)
            IS DISTINCT FROM (CASE WHEN NEW.status IN ('PENDING', 'RUNNING') THEN NEW.concurrency_slot END))
    EXECUTE FUNCTION keep_turns_and_slots();

CREATE TRIGGER executions_turns_and_slots_deleted AFTER DELETE ON executions
    FOR EACH ROW WHEN (OLD.status IN ('PENDING', 'RUNNING') AND (OLD.holds_turn OR OLD.concurrency_slot IS NOT NULL))
    EXECUTE FUNCTION keep_turns_and_slots();

INSERT INTO workflow_turns (workflow_id, execution_id)
SELECT workflow_id, id FROM executions WHERE holds_turn AND status IN ('PENDING', 'RUNNING');

INSERT INTO workflow_slots (workflow_id, slot, execution_id)
SELECT workflow_id, concurrency_slot, id FROM executions
WHERE concurrency_slot IS NOT NULL AND status IN ('PENDING', 'RUNNING');

-- +goose Down
DROP TRIGGER executions_turns_and_slots_deleted ON executions;
DROP TRIGGER executions_turns_and_slots_updated ON executions;
DROP TRIGGER executions_turns_and_slots_inserted ON executions;
DROP FUNCTION keep_turns_and_slots();
DROP TABLE workflow_slots;
DROP TABLE workflow_turns;
