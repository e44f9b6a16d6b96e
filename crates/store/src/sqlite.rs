//! SQLite backend: one file in WAL mode (or `sqlite::memory:` for tests and demos): opening
//! it, its [`Dialect`], and what only SQLite does (compaction, the health checks of the file).
//! The queries are in the topic files, written once for both backends.
//!
//! Timestamps are INTEGER microseconds since the epoch (see the migration for why); JSON is
//! TEXT (both in `values.rs`). Write transactions start with `BEGIN IMMEDIATE` so they take
//! the write lock up front and wait for it (busy_timeout) instead of failing when a read would
//! have to be upgraded.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use time::OffsetDateTime;

use crate::backend::Dialect;
use crate::sqlite_conn::{self, NO_PAGE_LIMIT};
use crate::sqlite_file::OpenedFile;
use crate::{Store, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// How long a writer waits for another connection's write lock before SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows buffered between sqlx's SQLite worker thread and the reading task (sqlx default: 50).
const ROW_BUFFER: usize = 1024;
/// `check_writable` reports the database full with fewer pages than this left to grow.
const FULL_BELOW_PAGES: i64 = 64;
/// WAL allows many readers next to the one writer.
const MAX_CONNECTIONS: u32 = 8;

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Test seam, see [`SqliteStore::set_page_limit`]; 0 = never set.
    page_limit: Arc<AtomicU32>,
    /// The file opened, for [`Store::check_readable`]; `None` in memory.
    file: Option<OpenedFile>,
    /// The tenant every scoped query of this handle reads and writes ([`Store::for_tenant`]).
    tenant: crate::TenantId,
}

/// Only pool counters: nothing about the connection (URL, credentials).
impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database and runs the migrations.
    pub async fn open(database_url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL is durable against application crashes and only loses the last
            // commits on power loss; FULL would fsync every commit.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Rows travel one by one from sqlx's worker thread; a deeper buffer lets the worker
            // run ahead on big reads (cold cache load of all devices).
            .row_buffer_size(ROW_BUFFER);
        let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        if !in_memory {
            crate::files::restrict_sqlite_files(options.get_filename())
                .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let path = options.get_filename().to_path_buf();
        let page_limit = Arc::new(AtomicU32::new(0));
        let pool_options = sqlite_conn::with_hooks(SqlitePoolOptions::new(), page_limit.clone());
        let pool = if in_memory {
            // An in-memory database lives as long as one connection to it: keep exactly one.
            pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            pool_options
                .max_connections(MAX_CONNECTIONS)
                .connect_with(options)
                .await?
        };
        MIGRATOR.run(&pool).await?;
        let file = if in_memory {
            None
        } else {
            Some(OpenedFile::remember(&path)?)
        };
        Ok(Self {
            pool,
            page_limit,
            file,
            tenant: crate::TenantId::DEFAULT,
        })
    }

    /// Test seam: caps the database at `pages` pages (`PRAGMA max_page_count` on every
    /// connection as it is acquired), so writes that need a new page fail with SQLITE_FULL
    /// exactly as on a full disk; `None` lifts the cap ("space freed"). SQLite never lowers
    /// the cap below the current size.
    pub fn set_page_limit(&self, pages: Option<u32>) {
        self.page_limit
            .store(pages.unwrap_or(NO_PAGE_LIMIT).max(1), Ordering::Release);
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl Dialect for SqliteStore {
    type Db = Sqlite;

    const NAME: &'static str = "sqlite";

    fn tenant(&self) -> i64 {
        self.tenant.get()
    }

    fn with_tenant(&self, tenant: crate::TenantId) -> Self {
        Self {
            tenant,
            ..self.clone()
        }
    }

    // SQLite's LIKE ignores ASCII case, like the lower-cased `search_text` column PostgreSQL
    // searches; five LIKEs scan as fast here as one computed column.
    const DEVICE_SEARCH: &'static str = "(d.mac LIKE $1 ESCAPE '\\' OR d.name LIKE $2 ESCAPE '\\' \
         OR d.sip_user LIKE $2 ESCAPE '\\' OR d.display_name LIKE $2 ESCAPE '\\' \
         OR d.model LIKE $2 ESCAPE '\\')";

    const RESERVE_RPS_SLOT: &'static str = "INSERT INTO meta (key, value) \
         VALUES ($1, CAST($2 + $3 AS TEXT)) \
         ON CONFLICT (key) DO UPDATE \
         SET value = CAST(MAX(CAST(meta.value AS INTEGER), $2) + $3 AS TEXT) \
         RETURNING CAST(value AS INTEGER)";

    const EXISTING_MACS: &'static str =
        "SELECT mac FROM devices WHERE mac IN (SELECT value FROM json_each($1))";

    const DELETE_TOMBSTONES: &'static str =
        "DELETE FROM device_tombstones WHERE mac IN (SELECT value FROM json_each($1))";

    const TRIM_UI_SESSIONS: &'static str = "DELETE FROM ui_sessions WHERE id_hash IN \
         (SELECT id_hash FROM ui_sessions WHERE tenant_id = $2 \
         ORDER BY last_used DESC, id_hash LIMIT -1 OFFSET $1)";

    async fn begin_write(&self) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.pool.begin_with(BEGIN_WRITE).await
    }

    // A read transaction is one WAL snapshot.
    async fn begin_read(&self) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.pool.begin().await
    }
}

/// [`Store::compact`].
pub(crate) async fn compact(db: &SqliteStore) -> Result<(), StoreError> {
    // VACUUM rebuilds the file without the free pages that still hold old values; the
    // checkpoints move the WAL in first and truncate it after.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&db.pool)
        .await?;
    sqlx::query("VACUUM").execute(&db.pool).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// [`Store::check_readable`].
pub(crate) async fn check_readable(db: &SqliteStore) -> Result<(), StoreError> {
    match &db.file {
        Some(file) => file.check().await,
        None => db.current_revision().await.map(|_| ()),
    }
}

/// [`Store::check_writable`].
pub(crate) async fn check_writable(db: &SqliteStore) -> Result<(), StoreError> {
    // A small update is rewritten in place and succeeds in a full database, so the room
    // left under the page limit is checked first. A device write needs a few new pages
    // (row, indexes, history), so "full" starts a little before the very last page.
    let mut conn = db.pool.acquire().await?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut *conn)
        .await?;
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
        .fetch_one(&mut *conn)
        .await?;
    let limit: i64 = sqlx::query_scalar("PRAGMA max_page_count")
        .fetch_one(&mut *conn)
        .await?;
    let left = limit.saturating_sub(pages).saturating_add(free);
    if left < FULL_BELOW_PAGES {
        return Err(StoreError::Full(u64::try_from(left).unwrap_or(0)));
    }
    drop(conn);
    let stamp = OffsetDateTime::now_utc().unix_timestamp().to_string();
    db.set_meta("write_probe", &stamp).await
}
