//! PostgreSQL backend, for several server instances sharing one database.
//!
//! Timestamps are TIMESTAMPTZ, JSON is JSONB. Bulk writes send whole columns as arrays and
//! `UNNEST` them, so a chunk of rows costs one round trip instead of one per row.
//! Device writers serialise on the `change_counter` row lock (see docs/storage.md).

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgPool, Postgres};
use time::OffsetDateTime;
use yealink::Mac;

use crate::common::{
    self, ACQUIRE_LEASE, BEAT_INSTANCE, BULK_CHUNK, CLAIM_RPS_JOBS_PG, DELETE_LEASED_RPS_JOB,
    HISTORY_ORDER, INSERT_DEVICE, INSERT_RPS_HISTORY, LEASES_HELD, LEAVE_INSTANCE, LEAVE_LEASES,
    LEAVE_RPS_JOBS, LIST_INSTANCES, PENDING_RPS_JOBS, PENDING_RPS_JOBS_OF_MAC, PRUNE_ANONYMOUS_SQL,
    PRUNE_INSTANCES, PRUNE_RPS_HISTORY, PRUNE_SQL, RELEASE_LEASE, RETRY_RPS_JOB,
    RETRY_RPS_JOBS_NOW, RPS_QUEUE_STATS, STATUS_UPDATE_SQL, STEAL_LEASE, SearchPatterns,
    UNHELD_PBX_DEVICES, attempts_from, clamp_claim, clamp_limit, lease_until, live_cutoff,
    normalize, now, parse_mac, stamped,
};
use crate::error::device_write_error;
use crate::{
    Device, DeviceChanges, DeviceEvent, DeviceKeyset, DeviceQuery, DeviceRecord, DeviceStatus,
    HistoryQuery, InstanceBeat, NewRpsJob, Page, PhoneRequest, QueueStats, RpsHistoryEntry, RpsJob,
    Store, StoreError, UiSession,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The `LISTEN/NOTIFY` channel of [`Store::device_events`]: the payload is a comma-separated
/// list of MACs (12 hex digits each) whose phone requests were recorded.
const DEVICE_EVENTS_CHANNEL: &str = "yealink_prov_device_events";
/// MACs per notification: 13 bytes each, well under PostgreSQL's 8000-byte payload limit.
const NOTIFY_MACS: usize = 500;
/// Events a slow consumer may fall behind by before the oldest wait.
const DEVICE_EVENTS_BUFFER: usize = 1024;

/// Several reads that must agree (page + total, change feed) run in one snapshot.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
const MAX_CONNECTIONS: u32 = 10;

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// Only pool counters: nothing about the connection (URL, credentials).
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects and runs the migrations. sqlx's migrator holds a PostgreSQL advisory lock
    /// while it runs, so instances starting together migrate one at a time.
    pub async fn open(database_url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(database_url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
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
    overrides: serde_json::Value,
    http_password: String,
    url_token: String,
    admin_password: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    revision: i64,
}

impl TryFrom<DeviceRow> for DeviceRecord {
    type Error = StoreError;

    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        Ok(DeviceRecord {
            mac: parse_mac(&r.mac)?,
            name: r.name,
            model: r.model,
            sip_user: r.sip_user,
            auth_name: r.auth_name,
            sip_password: r.sip_password,
            display_name: r.display_name,
            registrar: r.registrar,
            overrides: r.overrides,
            http_password: r.http_password,
            url_token: r.url_token,
            admin_password: r.admin_password,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revision: r.revision,
        })
    }
}

#[derive(FromRow)]
struct StatusRow {
    provisioned_at: Option<OffsetDateTime>,
    last_config_request: Option<OffsetDateTime>,
    last_request_at: Option<OffsetDateTime>,
    last_ip: Option<String>,
    last_user_agent: Option<String>,
    model_seen: Option<String>,
    firmware_seen: Option<String>,
}

impl From<StatusRow> for DeviceStatus {
    fn from(r: StatusRow) -> Self {
        DeviceStatus {
            provisioned_at: r.provisioned_at,
            last_config_request: r.last_config_request,
            last_request_at: r.last_request_at,
            last_ip: r.last_ip,
            last_user_agent: r.last_user_agent,
            model_seen: r.model_seen,
            firmware_seen: r.firmware_seen,
        }
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
            status: r.status.into(),
        })
    }
}

#[derive(FromRow)]
struct RequestRow {
    at: OffsetDateTime,
    mac: Option<String>,
    method: String,
    file: String,
    status: i32,
    outcome: String,
    source_ip: String,
    user_agent: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    mac_cfg_served: bool,
    request_count: i32,
}

impl TryFrom<RequestRow> for PhoneRequest {
    type Error = StoreError;

    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        Ok(PhoneRequest {
            at: r.at,
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
    payload: serde_json::Value,
    attempts: i32,
    last_error: Option<String>,
    created_at: OffsetDateTime,
    next_attempt_at: OffsetDateTime,
}

impl TryFrom<RpsJobRow> for RpsJob {
    type Error = StoreError;

    fn try_from(r: RpsJobRow) -> Result<Self, StoreError> {
        Ok(RpsJob {
            id: r.id,
            command: r.command,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            payload: r.payload,
            attempts: attempts_from(i64::from(r.attempts))?,
            last_error: r.last_error,
            created_at: r.created_at,
            next_attempt_at: r.next_attempt_at,
        })
    }
}

#[derive(FromRow)]
struct RpsHistoryRow {
    id: i64,
    at: OffsetDateTime,
    command: String,
    mac: Option<String>,
    params: serde_json::Value,
    outcome: String,
    answer: String,
    duration_ms: i64,
    attempts: i32,
}

impl TryFrom<RpsHistoryRow> for RpsHistoryEntry {
    type Error = StoreError;

    fn try_from(r: RpsHistoryRow) -> Result<Self, StoreError> {
        Ok(RpsHistoryEntry {
            id: r.id,
            at: r.at,
            command: r.command,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            params: r.params,
            outcome: r.outcome,
            answer: r.answer,
            duration_ms: r.duration_ms,
            attempts: attempts_from(i64::from(r.attempts))?,
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

fn insert_device_query(d: &DeviceRecord) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    sqlx::query(INSERT_DEVICE)
        .bind(d.mac.to_string())
        .bind(d.name.clone())
        .bind(d.model.clone())
        .bind(d.sip_user.clone())
        .bind(d.auth_name.clone())
        .bind(d.sip_password.clone())
        .bind(d.display_name.clone())
        .bind(d.registrar.clone())
        .bind(d.overrides.clone())
        .bind(d.http_password.clone())
        .bind(d.url_token.clone())
        .bind(d.admin_password.clone())
        .bind(d.created_at)
        .bind(d.updated_at)
        .bind(d.revision)
}

/// A chunk of devices as column arrays; `$14` updated_at and `$15` revision are shared.
const INSERT_DEVICES_UNNEST: &str = "INSERT INTO devices (mac, name, model, sip_user, \
    auth_name, sip_password, display_name, registrar, overrides, http_password, url_token, \
    admin_password, created_at, updated_at, revision) \
    SELECT t.mac, t.name, t.model, t.sip_user, t.auth_name, t.sip_password, t.display_name, \
    t.registrar, t.overrides::jsonb, t.http_password, t.url_token, t.admin_password, \
    t.created_at, $14, $15 \
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
    $13::timestamptz[]) AS t(mac, name, model, sip_user, auth_name, sip_password, \
    display_name, registrar, overrides, http_password, url_token, admin_password, created_at) \
    ON CONFLICT DO NOTHING RETURNING mac";

/// [`STATUS_UPDATE_SQL`] for a whole batch in one statement: `$1`..`$8` become arrays, one
/// element per device, `UNNEST`ed as `v(column1, ..., column8)` (names that cannot clash with
/// the status columns the `SET` expressions read). An `UPDATE ... FROM` locks rows in whatever
/// order its join plan visits them, and the plan depends on the batch's size; so the
/// `locked` CTE first locks the rows sorted by MAC (`ORDER BY` runs before `FOR UPDATE`), and
/// the UPDATE then only touches rows it already holds. Two instances' batches thus lock
/// overlapping rows in the same order and cannot deadlock. A MAC without a status row (not a
/// device) matches nothing, as in the single-device statement.
static STATUS_UPDATE_UNNEST: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(status_update_unnest);

fn status_update_unnest() -> String {
    let Some((set, _)) = STATUS_UPDATE_SQL.split_once(" WHERE mac = $1") else {
        // A constant: the unit test below keeps this branch unreachable.
        return String::new();
    };
    // Descending, so `$1` never rewrites the start of a longer number (there is none today).
    let mut set = set.to_owned();
    for n in (1..=8).rev() {
        set = set.replace(&format!("${n}"), &format!("v.column{n}"));
    }
    format!(
        "WITH locked AS MATERIALIZED (SELECT mac FROM device_status WHERE mac = ANY($1::text[]) \
         ORDER BY mac FOR UPDATE) \
         {set} FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::timestamptz[], $8::timestamptz[]) \
         AS v(column1, column2, column3, column4, column5, column6, column7, column8) \
         WHERE mac = v.column1 AND mac IN (SELECT mac FROM locked)"
    )
}

/// Bumps the change-feed counter. Its row lock is held until the transaction ends, so
/// device writers commit in revision order.
async fn bump_revision(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE change_counter SET revision = revision + 1 WHERE id = 1 RETURNING revision",
    )
    .fetch_one(conn)
    .await?)
}

/// Inserts one chunk of a bulk insert in one transaction; fills `results` for its rows.
async fn insert_chunk(
    pool: &PgPool,
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
    let mut tx = pool.begin().await?;
    let revision = bump_revision(&mut tx).await?;
    let at = now();

    let col = |f: fn(&DeviceRecord) -> String| pending.iter().map(|d| f(d)).collect::<Vec<_>>();
    let opt =
        |f: fn(&DeviceRecord) -> Option<String>| pending.iter().map(|d| f(d)).collect::<Vec<_>>();
    let overrides = pending
        .iter()
        .map(|d| serde_json::to_string(&d.overrides))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(format!("device overrides: {e}")))?;
    let created: Vec<OffsetDateTime> = pending
        .iter()
        .map(|d| common::normalize(d.created_at))
        .collect();
    let inserted: Vec<String> = sqlx::query_scalar(INSERT_DEVICES_UNNEST)
        .bind(col(|d| d.mac.to_string()))
        .bind(col(|d| d.name.clone()))
        .bind(opt(|d| d.model.clone()))
        .bind(col(|d| d.sip_user.clone()))
        .bind(opt(|d| d.auth_name.clone()))
        .bind(col(|d| d.sip_password.clone()))
        .bind(opt(|d| d.display_name.clone()))
        .bind(col(|d| d.registrar.clone()))
        .bind(overrides)
        .bind(col(|d| d.http_password.clone()))
        .bind(col(|d| d.url_token.clone()))
        .bind(col(|d| d.admin_password.clone()))
        .bind(created)
        .bind(at)
        .bind(revision)
        .fetch_all(&mut *tx)
        .await?;

    let inserted: HashSet<String> = inserted.into_iter().collect();

    // Rows skipped by ON CONFLICT: the MAC exists, or else the URL token does. (In-batch
    // duplicates were rejected before, so the conflict is with a row already stored.)
    let skipped: Vec<String> = pending
        .iter()
        .map(|d| d.mac.to_string())
        .filter(|m| !inserted.contains(m))
        .collect();
    let existing: HashSet<String> = if skipped.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar::<_, String>("SELECT mac FROM devices WHERE mac = ANY($1)")
            .bind(&skipped)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
    };

    if inserted.is_empty() {
        // Don't publish a revision that changed nothing.
        tx.rollback().await?;
    } else {
        let macs: Vec<String> = inserted.iter().cloned().collect();
        sqlx::query("DELETE FROM device_tombstones WHERE mac = ANY($1)")
            .bind(macs)
            .execute(&mut *tx)
            .await?;
        let jobs = common::jobs_for_devices(
            pending
                .iter()
                .filter(|d| inserted.contains(&d.mac.to_string()))
                .map(|d| d.mac),
            per_device_jobs,
        );
        insert_rps_jobs(&mut tx, &jobs).await?;
        tx.commit().await?;
    }

    for (d, slot) in chunk.iter().zip(results.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        let mac = d.mac.to_string();
        *slot = Some(if inserted.contains(&mac) {
            Ok(stamped(d, revision, at))
        } else if existing.contains(&mac) {
            Err(StoreError::DuplicateMac(d.mac))
        } else {
            Err(StoreError::DuplicateUrlToken)
        });
    }
    Ok(())
}

/// Inserts RPS jobs inside the caller's transaction (taking the enqueue lock, so ids ascend in
/// commit order); their ids, ascending in slice order.
async fn insert_rps_jobs(
    conn: &mut PgConnection,
    jobs: &[NewRpsJob],
) -> Result<Vec<i64>, StoreError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let payloads = jobs
        .iter()
        .map(|j| serde_json::to_string(&j.payload))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(format!("RPS job payload: {e}")))?;
    sqlx::query(LOCK_RPS_ENQUEUE).execute(&mut *conn).await?;
    let mut ids: Vec<i64> = sqlx::query_scalar(INSERT_RPS_JOBS_UNNEST)
        .bind(jobs.iter().map(|j| j.command.clone()).collect::<Vec<_>>())
        .bind(
            jobs.iter()
                .map(|j| j.mac.map(|m| m.to_string()))
                .collect::<Vec<_>>(),
        )
        .bind(payloads)
        .bind(now())
        .fetch_all(&mut *conn)
        .await?;
    // RETURNING's order is unspecified; the ids were drawn in slice order.
    ids.sort_unstable();
    Ok(ids)
}

/// The `attempts` columns are INTEGER; more than 2^31 attempts cannot happen, so saturate.
fn attempts_param(attempts: u32) -> i32 {
    i32::try_from(attempts).unwrap_or(i32::MAX)
}

/// Appends a history entry inside the caller's transaction (or on its own).
async fn insert_history(conn: &mut PgConnection, e: &RpsHistoryEntry) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(INSERT_RPS_HISTORY)
        .bind(normalize(e.at))
        .bind(&e.command)
        .bind(e.mac.map(|m| m.to_string()))
        .bind(&e.params)
        .bind(&e.outcome)
        .bind(&e.answer)
        .bind(e.duration_ms)
        .bind(attempts_param(e.attempts))
        .fetch_one(conn)
        .await?)
}

/// Serialises enqueuers until commit, so job ids are drawn in commit order: a claimer that
/// sees a job also sees every older job (see docs/storage.md). Keyed on the table's oid, so
/// each schema has its own lock (the tests run one schema per test on one server).
const LOCK_RPS_ENQUEUE: &str = "SELECT pg_advisory_xact_lock('rps_jobs'::regclass::oid::bigint)";

/// The jobs as column arrays, inserted in slice order (`ORDER BY` the ordinality), so their
/// identity ids ascend in slice order. `$4` is the creation time and first due time.
const INSERT_RPS_JOBS_UNNEST: &str = "INSERT INTO rps_jobs (command, mac, payload, created_at, \
    next_attempt_at) \
    SELECT t.command, t.mac, t.payload::jsonb, $4, $4 \
    FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(command, mac, payload, n) \
    ORDER BY t.n RETURNING id";

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn insert_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revision = bump_revision(&mut tx).await?;
        let rec = stamped(d, revision, now());
        insert_device_query(&rec)
            .execute(&mut *tx)
            .await
            .map_err(|e| device_write_error(e, d.mac))?;
        sqlx::query("DELETE FROM device_tombstones WHERE mac = $1")
            .bind(rec.mac.to_string())
            .execute(&mut *tx)
            .await?;
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
        let mut tx = self.pool.begin().await?;
        let revision = bump_revision(&mut tx).await?;
        let at = now();
        let created_at: Option<OffsetDateTime> = sqlx::query_scalar(
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
        .bind(&d.overrides)
        .bind(&d.http_password)
        .bind(&d.url_token)
        .bind(&d.admin_password)
        .bind(at)
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
            created_at,
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
        let mut tx = self.pool.begin().await?;
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
                " WHERE (d.search_text LIKE $2 ESCAPE '\\' OR d.mac LIKE $1 ESCAPE '\\')",
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

        let mut tx = self.pool.begin_with(BEGIN_SNAPSHOT).await?;
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
                "(d.search_text LIKE $2 ESCAPE '\\' OR d.mac LIKE $1 ESCAPE '\\')".to_owned(),
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
        // One snapshot: a counter value is only visible once its writer committed, and the
        // writers of all lower values committed before it (they held the counter row lock).
        let mut tx = self.pool.begin_with(BEGIN_SNAPSHOT).await?;
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
        let strings = |f: fn(&PhoneRequest) -> String| batch.iter().map(f).collect::<Vec<_>>();
        let opts = |f: fn(&PhoneRequest) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
        let mut tx = self.pool.begin().await?;
        sqlx::query(concat!(
            "INSERT INTO phone_requests (",
            request_columns!(),
            ") SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], \
             $5::int4[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
             $11::bool[], $12::int4[])"
        ))
        .bind(
            batch
                .iter()
                .map(|r| common::normalize(r.at))
                .collect::<Vec<_>>(),
        )
        .bind(opts(|r| r.mac.map(|m| m.to_string())))
        .bind(strings(|r| r.method.clone()))
        .bind(strings(|r| r.file.clone()))
        .bind(
            batch
                .iter()
                .map(|r| i32::from(r.status))
                .collect::<Vec<_>>(),
        )
        .bind(strings(|r| r.outcome.clone()))
        .bind(strings(|r| r.source_ip.clone()))
        .bind(opts(|r| r.user_agent.clone()))
        .bind(opts(|r| r.model.clone()))
        .bind(opts(|r| r.firmware.clone()))
        .bind(batch.iter().map(|r| r.mac_cfg_served).collect::<Vec<_>>())
        .bind(
            batch
                .iter()
                .map(|r| i32::try_from(r.count).unwrap_or(i32::MAX))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        // Every instance's live pages learn of these devices (delivered at commit).
        let macs: Vec<String> = updates.keys().map(|m| m.to_string()).collect();
        for chunk in macs.chunks(NOTIFY_MACS) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(DEVICE_EVENTS_CHANNEL)
                .bind(chunk.join(","))
                .execute(&mut *tx)
                .await?;
        }
        // All devices of the batch in one statement (see STATUS_UPDATE_UNNEST for the lock
        // order): one array element per device, in the MAC order of `macs` (BTreeMap).
        if !macs.is_empty() {
            let col = |f: fn(&common::StatusUpdate) -> Option<String>| {
                updates.values().map(f).collect::<Vec<_>>()
            };
            let at = |f: fn(&common::StatusUpdate) -> Option<OffsetDateTime>| {
                updates.values().map(f).collect::<Vec<_>>()
            };
            sqlx::query(STATUS_UPDATE_UNNEST.as_str())
                .bind(&macs)
                .bind(
                    updates
                        .values()
                        .map(|u| u.last_request_at)
                        .collect::<Vec<_>>(),
                )
                .bind(
                    updates
                        .values()
                        .map(|u| u.last_ip.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(col(|u| u.last_user_agent.clone()))
                .bind(col(|u| u.model_seen.clone()))
                .bind(col(|u| u.firmware_seen.clone()))
                .bind(at(|u| u.first_cfg_served))
                .bind(at(|u| u.last_cfg_served))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn device_events(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<DeviceEvent>>, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(DEVICE_EVENTS_CHANNEL).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(DEVICE_EVENTS_BUFFER);
        tokio::spawn(async move {
            loop {
                let event = match listener.try_recv().await {
                    Ok(Some(n)) => DeviceEvent::Recorded(
                        n.payload()
                            .split(',')
                            .filter_map(|m| m.parse::<Mac>().ok())
                            .collect(),
                    ),
                    // The connection broke (sqlx reconnects and listens again): whatever
                    // was notified meanwhile is lost.
                    Ok(None) => DeviceEvent::Missed,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the database's device events; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        DeviceEvent::Missed
                    }
                };
                if tx.send(event).await.is_err() {
                    // Nobody listens any more.
                    return;
                }
            }
        });
        Ok(Some(rx))
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
            .bind(common::normalize(older_than))
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
        Ok(row.map(DeviceStatus::from).unwrap_or_default())
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
        .bind(now())
        .execute(&self.pool)
        .await;
        match done {
            Ok(done) if done.rows_affected() > 0 => Ok(()),
            Ok(_) => Err(StoreError::NotFound(mac)),
            // The device was deleted between the EXISTS check and the insert.
            Err(e)
                if e.as_database_error()
                    .is_some_and(|db| db.is_foreign_key_violation()) =>
            {
                Err(StoreError::NotFound(mac))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get_local_cfg(
        &self,
        mac: Mac,
    ) -> Result<Option<(Vec<u8>, OffsetDateTime)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT body, received_at FROM local_cfg WHERE mac = $1")
                .bind(mac.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn get_settings(&self) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT document FROM settings WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_settings(&self, v: &serde_json::Value) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (id, document, version, updated_at) VALUES (1, $1, 1, $2) \
             ON CONFLICT (id) DO UPDATE SET document = excluded.document, \
             version = settings.version + 1, updated_at = excluded.updated_at",
        )
        .bind(v)
        .bind(now())
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
        // A concurrent insert of the same key makes ON CONFLICT wait for it to commit; the
        // SELECT (a new statement, a new snapshot under READ COMMITTED) then sees the winner.
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

    async fn put_pbx_device(
        &self,
        mac: Mac,
        doc: &serde_json::Value,
        config_complete: Option<bool>,
    ) -> Result<(), StoreError> {
        sqlx::query(common::PUT_PBX_DEVICE)
            .bind(mac.to_string())
            .bind(doc)
            .bind(now())
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
            .bind(normalize(until))
            .bind(now())
            .bind(live_cutoff(now()))
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
            .bind(normalize(until))
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
            .bind(now)
            .bind(live_cutoff(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        macs.iter().map(|m| parse_mac(m)).collect()
    }

    async fn beat_instance(&self, beat: &InstanceBeat) -> Result<(), StoreError> {
        let last_beat = normalize(beat.last_beat);
        let forget =
            time::Duration::try_from(crate::INSTANCE_FORGET_AFTER).unwrap_or(time::Duration::ZERO);
        let mut tx = self.pool.begin().await?;
        sqlx::query(BEAT_INSTANCE)
            .bind(&beat.id)
            .bind(normalize(beat.started_at))
            .bind(last_beat)
            .bind(beat.address.as_deref())
            .execute(&mut *tx)
            .await?;
        sqlx::query(PRUNE_INSTANCES)
            .bind(last_beat.checked_sub(forget).unwrap_or(last_beat))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn leave_instance(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for sql in [LEAVE_LEASES, LEAVE_RPS_JOBS, LEAVE_INSTANCE] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_instances(&self) -> Result<Vec<InstanceBeat>, StoreError> {
        let rows: Vec<(String, OffsetDateTime, OffsetDateTime, Option<String>)> =
            sqlx::query_as(LIST_INSTANCES).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|(id, started_at, last_beat, address)| {
                Ok(InstanceBeat {
                    id,
                    started_at,
                    last_beat,
                    address,
                })
            })
            .collect()
    }

    async fn enqueue_rps_jobs(&self, jobs: &[NewRpsJob]) -> Result<Vec<i64>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
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
        // One statement: choosing (FOR UPDATE SKIP LOCKED) and leasing happen together.
        let rows: Vec<RpsJobRow> = sqlx::query_as(CLAIM_RPS_JOBS_PG)
            .bind(worker)
            .bind(now)
            .bind(lease_until(now, lease))
            .bind(i64::from(limit))
            .bind(live_cutoff(now))
            .fetch_all(&self.pool)
            .await?;
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
        let mut tx = self.pool.begin().await?;
        // Waits for a transaction holding the row, then re-checks the lease on its new
        // version: a worker that took the job over makes this delete nothing.
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
            .bind(normalize(next_attempt_at))
            .bind(last_error)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn retry_rps_jobs_now(&self, at: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(RETRY_RPS_JOBS_NOW)
            .bind(normalize(at))
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
            "INSERT INTO meta (key, value) VALUES ($1, ($2::BIGINT + $3::BIGINT)::TEXT) \
             ON CONFLICT (key) DO UPDATE \
             SET value = (GREATEST(meta.value::BIGINT, $2::BIGINT) + $3::BIGINT)::TEXT \
             RETURNING value::BIGINT",
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
        let (pending, due, oldest_created_at, max_attempts): (
            i64,
            i64,
            Option<OffsetDateTime>,
            i32,
        ) = sqlx::query_as(RPS_QUEUE_STATS)
            .bind(normalize(now))
            .fetch_one(&self.pool)
            .await?;
        Ok(QueueStats {
            pending: u64::try_from(pending).unwrap_or_default(),
            due: u64::try_from(due).unwrap_or_default(),
            oldest_created_at,
            max_attempts: attempts_from(i64::from(max_attempts))?,
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

        let mut tx = self.pool.begin_with(BEGIN_SNAPSHOT).await?;
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
            .bind(normalize(older_than))
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
        .bind(normalize(session.created_at))
        .bind(normalize(session.last_used))
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM ui_sessions WHERE last_used < $1")
            .bind(normalize(idle_before))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "DELETE FROM ui_sessions WHERE id_hash IN (SELECT id_hash FROM ui_sessions \
             ORDER BY last_used DESC, id_hash OFFSET $1)",
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
            OffsetDateTime,
            OffsetDateTime,
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
                    created_at: created,
                    last_used: used,
                })
            },
        )
        .transpose()
    }

    async fn touch_ui_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE ui_sessions SET last_used = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(normalize(at))
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
        crate::changes::pg_record(&self.pool, entries).await
    }

    async fn list_changes(
        &self,
        q: &crate::ChangeQuery,
    ) -> Result<Page<crate::ChangeEntry>, StoreError> {
        crate::changes::pg_list(&self.pool, q).await
    }

    async fn prune_changes(
        &self,
        older_than: OffsetDateTime,
        keep_last: u32,
    ) -> Result<u64, StoreError> {
        crate::changes::pg_prune(&self.pool, older_than, keep_last).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch statement is the single-device one with every parameter an array element.
    #[test]
    fn status_update_unnest_rewrites_every_parameter() {
        let sql = status_update_unnest();
        let set = sql
            .split_once(" FROM UNNEST(")
            .map(|(head, _)| head)
            .and_then(|head| head.split_once(" UPDATE device_status SET "))
            .map(|(_, set)| set);
        let Some(set) = set else {
            panic!("unexpected statement: {sql}");
        };
        assert!(!set.contains('$'), "a parameter left in SET: {set}");
        for n in 2..=8 {
            assert!(set.contains(&format!("v.column{n}")), "column{n} unused");
        }
        assert!(sql.ends_with("WHERE mac = v.column1 AND mac IN (SELECT mac FROM locked)"));
        assert!(sql.contains("ORDER BY mac FOR UPDATE"));
    }
}
