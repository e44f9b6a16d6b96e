//! CSRF protection: every state-changing request under `/ui` must carry the session's token in
//! the `X-CSRF-Token` header (htmx adds it from `hx-headers` on `<body>`). A cross-site page can
//! neither read the token nor set that header without a CORS preflight we never answer.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::session::Session;

pub const HEADER: &str = "x-csrf-token";

pub async fn check(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let expected = request
        .extensions()
        .get::<Session>()
        .map(|s| s.csrf.clone())
        .unwrap_or_default();
    let given = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        metrics::counter!("ui_csrf_rejected_total").increment(1);
        return (
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token; reload the page\n",
        )
            .into_response();
    }
    next.run(request).await
}
