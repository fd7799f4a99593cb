-- A workflow's history filtered by status, the common question ("its
-- failures last week"), walked (workflow_id, fired_time DESC) and fetched
-- every row in the time range to drop those of other statuses: on a
-- million rows, tens of milliseconds for a rare status of a big workflow.
-- With status second, each status is one range of the index in fired_time
-- order, and ListExecutions reads at most a page from each. The index
-- replaces the old one rather than joining it: executions is the hot write
-- table, and its status updates were not HOT already (status is in the
-- predicates of executions_unfinished_status_idx and
-- executions_workflow_turn_key), so the write cost stays that of one index.
--
-- Built concurrently, outside a transaction, so that triggers keep being
-- written while it builds; a build cut short leaves an invalid index, which
-- the next attempt drops first.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS executions_workflow_status_fired_idx;
CREATE INDEX CONCURRENTLY executions_workflow_status_fired_idx ON executions (workflow_id, status, fired_time DESC);
DROP INDEX CONCURRENTLY IF EXISTS executions_workflow_fired_idx;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS executions_workflow_fired_idx;
CREATE INDEX CONCURRENTLY executions_workflow_fired_idx ON executions (workflow_id, fired_time DESC);
DROP INDEX CONCURRENTLY IF EXISTS executions_workflow_status_fired_idx;
