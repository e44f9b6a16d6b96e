//! The JSON API's request signature (reference A2.1), written from the documentation.
//!
//! ```text
//! METHOD
//! Content-MD5:<base64(md5(body))>      only when the request has a body
//! X-Ca-Key:<access key id>
//! X-Ca-Nonce:<nonce>
//! X-Ca-Timestamp:<unix ms, 13 digits>
//! <path without the leading '/'>
//! <query>                              only when there are query parameters
//! ```
//!
//! Lines are joined with `\n`, no trailing newline. The query is `k=v` pairs sorted by key and
//! joined with `&`, values raw (not URL-encoded); a pair with an empty value is just `k`.
//! `X-Ca-Signature = base64(HMAC-SHA256(secret, stringToSign))`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac as _};
use md5::{Digest as _, Md5};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `base64(md5(body))` over the exact bytes.
pub fn content_md5(body: &[u8]) -> String {
    STANDARD.encode(Md5::digest(body))
}

/// The signed headers of one request.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    /// `X-Ca-Key`.
    pub key: &'a str,
    /// `X-Ca-Nonce`.
    pub nonce: &'a str,
    /// `X-Ca-Timestamp`.
    pub timestamp: &'a str,
    /// `Content-MD5`, present only when the request has a body.
    pub content_md5: Option<&'a str>,
}

/// The string to sign. `path` is the request path (a leading `/` is removed); `query` the
/// decoded parameters in any order (sorted here by key, then value, for a stable result).
pub fn string_to_sign(
    method: &str,
    headers: &SignedHeaders<'_>,
    path: &str,
    query: &[(String, String)],
) -> String {
    let mut lines = vec![method.to_ascii_uppercase()];
    if let Some(md5) = headers.content_md5 {
        lines.push(format!("Content-MD5:{md5}"));
    }
    lines.push(format!("X-Ca-Key:{}", headers.key));
    lines.push(format!("X-Ca-Nonce:{}", headers.nonce));
    lines.push(format!("X-Ca-Timestamp:{}", headers.timestamp));
    lines.push(path.strip_prefix('/').unwrap_or(path).to_owned());
    if !query.is_empty() {
        let mut pairs: Vec<&(String, String)> = query.iter().collect();
        pairs.sort();
        let joined = pairs
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
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

/// `base64(HMAC-SHA256(secret, string_to_sign))`.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = hmac(secret);
    mac.update(string_to_sign.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a received `X-Ca-Signature` in constant time.
pub fn verify(secret: &str, string_to_sign: &str, given: &str) -> bool {
    let Ok(given) = STANDARD.decode(given.trim()) else {
        return false;
    };
    let mut mac = hmac(secret);
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&given).is_ok()
}

fn hmac(secret: &str) -> HmacSha256 {
    // HMAC takes keys of any length; the error case cannot happen.
    HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference A2.1 test vector.
    const KEY: &str = "AKID_EXAMPLE";
    const SECRET: &str = "SECRET_EXAMPLE";
    const NONCE: &str = "0f8e3c1b2a4d4e6f8a9b0c1d2e3f4a5b";
    const TS: &str = "1700000000000";

    #[test]
    fn post_vector() {
        let body = br#"{"macs":["805ec0112233"],"serverId":"srv-1"}"#;
        let md5 = content_md5(body);
        assert_eq!(md5, "LLFfbs/WG1e64L3itBbpvA==");
        let headers = SignedHeaders {
            key: KEY,
            nonce: NONCE,
            timestamp: TS,
            content_md5: Some(&md5),
        };
        let sts = string_to_sign("POST", &headers, "/api/open/v1/device/add", &[]);
        assert_eq!(
            sts,
            "POST\nContent-MD5:LLFfbs/WG1e64L3itBbpvA==\nX-Ca-Key:AKID_EXAMPLE\n\
             X-Ca-Nonce:0f8e3c1b2a4d4e6f8a9b0c1d2e3f4a5b\nX-Ca-Timestamp:1700000000000\n\
             api/open/v1/device/add"
        );
        let sig = signature(SECRET, &sts);
        assert_eq!(sig, "BLC4OZmgffuokh28vQKBL0nORmhvpftPqaNznfD8LoY=");
        assert!(verify(SECRET, &sts, &sig));
        assert!(!verify("other", &sts, &sig));
        assert!(!verify(SECRET, &sts, "not base64!"));
    }

    #[test]
    fn get_vector() {
        let headers = SignedHeaders {
            key: KEY,
            nonce: NONCE,
            timestamp: TS,
            content_md5: None,
        };
        let query = [("mac".to_owned(), "805ec0112233".to_owned())];
        let sts = string_to_sign("get", &headers, "api/open/v1/device/checkMac", &query);
        assert!(sts.ends_with("\napi/open/v1/device/checkMac\nmac=805ec0112233"));
        assert_eq!(
            signature(SECRET, &sts),
            "nVnpfxsgT81uB9FvLIIt/pUvzCgqGGpZ+j+v0mGnOPY="
        );
    }

    #[test]
    fn query_sorted_raw_and_empty_values_bare() {
        let headers = SignedHeaders {
            key: "k",
            nonce: "n",
            timestamp: "1",
            content_md5: None,
        };
        let query = [
            ("b".to_owned(), "x y&z".to_owned()),
            ("a".to_owned(), String::new()),
        ];
        let sts = string_to_sign("GET", &headers, "/p", &query);
        assert_eq!(
            sts,
            "GET\nX-Ca-Key:k\nX-Ca-Nonce:n\nX-Ca-Timestamp:1\np\na&b=x y&z"
        );
        // No query: no trailing line.
        assert_eq!(
            string_to_sign("GET", &headers, "/p", &[]),
            "GET\nX-Ca-Key:k\nX-Ca-Nonce:n\nX-Ca-Timestamp:1\np"
        );
    }
}
