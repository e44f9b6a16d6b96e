//! The path prefix of the site a request came in on: empty for the default tenant, a tenant's
//! `/<domain>/<name>` otherwise (docs/tenants.md). The listener cuts the prefix off before the
//! handlers run; what a handler sends back that names one of our paths (a redirect, a cookie's
//! path, the page's `<base href>`) puts it back with [`path`].
//!
//! Held in a task-local value for the time of the request ([`scope`], a middleware on every
//! tenant's router), so handlers and templates need no extra argument; outside one (the default
//! tenant's router, tests) the prefix is empty.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

tokio::task_local! {
    static PREFIX: Arc<str>;
}

/// The current site's prefix (`""` or `/<domain>/<name>`).
pub fn prefix() -> String {
    PREFIX.try_with(|p| p.to_string()).unwrap_or_default()
}

/// `absolute` (a path starting with `/`) on the current site.
pub fn path(absolute: &str) -> String {
    format!("{}{absolute}", prefix())
}

/// [`path`] as a header value (`Location`, `HX-Redirect`).
pub fn header(absolute: &str) -> axum::http::HeaderValue {
    // A prefix is a domain and a name (letters, digits, `.-_`): always a valid header value.
    axum::http::HeaderValue::from_str(&path(absolute))
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("/"))
}

/// The `Path=` of our cookies: the current site's `/ui`.
pub fn cookie_path() -> String {
    path("/ui")
}

/// The page's `<base href>`: the site's root, so the templates' relative links (`ui/devices`)
/// stay on the site.
pub fn base_href() -> String {
    path("/")
}

/// Runs the rest of the request with `prefix` as the site's prefix.
pub async fn scope(prefix: Arc<str>, request: Request, next: Next) -> Response {
    PREFIX.scope(prefix, next.run(request)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paths_carry_the_prefix_inside_a_scope_only() {
        assert_eq!(path("/ui/devices"), "/ui/devices");
        let inside = PREFIX
            .scope(Arc::from("/a.example.com/yealink"), async {
                (path("/ui/devices"), base_href())
            })
            .await;
        assert_eq!(
            inside,
            (
                "/a.example.com/yealink/ui/devices".to_owned(),
                "/a.example.com/yealink/".to_owned()
            )
        );
    }
}
