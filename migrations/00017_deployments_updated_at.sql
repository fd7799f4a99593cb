-- +goose Up
-- Each replica asks every resync interval for the deployments changed
-- since its last resync (ChangedDeployments): an index on the time of the
-- last change reads those few rows, not every deployment.
CREATE INDEX deployments_updated_at_idx ON deployments (updated_at);

-- +goose Down
DROP INDEX deployments_updated_at_idx;
