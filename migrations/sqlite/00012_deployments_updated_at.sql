-- +goose Up
-- The index of ChangedDeployments, as in PostgreSQL's schema.
CREATE INDEX deployments_updated_at_idx ON deployments (updated_at);

-- +goose Down
DROP INDEX deployments_updated_at_idx;
