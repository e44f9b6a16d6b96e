//! Owner-only permissions for the SQLite files (docs/security.md, "Data at rest").
//!
//! SQLite creates its files with the process umask (usually 0644) and has no option for the
//! mode, but it gives the `-wal` and `-shm` files the mode of the database file. So the
//! database file is created 0600 before SQLite opens it, and an existing one (and its
//! companions) is narrowed to 0600.

use std::path::Path;

/// Mode of the database files: read and write for the owner only.
pub const DB_FILE_MODE: u32 = 0o600;

#[cfg(unix)]
pub(crate) fn restrict_sqlite_files(db: &Path) -> std::io::Result<()> {
    use std::fs::{OpenOptions, Permissions};
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};

    if let Err(e) = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(DB_FILE_MODE)
        .open(db)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        return Err(e);
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::set_permissions(&name, Permissions::from_mode(DB_FILE_MODE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn restrict_sqlite_files(_db: &Path) -> std::io::Result<()> {
    Ok(())
}
