-- +goose Up
-- Every version of every deployment, as written: what an execution created
-- for a version runs with (its definition, overlap policy and timeout),
-- whatever version the deployment has moved on to. Triggers on deployments
-- keep it, in the same transaction as the deployment. Versions written
-- before this migration are not known, but for each deployment's current one.
CREATE TABLE deployment_versions (
    deployment_id TEXT    NOT NULL REFERENCES deployments (id),
    version       INTEGER NOT NULL,
    definition    TEXT    NOT NULL CHECK (json_valid(definition)),
    config        TEXT    NOT NULL CHECK (json_valid(config)),
    PRIMARY KEY (deployment_id, version)
) STRICT;

-- +goose StatementBegin
CREATE TRIGGER deployments_keep_version_on_insert AFTER INSERT ON deployments
BEGIN
    INSERT INTO deployment_versions (deployment_id, version, definition, config)
    VALUES (NEW.id, NEW.version, NEW.definition, NEW.config)
    ON CONFLICT (deployment_id, version)
    DO UPDATE SET definition = excluded.definition, config = excluded.config;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER deployments_keep_version_on_update AFTER UPDATE OF version, definition, config ON deployments
BEGIN
    INSERT INTO deployment_versions (deployment_id, version, definition, config)
    VALUES (NEW.id, NEW.version, NEW.definition, NEW.config)
    ON CONFLICT (deployment_id, version)
    DO UPDATE SET definition = excluded.definition, config = excluded.config;
END;
-- +goose StatementEnd

INSERT INTO deployment_versions (deployment_id, version, definition, config)
SELECT id, version, definition, config FROM deployments;

-- +goose Down
DROP TRIGGER deployments_keep_version_on_update;
DROP TRIGGER deployments_keep_version_on_insert;
DROP TABLE deployment_versions;
