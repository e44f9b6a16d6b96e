//! In-memory copy of every device record, so serving a phone never waits for the database.
//!
//! It follows the store's change feed (see `docs/storage.md`): writes by this process, by the CLI
//! on the same database, or by another instance on a shared PostgreSQL all arrive within one poll.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use prov_store::{DeviceKeyset, DeviceRecord, DeviceSort, Store, StoreError};
use yealink::Mac;

/// Devices per page of the cold load (the store's largest page): only one page of rows and
/// decoded records is in flight beside the cache, instead of every device twice, and a
/// thousand rows per query keep the query overhead small (docs/benchmarks.md, "Large
/// inventory").
const LOAD_PAGE: u32 = 1000;

#[derive(Default)]
struct Inner {
    by_mac: HashMap<Mac, Arc<DeviceRecord>>,
    /// A boxed copy of the token: no spare capacity, 8 bytes less than a `String` per device.
    by_token: HashMap<Box<str>, Mac>,
    revision: i64,
}

#[derive(Default)]
pub struct DeviceCache {
    inner: RwLock<Inner>,
}

impl DeviceCache {
    /// Loads every device, a page at a time in MAC order (keyset paging); the change feed then
    /// continues from the revision read *before* the load, so a write racing with the load
    /// (also one that moves a device behind the cursor, or deletes it) is applied again rather
    /// than missed.
    pub async fn load(store: &dyn Store) -> Result<DeviceCache, StoreError> {
        let revision = store.current_revision().await?;
        // Sized once, so the maps do not grow (old and new table side by side) while loading.
        let expected = usize::try_from(store.device_count().await?).unwrap_or_default();
        let cache = DeviceCache {
            inner: RwLock::new(Inner {
                by_mac: HashMap::with_capacity(expected),
                by_token: HashMap::with_capacity(expected),
                revision,
            }),
        };
        let mut after = None;
        loop {
            let page = store
                .list_devices_after(&DeviceKeyset {
                    sort: DeviceSort::Mac,
                    after,
                    limit: LOAD_PAGE,
                    ..DeviceKeyset::default()
                })
                .await?;
            let full = page.len() >= LOAD_PAGE as usize;
            after = page.last().map(|d| d.record.mac);
            {
                let mut inner = cache.inner.write();
                for device in page {
                    insert(&mut inner, device.record);
                }
            }
            if !full || after.is_none() {
                break;
            }
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

fn insert(inner: &mut Inner, mut record: DeviceRecord) {
    if let Some(old) = inner.by_mac.get(&record.mac)
        && old.url_token != record.url_token
    {
        let old_token = old.url_token.clone();
        inner.by_token.remove(old_token.as_str());
    }
    compact(&mut record);
    inner
        .by_token
        .insert(record.url_token.as_str().into(), record.mac);
    inner.by_mac.insert(record.mac, Arc::new(record));
}

/// Drops the spare capacity decoding left in the strings (decrypted secrets keep the room of
/// their sealed form): the record stays in memory for as long as the device exists.
fn compact(record: &mut DeviceRecord) {
    for s in [
        &mut record.name,
        &mut record.sip_user,
        &mut record.sip_password,
        &mut record.registrar,
        &mut record.http_password,
        &mut record.url_token,
        &mut record.admin_password,
    ] {
        s.shrink_to_fit();
    }
    for s in [
        &mut record.model,
        &mut record.auth_name,
        &mut record.display_name,
    ]
    .into_iter()
    .flatten()
    {
        s.shrink_to_fit();
    }
}

fn remove(inner: &mut Inner, mac: Mac) {
    if let Some(old) = inner.by_mac.remove(&mac) {
        inner.by_token.remove(old.url_token.as_str());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use time::OffsetDateTime;

    use super::*;

    pub(crate) fn device(n: u32) -> DeviceRecord {
        let b = n.to_be_bytes();
        DeviceRecord {
            mac: Mac::parse(&format!("805ec0{:02x}{:02x}{:02x}", b[1], b[2], b[3]))
                .expect("test MAC"),
            name: format!("Phone {n}"),
            model: Some("T46U".into()),
            sip_user: format!("{}", 1000 + n),
            auth_name: None,
            sip_password: format!("sip-secret-{n}"),
            display_name: None,
            registrar: "pbx.example.com".into(),
            overrides: serde_json::Value::Null.into(),
            http_password: format!("http-secret-{n}"),
            url_token: format!("tok{n:021}"),
            admin_password: format!("admin-secret-{n}"),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            revision: 0,
        }
    }

    /// More than two pages and a partial one: every device is found by MAC and by token, and a
    /// change after the load is picked up (the feed starts at the revision read before it).
    #[tokio::test]
    async fn loads_every_page_and_follows_the_feed_after_it() {
        let store = prov_store::open("sqlite::memory:").await.expect("store");
        let n = 2 * LOAD_PAGE + 345;
        let records: Vec<DeviceRecord> = (0..n).map(device).collect();
        for chunk in records.chunks(500) {
            for r in store.insert_devices(chunk).await.expect("insert") {
                r.expect("inserted");
            }
        }
        let cache = DeviceCache::load(store.as_ref()).await.expect("load");
        assert_eq!(cache.len(), n as usize);
        for r in &records {
            let by_mac = cache.by_mac(r.mac).expect("by MAC");
            assert_eq!(by_mac.sip_password, r.sip_password);
            assert_eq!(cache.by_token(&r.url_token).map(|d| d.mac), Some(r.mac));
        }

        let mut moved = device(7);
        moved.url_token = "tok-new".into();
        store.update_device(&moved).await.expect("update");
        assert!(store.delete_device(device(8).mac).await.expect("delete"));
        assert_eq!(cache.refresh(store.as_ref()).await.expect("refresh"), 2);
        assert_eq!(cache.by_token("tok-new").map(|d| d.mac), Some(moved.mac));
        assert!(cache.by_token(&device(7).url_token).is_none());
        assert!(cache.by_mac(device(8).mac).is_none());
        assert_eq!(cache.len(), n as usize - 1);
    }

    #[tokio::test]
    async fn an_empty_store_loads_empty() {
        let store = prov_store::open("sqlite::memory:").await.expect("store");
        let cache = DeviceCache::load(store.as_ref()).await.expect("load");
        assert!(cache.is_empty());
    }
}
