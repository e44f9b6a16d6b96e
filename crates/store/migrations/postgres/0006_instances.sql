-- Instance heartbeats, PostgreSQL flavour. Keep it in step with migrations/sqlite/0006_instances.sql,
-- which explains the table; docs/storage.md ("Instances and heartbeats") describes the rules.
CREATE TABLE instances (
    id         TEXT COLLATE "C" NOT NULL,
    started_at TIMESTAMPTZ      NOT NULL,
    last_beat  TIMESTAMPTZ      NOT NULL,
    address    TEXT,
    CONSTRAINT instances_pkey PRIMARY KEY (id)
);

CREATE INDEX leases_holder_idx ON leases (holder);
CREATE INDEX rps_jobs_leased_by_idx ON rps_jobs (leased_by);
