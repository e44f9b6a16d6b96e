-- Initial schema, PostgreSQL flavour. Keep it in step with migrations/sqlite/0001_init.sql;
-- docs/storage.md explains the tables.
--
-- Constraint names are spelled out because the store maps unique violations to
-- DuplicateMac / DuplicateUrlToken by constraint name.
-- Text that is sorted or compared by the store uses COLLATE "C" (byte order), which is what
-- SQLite does, so both backends list devices in the same order whatever the cluster locale.

CREATE TABLE devices (
    mac            TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    model          TEXT,
    sip_user       TEXT        NOT NULL,
    auth_name      TEXT,
    sip_password   TEXT        NOT NULL,
    display_name   TEXT,
    registrar      TEXT        NOT NULL,
    overrides      JSONB       NOT NULL,
    http_password  TEXT        NOT NULL,
    url_token      TEXT COLLATE "C" NOT NULL,
    admin_password TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    -- value of change_counter.revision of the last insert/update of this row
    revision       BIGINT      NOT NULL,
    CONSTRAINT devices_pkey PRIMARY KEY (mac),
    CONSTRAINT devices_url_token_key UNIQUE (url_token),
    CONSTRAINT devices_mac_check CHECK (mac ~ '^[0-9a-f]{12}$')
);

-- One index per list sort order (mac is the primary key); mac breaks ties so paging is stable.
CREATE INDEX devices_name_idx ON devices (lower(name), mac);
CREATE INDEX devices_created_at_idx ON devices (created_at, mac);
CREATE INDEX devices_revision_idx ON devices (revision);

-- What the phones did. One row per device, created with the device and deleted with it, so
-- recording a request is a plain UPDATE (a request for a deleted MAC updates nothing) and the
-- LastConfigRequest sort can walk an index of this table. Never bumps a revision.
CREATE TABLE device_status (
    mac                 TEXT COLLATE "C" NOT NULL,
    provisioned_at      TIMESTAMPTZ,
    last_config_request TIMESTAMPTZ,
    last_request_at     TIMESTAMPTZ,
    last_ip             TEXT,
    last_user_agent     TEXT,
    model_seen          TEXT,
    firmware_seen       TEXT,
    CONSTRAINT device_status_pkey PRIMARY KEY (mac),
    CONSTRAINT device_status_mac_fkey FOREIGN KEY (mac) REFERENCES devices (mac) ON DELETE CASCADE
);

-- NULLS FIRST matches SQLite: a device that never fetched its config counts as the oldest.
CREATE INDEX device_status_last_config_idx
    ON device_status (last_config_request NULLS FIRST, mac);

-- Every device has exactly one status row, whoever inserts the device (the CLI too).
-- A statement-level trigger with a transition table: one INSERT per bulk statement, not one
-- per row.
CREATE FUNCTION devices_create_status_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO device_status (mac) SELECT mac FROM new_devices;
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_status_rows
    AFTER INSERT ON devices
    REFERENCING NEW TABLE AS new_devices
    FOR EACH STATEMENT EXECUTE FUNCTION devices_create_status_rows();

-- Change feed: one global counter, bumped in the same transaction as every device write.
-- Its row lock serialises device writers, so revisions become visible in order.
CREATE TABLE change_counter (
    id       SMALLINT NOT NULL,
    revision BIGINT   NOT NULL,
    CONSTRAINT change_counter_pkey PRIMARY KEY (id),
    CONSTRAINT change_counter_one_row CHECK (id = 1)
);

INSERT INTO change_counter (id, revision) VALUES (1, 0);

-- A deleted device leaves (mac, revision) so caches learn about the delete; re-adding the
-- MAC removes its tombstone.
CREATE TABLE device_tombstones (
    mac      TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    CONSTRAINT device_tombstones_pkey PRIMARY KEY (mac)
);

CREATE INDEX device_tombstones_revision_idx ON device_tombstones (revision);

-- Log of phone-facing HTTP requests. No foreign key: rows outlive their device (they keep the
-- MAC as text) and are removed by prune_phone_requests only.
CREATE TABLE phone_requests (
    id             BIGINT GENERATED ALWAYS AS IDENTITY,
    at             TIMESTAMPTZ NOT NULL,
    mac            TEXT COLLATE "C",
    method         TEXT        NOT NULL,
    file           TEXT        NOT NULL,
    status         INTEGER     NOT NULL,
    outcome        TEXT        NOT NULL,
    source_ip      TEXT        NOT NULL,
    user_agent     TEXT,
    model          TEXT,
    firmware       TEXT,
    mac_cfg_served BOOLEAN     NOT NULL,
    CONSTRAINT phone_requests_pkey PRIMARY KEY (id)
);

CREATE INDEX phone_requests_at_idx ON phone_requests (at, id);
CREATE INDEX phone_requests_mac_at_idx ON phone_requests (mac, at, id);

-- <mac>-local.cfg uploaded by the phone; goes with the device.
CREATE TABLE local_cfg (
    mac         TEXT COLLATE "C" NOT NULL,
    body        BYTEA       NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT local_cfg_pkey PRIMARY KEY (mac),
    CONSTRAINT local_cfg_mac_fkey FOREIGN KEY (mac) REFERENCES devices (mac) ON DELETE CASCADE
);

-- The settings document edited in the UI; `version` counts the writes.
CREATE TABLE settings (
    id         SMALLINT    NOT NULL,
    document   JSONB       NOT NULL,
    version    BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT settings_pkey PRIMARY KEY (id),
    CONSTRAINT settings_one_row CHECK (id = 1)
);

CREATE TABLE meta (
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    CONSTRAINT meta_pkey PRIMARY KEY (key)
);
