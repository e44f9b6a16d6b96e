//! What a request tells about itself: whether it came over TLS, its cookies.

use axum::http::{HeaderMap, header};

/// Marks requests that arrived over TLS (set by the HTTPS listener).
#[derive(Clone, Copy, Debug)]
pub struct OverTls(pub bool);

/// The value of cookie `name`, if the request sent it.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
