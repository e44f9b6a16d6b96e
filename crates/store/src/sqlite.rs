//! SQLite backend: one file in WAL mode (or `sqlite::memory:` for tests and demos).
//!
//! Timestamps are INTEGER microseconds since the epoch (see the migration for why); JSON is
//! TEXT. Write transactions start with `BEGIN IMMEDIATE` so they take the write lock up front
//! and wait for it (busy_timeout) instead of failing when a read would have to be upgraded.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, FromRow, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use yealink::Mac;

use crate::common::{
    self, ACQUIRE_LEASE, BEAT_INSTANCE, BULK_CHUNK, CLAIM_RPS_JOBS_SQLITE, DELETE_LEASED_RPS_JOB,
    HISTORY_ORDER, INSERT_DEVICE, INSERT_RPS_HISTORY, LEASES_HELD, LEAVE_INSTANCE, LEAVE_LEASES,
    LEAVE_RPS_JOBS, LIST_INSTANCES, PENDING_RPS_JOBS, PENDING_RPS_JOBS_OF_MAC, PRUNE_ANONYMOUS_SQL,
    PRUNE_INSTANCES, PRUNE_RPS_HISTORY, PRUNE_SQL, RELEASE_LEASE, RETRY_RPS_JOB,
    RETRY_RPS_JOBS_NOW, RPS_QUEUE_STATS, STATUS_UPDATE_SQL, STEAL_LEASE, SearchPatterns,
    UNHELD_PBX_DEVICES, attempts_from, clamp_claim, clamp_limit, from_micros, lease_until,
    live_cutoff, normalize, now, opt_from_micros, parse_mac, stamped, to_micros,
};
use crate::error::device_write_error;
use crate::sqlite_conn::{self, NO_PAGE_LIMIT};
use crate::sqlite_file::OpenedFile;
use crate::{
    Device, DeviceChanges, DeviceKeyset, DeviceQuery, DeviceRecord, DeviceStatus, HistoryQuery,
    InstanceBeat, NewRpsJob, Page, PhoneRequest, QueueStats, RpsHistoryEntry, RpsJob, Store,
    StoreError, UiSession,
};

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

/// [`STATUS_UPDATE_SQL`] for many devices at once, up to where the `VALUES` rows go:
/// `UPDATE device_status SET ... FROM (VALUES (mac, at, ...), ...) AS v WHERE mac = v.column1`
/// (SQLite names the columns of a `VALUES` list `column1`, `column2`, ...). The `SET`
/// expressions are the single-device ones, reading the row's values from `v`.
fn status_update_from_values() -> String {
    let Some((set, _)) = STATUS_UPDATE_SQL.split_once(" WHERE mac = $1") else {
        // A constant: the test below keeps this branch unreachable.
        return String::new();
    };
    // Descending, so `$1` never rewrites the start of a longer number (there is none today).
    let mut sql = set.to_owned();
    for n in (1..=8).rev() {
        sql = sql.replace(&format!("${n}"), &format!("v.column{n}"));
    }
    sql.push_str(" FROM (");
    sql
}

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Test seam, see [`SqliteStore::set_page_limit`]; 0 = never set.
    page_limit: Arc<AtomicU32>,
    /// The file opened, for [`Store::check_readable`]; `None` in memory.
    file: Option<OpenedFile>,
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

// ---- rows ------------------------------------------------------------------------------------

#[derive(FromRow)]
struct DeviceRow {
    mac: String,
    name: String,
    model: Option<String>,
    sip_user: String,
    auth_name: Option<String>,
    sip_password: String,
    display_name: Option<String>,
    registrar: String,
    overrides: String,
    http_password: String,
    url_token: String,
    admin_password: String,
    created_at: i64,
    updated_at: i64,
    revision: i64,
}

impl TryFrom<DeviceRow> for DeviceRecord {
    type Error = StoreError;

    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        let overrides = serde_json::from_str(&r.overrides).map_err(|_| {
            StoreError::Corrupt(format!("overrides of device {} are not JSON", r.mac))
        })?;
        Ok(DeviceRecord {
            mac: parse_mac(&r.mac)?,
            name: r.name,
            model: r.model,
            sip_user: r.sip_user,
            auth_name: r.auth_name,
            sip_password: r.sip_password,
            display_name: r.display_name,
            registrar: r.registrar,
            overrides,
            http_password: r.http_password,
            url_token: r.url_token,
            admin_password: r.admin_password,
            created_at: from_micros(r.created_at)?,
            updated_at: from_micros(r.updated_at)?,
            revision: r.revision,
        })
    }
}

#[derive(FromRow)]
struct StatusRow {
    provisioned_at: Option<i64>,
    last_config_request: Option<i64>,
    last_request_at: Option<i64>,
    last_ip: Option<String>,
    last_user_agent: Option<String>,
    model_seen: Option<String>,
    firmware_seen: Option<String>,
}

impl TryFrom<StatusRow> for DeviceStatus {
    type Error = StoreError;

    fn try_from(r: StatusRow) -> Result<Self, StoreError> {
        Ok(DeviceStatus {
            provisioned_at: opt_from_micros(r.provisioned_at)?,
            last_config_request: opt_from_micros(r.last_config_request)?,
            last_request_at: opt_from_micros(r.last_request_at)?,
            last_ip: r.last_ip,
            last_user_agent: r.last_user_agent,
            model_seen: r.model_seen,
            firmware_seen: r.firmware_seen,
        })
    }
}

#[derive(FromRow)]
struct DeviceStatusRow {
    #[sqlx(flatten)]
    device: DeviceRow,
    #[sqlx(flatten)]
    status: StatusRow,
}

impl TryFrom<DeviceStatusRow> for Device {
    type Error = StoreError;

    fn try_from(r: DeviceStatusRow) -> Result<Self, StoreError> {
        Ok(Device {
            record: r.device.try_into()?,
            status: r.status.try_into()?,
        })
    }
}

#[derive(FromRow)]
struct RequestRow {
    at: i64,
    mac: Option<String>,
    method: String,
    file: String,
    status: i64,
    outcome: String,
    source_ip: String,
    user_agent: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    mac_cfg_served: bool,
    request_count: i64,
}

impl TryFrom<RequestRow> for PhoneRequest {
    type Error = StoreError;

    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        Ok(PhoneRequest {
            at: from_micros(r.at)?,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            method: r.method,
            file: r.file,
            status: u16::try_from(r.status).map_err(|_| {
                StoreError::Corrupt(format!("HTTP status {} out of range", r.status))
            })?,
            outcome: r.outcome,
            source_ip: r.source_ip,
            user_agent: r.user_agent,
            model: r.model,
            firmware: r.firmware,
            mac_cfg_served: r.mac_cfg_served,
            count: u32::try_from(r.request_count).map_err(|_| {
                StoreError::Corrupt(format!("request count {} out of range", r.request_count))
            })?,
        })
    }
}

#[derive(FromRow)]
struct RpsJobRow {
    id: i64,
    command: String,
    mac: Option<String>,
    payload: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    next_attempt_at: i64,
}

impl TryFrom<RpsJobRow> for RpsJob {
    type Error = StoreError;

    fn try_from(r: RpsJobRow) -> Result<Self, StoreError> {
        let payload = serde_json::from_str(&r.payload)
            .map_err(|_| StoreError::Corrupt(format!("payload of RPS job {} is not JSON", r.id)))?;
        Ok(RpsJob {
            id: r.id,
            command: r.command,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            payload,
            attempts: attempts_from(r.attempts)?,
            last_error: r.last_error,
            created_at: from_micros(r.created_at)?,
            next_attempt_at: from_micros(r.next_attempt_at)?,
        })
    }
}

#[derive(FromRow)]
struct RpsHistoryRow {
    id: i64,
    at: i64,
    command: String,
    mac: Option<String>,
    params: String,
    outcome: String,
    answer: String,
    duration_ms: i64,
    attempts: i64,
}

impl TryFrom<RpsHistoryRow> for RpsHistoryEntry {
    type Error = StoreError;

    fn try_from(r: RpsHistoryRow) -> Result<Self, StoreError> {
        let params = serde_json::from_str(&r.params).map_err(|_| {
            StoreError::Corrupt(format!("params of RPS history entry {} are not JSON", r.id))
        })?;
        Ok(RpsHistoryEntry {
            id: r.id,
            at: from_micros(r.at)?,
            command: r.command,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            params,
            outcome: r.outcome,
            answer: r.answer,
            duration_ms: r.duration_ms,
            attempts: attempts_from(r.attempts)?,
        })
    }
}

fn collect<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

// ---- statements ------------------------------------------------------------------------------

const SELECT_DEVICE: &str = concat!(
    "SELECT ",
    device_columns!(),
    ", ",
    status_columns!(),
    " FROM devices d JOIN device_status s ON s.mac = d.mac"
);

fn overrides_text(d: &DeviceRecord) -> Result<String, StoreError> {
    serde_json::to_string(&d.overrides)
        .map_err(|e| StoreError::Corrupt(format!("overrides of device {}: {e}", d.mac)))
}

/// `INSERT INTO devices` of a stamped record; `on_conflict` is a static suffix.
fn insert_device_query(
    sql: &'static str,
    d: &DeviceRecord,
    overrides: String,
) -> sqlx::query::Query<'static, Sqlite, SqliteArguments> {
    sqlx::query(sql)
        .bind(d.mac.to_string())
        .bind(d.name.clone())
        .bind(d.model.clone())
        .bind(d.sip_user.clone())
        .bind(d.auth_name.clone())
        .bind(d.sip_password.clone())
        .bind(d.display_name.clone())
        .bind(d.registrar.clone())
        .bind(overrides)
        .bind(d.http_password.clone())
        .bind(d.url_token.clone())
        .bind(d.admin_password.clone())
        .bind(to_micros(d.created_at))
        .bind(to_micros(d.updated_at))
        .bind(d.revision)
}

/// Bumps the change-feed counter; must run inside the write transaction it versions.
async fn bump_revision(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE change_counter SET revision = revision + 1 WHERE id = 1 RETURNING revision",
    )
    .fetch_one(conn)
    .await?)
}

/// A (re-)inserted MAC is no longer deleted: drop its tombstone.
async fn clear_tombstone(conn: &mut SqliteConnection, mac: Mac) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM device_tombstones WHERE mac = $1")
        .bind(mac.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts one chunk of a bulk insert in one transaction; fills `results` for its rows.
///
/// Set-based, because each statement costs a round trip to sqlx's SQLite worker thread: one
/// multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING mac` (15 binds per row, well under
/// SQLite's 32,766 limit), then one query to tell the skipped rows' reasons apart.
async fn insert_chunk(
    pool: &SqlitePool,
    chunk: &[DeviceRecord],
    results: &mut [Option<Result<DeviceRecord, StoreError>>],
    per_device_jobs: &[NewRpsJob],
) -> Result<(), StoreError> {
    let pending: Vec<&DeviceRecord> = chunk
        .iter()
        .zip(results.iter())
        .filter(|(_, slot)| slot.is_none())
        .map(|(d, _)| d)
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let revision = bump_revision(&mut tx).await?;
    let at = now();
    let records: Vec<DeviceRecord> = pending.iter().map(|d| stamped(d, revision, at)).collect();
    let overrides = records
        .iter()
        .map(overrides_text)
        .collect::<Result<Vec<_>, _>>()?;

    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO devices (mac, name, model, sip_user, auth_name, sip_password, \
         display_name, registrar, overrides, http_password, url_token, admin_password, \
         created_at, updated_at, revision) ",
    );
    insert.push_values(records.iter().zip(overrides), |mut row, (d, overrides)| {
        row.push_bind(d.mac.to_string())
            .push_bind(d.name.clone())
            .push_bind(d.model.clone())
            .push_bind(d.sip_user.clone())
            .push_bind(d.auth_name.clone())
            .push_bind(d.sip_password.clone())
            .push_bind(d.display_name.clone())
            .push_bind(d.registrar.clone())
            .push_bind(overrides)
            .push_bind(d.http_password.clone())
            .push_bind(d.url_token.clone())
            .push_bind(d.admin_password.clone())
            .push_bind(to_micros(d.created_at))
            .push_bind(to_micros(d.updated_at))
            .push_bind(d.revision);
    });
    insert.push(" ON CONFLICT DO NOTHING RETURNING mac");
    let inserted: HashSet<String> = insert
        .build_query_scalar::<String>()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();

    // Rows skipped by ON CONFLICT: the MAC exists, or else the URL token does. (In-batch
    // duplicates were rejected before, so the conflict is with a row already stored.)
    let skipped: Vec<String> = records
        .iter()
        .map(|d| d.mac.to_string())
        .filter(|m| !inserted.contains(m))
        .collect();
    let existing: HashSet<String> = if skipped.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar::<_, String>(
            "SELECT mac FROM devices WHERE mac IN (SELECT value FROM json_each($1))",
        )
        .bind(json_array(&skipped)?)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect()
    };

    if inserted.is_empty() {
        // Don't publish a revision that changed nothing.
        tx.rollback().await?;
    } else {
        let macs: Vec<&String> = inserted.iter().collect();
        sqlx::query("DELETE FROM device_tombstones WHERE mac IN (SELECT value FROM json_each($1))")
            .bind(json_array(&macs)?)
            .execute(&mut *tx)
            .await?;
        let jobs = common::jobs_for_devices(
            records
                .iter()
                .filter(|d| inserted.contains(&d.mac.to_string()))
                .map(|d| d.mac),
            per_device_jobs,
        );
        insert_rps_jobs(&mut tx, &jobs).await?;
        tx.commit().await?;
    }

    let mut records = records.into_iter();
    for slot in results.iter_mut().filter(|slot| slot.is_none()) {
        let Some(rec) = records.next() else { break };
        let mac = rec.mac.to_string();
        *slot = Some(if inserted.contains(&mac) {
            Ok(rec)
        } else if existing.contains(&mac) {
            Err(StoreError::DuplicateMac(rec.mac))
        } else {
            Err(StoreError::DuplicateUrlToken)
        });
    }
    Ok(())
}

/// Inserts RPS jobs inside the caller's write transaction; their ids, ascending in slice order.
async fn insert_rps_jobs(
    conn: &mut SqliteConnection,
    jobs: &[NewRpsJob],
) -> Result<Vec<i64>, StoreError> {
    let payloads = jobs
        .iter()
        .map(|j| json_text(&j.payload, "RPS job payload"))
        .collect::<Result<Vec<_>, _>>()?;
    let at = to_micros(now());
    let mut ids = Vec::with_capacity(jobs.len());
    for (chunk, payloads) in jobs.chunks(BULK_CHUNK).zip(payloads.chunks(BULK_CHUNK)) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO rps_jobs (command, mac, payload, created_at, next_attempt_at) ",
        );
        insert.push_values(chunk.iter().zip(payloads), |mut row, (j, payload)| {
            row.push_bind(j.command.clone())
                .push_bind(j.mac.map(|m| m.to_string()))
                .push_bind(payload.clone())
                .push_bind(at)
                .push_bind(at);
        });
        insert.push(" RETURNING id");
        // The VALUES rows are inserted in order, so their ids ascend in slice order;
        // RETURNING's order is unspecified, hence the sort.
        let mut chunk_ids: Vec<i64> = insert
            .build_query_scalar::<i64>()
            .fetch_all(&mut *conn)
            .await?;
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// A list of strings as one JSON array bind, unpacked in SQL with `json_each`.
fn json_array<T: serde::Serialize>(items: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::Corrupt(format!("MAC list: {e}")))
}

fn json_text(v: &serde_json::Value, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Appends a history entry inside the caller's transaction (or on its own).
async fn insert_history(
    conn: &mut SqliteConnection,
    e: &RpsHistoryEntry,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(INSERT_RPS_HISTORY)
        .bind(to_micros(normalize(e.at)))
        .bind(&e.command)
        .bind(e.mac.map(|m| m.to_string()))
        .bind(json_text(&e.params, "RPS history params")?)
        .bind(&e.outcome)
        .bind(&e.answer)
        .bind(e.duration_ms)
        .bind(i64::from(e.attempts))
        .fetch_one(conn)
        .await?)
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        self.pool.close().await;
    }

    async fn compact(&self) -> Result<(), StoreError> {
        // VACUUM rebuilds the file without the free pages that still hold old values; the
        // checkpoints move the WAL in first and truncate it after.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        sqlx::query("VACUUM").execute(&self.pool).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn insert_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let revision = bump_revision(&mut tx).await?;
        let rec = stamped(d, revision, now());
        insert_device_query(INSERT_DEVICE, &rec, overrides_text(&rec)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| device_write_error(e, d.mac))?;
        clear_tombstone(&mut tx, rec.mac).await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn insert_devices_with_jobs(
        &self,
        ds: &[DeviceRecord],
        per_device_jobs: &[NewRpsJob],
    ) -> Result<Vec<Result<DeviceRecord, StoreError>>, StoreError> {
        let mut results: Vec<Option<Result<DeviceRecord, StoreError>>> =
            common::reject_in_batch_duplicates(ds)
                .into_iter()
                .map(|rejected| rejected.map(Err))
                .collect();
        for (chunk, chunk_results) in ds.chunks(BULK_CHUNK).zip(results.chunks_mut(BULK_CHUNK)) {
            insert_chunk(&self.pool, chunk, chunk_results, per_device_jobs).await?;
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| StoreError::Corrupt("bulk insert skipped a row".into())))
            .collect()
    }

    async fn update_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let revision = bump_revision(&mut tx).await?;
        let at = now();
        let created_at: Option<i64> = sqlx::query_scalar(
            "UPDATE devices SET name = $2, model = $3, sip_user = $4, auth_name = $5, \
             sip_password = $6, display_name = $7, registrar = $8, overrides = $9, \
             http_password = $10, url_token = $11, admin_password = $12, updated_at = $13, \
             revision = $14 WHERE mac = $1 RETURNING created_at",
        )
        .bind(d.mac.to_string())
        .bind(&d.name)
        .bind(&d.model)
        .bind(&d.sip_user)
        .bind(&d.auth_name)
        .bind(&d.sip_password)
        .bind(&d.display_name)
        .bind(&d.registrar)
        .bind(overrides_text(d)?)
        .bind(&d.http_password)
        .bind(&d.url_token)
        .bind(&d.admin_password)
        .bind(to_micros(at))
        .bind(revision)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| device_write_error(e, d.mac))?;
        let Some(created_at) = created_at else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(d.mac));
        };
        tx.commit().await?;
        Ok(DeviceRecord {
            created_at: from_micros(created_at)?,
            ..stamped(d, revision, at)
        })
    }

    async fn get_device(&self, mac: Mac) -> Result<Option<Device>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            device_columns!(),
            ", ",
            status_columns!(),
            " FROM devices d JOIN device_status s ON s.mac = d.mac WHERE d.mac = $1"
        );
        sqlx::query_as::<_, DeviceStatusRow>(SQL)
            .bind(mac.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(Device::try_from)
            .transpose()
    }

    async fn get_device_by_token(&self, token: &str) -> Result<Option<Device>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            device_columns!(),
            ", ",
            status_columns!(),
            " FROM devices d JOIN device_status s ON s.mac = d.mac WHERE d.url_token = $1"
        );
        sqlx::query_as::<_, DeviceStatusRow>(SQL)
            .bind(token)
            .fetch_optional(&self.pool)
            .await?
            .map(Device::try_from)
            .transpose()
    }

    async fn delete_device(&self, mac: Mac) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let revision = bump_revision(&mut tx).await?;
        // device_status and local_cfg go with it (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM devices WHERE mac = $1")
            .bind(mac.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO device_tombstones (mac, revision) VALUES ($1, $2) \
             ON CONFLICT (mac) DO UPDATE SET revision = excluded.revision",
        )
        .bind(mac.to_string())
        .bind(revision)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_devices(&self, q: &DeviceQuery) -> Result<Page<Device>, StoreError> {
        let search = SearchPatterns::new(q.search.as_deref());
        let (filter, limit_offset) = if search.is_some() {
            (
                // SQLite's LIKE ignores ASCII case, like the lower-cased `search_text` column
                // PostgreSQL searches; five LIKEs scan as fast here as one computed column.
                " WHERE (d.mac LIKE $1 ESCAPE '\\' OR d.name LIKE $2 ESCAPE '\\' \
                 OR d.sip_user LIKE $2 ESCAPE '\\' OR d.display_name LIKE $2 ESCAPE '\\' \
                 OR d.model LIKE $2 ESCAPE '\\')",
                " LIMIT $3 OFFSET $4",
            )
        } else {
            ("", " LIMIT $1 OFFSET $2")
        };
        // Only static fragments are spliced in; all user input is bound.
        let order = common::order_by(q.sort, q.descending);
        let list_sql = format!("{SELECT_DEVICE}{filter} ORDER BY {order}{limit_offset}");
        let count_sql = format!("SELECT COUNT(*) FROM devices d{filter}");

        let mut list = sqlx::query_as::<_, DeviceStatusRow>(AssertSqlSafe(list_sql));
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        if let Some(p) = search {
            list = list.bind(p.mac.clone()).bind(p.text.clone());
            count = count.bind(p.mac).bind(p.text);
        }
        let list = list
            .bind(i64::from(clamp_limit(q.limit)))
            .bind(i64::from(q.offset));

        // One read transaction: the page and the total come from the same snapshot.
        let mut tx = self.pool.begin().await?;
        let rows = list.fetch_all(&mut *tx).await?;
        let total = count.fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Page {
            items: collect(rows)?,
            total: u64::try_from(total).unwrap_or_default(),
        })
    }

    async fn list_devices_after(&self, q: &DeviceKeyset) -> Result<Vec<Device>, StoreError> {
        let search = SearchPatterns::new(q.search.as_deref());
        let mut conditions = Vec::new();
        let mut next = 1;
        if search.is_some() {
            conditions.push(
                "(d.mac LIKE $1 ESCAPE '\\' OR d.name LIKE $2 ESCAPE '\\' \
                 OR d.sip_user LIKE $2 ESCAPE '\\' OR d.display_name LIKE $2 ESCAPE '\\' \
                 OR d.model LIKE $2 ESCAPE '\\')"
                    .to_owned(),
            );
            next = 3;
        }
        if q.after.is_some() {
            conditions.push(
                common::keyset_after(q.sort, q.descending).replace("{A}", &format!("${next}")),
            );
            next += 1;
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        // Only static fragments are spliced in; all user input is bound.
        let order = common::order_by(q.sort, q.descending);
        let sql = format!("{SELECT_DEVICE}{filter} ORDER BY {order} LIMIT ${next}");
        let mut list = sqlx::query_as::<_, DeviceStatusRow>(AssertSqlSafe(sql));
        if let Some(p) = search {
            list = list.bind(p.mac).bind(p.text);
        }
        if let Some(after) = q.after {
            list = list.bind(after.to_string());
        }
        let rows = list
            .bind(i64::from(clamp_limit(q.limit)))
            .fetch_all(&self.pool)
            .await?;
        collect(rows)
    }

    async fn device_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn current_revision(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT revision FROM change_counter WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn device_changes(&self, since_revision: i64) -> Result<DeviceChanges, StoreError> {
        const CHANGED: &str = concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices d WHERE d.revision > $1 ORDER BY d.revision, d.mac"
        );
        // A read transaction is one WAL snapshot: counter, rows and tombstones agree.
        let mut tx = self.pool.begin().await?;
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM change_counter WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let rows: Vec<DeviceRow> = sqlx::query_as(CHANGED)
            .bind(since_revision)
            .fetch_all(&mut *tx)
            .await?;
        let removed: Vec<String> = sqlx::query_scalar(
            "SELECT mac FROM device_tombstones WHERE revision > $1 ORDER BY revision, mac",
        )
        .bind(since_revision)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(DeviceChanges {
            upserted: collect(rows)?,
            removed: removed
                .iter()
                .map(|m| parse_mac(m))
                .collect::<Result<_, _>>()?,
            revision,
        })
    }

    async fn all_device_records(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices d ORDER BY d.mac"
        );
        let rows: Vec<DeviceRow> = sqlx::query_as(SQL).fetch_all(&self.pool).await?;
        collect(rows)
    }

    async fn record_phone_requests(&self, batch: &[PhoneRequest]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let updates = common::status_updates(batch);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        // Multi-row INSERTs: one statement per chunk costs a fraction of one per row, and a
        // boot storm writes tens of thousands of rows a second. 12 binds x 500 rows stays far
        // below SQLite's limit on bound parameters.
        const ROWS_PER_INSERT: usize = 500;
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(concat!(
                "INSERT INTO phone_requests (",
                request_columns!(),
                ") "
            ));
            insert.push_values(chunk, |mut row, r| {
                row.push_bind(to_micros(r.at))
                    .push_bind(r.mac.map(|m| m.to_string()))
                    .push_bind(r.method.clone())
                    .push_bind(r.file.clone())
                    .push_bind(i64::from(r.status))
                    .push_bind(r.outcome.clone())
                    .push_bind(r.source_ip.clone())
                    .push_bind(r.user_agent.clone())
                    .push_bind(r.model.clone())
                    .push_bind(r.firmware.clone())
                    .push_bind(r.mac_cfg_served)
                    .push_bind(i64::from(r.count));
            });
            insert.build().execute(&mut *tx).await?;
        }
        // One UPDATE per chunk of devices, not one per device: each statement is a round trip
        // to sqlx's SQLite thread, and a boot storm touches a device every few requests.
        // The row exists iff the device does, so an unknown MAC updates nothing. The `newer`
        // test keeps an older batch (from a slower instance) from overwriting newer values;
        // first/last config times take the min/max. 8 binds x 500 devices stays far below
        // SQLite's limit on bound parameters.
        const DEVICES_PER_UPDATE: usize = 500;
        let updates: Vec<_> = updates.into_iter().collect();
        for chunk in updates.chunks(DEVICES_PER_UPDATE) {
            let mut update = sqlx::QueryBuilder::<sqlx::Sqlite>::new(status_update_from_values());
            update.push_values(chunk, |mut row, (mac, u)| {
                row.push_bind(mac.to_string())
                    .push_bind(to_micros(u.last_request_at))
                    .push_bind(u.last_ip.clone())
                    .push_bind(u.last_user_agent.clone())
                    .push_bind(u.model_seen.clone())
                    .push_bind(u.firmware_seen.clone())
                    .push_bind(u.first_cfg_served.map(to_micros))
                    .push_bind(u.last_cfg_served.map(to_micros));
            });
            update.push(") AS v WHERE mac = v.column1");
            update.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_phone_requests(
        &self,
        mac: Option<Mac>,
        limit: u32,
    ) -> Result<Vec<PhoneRequest>, StoreError> {
        let limit = i64::from(clamp_limit(limit));
        let rows: Vec<RequestRow> = match mac {
            Some(mac) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    request_columns!(),
                    " FROM phone_requests WHERE mac = $1 ORDER BY at DESC, id DESC LIMIT $2"
                ))
                .bind(mac.to_string())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    request_columns!(),
                    " FROM phone_requests ORDER BY at DESC, id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        collect(rows)
    }

    async fn prune_phone_requests(
        &self,
        older_than: OffsetDateTime,
        keep_per_device: u32,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE_SQL)
            .bind(to_micros(common::normalize(older_than)))
            .bind(i64::from(keep_per_device))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn prune_anonymous_phone_requests(&self, keep: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE_ANONYMOUS_SQL)
            .bind(i64::from(keep))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn get_status(&self, mac: Mac) -> Result<DeviceStatus, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            status_columns!(),
            " FROM device_status s WHERE s.mac = $1"
        );
        let row: Option<StatusRow> = sqlx::query_as(SQL)
            .bind(mac.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(DeviceStatus::try_from)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn put_local_cfg(&self, mac: Mac, body: &[u8]) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO local_cfg (mac, body, received_at) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM devices WHERE mac = $1) \
             ON CONFLICT (mac) DO UPDATE SET body = excluded.body, \
             received_at = excluded.received_at",
        )
        .bind(mac.to_string())
        .bind(body)
        .bind(to_micros(now()))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(mac));
        }
        Ok(())
    }

    async fn get_local_cfg(
        &self,
        mac: Mac,
    ) -> Result<Option<(Vec<u8>, OffsetDateTime)>, StoreError> {
        let row: Option<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT body, received_at FROM local_cfg WHERE mac = $1")
                .bind(mac.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(body, at)| Ok((body, from_micros(at)?)))
            .transpose()
    }

    async fn get_settings(&self) -> Result<Option<serde_json::Value>, StoreError> {
        let doc: Option<String> = sqlx::query_scalar("SELECT document FROM settings WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        doc.map(|d| {
            serde_json::from_str(&d)
                .map_err(|_| StoreError::Corrupt("the settings document is not JSON".into()))
        })
        .transpose()
    }

    async fn put_settings(&self, v: &serde_json::Value) -> Result<(), StoreError> {
        let doc = serde_json::to_string(v)
            .map_err(|e| StoreError::Corrupt(format!("settings document: {e}")))?;
        sqlx::query(
            "INSERT INTO settings (id, document, version, updated_at) VALUES (1, $1, 1, $2) \
             ON CONFLICT (id) DO UPDATE SET document = excluded.document, \
             version = settings.version + 1, updated_at = excluded.updated_at",
        )
        .bind(doc)
        .bind(to_micros(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> Result<String, StoreError> {
        // Writers are serialised by SQLite; the SELECT sees whichever insert won.
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn check_readable(&self) -> Result<(), StoreError> {
        match &self.file {
            Some(file) => file.check().await,
            None => self.current_revision().await.map(|_| ()),
        }
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        // A small update is rewritten in place and succeeds in a full database, so the room
        // left under the page limit is checked first. A device write needs a few new pages
        // (row, indexes, history), so "full" starts a little before the very last page.
        let mut conn = self.pool.acquire().await?;
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
        self.set_meta("write_probe", &stamp).await
    }

    async fn put_pbx_device(
        &self,
        mac: Mac,
        doc: &serde_json::Value,
        config_complete: Option<bool>,
    ) -> Result<(), StoreError> {
        sqlx::query(common::PUT_PBX_DEVICE)
            .bind(mac.to_string())
            .bind(doc)
            .bind(to_micros(now()))
            .bind(config_complete)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_pbx_device(&self, mac: Mac) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT doc FROM pbx_devices WHERE mac = $1")
                .bind(mac.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn list_pbx_devices(&self) -> Result<Vec<(Mac, serde_json::Value)>, StoreError> {
        let rows: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT mac, doc FROM pbx_devices ORDER BY mac")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(mac, doc)| Ok((parse_mac(&mac)?, doc)))
            .collect()
    }

    async fn pbx_config_states(&self) -> Result<Vec<(Mac, Option<bool>)>, StoreError> {
        let rows: Vec<(String, Option<bool>)> = sqlx::query_as(common::PBX_CONFIG_STATES)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(mac, complete)| Ok((parse_mac(&mac)?, complete)))
            .collect()
    }

    async fn fill_pbx_config_complete(&self, mac: Mac, complete: bool) -> Result<bool, StoreError> {
        let done = sqlx::query(common::FILL_PBX_CONFIG_COMPLETE)
            .bind(mac.to_string())
            .bind(complete)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_pbx_device(&self, mac: Mac) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM pbx_devices WHERE mac = $1")
            .bind(mac.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(ACQUIRE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(to_micros(normalize(until)))
            .bind(to_micros(now()))
            .bind(to_micros(live_cutoff(now())))
            .fetch_optional(&self.pool)
            .await?;
        Ok(held.is_some())
    }

    async fn steal_lease(
        &self,
        name: &str,
        holder: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(STEAL_LEASE)
            .bind(name)
            .bind(holder)
            .bind(to_micros(normalize(until)))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query(RELEASE_LEASE)
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn leases_held(&self, holder: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(LEASES_HELD)
            .bind(holder)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn unheld_pbx_devices(&self, prefix: &str, limit: u32) -> Result<Vec<Mac>, StoreError> {
        let now = now();
        let macs: Vec<String> = sqlx::query_scalar(UNHELD_PBX_DEVICES)
            .bind(prefix)
            .bind(to_micros(now))
            .bind(to_micros(live_cutoff(now)))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        macs.iter().map(|m| parse_mac(m)).collect()
    }

    async fn beat_instance(&self, beat: &InstanceBeat) -> Result<(), StoreError> {
        let last_beat = normalize(beat.last_beat);
        let forget =
            time::Duration::try_from(crate::INSTANCE_FORGET_AFTER).unwrap_or(time::Duration::ZERO);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        sqlx::query(BEAT_INSTANCE)
            .bind(&beat.id)
            .bind(to_micros(normalize(beat.started_at)))
            .bind(to_micros(last_beat))
            .bind(beat.address.as_deref())
            .execute(&mut *tx)
            .await?;
        sqlx::query(PRUNE_INSTANCES)
            .bind(to_micros(
                last_beat.checked_sub(forget).unwrap_or(last_beat),
            ))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn leave_instance(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for sql in [LEAVE_LEASES, LEAVE_RPS_JOBS, LEAVE_INSTANCE] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_instances(&self) -> Result<Vec<InstanceBeat>, StoreError> {
        let rows: Vec<(String, i64, i64, Option<String>)> =
            sqlx::query_as(LIST_INSTANCES).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|(id, started_at, last_beat, address)| {
                Ok(InstanceBeat {
                    id,
                    started_at: from_micros(started_at)?,
                    last_beat: from_micros(last_beat)?,
                    address,
                })
            })
            .collect()
    }

    async fn enqueue_rps_jobs(&self, jobs: &[NewRpsJob]) -> Result<Vec<i64>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        // The one writer: AUTOINCREMENT ids grow in commit order across all connections.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let ids = insert_rps_jobs(&mut tx, jobs).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn claim_rps_jobs(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<RpsJob>, StoreError> {
        let limit = clamp_claim(limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = normalize(now);
        // BEGIN IMMEDIATE: the write lock is held from choosing the jobs to leasing them, so
        // two instances cannot choose the same job.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let rows: Vec<RpsJobRow> = sqlx::query_as(CLAIM_RPS_JOBS_SQLITE)
            .bind(worker)
            .bind(to_micros(now))
            .bind(to_micros(lease_until(now, lease)))
            .bind(i64::from(limit))
            .bind(to_micros(live_cutoff(now)))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut jobs: Vec<RpsJob> = collect(rows)?;
        jobs.sort_unstable_by_key(|j| j.id);
        Ok(jobs)
    }

    async fn complete_rps_job(
        &self,
        id: i64,
        worker: &str,
        entry: &RpsHistoryEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let deleted = sqlx::query(DELETE_LEASED_RPS_JOB)
            .bind(id)
            .bind(worker)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_history(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn retry_rps_job(
        &self,
        id: i64,
        worker: &str,
        next_attempt_at: OffsetDateTime,
        last_error: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(RETRY_RPS_JOB)
            .bind(id)
            .bind(worker)
            .bind(to_micros(normalize(next_attempt_at)))
            .bind(last_error)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn retry_rps_jobs_now(&self, at: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(RETRY_RPS_JOBS_NOW)
            .bind(to_micros(normalize(at)))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn reserve_rps_slot(
        &self,
        now: OffsetDateTime,
        interval: Duration,
    ) -> Result<OffsetDateTime, StoreError> {
        let step = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX / 2);
        let end: i64 = sqlx::query_scalar(
            "INSERT INTO meta (key, value) VALUES ($1, CAST($2 + $3 AS TEXT)) \
             ON CONFLICT (key) DO UPDATE \
             SET value = CAST(MAX(CAST(meta.value AS INTEGER), $2) + $3 AS TEXT) \
             RETURNING CAST(value AS INTEGER)",
        )
        .bind(crate::RPS_RATE_META)
        .bind(crate::common::to_micros(now))
        .bind(step)
        .fetch_one(&self.pool)
        .await?;
        crate::common::from_micros(end.saturating_sub(step))
    }

    async fn pending_rps_jobs(
        &self,
        mac: Option<Mac>,
        limit: u32,
    ) -> Result<Vec<RpsJob>, StoreError> {
        let limit = i64::from(clamp_limit(limit));
        let rows: Vec<RpsJobRow> = match mac {
            Some(mac) => {
                sqlx::query_as(PENDING_RPS_JOBS_OF_MAC)
                    .bind(mac.to_string())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as(PENDING_RPS_JOBS)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        collect(rows)
    }

    async fn rps_queue_stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError> {
        let (pending, due, oldest, max_attempts): (i64, i64, Option<i64>, i64) =
            sqlx::query_as(RPS_QUEUE_STATS)
                .bind(to_micros(normalize(now)))
                .fetch_one(&self.pool)
                .await?;
        Ok(QueueStats {
            pending: u64::try_from(pending).unwrap_or_default(),
            due: u64::try_from(due).unwrap_or_default(),
            oldest_created_at: opt_from_micros(oldest)?,
            max_attempts: attempts_from(max_attempts)?,
        })
    }

    async fn record_rps_history(&self, entry: &RpsHistoryEntry) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_history(&mut conn, entry).await
    }

    async fn list_rps_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<Page<RpsHistoryEntry>, StoreError> {
        let (filter, limit_offset) = common::history_filter(q);
        // Only static fragments are spliced in; all user input is bound.
        let list_sql = format!(
            concat!("SELECT ", rps_history_columns!(), " FROM rps_history{}{}{}"),
            filter, HISTORY_ORDER, limit_offset
        );
        let count_sql = format!("SELECT COUNT(*) FROM rps_history{filter}");
        let mut list = sqlx::query_as::<_, RpsHistoryRow>(AssertSqlSafe(list_sql));
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        if let Some(mac) = q.mac {
            list = list.bind(mac.to_string());
            count = count.bind(mac.to_string());
        }
        if let Some(command) = &q.command {
            list = list.bind(command.clone());
            count = count.bind(command.clone());
        }
        let list = list
            .bind(i64::from(clamp_limit(q.limit)))
            .bind(i64::from(q.offset));

        // One read transaction: the page and the total come from the same snapshot.
        let mut tx = self.pool.begin().await?;
        let rows = list.fetch_all(&mut *tx).await?;
        let total = count.fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Page {
            items: collect(rows)?,
            total: u64::try_from(total).unwrap_or_default(),
        })
    }

    async fn prune_rps_history(
        &self,
        older_than: OffsetDateTime,
        keep_last: u32,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE_RPS_HISTORY)
            .bind(to_micros(normalize(older_than)))
            .bind(i64::from(keep_last))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn create_ui_session(
        &self,
        session: &UiSession,
        idle_before: OffsetDateTime,
        max: u32,
    ) -> Result<(), StoreError> {
        // Three statements, each atomic; their order only matters for the bound, not for
        // correctness (a concurrent sign-in may briefly leave one session too many).
        sqlx::query(
            "INSERT INTO ui_sessions (id_hash, csrf, user_sip, user_dn, user_guid, created_at, \
             last_used) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&session.id_hash)
        .bind(&session.csrf)
        .bind(&session.user_sip)
        .bind(&session.user_dn)
        .bind(&session.user_guid)
        .bind(to_micros(normalize(session.created_at)))
        .bind(to_micros(normalize(session.last_used)))
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM ui_sessions WHERE last_used < $1")
            .bind(to_micros(normalize(idle_before)))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "DELETE FROM ui_sessions WHERE id_hash IN (SELECT id_hash FROM ui_sessions \
             ORDER BY last_used DESC, id_hash LIMIT -1 OFFSET $1)",
        )
        .bind(i64::from(max))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_ui_session(&self, id_hash: &str) -> Result<Option<UiSession>, StoreError> {
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            i64,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT id_hash, csrf, user_sip, user_dn, user_guid, created_at, last_used \
             FROM ui_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(
            |(id_hash, csrf, user_sip, user_dn, user_guid, created, used)| {
                Ok(UiSession {
                    id_hash,
                    csrf,
                    user_sip,
                    user_dn,
                    user_guid,
                    created_at: from_micros(created)?,
                    last_used: from_micros(used)?,
                })
            },
        )
        .transpose()
    }

    async fn touch_ui_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE ui_sessions SET last_used = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(to_micros(normalize(at)))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_ui_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM ui_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_changes(&self, entries: &[crate::ChangeEntry]) -> Result<(), StoreError> {
        crate::changes::sqlite_record(&self.pool, entries).await
    }

    async fn list_changes(
        &self,
        q: &crate::ChangeQuery,
    ) -> Result<Page<crate::ChangeEntry>, StoreError> {
        crate::changes::sqlite_list(&self.pool, q).await
    }

    async fn prune_changes(
        &self,
        older_than: OffsetDateTime,
        keep_last: u32,
    ) -> Result<u64, StoreError> {
        crate::changes::sqlite_prune(&self.pool, older_than, keep_last).await
    }
}
