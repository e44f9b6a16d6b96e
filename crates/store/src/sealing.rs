//! Encryption of secret values at rest (docs/security.md, "Data at rest").
//!
//! A [`Keyring`] holds one or more 32-byte master keys; the first seals, all open. A sealed
//! value is text: `ypenc1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, ChaCha20-Poly1305
//! with a label naming the field as associated data (a sealed value moved to another
//! column does not open). The key id (8 hex digits derived from the key) lets a rotation
//! re-seal row by row while values under the old key stay readable.
//!
//! Values are sealed with a random nonce, except URL tokens, which are looked up by value:
//! they get a synthetic nonce, HMAC-SHA256 of the token under a key derived from the master
//! key, so one token always seals to the same text under one key (only equality leaks, which
//! the unique index needs anyway).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

/// Marks a sealed value; the digit is the format version.
pub const SEALED_PREFIX: &str = "ypenc1:";
const NONCE_LEN: usize = 12;
/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;

/// Why a secret could not be sealed or opened. Never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "a secret in the database was encrypted with key {0}, which is not in the key file \
         (wrong secret.key?)"
    )]
    UnknownKey(String),
    #[error(
        "a secret in the database does not decrypt with key {0} (wrong or damaged key file, \
         or the database was changed)"
    )]
    Undecryptable(String),
    #[error("a sealed secret in the database is malformed")]
    Malformed,
    #[error("a key must be {KEY_LEN} bytes, got {0}")]
    KeyLength(usize),
    #[error("the key ring is empty")]
    Empty,
}

/// One master key and what is derived from it.
#[derive(Clone)]
struct SealKey {
    id: String,
    aead: ChaCha20Poly1305,
    /// HMAC key for the synthetic nonce of looked-up values.
    siv: [u8; 32],
}

fn derive(master: &[u8], label: &[u8]) -> [u8; 32] {
    // Only fails for key lengths HMAC rejects, and HMAC takes any length.
    let mut mac = match <Hmac<Sha256>>::new_from_slice(master) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl SealKey {
    fn new(master: &[u8]) -> Result<Self, SealError> {
        if master.len() != KEY_LEN {
            return Err(SealError::KeyLength(master.len()));
        }
        let enc = derive(master, b"yealink-prov v1 encryption");
        let id = derive(master, b"yealink-prov v1 key id");
        Ok(Self {
            id: id[..4].iter().map(|b| format!("{b:02x}")).collect(),
            aead: ChaCha20Poly1305::new(&Key::from(enc)),
            siv: derive(master, b"yealink-prov v1 lookup"),
        })
    }

    fn seal_with(&self, label: &str, plain: &[u8], nonce: [u8; NONCE_LEN]) -> String {
        let payload = Payload {
            msg: plain,
            aad: label.as_bytes(),
        };
        // ChaCha20-Poly1305 fails only for messages beyond 256 GiB.
        let ct = match self.aead.encrypt(&Nonce::from(nonce), payload) {
            Ok(ct) => ct,
            Err(_) => unreachable!("value too large to encrypt"),
        };
        let mut raw = Vec::with_capacity(NONCE_LEN + ct.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        format!("{SEALED_PREFIX}{}:{}", self.id, URL_SAFE_NO_PAD.encode(raw))
    }
}

/// The master keys in force: the first seals, every one opens.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<SealKey>,
}

/// Shows only the key ids.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.id))
            .finish()
    }
}

impl Keyring {
    /// `masters[0]` becomes the sealing key; each must be [`KEY_LEN`] bytes.
    pub fn new<K: AsRef<[u8]>>(masters: &[K]) -> Result<Self, SealError> {
        let keys = masters
            .iter()
            .map(|k| SealKey::new(k.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(SealError::Empty);
        }
        Ok(Self { keys })
    }

    /// The id of the sealing key (not secret: it is in every sealed value).
    pub fn primary_id(&self) -> &str {
        &self.primary().id
    }

    /// Ids of all keys, sealing key first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    fn primary(&self) -> &SealKey {
        // `new` refuses an empty ring.
        &self.keys[0]
    }

    /// Seals with a random nonce.
    pub fn seal(&self, label: &str, plain: &[u8]) -> String {
        use rand::RngCore as _;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        self.primary().seal_with(label, plain, nonce)
    }

    /// Seals `plain` under every key, deterministically: the texts a value looked up by
    /// equality may be stored as, sealing key first.
    pub fn lookup_forms(&self, label: &str, plain: &[u8]) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.seal_with(label, plain, synthetic_nonce(k, label, plain)))
            .collect()
    }

    /// The deterministic sealing under the sealing key (see [`Keyring::lookup_forms`]).
    pub fn seal_lookup(&self, label: &str, plain: &[u8]) -> String {
        let k = self.primary();
        k.seal_with(label, plain, synthetic_nonce(k, label, plain))
    }

    /// Opens a sealed value. A value without [`SEALED_PREFIX`] is returned as it is: it was
    /// written before encryption and is sealed by the migration at open.
    pub fn open(&self, label: &str, stored: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX.as_bytes()) else {
            return Ok(stored.to_vec());
        };
        let rest = std::str::from_utf8(rest).map_err(|_| SealError::Malformed)?;
        let (id, body) = rest.split_once(':').ok_or(SealError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        let payload = Payload {
            msg: ct,
            aad: label.as_bytes(),
        };
        key.aead
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SealError::Undecryptable(id.to_owned()))
    }

    /// [`Keyring::open`] for text.
    pub fn open_str(&self, label: &str, stored: &str) -> Result<String, SealError> {
        String::from_utf8(self.open(label, stored.as_bytes())?).map_err(|_| SealError::Malformed)
    }

    /// Whether `stored` is sealed with the sealing key (nothing to do for a migration or
    /// rotation). Looks at the prefix only.
    pub fn is_current(&self, stored: &[u8]) -> bool {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX.as_bytes()) else {
            return false;
        };
        let id = self.primary().id.as_bytes();
        rest.starts_with(id) && rest.get(id.len()) == Some(&b':')
    }
}

fn synthetic_nonce(k: &SealKey, label: &str, plain: &[u8]) -> [u8; NONCE_LEN] {
    let mut mac = match <Hmac<Sha256>>::new_from_slice(&k.siv) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(plain);
    let full = mac.finalize().into_bytes();
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&full[..NONCE_LEN]);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(bytes: &[u8]) -> Keyring {
        Keyring::new(&[[bytes[0]; KEY_LEN]]).unwrap()
    }

    #[test]
    fn round_trip_and_random_nonce() {
        let r = ring(&[1]);
        let a = r.seal("l", b"hunter2");
        let b = r.seal("l", b"hunter2");
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.contains("hunter2"));
        assert_eq!(r.open_str("l", &a).unwrap(), "hunter2");
        assert!(r.is_current(a.as_bytes()));
    }

    #[test]
    fn label_binds_the_column() {
        let r = ring(&[1]);
        let a = r.seal("device.sip_password", b"x");
        assert!(matches!(
            r.open("device.http_password", a.as_bytes()),
            Err(SealError::Undecryptable(_))
        ));
    }

    #[test]
    fn lookup_form_is_deterministic_per_key() {
        let r = ring(&[1]);
        assert_eq!(r.seal_lookup("t", b"tok"), r.seal_lookup("t", b"tok"));
        assert_ne!(r.seal_lookup("t", b"tok"), r.seal_lookup("t", b"tok2"));
        assert_eq!(r.open_str("t", &r.seal_lookup("t", b"tok")).unwrap(), "tok");
    }

    #[test]
    fn other_key_is_a_clear_error_and_plaintext_passes() {
        let old = ring(&[1]);
        let new = ring(&[2]);
        let sealed = old.seal("l", b"secret");
        let err = new.open("l", sealed.as_bytes()).unwrap_err();
        assert!(matches!(err, SealError::UnknownKey(ref id) if id == old.primary_id()));
        assert!(!err.to_string().contains("secret\""));
        assert_eq!(new.open_str("l", "legacy").unwrap(), "legacy");
        // Both keys: the old value opens, but is not current.
        let both = Keyring::new(&[[2u8; KEY_LEN], [1u8; KEY_LEN]]).unwrap();
        assert_eq!(both.open_str("l", &sealed).unwrap(), "secret");
        assert!(!both.is_current(sealed.as_bytes()));
    }

    #[test]
    fn tampering_is_detected() {
        let r = ring(&[1]);
        let mut s = r.seal("l", b"secret").into_bytes();
        let last = s.len() - 2;
        s[last] = if s[last] == b'A' { b'B' } else { b'A' };
        assert!(r.open("l", &s).is_err());
    }
}
