-- PostgreSQL flavour of migrations/sqlite/0012_tenant_config_revision.sql, which says why.
ALTER TABLE tenants ADD COLUMN config_revision BIGINT NOT NULL DEFAULT 0;
