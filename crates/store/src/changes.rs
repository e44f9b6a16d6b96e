//! The audit of changes ("who did what"): the records and both backends' SQL. The trait
//! methods in `sqlite.rs`/`postgres.rs` only call these, so the table lives in one place.

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};
use time::OffsetDateTime;
use yealink::Mac;

use crate::common::{clamp_limit, from_micros, normalize, parse_mac, to_micros};
use crate::{Page, StoreError};

/// One change made by someone, as recorded and shown. The store treats `actor` and `action`
/// as opaque; the caller must not put secret values in any field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// Set by the store; ignored on insert.
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who made the change (the server's `audit::Actor`, as JSON).
    pub actor: serde_json::Value,
    /// What was done, e.g. `"device_edited"`.
    pub action: String,
    /// The device it concerns, if any.
    pub mac: Option<Mac>,
    /// Short text for people: changed field or setting names, never their values.
    pub summary: String,
}

/// Filter and page of `list_changes` (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangeQuery {
    pub mac: Option<Mac>,
    pub offset: u32,
    /// Clamped to 1..=1000; 0 means 50.
    pub limit: u32,
}

const INSERT: &str =
    "INSERT INTO changes (at, actor, action, mac, summary) VALUES ($1, $2, $3, $4, $5)";
const ORDER: &str = " ORDER BY at DESC, id DESC";
/// Deletes entries older than `$1` except the newest `$2` overall.
const PRUNE: &str = "DELETE FROM changes WHERE at < $1 AND id NOT IN (\
     SELECT id FROM changes ORDER BY at DESC, id DESC LIMIT $2)";

/// `WHERE` and `LIMIT … OFFSET …`: static fragments only; binds the MAC if filtered, then
/// limit and offset.
fn filter(q: &ChangeQuery) -> (&'static str, &'static str) {
    if q.mac.is_some() {
        (" WHERE mac = $1", " LIMIT $2 OFFSET $3")
    } else {
        ("", " LIMIT $1 OFFSET $2")
    }
}

fn sql(q: &ChangeQuery) -> (String, String) {
    let (filter, limit_offset) = filter(q);
    (
        format!(
            "SELECT id, at, actor, action, mac, summary FROM changes{filter}{ORDER}{limit_offset}"
        ),
        format!("SELECT COUNT(*) FROM changes{filter}"),
    )
}

fn json_text(v: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("change actor: {e}")))
}

// ---- SQLite ---------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct SqliteRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    mac: Option<String>,
    summary: String,
}

impl TryFrom<SqliteRow> for ChangeEntry {
    type Error = StoreError;

    fn try_from(r: SqliteRow) -> Result<Self, StoreError> {
        let actor = serde_json::from_str(&r.actor)
            .map_err(|_| StoreError::Corrupt(format!("actor of change {} is not JSON", r.id)))?;
        Ok(ChangeEntry {
            id: r.id,
            at: from_micros(r.at)?,
            actor,
            action: r.action,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            summary: r.summary,
        })
    }
}

/// All entries in one transaction (a CSV import records one per device).
pub(crate) async fn sqlite_record(
    pool: &SqlitePool,
    entries: &[ChangeEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    for e in entries {
        sqlx::query(INSERT)
            .bind(to_micros(normalize(e.at)))
            .bind(json_text(&e.actor)?)
            .bind(&e.action)
            .bind(e.mac.map(|m| m.to_string()))
            .bind(&e.summary)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn sqlite_list(
    pool: &SqlitePool,
    q: &ChangeQuery,
) -> Result<Page<ChangeEntry>, StoreError> {
    let (list_sql, count_sql) = sql(q);
    // Only static fragments are spliced in; the MAC is bound.
    let mut list = sqlx::query_as::<_, SqliteRow>(AssertSqlSafe(list_sql));
    let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
    if let Some(mac) = q.mac {
        list = list.bind(mac.to_string());
        count = count.bind(mac.to_string());
    }
    let list = list
        .bind(i64::from(clamp_limit(q.limit)))
        .bind(i64::from(q.offset));
    let mut tx = pool.begin().await?;
    let rows = list.fetch_all(&mut *tx).await?;
    let total = count.fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(ChangeEntry::try_from)
            .collect::<Result<_, _>>()?,
        total: u64::try_from(total).unwrap_or_default(),
    })
}

pub(crate) async fn sqlite_prune(
    pool: &SqlitePool,
    older_than: OffsetDateTime,
    keep_last: u32,
) -> Result<u64, StoreError> {
    let done = sqlx::query(PRUNE)
        .bind(to_micros(normalize(older_than)))
        .bind(i64::from(keep_last))
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

// ---- PostgreSQL -----------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct PgRow {
    id: i64,
    at: OffsetDateTime,
    actor: serde_json::Value,
    action: String,
    mac: Option<String>,
    summary: String,
}

impl TryFrom<PgRow> for ChangeEntry {
    type Error = StoreError;

    fn try_from(r: PgRow) -> Result<Self, StoreError> {
        Ok(ChangeEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            summary: r.summary,
        })
    }
}

pub(crate) async fn pg_record(pool: &PgPool, entries: &[ChangeEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for e in entries {
        sqlx::query(INSERT)
            .bind(normalize(e.at))
            .bind(&e.actor)
            .bind(&e.action)
            .bind(e.mac.map(|m| m.to_string()))
            .bind(&e.summary)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn pg_list(
    pool: &PgPool,
    q: &ChangeQuery,
) -> Result<Page<ChangeEntry>, StoreError> {
    let (list_sql, count_sql) = sql(q);
    let mut list = sqlx::query_as::<_, PgRow>(AssertSqlSafe(list_sql));
    let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
    if let Some(mac) = q.mac {
        list = list.bind(mac.to_string());
        count = count.bind(mac.to_string());
    }
    let list = list
        .bind(i64::from(clamp_limit(q.limit)))
        .bind(i64::from(q.offset));
    // The page and the total from one snapshot.
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let rows = list.fetch_all(&mut *tx).await?;
    let total = count.fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(ChangeEntry::try_from)
            .collect::<Result<_, _>>()?,
        total: u64::try_from(total).unwrap_or_default(),
    })
}

pub(crate) async fn pg_prune(
    pool: &PgPool,
    older_than: OffsetDateTime,
    keep_last: u32,
) -> Result<u64, StoreError> {
    let done = sqlx::query(PRUNE)
        .bind(normalize(older_than))
        .bind(i64::from(keep_last))
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
