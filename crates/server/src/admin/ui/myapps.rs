//! The web UI's side of the myApps sign-in (docs/innovaphone.md): `/ui/myapps/enter` turns a
//! session id the AppWebsocket handed the app page into the session cookie, and `/ui/me` names
//! the signed-in user in the page header.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::session::{self, Session};
use crate::web::i18n::{COOKIE as LANG_COOKIE, Lang, Tr};
use crate::web::request::OverTls;
use crate::web::state::AppState;

#[derive(Deserialize)]
pub struct EnterForm {
    token: String,
    #[serde(default)]
    lang: String,
    /// `light` or `dark` (myApps' `scheme`), read by `assets/scheme.js`.
    #[serde(default)]
    scheme: String,
    /// `1` when the page runs in myApps' frame (a cross-site frame).
    #[serde(default)]
    framed: String,
}

/// Posted by the app page (same origin, checked like the password sign-in) with the session id
/// it got over the AppWebsocket; sets the cookie and opens the Devices tab.
pub async fn enter(
    State(state): State<AppState>,
    tls: Option<Extension<OverTls>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Form(form): Form<EnterForm>,
) -> Response {
    let over_tls = tls.as_ref().is_some_and(|Extension(t)| t.0);
    if !session::same_origin(&headers, &uri, over_tls) {
        return (StatusCode::FORBIDDEN, "cross-site sign-in refused\n").into_response();
    }
    if form.token.len() > 128
        || !session::is_live(state.service.store().as_ref(), &form.token).await
    {
        return (StatusCode::UNAUTHORIZED, "unknown or expired session\n").into_response();
    }
    let framed = form.framed == "1";
    let max_age = Some(session::idle_secs());
    let cookie = if framed {
        session::framed_session_cookie(&form.token, max_age)
    } else {
        session::session_cookie(&form.token, over_tls, max_age)
    };
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, crate::web::site::header("/ui/devices"))],
    )
        .into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    // The language and scheme myApps asked for; in the frame only partitioned cookies are sent
    // back (and third-party storage is blocked where third-party cookies are).
    let extra = if framed {
        "; Secure; SameSite=None; Partitioned"
    } else {
        "; SameSite=Lax"
    };
    let lang = Lang::from_code(&form.lang).map(|l| (LANG_COOKIE, Tr(l).code()));
    let scheme = matches!(form.scheme.as_str(), "dark" | "light")
        .then_some(("yp_scheme", form.scheme.as_str()));
    for (name, value) in [lang, scheme].into_iter().flatten() {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{name}={value}; Path={}; Max-Age=31536000{extra}",
            crate::web::site::cookie_path()
        )) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `/ui/me`: the signed-in myApps user's name for the header (empty for the admin password).
pub async fn me(Extension(session): Extension<Session>, lang: Lang) -> Response {
    let Some(user) = session.user else {
        return (StatusCode::OK, "").into_response();
    };
    let name = if user.dn.is_empty() {
        &user.sip
    } else {
        &user.dn
    };
    let html = format!(
        "<span class=\"who\" id=\"signed-in-user\" title=\"{} {}\">{}</span>",
        Tr(lang).get("nav.signed_in_as"),
        escape(&user.sip),
        escape(name)
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape("<b>\"Jo\" & 'Do'</b>"),
            "&lt;b&gt;&quot;Jo&quot; &amp; &#39;Do&#39;&lt;/b&gt;"
        );
    }
}
