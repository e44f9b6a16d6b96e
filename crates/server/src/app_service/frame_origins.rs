//! Which web origins may show the admin UI in a frame (myApps frames its apps), and what we
//! learned about origins that tried and were refused.
//!
//! A real install reaches myApps under more names than the PBX's DNS name: its IP address, a
//! second DNS name, a reverse proxy, a slave PBX, a port. So the list is everything the PBX told
//! us, on top of `innovaphone.frame_origins`: `https://<pbxDns>` of each connected PBX (PbxInfo),
//! and the origin of every App object URL in a PBX-signed login (`info.appurl`: ours, Users'...;
//! 13r1-SDK `doc/appwebsocket/AppWebsocket.htm`, AppLogin `info`). The learned origins are kept
//! in the database (bounded), so every instance and `yealink-prov doctor` see them.
//!
//! When the app page is framed by an origin that is not on the list, the page says so (with the
//! setting that fixes it) and the origin is noted for `doctor` (bounded, only new origins).

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::Innovaphone;

/// Meta key of the origins learned from PBX-signed logins (JSON list).
pub const META_TOLD_ORIGINS: &str = "innovaphone.pbx_origins";
/// Meta key of the origins that framed the app page without being allowed (JSON list).
pub const META_REFUSED_FRAMES: &str = "innovaphone.refused_frame_origins";
/// At most this many origins are learned; a PBX has a handful of names, not more.
const MAX_TOLD: usize = 16;
/// At most this many refused origins are kept (the newest); anyone can send a Referer.
const MAX_REFUSED: usize = 8;

/// A bounded list of origins, newest last.
#[derive(Debug, Default)]
pub struct OriginList {
    origins: Mutex<Vec<String>>,
    max: usize,
}

impl OriginList {
    fn new(max: usize, start: Vec<String>) -> OriginList {
        let mut origins = start;
        origins.truncate(max);
        OriginList {
            origins: Mutex::new(origins),
            max,
        }
    }

    /// Adds `origin`; `true` when it was new (the oldest is dropped at the bound).
    fn add(&self, origin: &str) -> bool {
        let mut list = self.origins.lock();
        if list.iter().any(|o| o == origin) {
            return false;
        }
        if list.len() >= self.max {
            list.remove(0);
        }
        list.push(origin.to_owned());
        true
    }

    fn replace(&self, origins: Vec<String>) {
        let mut origins = origins;
        origins.truncate(self.max);
        *self.origins.lock() = origins;
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.origins.lock().clone()
    }
}

/// The refused list reaches the database at most this often: anyone can send a Referer, and
/// cycling through more origins than the list holds would otherwise cost a write per request.
const REFUSED_STORE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The two learned lists of an [`Innovaphone`].
#[derive(Debug, Default)]
pub struct LearnedOrigins {
    pub told: OriginList,
    pub refused: OriginList,
    refused_stored_at: Mutex<Option<std::time::Instant>>,
}

impl LearnedOrigins {
    pub fn new(told: Vec<String>, refused: Vec<String>) -> LearnedOrigins {
        LearnedOrigins {
            told: OriginList::new(MAX_TOLD, told),
            refused: OriginList::new(MAX_REFUSED, refused),
            refused_stored_at: Mutex::new(None),
        }
    }

    /// Whether the refused list may be written now (and notes that it is).
    fn may_store_refused(&self) -> bool {
        let mut last = self.refused_stored_at.lock();
        let due = last.is_none_or(|at| at.elapsed() >= REFUSED_STORE_EVERY);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }
}

/// Reads a stored list (missing or unreadable: empty).
pub fn decode_list(raw: Option<&str>) -> Vec<String> {
    raw.and_then(|r| serde_json::from_str::<StoredOrigins>(r).ok())
        .map(|s| s.origins)
        .unwrap_or_default()
}

#[derive(Serialize, Deserialize)]
struct StoredOrigins {
    origins: Vec<String>,
}

/// Checks `innovaphone.frame_origins`: each `http(s)://host[:port]`, nothing after it.
pub fn parse_origins(list: &[String]) -> Result<Vec<String>, String> {
    list.iter()
        .map(|o| {
            let o = o.trim().trim_end_matches('/');
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .ok_or_else(|| format!("{o:?}: an origin starts with https:// (or http://)"))?;
            if !is_host_port(rest) {
                return Err(format!(
                    "{o:?}: an origin is scheme://host[:port], without path, query or spaces"
                ));
            }
            Ok(o.to_ascii_lowercase())
        })
        .collect()
}

/// The origin (`scheme://host[:port]`, lower case) of an `http(s)` URL whose host a CSP
/// host-source can name; `None` for anything else.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    // No user info: it never belongs in an origin.
    if authority.contains('@') || !is_host_port(authority) {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// A DNS name or IPv4 address with an optional port (what a CSP host-source can name).
pub fn is_host_port(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

impl Innovaphone {
    /// Origins allowed to frame the UI: `innovaphone.frame_origins`, `https://<pbxDns>` of each
    /// PBX connected to this instance, and the origins PBX-signed logins told us.
    pub fn frame_origins(&self) -> Vec<String> {
        let mut list = self.frame_origins.clone();
        let mut add = |origin: String| {
            if !list.contains(&origin) {
                list.push(origin);
            }
        };
        for s in self.registry.sessions() {
            let dns = s.pbx_dns.trim().to_ascii_lowercase();
            if is_host_port(&dns) {
                add(format!("https://{dns}"));
            }
        }
        for origin in self.learned_origins.told.snapshot() {
            add(origin);
        }
        list
    }

    /// A login the PBX signed named an App object URL: its origin may frame the UI from now on.
    pub fn learn_origin(self: &std::sync::Arc<Self>, app_url: Option<&str>) {
        let Some(origin) = app_url.and_then(origin_of) else {
            return;
        };
        if self.learned_origins.told.add(&origin) {
            tracing::info!(%origin, "origin learned from the PBX: it may frame the admin app");
            let list = self.learned_origins.told.snapshot();
            self.store_list(META_TOLD_ORIGINS, list);
        }
    }

    /// The app page was framed by `origin`, which may not frame the UI: kept for `doctor`.
    pub fn note_refused_frame(self: &std::sync::Arc<Self>, origin: &str) {
        if self.learned_origins.refused.add(origin) && self.learned_origins.may_store_refused() {
            tracing::warn!(
                %origin,
                "the admin app was opened in a frame on an origin that may not frame it: add it to innovaphone.frame_origins if it is your myApps"
            );
            let list = self.learned_origins.refused.snapshot();
            self.store_list(META_REFUSED_FRAMES, list);
        }
    }

    /// Re-reads the learned origins another instance may have stored.
    pub async fn reload_learned_origins(&self) {
        let store = self.service.store();
        if let Ok(raw) = store.get_meta(META_TOLD_ORIGINS).await {
            self.learned_origins
                .told
                .replace(decode_list(raw.as_deref()));
        }
    }

    fn store_list(self: &std::sync::Arc<Self>, key: &'static str, origins: Vec<String>) {
        let inn = self.clone();
        tokio::spawn(async move {
            let Ok(raw) = serde_json::to_string(&StoredOrigins { origins }) else {
                return;
            };
            if let Err(e) = inn.service.store().set_meta(key, &raw).await {
                tracing::warn!(error = %e, key, "cannot store the learned origins");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        let ok = parse_origins(&[
            "https://PBX.example.com/".into(),
            "http://127.0.0.1:8080".into(),
        ]);
        assert_eq!(
            ok,
            Ok(vec![
                "https://pbx.example.com".to_owned(),
                "http://127.0.0.1:8080".to_owned()
            ])
        );
        for bad in [
            "pbx.example.com",
            "https://pbx.example.com/path",
            "https://pbx.example.com:port",
            "https://a b",
            "https://*",
            "javascript:alert(1)",
            "https://pbx; script-src *",
        ] {
            assert!(parse_origins(&[bad.into()]).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn the_origin_of_an_app_object_url() {
        for (url, want) in [
            (
                "https://AP.example.com/example.com/yealink/innovaphone-yealink",
                Some("https://ap.example.com"),
            ),
            (
                "http://10.0.0.5:8080/example.com/usersapp/innovaphone-users",
                Some("http://10.0.0.5:8080"),
            ),
            ("https://pbx.example.com", Some("https://pbx.example.com")),
            ("https://pbx.example.com?x", Some("https://pbx.example.com")),
            ("wss://ap.example.com/x", None),
            ("https://user@ap.example.com/x", None),
            ("https://ap example/x", None),
            ("https://ap.example.com;script-src/x", None),
            ("", None),
        ] {
            assert_eq!(origin_of(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn refused_origins_are_stored_at_most_every_ten_seconds() {
        let learned = LearnedOrigins::new(Vec::new(), Vec::new());
        assert!(learned.may_store_refused());
        assert!(!learned.may_store_refused());
    }

    #[test]
    fn lists_are_bounded_and_keep_the_newest() {
        let list = OriginList::new(2, Vec::new());
        assert!(list.add("https://a"));
        assert!(!list.add("https://a"));
        assert!(list.add("https://b"));
        assert!(list.add("https://c"));
        assert_eq!(list.snapshot(), ["https://b", "https://c"]);
        assert_eq!(
            decode_list(Some(r#"{"origins":["https://x"]}"#)),
            ["https://x"]
        );
        assert!(decode_list(Some("garbage")).is_empty());
    }
}
