-- +goose Up
-- A version keeps its triggers too, so that a rollback can restore them, and
-- when it was written. NULL triggers: the version was written before they
-- were kept (only each deployment's current version is filled in below).
ALTER TABLE deployment_versions
    ADD COLUMN triggers   JSONB       NULL,
    ADD COLUMN created_at TIMESTAMPTZ NULL;

UPDATE deployment_versions v
SET triggers = COALESCE((
        SELECT jsonb_agg(jsonb_build_object('id', t.id, 'type', t.type, 'spec', t.spec, 'enabled', t.enabled)
            ORDER BY t.position)
        FROM deployment_triggers t WHERE t.deployment_id = v.deployment_id), '[]'),
    created_at = d.updated_at
FROM deployments d
WHERE d.id = v.deployment_id AND d.version = v.version;

-- The audit trail: which version an event moved from (its reason came with
-- the execution policies).
ALTER TABLE deployment_events ADD COLUMN from_version BIGINT NULL;

-- A workflow's events, newest first.
CREATE INDEX deployment_events_workflow_id_id_idx ON deployment_events (workflow_id, id);

-- +goose Down
DROP INDEX deployment_events_workflow_id_id_idx;
ALTER TABLE deployment_events DROP COLUMN from_version;
ALTER TABLE deployment_versions DROP COLUMN created_at, DROP COLUMN triggers;
