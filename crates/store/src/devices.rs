//! Devices and the change feed: the admin's records, their revisions and tombstones.
//!
//! Written once for both backends; only the bulk insert's statement differs (SQLite: one
//! multi-row `VALUES`; PostgreSQL: column arrays and `UNNEST`).

use std::collections::HashSet;

use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;
use yealink::Mac;

use crate::common::{
    self, BULK_CHUNK, SearchPatterns, clamp_limit, collect, now, parse_mac, stamped,
};
use crate::error::device_write_error;
use crate::values::{JsonCol, MacList, Ts};
use crate::{
    Device, DeviceChanges, DeviceKeyset, DeviceQuery, DeviceRecord, DeviceStatus, NewRpsJob,
    Overrides, Page, StoreError,
};

// ---- rows ------------------------------------------------------------------------------------

#[derive(FromRow)]
pub(crate) struct DeviceRow {
    mac: String,
    name: String,
    model: Option<String>,
    sip_user: String,
    auth_name: Option<String>,
    sip_password: String,
    display_name: Option<String>,
    registrar: String,
    overrides: JsonCol,
    http_password: String,
    url_token: String,
    admin_password: String,
    created_at: Ts,
    updated_at: Ts,
    revision: i64,
}

impl TryFrom<DeviceRow> for DeviceRecord {
    type Error = StoreError;

    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        let mac = r.mac;
        let overrides = Overrides::from_value(
            &r.overrides
                .value(|| format!("overrides of device {mac} are not JSON"))?,
        );
        Ok(DeviceRecord {
            mac: parse_mac(&mac)?,
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
            created_at: r.created_at.time()?,
            updated_at: r.updated_at.time()?,
            revision: r.revision,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct StatusRow {
    provisioned_at: Option<Ts>,
    last_config_request: Option<Ts>,
    last_request_at: Option<Ts>,
    last_ip: Option<String>,
    last_user_agent: Option<String>,
    model_seen: Option<String>,
    firmware_seen: Option<String>,
}

impl TryFrom<StatusRow> for DeviceStatus {
    type Error = StoreError;

    fn try_from(r: StatusRow) -> Result<Self, StoreError> {
        Ok(DeviceStatus {
            provisioned_at: Ts::opt_time(r.provisioned_at)?,
            last_config_request: Ts::opt_time(r.last_config_request)?,
            last_request_at: Ts::opt_time(r.last_request_at)?,
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

// ---- statements ------------------------------------------------------------------------------

const SELECT_DEVICE: &str = concat!(
    "SELECT ",
    device_columns!(),
    ", ",
    status_columns!(),
    " FROM devices d JOIN device_status s ON s.mac = d.mac"
);

const INSERT_DEVICE: &str = "INSERT INTO devices (mac, name, model, sip_user, auth_name, \
     sip_password, display_name, registrar, overrides, http_password, url_token, \
     admin_password, created_at, updated_at, revision, tenant_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

const BUMP_REVISION: &str =
    "UPDATE change_counter SET revision = revision + 1 WHERE id = 1 RETURNING revision";
const CURRENT_REVISION: &str = "SELECT revision FROM change_counter WHERE id = 1";

/// Rows a bulk insert tries, after the rows rejected without asking the database.
fn pending<'a>(
    chunk: &'a [DeviceRecord],
    results: &[Option<Result<DeviceRecord, StoreError>>],
) -> Vec<&'a DeviceRecord> {
    chunk
        .iter()
        .zip(results.iter())
        .filter(|(_, slot)| slot.is_none())
        .map(|(d, _)| d)
        .collect()
}

/// Fills the open slots of a chunk's results from what its insert did: a row skipped by
/// `ON CONFLICT` has an existing MAC, or else an existing URL token (in-batch duplicates were
/// rejected before, so the conflict is with a row already stored).
fn fill_results(
    chunk: &[DeviceRecord],
    results: &mut [Option<Result<DeviceRecord, StoreError>>],
    inserted: &HashSet<String>,
    existing: &HashSet<String>,
    revision: i64,
    at: OffsetDateTime,
) {
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
}

for_each_backend!(
    {
        /// Bumps the change-feed counter; must run inside the write transaction it versions.
        /// On PostgreSQL its row lock is held until the transaction ends, so device writers
        /// commit in revision order.
        async fn bump_revision(conn: &mut Conn) -> Result<i64, StoreError> {
            Ok(sqlx::query_scalar(BUMP_REVISION).fetch_one(conn).await?)
        }

        pub(crate) async fn insert_device(
            db: &Db,
            d: &DeviceRecord,
        ) -> Result<DeviceRecord, StoreError> {
            let mut tx = db.begin_write().await?;
            let revision = bump_revision(&mut tx).await?;
            let rec = stamped(d, revision, now());
            let inserted = sqlx::query(INSERT_DEVICE)
                .bind(rec.mac.to_string())
                .bind(&rec.name)
                .bind(&rec.model)
                .bind(&rec.sip_user)
                .bind(&rec.auth_name)
                .bind(&rec.sip_password)
                .bind(&rec.display_name)
                .bind(&rec.registrar)
                .bind(rec.overrides.to_value())
                .bind(&rec.http_password)
                .bind(&rec.url_token)
                .bind(&rec.admin_password)
                .bind(Ts::from(rec.created_at))
                .bind(Ts::from(rec.updated_at))
                .bind(rec.revision)
                .bind(db.tenant())
                .execute(&mut *tx)
                .await
                .map_err(|e| device_write_error(e, d.mac));
            if let Err(e) = inserted {
                tx.rollback().await?;
                return Err(held_elsewhere(db, e).await);
            }
            // A (re-)inserted MAC is no longer deleted: drop its tombstone.
            sqlx::query("DELETE FROM device_tombstones WHERE mac = $1")
                .bind(rec.mac.to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(rec)
        }

        pub(crate) async fn insert_devices_with_jobs(
            db: &Db,
            ds: &[DeviceRecord],
            per_device_jobs: &[NewRpsJob],
        ) -> Result<Vec<Result<DeviceRecord, StoreError>>, StoreError> {
            let mut results: Vec<Option<Result<DeviceRecord, StoreError>>> =
                common::reject_in_batch_duplicates(ds)
                    .into_iter()
                    .map(|rejected| rejected.map(Err))
                    .collect();
            for (chunk, chunk_results) in ds.chunks(BULK_CHUNK).zip(results.chunks_mut(BULK_CHUNK))
            {
                insert_chunk(db, chunk, chunk_results, per_device_jobs).await?;
            }
            for slot in results.iter_mut() {
                if let Some(Err(e @ StoreError::DuplicateMac(_))) = slot {
                    let e = std::mem::replace(e, StoreError::DuplicateUrlToken);
                    *slot = Some(Err(held_elsewhere(db, e).await));
                }
            }
            results
                .into_iter()
                .map(|r| r.ok_or_else(|| StoreError::Corrupt("bulk insert skipped a row".into())))
                .collect()
        }

        pub(crate) async fn update_device(
            db: &Db,
            d: &DeviceRecord,
        ) -> Result<DeviceRecord, StoreError> {
            let mut tx = db.begin_write().await?;
            let revision = bump_revision(&mut tx).await?;
            let at = now();
            let created_at: Option<Ts> = sqlx::query_scalar(
                "UPDATE devices SET name = $2, model = $3, sip_user = $4, auth_name = $5, \
                 sip_password = $6, display_name = $7, registrar = $8, overrides = $9, \
                 http_password = $10, url_token = $11, admin_password = $12, updated_at = $13, \
                 revision = $14 WHERE mac = $1 AND tenant_id = $15 RETURNING created_at",
            )
            .bind(d.mac.to_string())
            .bind(&d.name)
            .bind(&d.model)
            .bind(&d.sip_user)
            .bind(&d.auth_name)
            .bind(&d.sip_password)
            .bind(&d.display_name)
            .bind(&d.registrar)
            .bind(d.overrides.to_value())
            .bind(&d.http_password)
            .bind(&d.url_token)
            .bind(&d.admin_password)
            .bind(Ts::from(at))
            .bind(revision)
            .bind(db.tenant())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| device_write_error(e, d.mac))?;
            let Some(created_at) = created_at else {
                tx.rollback().await?;
                return Err(StoreError::NotFound(d.mac));
            };
            tx.commit().await?;
            Ok(DeviceRecord {
                created_at: created_at.time()?,
                ..stamped(d, revision, at)
            })
        }

        pub(crate) async fn get_device(db: &Db, mac: Mac) -> Result<Option<Device>, StoreError> {
            const SQL: &str = concat!(
                "SELECT ",
                device_columns!(),
                ", ",
                status_columns!(),
                " FROM devices d JOIN device_status s ON s.mac = d.mac \
                 WHERE d.mac = $1 AND d.tenant_id = $2"
            );
            sqlx::query_as::<_, DeviceStatusRow>(SQL)
                .bind(mac.to_string())
                .bind(db.tenant())
                .fetch_optional(db.pool())
                .await?
                .map(Device::try_from)
                .transpose()
        }

        pub(crate) async fn get_device_by_token(
            db: &Db,
            token: &str,
        ) -> Result<Option<Device>, StoreError> {
            const SQL: &str = concat!(
                "SELECT ",
                device_columns!(),
                ", ",
                status_columns!(),
                " FROM devices d JOIN device_status s ON s.mac = d.mac \
                 WHERE d.url_token = $1 AND d.tenant_id = $2"
            );
            sqlx::query_as::<_, DeviceStatusRow>(SQL)
                .bind(token)
                .bind(db.tenant())
                .fetch_optional(db.pool())
                .await?
                .map(Device::try_from)
                .transpose()
        }

        pub(crate) async fn delete_device(db: &Db, mac: Mac) -> Result<bool, StoreError> {
            let mut tx = db.begin_write().await?;
            let revision = bump_revision(&mut tx).await?;
            // device_status and local_cfg go with it (ON DELETE CASCADE).
            let deleted = sqlx::query("DELETE FROM devices WHERE mac = $1 AND tenant_id = $2")
                .bind(mac.to_string())
                .bind(db.tenant())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO device_tombstones (mac, revision, tenant_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (mac) DO UPDATE SET revision = excluded.revision, \
                 tenant_id = excluded.tenant_id",
            )
            .bind(mac.to_string())
            .bind(revision)
            .bind(db.tenant())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        }

        pub(crate) async fn list_devices(
            db: &Db,
            q: &DeviceQuery,
        ) -> Result<Page<Device>, StoreError> {
            let search = SearchPatterns::new(q.search.as_deref());
            // The search binds $1 and $2 (Db::DEVICE_SEARCH); the tenant comes after it.
            let (filter, limit_offset) = if search.is_some() {
                (
                    format!(" WHERE {} AND d.tenant_id = $3", Db::DEVICE_SEARCH),
                    " LIMIT $4 OFFSET $5",
                )
            } else {
                (" WHERE d.tenant_id = $1".to_owned(), " LIMIT $2 OFFSET $3")
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
            let count = count.bind(db.tenant());
            let list = list
                .bind(db.tenant())
                .bind(i64::from(clamp_limit(q.limit)))
                .bind(i64::from(q.offset));

            crate::pages::fetch_page(db, list, count).await
        }

        pub(crate) async fn list_devices_after(
            db: &Db,
            q: &DeviceKeyset,
        ) -> Result<Vec<Device>, StoreError> {
            let search = SearchPatterns::new(q.search.as_deref());
            let mut conditions = Vec::new();
            let mut next = 1;
            if search.is_some() {
                conditions.push(Db::DEVICE_SEARCH.to_owned());
                next = 3;
            }
            conditions.push(format!("d.tenant_id = ${next}"));
            next += 1;
            if q.after.is_some() {
                conditions.push(
                    common::keyset_after(q.sort, q.descending).replace("{A}", &format!("${next}")),
                );
                next += 1;
            }
            let filter = format!(" WHERE {}", conditions.join(" AND "));
            // Only static fragments are spliced in; all user input is bound.
            let order = common::order_by(q.sort, q.descending);
            let sql = format!("{SELECT_DEVICE}{filter} ORDER BY {order} LIMIT ${next}");
            let mut list = sqlx::query_as::<_, DeviceStatusRow>(AssertSqlSafe(sql));
            if let Some(p) = search {
                list = list.bind(p.mac).bind(p.text);
            }
            list = list.bind(db.tenant());
            if let Some(after) = q.after {
                list = list.bind(after.to_string());
            }
            let rows = list
                .bind(i64::from(clamp_limit(q.limit)))
                .fetch_all(db.pool())
                .await?;
            collect(rows)
        }

        pub(crate) async fn device_count(db: &Db) -> Result<u64, StoreError> {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE tenant_id = $1")
                .bind(db.tenant())
                .fetch_one(db.pool())
                .await?;
            Ok(u64::try_from(n).unwrap_or_default())
        }

        pub(crate) async fn current_revision(db: &Db) -> Result<i64, StoreError> {
            Ok(sqlx::query_scalar(CURRENT_REVISION)
                .fetch_one(db.pool())
                .await?)
        }

        pub(crate) async fn device_changes(
            db: &Db,
            since_revision: i64,
        ) -> Result<DeviceChanges, StoreError> {
            const CHANGED: &str = concat!(
                "SELECT ",
                device_columns!(),
                " FROM devices d WHERE d.revision > $1 AND d.tenant_id = $2 \
                 ORDER BY d.revision, d.mac"
            );
            // One snapshot: counter, rows and tombstones agree. (SQLite: one WAL snapshot.
            // PostgreSQL: a counter value is only visible once its writer committed, and the
            // writers of all lower values committed before it: they held the counter row lock.)
            let mut tx = db.begin_read().await?;
            let revision: i64 = sqlx::query_scalar(CURRENT_REVISION)
                .fetch_one(&mut *tx)
                .await?;
            let rows: Vec<DeviceRow> = sqlx::query_as(CHANGED)
                .bind(since_revision)
                .bind(db.tenant())
                .fetch_all(&mut *tx)
                .await?;
            let removed: Vec<String> = sqlx::query_scalar(
                "SELECT mac FROM device_tombstones WHERE revision > $1 AND tenant_id = $2 \
                 ORDER BY revision, mac",
            )
            .bind(since_revision)
            .bind(db.tenant())
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

        pub(crate) async fn all_device_records(db: &Db) -> Result<Vec<DeviceRecord>, StoreError> {
            const SQL: &str = concat!(
                "SELECT ",
                device_columns!(),
                " FROM devices d WHERE d.tenant_id = $1 ORDER BY d.mac"
            );
            let rows: Vec<DeviceRow> = sqlx::query_as(SQL)
                .bind(db.tenant())
                .fetch_all(db.pool())
                .await?;
            collect(rows)
        }
        /// A duplicate MAC held by another tenant becomes [`StoreError::MacInOtherTenant`],
        /// naming it; anything else is returned as it is.
        async fn held_elsewhere(db: &Db, err: StoreError) -> StoreError {
            let StoreError::DuplicateMac(mac) = err else {
                return err;
            };
            let holder: Result<Option<(i64, String, String)>, sqlx::Error> = sqlx::query_as(
                "SELECT t.id, t.name, t.domain FROM devices d \
                 JOIN tenants t ON t.id = d.tenant_id WHERE d.mac = $1",
            )
            .bind(mac.to_string())
            .fetch_optional(db.pool())
            .await;
            match holder {
                Ok(Some((id, name, domain))) if id != db.tenant() => StoreError::MacInOtherTenant {
                    mac,
                    tenant: crate::Tenant::label_of(&domain, &name),
                },
                Ok(_) => StoreError::DuplicateMac(mac),
                Err(e) => e.into(),
            }
        }

        /// Inserts one chunk of a bulk insert in one transaction; fills `results` for its rows.
        /// Set-based, because every statement is a round trip: one multi-row insert that skips
        /// conflicting rows and returns the MACs it inserted (`insert_rows`), then one query to
        /// tell the skipped rows' reasons apart.
        async fn insert_chunk(
            db: &Db,
            chunk: &[DeviceRecord],
            results: &mut [Option<Result<DeviceRecord, StoreError>>],
            per_device_jobs: &[NewRpsJob],
        ) -> Result<(), StoreError> {
            let pending = pending(chunk, results);
            if pending.is_empty() {
                return Ok(());
            }
            let mut tx = db.begin_write().await?;
            let revision = bump_revision(&mut tx).await?;
            let at = now();
            let records: Vec<DeviceRecord> =
                pending.iter().map(|d| stamped(d, revision, at)).collect();
            let inserted = insert_rows(&mut tx, &records, revision, at, db.tenant()).await?;

            let skipped: Vec<String> = records
                .iter()
                .map(|d| d.mac.to_string())
                .filter(|m| !inserted.contains(m))
                .collect();
            let existing: HashSet<String> = if skipped.is_empty() {
                HashSet::new()
            } else {
                sqlx::query_scalar::<_, String>(Db::EXISTING_MACS)
                    .bind(MacList(skipped))
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect()
            };

            if inserted.is_empty() {
                // Don't publish a revision that changed nothing.
                tx.rollback().await?;
            } else {
                sqlx::query(Db::DELETE_TOMBSTONES)
                    .bind(MacList(inserted.iter().cloned().collect()))
                    .execute(&mut *tx)
                    .await?;
                let jobs = common::jobs_for_devices(
                    records
                        .iter()
                        .filter(|d| inserted.contains(&d.mac.to_string()))
                        .map(|d| d.mac),
                    per_device_jobs,
                );
                insert_rps_jobs(&mut tx, &jobs, db.tenant()).await?;
                tx.commit().await?;
            }
            fill_results(chunk, results, &inserted, &existing, revision, at);
            Ok(())
        }
    },
    sqlite = {
        use crate::rps::sqlite::insert_rps_jobs;

        /// One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING mac` (15 binds per row,
        /// well under SQLite's 32,766 limit).
        async fn insert_rows(
            conn: &mut Conn,
            records: &[DeviceRecord],
            revision: i64,
            at: OffsetDateTime,
            tenant: i64,
        ) -> Result<HashSet<String>, StoreError> {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO devices (mac, name, model, sip_user, auth_name, sip_password, \
                 display_name, registrar, overrides, http_password, url_token, admin_password, \
                 created_at, updated_at, revision, tenant_id) ",
            );
            insert.push_values(records, |mut row, d| {
                row.push_bind(d.mac.to_string())
                    .push_bind(d.name.clone())
                    .push_bind(d.model.clone())
                    .push_bind(d.sip_user.clone())
                    .push_bind(d.auth_name.clone())
                    .push_bind(d.sip_password.clone())
                    .push_bind(d.display_name.clone())
                    .push_bind(d.registrar.clone())
                    .push_bind(d.overrides.to_value())
                    .push_bind(d.http_password.clone())
                    .push_bind(d.url_token.clone())
                    .push_bind(d.admin_password.clone())
                    .push_bind(Ts::from(d.created_at))
                    .push_bind(Ts::from(at))
                    .push_bind(revision)
                    .push_bind(tenant);
            });
            insert.push(" ON CONFLICT DO NOTHING RETURNING mac");
            Ok(insert
                .build_query_scalar::<String>()
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .collect())
        }
    },
    postgres = {
        use crate::rps::postgres::insert_rps_jobs;

        /// A chunk of devices as column arrays; `$14` updated_at and `$15` revision are shared.
        const INSERT_DEVICES_UNNEST: &str = "INSERT INTO devices (mac, name, model, sip_user, \
            auth_name, sip_password, display_name, registrar, overrides, http_password, url_token, \
            admin_password, created_at, updated_at, revision, tenant_id) \
            SELECT t.mac, t.name, t.model, t.sip_user, t.auth_name, t.sip_password, t.display_name, \
            t.registrar, t.overrides::jsonb, t.http_password, t.url_token, t.admin_password, \
            t.created_at, $14, $15, $16 \
            FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
            $13::timestamptz[]) AS t(mac, name, model, sip_user, auth_name, sip_password, \
            display_name, registrar, overrides, http_password, url_token, admin_password, created_at) \
            ON CONFLICT DO NOTHING RETURNING mac";

        /// The columns as arrays, so the chunk is one statement whatever its size.
        async fn insert_rows(
            conn: &mut Conn,
            records: &[DeviceRecord],
            revision: i64,
            at: OffsetDateTime,
            tenant: i64,
        ) -> Result<HashSet<String>, StoreError> {
            let col = |f: fn(&DeviceRecord) -> String| records.iter().map(f).collect::<Vec<_>>();
            let opt =
                |f: fn(&DeviceRecord) -> Option<String>| records.iter().map(f).collect::<Vec<_>>();
            let overrides: Vec<&str> = records.iter().map(|d| d.overrides.as_str()).collect();
            let created: Vec<OffsetDateTime> = records.iter().map(|d| d.created_at).collect();
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
                .bind(tenant)
                .fetch_all(&mut *conn)
                .await?;
            Ok(inserted.into_iter().collect())
        }
    },
);
