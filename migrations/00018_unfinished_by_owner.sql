-- executions_unfinished_status_idx becomes (status, owner_instance,
-- fired_time, id), so that a claim of queued executions (PENDING, no
-- owner, oldest first) reads exactly those, in its order, and stops at its
-- LIMIT. Keyed by status alone, the index gave every PENDING row, and the
-- statistics of a history table, which see almost no row without an owner,
-- made PostgreSQL read them all and sort those left: a claim of 28 rows
-- cost 10 to 13 ms with 10,000 queued. The index stays the one index of
-- unfinished rows, whose other readers (adoption, the backlog count, the
-- history's unfinished statuses) still enter it by status. Its price: its
-- entries are wider, and a claim or an adoption, which change the owner,
-- are no longer HOT updates (in a burst few claims were: the rows claimed
-- together share pages with no room for their new versions).
--
-- Built concurrently under another name, outside a transaction, so that
-- triggers keep being written while it builds; a build cut short leaves an
-- invalid index, which the next attempt drops first.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS executions_unfinished_owner_idx;
CREATE INDEX CONCURRENTLY executions_unfinished_owner_idx ON executions (status, owner_instance, fired_time, id)
    WHERE status IN ('PENDING', 'RUNNING');
DROP INDEX CONCURRENTLY IF EXISTS executions_unfinished_status_idx;
ALTER INDEX executions_unfinished_owner_idx RENAME TO executions_unfinished_status_idx;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS executions_unfinished_owner_idx;
CREATE INDEX CONCURRENTLY executions_unfinished_owner_idx ON executions (status)
    WHERE status IN ('PENDING', 'RUNNING');
DROP INDEX CONCURRENTLY IF EXISTS executions_unfinished_status_idx;
ALTER INDEX executions_unfinished_owner_idx RENAME TO executions_unfinished_status_idx;
