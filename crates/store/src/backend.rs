//! What each backend supplies to the store code written once for both (see
//! `for_each_backend!` in lib.rs): its transactions and the few SQL fragments whose dialects
//! differ. Implemented by `SqliteStore` (sqlite.rs) and `PgStore` (postgres.rs).

/// The edges of a backend that the shared store code calls.
pub(crate) trait Dialect {
    /// sqlx's database type.
    type Db: sqlx::Database;

    /// What [`crate::Store::backend`] answers.
    const NAME: &'static str;

    /// The search condition of a device list on `devices d`: `$1` is the MAC pattern, `$2` the
    /// text pattern (see `common::SearchPatterns`).
    const DEVICE_SEARCH: &'static str;

    /// Moves the shared RPS rate-limit slot forward: `$1` meta key, `$2` now (µs), `$3` the
    /// interval (µs); returns the end of the reserved slot (µs).
    const RESERVE_RPS_SLOT: &'static str;

    /// The MACs of `$1` (a `values::MacList`) that are devices.
    const EXISTING_MACS: &'static str;

    /// Deletes the tombstones of the MACs of `$1` (a `values::MacList`).
    const DELETE_TOMBSTONES: &'static str;

    /// Deletes tenant `$2`'s UI sessions beyond its `$1` most recently used.
    const TRIM_UI_SESSIONS: &'static str;

    /// The tenant of this handle, bound by every scoped query (`tenant_id = ...`).
    fn tenant(&self) -> i64;

    /// The same database, scoped to `tenant`.
    fn with_tenant(&self, tenant: crate::TenantId) -> Self
    where
        Self: Sized;

    /// A write transaction.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, Self::Db>, sqlx::Error>;

    /// A read-only transaction whose statements all see one snapshot (a page and its total,
    /// the change feed).
    async fn begin_read(&self) -> Result<sqlx::Transaction<'_, Self::Db>, sqlx::Error>;
}
