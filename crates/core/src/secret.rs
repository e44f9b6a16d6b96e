//! A string that never shows itself in `Debug`, logs or serialised answers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Serialize for Secret {
    // Serialised only into figment's layering; the value is needed there.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A fresh random string of `len` characters from `[A-Za-z0-9]`.
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The password of a phone's `user` web login: derived from its random admin password, so it
/// is as unpredictable as that one and changes with it, without a second stored secret
/// (decision 73). HMAC-SHA256 keyed with the admin password over a fixed label, the first
/// 16 characters of its URL-safe base64 (96 bits).
pub fn phone_user_password(admin_password: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac as _};
    const LABEL: &[u8] = b"yealink-prov phone web login: user";
    // HMAC accepts keys of any length, so this cannot fail; an empty string would be refused
    // by the renderer rather than written.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(admin_password.as_bytes()) else {
        return String::new();
    };
    mac.update(LABEL);
    let digest = mac.finalize().into_bytes();
    let mut encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    encoded.truncate(16);
    encoded
}

/// Shown instead of a secret's value.
pub const MASK: &str = "********";
