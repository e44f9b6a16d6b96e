//! HTTP Digest authentication (RFC 7616, MD5, qop=auth) for phones, with stateless nonces.
//!
//! Yealink phones speak MD5 Digest only. Nonces are `timestamp || HMAC(server secret, timestamp)`,
//! so any instance sharing the secret (it lives in the database) accepts them and nothing is
//! stored per challenge. Replayed GETs within the nonce lifetime are not refused: the phone's
//! files are idempotent, and a replay only returns what the captured response already showed.
//! A PUT (the phone's `-local.cfg` upload) changes state, so each instance remembers the highest
//! nonce count (`nc`, RFC 7616 §3.4) it accepted per nonce and refuses a PUT that does not
//! raise it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac as _};
use md5::{Digest as _, Md5};
use parking_lot::Mutex;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const REALM: &str = "yealink-prov";
/// How long a challenge stays valid; a phone fetches its three files well within this.
const NONCE_LIFETIME_SECS: u64 = 600;

/// Credentials parsed from an `Authorization: Digest ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub algorithm: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// The password matched but the nonce is too old: challenge again with `stale=true`.
    Stale,
    Invalid,
}

/// Nonces whose counts are remembered before expired ones are swept out.
const TRACKED_NONCES: usize = 100_000;

/// Issues and checks nonces with a server-wide secret.
#[derive(Clone)]
pub struct NonceKey {
    secret: Vec<u8>,
    /// Highest `nc` accepted on a PUT, per nonce.
    put_counts: Arc<Mutex<HashMap<String, u32>>>,
}

impl NonceKey {
    pub fn new(secret: &[u8]) -> NonceKey {
        NonceKey {
            secret: secret.to_vec(),
            put_counts: Arc::default(),
        }
    }

    /// For a response already found [`Verdict::Valid`]: whether its nonce count is higher than
    /// any seen with this nonce (and records it). Without `qop`/`nc` there is no count, so no
    /// way to tell a replay: refused.
    pub fn first_use(&self, r: &DigestResponse) -> bool {
        self.first_use_at(r, now_secs())
    }

    fn first_use_at(&self, r: &DigestResponse, now: u64) -> bool {
        let Some(nc) =
            r.nc.as_deref()
                .and_then(|nc| u32::from_str_radix(nc, 16).ok())
        else {
            return false;
        };
        let mut counts = self.put_counts.lock();
        if counts.len() >= TRACKED_NONCES {
            counts.retain(|nonce, _| self.check(nonce, now) == Some(true));
        }
        match counts.get_mut(&r.nonce) {
            Some(last) if nc <= *last => false,
            Some(last) => {
                *last = nc;
                true
            }
            None => {
                counts.insert(r.nonce.clone(), nc);
                true
            }
        }
    }

    pub fn issue(&self) -> String {
        self.issue_at(now_secs())
    }

    fn issue_at(&self, ts: u64) -> String {
        format!("{ts:016x}{}", hex::encode(self.tag(ts)))
    }

    fn tag(&self, ts: u64) -> [u8; 16] {
        let mut out = [0u8; 16];
        // HMAC accepts keys of any length, so this cannot fail.
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) {
            mac.update(&ts.to_be_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
        }
        out
    }

    /// `Some(true)` fresh, `Some(false)` genuine but expired, `None` forged or garbled.
    fn check(&self, nonce: &str, now: u64) -> Option<bool> {
        if nonce.len() != 48 {
            return None;
        }
        let ts = u64::from_str_radix(nonce.get(..16)?, 16).ok()?;
        let tag = hex::decode(nonce.get(16..)?).ok()?;
        if !bool::from(tag.ct_eq(&self.tag(ts))) {
            return None;
        }
        Some(ts <= now && now - ts <= NONCE_LIFETIME_SECS)
    }

    /// The `WWW-Authenticate` value for a fresh challenge.
    pub fn challenge(&self, stale: bool) -> String {
        let stale = if stale { ", stale=true" } else { "" };
        format!(
            "Digest realm=\"{REALM}\", qop=\"auth\", algorithm=MD5, nonce=\"{}\", opaque=\"{}\"{stale}",
            self.issue(),
            hex::encode(&self.tag(0)[..8]),
        )
    }

    /// Checks a response against the password; always does the full computation, so an unknown
    /// user (checked against a dummy password) takes the same time as a wrong password.
    pub fn verify(&self, r: &DigestResponse, method: &str, password: &str) -> Verdict {
        self.verify_at(r, method, password, now_secs())
    }

    fn verify_at(&self, r: &DigestResponse, method: &str, password: &str, now: u64) -> Verdict {
        let expected = expected_response(r, method, password);
        let matches = bool::from(expected.as_bytes().ct_eq(r.response.as_bytes()));
        let algorithm_ok = r
            .algorithm
            .as_deref()
            .is_none_or(|a| a.eq_ignore_ascii_case("MD5"));
        let qop_ok = r.qop.as_deref().is_none_or(|q| q == "auth");
        if !(matches && algorithm_ok && qop_ok && r.realm == REALM) {
            return Verdict::Invalid;
        }
        match self.check(&r.nonce, now) {
            Some(true) => Verdict::Valid,
            Some(false) => Verdict::Stale,
            None => Verdict::Invalid,
        }
    }
}

fn md5_hex(input: &str) -> String {
    hex::encode(Md5::digest(input.as_bytes()))
}

fn expected_response(r: &DigestResponse, method: &str, password: &str) -> String {
    let ha1 = md5_hex(&format!("{}:{}:{password}", r.username, r.realm));
    let ha2 = md5_hex(&format!("{method}:{}", r.uri));
    match (&r.qop, &r.nc, &r.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", r.nonce))
        }
        // RFC 2069 compatibility: some old firmware answers without qop.
        _ => md5_hex(&format!("{ha1}:{}:{ha2}", r.nonce)),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses the value of an `Authorization` header that starts with `Digest `.
pub fn parse_authorization(header: &str) -> Option<DigestResponse> {
    let (scheme, rest) = header.trim().split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let params = parse_params(rest)?;
    let take = |k: &str| params.get(k).cloned();
    Some(DigestResponse {
        username: take("username")?,
        realm: take("realm")?,
        nonce: take("nonce")?,
        uri: take("uri")?,
        response: take("response")?.to_ascii_lowercase(),
        qop: take("qop"),
        nc: take("nc"),
        cnonce: take("cnonce"),
        algorithm: take("algorithm"),
    })
}

/// `k=v, k="quoted \"v\""` pairs; `None` on anything malformed.
fn parse_params(input: &str) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(params);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return None;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => value.push(chars.next()?),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(key.to_ascii_lowercase(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_for(key: &NonceKey, nonce: &str, password: &str) -> DigestResponse {
        let mut r = DigestResponse {
            username: "805ec0aabbcc".into(),
            realm: REALM.into(),
            nonce: nonce.into(),
            uri: "/prov/805ec0aabbcc.cfg".into(),
            response: String::new(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
            algorithm: Some("MD5".into()),
        };
        r.response = expected_response(&r, "GET", password);
        let _ = key;
        r
    }

    #[test]
    fn rfc2617_example_response() {
        // RFC 2617 section 3.5 example (the RFC's own test vector).
        let r = DigestResponse {
            username: "Mufasa".into(),
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            uri: "/dir/index.html".into(),
            response: String::new(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
            algorithm: None,
        };
        assert_eq!(
            expected_response(&r, "GET", "Circle Of Life"),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn valid_stale_and_forged() {
        let key = NonceKey::new(b"secret");
        let nonce = key.issue_at(1_000);
        let r = response_for(&key, &nonce, "pw");
        assert_eq!(key.verify_at(&r, "GET", "pw", 1_100), Verdict::Valid);
        assert_eq!(key.verify_at(&r, "GET", "pw", 1_000 + 601), Verdict::Stale);
        assert_eq!(key.verify_at(&r, "GET", "wrong", 1_100), Verdict::Invalid);
        assert_eq!(key.verify_at(&r, "PUT", "pw", 1_100), Verdict::Invalid);
        let other = NonceKey::new(b"other");
        let forged = response_for(&other, &other.issue_at(1_000), "pw");
        assert_eq!(key.verify_at(&forged, "GET", "pw", 1_100), Verdict::Invalid);
    }

    #[test]
    fn a_put_nonce_count_is_used_once() {
        let key = NonceKey::new(b"secret");
        let nonce = key.issue_at(1_000);
        let mut r = response_for(&key, &nonce, "pw");
        assert!(key.first_use_at(&r, 1_100));
        assert!(
            !key.first_use_at(&r, 1_100),
            "the same header again is a replay"
        );
        r.nc = Some("00000002".into());
        assert!(key.first_use_at(&r, 1_100));
        r.nc = Some("00000001".into());
        assert!(
            !key.first_use_at(&r, 1_100),
            "a lower count is a replay too"
        );
        r.nc = None;
        assert!(
            !key.first_use_at(&r, 1_100),
            "no count, no proof of freshness"
        );
        let other = response_for(&key, &key.issue_at(1_050), "pw");
        assert!(key.first_use_at(&other, 1_100), "counts are per nonce");
    }

    #[test]
    fn parses_typical_header() {
        let h = r#"Digest username="805ec0aabbcc", realm="yealink-prov", nonce="abc", uri="/prov/x.cfg", response="0123ABCD", qop=auth, nc=00000001, cnonce="xyz", algorithm=MD5"#;
        let r = parse_authorization(h).expect("parses");
        assert_eq!(r.username, "805ec0aabbcc");
        assert_eq!(r.response, "0123abcd");
        assert_eq!(r.qop.as_deref(), Some("auth"));
        assert_eq!(r.uri, "/prov/x.cfg");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_authorization("Basic abc").is_none());
        assert!(parse_authorization("Digest username=\"unterminated").is_none());
        assert!(parse_authorization("Digest =x").is_none());
        assert!(parse_authorization("Digest realm=\"r\"").is_none());
    }
}
