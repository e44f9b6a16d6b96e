//! The SQLite file a store opened, for the health check: does its path still name that file,
//! and can the file be read from disk.
//!
//! Why both: a file deleted or replaced (renamed over) while the server runs stays open in the
//! pool's connections, which go on reading and writing the old inode, so every query succeeds
//! and only a restart would show the loss. A file overwritten in place keeps its inode, and
//! pooled connections may answer from their page cache; a new connection reads it from disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::io::AsyncReadExt as _;

use crate::StoreError;

/// The first 16 bytes of every SQLite database file (<https://www.sqlite.org/fileformat.html>).
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// How long the check's reading connection waits for a lock (a WAL reader rarely waits).
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The opened file's identity (device and inode), and how to read it afresh.
#[derive(Clone, Debug)]
pub(crate) struct OpenedFile {
    path: PathBuf,
    identity: Option<FileId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl OpenedFile {
    /// Remembers what `path` names now; call once the pool has opened it.
    pub(crate) fn remember(path: &Path) -> Result<Self, StoreError> {
        let identity = file_id(path).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        Ok(Self {
            path: path.to_path_buf(),
            identity,
        })
    }

    /// `Err` when the path names another file or none ([`StoreError::Replaced`]), or the file
    /// cannot be read on a new connection ([`StoreError::Unreadable`]).
    pub(crate) async fn check(&self) -> Result<(), StoreError> {
        let now = file_id(&self.path).map_err(|_| self.replaced())?;
        if now != self.identity {
            return Err(self.replaced());
        }
        self.read().await.map_err(|e| StoreError::Unreadable {
            path: self.path.clone(),
            error: e,
        })
    }

    fn replaced(&self) -> StoreError {
        StoreError::Replaced(self.path.clone())
    }

    /// A cheap real read, not `PRAGMA quick_check` (which reads every page): the file's own
    /// header, then on a new connection the schema and two small tables every database of ours
    /// has. The header is read from the file itself because in WAL mode SQLite reads a page
    /// from the WAL when it has a newer copy there, so garbage written over the file stays
    /// hidden from queries until the next checkpoint copies pages back.
    async fn read(&self) -> Result<(), sqlx::Error> {
        let mut header = [0u8; SQLITE_MAGIC.len()];
        let mut file = tokio::fs::File::open(&self.path).await?;
        file.read_exact(&mut header).await?;
        if header != *SQLITE_MAGIC {
            return Err(sqlx::Error::Protocol(
                "the file does not start with SQLite's header".into(),
            ));
        }
        let mut conn = SqliteConnectOptions::new()
            .filename(&self.path)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(READ_BUSY_TIMEOUT)
            .connect()
            .await?;
        let result = async {
            sqlx::query_scalar::<_, i64>("SELECT revision FROM change_counter")
                .fetch_optional(&mut conn)
                .await?;
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM meta")
                .fetch_one(&mut conn)
                .await?;
            Ok(())
        }
        .await;
        let _ = conn.close().await;
        result
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> std::io::Result<Option<FileId>> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path)?;
    Ok(Some(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    }))
}

/// Without inode numbers only a missing file is noticed (and the read still runs).
#[cfg(not(unix))]
fn file_id(path: &Path) -> std::io::Result<Option<FileId>> {
    std::fs::metadata(path).map(|_| None)
}
