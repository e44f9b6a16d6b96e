//! The RPS outbox and its history: every command to Yealink's RPS is a job until it finishes,
//! then one history entry (docs/storage.md, "RPS outbox").
//!
//! Written once for both backends, except enqueueing (SQLite: one writer, AUTOINCREMENT;
//! PostgreSQL: an advisory lock and `UNNEST`) and the claiming statement (SQLite: chooses
//! under `BEGIN IMMEDIATE`; PostgreSQL: `FOR UPDATE SKIP LOCKED`).

use std::time::Duration;

use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;
use yealink::Mac;

use crate::common::{
    attempts_from, clamp_claim, clamp_limit, collect, from_micros, lease_until, live_cutoff,
    normalize, now, parse_mac, to_micros,
};
use crate::values::{Int4, JsonCol, Ts};
use crate::{HistoryQuery, NewRpsJob, Page, QueueStats, RpsHistoryEntry, RpsJob, StoreError};

#[derive(FromRow)]
struct RpsJobRow {
    id: i64,
    command: String,
    mac: Option<String>,
    payload: JsonCol,
    attempts: Int4,
    last_error: Option<String>,
    created_at: Ts,
    next_attempt_at: Ts,
}

impl TryFrom<RpsJobRow> for RpsJob {
    type Error = StoreError;

    fn try_from(r: RpsJobRow) -> Result<Self, StoreError> {
        let id = r.id;
        Ok(RpsJob {
            id,
            command: r.command,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            payload: r
                .payload
                .value(|| format!("payload of RPS job {id} is not JSON"))?,
            attempts: attempts_from(r.attempts.0)?,
            last_error: r.last_error,
            created_at: r.created_at.time()?,
            next_attempt_at: r.next_attempt_at.time()?,
        })
    }
}

#[derive(FromRow)]
struct RpsHistoryRow {
    id: i64,
    at: Ts,
    command: String,
    mac: Option<String>,
    params: JsonCol,
    outcome: String,
    answer: String,
    duration_ms: i64,
    attempts: Int4,
}

impl TryFrom<RpsHistoryRow> for RpsHistoryEntry {
    type Error = StoreError;

    fn try_from(r: RpsHistoryRow) -> Result<Self, StoreError> {
        let id = r.id;
        Ok(RpsHistoryEntry {
            id,
            at: r.at.time()?,
            command: r.command,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            params: r
                .params
                .value(|| format!("params of RPS history entry {id} are not JSON"))?,
            outcome: r.outcome,
            answer: r.answer,
            duration_ms: r.duration_ms,
            attempts: attempts_from(r.attempts.0)?,
        })
    }
}

/// A job is claimable at `$2` (now): due, not held (its lease ran out and the instance that
/// claimed it has no heartbeat newer than `$5`, see migrations/sqlite/0006_instances.sql), and
/// the oldest job of its
/// MAC. Jobs finish by being deleted, so "an older job of the MAC exists" means "an earlier
/// command for this phone has not finished" (in backoff, leased or waiting). `o.mac = j.mac`
/// is never true for NULL, so jobs without a MAC never wait for each other.
/// A job `j` a worker may take now, whoever's it is: `$now` the time, `$live` the oldest
/// heartbeat of a live instance.
macro_rules! rps_due {
    ($now:literal, $live:literal) => {
        concat!(
            "j.next_attempt_at <= ",
            $now,
            " AND (j.leased_until IS NULL OR (j.leased_until <= ",
            $now,
            " AND NOT EXISTS (SELECT 1 FROM instances i \
                 WHERE i.id = j.leased_by AND i.last_beat > ",
            $live,
            "))) \
             AND NOT EXISTS (SELECT 1 FROM rps_jobs o WHERE o.mac = j.mac AND o.id < j.id)"
        )
    };
}

macro_rules! rps_claimable {
    () => {
        concat!(rps_due!("$2", "$5"), " AND j.tenant_id = $6")
    };
}

/// `$1` now, `$2` the oldest heartbeat of a live instance: the tenants with a job to send.
const TENANTS_WITH_DUE_RPS_JOBS: &str = concat!(
    "SELECT DISTINCT j.tenant_id FROM rps_jobs j WHERE ",
    rps_due!("$1", "$2"),
    " ORDER BY j.tenant_id"
);

/// SQLite's claim: `$1` worker, `$2` now, `$3` lease end, `$4` limit, `$5` the oldest
/// heartbeat of a live instance, `$6` the tenant. Runs inside BEGIN
/// IMMEDIATE: the only writer, so nothing changes between choosing the rows and leasing them.
const CLAIM_RPS_JOBS_SQLITE: &str = concat!(
    "UPDATE rps_jobs SET leased_by = $1, leased_until = $3 WHERE id IN (\
     SELECT j.id FROM rps_jobs j WHERE ",
    rps_claimable!(),
    " ORDER BY j.id LIMIT $4) RETURNING ",
    rps_job_columns!()
);

/// PostgreSQL's claim, same parameters. `FOR UPDATE OF j SKIP LOCKED` locks the chosen rows
/// and passes over rows another transaction holds (a concurrent claim, complete or retry);
/// a row that a concurrent claim leased and committed meanwhile is re-checked on its new
/// version and dropped (its lease is live). MATERIALIZED: the CTE runs once, so the rows it
/// locked are exactly the rows updated. `= ANY (ARRAY(…))` lets the update find them by
/// primary key (`IN (SELECT …)` planned a hash join over the whole table).
const CLAIM_RPS_JOBS_PG: &str = concat!(
    "WITH picked AS MATERIALIZED (SELECT j.id FROM rps_jobs j WHERE ",
    rps_claimable!(),
    " ORDER BY j.id LIMIT $4 FOR UPDATE OF j SKIP LOCKED) \
     UPDATE rps_jobs SET leased_by = $1, leased_until = $3 \
     WHERE id = ANY (ARRAY(SELECT id FROM picked)) RETURNING ",
    rps_job_columns!()
);

/// `$1` id, `$2` worker. Only the holder of the lease may finish a job (an expired lease
/// that nobody took over still counts: the work was done).
const DELETE_LEASED_RPS_JOB: &str =
    "DELETE FROM rps_jobs WHERE id = $1 AND leased_by = $2 AND tenant_id = $3";

/// `$1` id, `$2` worker, `$3` next attempt, `$4` error.
const RETRY_RPS_JOB: &str = "UPDATE rps_jobs SET attempts = attempts + 1, \
     last_error = $4, next_attempt_at = $3, leased_by = NULL, leased_until = NULL \
     WHERE id = $1 AND leased_by = $2 AND tenant_id = $5";

const RETRY_RPS_JOBS_NOW: &str =
    "UPDATE rps_jobs SET next_attempt_at = $1 WHERE next_attempt_at > $1 AND tenant_id = $2";

const PENDING_RPS_JOBS: &str = concat!(
    "SELECT ",
    rps_job_columns!(),
    " FROM rps_jobs WHERE tenant_id = $2 ORDER BY id LIMIT $1"
);

const PENDING_RPS_JOBS_OF_MAC: &str = concat!(
    "SELECT ",
    rps_job_columns!(),
    " FROM rps_jobs WHERE mac = $1 AND tenant_id = $3 ORDER BY id LIMIT $2"
);

/// `$1` now: pending, due (waiting for a worker), oldest, most attempts.
const RPS_QUEUE_STATS: &str = "SELECT COUNT(*), \
     COUNT(*) FILTER (WHERE next_attempt_at <= $1 \
         AND (leased_until IS NULL OR leased_until <= $1)), \
     MIN(created_at), COALESCE(MAX(attempts), 0) FROM rps_jobs WHERE tenant_id = $2";

const INSERT_RPS_HISTORY: &str = "INSERT INTO rps_history (at, command, mac, params, \
     outcome, answer, duration_ms, attempts, tenant_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     RETURNING id";

/// Deletes tenant `$3`'s entries older than `$1` except its newest `$2`.
const PRUNE_RPS_HISTORY: &str = "DELETE FROM rps_history WHERE tenant_id = $3 AND at < $1 \
     AND id NOT IN (SELECT id FROM rps_history WHERE tenant_id = $3 \
     ORDER BY at DESC, id DESC LIMIT $2)";

/// `WHERE` and `LIMIT … OFFSET …` of a history page: static fragments only. Binds, in order:
/// the MAC if filtered, the command if filtered, the tenant, then limit and offset.
fn history_filter(q: &HistoryQuery) -> (&'static str, &'static str) {
    match (q.mac.is_some(), q.command.is_some()) {
        (false, false) => (" WHERE tenant_id = $1", " LIMIT $2 OFFSET $3"),
        (true, false) => (" WHERE mac = $1 AND tenant_id = $2", " LIMIT $3 OFFSET $4"),
        (false, true) => (
            " WHERE command = $1 AND tenant_id = $2",
            " LIMIT $3 OFFSET $4",
        ),
        (true, true) => (
            " WHERE mac = $1 AND command = $2 AND tenant_id = $3",
            " LIMIT $4 OFFSET $5",
        ),
    }
}

/// Each MAC's newest REDIRECT DEVICE entry, in one grouped statement (the Devices list's RPS
/// column reads all of them at once instead of one query per row).
const LATEST_RPS_REDIRECTS: &str = concat!(
    "SELECT ",
    rps_history_columns!(),
    " FROM rps_history WHERE id IN (SELECT MAX(id) FROM rps_history \
     WHERE command = 'REDIRECT_DEVICE' AND mac IS NOT NULL AND tenant_id = $1 GROUP BY mac)"
);

/// MACs with an unfinished job.
const QUEUED_RPS_MACS: &str =
    "SELECT DISTINCT mac FROM rps_jobs WHERE mac IS NOT NULL AND tenant_id = $1";

/// `WHERE` and `LIMIT … OFFSET …` of a history page searched by part of a MAC. Binds: the
/// `LIKE` pattern, the command if filtered, the tenant, then limit and offset.
fn history_search_filter(command: bool) -> (&'static str, &'static str) {
    if command {
        (
            " WHERE mac LIKE $1 AND command = $2 AND tenant_id = $3",
            " LIMIT $4 OFFSET $5",
        )
    } else {
        (
            " WHERE mac LIKE $1 AND tenant_id = $2",
            " LIMIT $3 OFFSET $4",
        )
    }
}

/// `ORDER BY` of the history: newest first, insertion order among equal times.
const HISTORY_ORDER: &str = " ORDER BY at DESC, id DESC";

for_each_backend!(
    {
        /// Appends a history entry inside the caller's transaction (or on its own).
        async fn insert_history(
            conn: &mut Conn,
            e: &RpsHistoryEntry,
            tenant: i64,
        ) -> Result<i64, StoreError> {
            Ok(sqlx::query_scalar(INSERT_RPS_HISTORY)
                .bind(Ts::from(e.at))
                .bind(&e.command)
                .bind(e.mac.map(|m| m.to_string()))
                .bind(&e.params)
                .bind(&e.outcome)
                .bind(&e.answer)
                .bind(e.duration_ms)
                .bind(Int4::from(e.attempts))
                .bind(tenant)
                .fetch_one(conn)
                .await?)
        }

        pub(crate) async fn enqueue_rps_jobs(
            db: &Db,
            jobs: &[NewRpsJob],
        ) -> Result<Vec<i64>, StoreError> {
            if jobs.is_empty() {
                return Ok(Vec::new());
            }
            let mut tx = db.begin_write().await?;
            let ids = insert_rps_jobs(&mut tx, jobs, db.tenant()).await?;
            tx.commit().await?;
            Ok(ids)
        }

        /// Whichever tenant this handle is scoped to.
        pub(crate) async fn tenants_with_due_rps_jobs(
            db: &Db,
            now: OffsetDateTime,
        ) -> Result<Vec<crate::TenantId>, StoreError> {
            let now = normalize(now);
            let ids: Vec<i64> = sqlx::query_scalar(TENANTS_WITH_DUE_RPS_JOBS)
                .bind(Ts::from(now))
                .bind(Ts::from(live_cutoff(now)))
                .fetch_all(db.pool())
                .await?;
            Ok(ids.into_iter().map(crate::TenantId::new).collect())
        }

        pub(crate) async fn claim_rps_jobs(
            db: &Db,
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
            // SQLite: BEGIN IMMEDIATE holds the write lock from choosing the jobs to leasing
            // them, so two instances cannot choose the same job. PostgreSQL: the statement
            // itself skips the rows another claim holds.
            let mut tx = db.begin_write().await?;
            let rows: Vec<RpsJobRow> = sqlx::query_as(CLAIM_RPS_JOBS)
                .bind(worker)
                .bind(Ts::from(now))
                .bind(Ts::from(lease_until(now, lease)))
                .bind(i64::from(limit))
                .bind(Ts::from(live_cutoff(now)))
                .bind(db.tenant())
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            let mut jobs: Vec<RpsJob> = collect(rows)?;
            jobs.sort_unstable_by_key(|j| j.id);
            Ok(jobs)
        }

        pub(crate) async fn complete_rps_job(
            db: &Db,
            id: i64,
            worker: &str,
            entry: &RpsHistoryEntry,
        ) -> Result<bool, StoreError> {
            let mut tx = db.begin_write().await?;
            // PostgreSQL waits for a transaction holding the row, then re-checks the lease on
            // its new version: a worker that took the job over makes this delete nothing.
            let deleted = sqlx::query(DELETE_LEASED_RPS_JOB)
                .bind(id)
                .bind(worker)
                .bind(db.tenant())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_history(&mut tx, entry, db.tenant()).await?;
            tx.commit().await?;
            Ok(true)
        }

        pub(crate) async fn retry_rps_job(
            db: &Db,
            id: i64,
            worker: &str,
            next_attempt_at: OffsetDateTime,
            last_error: &str,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(RETRY_RPS_JOB)
                .bind(id)
                .bind(worker)
                .bind(Ts::from(next_attempt_at))
                .bind(last_error)
                .bind(db.tenant())
                .execute(db.pool())
                .await?;
            Ok(done.rows_affected() > 0)
        }

        pub(crate) async fn retry_rps_jobs_now(
            db: &Db,
            at: OffsetDateTime,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(RETRY_RPS_JOBS_NOW)
                .bind(Ts::from(at))
                .bind(db.tenant())
                .execute(db.pool())
                .await?;
            Ok(done.rows_affected())
        }

        pub(crate) async fn reserve_rps_slot(
            db: &Db,
            now: OffsetDateTime,
            interval: Duration,
        ) -> Result<OffsetDateTime, StoreError> {
            // The slot is kept as text microseconds in `meta`, the same on both backends.
            let step = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX / 2);
            let end: i64 = sqlx::query_scalar(Db::RESERVE_RPS_SLOT)
                .bind(crate::RPS_RATE_META)
                .bind(to_micros(now))
                .bind(step)
                .fetch_one(db.pool())
                .await?;
            from_micros(end.saturating_sub(step))
        }

        pub(crate) async fn pending_rps_jobs(
            db: &Db,
            mac: Option<Mac>,
            limit: u32,
        ) -> Result<Vec<RpsJob>, StoreError> {
            let limit = i64::from(clamp_limit(limit));
            let rows: Vec<RpsJobRow> = match mac {
                Some(mac) => {
                    sqlx::query_as(PENDING_RPS_JOBS_OF_MAC)
                        .bind(mac.to_string())
                        .bind(limit)
                        .bind(db.tenant())
                        .fetch_all(db.pool())
                        .await?
                }
                None => {
                    sqlx::query_as(PENDING_RPS_JOBS)
                        .bind(limit)
                        .bind(db.tenant())
                        .fetch_all(db.pool())
                        .await?
                }
            };
            collect(rows)
        }

        pub(crate) async fn rps_queue_stats(
            db: &Db,
            now: OffsetDateTime,
        ) -> Result<QueueStats, StoreError> {
            let (pending, due, oldest, max_attempts): (i64, i64, Option<Ts>, Int4) =
                sqlx::query_as(RPS_QUEUE_STATS)
                    .bind(Ts::from(now))
                    .bind(db.tenant())
                    .fetch_one(db.pool())
                    .await?;
            Ok(QueueStats {
                pending: u64::try_from(pending).unwrap_or_default(),
                due: u64::try_from(due).unwrap_or_default(),
                oldest_created_at: Ts::opt_time(oldest)?,
                max_attempts: attempts_from(max_attempts.0)?,
            })
        }

        pub(crate) async fn record_rps_history(
            db: &Db,
            entry: &RpsHistoryEntry,
        ) -> Result<i64, StoreError> {
            let mut conn = db.pool().acquire().await?;
            insert_history(&mut conn, entry, db.tenant()).await
        }

        pub(crate) async fn list_rps_history(
            db: &Db,
            q: &HistoryQuery,
        ) -> Result<Page<RpsHistoryEntry>, StoreError> {
            let (filter, limit_offset) = history_filter(q);
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
            let count = count.bind(db.tenant());
            let list = list
                .bind(db.tenant())
                .bind(i64::from(clamp_limit(q.limit)))
                .bind(i64::from(q.offset));

            crate::pages::fetch_page(db, list, count).await
        }

        pub(crate) async fn latest_rps_redirects(
            db: &Db,
        ) -> Result<Vec<RpsHistoryEntry>, StoreError> {
            let rows: Vec<RpsHistoryRow> = sqlx::query_as(LATEST_RPS_REDIRECTS)
                .bind(db.tenant())
                .fetch_all(db.pool())
                .await?;
            collect(rows)
        }

        pub(crate) async fn queued_rps_macs(db: &Db) -> Result<Vec<Mac>, StoreError> {
            let rows: Vec<String> = sqlx::query_scalar(QUEUED_RPS_MACS)
                .bind(db.tenant())
                .fetch_all(db.pool())
                .await?;
            rows.iter().map(|m| parse_mac(m)).collect()
        }

        pub(crate) async fn search_rps_history(
            db: &Db,
            mac_part: &str,
            q: &HistoryQuery,
        ) -> Result<Page<RpsHistoryEntry>, StoreError> {
            // MACs are stored as 12 lower-case hex digits: the part is reduced to those, so
            // it carries no `LIKE` wildcard.
            let part: String = mac_part
                .chars()
                .filter(char::is_ascii_hexdigit)
                .map(|c| c.to_ascii_lowercase())
                .collect();
            let pattern = format!("%{part}%");
            let (filter, limit_offset) = history_search_filter(q.command.is_some());
            let list_sql = format!(
                concat!("SELECT ", rps_history_columns!(), " FROM rps_history{}{}{}"),
                filter, HISTORY_ORDER, limit_offset
            );
            let count_sql = format!("SELECT COUNT(*) FROM rps_history{filter}");
            let mut list =
                sqlx::query_as::<_, RpsHistoryRow>(AssertSqlSafe(list_sql)).bind(pattern.clone());
            let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql)).bind(pattern);
            if let Some(command) = &q.command {
                list = list.bind(command.clone());
                count = count.bind(command.clone());
            }
            let count = count.bind(db.tenant());
            let list = list
                .bind(db.tenant())
                .bind(i64::from(clamp_limit(q.limit)))
                .bind(i64::from(q.offset));
            crate::pages::fetch_page(db, list, count).await
        }

        pub(crate) async fn prune_rps_history(
            db: &Db,
            older_than: OffsetDateTime,
            keep_last: u32,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(PRUNE_RPS_HISTORY)
                .bind(Ts::from(older_than))
                .bind(i64::from(keep_last))
                .bind(db.tenant())
                .execute(db.pool())
                .await?;
            Ok(done.rows_affected())
        }
    },
    sqlite = {
        /// Inserts RPS jobs inside the caller's write transaction; their ids, ascending in
        /// slice order. The one writer: AUTOINCREMENT ids grow in commit order across all
        /// connections.
        pub(crate) async fn insert_rps_jobs(
            conn: &mut Conn,
            jobs: &[NewRpsJob],
            tenant: i64,
        ) -> Result<Vec<i64>, StoreError> {
            let at = Ts::from(now());
            let mut ids = Vec::with_capacity(jobs.len());
            for chunk in jobs.chunks(crate::common::BULK_CHUNK) {
                let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO rps_jobs \
                     (command, mac, payload, created_at, next_attempt_at, tenant_id) ",
                );
                insert.push_values(chunk, |mut row, j| {
                    row.push_bind(j.command.clone())
                        .push_bind(j.mac.map(|m| m.to_string()))
                        .push_bind(j.payload.clone())
                        .push_bind(at)
                        .push_bind(at)
                        .push_bind(tenant);
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

        /// The claim; runs inside BEGIN IMMEDIATE (see `claim_rps_jobs`).
        const CLAIM_RPS_JOBS: &str = CLAIM_RPS_JOBS_SQLITE;
    },
    postgres = {
        /// Inserts RPS jobs inside the caller's transaction (taking the enqueue lock, so ids
        /// ascend in commit order); their ids, ascending in slice order.
        pub(crate) async fn insert_rps_jobs(
            conn: &mut Conn,
            jobs: &[NewRpsJob],
            tenant: i64,
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
                .bind(tenant)
                .fetch_all(&mut *conn)
                .await?;
            // RETURNING's order is unspecified; the ids were drawn in slice order.
            ids.sort_unstable();
            Ok(ids)
        }

        /// The claim: one statement, choosing (FOR UPDATE SKIP LOCKED) and leasing together.
        const CLAIM_RPS_JOBS: &str = CLAIM_RPS_JOBS_PG;
    },
);

/// Serialises PostgreSQL's enqueuers until commit, so job ids are drawn in commit order: a
/// claimer that sees a job also sees every older job (see docs/storage.md). Keyed on the
/// table's oid, so each schema has its own lock (the tests run one schema per test on one
/// server).
const LOCK_RPS_ENQUEUE: &str = "SELECT pg_advisory_xact_lock('rps_jobs'::regclass::oid::bigint)";

/// PostgreSQL: the jobs as column arrays, inserted in slice order (`ORDER BY` the
/// ordinality), so their identity ids ascend in slice order. `$4` is the creation time and
/// first due time.
const INSERT_RPS_JOBS_UNNEST: &str = "INSERT INTO rps_jobs (command, mac, payload, created_at, \
    next_attempt_at, tenant_id) \
    SELECT t.command, t.mac, t.payload::jsonb, $4, $4, $5 \
    FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(command, mac, payload, n) \
    ORDER BY t.n RETURNING id";
