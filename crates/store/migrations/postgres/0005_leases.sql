-- Named leases, PostgreSQL flavour. Keep it in step with migrations/sqlite/0005_leases.sql,
-- which explains the table; docs/storage.md ("Leases") describes the rules.
CREATE TABLE leases (
    name   TEXT COLLATE "C" NOT NULL,
    holder TEXT COLLATE "C" NOT NULL,
    until  TIMESTAMPTZ      NOT NULL,
    CONSTRAINT leases_pkey PRIMARY KEY (name)
);
