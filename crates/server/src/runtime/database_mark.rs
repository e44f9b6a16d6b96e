//! The data folder's memory of the database that held its devices (`database.marker`), so
//! that a lost database is never silently replaced by a new, empty one at start-up
//! (docs/storage.md, "A lost database at start-up").
//!
//! Every database gets a random id in `meta` (`database_id`) when it is first opened. Once it
//! holds a device, its id is written to `database.marker` where the default key file lives:
//! beside the SQLite file (so in the data folder by default), or in the data folder for
//! PostgreSQL. A start that finds a marker but a database without that id and without devices
//! is refused: the database was deleted, replaced or pointed elsewhere. The same database
//! emptied by an administrator keeps its id, so it starts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

/// The marker's file name.
pub const MARKER_NAME: &str = "database.marker";
/// Meta key of the database's id (not a secret).
pub const DATABASE_ID_META: &str = "database_id";

/// The marker of one folder for one opened database: knows the database's id and whether the
/// marker names it yet.
#[derive(Debug)]
pub struct DatabaseMark {
    path: PathBuf,
    database_id: String,
    written: AtomicBool,
}

impl DatabaseMark {
    pub fn new(dir: &Path, database_id: String, written: bool) -> Self {
        Self {
            path: dir.join(MARKER_NAME),
            database_id,
            written: AtomicBool::new(written),
        }
    }

    /// Writes the marker once the database holds devices (`devices > 0`); after that a plain
    /// flag read. Called at start-up and with every refresh of the device cache, so devices
    /// added by any writer (API, CLI, another instance) are noticed within a second.
    pub fn note(&self, devices: usize) {
        if devices == 0 || self.written.swap(true, Ordering::AcqRel) {
            return;
        }
        match write_marker(&self.path, &self.database_id) {
            Ok(()) => tracing::info!(
                path = %self.path.display(),
                database_id = %self.database_id,
                "the data folder now remembers this database (it holds devices)"
            ),
            // Said once, not at every refresh; the next start tries again.
            Err(e) => tracing::warn!(
                error = %format!("{e:#}"),
                "cannot write the database marker: a start on a lost database will not be \
                 refused"
            ),
        }
    }
}

/// The id a folder's marker names, if it has one.
pub fn read_marker(dir: &Path) -> anyhow::Result<Option<String>> {
    let path = dir.join(MARKER_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned))
}

/// Removes a folder's marker (the operator accepted an empty database).
pub fn remove_marker(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(MARKER_NAME);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Through a temporary file and a rename, so a crash leaves the old marker or the new one.
fn write_marker(path: &Path, database_id: &str) -> anyhow::Result<()> {
    let text = format!(
        "# yealink-prov: the database with this id has held this installation's devices.\n\
         # A start that finds a new, empty database instead is refused (docs/storage.md).\n\
         {database_id}\n"
    );
    let tmp = path.with_extension("marker.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn written_once_devices_exist_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mark = DatabaseMark::new(dir.path(), "abc123".into(), false);
        mark.note(0);
        assert_eq!(read_marker(dir.path()).unwrap(), None);
        mark.note(3);
        assert_eq!(read_marker(dir.path()).unwrap().as_deref(), Some("abc123"));
        remove_marker(dir.path()).unwrap();
        remove_marker(dir.path()).unwrap();
        assert_eq!(read_marker(dir.path()).unwrap(), None);
    }
}
