-- The audit of changes ("who did what"), SQLite flavour. Keep it in step with
-- migrations/postgres/0008_changes.sql. One row per change made by a person or a peer
-- (device added, edited, removed, redirect re-sent, settings changed). The server writes
-- field and setting NAMES into `summary`, never values (docs/decisions.md). Pruned by
-- prune_changes only.
CREATE TABLE changes (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    -- microseconds since the epoch, like every SQLite timestamp here
    at      INTEGER NOT NULL,
    -- who: an object opaque to the store (the server's audit::Actor)
    actor   TEXT    NOT NULL CHECK (json_valid(actor)),
    -- what: "device_added", "device_edited", ...: opaque to the store
    action  TEXT    NOT NULL,
    mac     TEXT,
    summary TEXT    NOT NULL
) STRICT;

-- Newest first: all, per MAC.
CREATE INDEX changes_at_idx ON changes (at, id);
CREATE INDEX changes_mac_at_idx ON changes (mac, at, id);
