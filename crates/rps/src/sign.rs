//! Request signing of the JSON API ("Signature Rule of REST API").
//!
//! ```text
//! METHOD
//! Content-MD5:<base64 md5 of the body>     (only when a body is sent)
//! X-Ca-Key:<AccessKey ID>
//! X-Ca-Nonce:<nonce>
//! X-Ca-Timestamp:<unix ms, 13 digits>
//! <path without the leading '/'>
//! <k=v&k2=v2, sorted by key, not URL-encoded>  (only when there are query parameters)
//! ```
//! joined by `\n` with no trailing newline, then `base64(HMAC-SHA256(secret, that))`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac as _};
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// `base64(md5(body))` over the exact bytes sent.
pub fn content_md5(body: &[u8]) -> String {
    B64.encode(Md5::digest(body))
}

/// The string the signature is computed over.
///
/// `path` may start with `/` (it is stripped). Query pairs are sorted by key; a pair with an
/// empty value is written as the bare key; values are used raw, not URL-encoded. With no
/// query pairs nothing follows the path (no trailing `\n`).
pub fn string_to_sign(
    method: &str,
    content_md5: Option<&str>,
    key: &str,
    nonce: &str,
    timestamp_ms: &str,
    path: &str,
    query: &[(&str, &str)],
) -> String {
    let mut lines: Vec<String> = Vec::with_capacity(7);
    lines.push(method.to_ascii_uppercase());
    // The header lines are in lexicographic order of their names:
    // Content-MD5 < X-Ca-Key < X-Ca-Nonce < X-Ca-Timestamp.
    if let Some(md5) = content_md5 {
        lines.push(format!("Content-MD5:{md5}"));
    }
    lines.push(format!("X-Ca-Key:{key}"));
    lines.push(format!("X-Ca-Nonce:{nonce}"));
    lines.push(format!("X-Ca-Timestamp:{timestamp_ms}"));
    lines.push(path.trim_start_matches('/').to_owned());
    if !query.is_empty() {
        let mut pairs = query.to_vec();
        pairs.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
        let joined = pairs
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    (*k).to_owned()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        lines.push(joined);
    }
    lines.join("\n")
}

/// `base64(HMAC-SHA256(key = secret, msg = string_to_sign))`.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty signature would only
    // make RPS reject the request, which the history shows.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// A fresh nonce: 32 lower-case hex digits (a UUID without dashes, as the known clients send).
pub fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Unix time in milliseconds, the 13-digit form RPS expects.
pub fn timestamp_ms() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    ms.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reference's signature vectors live in tests/it/sign.rs (through the public API).

    #[test]
    fn query_sorted_raw_and_bare_keys() {
        let sts = string_to_sign(
            "get",
            None,
            "k",
            "n",
            "1",
            "a/b",
            &[("z", "1"), ("a", "x y"), ("m", "")],
        );
        assert_eq!(
            sts,
            "GET\nX-Ca-Key:k\nX-Ca-Nonce:n\nX-Ca-Timestamp:1\na/b\na=x y&m&z=1"
        );
        let no_query = string_to_sign("GET", None, "k", "n", "1", "/a", &[]);
        assert!(no_query.ends_with("\na"), "{no_query:?}");
    }

    #[test]
    fn nonce_and_timestamp_shape() {
        let a = nonce();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, nonce());
        assert_eq!(timestamp_ms().len(), 13);
    }
}
