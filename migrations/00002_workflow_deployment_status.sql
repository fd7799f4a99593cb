-- The seed's migration, applied unchanged: workflows mirror their active
-- deployment's status, deployment time and config.

-- +goose Up
ALTER TABLE workflows ADD COLUMN deployment_status VARCHAR(50) DEFAULT 'DRAFT';
ALTER TABLE workflows ADD COLUMN deployed_at TIMESTAMP WITH TIME ZONE;
ALTER TABLE workflows ADD COLUMN deployment_config JSONB DEFAULT '{}';
ALTER TABLE workflows ADD CONSTRAINT valid_deployment_status
  CHECK (deployment_status IN ('DRAFT', 'DEPLOYED', 'PAUSED', 'ARCHIVED'));
CREATE INDEX idx_workflows_deployment_status ON workflows(deployment_status);
CREATE INDEX idx_workflows_deployed_at ON workflows(deployed_at);

-- +goose Down
DROP INDEX idx_workflows_deployed_at;
DROP INDEX idx_workflows_deployment_status;
ALTER TABLE workflows DROP CONSTRAINT valid_deployment_status;
ALTER TABLE workflows DROP COLUMN deployment_config;
ALTER TABLE workflows DROP COLUMN deployed_at;
ALTER TABLE workflows DROP COLUMN deployment_status;
