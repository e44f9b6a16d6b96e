//! Rendered phone files, kept until what they were rendered from changes.
//!
//! A body is reused only while every input of the render is the very same: the device record
//! (the `Arc` the device cache holds: any change, also a rotated token, replaces it), the
//! settings (also an `Arc`, replaced on every change), the base URL, and what the request's
//! User-Agent chose (common-file code and model). Entries hold those `Arc`s, so a pointer
//! comparison cannot be fooled by a freed and reused address. The bodies hold secrets (SIP and
//! phone passwords) exactly like the records they were rendered from, in the same process.
//!
//! Bounded by the bytes it holds: when full, it starts over (a boot storm of more phones than
//! fit gains only on the shared common files, which are rendered again at once). And bounded in
//! time: [`RenderCache::age`], called every [`AGE_EVERY`], forgets what was not asked for since
//! the call before, so a body lives 5 to 10 minutes after its last use. A storm reuses bodies
//! within seconds; a phone at rest asks again only at its update interval, so keeping its body
//! until then would only hold memory (and a copy of its secrets).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use prov_store::DeviceRecord;
use yealink::{Mac, ModelInfo, PhoneFile};

use crate::settings::Settings;

/// Upper bound of the cached bodies' bytes: about 20,000 phones' `<mac>.cfg` and boot files.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How often the cache ages: a body not asked for during one period is gone after the next.
pub const AGE_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Which file: the per-device ones by MAC, the common file by its model code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Slot {
    Boot(Mac),
    Common(u16),
    MacCfg(Mac),
}

/// Everything a render read; a cached body is valid only for an equal stamp.
pub struct Stamp<'a> {
    pub record: &'a Arc<DeviceRecord>,
    pub settings: &'a Arc<Settings>,
    pub base_url: &'a str,
    pub code: Option<u16>,
    pub model: Option<&'static ModelInfo>,
}

struct Entry {
    /// `None` for the common file, which does not depend on the device.
    record: Option<Arc<DeviceRecord>>,
    settings: Arc<Settings>,
    base_url: Box<str>,
    code: Option<u16>,
    model: Option<&'static ModelInfo>,
    body: Bytes,
}

impl Entry {
    fn matches(&self, stamp: &Stamp<'_>) -> bool {
        self.record
            .as_ref()
            .is_none_or(|r| Arc::ptr_eq(r, stamp.record))
            && Arc::ptr_eq(&self.settings, stamp.settings)
            && *self.base_url == *stamp.base_url
            && self.code == stamp.code
            && match (self.model, stamp.model) {
                (None, None) => true,
                (Some(a), Some(b)) => std::ptr::eq(a, b),
                _ => false,
            }
    }
}

#[derive(Default)]
struct Inner {
    /// Asked for since the last [`RenderCache::age`].
    entries: HashMap<Slot, Entry>,
    /// Asked for in the period before; moved back into `entries` when asked for again.
    older: HashMap<Slot, Entry>,
    /// Of both maps.
    bytes: usize,
}

pub struct RenderCache {
    inner: RwLock<Inner>,
    max_bytes: usize,
}

impl Default for RenderCache {
    fn default() -> Self {
        RenderCache::new(DEFAULT_MAX_BYTES)
    }
}

impl RenderCache {
    pub fn new(max_bytes: usize) -> RenderCache {
        RenderCache {
            inner: RwLock::default(),
            max_bytes,
        }
    }

    /// The cached body of `file` for these inputs, or `render`'s (cached when it is `Some`).
    /// Files other than the boot, common and MAC file are not cached: `render` runs.
    pub fn get_or_render<E>(
        &self,
        file: PhoneFile,
        stamp: &Stamp<'_>,
        render: impl FnOnce() -> Result<Option<String>, E>,
    ) -> Result<Option<Bytes>, E> {
        let slot = match file {
            PhoneFile::MacBoot(mac) => Slot::Boot(mac),
            PhoneFile::Common(code) => Slot::Common(code),
            PhoneFile::MacCfg(mac) => Slot::MacCfg(mac),
            PhoneFile::CommonBoot | PhoneFile::MacLocalCfg(_) => {
                return render().map(|body| body.map(Bytes::from));
            }
        };
        let aged = {
            let inner = self.inner.read();
            if let Some(entry) = inner.entries.get(&slot)
                && entry.matches(stamp)
            {
                return Ok(Some(entry.body.clone()));
            }
            inner
                .older
                .get(&slot)
                .filter(|entry| entry.matches(stamp))
                .map(|entry| entry.body.clone())
        };
        if let Some(body) = aged {
            self.renew(slot);
            return Ok(Some(body));
        }
        let Some(body) = render()?.map(Bytes::from) else {
            return Ok(None);
        };
        self.insert(slot, stamp, body.clone());
        Ok(Some(body))
    }

    fn insert(&self, slot: Slot, stamp: &Stamp<'_>, body: Bytes) {
        if body.len() > self.max_bytes / 16 {
            return;
        }
        let entry = Entry {
            record: (!matches!(slot, Slot::Common(_))).then(|| stamp.record.clone()),
            settings: stamp.settings.clone(),
            base_url: stamp.base_url.into(),
            code: stamp.code,
            model: stamp.model,
            body,
        };
        let mut inner = self.inner.write();
        if inner.bytes + entry.body.len() > self.max_bytes {
            inner.entries.clear();
            inner.older.clear();
            inner.bytes = 0;
        }
        inner.bytes += entry.body.len();
        if let Some(old) = inner.older.remove(&slot) {
            inner.bytes -= old.body.len();
        }
        if let Some(old) = inner.entries.insert(slot, entry) {
            inner.bytes -= old.body.len();
        }
    }

    /// Moves an entry of the period before back among the recent ones.
    fn renew(&self, slot: Slot) {
        let mut inner = self.inner.write();
        if let Some(entry) = inner.older.remove(&slot) {
            inner.entries.insert(slot, entry);
        }
    }

    /// Forgets the bodies not asked for since the last call; the others wait one more period.
    pub fn age(&self) {
        let mut inner = self.inner.write();
        let recent = std::mem::take(&mut inner.entries);
        let dropped = std::mem::replace(&mut inner.older, recent);
        inner.bytes -= dropped.values().map(|e| e.body.len()).sum::<usize>();
    }

    /// Bytes of the cached bodies (for tests and metrics).
    pub fn bytes(&self) -> usize {
        self.inner.read().bytes
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use time::OffsetDateTime;

    use super::*;

    fn record(mac: &str) -> Arc<DeviceRecord> {
        Arc::new(DeviceRecord {
            mac: Mac::parse(mac).unwrap(),
            name: String::new(),
            model: None,
            sip_user: "201".into(),
            auth_name: None,
            sip_password: "pw".into(),
            display_name: None,
            registrar: "pbx.example.test".into(),
            overrides: prov_store::Overrides::default(),
            http_password: "http".into(),
            url_token: "token".into(),
            admin_password: "admin".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            revision: 1,
        })
    }

    /// Renders `body`, counting the renders.
    fn fetch(
        cache: &RenderCache,
        file: PhoneFile,
        stamp: &Stamp<'_>,
        renders: &Cell<u32>,
        body: &str,
    ) -> Bytes {
        cache
            .get_or_render(file, stamp, || {
                renders.set(renders.get() + 1);
                Ok::<_, ()>(Some(body.to_owned()))
            })
            .unwrap()
            .unwrap()
    }

    #[test]
    fn reuses_only_while_every_input_is_the_same() {
        let cache = RenderCache::default();
        let renders = Cell::new(0);
        let device = record("805ec0000001");
        let settings = Arc::new(Settings::default());
        let t46u = yealink::model_info("T46U");
        let stamp = |record, settings, base_url, code, model| Stamp {
            record,
            settings,
            base_url,
            code,
            model,
        };
        let file = PhoneFile::MacCfg(device.mac);
        let base = stamp(&device, &settings, "http://a", Some(108), t46u);
        assert_eq!(fetch(&cache, file, &base, &renders, "one"), "one");
        assert_eq!(fetch(&cache, file, &base, &renders, "two"), "one");
        assert_eq!(renders.get(), 1);

        // An equal but new record (as after any write) is a different input.
        let rewritten = Arc::new((*device).clone());
        let s = stamp(&rewritten, &settings, "http://a", Some(108), t46u);
        assert_eq!(fetch(&cache, file, &s, &renders, "three"), "three");
        // So are new settings, another base URL, another code or model from the User-Agent.
        let new_settings = Arc::new(Settings::default());
        let s = stamp(&rewritten, &new_settings, "http://a", Some(108), t46u);
        assert_eq!(fetch(&cache, file, &s, &renders, "four"), "four");
        let s = stamp(&rewritten, &new_settings, "http://b", Some(108), t46u);
        assert_eq!(fetch(&cache, file, &s, &renders, "five"), "five");
        let s = stamp(&rewritten, &new_settings, "http://b", Some(96), t46u);
        assert_eq!(fetch(&cache, file, &s, &renders, "six"), "six");
        let s = stamp(&rewritten, &new_settings, "http://b", Some(96), None);
        assert_eq!(fetch(&cache, file, &s, &renders, "seven"), "seven");
        assert_eq!(renders.get(), 6);

        // Another device's MAC file is another slot; the common file is shared by all devices.
        let other = record("805ec0000002");
        let s = stamp(&other, &new_settings, "http://b", Some(96), None);
        let common = PhoneFile::Common(96);
        assert_eq!(fetch(&cache, common, &s, &renders, "common"), "common");
        let s2 = stamp(&rewritten, &new_settings, "http://b", Some(96), None);
        assert_eq!(fetch(&cache, common, &s2, &renders, "again"), "common");
        assert_eq!(
            fetch(&cache, PhoneFile::MacCfg(other.mac), &s, &renders, "o"),
            "o"
        );
        assert_eq!(renders.get(), 8);
    }

    #[test]
    fn a_body_lives_until_a_whole_period_passed_without_it_being_asked_for() {
        let cache = RenderCache::default();
        let settings = Arc::new(Settings::default());
        let renders = Cell::new(0);
        let (used, idle) = (record("805ec0000001"), record("805ec0000002"));
        let stamp_of = |device| Stamp {
            record: device,
            settings: &settings,
            base_url: "http://a",
            code: None,
            model: None,
        };
        let (used_file, idle_file) = (PhoneFile::MacCfg(used.mac), PhoneFile::MacCfg(idle.mac));
        fetch(&cache, used_file, &stamp_of(&used), &renders, "used");
        fetch(&cache, idle_file, &stamp_of(&idle), &renders, "idle");
        let both = cache.bytes();
        cache.age();
        assert_eq!(cache.bytes(), both, "one period: both are still kept");
        // Asked for again in the new period: served from the cache, and kept one more.
        assert_eq!(
            fetch(&cache, used_file, &stamp_of(&used), &renders, "x"),
            "used"
        );
        cache.age();
        assert_eq!(cache.bytes(), "used".len(), "the idle one is forgotten");
        assert_eq!(
            fetch(&cache, used_file, &stamp_of(&used), &renders, "x"),
            "used"
        );
        assert_eq!(renders.get(), 2);
        cache.age();
        cache.age();
        assert_eq!(cache.bytes(), 0);
        assert_eq!(
            fetch(&cache, idle_file, &stamp_of(&idle), &renders, "new"),
            "new"
        );
        assert_eq!(renders.get(), 3);
    }

    #[test]
    fn not_found_and_uploads_are_not_cached() {
        let cache = RenderCache::default();
        let device = record("805ec0000001");
        let settings = Arc::new(Settings::default());
        let stamp = Stamp {
            record: &device,
            settings: &settings,
            base_url: "http://a",
            code: None,
            model: None,
        };
        let none = cache.get_or_render(PhoneFile::MacCfg(device.mac), &stamp, || Ok::<_, ()>(None));
        assert_eq!(none, Ok(None));
        let renders = Cell::new(0);
        let local = PhoneFile::MacLocalCfg(device.mac);
        fetch(&cache, local, &stamp, &renders, "x");
        fetch(&cache, local, &stamp, &renders, "x");
        assert_eq!(renders.get(), 2);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn stays_within_its_bytes() {
        let cache = RenderCache::new(1024);
        let settings = Arc::new(Settings::default());
        let renders = Cell::new(0);
        let body = "x".repeat(60);
        for i in 0..100u32 {
            let device = record(&format!("805ec0{i:06x}"));
            let stamp = Stamp {
                record: &device,
                settings: &settings,
                base_url: "http://a",
                code: None,
                model: None,
            };
            fetch(
                &cache,
                PhoneFile::MacCfg(device.mac),
                &stamp,
                &renders,
                &body,
            );
            assert!(cache.bytes() <= 1024, "{}", cache.bytes());
        }
        assert!(cache.bytes() > 0);
        // Larger than a sixteenth of the bound: served, never kept.
        let device = record("805ec0ffffff");
        let stamp = Stamp {
            record: &device,
            settings: &settings,
            base_url: "http://a",
            code: None,
            model: None,
        };
        let before = cache.bytes();
        fetch(
            &cache,
            PhoneFile::MacCfg(device.mac),
            &stamp,
            &renders,
            &"y".repeat(100),
        );
        assert_eq!(cache.bytes(), before);
    }
}
