-- What the innovaphone PBX side knows about a phone, PostgreSQL flavour (keep in step with
-- migrations/sqlite/0004_pbx_devices.sql, which explains the table).
CREATE TABLE pbx_devices (
    mac        TEXT        NOT NULL,
    doc        JSONB       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT pbx_devices_pkey PRIMARY KEY (mac)
);
