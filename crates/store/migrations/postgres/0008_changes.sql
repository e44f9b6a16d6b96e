-- The audit of changes, PostgreSQL flavour. Keep it in step with
-- migrations/sqlite/0008_changes.sql, which explains the table.
CREATE TABLE changes (
    id      BIGINT GENERATED ALWAYS AS IDENTITY,
    at      TIMESTAMPTZ     NOT NULL,
    actor   JSONB           NOT NULL,
    action  TEXT COLLATE "C" NOT NULL,
    mac     TEXT COLLATE "C",
    summary TEXT            NOT NULL,
    CONSTRAINT changes_pkey PRIMARY KEY (id)
);

CREATE INDEX changes_at_idx ON changes (at, id);
CREATE INDEX changes_mac_at_idx ON changes (mac, at, id);
