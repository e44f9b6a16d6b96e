-- What the innovaphone PBX side knows about a phone, SQLite flavour (keep in step with
-- migrations/postgres/0004_pbx_devices.sql). One JSON document per MAC, owned by the server's
-- innovaphone module (docs/innovaphone.md): user data from Users, the sysclient password and the
-- configuration items from Devices, and the state of the PBX user-object update. It holds
-- secrets (the sysclient password, the decrypted item secrets), like devices does.
-- No foreign key to devices: the server removes both together, in that order.
CREATE TABLE pbx_devices (
    mac        TEXT    NOT NULL PRIMARY KEY,
    doc        TEXT    NOT NULL CHECK (json_valid(doc)),
    updated_at INTEGER NOT NULL
) STRICT;
