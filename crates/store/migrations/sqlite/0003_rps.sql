-- The RPS outbox and the RPS command history, SQLite flavour. Keep it in step with
-- migrations/postgres/0003_rps.sql (same number in both folders for the same change, so
-- SQLite has no 0002); docs/storage.md explains the tables and the claiming query.
--
-- No foreign keys to devices: removing a device must not drop its pending jobs (the
-- DEREGISTER enqueued on removal still has to run) nor its history.
-- AUTOINCREMENT: ids are never reused, even after the newest row was deleted. A job's id is
-- its place in its MAC's order, and a stale id held by a worker must never name a new job.

-- One row per command not finished yet. Deleted by complete_rps_job, in the transaction that
-- writes its history entry.
CREATE TABLE rps_jobs (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    command         TEXT    NOT NULL,
    mac             TEXT,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    -- failed attempts so far
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    -- not claimed before this time (backoff)
    next_attempt_at INTEGER NOT NULL,
    -- the worker holding the job, until leased_until; both NULL when nobody holds it
    leased_by       TEXT,
    leased_until    INTEGER,
    CHECK ((leased_by IS NULL) = (leased_until IS NULL))
) STRICT;

-- "Is there an older job of this MAC?" (claiming), a MAC's pending jobs (display).
CREATE INDEX rps_jobs_mac_idx ON rps_jobs (mac, id);
-- Due jobs (stats), retry_rps_jobs_now.
CREATE INDEX rps_jobs_next_attempt_idx ON rps_jobs (next_attempt_at);

-- One row per finished command. Pruned by prune_rps_history only.
CREATE TABLE rps_history (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    -- when the command finished
    at          INTEGER NOT NULL,
    command     TEXT    NOT NULL,
    mac         TEXT,
    -- parameters, redacted by the caller
    params      TEXT    NOT NULL CHECK (json_valid(params)),
    outcome     TEXT    NOT NULL,
    answer      TEXT    NOT NULL,
    -- of the final attempt
    duration_ms INTEGER NOT NULL,
    attempts    INTEGER NOT NULL CHECK (attempts >= 0)
) STRICT;

-- Newest first: all, per MAC, per command.
CREATE INDEX rps_history_at_idx ON rps_history (at, id);
CREATE INDEX rps_history_mac_at_idx ON rps_history (mac, at, id);
CREATE INDEX rps_history_command_at_idx ON rps_history (command, at, id);
