-- Initial schema, SQLite flavour. Keep it in step with migrations/postgres/0001_init.sql;
-- docs/storage.md explains the tables.
--
-- Timestamps are INTEGER microseconds since the Unix epoch, UTC. Integers sort and compare
-- correctly in indexes and in `<`/`>` (RFC 3339 text only does so with a fixed width and a
-- fixed offset, and e.g. "...:00Z" > "...:00.5Z"), and microseconds is exactly the precision
-- of PostgreSQL's TIMESTAMPTZ, so both backends return identical values.
-- STRICT tables make SQLite reject values of the wrong type instead of coercing them.

CREATE TABLE devices (
    mac            TEXT    NOT NULL PRIMARY KEY
                           CHECK (length(mac) = 12 AND mac NOT GLOB '*[^0-9a-f]*'),
    name           TEXT    NOT NULL,
    model          TEXT,
    sip_user       TEXT    NOT NULL,
    auth_name      TEXT,
    sip_password   TEXT    NOT NULL,
    display_name   TEXT,
    registrar      TEXT    NOT NULL,
    overrides      TEXT    NOT NULL CHECK (json_valid(overrides)),
    http_password  TEXT    NOT NULL,
    url_token      TEXT    NOT NULL UNIQUE,
    admin_password TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    -- value of change_counter.revision of the last insert/update of this row
    revision       INTEGER NOT NULL
) STRICT;

-- One index per list sort order (mac is the primary key); mac breaks ties so paging is stable.
CREATE INDEX devices_name_idx ON devices (lower(name), mac);
CREATE INDEX devices_created_at_idx ON devices (created_at, mac);
CREATE INDEX devices_revision_idx ON devices (revision);

-- What the phones did. One row per device, created with the device and deleted with it, so
-- recording a request is a plain UPDATE (a request for a deleted MAC updates nothing) and the
-- LastConfigRequest sort can walk an index of this table. Never bumps a revision.
CREATE TABLE device_status (
    mac                 TEXT NOT NULL PRIMARY KEY REFERENCES devices (mac) ON DELETE CASCADE,
    provisioned_at      INTEGER,
    last_config_request INTEGER,
    last_request_at     INTEGER,
    last_ip             TEXT,
    last_user_agent     TEXT,
    model_seen          TEXT,
    firmware_seen       TEXT
) STRICT;

CREATE INDEX device_status_last_config_idx ON device_status (last_config_request, mac);

-- Every device has exactly one status row, whoever inserts the device (the CLI too).
CREATE TRIGGER devices_status_row AFTER INSERT ON devices
BEGIN
    INSERT INTO device_status (mac) VALUES (NEW.mac);
END;

-- Change feed: one global counter, bumped in the same transaction as every device write.
CREATE TABLE change_counter (
    id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
) STRICT;

INSERT INTO change_counter (id, revision) VALUES (1, 0);

-- A deleted device leaves (mac, revision) so caches learn about the delete; re-adding the
-- MAC removes its tombstone.
CREATE TABLE device_tombstones (
    mac      TEXT    NOT NULL PRIMARY KEY,
    revision INTEGER NOT NULL
) STRICT;

CREATE INDEX device_tombstones_revision_idx ON device_tombstones (revision);

-- Log of phone-facing HTTP requests. No foreign key: rows outlive their device (they keep the
-- MAC as text) and are removed by prune_phone_requests only.
CREATE TABLE phone_requests (
    id             INTEGER NOT NULL PRIMARY KEY,
    at             INTEGER NOT NULL,
    mac            TEXT,
    method         TEXT    NOT NULL,
    file           TEXT    NOT NULL,
    status         INTEGER NOT NULL,
    outcome        TEXT    NOT NULL,
    source_ip      TEXT    NOT NULL,
    user_agent     TEXT,
    model          TEXT,
    firmware       TEXT,
    mac_cfg_served INTEGER NOT NULL
) STRICT;

CREATE INDEX phone_requests_at_idx ON phone_requests (at, id);
CREATE INDEX phone_requests_mac_at_idx ON phone_requests (mac, at, id);

-- <mac>-local.cfg uploaded by the phone; goes with the device.
CREATE TABLE local_cfg (
    mac         TEXT    NOT NULL PRIMARY KEY REFERENCES devices (mac) ON DELETE CASCADE,
    body        BLOB    NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;

-- The settings document edited in the UI; `version` counts the writes.
CREATE TABLE settings (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    document   TEXT    NOT NULL CHECK (json_valid(document)),
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
