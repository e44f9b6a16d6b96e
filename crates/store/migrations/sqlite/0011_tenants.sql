-- Tenants, SQLite flavour. Keep it in step with migrations/postgres/0011_tenants.sql;
-- docs/storage.md ("Tenants") describes the rules.
--
-- A tenant is one PBX domain served by this deployment: what innovaphone's App Platform
-- Manager calls an instance of the app. Row 1 is the default tenant: every row written before
-- tenants existed belongs to it, so an existing database needs no step by the administrator.
CREATE TABLE tenants (
    id         INTEGER NOT NULL PRIMARY KEY,
    -- the instance name of the App Platform URL /<domain>/<name>/...; unique per domain
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
    -- the PBX domain; '' for the default tenant, which learns it from its PBX
    domain     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (domain, name)
) STRICT;

INSERT INTO tenants (id, name, domain, created_at) VALUES (1, 'default', '', 0);

-- The scoped tables name their tenant. No REFERENCES: SQLite cannot add a referencing column
-- with a non-NULL default while foreign keys are on; removing a tenant deletes its rows in one
-- transaction instead (tenants::delete_tenant).
ALTER TABLE devices ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE device_tombstones ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE phone_requests ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE pbx_devices ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE rps_jobs ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE rps_history ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE ui_sessions ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE changes ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1;

-- Lists read one tenant's rows in their order.
CREATE INDEX devices_tenant_name_idx ON devices (tenant_id, lower(name), mac);
CREATE INDEX devices_tenant_created_at_idx ON devices (tenant_id, created_at, mac);
CREATE INDEX devices_tenant_revision_idx ON devices (tenant_id, revision);
CREATE INDEX device_tombstones_tenant_revision_idx ON device_tombstones (tenant_id, revision);
CREATE INDEX phone_requests_tenant_at_idx ON phone_requests (tenant_id, at, id);
CREATE INDEX pbx_devices_tenant_idx ON pbx_devices (tenant_id, mac);
CREATE INDEX rps_jobs_tenant_idx ON rps_jobs (tenant_id, id);
CREATE INDEX rps_history_tenant_at_idx ON rps_history (tenant_id, at, id);
CREATE INDEX changes_tenant_at_idx ON changes (tenant_id, at, id);

-- One settings document per tenant, keyed by the tenant's id (the old table allowed id 1 only).
CREATE TABLE settings_per_tenant (
    id         INTEGER NOT NULL PRIMARY KEY,
    document   TEXT    NOT NULL CHECK (json_valid(document)),
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
INSERT INTO settings_per_tenant (id, document, version, updated_at)
    SELECT id, document, version, updated_at FROM settings;
DROP TABLE settings;
ALTER TABLE settings_per_tenant RENAME TO settings;
