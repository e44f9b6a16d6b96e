-- Whether innovaphone Devices sent a phone's complete configuration, beside its PBX-side
-- document (SQLite flavour; keep in step with migrations/postgres/0009_pbx_config_complete.sql).
-- The document is sealed (it holds secrets), so reading this one flag for every phone used to
-- mean decrypting and parsing every document; the flag itself is no secret. Written with the
-- document by put_pbx_device. NULL: the row was written before this column existed; the
-- server fills it in from the document once (fill_pbx_config_complete).
ALTER TABLE pbx_devices ADD COLUMN config_complete INTEGER CHECK (config_complete IN (0, 1));
