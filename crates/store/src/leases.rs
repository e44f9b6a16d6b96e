//! Named leases: which process may do one piece of work when several share the database
//! (docs/storage.md, "Leases"), and the PBX phones whose lease nobody holds.

use time::OffsetDateTime;
use yealink::Mac;

use crate::StoreError;
use crate::common::{live_cutoff, now, parse_mac};
use crate::values::Ts;

/// `$1` name, `$2` holder, `$3` until, `$4` now, `$5` the oldest live heartbeat. One statement, so it is race-free on both
/// backends: a free name is inserted (a concurrent insert of the same name makes the others
/// conflict), and a taken one is overwritten only if `$2` holds it or it expired. The WHERE
/// is evaluated on the row as it is after any concurrent writer committed (PostgreSQL waits
/// for that writer; SQLite has one writer at a time). RETURNING yields a row iff `$2` holds
/// the lease afterwards: an upsert whose WHERE is false returns nothing.
/// A lease whose holder is an instance with a heartbeat newer than `$5` stays held after its
/// `until` (migrations/sqlite/0006_instances.sql).
const ACQUIRE_LEASE: &str = "INSERT INTO leases (name, holder, until) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
     WHERE leases.holder = excluded.holder OR (leases.until <= $4 \
         AND NOT EXISTS (SELECT 1 FROM instances i \
             WHERE i.id = leases.holder AND i.last_beat > $5)) \
     RETURNING holder";

/// `$1` name, `$2` holder, `$3` until: the lease becomes `$2`'s whoever held it.
const STEAL_LEASE: &str = "INSERT INTO leases (name, holder, until) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until";

/// `$1` name, `$2` holder: only the holder's lease goes.
const RELEASE_LEASE: &str = "DELETE FROM leases WHERE name = $1 AND holder = $2";

/// `$1` lease-name prefix, `$2` now, `$3` the oldest live heartbeat, `$4` limit: the stored PBX
/// phones whose lease `$1 || mac` nobody holds: no row, or expired with no live heartbeat of its
/// holder (exactly what ACQUIRE_LEASE would take). A read; at rest it returns nothing.
const UNHELD_PBX_DEVICES: &str = "SELECT p.mac FROM pbx_devices p \
     WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.name = $1 || p.mac \
         AND (l.until > $2 OR EXISTS (SELECT 1 FROM instances i \
             WHERE i.id = l.holder AND i.last_beat > $3))) \
         AND p.tenant_id = $5 \
     ORDER BY p.mac LIMIT $4";

/// `$1` holder.
const LEASES_HELD: &str = "SELECT name FROM leases WHERE holder = $1 ORDER BY name";

for_each_backend!({
    pub(crate) async fn acquire_lease(
        db: &Db,
        name: &str,
        holder: &str,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(ACQUIRE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(Ts::from(until))
            .bind(Ts::from(now()))
            .bind(Ts::from(live_cutoff(now())))
            .fetch_optional(db.pool())
            .await?;
        Ok(held.is_some())
    }

    pub(crate) async fn steal_lease(
        db: &Db,
        name: &str,
        holder: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(STEAL_LEASE)
            .bind(name)
            .bind(holder)
            .bind(Ts::from(until))
            .execute(db.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn release_lease(db: &Db, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query(RELEASE_LEASE)
            .bind(name)
            .bind(holder)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn leases_held(db: &Db, holder: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(LEASES_HELD)
            .bind(holder)
            .fetch_all(db.pool())
            .await?)
    }

    pub(crate) async fn unheld_pbx_devices(
        db: &Db,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<Mac>, StoreError> {
        let now = now();
        let macs: Vec<String> = sqlx::query_scalar(UNHELD_PBX_DEVICES)
            .bind(prefix)
            .bind(Ts::from(now))
            .bind(Ts::from(live_cutoff(now)))
            .bind(i64::from(limit))
            .bind(db.tenant())
            .fetch_all(db.pool())
            .await?;
        macs.iter().map(|m| parse_mac(m)).collect()
    }
});
