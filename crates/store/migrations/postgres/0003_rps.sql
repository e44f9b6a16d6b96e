-- The RPS outbox and the RPS command history, PostgreSQL flavour. Keep it in step with
-- migrations/sqlite/0003_rps.sql; docs/storage.md explains the tables and the claiming query.
--
-- No foreign keys to devices: removing a device must not drop its pending jobs (the
-- DEREGISTER enqueued on removal still has to run) nor its history.
-- Identity ids are never reused. enqueue_rps_jobs takes a transaction-level advisory lock
-- keyed on this table's oid before it draws ids, so ids are also drawn in commit order: a
-- claimer that sees a job sees every older job of the same MAC (or it has finished).

-- One row per command not finished yet. Deleted by complete_rps_job, in the transaction that
-- writes its history entry.
CREATE TABLE rps_jobs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    command         TEXT COLLATE "C" NOT NULL,
    mac             TEXT COLLATE "C",
    payload         JSONB       NOT NULL,
    -- failed attempts so far
    attempts        INTEGER     NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    -- not claimed before this time (backoff)
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- the worker holding the job, until leased_until; both NULL when nobody holds it
    leased_by       TEXT,
    leased_until    TIMESTAMPTZ,
    CONSTRAINT rps_jobs_pkey PRIMARY KEY (id),
    CONSTRAINT rps_jobs_attempts_check CHECK (attempts >= 0),
    CONSTRAINT rps_jobs_lease_check CHECK ((leased_by IS NULL) = (leased_until IS NULL))
);

-- "Is there an older job of this MAC?" (claiming), a MAC's pending jobs (display).
CREATE INDEX rps_jobs_mac_idx ON rps_jobs (mac, id);
-- Due jobs (stats), retry_rps_jobs_now.
CREATE INDEX rps_jobs_next_attempt_idx ON rps_jobs (next_attempt_at);

-- One row per finished command. Pruned by prune_rps_history only.
CREATE TABLE rps_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY,
    -- when the command finished
    at          TIMESTAMPTZ NOT NULL,
    command     TEXT COLLATE "C" NOT NULL,
    mac         TEXT COLLATE "C",
    -- parameters, redacted by the caller
    params      JSONB       NOT NULL,
    outcome     TEXT        NOT NULL,
    answer      TEXT        NOT NULL,
    -- of the final attempt
    duration_ms BIGINT      NOT NULL,
    attempts    INTEGER     NOT NULL,
    CONSTRAINT rps_history_pkey PRIMARY KEY (id),
    CONSTRAINT rps_history_attempts_check CHECK (attempts >= 0)
);

-- Newest first: all, per MAC, per command.
CREATE INDEX rps_history_at_idx ON rps_history (at, id);
CREATE INDEX rps_history_mac_at_idx ON rps_history (mac, at, id);
CREATE INDEX rps_history_command_at_idx ON rps_history (command, at, id);
