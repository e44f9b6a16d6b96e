//! Persistence for yealink-prov: one [`Store`] trait, implemented for SQLite and PostgreSQL.
//!
//! [`open`] picks the backend from the database URL and runs that backend's migrations
//! (`migrations/sqlite`, `migrations/postgres`). The server holds an `Arc<dyn Store>`.
//! See `docs/storage.md` for the schema, the change feed, retention and the RPS outbox.

/// Columns of `devices d`, named like the fields of `devices::DeviceRow`.
macro_rules! device_columns {
    () => {
        "d.mac, d.name, d.model, d.sip_user, d.auth_name, d.sip_password, d.display_name, \
         d.registrar, d.overrides, d.http_password, d.url_token, d.admin_password, \
         d.created_at, d.updated_at, d.revision"
    };
}

/// Columns of `device_status s`.
macro_rules! status_columns {
    () => {
        "s.provisioned_at, s.last_config_request, s.last_request_at, s.last_ip, \
         s.last_user_agent, s.model_seen, s.firmware_seen"
    };
}

/// Columns of `phone_requests`.
macro_rules! request_columns {
    () => {
        "at, mac, method, file, status, outcome, source_ip, user_agent, model, firmware, \
         mac_cfg_served, request_count"
    };
}

/// Columns of `rps_jobs`, named like the fields of `rps::RpsJobRow`.
macro_rules! rps_job_columns {
    () => {
        "id, command, mac, payload, attempts, last_error, created_at, next_attempt_at"
    };
}

/// Columns of `rps_history`.
macro_rules! rps_history_columns {
    () => {
        "id, at, command, mac, params, outcome, answer, duration_ms, attempts"
    };
}

/// Store code written once for both backends. The items of the first block are emitted twice,
/// into a module `sqlite` and a module `postgres` of the calling (topic) file; in each, `Db`
/// names that backend's store, so every copy is type-checked against its own backend's types
/// (binds, rows, transactions). `sqlite = { ... }` and `postgres = { ... }` add items to one
/// copy only, for the statements whose dialects truly differ; they keep the names the shared
/// items call. The differences that are only in how a value is stored live in `values.rs`,
/// the fragments and transactions in [`backend::Dialect`]. See docs/storage.md ("One body of
/// code for both backends").
macro_rules! for_each_backend {
    (
        { $($shared:item)* }
        $(, sqlite = { $($sqlite:item)* })?
        $(, postgres = { $($postgres:item)* })?
        $(,)?
    ) => {
        pub(crate) mod sqlite {
            #![allow(unused_imports)]
            use super::*;
            use crate::backend::Dialect as _;
            /// The backend of this copy.
            pub(crate) type Db = crate::sqlite::SqliteStore;
            /// A connection (or open transaction) of this backend.
            #[allow(dead_code)]
            pub(crate) type Conn = <<Db as crate::backend::Dialect>::Db as sqlx::Database>::Connection;
            $($shared)*
            $($($sqlite)*)?
        }
        pub(crate) mod postgres {
            #![allow(unused_imports)]
            use super::*;
            use crate::backend::Dialect as _;
            /// The backend of this copy.
            pub(crate) type Db = crate::postgres::PgStore;
            /// A connection (or open transaction) of this backend.
            #[allow(dead_code)]
            pub(crate) type Conn = <<Db as crate::backend::Dialect>::Db as sqlx::Database>::Connection;
            $($shared)*
            $($($postgres)*)?
        }
    };
}

mod backend;
mod changes;
mod common;
mod devices;
mod error;
mod files;
mod instances;
mod leases;
mod pages;
mod pbx;
mod postgres;
mod requests;
mod rps;
mod sealed;
mod sealing;
mod sessions;
mod settings;
mod sqlite;
mod sqlite_conn;
mod sqlite_file;
mod store_impl;
mod tenants;
mod types;
mod url;
mod values;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use yealink::Mac;

pub use crate::changes::{ChangeEntry, ChangeQuery};
pub use crate::error::StoreError;
pub use crate::files::DB_FILE_MODE;
pub use crate::postgres::PgStore;
pub use crate::sealed::{ResealReport, SECRET_META_KEYS, SealedStore};
pub use crate::sealing::{KEY_LEN, Keyring, SealError};
pub use crate::sqlite::SqliteStore;
pub use crate::types::{
    Device, DeviceChanges, DeviceEvent, DeviceKeyset, DeviceQuery, DeviceRecord, DeviceSort,
    DeviceStatus, HistoryQuery, InstanceBeat, NewRpsJob, Overrides, Page, PhoneRequest, QueueStats,
    RpsHistoryEntry, RpsJob, Tenant, TenantId, UiSession,
};
pub use crate::url::redact_url;

/// Opens the database named by `database_url` and brings its schema up to date.
///
/// Accepted: `sqlite://path?mode=rwc`, `sqlite:path`, `sqlite::memory:`, `postgres://...`,
/// `postgresql://...`. A SQLite file is created if missing. Anything else is
/// [`StoreError::UnsupportedUrl`]; no error message contains the URL's password.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match url::Backend::from_url(database_url)? {
        url::Backend::Sqlite => Arc::new(SqliteStore::open(database_url).await?),
        url::Backend::Postgres => Arc::new(PgStore::open(database_url).await?),
    };
    // DEBUG: a one-shot CLI command should print its answer, not this; `serve` names the
    // database in its own INFO line.
    tracing::debug!(
        backend = store.backend(),
        url = %redact_url(database_url),
        "database opened"
    );
    Ok(store)
}

/// The file of a SQLite URL (`None` for PostgreSQL, in-memory or an invalid URL).
pub fn sqlite_file(database_url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr as _;
    if !matches!(
        url::Backend::from_url(database_url),
        Ok(url::Backend::Sqlite)
    ) || database_url.contains(":memory:")
        || database_url.contains("mode=memory")
    {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(database_url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// [`open`], with every secret sealed with `keys` ([`SealedStore::open`]): checks the key
/// against the database (a clear [`StoreError::Secret`] for a wrong one) and seals what is not
/// sealed with `keys`' sealing key yet.
pub async fn open_sealed(
    database_url: &str,
    keys: Keyring,
) -> Result<Arc<SealedStore>, StoreError> {
    let inner = open(database_url).await?;
    Ok(Arc::new(SealedStore::open(inner, keys).await?))
}

/// How often a server instance writes its heartbeat row ([`Store::beat_instance`]).
pub const INSTANCE_BEAT_EVERY: Duration = Duration::from_secs(5);
/// An instance whose heartbeat is older than this is dead: its leases and claimed RPS jobs are
/// free for the others. Three beats, so one slow or lost beat does not hand work over; with
/// the time others take to notice, a killed instance's work moves within about 20 s.
pub const INSTANCE_STALE_AFTER: Duration = Duration::from_secs(15);
/// Heartbeat rows older than this are deleted by the next beat of any instance.
pub const INSTANCE_FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Meta key of the shared RPS rate limit (see [`Store::reserve_rps_slot`]).
pub const RPS_RATE_META: &str = "rps.rate.next_slot_us";

/// Meta keys shared by every tenant (the deployment's own facts); every other key is the
/// tenant's own ([`Store::get_meta`]).
pub const GLOBAL_META_KEYS: &[&str] = &[
    "nonce_secret",
    "secrets.key_check",
    sealed::SEALED_WITH_META,
    "database_id",
    "write_probe",
    RPS_RATE_META,
];

/// Everything the service persists. All methods are safe to call concurrently, also from
/// several processes sharing one database (server instances, the CLI).
///
/// A handle is scoped to one tenant ([`Store::tenant_id`]; [`open`] gives the default tenant,
/// [`Store::for_tenant`] another): every device, request, setting, RPS, session, change and
/// meta method reads and writes that tenant's rows only, and none takes a tenant argument, so
/// code above the store cannot pick or forget one. The methods marked *deployment-wide*
/// (tenants, server processes, leases, the RPS rate limit, the global meta keys) are the same
/// through every handle.

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Rewrites the database so that values overwritten before (e.g. plaintext secrets before
    /// they were sealed) are gone from its files. SQLite: checkpoint and VACUUM; PostgreSQL:
    /// nothing (its VACUUM reclaims old row versions, see docs/security.md).
    async fn compact(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Closes the connections now instead of when the last handle is dropped, e.g. after a
    /// refused start, so SQLite removes its `-wal` and `-shm` files before the process goes
    /// on. Calls after it fail.
    async fn close(&self) {}

    // ---- tenants (deployment-wide) ---------------------------------------------------------

    /// The tenant this handle is scoped to.
    fn tenant_id(&self) -> TenantId;

    /// A handle on the same database (same connections) scoped to `tenant`. It does not check
    /// that the tenant exists: take ids from [`Store::list_tenants`] or [`Store::find_tenant`].
    fn for_tenant(&self, tenant: TenantId) -> Arc<dyn Store>;

    /// Adds a tenant. Errors: [`StoreError::DuplicateTenant`].
    async fn create_tenant(&self, name: &str, domain: &str) -> Result<Tenant, StoreError>;

    /// Every tenant, by id (the default tenant first).
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;

    /// The tenant reached at `/<domain>/<name>/`.
    async fn find_tenant(&self, domain: &str, name: &str) -> Result<Option<Tenant>, StoreError>;

    /// Deletes a tenant with all its rows. Errors: [`StoreError::DefaultTenant`].
    async fn delete_tenant(&self, id: TenantId) -> Result<bool, StoreError>;

    /// The tenant whose device `mac` is, whichever tenant this handle is scoped to.
    async fn tenant_of_mac(&self, mac: Mac) -> Result<Option<Tenant>, StoreError>;

    /// The tenant of the device with URL token `token`, whichever tenant this handle is
    /// scoped to: the phone path finds its tenant so.
    async fn tenant_of_token(&self, token: &str) -> Result<Option<TenantId>, StoreError>;

    /// Every tenant's configuration revision, which each write to its settings, meta keys
    /// (but [`GLOBAL_META_KEYS`]) and PBX-side documents raises: one read tells a process whose
    /// settings to read again.
    async fn tenant_config_revisions(&self) -> Result<Vec<(TenantId, i64)>, StoreError>;

    /// The change feed's current revision and the tenants with a device written or deleted
    /// after revision `since` (none without a read beyond the counter when it did not move).
    async fn tenants_with_device_changes(
        &self,
        since: i64,
    ) -> Result<(i64, Vec<TenantId>), StoreError>;

    /// The tenants with an RPS job a worker may claim at `now` (due, not held by a live
    /// lease, not behind an earlier job of its MAC).
    async fn tenants_with_due_rps_jobs(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<TenantId>, StoreError>;

    // ---- devices -------------------------------------------------------------------------

    /// Inserts a device and returns it as stored: `created_at` as given (UTC, µs),
    /// `updated_at` = now, `revision` = the new change-feed revision.
    /// Errors: [`StoreError::DuplicateMac`], [`StoreError::DuplicateUrlToken`].
    async fn insert_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError>;

    /// Bulk insert (CSV import): one result per input row, in input order. One transaction
    /// per chunk of rows; a duplicate row (against the database or an earlier row of `ds`)
    /// fails alone. The outer error is for failures of the whole call (e.g. connection lost);
    /// chunks committed before it stay committed.
    async fn insert_devices(
        &self,
        ds: &[DeviceRecord],
    ) -> Result<Vec<Result<DeviceRecord, StoreError>>, StoreError> {
        self.insert_devices_with_jobs(ds, &[]).await
    }

    /// [`Store::insert_devices`], and for every row that is inserted, `per_device_jobs` enqueued
    /// for its MAC (their own `mac` is ignored) in the same transaction as the row: a crash
    /// can leave a chunk unsaved, never a saved device without its RPS commands.
    async fn insert_devices_with_jobs(
        &self,
        ds: &[DeviceRecord],
        per_device_jobs: &[NewRpsJob],
    ) -> Result<Vec<Result<DeviceRecord, StoreError>>, StoreError>;

    /// Replaces the device with `d.mac` (keeping its `created_at`) and returns it as stored.
    /// Errors: [`StoreError::NotFound`], [`StoreError::DuplicateUrlToken`].
    async fn update_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError>;

    async fn get_device(&self, mac: Mac) -> Result<Option<Device>, StoreError>;

    async fn get_device_by_token(&self, token: &str) -> Result<Option<Device>, StoreError>;

    /// Deletes the device with its status and uploaded local config, and leaves a tombstone
    /// for the change feed. Its phone request log rows stay until pruned; its RPS jobs stay
    /// queued (the DEREGISTER enqueued on removal must still run) and its RPS history stays.
    /// Returns whether it existed.
    async fn delete_device(&self, mac: Mac) -> Result<bool, StoreError>;

    async fn list_devices(&self, q: &DeviceQuery) -> Result<Page<Device>, StoreError>;

    /// The next page in `q`'s order after `q.after` (keyset paging, no total, no offset).
    async fn list_devices_after(&self, q: &DeviceKeyset) -> Result<Vec<Device>, StoreError>;

    async fn device_count(&self) -> Result<u64, StoreError>;

    // ---- change feed ---------------------------------------------------------------------

    /// The revision of the newest device change (0 for an empty database).
    async fn current_revision(&self) -> Result<i64, StoreError>;

    /// Devices inserted/updated and deleted after `since_revision`, read in one snapshot;
    /// `revision` of the answer is what to pass next time.
    async fn device_changes(&self, since_revision: i64) -> Result<DeviceChanges, StoreError>;

    /// All devices ordered by MAC, for a cold cache load. Pair it with [`Store::current_revision`]
    /// read *before* it, or use `device_changes(0)` which returns both from one snapshot.
    async fn all_device_records(&self) -> Result<Vec<DeviceRecord>, StoreError>;

    // ---- phone requests ------------------------------------------------------------------

    /// Appends the log rows and updates the status of the devices they name, in one
    /// transaction. Requests for unknown MACs are logged and otherwise ignored.
    async fn record_phone_requests(&self, batch: &[PhoneRequest]) -> Result<(), StoreError>;

    /// Newest first, of one device or of all; `limit` clamped to 1..=1000, 0 means 50.
    async fn list_phone_requests(
        &self,
        mac: Option<Mac>,
        limit: u32,
    ) -> Result<Vec<PhoneRequest>, StoreError>;

    /// Deletes log rows older than `older_than`, except the newest `keep_per_device` rows of
    /// each MAC (so a device's last contacts stay visible however long ago they were).
    /// Returns the number of rows deleted.
    async fn prune_phone_requests(
        &self,
        older_than: OffsetDateTime,
        keep_per_device: u32,
    ) -> Result<u64, StoreError>;

    /// Deletes anonymous log rows (refused requests, no MAC) beyond the newest `keep`, whatever
    /// their age: anyone can make them, so age alone does not bound them. Returns the number
    /// of rows deleted.
    async fn prune_anonymous_phone_requests(&self, keep: u32) -> Result<u64, StoreError>;

    /// Every instance's phone requests of every tenant as they are recorded, for live pages:
    /// PostgreSQL `LISTEN/NOTIFY` (`record_phone_requests` notifies in its transaction), one
    /// connection per call, whichever tenant this handle is scoped to. `None` where one process
    /// is the only writer (SQLite): the caller announces its own writes.
    async fn device_events(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<DeviceEvent>>, StoreError> {
        Ok(None)
    }

    /// The device's status; all `None` when it has none (or does not exist).
    async fn get_status(&self, mac: Mac) -> Result<DeviceStatus, StoreError>;

    // ---- phone uploads -------------------------------------------------------------------

    /// Stores (replaces) the phone's `<mac>-local.cfg` with the time received.
    /// Errors: [`StoreError::NotFound`] for an unknown device.
    async fn put_local_cfg(&self, mac: Mac, body: &[u8]) -> Result<(), StoreError>;

    async fn get_local_cfg(
        &self,
        mac: Mac,
    ) -> Result<Option<(Vec<u8>, OffsetDateTime)>, StoreError>;

    // ---- settings and metadata -----------------------------------------------------------

    async fn get_settings(&self) -> Result<Option<serde_json::Value>, StoreError>;

    /// Replaces the settings document and bumps its version.
    async fn put_settings(&self, v: &serde_json::Value) -> Result<(), StoreError>;

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` unless `key` exists, and returns the stored value: of two concurrent
    /// callers the first writer wins and both get its value.
    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> Result<String, StoreError>;

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// For the health check: `Err` when the database cannot be read or is not the one opened.
    /// SQLite: the file at the path must still be the file opened (device and inode), and a
    /// new connection must read it ([`StoreError::Replaced`], [`StoreError::Unreadable`]).
    /// PostgreSQL (and by default): one small read; a database dropped and created again
    /// under the same name is not told apart there.
    async fn check_readable(&self) -> Result<(), StoreError> {
        self.current_revision().await.map(|_| ())
    }

    /// For the health check: `Err` when the store cannot write now (full, read-only, locked
    /// past the busy timeout, I/O error). One small real write (`meta.write_probe`).
    async fn check_writable(&self) -> Result<(), StoreError> {
        let stamp = OffsetDateTime::now_utc().unix_timestamp().to_string();
        self.set_meta("write_probe", &stamp).await
    }

    // ---- innovaphone PBX side ------------------------------------------------------------

    /// Replaces the PBX-side document of a phone (see migrations/sqlite/0004_pbx_devices.sql)
    /// and sets its `config_complete` flag, a plain column beside it (0009), so that
    /// [`Store::pbx_config_states`] need not open every document. The flag is the caller's;
    /// `None` keeps the row's (re-sealing a document does not change it).
    async fn put_pbx_device(
        &self,
        mac: Mac,
        doc: &serde_json::Value,
        config_complete: Option<bool>,
    ) -> Result<(), StoreError>;

    async fn get_pbx_device(&self, mac: Mac) -> Result<Option<serde_json::Value>, StoreError>;

    /// Every PBX-side document, by MAC.
    async fn list_pbx_devices(&self) -> Result<Vec<(Mac, serde_json::Value)>, StoreError>;

    /// `true` when there was one.
    async fn delete_pbx_device(&self, mac: Mac) -> Result<bool, StoreError>;

    /// The `config_complete` flag of every PBX-side document, by MAC, without the documents.
    /// `None` for a row written before the flag had its column (migration 0009).
    async fn pbx_config_states(&self) -> Result<Vec<(Mac, Option<bool>)>, StoreError>;

    /// Sets the flag of a row that has none yet (`None` above), from its document; a row
    /// written since keeps its own. `true` when it was set.
    async fn fill_pbx_config_complete(&self, mac: Mac, complete: bool) -> Result<bool, StoreError>;

    // ---- leases --------------------------------------------------------------------------
    //
    // A named lease says which process may do one piece of work (e.g. `sysclient:<mac>`: keep
    // that phone's connection to innovaphone Devices) when several instances share the
    // database. `holder` must be unique per running process. Expiry is judged by the store's
    // (the calling process's) clock, like the `until` the caller computes, so instances' clocks
    // must agree to well within a lease. See docs/storage.md ("Leases").

    /// Takes the lease `name` for `holder` until `until` if it is free or expired, or renews it
    /// if `holder` already holds it (even expired). One atomic upsert, so of concurrent callers
    /// exactly one wins a free lease. Returns whether `holder` holds it afterwards.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Takes the lease `name` for `holder` until `until` whoever holds it. For work that must
    /// move to this process now; the previous holder finds out at its next renewal.
    async fn steal_lease(
        &self,
        name: &str,
        holder: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Ends `holder`'s lease `name` at once, so another process can take it without waiting
    /// for it to expire. Does nothing if someone else holds it (or nobody).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// The names of the leases `holder` holds (whether or not their `until` has passed).
    async fn leases_held(&self, holder: &str) -> Result<Vec<String>, StoreError>;

    /// Up to `limit` stored PBX phones (by MAC) whose lease `<prefix><mac>` nobody holds: no
    /// lease row, or one that [`Store::acquire_lease`] would take now (expired, its holder
    /// without a live heartbeat). A read only: instances call it every heartbeat to find the
    /// phones a dead instance left behind (docs/storage.md, "Instances and heartbeats").
    async fn unheld_pbx_devices(&self, prefix: &str, limit: u32) -> Result<Vec<Mac>, StoreError>;

    // ---- instances -----------------------------------------------------------------------
    //
    // One heartbeat row per running server process. A lease or claimed RPS job whose holder
    // has a row stays held while that row's `last_beat` is newer than
    // [`INSTANCE_STALE_AFTER`], whatever its own `until`: the holder writes one row every
    // [`INSTANCE_BEAT_EVERY`], not one per phone or job. See docs/storage.md ("Instances").

    /// Inserts or refreshes `beat.id`'s row (`started_at` is kept from the first beat), and
    /// deletes rows older than [`INSTANCE_FORGET_AFTER`].
    async fn beat_instance(&self, beat: &InstanceBeat) -> Result<(), StoreError>;

    /// A clean stop: in one transaction, releases every lease `id` holds, returns its claimed
    /// RPS jobs to the queue (due as they were) and deletes its row, so the others take over
    /// at once instead of after [`INSTANCE_STALE_AFTER`].
    async fn leave_instance(&self, id: &str) -> Result<(), StoreError>;

    /// Every heartbeat row, live or stale, oldest start first.
    async fn list_instances(&self) -> Result<Vec<InstanceBeat>, StoreError>;

    // ---- RPS outbox ----------------------------------------------------------------------
    //
    // Every command to Yealink's RPS is a job here until it finishes, so nothing is lost
    // while RPS is down or across a restart. Several instances may share the queue: a worker
    // leases the jobs it claims, and the jobs of one MAC run one at a time in enqueue order.
    // See docs/storage.md ("RPS outbox").

    /// Appends the jobs in one transaction, due now, and returns their ids: increasing in
    /// slice order, and greater than the id of every job enqueued before (by any instance).
    async fn enqueue_rps_jobs(&self, jobs: &[NewRpsJob]) -> Result<Vec<i64>, StoreError>;

    /// Due jobs (`next_attempt_at <= now`, not leased, or the lease expired and the worker, if
    /// it is an instance with a heartbeat row, is not live at `now`), oldest id first,
    /// at most `limit` (capped at 1000; 0 claims nothing), that are each the OLDEST unfinished
    /// job of their MAC (jobs whose mac is NULL are independent of each other). Leases them
    /// until `now + lease` for `worker`, so other workers skip them until then. `worker` must
    /// be unique per running process. PostgreSQL: `FOR UPDATE SKIP LOCKED` inside the claiming
    /// UPDATE; SQLite: `BEGIN IMMEDIATE`.
    async fn claim_rps_jobs(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<RpsJob>, StoreError>;

    /// Finishes a job: deletes it and inserts `entry` (its `id` is ignored) in ONE
    /// transaction, so a command is recorded once. Returns false, and writes nothing, if the
    /// job is gone or leased by another worker (the lease expired and it took the job over).
    async fn complete_rps_job(
        &self,
        id: i64,
        worker: &str,
        entry: &RpsHistoryEntry,
    ) -> Result<bool, StoreError>;

    /// A transient failure: attempts + 1, `last_error`, `next_attempt_at`, lease released.
    /// Returns false, and changes nothing, if the job is gone or leased by another worker.
    /// The job keeps its place: later jobs of its MAC still wait for it.
    async fn retry_rps_job(
        &self,
        id: i64,
        worker: &str,
        next_attempt_at: OffsetDateTime,
        last_error: &str,
    ) -> Result<bool, StoreError>;

    /// Moves every pending job's `next_attempt_at` to at most `at` (the operator says "RPS
    /// is back, retry now"). Leases are left alone. Returns the number of jobs moved.
    async fn retry_rps_jobs_now(&self, at: OffsetDateTime) -> Result<u64, StoreError>;

    /// Reserves the next slot of the RPS rate limit that every instance on this database
    /// shares: slots are `interval` apart, and the answer is when the reserved one starts (at
    /// least `now`). One `meta` row ([`RPS_RATE_META`], the end of the last slot in µs since the
    /// epoch) is moved forward in one statement, so two instances never get the same slot.
    async fn reserve_rps_slot(
        &self,
        now: OffsetDateTime,
        interval: Duration,
    ) -> Result<OffsetDateTime, StoreError>;

    /// Unfinished jobs (waiting, in backoff or leased), of one MAC or all, oldest first;
    /// `limit` clamped to 1..=1000, 0 means 50. For display.
    async fn pending_rps_jobs(
        &self,
        mac: Option<Mac>,
        limit: u32,
    ) -> Result<Vec<RpsJob>, StoreError>;

    async fn rps_queue_stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError>;

    // ---- RPS history ---------------------------------------------------------------------

    /// Appends a history entry written outside the queue (e.g. CHECK DEVICE, "RPS is off");
    /// `entry.id` is ignored. Returns the new entry's id.
    async fn record_rps_history(&self, entry: &RpsHistoryEntry) -> Result<i64, StoreError>;

    /// Newest first (by `at`, then insertion order); filtered by MAC and/or exact command.
    async fn list_rps_history(&self, q: &HistoryQuery)
    -> Result<Page<RpsHistoryEntry>, StoreError>;

    /// Each MAC's newest REDIRECT DEVICE entry, in one grouped query (the Devices list).
    async fn latest_rps_redirects(&self) -> Result<Vec<RpsHistoryEntry>, StoreError>;

    /// The MACs that have an unfinished RPS job.
    async fn queued_rps_macs(&self) -> Result<Vec<Mac>, StoreError>;

    /// [`list_rps_history`](Self::list_rps_history) of the MACs containing `mac_part` (hex
    /// digits; separators are ignored); `q.mac` is not used.
    async fn search_rps_history(
        &self,
        mac_part: &str,
        q: &HistoryQuery,
    ) -> Result<Page<RpsHistoryEntry>, StoreError>;

    /// Bounded retention: deletes entries older than `older_than`, but always keeps the
    /// newest `keep_last` entries overall. Returns the number of entries deleted.
    async fn prune_rps_history(
        &self,
        older_than: OffsetDateTime,
        keep_last: u32,
    ) -> Result<u64, StoreError>;

    // --- Web UI sessions (docs/ui.md): in the database so that any instance accepts any ---

    /// Stores a new session, then removes the sessions last used before `idle_before` and,
    /// beyond the `max` most recently used, the rest (the table stays bounded).
    async fn create_ui_session(
        &self,
        session: &UiSession,
        idle_before: OffsetDateTime,
        max: u32,
    ) -> Result<(), StoreError>;

    /// The session whose id hashes to `id_hash`, expired or not (the caller decides).
    async fn get_ui_session(&self, id_hash: &str) -> Result<Option<UiSession>, StoreError>;

    /// Sets the session's `last_used`.
    async fn touch_ui_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Removes the session (sign-out, expiry); whether it existed.
    async fn delete_ui_session(&self, id_hash: &str) -> Result<bool, StoreError>;

    // ---- audit of changes ----------------------------------------------------------------
    //
    // Who changed what (devices, settings), for people. Entries hold names, never secret
    // values: the caller writes them so (see the server's audit.rs).

    /// Appends one entry; `entry.id` is ignored.
    async fn record_change(&self, entry: &ChangeEntry) -> Result<(), StoreError> {
        self.record_changes(std::slice::from_ref(entry)).await
    }

    /// Appends the entries in one transaction (a CSV import records one per device).
    async fn record_changes(&self, entries: &[ChangeEntry]) -> Result<(), StoreError>;

    /// Newest first (by `at`, then insertion order); filtered by MAC.
    async fn list_changes(&self, q: &ChangeQuery) -> Result<Page<ChangeEntry>, StoreError>;

    /// Bounded retention: deletes entries older than `older_than`, but always keeps the
    /// newest `keep_last` entries overall. Returns the number of entries deleted.
    async fn prune_changes(
        &self,
        older_than: OffsetDateTime,
        keep_last: u32,
    ) -> Result<u64, StoreError>;
}
