//! AppWebsocket login (challenge, digest check, session key) — reference §1.
//!
//! We are the AppWebsocket *server*: we hand out a challenge, check the
//! client's digest against the shared instance password, and derive the
//! session key used to decrypt secrets sent on that connection.

use std::fmt;

use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Error, rc4_hex_decrypt, rc4_hex_encrypt};

/// Length of the challenge; innovaphone uses at most 16 characters.
const CHALLENGE_LEN: usize = 16;

/// Lowercase hex SHA-256 of a UTF-8 string.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A fresh challenge of 16 random ASCII digits, one per connection
/// (innovaphone itself uses digits only; a fresh one prevents replay).
pub fn new_challenge() -> String {
    let mut rng = rand::rng();
    (0..CHALLENGE_LEN)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// The AppLogin digest: hex SHA-256 of
/// `app:domain:sip:guid:dn:info:challenge:password`.
///
/// `info` is hashed as compact JSON in the key order received (serde_json's
/// `preserve_order`), escaping neither `/` nor non-ASCII, like
/// `JSON.stringify`. Without `info` the part and its colon are left out; an
/// empty object `{}` still counts as info.
#[allow(clippy::too_many_arguments)]
pub fn login_digest(
    app: &str,
    domain: &str,
    sip: &str,
    guid: &str,
    dn: &str,
    info: Option<&serde_json::Value>,
    challenge: &str,
    password: &str,
) -> String {
    let text = match info {
        // `Value`'s Display is the compact serializer, and cannot fail.
        Some(info) => format!("{app}:{domain}:{sip}:{guid}:{dn}:{info}:{challenge}:{password}"),
        None => format!("{app}:{domain}:{sip}:{guid}:{dn}:{challenge}:{password}"),
    };
    sha256_hex(&text)
}

/// An `AppLogin` request; unknown fields (e.g. `key`) are ignored.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AppLogin {
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub sip: String,
    #[serde(default)]
    pub guid: String,
    #[serde(default)]
    pub dn: String,
    /// A hash, not a secret.
    #[serde(default)]
    pub digest: String,
    /// Not part of the digest.
    #[serde(default, rename = "pbxObj")]
    pub pbx_obj: Option<String>,
    /// PBX-generated extra data (`appurl`, `appobj`, `pbx`, ...).
    #[serde(default)]
    pub info: Option<serde_json::Value>,
}

impl AppLogin {
    /// Checks the digest against our challenge and password in constant time
    /// (upper-case hex from the client is accepted).
    pub fn verify(&self, challenge: &str, password: &str) -> bool {
        let expected = login_digest(
            &self.app,
            &self.domain,
            &self.sip,
            &self.guid,
            &self.dn,
            self.info.as_ref(),
            challenge,
            password,
        );
        let got = self.digest.to_ascii_lowercase();
        expected.as_bytes().ct_eq(got.as_bytes()).into()
    }

    /// A string value from `info`, e.g. `appurl`, `appobj` or `pbx`.
    pub fn info_str(&self, key: &str) -> Option<&str> {
        self.info.as_ref()?.get(key)?.as_str()
    }
}

/// Who an AppLogin speaks for, read from the digest-covered fields only (`pbxObj` is not
/// covered, so it decides nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginKind {
    /// An App object logging in as itself: the PBX's own connection (`sip` = `info.appobj`,
    /// our App object) or Users' (`sip` = Users' App object), or a login without a user.
    AppObject,
    /// The App object password typed into an app page opened outside myApps: innovaphone's
    /// Connection.js signs `sip` = `app`, guid of 32 zeros, dn `Admin`, no `info`.
    AppPassword,
    /// A myApps user the PBX signed this login for; only users the App is assigned to get one.
    User,
}

/// The guid Connection.js puts in a password login.
const ZERO_GUID: &str = "00000000000000000000000000000000";

impl AppLogin {
    /// What kind of login this is (call after [`AppLogin::verify`]).
    pub fn kind(&self) -> LoginKind {
        if self.sip.is_empty() {
            return LoginKind::AppObject;
        }
        if self.sip == self.app && self.guid == ZERO_GUID && self.dn == "Admin" {
            return LoginKind::AppPassword;
        }
        // The PBX signs user logins with `info.appobj` = the App object that grants access,
        // which is never the user; an App object's own login has `sip` = its `appobj`.
        match self.info_str("appobj") {
            Some(appobj)
                if appobj != self.sip && !self.guid.is_empty() && self.guid != ZERO_GUID =>
            {
                LoginKind::User
            }
            _ => LoginKind::AppObject,
        }
    }
}

/// `AppCheckLogin` from the PBX Manager: "is the password stored on this App object right?"
/// The Manager gets the digest from the PBX (`PbxAdminApi` `GetAppLogin{app, challenge}`) and
/// shows a green tick only for `ok: true` (innovaphone 13r1-SDK `doc/appwebsocket/PbxAdminApi.htm`,
/// `common/lib/appwebsocket.htm` and `appwebsocket.h`: the library's default checks the digest
/// with the instance password, using the AppLogin hash with only `app` and `domain` known).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AppCheckLogin {
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub domain: String,
    /// Chosen by the checker ("an arbitrary challenge may be used"), not by us.
    #[serde(default)]
    pub challenge: String,
    #[serde(default)]
    pub digest: String,
}

impl AppCheckLogin {
    /// Whether the digest is `sha256(app:domain::::challenge:password)`: the AppLogin rule with
    /// empty `sip`, `guid`, `dn` and no `info`, since the message carries nothing else.
    /// An empty challenge or digest never verifies.
    pub fn verify(&self, password: &str) -> bool {
        if self.challenge.is_empty() || self.digest.is_empty() {
            return false;
        }
        let expected = login_digest(
            &self.app,
            &self.domain,
            "",
            "",
            "",
            None,
            &self.challenge,
            password,
        );
        let got = self.digest.to_ascii_lowercase();
        expected.as_bytes().ct_eq(got.as_bytes()).into()
    }
}

/// The per-connection AppWebsocket session key (64 lowercase hex chars).
///
/// It decrypts secrets such as the user password in `ProvisioningPhone`, so
/// its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(String);

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(***)")
    }
}

/// Derives the session key both sides compute after a password login:
/// hex SHA-256 of `innovaphoneAppSessionKey:<challenge>:<password>`.
pub fn session_key(challenge: &str, password: &str) -> SessionKey {
    SessionKey(sha256_hex(&format!(
        "innovaphoneAppSessionKey:{challenge}:{password}"
    )))
}

impl SessionKey {
    /// Wraps a key obtained elsewhere (e.g. decrypted from
    /// `GetServiceLoginResult`).
    pub fn from_hex(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key as hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The RC4 key for a seed: UTF-8 of `seed:sessionKey`.
    fn rc4_key(&self, seed: &str) -> Vec<u8> {
        format!("{seed}:{}", self.0).into_bytes()
    }

    /// JS `encrypt(seed, data)`: RC4 keyed `seed:sessionKey`, hex output.
    pub fn encrypt(&self, seed: &str, plaintext: &str) -> String {
        rc4_hex_encrypt(&self.rc4_key(seed), plaintext.as_bytes())
    }

    /// JS `decrypt(seed, hex)`; fails on bad hex or non-UTF-8 output.
    pub fn decrypt(&self, seed: &str, hex: &str) -> Result<String, Error> {
        let bytes = rc4_hex_decrypt(&self.rc4_key(seed), hex)?;
        String::from_utf8(bytes).map_err(|_| Error::NotUtf8)
    }

    /// JS `hash(seed, data)`: hex SHA-256 of `seed:sessionKey:data`.
    pub fn hash(&self, seed: &str, data: &str) -> String {
        sha256_hex(&format!("{seed}:{}:{data}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const CHALLENGE: &str = "0123456789abcdef";
    const PWD: &str = "pwd";

    fn digest(info: Option<&Value>) -> String {
        login_digest("pbxadminapi", "", "", "", "", info, CHALLENGE, PWD)
    }

    #[test]
    fn official_vector_no_info() {
        assert_eq!(
            digest(None),
            "a205299ed2ef2786c311e0be1b14db343f2cadd906a6ae7b564eee34bda5e9a1"
        );
    }

    #[test]
    fn official_vector_empty_info() {
        let info: Value = serde_json::from_str("{}").unwrap();
        assert_eq!(
            digest(Some(&info)),
            "57b23fe824b9222a7ac879597cb509bcdc865a1bfeb057d9d12118cef0c3ba34"
        );
    }

    #[test]
    fn official_vector_cn_info() {
        let info: Value = serde_json::from_str(r#"{"cn":"Test User"}"#).unwrap();
        assert_eq!(
            digest(Some(&info)),
            "96db3c3f657230c2b68194becc6d2a77f05de9f79f01fc81e9ca0fb196b10d9d"
        );
    }

    const LONG_INFO: &str = r#"{"appobj":"users","apps":[{"name":"users"},{"name":"profile"}],"appurl":"https://1.2.3.4/example.com/usersapp/innovaphone-users","unlicensed":true}"#;

    #[test]
    fn official_vector_long_info() {
        let info: Value = serde_json::from_str(LONG_INFO).unwrap();
        let d = login_digest(
            "innovaphone-users",
            "example.com",
            "administrator",
            "0123456789abcdef0123456789abcdef",
            "Administrator User",
            Some(&info),
            CHALLENGE,
            PWD,
        );
        assert_eq!(
            d,
            "ef1b811ffaa8f9255c39c653d8fb26b4687b2d8c4d9ac91b4821bff6bae3ff44"
        );
    }

    #[test]
    fn app_login_verify_and_info() {
        let text = format!(
            r#"{{"mt":"AppLogin","app":"innovaphone-users","domain":"example.com","sip":"administrator","guid":"0123456789abcdef0123456789abcdef","dn":"Administrator User","digest":"EF1B811FFAA8F9255C39C653D8FB26B4687B2D8C4D9AC91B4821BFF6BAE3FF44","pbxObj":"x","key":"ignored","info":{LONG_INFO}}}"#
        );
        let login: AppLogin = serde_json::from_str(&text).unwrap();
        assert!(login.verify(CHALLENGE, PWD));
        assert!(!login.verify(CHALLENGE, "wrong"));
        assert!(!login.verify("1111111111111111", PWD));
        assert_eq!(login.pbx_obj.as_deref(), Some("x"));
        assert_eq!(
            login.info_str("appurl"),
            Some("https://1.2.3.4/example.com/usersapp/innovaphone-users")
        );
        assert_eq!(login.info_str("unlicensed"), None);
        assert_eq!(login.info_str("missing"), None);
    }

    fn login(app: &str, sip: &str, guid: &str, dn: &str, info: Option<Value>) -> AppLogin {
        AppLogin {
            app: app.into(),
            domain: "example.com".into(),
            sip: sip.into(),
            guid: guid.into(),
            dn: dn.into(),
            info,
            ..AppLogin::default()
        }
    }

    #[test]
    fn login_kinds() {
        let guid = "0123456789abcdef0123456789abcdef";
        let user_info =
            serde_json::json!({"appobj": "yealink", "appurl": "https://prov/innovaphone-yealink"});
        let user = login(
            "innovaphone-yealink",
            "jdoe",
            guid,
            "John Doe",
            Some(user_info.clone()),
        );
        assert_eq!(user.kind(), LoginKind::User);
        // The PBX's own connection: the App object is the one logging in.
        let pbx = login(
            "innovaphone-yealink",
            "yealink",
            guid,
            "Yealink",
            Some(user_info),
        );
        assert_eq!(pbx.kind(), LoginKind::AppObject);
        let users = login(
            "innovaphone-yealink",
            "users",
            guid,
            "Users",
            Some(serde_json::json!({"appobj": "users"})),
        );
        assert_eq!(users.kind(), LoginKind::AppObject);
        let password = login(
            "innovaphone-yealink",
            "innovaphone-yealink",
            "00000000000000000000000000000000",
            "Admin",
            None,
        );
        assert_eq!(password.kind(), LoginKind::AppPassword);
        // No info, or no guid: never a user.
        assert_eq!(
            login("a", "jdoe", guid, "J", None).kind(),
            LoginKind::AppObject
        );
        let no_guid = login(
            "a",
            "jdoe",
            "",
            "J",
            Some(serde_json::json!({"appobj": "yealink"})),
        );
        assert_eq!(no_guid.kind(), LoginKind::AppObject);
        assert_eq!(login("a", "", guid, "", None).kind(), LoginKind::AppObject);
    }

    #[test]
    fn password_login_digest_like_connection_js() {
        // Connection.js: sha256(app:domain:sip:guid:dn:challenge:password), domain empty, no info.
        let l = AppLogin {
            app: "innovaphone-yealink".into(),
            sip: "innovaphone-yealink".into(),
            guid: "00000000000000000000000000000000".into(),
            dn: "Admin".into(),
            digest: sha256_hex(&format!(
                "innovaphone-yealink::innovaphone-yealink:00000000000000000000000000000000:Admin:{CHALLENGE}:{PWD}"
            )),
            ..AppLogin::default()
        };
        assert!(l.verify(CHALLENGE, PWD));
        assert_eq!(l.kind(), LoginKind::AppPassword);
    }

    #[test]
    fn app_login_missing_fields_default() {
        let login: AppLogin = serde_json::from_str(r#"{"mt":"AppLogin"}"#).unwrap();
        assert_eq!(login.app, "");
        assert!(login.info.is_none());
        assert!(!login.verify(CHALLENGE, PWD));
    }

    #[test]
    fn app_check_login_verifies_the_digest() {
        // The official vector's string: app "pbxadminapi", no domain, sip, guid, dn or info.
        let good = AppCheckLogin {
            app: "pbxadminapi".into(),
            domain: String::new(),
            challenge: "0123456789abcdef".into(),
            digest: "A205299ED2EF2786C311E0BE1B14DB343F2CADD906A6AE7B564EEE34BDA5E9A1".into(),
        };
        assert!(good.verify("pwd"));
        assert!(!good.verify("wrong"));
        let other_app = AppCheckLogin {
            app: "yealink".into(),
            ..good.clone()
        };
        assert!(!other_app.verify("pwd"));
        let with_domain = AppCheckLogin {
            domain: "example.com".into(),
            ..good.clone()
        };
        assert!(!with_domain.verify("pwd"));
        let empty = AppCheckLogin {
            digest: String::new(),
            ..good
        };
        assert!(!empty.verify("pwd"));
    }

    #[test]
    fn challenge_is_sixteen_digits() {
        let c = new_challenge();
        assert_eq!(c.len(), 16);
        assert!(c.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(c, new_challenge());
    }

    #[test]
    fn session_key_vector() {
        let key = session_key(CHALLENGE, PWD);
        assert_eq!(
            key.as_str(),
            "d58c77eae0c1c1f37a9f545e207643c926ad9ea4932016a83a4a01029de37760"
        );
        assert_eq!(format!("{key:?}"), "SessionKey(***)");
    }

    #[test]
    fn encrypt_vector_and_round_trip() {
        let key = session_key(CHALLENGE, PWD);
        assert_eq!(key.encrypt("1234", "secret"), "ffeaf78e4701");
        assert_eq!(key.decrypt("1234", "ffeaf78e4701").unwrap(), "secret");
        let enc = key.encrypt("seed", "pässwörd/€");
        assert_eq!(key.decrypt("seed", &enc).unwrap(), "pässwörd/€");
    }

    #[test]
    fn decrypt_errors() {
        let key = session_key(CHALLENGE, PWD);
        assert_eq!(
            key.decrypt("1234", "not hex"),
            Err(Error::InvalidHex { len: 7 })
        );
        // Decrypts back to the lone byte 0xff, which is not UTF-8.
        let bad = rc4_hex_encrypt(b"1234:x", &[0xff]);
        let other = SessionKey::from_hex("x");
        assert_eq!(other.decrypt("1234", &bad), Err(Error::NotUtf8));
    }

    #[test]
    fn hash_formula() {
        let key = session_key(CHALLENGE, PWD);
        assert_eq!(
            key.hash("s", "d"),
            sha256_hex(&format!("s:{}:d", key.as_str()))
        );
    }
}
