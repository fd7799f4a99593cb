-- +goose Up
-- Room in every page of executions for a row's next version, so that the
-- writes of an unfinished execution's lease and owner (renewal, adoption,
-- release), which change no indexed column, are HOT updates: the new version
-- stays on the row's page and no index is written. At the default fillfactor
-- of 100 an insert fills its page, and each of those writes then moved the
-- row to another page and wrote an entry in every index of the table. It
-- applies to pages written from now on; a VACUUM FULL or pg_repack applies it
-- to the old ones, which hold mostly finished executions that are no longer
-- written.
ALTER TABLE executions SET (fillfactor = 85);

-- +goose Down
ALTER TABLE executions RESET (fillfactor);
