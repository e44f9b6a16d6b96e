//! One loop per process that keeps every tenant's service in step with the database. Each
//! beat reads three small deployment-wide answers (which tenants' devices changed, whose
//! configuration changed, who has an RPS command due) and touches only the tenants they name:
//! a thousand idle tenants cost three queries a second, not a few thousand
//! (docs/tenants.md, "One pulse").

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use prov_store::{Store, TenantId};
use time::OffsetDateTime;

use crate::service::Service;

pub struct Pulse {
    /// Any handle will do: the three questions are about every tenant.
    store: Arc<dyn Store>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    services: HashMap<TenantId, Arc<Service>>,
    /// The change feed's revision of the last beat; `None` before the first.
    device_revision: Option<i64>,
    /// Tenants whose devices are read at the next beat whatever the feed says: just added
    /// (their cache was loaded at some earlier revision), or their last read failed.
    devices_due: HashSet<TenantId>,
    /// The configuration revision each tenant's service last read at.
    config_seen: HashMap<TenantId, i64>,
}

/// What one beat did, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Beat {
    pub devices_read: usize,
    pub configs_read: usize,
    pub workers_woken: usize,
}

impl Pulse {
    pub fn new(store: Arc<dyn Store>) -> Pulse {
        Pulse {
            store,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// From now on the pulse keeps `service` current and wakes its RPS worker; the worker's
    /// own polling becomes a slow safety net.
    pub fn add(&self, service: Arc<Service>) {
        let id = service.store().tenant_id();
        service.rps().woken_by_pulse();
        let mut inner = self.inner.lock();
        inner.services.insert(id, service);
        inner.devices_due.insert(id);
        inner.config_seen.remove(&id);
    }

    pub fn remove(&self, id: TenantId) {
        let mut inner = self.inner.lock();
        inner.services.remove(&id);
        inner.devices_due.remove(&id);
        inner.config_seen.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.inner.lock().services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One round. A failed read is logged and tried again at the next beat; nothing it
    /// would have read is skipped.
    pub async fn beat(&self) -> Beat {
        Beat {
            devices_read: self.read_devices().await,
            configs_read: self.read_configs().await,
            workers_woken: self.wake_workers().await,
        }
    }

    async fn read_devices(&self) -> usize {
        // No revision yet: only the tenants added since are due, whatever the feed holds.
        let since = self.inner.lock().device_revision.unwrap_or(i64::MAX);
        let (revision, changed) = match self.store.tenants_with_device_changes(since).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read which tenants' devices changed");
                return 0;
            }
        };
        let due: Vec<(TenantId, Arc<Service>)> = {
            let mut inner = self.inner.lock();
            inner.device_revision = Some(revision);
            let mut ids: HashSet<TenantId> = inner.devices_due.drain().collect();
            ids.extend(changed);
            ids.into_iter()
                .filter_map(|id| inner.services.get(&id).map(|s| (id, s.clone())))
                .collect()
        };
        let mut read = 0;
        for (id, service) in due {
            match service.refresh_devices().await {
                Ok(()) => read += 1,
                Err(e) => {
                    tracing::warn!(tenant = id.get(), error = %e, "could not refresh the devices");
                    self.inner.lock().devices_due.insert(id);
                }
            }
        }
        read
    }

    async fn read_configs(&self) -> usize {
        let revisions = match self.store.tenant_config_revisions().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read which tenants' settings changed");
                return 0;
            }
        };
        let due: Vec<(TenantId, i64, Arc<Service>)> = {
            let inner = self.inner.lock();
            revisions
                .into_iter()
                .filter(|(id, revision)| inner.config_seen.get(id) != Some(revision))
                .filter_map(|(id, revision)| {
                    inner.services.get(&id).map(|s| (id, revision, s.clone()))
                })
                .collect()
        };
        let mut read = 0;
        for (id, revision, service) in due {
            match service.refresh_config().await {
                Ok(()) => {
                    // Removed meanwhile: nothing to remember.
                    let mut inner = self.inner.lock();
                    if inner.services.contains_key(&id) {
                        inner.config_seen.insert(id, revision);
                    }
                    read += 1;
                }
                Err(e) => {
                    tracing::warn!(tenant = id.get(), error = %e, "could not refresh the settings")
                }
            }
        }
        read
    }

    async fn wake_workers(&self) -> usize {
        let due = match self
            .store
            .tenants_with_due_rps_jobs(OffsetDateTime::now_utc())
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read which tenants have RPS commands due");
                return 0;
            }
        };
        let inner = self.inner.lock();
        due.iter()
            .filter_map(|id| inner.services.get(id))
            .map(|service| service.rps().wake())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use prov_store::NewRpsJob;

    use super::*;
    use crate::cache::tests::device;
    use crate::config::Config;
    use crate::settings::Settings;

    async fn service(root: &Arc<dyn Store>, domain: &str) -> Arc<Service> {
        let tenant = root.create_tenant("yealink", domain).await.expect("tenant");
        Arc::new(
            crate::tenant::service_for(root, &tenant, &Config::default(), None, true)
                .await
                .expect("service"),
        )
    }

    /// What another process (or the CLI) writes reaches this process's services through the
    /// beat, and a beat with nothing changed reads nothing for any tenant.
    #[tokio::test]
    async fn a_beat_reads_only_the_tenants_that_changed() {
        let root = prov_store::open("sqlite::memory:").await.expect("store");
        let a = service(&root, "a.example.com").await;
        let b = service(&root, "b.example.com").await;
        let pulse = Pulse::new(root.clone());
        pulse.add(a.clone());
        pulse.add(b.clone());
        // Just added: each reads its devices and settings once.
        let first = pulse.beat().await;
        assert_eq!((first.devices_read, first.configs_read), (2, 2));
        assert_eq!(pulse.beat().await, Beat::default());

        // Another writer adds a phone to A: only A reads, and gets it.
        let other_a = root.for_tenant(a.store().tenant_id());
        other_a.insert_device(&device(1)).await.expect("insert");
        let beat = pulse.beat().await;
        assert_eq!((beat.devices_read, beat.configs_read), (1, 0));
        assert!(a.cache().by_mac(device(1).mac).is_some());
        assert!(b.cache().by_mac(device(1).mac).is_none());

        // Another writer changes B's settings: only B reads them again.
        let mut settings = Settings::default();
        settings.phone.ntp_servers = vec!["ntp.b.example.com".into()];
        let other_b = root.for_tenant(b.store().tenant_id());
        other_b
            .put_settings(&serde_json::to_value(&settings).expect("json"))
            .await
            .expect("settings");
        let beat = pulse.beat().await;
        assert_eq!((beat.devices_read, beat.configs_read), (0, 1));
        assert_eq!(b.settings().phone.ntp_servers, ["ntp.b.example.com"]);
        assert_eq!(a.settings().phone.ntp_servers, ["pool.ntp.org"]);

        // A command queued for B by another process wakes B's worker only.
        other_b
            .enqueue_rps_jobs(&[NewRpsJob {
                command: "REDIRECT_DEVICE".into(),
                mac: Some(device(2).mac),
                payload: serde_json::json!({}),
            }])
            .await
            .expect("enqueue");
        assert_eq!(pulse.beat().await.workers_woken, 1);

        // A removed tenant is no longer read.
        pulse.remove(b.store().tenant_id());
        other_b.insert_device(&device(3)).await.expect("insert");
        assert_eq!(pulse.beat().await.devices_read, 0);
        assert!(b.cache().by_mac(device(3).mac).is_none());
    }
}
