-- Instance heartbeats, SQLite flavour. Keep it in step with migrations/postgres/0006_instances.sql;
-- docs/storage.md ("Instances and heartbeats") describes the rules.
--
-- One row per running server process (`id`, fresh per start), whose heartbeat task moves
-- `last_beat` forward every few seconds. Leases (`leases.holder`) and claimed RPS jobs
-- (`rps_jobs.leased_by`) named after a row stay held while its beat is fresh, whatever their own
-- `until`, and become free for others once it is stale (store::INSTANCE_STALE_AFTER). So a
-- connected phone costs no write per renewal: an instance writes one row, whatever it holds.
-- A clean stop deletes the row together with its leases and its claims (leave_instance).
CREATE TABLE instances (
    id         TEXT    NOT NULL PRIMARY KEY,
    -- microseconds since the epoch, like every SQLite timestamp here
    started_at INTEGER NOT NULL,
    last_beat  INTEGER NOT NULL,
    -- where the instance listens, for people (status pages); NULL if unknown
    address    TEXT
) STRICT;

-- leave_instance frees an instance's leases by holder.
CREATE INDEX leases_holder_idx ON leases (holder);
CREATE INDEX rps_jobs_leased_by_idx ON rps_jobs (leased_by);
