//! What the page handlers share: the message fragment, error answers, query encoding.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::web::i18n::Tr;
use prov_core::error::ServiceError;

// ---- messages and errors --------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub(super) struct Message {
    pub(super) ok: bool,
    pub(super) text: String,
    pub(super) field: Option<&'static str>,
}

pub(super) fn notice(text: impl Into<String>) -> Response {
    Message {
        ok: true,
        text: text.into(),
        field: None,
    }
    .into_response()
}

/// An error as a fragment. Status 200, so htmx swaps it in where the result belongs; the
/// message names the field (in the page's language) when there is one.
pub(super) fn error_fragment(t: Tr, e: &ServiceError) -> Response {
    let (field, text) = match e {
        ServiceError::Invalid(fe) => (
            Some(fe.field),
            format!("{}: {}", t.field_label(fe.field), fe.message),
        ),
        ServiceError::Duplicate(_) | ServiceError::NotFound(_) | ServiceError::Rps(_) => {
            (None, e.to_string())
        }
        ServiceError::OtherTenant { mac, .. } => (None, ServiceError::other_tenant_public(*mac)),
        other => {
            tracing::error!(error = %other, "web UI request failed");
            (None, t.get("error.internal").to_owned())
        }
    };
    Message {
        ok: false,
        text,
        field,
    }
    .into_response()
}

pub(super) fn hx_redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (
            StatusCode::OK,
            [(HeaderName::from_static("hx-redirect"), v)],
        )
            .into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

pub(super) fn internal(t: Tr, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "web UI page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, t.get("error.internal")).into_response()
}

/// Percent-encodes a query value (everything but unreserved characters).
pub(super) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn blank_to_none(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}
