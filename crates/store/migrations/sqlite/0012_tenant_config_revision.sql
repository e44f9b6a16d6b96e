-- A counter per tenant, bumped by every write to its settings, its meta keys and its PBX-side
-- documents: one read of this column per second tells a process which tenants' settings to
-- read again, instead of every tenant reading its own (docs/tenants.md, "One pulse").
ALTER TABLE tenants ADD COLUMN config_revision INTEGER NOT NULL DEFAULT 0;
