//! What the phones did: the request log, each device's status, and the phone's uploaded
//! `<mac>-local.cfg`.
//!
//! Written once for both backends, except recording a batch (SQLite: multi-row `VALUES`;
//! PostgreSQL: column arrays, `UNNEST`, and a `NOTIFY` for the other instances' live pages).

use sqlx::FromRow;
use time::OffsetDateTime;
use yealink::Mac;

use crate::common::{self, clamp_limit, collect, now, parse_mac};
use crate::devices::StatusRow;
use crate::values::{Int4, Ts};
use crate::{DeviceStatus, PhoneRequest, StoreError};

#[derive(FromRow)]
struct RequestRow {
    at: Ts,
    mac: Option<String>,
    method: String,
    file: String,
    status: Int4,
    outcome: String,
    source_ip: String,
    user_agent: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    mac_cfg_served: bool,
    request_count: Int4,
}

impl TryFrom<RequestRow> for PhoneRequest {
    type Error = StoreError;

    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        let Int4(status) = r.status;
        let Int4(count) = r.request_count;
        Ok(PhoneRequest {
            at: r.at.time()?,
            mac: r.mac.as_deref().map(parse_mac).transpose()?,
            method: r.method,
            file: r.file,
            status: u16::try_from(status)
                .map_err(|_| StoreError::Corrupt(format!("HTTP status {status} out of range")))?,
            outcome: r.outcome,
            source_ip: r.source_ip,
            user_agent: r.user_agent,
            model: r.model,
            firmware: r.firmware,
            mac_cfg_served: r.mac_cfg_served,
            count: u32::try_from(count)
                .map_err(|_| StoreError::Corrupt(format!("request count {count} out of range")))?,
        })
    }
}

/// `$1` mac, `$2` newest request time, `$3` ip, `$4` user agent, `$5` model, `$6` firmware,
/// `$7`/`$8` first/last time the MAC .cfg was served in the batch (NULL if not).
/// In an UPDATE every expression sees the old row, so `last_request_at` below is the stored one.
/// Both backends apply its `SET` to many rows at once (see `status_update_set`).
const STATUS_UPDATE_SQL: &str = "UPDATE device_status SET \
    last_request_at = CASE WHEN last_request_at IS NULL OR last_request_at <= $2 \
        THEN $2 ELSE last_request_at END, \
    last_ip = CASE WHEN last_request_at IS NULL OR last_request_at <= $2 \
        THEN $3 ELSE last_ip END, \
    last_user_agent = CASE WHEN $4 IS NOT NULL AND (last_request_at IS NULL OR last_request_at <= $2) \
        THEN $4 ELSE last_user_agent END, \
    model_seen = CASE WHEN $5 IS NOT NULL AND (last_request_at IS NULL OR last_request_at <= $2) \
        THEN $5 ELSE model_seen END, \
    firmware_seen = CASE WHEN $6 IS NOT NULL AND (last_request_at IS NULL OR last_request_at <= $2) \
        THEN $6 ELSE firmware_seen END, \
    provisioned_at = CASE WHEN $7 IS NOT NULL AND (provisioned_at IS NULL OR provisioned_at > $7) \
        THEN $7 ELSE provisioned_at END, \
    last_config_request = CASE WHEN $8 IS NOT NULL \
        AND (last_config_request IS NULL OR last_config_request < $8) \
        THEN $8 ELSE last_config_request END \
    WHERE mac = $1";

/// [`STATUS_UPDATE_SQL`] up to its `WHERE`, with `$n` read from the row `v` of many devices'
/// values as `v.column<n>` (SQLite's names for the columns of a `VALUES` list; PostgreSQL's
/// `UNNEST` is aliased to the same names, which cannot clash with the status columns).
fn status_update_set() -> String {
    let Some((set, _)) = STATUS_UPDATE_SQL.split_once(" WHERE mac = $1") else {
        // A constant: the test below keeps this branch unreachable.
        return String::new();
    };
    // Descending, so `$1` never rewrites the start of a longer number (there is none today).
    let mut set = set.to_owned();
    for n in (1..=8).rev() {
        set = set.replace(&format!("${n}"), &format!("v.column{n}"));
    }
    set
}

/// Deletes rows of tenant `$3` older than `$1` unless they are among the newest `$2` of their
/// MAC.
const PRUNE_SQL: &str = "DELETE FROM phone_requests WHERE tenant_id = $3 AND at < $1 \
    AND (mac IS NULL OR id NOT IN ( \
    SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY mac ORDER BY at DESC, id DESC) AS rn \
        FROM phone_requests WHERE mac IS NOT NULL AND tenant_id = $3) ranked \
    WHERE rn <= $2))";

/// Deletes tenant `$2`'s anonymous rows (refused requests, no MAC) beyond the newest `$1`.
const PRUNE_ANONYMOUS_SQL: &str = "DELETE FROM phone_requests WHERE mac IS NULL \
    AND tenant_id = $2 AND id NOT IN ( \
    SELECT id FROM phone_requests WHERE mac IS NULL AND tenant_id = $2 \
    ORDER BY at DESC, id DESC LIMIT $1)";

for_each_backend!(
    {
        pub(crate) async fn list_phone_requests(
            db: &Db,
            mac: Option<Mac>,
            limit: u32,
        ) -> Result<Vec<PhoneRequest>, StoreError> {
            let limit = i64::from(clamp_limit(limit));
            let rows: Vec<RequestRow> = match mac {
                Some(mac) => {
                    sqlx::query_as(concat!(
                        "SELECT ",
                        request_columns!(),
                        " FROM phone_requests WHERE mac = $1 AND tenant_id = $3 \
                         ORDER BY at DESC, id DESC LIMIT $2"
                    ))
                    .bind(mac.to_string())
                    .bind(limit)
                    .bind(db.tenant())
                    .fetch_all(db.pool())
                    .await?
                }
                None => sqlx::query_as(concat!(
                    "SELECT ",
                    request_columns!(),
                    " FROM phone_requests WHERE tenant_id = $2 ORDER BY at DESC, id DESC LIMIT $1"
                ))
                .bind(limit)
                .bind(db.tenant())
                .fetch_all(db.pool())
                .await?,
            };
            collect(rows)
        }

        pub(crate) async fn prune_phone_requests(
            db: &Db,
            older_than: OffsetDateTime,
            keep_per_device: u32,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(PRUNE_SQL)
                .bind(Ts::from(older_than))
                .bind(i64::from(keep_per_device))
                .bind(db.tenant())
                .execute(db.pool())
                .await?;
            Ok(done.rows_affected())
        }

        pub(crate) async fn prune_anonymous_phone_requests(
            db: &Db,
            keep: u32,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(PRUNE_ANONYMOUS_SQL)
                .bind(i64::from(keep))
                .bind(db.tenant())
                .execute(db.pool())
                .await?;
            Ok(done.rows_affected())
        }

        pub(crate) async fn get_status(db: &Db, mac: Mac) -> Result<DeviceStatus, StoreError> {
            const SQL: &str = concat!(
                "SELECT ",
                status_columns!(),
                " FROM device_status s JOIN devices d ON d.mac = s.mac \
                 WHERE s.mac = $1 AND d.tenant_id = $2"
            );
            let row: Option<StatusRow> = sqlx::query_as(SQL)
                .bind(mac.to_string())
                .bind(db.tenant())
                .fetch_optional(db.pool())
                .await?;
            row.map(DeviceStatus::try_from)
                .transpose()
                .map(Option::unwrap_or_default)
        }

        pub(crate) async fn put_local_cfg(
            db: &Db,
            mac: Mac,
            body: &[u8],
        ) -> Result<(), StoreError> {
            let done = sqlx::query(
                "INSERT INTO local_cfg (mac, body, received_at) \
                 SELECT $1, $2, $3 \
                 WHERE EXISTS (SELECT 1 FROM devices WHERE mac = $1 AND tenant_id = $4) \
                 ON CONFLICT (mac) DO UPDATE SET body = excluded.body, \
                 received_at = excluded.received_at",
            )
            .bind(mac.to_string())
            .bind(body)
            .bind(Ts::from(now()))
            .bind(db.tenant())
            .execute(db.pool())
            .await;
            match done {
                Ok(done) if done.rows_affected() > 0 => Ok(()),
                Ok(_) => Err(StoreError::NotFound(mac)),
                // PostgreSQL: the device was deleted between the EXISTS check and the insert.
                // (SQLite's one writer runs the statement alone.)
                Err(e)
                    if e.as_database_error()
                        .is_some_and(|db| db.is_foreign_key_violation()) =>
                {
                    Err(StoreError::NotFound(mac))
                }
                Err(e) => Err(e.into()),
            }
        }

        pub(crate) async fn get_local_cfg(
            db: &Db,
            mac: Mac,
        ) -> Result<Option<(Vec<u8>, OffsetDateTime)>, StoreError> {
            let row: Option<(Vec<u8>, Ts)> = sqlx::query_as(
                "SELECT l.body, l.received_at FROM local_cfg l \
                     JOIN devices d ON d.mac = l.mac WHERE l.mac = $1 AND d.tenant_id = $2",
            )
            .bind(mac.to_string())
            .bind(db.tenant())
            .fetch_optional(db.pool())
            .await?;
            row.map(|(body, at)| Ok((body, at.time()?))).transpose()
        }
    },
    sqlite = {
        pub(crate) async fn record_phone_requests(
            db: &Db,
            batch: &[PhoneRequest],
        ) -> Result<(), StoreError> {
            if batch.is_empty() {
                return Ok(());
            }
            let updates = common::status_updates(batch);
            let mut tx = db.begin_write().await?;
            // Multi-row INSERTs: one statement per chunk costs a fraction of one per row, and
            // a boot storm writes tens of thousands of rows a second. 12 binds x 500 rows stays
            // far below SQLite's limit on bound parameters.
            const ROWS_PER_INSERT: usize = 500;
            for chunk in batch.chunks(ROWS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(concat!(
                    "INSERT INTO phone_requests (",
                    request_columns!(),
                    ", tenant_id) "
                ));
                insert.push_values(chunk, |mut row, r| {
                    row.push_bind(Ts::from(r.at))
                        .push_bind(r.mac.map(|m| m.to_string()))
                        .push_bind(r.method.clone())
                        .push_bind(r.file.clone())
                        .push_bind(Int4::from(r.status))
                        .push_bind(r.outcome.clone())
                        .push_bind(r.source_ip.clone())
                        .push_bind(r.user_agent.clone())
                        .push_bind(r.model.clone())
                        .push_bind(r.firmware.clone())
                        .push_bind(r.mac_cfg_served)
                        .push_bind(Int4::from(r.count))
                        .push_bind(db.tenant());
                });
                insert.build().execute(&mut *tx).await?;
            }
            // One UPDATE per chunk of devices, not one per device: each statement is a round
            // trip to sqlx's SQLite thread, and a boot storm touches a device every few
            // requests. The row exists iff the device does, so an unknown MAC updates
            // nothing. The `newer` test keeps an older batch (from a slower instance) from
            // overwriting newer values; first/last config times take the min/max. 8 binds x
            // 500 devices stays far below SQLite's limit on bound parameters.
            const DEVICES_PER_UPDATE: usize = 500;
            let head = format!("{} FROM (", status_update_set());
            let updates: Vec<_> = updates.into_iter().collect();
            for chunk in updates.chunks(DEVICES_PER_UPDATE) {
                let mut update = sqlx::QueryBuilder::<sqlx::Sqlite>::new(head.as_str());
                update.push_values(chunk, |mut row, (mac, u)| {
                    row.push_bind(mac.to_string())
                        .push_bind(Ts::from(u.last_request_at))
                        .push_bind(u.last_ip.clone())
                        .push_bind(u.last_user_agent.clone())
                        .push_bind(u.model_seen.clone())
                        .push_bind(u.firmware_seen.clone())
                        .push_bind(u.first_cfg_served.map(Ts::from))
                        .push_bind(u.last_cfg_served.map(Ts::from));
                });
                update.push(
                    ") AS v WHERE mac = v.column1 \
                     AND mac IN (SELECT mac FROM devices WHERE tenant_id = ",
                );
                update.push_bind(db.tenant());
                update.push(")");
                update.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }
    },
    postgres = {
        pub(crate) async fn record_phone_requests(
            db: &Db,
            batch: &[PhoneRequest],
        ) -> Result<(), StoreError> {
            if batch.is_empty() {
                return Ok(());
            }
            let updates = common::status_updates(batch);
            let strings = |f: fn(&PhoneRequest) -> String| batch.iter().map(f).collect::<Vec<_>>();
            let opts =
                |f: fn(&PhoneRequest) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
            let mut tx = db.begin_write().await?;
            sqlx::query(concat!(
                "INSERT INTO phone_requests (",
                request_columns!(),
                ", tenant_id) SELECT *, $13 FROM UNNEST($1::timestamptz[], $2::text[], \
                 $3::text[], $4::text[], $5::int4[], $6::text[], $7::text[], $8::text[], \
                 $9::text[], $10::text[], $11::bool[], $12::int4[])"
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
            .bind(db.tenant())
            .execute(&mut *tx)
            .await?;
            // Every instance's live pages learn of these devices (delivered at commit).
            let macs: Vec<String> = updates.keys().map(|m| m.to_string()).collect();
            for chunk in macs.chunks(NOTIFY_MACS) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(DEVICE_EVENTS_CHANNEL)
                    .bind(format!("{};{}", db.tenant(), chunk.join(",")))
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
                    .bind(db.tenant())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// Every instance's recorded phone requests of every tenant, from `LISTEN` on
        /// [`DEVICE_EVENTS_CHANNEL`]: one connection serves all of a process's tenants.
        pub(crate) async fn device_events(
            db: &Db,
        ) -> Result<Option<tokio::sync::mpsc::Receiver<crate::DeviceEvent>>, StoreError> {
            use crate::DeviceEvent;
            let mut listener = sqlx::postgres::PgListener::connect_with(db.pool()).await?;
            listener.listen(DEVICE_EVENTS_CHANNEL).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(DEVICE_EVENTS_BUFFER);
            tokio::spawn(async move {
                loop {
                    let event = match listener.try_recv().await {
                        Ok(Some(n)) => match n.payload().split_once(';') {
                            Some((tenant, macs)) => match tenant.parse::<i64>() {
                                Ok(tenant) => DeviceEvent::Recorded {
                                    tenant: crate::TenantId::new(tenant),
                                    macs: macs
                                        .split(',')
                                        .filter_map(|m| m.parse::<Mac>().ok())
                                        .collect(),
                                },
                                // Not ours (another program on the channel).
                                Err(_) => continue,
                            },
                            _ => continue,
                        },
                        // The connection broke (sqlx reconnects and listens again): whatever
                        // was notified meanwhile is lost.
                        Ok(None) => DeviceEvent::Missed,
                        Err(e) => {
                            tracing::warn!(
                                error = %e,
                                "lost the database's device events; retrying"
                            );
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
    },
);

/// The `LISTEN/NOTIFY` channel of [`crate::Store::device_events`] (PostgreSQL): the payload
/// is the tenant's id, `;`, and a comma-separated list of MACs (12 hex digits each) whose phone
/// requests were recorded.
const DEVICE_EVENTS_CHANNEL: &str = "yealink_prov_device_events";
/// MACs per notification: 13 bytes each, well under PostgreSQL's 8000-byte payload limit.
const NOTIFY_MACS: usize = 500;
/// Events a slow consumer may fall behind by before the oldest wait.
const DEVICE_EVENTS_BUFFER: usize = 1024;

/// PostgreSQL's [`STATUS_UPDATE_SQL`] for a whole batch in one statement: `$1`..`$8` become
/// arrays, one element per device, `UNNEST`ed as `v(column1, ..., column8)`. An `UPDATE ...
/// FROM` locks rows in whatever order its join plan visits them, and the plan depends on the
/// batch's size; so the `locked` CTE first locks the rows sorted by MAC (`ORDER BY` runs
/// before `FOR UPDATE`), and the UPDATE then only touches rows it already holds. Two
/// instances' batches thus lock overlapping rows in the same order and cannot deadlock. A MAC
/// without a status row (not a device) matches nothing, as in the single-device statement.
static STATUS_UPDATE_UNNEST: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(status_update_unnest);

fn status_update_unnest() -> String {
    let set = status_update_set();
    format!(
        "WITH locked AS MATERIALIZED (SELECT mac FROM device_status WHERE mac = ANY($1::text[]) \
         AND mac IN (SELECT mac FROM devices WHERE tenant_id = $9) ORDER BY mac FOR UPDATE) \
         {set} FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::timestamptz[], $8::timestamptz[]) \
         AS v(column1, column2, column3, column4, column5, column6, column7, column8) \
         WHERE mac = v.column1 AND mac IN (SELECT mac FROM locked)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's batch statement: the single-device one with every parameter a column of `v`.
    #[test]
    fn status_update_set_rewrites_every_parameter() {
        let set = status_update_set();
        assert!(set.starts_with("UPDATE device_status SET "), "{set}");
        assert!(!set.contains('$'), "a parameter left in SET: {set}");
        for n in 2..=8 {
            assert!(set.contains(&format!("v.column{n}")), "column{n} unused");
        }
    }

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
