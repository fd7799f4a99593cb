-- +goose Up
-- A version keeps its triggers too, so that a rollback can restore them, and
-- when it was written. NULL triggers: the version was written before they
-- were kept (only each deployment's current version is filled in below).
ALTER TABLE deployment_versions ADD COLUMN triggers TEXT NULL CHECK (triggers IS NULL OR json_valid(triggers));
ALTER TABLE deployment_versions ADD COLUMN created_at INTEGER NULL;

UPDATE deployment_versions
SET triggers = (
        SELECT json_group_array(json_object('id', t.id, 'type', t.type, 'spec', json(t.spec), 'enabled',
            json(CASE WHEN t.enabled THEN 'true' ELSE 'false' END)))
        FROM (SELECT * FROM deployment_triggers t WHERE t.deployment_id = deployment_versions.deployment_id
            ORDER BY t.position) t),
    created_at = (SELECT d.updated_at FROM deployments d WHERE d.id = deployment_versions.deployment_id)
WHERE EXISTS (SELECT 1 FROM deployments d
    WHERE d.id = deployment_versions.deployment_id AND d.version = deployment_versions.version);

-- The audit trail: which version an event moved from (its reason came with
-- the execution policies).
ALTER TABLE deployment_events ADD COLUMN from_version INTEGER NULL;

-- A workflow's events, newest first.
CREATE INDEX deployment_events_workflow_id_id_idx ON deployment_events (workflow_id, id);

-- +goose Down
DROP INDEX deployment_events_workflow_id_id_idx;
ALTER TABLE deployment_events DROP COLUMN from_version;
ALTER TABLE deployment_versions DROP COLUMN created_at;
ALTER TABLE deployment_versions DROP COLUMN triggers;
