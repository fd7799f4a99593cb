-- +goose Up
-- Every version of every deployment, as written: what an execution created
-- for a version runs with (its definition, overlap policy and timeout),
-- whichever replica runs it and whatever version the deployment has moved
-- on to. A trigger on deployments keeps it, so that it is written in the
-- same transaction as the deployment and by every writer. Versions written
-- before this migration are not known, but for each deployment's current one.
CREATE TABLE deployment_versions (
    deployment_id UUID   NOT NULL REFERENCES deployments (id),
    version       BIGINT NOT NULL,
    definition    JSONB  NOT NULL,
    config        JSONB  NOT NULL,
    PRIMARY KEY (deployment_id, version)
);

-- +goose StatementBegin
CREATE FUNCTION keep_deployment_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deployment_versions (deployment_id, version, definition, config)
    VALUES (NEW.id, NEW.version, NEW.definition, NEW.config)
    ON CONFLICT (deployment_id, version)
    DO UPDATE SET definition = EXCLUDED.definition, config = EXCLUDED.config;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER deployments_keep_version AFTER INSERT OR UPDATE OF version, definition, config ON deployments
    FOR EACH ROW EXECUTE FUNCTION keep_deployment_version();

INSERT INTO deployment_versions (deployment_id, version, definition, config)
SELECT id, version, definition, config FROM deployments;

-- +goose Down
DROP TRIGGER deployments_keep_version ON deployments;
DROP FUNCTION keep_deployment_version();
DROP TABLE deployment_versions;
