//! `impl Store` for both backends: each method calls its topic's code, compiled for that
//! backend (`topic::sqlite::method` or `topic::postgres::method`, see `for_each_backend!`).
//! Nothing else happens here.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use yealink::Mac;

use crate::backend::Dialect;
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{
    ChangeEntry, ChangeQuery, Device, DeviceChanges, DeviceKeyset, DeviceQuery, DeviceRecord,
    DeviceStatus, HistoryQuery, InstanceBeat, NewRpsJob, Page, PhoneRequest, QueueStats,
    RpsHistoryEntry, RpsJob, Store, StoreError, Tenant, TenantId, UiSession,
};
use crate::{changes, devices, instances, leases, pbx, requests, rps, sessions, settings, tenants};

/// The `impl Store` of `$store`, whose topic code lives in the modules named `$b`; the items
/// in braces are the methods only this backend overrides.
macro_rules! impl_store {
    ($store:ty, $b:ident, { $($own:item)* }) => {
        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$store as Dialect>::NAME
            }

            async fn close(&self) {
                self.pool().close().await;
            }

            $($own)*

            // ---- tenants ----

            fn tenant_id(&self) -> TenantId {
                TenantId::new(<$store as Dialect>::tenant(self))
            }

            fn for_tenant(&self, tenant: TenantId) -> Arc<dyn Store> {
                Arc::new(<$store as Dialect>::with_tenant(self, tenant))
            }

            async fn create_tenant(&self, name: &str, domain: &str) -> Result<Tenant, StoreError> {
                tenants::$b::create_tenant(self, name, domain).await
            }

            async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
                tenants::$b::list_tenants(self).await
            }

            async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
                tenants::$b::get_tenant(self, id).await
            }

            async fn find_tenant(
                &self,
                domain: &str,
                name: &str,
            ) -> Result<Option<Tenant>, StoreError> {
                tenants::$b::find_tenant(self, domain, name).await
            }

            async fn delete_tenant(&self, id: TenantId) -> Result<bool, StoreError> {
                tenants::$b::delete_tenant(self, id).await
            }

            async fn tenant_of_mac(&self, mac: Mac) -> Result<Option<Tenant>, StoreError> {
                tenants::$b::tenant_of_mac(self, &mac.to_string()).await
            }

            async fn tenant_of_token(&self, token: &str) -> Result<Option<TenantId>, StoreError> {
                tenants::$b::tenant_of_token(self, token).await
            }

            async fn tenant_config_revisions(&self) -> Result<Vec<(TenantId, i64)>, StoreError> {
                tenants::$b::tenant_config_revisions(self).await
            }

            async fn tenants_with_device_changes(
                &self,
                since: i64,
            ) -> Result<(i64, Vec<TenantId>), StoreError> {
                tenants::$b::tenants_with_device_changes(self, since).await
            }

            async fn tenants_with_due_rps_jobs(
                &self,
                now: OffsetDateTime,
            ) -> Result<Vec<TenantId>, StoreError> {
                rps::$b::tenants_with_due_rps_jobs(self, now).await
            }

            // ---- devices and the change feed ----

            async fn insert_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError> {
                devices::$b::insert_device(self, d).await
            }

            async fn insert_devices_with_jobs(
                &self,
                ds: &[DeviceRecord],
                per_device_jobs: &[NewRpsJob],
            ) -> Result<Vec<Result<DeviceRecord, StoreError>>, StoreError> {
                devices::$b::insert_devices_with_jobs(self, ds, per_device_jobs).await
            }

            async fn update_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError> {
                devices::$b::update_device(self, d).await
            }

            async fn get_device(&self, mac: Mac) -> Result<Option<Device>, StoreError> {
                devices::$b::get_device(self, mac).await
            }

            async fn get_device_by_token(&self, token: &str) -> Result<Option<Device>, StoreError> {
                devices::$b::get_device_by_token(self, token).await
            }

            async fn delete_device(&self, mac: Mac) -> Result<bool, StoreError> {
                devices::$b::delete_device(self, mac).await
            }

            async fn list_devices(&self, q: &DeviceQuery) -> Result<Page<Device>, StoreError> {
                devices::$b::list_devices(self, q).await
            }

            async fn list_devices_after(&self, q: &DeviceKeyset) -> Result<Vec<Device>, StoreError> {
                devices::$b::list_devices_after(self, q).await
            }

            async fn device_count(&self) -> Result<u64, StoreError> {
                devices::$b::device_count(self).await
            }

            async fn current_revision(&self) -> Result<i64, StoreError> {
                devices::$b::current_revision(self).await
            }

            async fn device_changes(&self, since_revision: i64) -> Result<DeviceChanges, StoreError> {
                devices::$b::device_changes(self, since_revision).await
            }

            async fn all_device_records(&self) -> Result<Vec<DeviceRecord>, StoreError> {
                devices::$b::all_device_records(self).await
            }

            // ---- phone requests, status, uploads ----

            async fn record_phone_requests(&self, batch: &[PhoneRequest]) -> Result<(), StoreError> {
                requests::$b::record_phone_requests(self, batch).await
            }

            async fn list_phone_requests(
                &self,
                mac: Option<Mac>,
                limit: u32,
            ) -> Result<Vec<PhoneRequest>, StoreError> {
                requests::$b::list_phone_requests(self, mac, limit).await
            }

            async fn prune_phone_requests(
                &self,
                older_than: OffsetDateTime,
                keep_per_device: u32,
            ) -> Result<u64, StoreError> {
                requests::$b::prune_phone_requests(self, older_than, keep_per_device).await
            }

            async fn prune_anonymous_phone_requests(&self, keep: u32) -> Result<u64, StoreError> {
                requests::$b::prune_anonymous_phone_requests(self, keep).await
            }

            async fn get_status(&self, mac: Mac) -> Result<DeviceStatus, StoreError> {
                requests::$b::get_status(self, mac).await
            }

            async fn put_local_cfg(&self, mac: Mac, body: &[u8]) -> Result<(), StoreError> {
                requests::$b::put_local_cfg(self, mac, body).await
            }

            async fn get_local_cfg(
                &self,
                mac: Mac,
            ) -> Result<Option<(Vec<u8>, OffsetDateTime)>, StoreError> {
                requests::$b::get_local_cfg(self, mac).await
            }

            // ---- settings and metadata ----

            async fn get_settings(&self) -> Result<Option<serde_json::Value>, StoreError> {
                settings::$b::get_settings(self).await
            }

            async fn put_settings(&self, v: &serde_json::Value) -> Result<(), StoreError> {
                settings::$b::put_settings(self, v).await
            }

            async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
                settings::$b::get_meta(self, key).await
            }

            async fn insert_meta_if_absent(
                &self,
                key: &str,
                value: &str,
            ) -> Result<String, StoreError> {
                settings::$b::insert_meta_if_absent(self, key, value).await
            }

            async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
                settings::$b::set_meta(self, key, value).await
            }

            // ---- innovaphone PBX side ----

            async fn put_pbx_device(
                &self,
                mac: Mac,
                doc: &serde_json::Value,
                config_complete: Option<bool>,
            ) -> Result<(), StoreError> {
                pbx::$b::put_pbx_device(self, mac, doc, config_complete).await
            }

            async fn get_pbx_device(&self, mac: Mac) -> Result<Option<serde_json::Value>, StoreError> {
                pbx::$b::get_pbx_device(self, mac).await
            }

            async fn list_pbx_devices(&self) -> Result<Vec<(Mac, serde_json::Value)>, StoreError> {
                pbx::$b::list_pbx_devices(self).await
            }

            async fn delete_pbx_device(&self, mac: Mac) -> Result<bool, StoreError> {
                pbx::$b::delete_pbx_device(self, mac).await
            }

            async fn pbx_config_states(&self) -> Result<Vec<(Mac, Option<bool>)>, StoreError> {
                pbx::$b::pbx_config_states(self).await
            }

            async fn fill_pbx_config_complete(
                &self,
                mac: Mac,
                complete: bool,
            ) -> Result<bool, StoreError> {
                pbx::$b::fill_pbx_config_complete(self, mac, complete).await
            }

            // ---- leases ----

            async fn acquire_lease(
                &self,
                name: &str,
                holder: &str,
                until: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                leases::$b::acquire_lease(self, name, holder, until).await
            }

            async fn steal_lease(
                &self,
                name: &str,
                holder: &str,
                until: OffsetDateTime,
            ) -> Result<(), StoreError> {
                leases::$b::steal_lease(self, name, holder, until).await
            }

            async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
                leases::$b::release_lease(self, name, holder).await
            }

            async fn leases_held(&self, holder: &str) -> Result<Vec<String>, StoreError> {
                leases::$b::leases_held(self, holder).await
            }

            async fn unheld_pbx_devices(
                &self,
                prefix: &str,
                limit: u32,
            ) -> Result<Vec<Mac>, StoreError> {
                leases::$b::unheld_pbx_devices(self, prefix, limit).await
            }

            // ---- instances ----

            async fn beat_instance(&self, beat: &InstanceBeat) -> Result<(), StoreError> {
                instances::$b::beat_instance(self, beat).await
            }

            async fn leave_instance(&self, id: &str) -> Result<(), StoreError> {
                instances::$b::leave_instance(self, id).await
            }

            async fn list_instances(&self) -> Result<Vec<InstanceBeat>, StoreError> {
                instances::$b::list_instances(self).await
            }

            // ---- RPS outbox and history ----

            async fn enqueue_rps_jobs(&self, jobs: &[NewRpsJob]) -> Result<Vec<i64>, StoreError> {
                rps::$b::enqueue_rps_jobs(self, jobs).await
            }

            async fn claim_rps_jobs(
                &self,
                worker: &str,
                now: OffsetDateTime,
                lease: Duration,
                limit: u32,
            ) -> Result<Vec<RpsJob>, StoreError> {
                rps::$b::claim_rps_jobs(self, worker, now, lease, limit).await
            }

            async fn complete_rps_job(
                &self,
                id: i64,
                worker: &str,
                entry: &RpsHistoryEntry,
            ) -> Result<bool, StoreError> {
                rps::$b::complete_rps_job(self, id, worker, entry).await
            }

            async fn retry_rps_job(
                &self,
                id: i64,
                worker: &str,
                next_attempt_at: OffsetDateTime,
                last_error: &str,
            ) -> Result<bool, StoreError> {
                rps::$b::retry_rps_job(self, id, worker, next_attempt_at, last_error).await
            }

            async fn retry_rps_jobs_now(&self, at: OffsetDateTime) -> Result<u64, StoreError> {
                rps::$b::retry_rps_jobs_now(self, at).await
            }

            async fn reserve_rps_slot(
                &self,
                now: OffsetDateTime,
                interval: Duration,
            ) -> Result<OffsetDateTime, StoreError> {
                rps::$b::reserve_rps_slot(self, now, interval).await
            }

            async fn pending_rps_jobs(
                &self,
                mac: Option<Mac>,
                limit: u32,
            ) -> Result<Vec<RpsJob>, StoreError> {
                rps::$b::pending_rps_jobs(self, mac, limit).await
            }

            async fn rps_queue_stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError> {
                rps::$b::rps_queue_stats(self, now).await
            }

            async fn record_rps_history(&self, entry: &RpsHistoryEntry) -> Result<i64, StoreError> {
                rps::$b::record_rps_history(self, entry).await
            }

            async fn list_rps_history(
                &self,
                q: &HistoryQuery,
            ) -> Result<Page<RpsHistoryEntry>, StoreError> {
                rps::$b::list_rps_history(self, q).await
            }

            async fn latest_rps_redirects(&self) -> Result<Vec<RpsHistoryEntry>, StoreError> {
                rps::$b::latest_rps_redirects(self).await
            }

            async fn queued_rps_macs(&self) -> Result<Vec<Mac>, StoreError> {
                rps::$b::queued_rps_macs(self).await
            }

            async fn search_rps_history(
                &self,
                mac_part: &str,
                q: &HistoryQuery,
            ) -> Result<Page<RpsHistoryEntry>, StoreError> {
                rps::$b::search_rps_history(self, mac_part, q).await
            }

            async fn prune_rps_history(
                &self,
                older_than: OffsetDateTime,
                keep_last: u32,
            ) -> Result<u64, StoreError> {
                rps::$b::prune_rps_history(self, older_than, keep_last).await
            }

            // ---- web UI sessions ----

            async fn create_ui_session(
                &self,
                session: &UiSession,
                idle_before: OffsetDateTime,
                max: u32,
            ) -> Result<(), StoreError> {
                sessions::$b::create_ui_session(self, session, idle_before, max).await
            }

            async fn get_ui_session(&self, id_hash: &str) -> Result<Option<UiSession>, StoreError> {
                sessions::$b::get_ui_session(self, id_hash).await
            }

            async fn touch_ui_session(
                &self,
                id_hash: &str,
                at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                sessions::$b::touch_ui_session(self, id_hash, at).await
            }

            async fn delete_ui_session(&self, id_hash: &str) -> Result<bool, StoreError> {
                sessions::$b::delete_ui_session(self, id_hash).await
            }

            // ---- audit of changes ----

            async fn record_changes(&self, entries: &[ChangeEntry]) -> Result<(), StoreError> {
                changes::$b::record_changes(self, entries).await
            }

            async fn list_changes(&self, q: &ChangeQuery) -> Result<Page<ChangeEntry>, StoreError> {
                changes::$b::list_changes(self, q).await
            }

            async fn prune_changes(
                &self,
                older_than: OffsetDateTime,
                keep_last: u32,
            ) -> Result<u64, StoreError> {
                changes::$b::prune_changes(self, older_than, keep_last).await
            }
        }
    };
}

impl_store!(SqliteStore, sqlite, {
    async fn compact(&self) -> Result<(), StoreError> {
        crate::sqlite::compact(self).await
    }

    async fn check_readable(&self) -> Result<(), StoreError> {
        crate::sqlite::check_readable(self).await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        crate::sqlite::check_writable(self).await
    }
});

impl_store!(PgStore, postgres, {
    async fn device_events(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<crate::DeviceEvent>>, StoreError> {
        requests::postgres::device_events(self).await
    }
});
