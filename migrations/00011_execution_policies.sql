-- +goose Up
-- A retried run is one execution per attempt. attempt numbers them from 1;
-- first_attempt_id names the run's first attempt (NULL on that one);
-- not_before is when a retry is due: it waits PENDING, a durable row that
-- whichever replica owns it runs on time.
ALTER TABLE executions
    ADD COLUMN attempt          INT         NOT NULL DEFAULT 1,
    ADD COLUMN first_attempt_id UUID        NULL,
    ADD COLUMN not_before       TIMESTAMPTZ NULL;
-- The attempts of one cron slot coexist; attempt 1 is still the one run per
-- slot that replicas race to record (ON CONFLICT DO NOTHING), and attempt n
-- is written once, with the end of attempt n-1.
ALTER TABLE executions DROP CONSTRAINT executions_trigger_slot_key;
ALTER TABLE executions ADD CONSTRAINT executions_trigger_slot_key UNIQUE (trigger_id, scheduled_time, attempt);
CREATE INDEX executions_first_attempt_idx ON executions (first_attempt_id) WHERE first_attempt_id IS NOT NULL;

-- Pause on failure: the runs of a deployment that ended failed in a row
-- (counted while its config sets pause_after_failures), why the runtime
-- paused it, and the reason on the event that did.
ALTER TABLE deployments
    ADD COLUMN consecutive_failures INT  NOT NULL DEFAULT 0,
    ADD COLUMN pause_reason         TEXT NULL;
ALTER TABLE deployment_events ADD COLUMN reason TEXT NULL;

-- max_concurrency: an ALLOW_ALL execution of a deployment that bounds its
-- concurrency takes one of the workflow's numbered slots before it is
-- dispatched, and gives it up by ending, as the turn is given up.
ALTER TABLE executions ADD COLUMN concurrency_slot INT NULL;
CREATE UNIQUE INDEX executions_workflow_slot_key ON executions (workflow_id, concurrency_slot)
    WHERE concurrency_slot IS NOT NULL AND status IN ('PENDING', 'RUNNING');

-- A manual run's own overlap policy, overriding its deployment's for that
-- run only; NULL: the deployment's.
ALTER TABLE executions ADD COLUMN overlap_policy TEXT NULL;

-- +goose Down
ALTER TABLE executions DROP COLUMN overlap_policy;
DROP INDEX executions_workflow_slot_key;
ALTER TABLE executions DROP COLUMN concurrency_slot;
ALTER TABLE deployment_events DROP COLUMN reason;
ALTER TABLE deployments DROP COLUMN pause_reason, DROP COLUMN consecutive_failures;
DROP INDEX executions_first_attempt_idx;
DELETE FROM executions WHERE attempt > 1;
ALTER TABLE executions DROP CONSTRAINT executions_trigger_slot_key;
ALTER TABLE executions ADD CONSTRAINT executions_trigger_slot_key UNIQUE (trigger_id, scheduled_time);
ALTER TABLE executions DROP COLUMN not_before, DROP COLUMN first_attempt_id, DROP COLUMN attempt;
