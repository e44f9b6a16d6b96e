//! In-memory copy of every device record, so serving a phone never waits for the database.
//!
//! It follows the store's change feed (see `docs/storage.md`): writes by this process, by the CLI
//! on the same database, or by another instance on a shared PostgreSQL all arrive within one poll.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use prov_store::{DeviceRecord, Store, StoreError};
use yealink::Mac;

#[derive(Default)]
struct Inner {
    by_mac: HashMap<Mac, Arc<DeviceRecord>>,
    by_token: HashMap<String, Mac>,
    revision: i64,
}

#[derive(Default)]
pub struct DeviceCache {
    inner: RwLock<Inner>,
}

impl DeviceCache {
    /// Loads every device; the change feed then continues from the revision read *before* the
    /// load, so a write racing with the load is applied again rather than missed.
    pub async fn load(store: &dyn Store) -> Result<DeviceCache, StoreError> {
        let revision = store.current_revision().await?;
        let records = store.all_device_records().await?;
        let cache = DeviceCache::default();
        {
            let mut inner = cache.inner.write();
            for record in records {
                insert(&mut inner, record);
            }
            inner.revision = revision;
        }
        Ok(cache)
    }

    pub fn by_mac(&self, mac: Mac) -> Option<Arc<DeviceRecord>> {
        self.inner.read().by_mac.get(&mac).cloned()
    }

    pub fn by_token(&self, token: &str) -> Option<Arc<DeviceRecord>> {
        let inner = self.inner.read();
        let mac = inner.by_token.get(token)?;
        inner.by_mac.get(mac).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.read().by_mac.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies a record this process just wrote, without waiting for the next poll.
    pub fn upsert(&self, record: DeviceRecord) {
        let mut inner = self.inner.write();
        let newer = inner
            .by_mac
            .get(&record.mac)
            .is_none_or(|old| old.revision <= record.revision);
        if newer {
            insert(&mut inner, record);
        }
    }

    pub fn remove(&self, mac: Mac) {
        let mut inner = self.inner.write();
        remove(&mut inner, mac);
    }

    /// Pulls and applies everything changed since the last poll.
    pub async fn refresh(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let since = self.inner.read().revision;
        let changes = store.device_changes(since).await?;
        let count = changes.upserted.len() + changes.removed.len();
        let mut inner = self.inner.write();
        for mac in changes.removed {
            remove(&mut inner, mac);
        }
        for record in changes.upserted {
            insert(&mut inner, record);
        }
        inner.revision = inner.revision.max(changes.revision);
        Ok(count)
    }
}

fn insert(inner: &mut Inner, record: DeviceRecord) {
    if let Some(old) = inner.by_mac.get(&record.mac)
        && old.url_token != record.url_token
    {
        let old_token = old.url_token.clone();
        inner.by_token.remove(&old_token);
    }
    inner.by_token.insert(record.url_token.clone(), record.mac);
    inner.by_mac.insert(record.mac, Arc::new(record));
}

fn remove(inner: &mut Inner, mac: Mac) {
    if let Some(old) = inner.by_mac.remove(&mac) {
        inner.by_token.remove(&old.url_token);
    }
}
