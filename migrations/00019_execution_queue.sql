-- The queue of executions written without an owner, which the coordinator
-- writes when its dispatch pool is full, in a small table of its own, so
-- that the owner leaves executions' indexes: a claim, an adoption and a
-- release then change no indexed column of executions and are HOT updates
-- (the room in each page is migration 00016's), where a claim used to write
-- an entry in every index of the history table. A claim reads the queue in
-- (fired_time, id) order and stops at its limit, as it read
-- executions_unfinished_status_idx (status, owner_instance, fired_time, id)
-- before, which goes back to (status), what its other readers use.
--
-- Triggers keep the queue, whoever writes: a row is queued when it is
-- inserted PENDING without an owner, in one statement per insert (the group
-- commit writes many rows at once), and leaves the queue when it gets an
-- owner or another status, or is deleted; so the queue holds exactly the
-- rows a claim may take, also while replicas of the previous version write
-- and claim beside this one in a rolling upgrade.
--
-- Without a transaction, so that the index is built concurrently while
-- triggers keep being written; each step can run again after a failure.
-- The triggers exist before the queue is filled, and their creation waits
-- for the writes in flight: no queued row is missed. A row claimed or
-- ended while the fill runs (the fill's snapshot still sees it queued, and
-- the trigger finds no committed queue row to delete) would leave an entry
-- behind, so the fill is followed by a delete of every entry whose row is
-- not queued: from then on each change deletes its own row's entry. The
-- tables that triggers keep from executions go with it in a TRUNCATE, or
-- in a restore of executions' data alone, which runs no row trigger.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE IF NOT EXISTS execution_queue (
    fired_time TIMESTAMPTZ NOT NULL,
    id         UUID        NOT NULL,
    PRIMARY KEY (fired_time, id)
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION queue_executions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO execution_queue (fired_time, id)
    SELECT fired_time, id FROM inserted WHERE status = 'PENDING' AND owner_instance IS NULL;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION dequeue_execution() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM execution_queue WHERE fired_time = OLD.fired_time AND id = OLD.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE OR REPLACE TRIGGER executions_dequeue AFTER UPDATE OF status, owner_instance ON executions
    FOR EACH ROW WHEN (OLD.status = 'PENDING' AND OLD.owner_instance IS NULL
        AND (NEW.status <> 'PENDING' OR NEW.owner_instance IS NOT NULL))
    EXECUTE FUNCTION dequeue_execution();

CREATE OR REPLACE TRIGGER executions_dequeue_deleted AFTER DELETE ON executions
    FOR EACH ROW WHEN (OLD.status = 'PENDING' AND OLD.owner_instance IS NULL)
    EXECUTE FUNCTION dequeue_execution();

CREATE OR REPLACE TRIGGER executions_queue AFTER INSERT ON executions
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION queue_executions();

INSERT INTO execution_queue (fired_time, id)
SELECT fired_time, id FROM executions WHERE status = 'PENDING' AND owner_instance IS NULL
ON CONFLICT DO NOTHING;

DELETE FROM execution_queue AS q
WHERE NOT EXISTS (SELECT 1 FROM executions AS e
    WHERE e.id = q.id AND e.status = 'PENDING' AND e.owner_instance IS NULL);

DROP INDEX CONCURRENTLY IF EXISTS executions_unfinished_narrow_idx;
CREATE INDEX CONCURRENTLY executions_unfinished_narrow_idx ON executions (status)
    WHERE status IN ('PENDING', 'RUNNING');
DROP INDEX CONCURRENTLY IF EXISTS executions_unfinished_status_idx;
ALTER INDEX executions_unfinished_narrow_idx RENAME TO executions_unfinished_status_idx;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS executions_unfinished_owner_idx;
CREATE INDEX CONCURRENTLY executions_unfinished_owner_idx ON executions (status, owner_instance, fired_time, id)
    WHERE status IN ('PENDING', 'RUNNING');
DROP INDEX CONCURRENTLY IF EXISTS executions_unfinished_status_idx;
ALTER INDEX executions_unfinished_owner_idx RENAME TO executions_unfinished_status_idx;
DROP TRIGGER IF EXISTS executions_dequeue_deleted ON executions;
DROP TRIGGER IF EXISTS executions_dequeue ON executions;
DROP TRIGGER IF EXISTS executions_queue ON executions;
DROP FUNCTION IF EXISTS dequeue_execution();
DROP FUNCTION IF EXISTS queue_executions();
DROP TABLE IF EXISTS execution_queue;
