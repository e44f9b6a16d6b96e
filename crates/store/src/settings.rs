//! The settings document and the small key/value strings of `meta`, both the tenant's own
//! (the settings row's id is the tenant's; meta keys other than [`crate::GLOBAL_META_KEYS`] are
//! stored under the tenant's prefix, except the default tenant's, which keep their names).

use std::borrow::Cow;

use crate::StoreError;
use crate::common::now;
use crate::values::{JsonCol, Ts};

/// The stored name of meta `key` for tenant `tenant`.
pub(crate) fn meta_key(tenant: i64, key: &str) -> Cow<'_, str> {
    if tenant == crate::TenantId::DEFAULT.get() || crate::GLOBAL_META_KEYS.contains(&key) {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(format!("{}{key}", crate::tenants::meta_prefix(tenant)))
    }
}

/// `$1` the tenant: its settings, meta or PBX-side documents changed.
pub(crate) const BUMP_CONFIG_REVISION: &str =
    "UPDATE tenants SET config_revision = config_revision + 1 WHERE id = $1";

for_each_backend!({
    /// Tells every process that this tenant's configuration changed (after the write, so a
    /// reader that sees the new revision reads the new values).
    async fn bump_config_revision(db: &Db) -> Result<(), StoreError> {
        sqlx::query(BUMP_CONFIG_REVISION)
            .bind(db.tenant())
            .execute(db.pool())
            .await?;
        Ok(())
    }

    fn scoped_key<'k>(db: &Db, key: &'k str) -> Cow<'k, str> {
        meta_key(db.tenant(), key)
    }

    pub(crate) async fn get_settings(db: &Db) -> Result<Option<serde_json::Value>, StoreError> {
        let doc: Option<JsonCol> =
            sqlx::query_scalar("SELECT document FROM settings WHERE id = $1")
                .bind(db.tenant())
                .fetch_optional(db.pool())
                .await?;
        doc.map(|d| d.value(|| "the settings document is not JSON".into()))
            .transpose()
    }

    pub(crate) async fn put_settings(db: &Db, v: &serde_json::Value) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (id, document, version, updated_at) VALUES ($3, $1, 1, $2) \
             ON CONFLICT (id) DO UPDATE SET document = excluded.document, \
             version = settings.version + 1, updated_at = excluded.updated_at",
        )
        .bind(v)
        .bind(Ts::from(now()))
        .bind(db.tenant())
        .execute(db.pool())
        .await?;
        bump_config_revision(db).await
    }

    pub(crate) async fn get_meta(db: &Db, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(scoped_key(db, key).as_ref())
            .fetch_optional(db.pool())
            .await?)
    }

    pub(crate) async fn insert_meta_if_absent(
        db: &Db,
        key: &str,
        value: &str,
    ) -> Result<String, StoreError> {
        // The SELECT sees whichever insert won: SQLite serialises writers; on PostgreSQL a
        // concurrent insert of the same key makes ON CONFLICT wait for it to commit, and the
        // SELECT (a new statement, a new snapshot under READ COMMITTED) then sees the winner.
        let inserted = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(scoped_key(db, key).as_ref())
        .bind(value)
        .execute(db.pool())
        .await?
        .rows_affected();
        if inserted > 0 && !crate::GLOBAL_META_KEYS.contains(&key) {
            bump_config_revision(db).await?;
        }
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(scoped_key(db, key).as_ref())
            .fetch_one(db.pool())
            .await?)
    }

    pub(crate) async fn set_meta(db: &Db, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(scoped_key(db, key).as_ref())
        .bind(value)
        .execute(db.pool())
        .await?;
        // The global keys (the write probe among them, every few seconds) are no tenant's.
        if crate::GLOBAL_META_KEYS.contains(&key) {
            return Ok(());
        }
        bump_config_revision(db).await
    }
});
