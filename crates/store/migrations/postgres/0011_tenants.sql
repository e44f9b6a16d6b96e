-- Tenants, PostgreSQL flavour. Keep it in step with migrations/sqlite/0011_tenants.sql, which
-- says what a tenant is; docs/storage.md ("Tenants") describes the rules.
CREATE TABLE tenants (
    id         BIGINT      NOT NULL,
    name       TEXT        NOT NULL,
    domain     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_domain_name_key UNIQUE (domain, name),
    CONSTRAINT tenants_name_length CHECK (length(name) BETWEEN 1 AND 63)
);
CREATE SEQUENCE tenants_id_seq START WITH 2 OWNED BY tenants.id;
ALTER TABLE tenants ALTER COLUMN id SET DEFAULT nextval('tenants_id_seq');

INSERT INTO tenants (id, name, domain, created_at) VALUES (1, 'default', '', 'epoch');

-- The same columns as on SQLite, without REFERENCES either: both backends remove a tenant's
-- rows the same way (tenants::delete_tenant).
ALTER TABLE devices ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE device_tombstones ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE phone_requests ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE pbx_devices ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE rps_jobs ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE rps_history ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE ui_sessions ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE changes ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 1;

CREATE INDEX devices_tenant_name_idx ON devices (tenant_id, lower(name), mac);
CREATE INDEX devices_tenant_created_at_idx ON devices (tenant_id, created_at, mac);
CREATE INDEX devices_tenant_revision_idx ON devices (tenant_id, revision);
CREATE INDEX device_tombstones_tenant_revision_idx ON device_tombstones (tenant_id, revision);
CREATE INDEX phone_requests_tenant_at_idx ON phone_requests (tenant_id, at, id);
CREATE INDEX pbx_devices_tenant_idx ON pbx_devices (tenant_id, mac);
CREATE INDEX rps_jobs_tenant_idx ON rps_jobs (tenant_id, id);
CREATE INDEX rps_history_tenant_at_idx ON rps_history (tenant_id, at, id);
CREATE INDEX changes_tenant_at_idx ON changes (tenant_id, at, id);

-- One settings document per tenant, keyed by the tenant's id.
ALTER TABLE settings DROP CONSTRAINT settings_one_row;
ALTER TABLE settings ALTER COLUMN id TYPE BIGINT;
