-- +goose Up
CREATE TABLE workflows (
    id         VARCHAR(128) PRIMARY KEY,
    name       TEXT         NOT NULL,
    definition JSONB        NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE workflows;
