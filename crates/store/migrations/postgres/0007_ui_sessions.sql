-- Web UI sessions, PostgreSQL flavour (keep in step with migrations/sqlite/0007_ui_sessions.sql,
-- which explains the table).
CREATE TABLE ui_sessions (
    id_hash    TEXT        NOT NULL,
    csrf       TEXT        NOT NULL,
    user_sip   TEXT,
    user_dn    TEXT,
    user_guid  TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    last_used  TIMESTAMPTZ NOT NULL,
    CONSTRAINT ui_sessions_pkey PRIMARY KEY (id_hash)
);
CREATE INDEX ui_sessions_last_used ON ui_sessions (last_used);
