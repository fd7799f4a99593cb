-- +goose Up
-- Who did it and for whom: with authentication on, deployed_by, triggered_by,
-- an event's actor and a version's created_by are the caller's name, and the
-- name the request gave is kept here. Empty: the request named no one else,
-- or the row was written before callers had names.
ALTER TABLE deployments ADD COLUMN on_behalf_of TEXT NOT NULL DEFAULT '';
ALTER TABLE deployment_versions ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE deployment_versions ADD COLUMN on_behalf_of TEXT NOT NULL DEFAULT '';
ALTER TABLE deployment_events ADD COLUMN on_behalf_of TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN on_behalf_of TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE executions DROP COLUMN on_behalf_of;
ALTER TABLE deployment_events DROP COLUMN on_behalf_of;
ALTER TABLE deployment_versions DROP COLUMN on_behalf_of;
ALTER TABLE deployment_versions DROP COLUMN created_by;
ALTER TABLE deployments DROP COLUMN on_behalf_of;
