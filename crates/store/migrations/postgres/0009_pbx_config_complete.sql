-- Whether innovaphone Devices sent a phone's complete configuration, PostgreSQL flavour. Keep
-- it in step with migrations/sqlite/0009_pbx_config_complete.sql, which explains the column.
ALTER TABLE pbx_devices ADD COLUMN config_complete BOOLEAN;
