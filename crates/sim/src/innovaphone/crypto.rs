//! The innovaphone crypto helpers, written here from the protocol notes (§1, §6) and checked
//! against their vectors: the AppWebsocket login digest, the session key, the RC4 `encrypt` /
//! `decrypt` helpers (plain RC4, no drop-N, hex output) and the sysclient digest.
//!
//! RC4 is implemented here by hand (it is a few lines) so that the simulator shares no crypto
//! code with the server it tests.

use sha2::{Digest as _, Sha256};

/// Lower-case hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The AppLogin digest: `sha256(app:domain:sip:guid:dn:info:challenge:password)`, or without
/// the `info:` part when the AppLogin has no `info` (§1). `info` is the exact JSON text sent.
#[allow(clippy::too_many_arguments)]
pub fn app_login_digest(
    app: &str,
    domain: &str,
    sip: &str,
    guid: &str,
    dn: &str,
    info: Option<&str>,
    challenge: &str,
    password: &str,
) -> String {
    let text = match info {
        Some(info) => format!("{app}:{domain}:{sip}:{guid}:{dn}:{info}:{challenge}:{password}"),
        None => format!("{app}:{domain}:{sip}:{guid}:{dn}:{challenge}:{password}"),
    };
    sha256_hex(&text)
}

/// The AppWebsocket session key: `hex(sha256("innovaphoneAppSessionKey:" + challenge + ":" +
/// password))` (§1).
pub fn session_key(challenge: &str, password: &str) -> String {
    sha256_hex(&format!("innovaphoneAppSessionKey:{challenge}:{password}"))
}

/// The sysclient digest: `hex(sha256(id:product:version:challenge:password))` (§6).
pub fn sysclient_digest(
    id: &str,
    product: &str,
    version: &str,
    challenge: &str,
    password: &str,
) -> String {
    sha256_hex(&format!("{id}:{product}:{version}:{challenge}:{password}"))
}

/// Plain RC4 (key scheduling, then the keystream XORed over `data` in place).
pub fn rc4_in_place(key: &[u8], data: &mut [u8]) {
    if key.is_empty() {
        return;
    }
    let mut s: [u8; 256] = std::array::from_fn(|i| i as u8);
    let mut j: u8 = 0;
    for i in 0..256 {
        j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
        s.swap(i, usize::from(j));
    }
    let (mut i, mut j) = (0u8, 0u8);
    for byte in data.iter_mut() {
        i = i.wrapping_add(1);
        j = j.wrapping_add(s[usize::from(i)]);
        s.swap(usize::from(i), usize::from(j));
        let k = s[usize::from(s[usize::from(i)].wrapping_add(s[usize::from(j)]))];
        *byte ^= k;
    }
}

/// RC4 keyed with UTF-8(`seed + ":" + secret`) over UTF-8(`data`), as lower-case hex. With a
/// session key as `secret` this is the AppWebsocket `encrypt(seed, data)`; with a sysclient
/// password it is the sysclient's secret encryption (0x0003 `pwd`, `turnPassword`).
pub fn encrypt(seed: &str, secret: &str, data: &str) -> String {
    let mut bytes = data.as_bytes().to_vec();
    rc4_in_place(format!("{seed}:{secret}").as_bytes(), &mut bytes);
    hex::encode(bytes)
}

/// The inverse of [`encrypt`]: hex-decode, RC4, UTF-8.
pub fn decrypt(seed: &str, secret: &str, hex_data: &str) -> anyhow::Result<String> {
    let mut bytes = hex::decode(hex_data.trim())
        .map_err(|e| anyhow::anyhow!("encrypted value is not hex: {e}"))?;
    rc4_in_place(format!("{seed}:{secret}").as_bytes(), &mut bytes);
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("decrypted value is not UTF-8"))
}

/// `n` random decimal digits (challenges, seeds, provisioning codes).
pub fn random_digits(n: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// `n` random alphanumeric characters (sysclient passwords).
pub fn random_alnum(n: usize) -> String {
    use rand::Rng as _;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A random 128-bit guid as 32 lower-case hex digits.
pub fn random_guid() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "0123456789abcdef";

    #[test]
    fn login_digest_official_vectors() {
        assert_eq!(
            app_login_digest("pbxadminapi", "", "", "", "", None, CHALLENGE, "pwd"),
            "a205299ed2ef2786c311e0be1b14db343f2cadd906a6ae7b564eee34bda5e9a1"
        );
        assert_eq!(
            app_login_digest("pbxadminapi", "", "", "", "", Some("{}"), CHALLENGE, "pwd"),
            "57b23fe824b9222a7ac879597cb509bcdc865a1bfeb057d9d12118cef0c3ba34"
        );
        assert_eq!(
            app_login_digest(
                "pbxadminapi",
                "",
                "",
                "",
                "",
                Some(r#"{"cn":"Test User"}"#),
                CHALLENGE,
                "pwd"
            ),
            "96db3c3f657230c2b68194becc6d2a77f05de9f79f01fc81e9ca0fb196b10d9d"
        );
        assert_eq!(
            app_login_digest(
                "innovaphone-users",
                "example.com",
                "administrator",
                "0123456789abcdef0123456789abcdef",
                "Administrator User",
                Some(
                    r#"{"appobj":"users","apps":[{"name":"users"},{"name":"profile"}],"appurl":"https://1.2.3.4/example.com/usersapp/innovaphone-users","unlicensed":true}"#
                ),
                CHALLENGE,
                "pwd"
            ),
            "ef1b811ffaa8f9255c39c653d8fb26b4687b2d8c4d9ac91b4821bff6bae3ff44"
        );
    }

    #[test]
    fn info_serialised_by_serde_json_hashes_like_the_vector() {
        // serde_json (preserve_order) writes the same text as JSON.stringify: no escaped '/'.
        let info: serde_json::Value = serde_json::from_str(
            r#"{ "appobj": "users", "apps": [{"name": "users"}, {"name": "profile"}],
                 "appurl": "https://1.2.3.4/example.com/usersapp/innovaphone-users",
                 "unlicensed": true }"#,
        )
        .unwrap();
        let text = serde_json::to_string(&info).unwrap();
        assert_eq!(
            app_login_digest(
                "innovaphone-users",
                "example.com",
                "administrator",
                "0123456789abcdef0123456789abcdef",
                "Administrator User",
                Some(&text),
                CHALLENGE,
                "pwd"
            ),
            "ef1b811ffaa8f9255c39c653d8fb26b4687b2d8c4d9ac91b4821bff6bae3ff44"
        );
    }

    #[test]
    fn session_key_and_encrypt_vectors() {
        let key = session_key(CHALLENGE, "pwd");
        assert_eq!(
            key,
            "d58c77eae0c1c1f37a9f545e207643c926ad9ea4932016a83a4a01029de37760"
        );
        assert_eq!(encrypt("1234", &key, "secret"), "ffeaf78e4701");
        assert_eq!(decrypt("1234", &key, "ffeaf78e4701").unwrap(), "secret");
        assert!(decrypt("1234", &key, "zz").is_err());
    }

    #[test]
    fn rc4_known_answer() {
        // The classic test vectors ("Key"/"Plaintext", "Wiki"/"pedia", "Secret"/"Attack at dawn").
        let mut data = b"Plaintext".to_vec();
        rc4_in_place(b"Key", &mut data);
        assert_eq!(hex::encode(&data), "bbf316e8d940af0ad3");
        let mut data = b"pedia".to_vec();
        rc4_in_place(b"Wiki", &mut data);
        assert_eq!(hex::encode(&data), "1021bf0420");
        let mut data = b"Attack at dawn".to_vec();
        rc4_in_place(b"Secret", &mut data);
        assert_eq!(hex::encode(&data), "45a01f645fc35b383552544b9bf5");
    }

    #[test]
    fn sysclient_digest_vector() {
        assert_eq!(
            sysclient_digest(
                "001565aabbcc",
                "Yealink T54W",
                "96.86.0.100",
                "12345678",
                "0123456789abcdef0123456789abcdef"
            ),
            "b00a030352ef9755fe4ebfc4ffc760a5a7af808317e36fe9e8d04bf54ba49bce"
        );
    }

    #[test]
    fn random_helpers() {
        let digits = random_digits(16);
        assert_eq!(digits.len(), 16);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        let pwd = random_alnum(32);
        assert_eq!(pwd.len(), 32);
        assert!(pwd.bytes().all(|b| b.is_ascii_alphanumeric()));
        let guid = random_guid();
        assert_eq!(guid.len(), 32);
        assert!(guid.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
