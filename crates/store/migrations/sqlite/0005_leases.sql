-- Named leases, SQLite flavour. Keep it in step with migrations/postgres/0005_leases.sql;
-- docs/storage.md ("Leases") explains them.
--
-- A lease says which process (`holder`, unique per running process) may do one piece of work
-- until `until`, e.g. `sysclient:<mac>`: the one instance that keeps that phone's connection to
-- innovaphone Devices open. acquire_lease takes a free or expired lease or renews its holder's
-- in one upsert; release_lease deletes only the holder's row. Expired rows are left in place:
-- the next acquire overwrites them, and there is at most one per name.
CREATE TABLE leases (
    name   TEXT    NOT NULL PRIMARY KEY,
    holder TEXT    NOT NULL,
    -- microseconds since the epoch, like every SQLite timestamp here
    until  INTEGER NOT NULL
) STRICT;
