//! The innovaphone side of each phone: one JSON document and its `config_complete` flag.

use yealink::Mac;

use crate::StoreError;
use crate::common::{now, parse_mac};
use crate::values::Ts;

/// `$5` the tenant: a MAC another tenant's PBX holds is left alone (nothing affected).
const PUT_PBX_DEVICE: &str = "INSERT INTO pbx_devices \
     (mac, doc, updated_at, config_complete, tenant_id) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (mac) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at, \
     config_complete = COALESCE(excluded.config_complete, pbx_devices.config_complete) \
     WHERE pbx_devices.tenant_id = excluded.tenant_id";
const PBX_CONFIG_STATES: &str =
    "SELECT mac, config_complete FROM pbx_devices WHERE tenant_id = $1 ORDER BY mac";
/// Only where the column is still NULL: a concurrent `put_pbx_device` wins.
const FILL_PBX_CONFIG_COMPLETE: &str = "UPDATE pbx_devices SET config_complete = $2 \
     WHERE mac = $1 AND tenant_id = $3 AND config_complete IS NULL";

for_each_backend!({
    /// The PBX-side documents are part of what [`crate::Store::tenant_config_revisions`]
    /// counts.
    async fn bump_config_revision(db: &Db) -> Result<(), StoreError> {
        sqlx::query(crate::settings::BUMP_CONFIG_REVISION)
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        Ok(())
    }

    pub(crate) async fn put_pbx_device(
        db: &Db,
        mac: Mac,
        doc: &serde_json::Value,
        config_complete: Option<bool>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(PUT_PBX_DEVICE)
            .bind(mac.to_string())
            .bind(doc)
            .bind(Ts::from(now()))
            .bind(config_complete)
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::MacInOtherTenant {
                mac,
                tenant: "another tenant's PBX".into(),
            });
        }
        bump_config_revision(db).await
    }

    pub(crate) async fn get_pbx_device(
        db: &Db,
        mac: Mac,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT doc FROM pbx_devices WHERE mac = $1 AND tenant_id = $2")
                .bind(mac.to_string())
                .bind(db.tenant())
                .fetch_optional(db.pool())
                .await?,
        )
    }

    pub(crate) async fn list_pbx_devices(
        db: &Db,
    ) -> Result<Vec<(Mac, serde_json::Value)>, StoreError> {
        let rows: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT mac, doc FROM pbx_devices WHERE tenant_id = $1 ORDER BY mac")
                .bind(db.tenant())
                .fetch_all(db.pool())
                .await?;
        rows.into_iter()
            .map(|(mac, doc)| Ok((parse_mac(&mac)?, doc)))
            .collect()
    }

    pub(crate) async fn pbx_config_states(db: &Db) -> Result<Vec<(Mac, Option<bool>)>, StoreError> {
        let rows: Vec<(String, Option<bool>)> = sqlx::query_as(PBX_CONFIG_STATES)
            .bind(db.tenant())
            .fetch_all(db.pool())
            .await?;
        rows.into_iter()
            .map(|(mac, complete)| Ok((parse_mac(&mac)?, complete)))
            .collect()
    }

    pub(crate) async fn fill_pbx_config_complete(
        db: &Db,
        mac: Mac,
        complete: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(FILL_PBX_CONFIG_COMPLETE)
            .bind(mac.to_string())
            .bind(complete)
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        let filled = done.rows_affected() > 0;
        if filled {
            bump_config_revision(db).await?;
        }
        Ok(filled)
    }

    pub(crate) async fn delete_pbx_device(db: &Db, mac: Mac) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM pbx_devices WHERE mac = $1 AND tenant_id = $2")
            .bind(mac.to_string())
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            bump_config_revision(db).await?;
        }
        Ok(deleted)
    }
});
