//! Tenants: the list of PBX domains this deployment serves, and the lookups that cross them
//! (which tenant holds a MAC or a URL token). Everything else in the store is scoped to the
//! tenant of its handle (docs/storage.md, "Tenants").

use sqlx::FromRow;

use crate::common::now;
use crate::values::Ts;
use crate::{StoreError, Tenant, TenantId};

#[derive(FromRow)]
struct TenantRow {
    id: i64,
    name: String,
    domain: String,
    created_at: Ts,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;

    fn try_from(r: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: TenantId::new(r.id),
            name: r.name,
            domain: r.domain,
            created_at: r.created_at.time()?,
        })
    }
}

const TENANT_COLUMNS: &str = "id, name, domain, created_at";

/// The rows a tenant owns, deleted with it. Tables keyed by a device (status, local cfg) go
/// with their device (ON DELETE CASCADE).
const SCOPED_TABLES: &[&str] = &[
    "devices",
    "device_tombstones",
    "phone_requests",
    "pbx_devices",
    "rps_jobs",
    "rps_history",
    "ui_sessions",
    "changes",
];

/// The meta keys of tenant `id` other than the default are stored under this prefix.
pub(crate) fn meta_prefix(id: i64) -> String {
    format!("tenant.{id}.")
}

for_each_backend!({
    pub(crate) async fn create_tenant(
        db: &Db,
        name: &str,
        domain: &str,
    ) -> Result<Tenant, StoreError> {
        let row: Option<TenantRow> = sqlx::query_as(
            "INSERT INTO tenants (id, name, domain, created_at) \
             VALUES ((SELECT COALESCE(MAX(id), 1) + 1 FROM tenants), $1, $2, $3) \
             ON CONFLICT (domain, name) DO NOTHING \
             RETURNING id, name, domain, created_at",
        )
        .bind(name)
        .bind(domain)
        .bind(Ts::from(now()))
        .fetch_optional(db.pool())
        .await?;
        match row {
            Some(row) => row.try_into(),
            None => Err(StoreError::DuplicateTenant {
                name: name.to_owned(),
                domain: domain.to_owned(),
            }),
        }
    }

    pub(crate) async fn list_tenants(db: &Db) -> Result<Vec<Tenant>, StoreError> {
        let rows: Vec<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"
        )))
        .fetch_all(db.pool())
        .await?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    pub(crate) async fn get_tenant(db: &Db, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        )))
        .bind(id.get())
        .fetch_optional(db.pool())
        .await?;
        row.map(Tenant::try_from).transpose()
    }

    pub(crate) async fn find_tenant(
        db: &Db,
        domain: &str,
        name: &str,
    ) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE domain = $1 AND name = $2"
        )))
        .bind(domain)
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
        row.map(Tenant::try_from).transpose()
    }

    /// Deletes tenant `id` and everything it owns, in one transaction. The default tenant
    /// cannot be deleted.
    pub(crate) async fn delete_tenant(db: &Db, id: TenantId) -> Result<bool, StoreError> {
        if id.is_default() {
            return Err(StoreError::DefaultTenant);
        }
        let mut tx = db.begin_write().await?;
        for table in SCOPED_TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE tenant_id = $1"
            )))
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM settings WHERE id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM meta WHERE key LIKE $1")
            .bind(format!("{}%", meta_prefix(id.get())))
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// The tenant holding `mac`, whichever tenant asks.
    pub(crate) async fn tenant_of_mac(db: &Db, mac: &str) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = sqlx::query_as(
            "SELECT t.id, t.name, t.domain, t.created_at FROM devices d \
             JOIN tenants t ON t.id = d.tenant_id WHERE d.mac = $1",
        )
        .bind(mac)
        .fetch_optional(db.pool())
        .await?;
        row.map(Tenant::try_from).transpose()
    }

    pub(crate) async fn tenant_config_revisions(
        db: &Db,
    ) -> Result<Vec<(TenantId, i64)>, StoreError> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, config_revision FROM tenants ORDER BY id")
                .fetch_all(db.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, revision)| (TenantId::new(id), revision))
            .collect())
    }

    /// The change feed's revision and, in the same snapshot, the tenants with a device
    /// written or deleted after `since`.
    pub(crate) async fn tenants_with_device_changes(
        db: &Db,
        since: i64,
    ) -> Result<(i64, Vec<TenantId>), StoreError> {
        let mut tx = db.begin_read().await?;
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM change_counter WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let ids: Vec<i64> = if revision > since {
            sqlx::query_scalar(
                "SELECT tenant_id FROM devices WHERE revision > $1 \
                 UNION SELECT tenant_id FROM device_tombstones WHERE revision > $1 \
                 ORDER BY 1",
            )
            .bind(since)
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok((revision, ids.into_iter().map(TenantId::new).collect()))
    }

    /// The tenant of the device with URL token `token` (the phone path finds its tenant so).
    pub(crate) async fn tenant_of_token(
        db: &Db,
        token: &str,
    ) -> Result<Option<TenantId>, StoreError> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT tenant_id FROM devices WHERE url_token = $1")
                .bind(token)
                .fetch_optional(db.pool())
                .await?;
        Ok(id.map(TenantId::new))
    }
});
