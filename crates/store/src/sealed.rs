//! [`SealedStore`]: a [`Store`] that keeps every secret encrypted in the database it wraps
//! (docs/security.md, "Data at rest"). The backends store text and bytes as given; this layer
//! seals on the way in and opens on the way out, so neither backend knows about keys.
//!
//! Sealed: the device passwords and URL token, the secret meta values ([`SECRET_META_KEYS`]),
//! the PBX-side documents (sysclient password, Devices item secrets) and uploaded local
//! configs (a phone's local.cfg can hold passwords set on the phone).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use yealink::Mac;

use crate::sealing::{Keyring, SEALED_PREFIX};
use crate::{
    Device, DeviceChanges, DeviceKeyset, DeviceQuery, DeviceRecord, DeviceStatus, HistoryQuery,
    NewRpsJob, Page, PhoneRequest, QueueStats, RpsHistoryEntry, RpsJob, Store, StoreError, Tenant,
    TenantId, UiSession,
};

/// Meta keys whose values are secrets: the digest nonce secret, the customer's own RPS
/// secret, the innovaphone instance password. Others (the admin password's Argon2 hash,
/// learned URLs) stay readable.
pub const SECRET_META_KEYS: &[&str] = &[
    "nonce_secret",
    "rps_own_secret",
    "innovaphone.instance_password",
];

/// Meta key of a sealed known value: opening it at start-up tells a wrong key file apart
/// before anything is read or written.
const KEY_CHECK_META: &str = "secrets.key_check";
const KEY_CHECK_TEXT: &[u8] = b"yealink-prov key check";

/// Meta key naming the key that sealed every secret, written when a pass of
/// [`SealedStore::reseal_all`] finished: a start with that key as its sealing key skips the
/// pass, which reads every device (one query each for its `local.cfg`).
pub const SEALED_WITH_META: &str = "secrets.sealed_with";

const SIP_PASSWORD: &str = "device.sip_password";
const HTTP_PASSWORD: &str = "device.http_password";
const ADMIN_PASSWORD: &str = "device.admin_password";
const URL_TOKEN: &str = "device.url_token";
const PBX_DEVICE: &str = "pbx_device";
const LOCAL_CFG: &str = "local_cfg";

fn meta_label(key: &str) -> String {
    format!("meta.{key}")
}

fn is_secret_meta(key: &str) -> bool {
    SECRET_META_KEYS.contains(&key)
}

/// What [`SealedStore::reseal_all`] changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResealReport {
    pub devices: u64,
    pub meta: u64,
    pub pbx_devices: u64,
    pub local_cfgs: u64,
}

impl ResealReport {
    pub fn total(&self) -> u64 {
        self.devices + self.meta + self.pbx_devices + self.local_cfgs
    }
}

/// A store whose secrets are sealed with a [`Keyring`].
pub struct SealedStore {
    inner: Arc<dyn Store>,
    keys: Keyring,
}

impl SealedStore {
    /// Wraps `inner` without touching the database; see [`SealedStore::open`].
    pub fn wrap(inner: Arc<dyn Store>, keys: Keyring) -> Self {
        Self { inner, keys }
    }

    /// Wraps `inner`, checks that the key ring opens the database's secrets (a clear
    /// [`StoreError::Secret`] otherwise) and seals whatever is not sealed with the sealing key
    /// yet: plaintext rows of a database from before encryption, or rows under an older key
    /// left by an interrupted rotation.
    pub async fn open(inner: Arc<dyn Store>, keys: Keyring) -> Result<Self, StoreError> {
        let store = Self::wrap(inner, keys);
        store.check_key().await?;
        if store.all_sealed_with_primary().await? {
            return Ok(store);
        }
        let report = store.reseal_all().await?;
        if report.total() > 0 {
            store.inner.compact().await?;
            tracing::info!(
                devices = report.devices,
                meta = report.meta,
                pbx_devices = report.pbx_devices,
                local_cfgs = report.local_cfgs,
                key = store.keys.primary_id(),
                "secrets sealed with the current key"
            );
        }
        Ok(store)
    }

    /// The inner (raw) store, for tests and tools.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// Checks the key ring against the database without writing anything: `Ok(true)` when it
    /// opens the database's check value, `Ok(false)` when the database has none (new, or from
    /// before encryption), [`StoreError::Secret`] when it does not fit. Lets a start-up refuse
    /// before it creates a key file the database cannot use.
    pub async fn verify_key(&self) -> Result<bool, StoreError> {
        match self.inner.get_meta(KEY_CHECK_META).await? {
            Some(v) => {
                self.keys.open(KEY_CHECK_META, v.as_bytes())?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn check_key(&self) -> Result<(), StoreError> {
        match self.inner.get_meta(KEY_CHECK_META).await? {
            Some(v) => {
                self.keys.open(KEY_CHECK_META, v.as_bytes())?;
            }
            None => {
                let v = self.keys.seal(KEY_CHECK_META, KEY_CHECK_TEXT);
                let stored = self.inner.insert_meta_if_absent(KEY_CHECK_META, &v).await?;
                // Another process may have written its own first.
                self.keys.open(KEY_CHECK_META, stored.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Whether the last finished [`SealedStore::reseal_all`] sealed with this ring's sealing
    /// key. Every writer seals with its sealing key, and `key rotate` refuses while servers
    /// run, so nothing sealed otherwise appears after that pass.
    async fn all_sealed_with_primary(&self) -> Result<bool, StoreError> {
        Ok(self.inner.get_meta(SEALED_WITH_META).await?.as_deref() == Some(self.keys.primary_id()))
    }

    /// Re-seals every secret not sealed with the sealing key, row by row (the first start
    /// with a key, and `yealink-prov key rotate`). Each device row is rewritten with
    /// `update_device`, so it gets a new revision (caches reload it). Once every tenant is
    /// done it records the sealing key ([`SEALED_WITH_META`]); an interrupted pass records
    /// nothing, so the next start runs it again.
    pub async fn reseal_all(&self) -> Result<ResealReport, StoreError> {
        let mut report = ResealReport::default();
        if !self.keys.is_current(
            self.inner
                .get_meta(KEY_CHECK_META)
                .await?
                .unwrap_or_default()
                .as_bytes(),
        ) {
            let v = self.keys.seal(KEY_CHECK_META, KEY_CHECK_TEXT);
            self.inner.set_meta(KEY_CHECK_META, &v).await?;
        }
        // Every tenant's secrets: a rotation leaves none under the old key.
        for tenant in self.inner.list_tenants().await? {
            let scoped = Self::wrap(self.inner.for_tenant(tenant.id), self.keys.clone());
            scoped.reseal_tenant(&mut report).await?;
        }
        self.inner
            .set_meta(SEALED_WITH_META, self.keys.primary_id())
            .await?;
        Ok(report)
    }

    /// [`SealedStore::reseal_all`] for the tenant of this handle.
    async fn reseal_tenant(&self, report: &mut ResealReport) -> Result<(), StoreError> {
        for raw in self.inner.all_device_records().await? {
            let mac = raw.mac;
            let current = [
                &raw.sip_password,
                &raw.http_password,
                &raw.admin_password,
                &raw.url_token,
            ]
            .iter()
            .all(|v| self.keys.is_current(v.as_bytes()));
            if !current {
                let plain = self.open_record(raw)?;
                match self.inner.update_device(&self.seal_record(&plain)).await {
                    Ok(_) => report.devices += 1,
                    // Deleted meanwhile: nothing left to seal.
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            if let Some((body, _)) = self.inner.get_local_cfg(mac).await?
                && !self.keys.is_current(&body)
            {
                let plain = self.keys.open(LOCAL_CFG, &body)?;
                match self.put_local_cfg(mac, &plain).await {
                    Ok(()) => report.local_cfgs += 1,
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for key in SECRET_META_KEYS {
            if let Some(v) = self.inner.get_meta(key).await?
                && !self.keys.is_current(v.as_bytes())
            {
                let plain = self.keys.open_str(&meta_label(key), &v)?;
                self.set_meta(key, &plain).await?;
                report.meta += 1;
            }
        }
        for (mac, doc) in self.inner.list_pbx_devices().await? {
            let current = doc
                .as_str()
                .is_some_and(|s| self.keys.is_current(s.as_bytes()));
            if !current {
                let plain = self.open_doc(doc)?;
                self.put_pbx_device(mac, &plain, None).await?;
                report.pbx_devices += 1;
            }
        }
        Ok(())
    }

    fn seal_record(&self, d: &DeviceRecord) -> DeviceRecord {
        let k = &self.keys;
        DeviceRecord {
            sip_password: k.seal(SIP_PASSWORD, d.sip_password.as_bytes()),
            http_password: k.seal(HTTP_PASSWORD, d.http_password.as_bytes()),
            admin_password: k.seal(ADMIN_PASSWORD, d.admin_password.as_bytes()),
            url_token: k.seal_lookup(URL_TOKEN, d.url_token.as_bytes()),
            ..d.clone()
        }
    }

    fn open_record(&self, mut d: DeviceRecord) -> Result<DeviceRecord, StoreError> {
        let k = &self.keys;
        d.sip_password = k.open_str(SIP_PASSWORD, &d.sip_password)?;
        d.http_password = k.open_str(HTTP_PASSWORD, &d.http_password)?;
        d.admin_password = k.open_str(ADMIN_PASSWORD, &d.admin_password)?;
        d.url_token = k.open_str(URL_TOKEN, &d.url_token)?;
        Ok(d)
    }

    fn open_device(&self, d: Device) -> Result<Device, StoreError> {
        Ok(Device {
            record: self.open_record(d.record)?,
            status: d.status,
        })
    }

    fn open_devices(&self, ds: Vec<Device>) -> Result<Vec<Device>, StoreError> {
        ds.into_iter().map(|d| self.open_device(d)).collect()
    }

    /// A sealed document is stored as one JSON string (the column must hold valid JSON).
    fn seal_doc(&self, doc: &serde_json::Value) -> serde_json::Value {
        serde_json::Value::String(self.keys.seal(PBX_DEVICE, doc.to_string().as_bytes()))
    }

    fn open_doc(&self, doc: serde_json::Value) -> Result<serde_json::Value, StoreError> {
        match doc {
            serde_json::Value::String(s) if s.starts_with(SEALED_PREFIX) => {
                let text = self.keys.open(PBX_DEVICE, s.as_bytes())?;
                serde_json::from_slice(&text)
                    .map_err(|e| StoreError::Corrupt(format!("sealed PBX document: {e}")))
            }
            plain => Ok(plain),
        }
    }
}

#[async_trait]
impl Store for SealedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn close(&self) {
        self.inner.close().await
    }

    async fn compact(&self) -> Result<(), StoreError> {
        self.inner.compact().await
    }

    async fn check_readable(&self) -> Result<(), StoreError> {
        self.inner.check_readable().await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.check_writable().await
    }

    fn tenant_id(&self) -> TenantId {
        self.inner.tenant_id()
    }

    fn for_tenant(&self, tenant: TenantId) -> Arc<dyn Store> {
        Arc::new(Self::wrap(self.inner.for_tenant(tenant), self.keys.clone()))
    }

    async fn create_tenant(&self, name: &str, domain: &str) -> Result<Tenant, StoreError> {
        self.inner.create_tenant(name, domain).await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.inner.list_tenants().await
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        self.inner.get_tenant(id).await
    }

    async fn find_tenant(&self, domain: &str, name: &str) -> Result<Option<Tenant>, StoreError> {
        self.inner.find_tenant(domain, name).await
    }

    async fn delete_tenant(&self, id: TenantId) -> Result<bool, StoreError> {
        self.inner.delete_tenant(id).await
    }

    async fn tenant_of_mac(&self, mac: Mac) -> Result<Option<Tenant>, StoreError> {
        self.inner.tenant_of_mac(mac).await
    }

    async fn tenant_config_revisions(&self) -> Result<Vec<(TenantId, i64)>, StoreError> {
        self.inner.tenant_config_revisions().await
    }

    async fn tenants_with_device_changes(
        &self,
        since: i64,
    ) -> Result<(i64, Vec<TenantId>), StoreError> {
        self.inner.tenants_with_device_changes(since).await
    }

    async fn tenants_with_due_rps_jobs(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<TenantId>, StoreError> {
        self.inner.tenants_with_due_rps_jobs(now).await
    }

    async fn tenant_of_token(&self, token: &str) -> Result<Option<TenantId>, StoreError> {
        for form in self.keys.lookup_forms(URL_TOKEN, token.as_bytes()) {
            if let Some(id) = self.inner.tenant_of_token(&form).await? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    async fn insert_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError> {
        let stored = self.inner.insert_device(&self.seal_record(d)).await?;
        self.open_record(stored)
    }

    async fn insert_devices_with_jobs(
        &self,
        ds: &[DeviceRecord],
        per_device_jobs: &[NewRpsJob],
    ) -> Result<Vec<Result<DeviceRecord, StoreError>>, StoreError> {
        let sealed: Vec<DeviceRecord> = ds.iter().map(|d| self.seal_record(d)).collect();
        let results = self
            .inner
            .insert_devices_with_jobs(&sealed, per_device_jobs)
            .await?;
        Ok(results
            .into_iter()
            .map(|r| r.and_then(|d| self.open_record(d)))
            .collect())
    }

    async fn update_device(&self, d: &DeviceRecord) -> Result<DeviceRecord, StoreError> {
        let stored = self.inner.update_device(&self.seal_record(d)).await?;
        self.open_record(stored)
    }

    async fn get_device(&self, mac: Mac) -> Result<Option<Device>, StoreError> {
        self.inner
            .get_device(mac)
            .await?
            .map(|d| self.open_device(d))
            .transpose()
    }

    async fn get_device_by_token(&self, token: &str) -> Result<Option<Device>, StoreError> {
        // Under each key of the ring: during a rotation a row may still be under the old one.
        for form in self.keys.lookup_forms(URL_TOKEN, token.as_bytes()) {
            if let Some(d) = self.inner.get_device_by_token(&form).await? {
                return self.open_device(d).map(Some);
            }
        }
        Ok(None)
    }

    async fn delete_device(&self, mac: Mac) -> Result<bool, StoreError> {
        self.inner.delete_device(mac).await
    }

    async fn list_devices(&self, q: &DeviceQuery) -> Result<Page<Device>, StoreError> {
        let page = self.inner.list_devices(q).await?;
        Ok(Page {
            items: self.open_devices(page.items)?,
            total: page.total,
        })
    }

    async fn list_devices_after(&self, q: &DeviceKeyset) -> Result<Vec<Device>, StoreError> {
        let ds = self.inner.list_devices_after(q).await?;
        self.open_devices(ds)
    }

    async fn device_count(&self) -> Result<u64, StoreError> {
        self.inner.device_count().await
    }

    async fn current_revision(&self) -> Result<i64, StoreError> {
        self.inner.current_revision().await
    }

    async fn device_changes(&self, since_revision: i64) -> Result<DeviceChanges, StoreError> {
        let c = self.inner.device_changes(since_revision).await?;
        Ok(DeviceChanges {
            upserted: c
                .upserted
                .into_iter()
                .map(|d| self.open_record(d))
                .collect::<Result<_, _>>()?,
            removed: c.removed,
            revision: c.revision,
        })
    }

    async fn all_device_records(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.inner
            .all_device_records()
            .await?
            .into_iter()
            .map(|d| self.open_record(d))
            .collect()
    }

    async fn record_phone_requests(&self, batch: &[PhoneRequest]) -> Result<(), StoreError> {
        self.inner.record_phone_requests(batch).await
    }

    async fn list_phone_requests(
        &self,
        mac: Option<Mac>,
        limit: u32,
    ) -> Result<Vec<PhoneRequest>, StoreError> {
        self.inner.list_phone_requests(mac, limit).await
    }

    async fn prune_phone_requests(
        &self,
        older_than: OffsetDateTime,
        keep_per_device: u32,
    ) -> Result<u64, StoreError> {
        self.inner
            .prune_phone_requests(older_than, keep_per_device)
            .await
    }

    async fn prune_anonymous_phone_requests(&self, keep: u32) -> Result<u64, StoreError> {
        self.inner.prune_anonymous_phone_requests(keep).await
    }

    async fn get_status(&self, mac: Mac) -> Result<DeviceStatus, StoreError> {
        self.inner.get_status(mac).await
    }

    async fn put_local_cfg(&self, mac: Mac, body: &[u8]) -> Result<(), StoreError> {
        let sealed = self.keys.seal(LOCAL_CFG, body);
        self.inner.put_local_cfg(mac, sealed.as_bytes()).await
    }

    async fn get_local_cfg(
        &self,
        mac: Mac,
    ) -> Result<Option<(Vec<u8>, OffsetDateTime)>, StoreError> {
        match self.inner.get_local_cfg(mac).await? {
            Some((body, at)) => Ok(Some((self.keys.open(LOCAL_CFG, &body)?, at))),
            None => Ok(None),
        }
    }

    async fn get_settings(&self) -> Result<Option<serde_json::Value>, StoreError> {
        self.inner.get_settings().await
    }

    async fn put_settings(&self, v: &serde_json::Value) -> Result<(), StoreError> {
        self.inner.put_settings(v).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let v = self.inner.get_meta(key).await?;
        match v {
            Some(v) if is_secret_meta(key) => Ok(Some(self.keys.open_str(&meta_label(key), &v)?)),
            v => Ok(v),
        }
    }

    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> Result<String, StoreError> {
        if !is_secret_meta(key) {
            return self.inner.insert_meta_if_absent(key, value).await;
        }
        let label = meta_label(key);
        let sealed = self.keys.seal(&label, value.as_bytes());
        let stored = self.inner.insert_meta_if_absent(key, &sealed).await?;
        Ok(self.keys.open_str(&label, &stored)?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        if !is_secret_meta(key) {
            return self.inner.set_meta(key, value).await;
        }
        let sealed = self.keys.seal(&meta_label(key), value.as_bytes());
        self.inner.set_meta(key, &sealed).await
    }

    async fn put_pbx_device(
        &self,
        mac: Mac,
        doc: &serde_json::Value,
        config_complete: Option<bool>,
    ) -> Result<(), StoreError> {
        self.inner
            .put_pbx_device(mac, &self.seal_doc(doc), config_complete)
            .await
    }

    async fn get_pbx_device(&self, mac: Mac) -> Result<Option<serde_json::Value>, StoreError> {
        self.inner
            .get_pbx_device(mac)
            .await?
            .map(|d| self.open_doc(d))
            .transpose()
    }

    async fn list_pbx_devices(&self) -> Result<Vec<(Mac, serde_json::Value)>, StoreError> {
        self.inner
            .list_pbx_devices()
            .await?
            .into_iter()
            .map(|(mac, d)| Ok((mac, self.open_doc(d)?)))
            .collect()
    }

    async fn delete_pbx_device(&self, mac: Mac) -> Result<bool, StoreError> {
        self.inner.delete_pbx_device(mac).await
    }

    // The flag is no secret: it stays plain beside the sealed document.
    async fn pbx_config_states(&self) -> Result<Vec<(Mac, Option<bool>)>, StoreError> {
        self.inner.pbx_config_states().await
    }

    async fn fill_pbx_config_complete(&self, mac: Mac, complete: bool) -> Result<bool, StoreError> {
        self.inner.fill_pbx_config_complete(mac, complete).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.inner.acquire_lease(name, holder, until).await
    }

    async fn steal_lease(
        &self,
        name: &str,
        holder: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner.steal_lease(name, holder, until).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }

    // RPS jobs carry no secrets (their payloads are empty; the history is redacted by the
    // caller), so they pass through.
    async fn enqueue_rps_jobs(&self, jobs: &[NewRpsJob]) -> Result<Vec<i64>, StoreError> {
        self.inner.enqueue_rps_jobs(jobs).await
    }

    async fn device_events(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<crate::DeviceEvent>>, StoreError> {
        self.inner.device_events().await
    }

    async fn leases_held(&self, holder: &str) -> Result<Vec<String>, StoreError> {
        self.inner.leases_held(holder).await
    }

    async fn unheld_pbx_devices(&self, prefix: &str, limit: u32) -> Result<Vec<Mac>, StoreError> {
        self.inner.unheld_pbx_devices(prefix, limit).await
    }

    async fn beat_instance(&self, beat: &crate::InstanceBeat) -> Result<(), StoreError> {
        self.inner.beat_instance(beat).await
    }

    async fn leave_instance(&self, id: &str) -> Result<(), StoreError> {
        self.inner.leave_instance(id).await
    }

    async fn list_instances(&self) -> Result<Vec<crate::InstanceBeat>, StoreError> {
        self.inner.list_instances().await
    }

    async fn claim_rps_jobs(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<RpsJob>, StoreError> {
        self.inner.claim_rps_jobs(worker, now, lease, limit).await
    }

    async fn complete_rps_job(
        &self,
        id: i64,
        worker: &str,
        entry: &RpsHistoryEntry,
    ) -> Result<bool, StoreError> {
        self.inner.complete_rps_job(id, worker, entry).await
    }

    async fn retry_rps_job(
        &self,
        id: i64,
        worker: &str,
        next_attempt_at: OffsetDateTime,
        last_error: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .retry_rps_job(id, worker, next_attempt_at, last_error)
            .await
    }

    async fn retry_rps_jobs_now(&self, at: OffsetDateTime) -> Result<u64, StoreError> {
        self.inner.retry_rps_jobs_now(at).await
    }

    async fn reserve_rps_slot(
        &self,
        now: OffsetDateTime,
        interval: Duration,
    ) -> Result<OffsetDateTime, StoreError> {
        self.inner.reserve_rps_slot(now, interval).await
    }

    async fn pending_rps_jobs(
        &self,
        mac: Option<Mac>,
        limit: u32,
    ) -> Result<Vec<RpsJob>, StoreError> {
        self.inner.pending_rps_jobs(mac, limit).await
    }

    async fn rps_queue_stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError> {
        self.inner.rps_queue_stats(now).await
    }

    async fn record_rps_history(&self, entry: &RpsHistoryEntry) -> Result<i64, StoreError> {
        self.inner.record_rps_history(entry).await
    }

    async fn list_rps_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<Page<RpsHistoryEntry>, StoreError> {
        self.inner.list_rps_history(q).await
    }

    async fn latest_rps_redirects(&self) -> Result<Vec<RpsHistoryEntry>, StoreError> {
        self.inner.latest_rps_redirects().await
    }

    async fn queued_rps_macs(&self) -> Result<Vec<Mac>, StoreError> {
        self.inner.queued_rps_macs().await
    }

    async fn search_rps_history(
        &self,
        mac_part: &str,
        q: &HistoryQuery,
    ) -> Result<Page<RpsHistoryEntry>, StoreError> {
        self.inner.search_rps_history(mac_part, q).await
    }

    async fn prune_rps_history(
        &self,
        older_than: OffsetDateTime,
        keep_last: u32,
    ) -> Result<u64, StoreError> {
        self.inner.prune_rps_history(older_than, keep_last).await
    }

    // Sessions hold no phone secret (only hashes and a CSRF token): passed through.
    async fn create_ui_session(
        &self,
        session: &UiSession,
        idle_before: OffsetDateTime,
        max: u32,
    ) -> Result<(), StoreError> {
        self.inner
            .create_ui_session(session, idle_before, max)
            .await
    }

    async fn get_ui_session(&self, id_hash: &str) -> Result<Option<UiSession>, StoreError> {
        self.inner.get_ui_session(id_hash).await
    }

    async fn touch_ui_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.touch_ui_session(id_hash, at).await
    }

    async fn delete_ui_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        self.inner.delete_ui_session(id_hash).await
    }

    // The audit holds no secrets (the server writes names, never values): passed through.
    async fn record_change(&self, entry: &crate::ChangeEntry) -> Result<(), StoreError> {
        self.inner.record_change(entry).await
    }

    async fn record_changes(&self, entries: &[crate::ChangeEntry]) -> Result<(), StoreError> {
        self.inner.record_changes(entries).await
    }

    async fn list_changes(
        &self,
        q: &crate::ChangeQuery,
    ) -> Result<Page<crate::ChangeEntry>, StoreError> {
        self.inner.list_changes(q).await
    }

    async fn prune_changes(
        &self,
        older_than: OffsetDateTime,
        keep_last: u32,
    ) -> Result<u64, StoreError> {
        self.inner.prune_changes(older_than, keep_last).await
    }
}
