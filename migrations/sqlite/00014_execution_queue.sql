-- +goose Up
-- The queue of executions written without an owner in a table of its own,
-- kept by triggers, and the index of unfinished executions by status alone,
-- as in PostgreSQL's schema (its migration 00019 says why).
CREATE TABLE execution_queue (
    fired_time INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    PRIMARY KEY (fired_time, id)
) STRICT;

-- +goose StatementBegin
CREATE TRIGGER executions_queue AFTER INSERT ON executions
WHEN NEW.status = 'PENDING' AND NEW.owner_instance IS NULL
BEGIN
    INSERT INTO execution_queue (fired_time, id) VALUES (NEW.fired_time, NEW.id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER executions_dequeue AFTER UPDATE OF status, owner_instance ON executions
WHEN OLD.status = 'PENDING' AND OLD.owner_instance IS NULL
    AND (NEW.status <> 'PENDING' OR NEW.owner_instance IS NOT NULL)
BEGIN
    DELETE FROM execution_queue WHERE fired_time = OLD.fired_time AND id = OLD.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER executions_dequeue_deleted AFTER DELETE ON executions
WHEN OLD.status = 'PENDING' AND OLD.owner_instance IS NULL
BEGIN
    DELETE FROM execution_queue WHERE fired_time = OLD.fired_time AND id = OLD.id;
END;
-- +goose StatementEnd

INSERT INTO execution_queue (fired_time, id)
SELECT fired_time, id FROM executions WHERE status = 'PENDING' AND owner_instance IS NULL;

DROP INDEX executions_unfinished_status_idx;
CREATE INDEX executions_unfinished_status_idx ON executions (status)
    WHERE status IN ('PENDING', 'RUNNING');

-- +goose Down
DROP INDEX executions_unfinished_status_idx;
CREATE INDEX executions_unfinished_status_idx ON executions (status, owner_instance, fired_time, id)
    WHERE status IN ('PENDING', 'RUNNING');
DROP TRIGGER executions_dequeue_deleted;
DROP TRIGGER executions_dequeue;
DROP TRIGGER executions_queue;
DROP TABLE execution_queue;
