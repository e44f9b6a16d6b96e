-- Web UI sessions, SQLite flavour (keep in step with migrations/postgres/0007_ui_sessions.sql).
-- Shared by every instance on this database, so any instance accepts any session. Only the
-- SHA-256 of the session id is kept: a copy of the table cannot be replayed as a cookie.
-- `user_*` name the myApps user a session belongs to (NULL: the admin password).
CREATE TABLE ui_sessions (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    csrf       TEXT    NOT NULL,
    user_sip   TEXT,
    user_dn    TEXT,
    user_guid  TEXT,
    -- microseconds since the epoch, like every SQLite timestamp here
    created_at INTEGER NOT NULL,
    last_used  INTEGER NOT NULL
) STRICT;
CREATE INDEX ui_sessions_last_used ON ui_sessions (last_used);
