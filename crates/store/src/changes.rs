//! The audit of changes ("who did what"): the records and their SQL, once for both backends.

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;
use yealink::Mac;

use crate::common::{clamp_limit, parse_mac};
use crate::values::{JsonCol, Ts};
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

const INSERT: &str = "INSERT INTO changes (at, actor, action, mac, summary, tenant_id) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const ORDER: &str = " ORDER BY at DESC, id DESC";
/// Deletes tenant `$3`'s entries older than `$1` except its newest `$2`.
const PRUNE: &str = "DELETE FROM changes WHERE tenant_id = $3 AND at < $1 AND id NOT IN (\
     SELECT id FROM changes WHERE tenant_id = $3 ORDER BY at DESC, id DESC LIMIT $2)";

/// `WHERE` and `LIMIT … OFFSET …`: static fragments only; binds the MAC if filtered, then
/// the tenant, limit and offset.
fn filter(q: &ChangeQuery) -> (&'static str, &'static str) {
    if q.mac.is_some() {
        (" WHERE mac = $1 AND tenant_id = $2", " LIMIT $3 OFFSET $4")
    } else {
        (" WHERE tenant_id = $1", " LIMIT $2 OFFSET $3")
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

#[derive(FromRow)]
struct ChangeRow {
    id: i64,
    at: Ts,
    actor: JsonCol,
    action: String,
    mac: Option<String>,
    summary: String,
}

impl TryFrom<ChangeRow> for ChangeEntry {
    type Error = StoreError;

    fn try_from(r: ChangeRow) -> Result<Self, StoreError> {
        let id = r.id;
        Ok(ChangeEntry {
            id,
            at: r.at.time()?,
            actor: r
                .actor
                .value(|| format!("actor of change {id} is not JSON"))?,
            action: r.action,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            summary: r.summary,
        })
    }
}

for_each_backend!({
    /// All entries in one transaction (a CSV import records one per device).
    pub(crate) async fn record_changes(db: &Db, entries: &[ChangeEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = db.begin_write().await?;
        for e in entries {
            sqlx::query(INSERT)
                .bind(Ts::from(e.at))
                .bind(&e.actor)
                .bind(&e.action)
                .bind(e.mac.map(|m| m.to_string()))
                .bind(&e.summary)
                .bind(db.tenant())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn list_changes(
        db: &Db,
        q: &ChangeQuery,
    ) -> Result<Page<ChangeEntry>, StoreError> {
        let (list_sql, count_sql) = sql(q);
        // Only static fragments are spliced in; the MAC is bound.
        let mut list = sqlx::query_as::<_, ChangeRow>(AssertSqlSafe(list_sql));
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        if let Some(mac) = q.mac {
            list = list.bind(mac.to_string());
            count = count.bind(mac.to_string());
        }
        let count = count.bind(db.tenant());
        let list = list
            .bind(db.tenant())
            .bind(i64::from(clamp_limit(q.limit)))
            .bind(i64::from(q.offset));
        crate::pages::fetch_page(db, list, count).await
    }

    pub(crate) async fn prune_changes(
        db: &Db,
        older_than: OffsetDateTime,
        keep_last: u32,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE)
            .bind(Ts::from(older_than))
            .bind(i64::from(keep_last))
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        Ok(done.rows_affected())
    }
});
