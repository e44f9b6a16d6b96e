//! Sign-in and sign-out, the session cookie and the check every UI request passes; the
//! sessions themselves are stored by [`prov_core::auth`].
//!
//! Sessions are server-side and kept in the database (table `ui_sessions`), so every instance
//! behind one address accepts every session: the cookie holds only a random 256-bit id, the
//! table only its SHA-256 with the session's CSRF token, user and last use. Signing out or
//! expiry removes the row, so a copied cookie is useless afterwards. See `docs/ui.md`.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::web::i18n::{Lang, Tr};
use crate::web::request::OverTls;
pub use crate::web::request::cookie_value;
use crate::web::state::AppState;
use prov_core::admin_auth::AdminCheck;
pub use prov_core::auth::{Session, idle_secs, is_live};
use prov_core::auth::{create, end, touch};

pub const COOKIE: &str = "yp_session";

fn over_tls(request_ext: Option<&OverTls>) -> bool {
    request_ext.is_some_and(|t| t.0)
}

pub fn session_cookie(value: &str, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let path = crate::web::site::cookie_path();
    let mut cookie = format!("{COOKIE}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if secure {
        cookie.push_str("; Secure");
    }
    push_max_age(&mut cookie, max_age);
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The cookie of a session signed in inside myApps' frame (a cross-site frame): a CHIPS
/// partitioned cookie, kept only under myApps' top-level site, and sent in that frame even
/// where third-party cookies are blocked (decision 57 in docs/decisions.md). `SameSite=None`
/// and `Partitioned` require `Secure` (browsers accept it on `http://localhost` only).
pub fn framed_session_cookie(value: &str, max_age: Option<u64>) -> HeaderValue {
    let mut cookie = format!(
        "{COOKIE}={value}; Path={}; HttpOnly; Secure; SameSite=None; Partitioned",
        crate::web::site::cookie_path()
    );
    push_max_age(&mut cookie, max_age);
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn push_max_age(cookie: &mut String, max_age: Option<u64>) {
    match max_age {
        Some(age) => cookie.push_str(&format!("; Max-Age={age}")),
        None => cookie.push_str("; Max-Age=0"),
    }
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// Lets signed-in requests through (with their [`Session`]); sends the others to sign in.
pub async fn require(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let id = cookie_value(request.headers(), COOKIE);
    let live = match &id {
        Some(id) => touch(state.service.store().as_ref(), id).await,
        None => Ok(None),
    };
    let live = match live {
        Ok(live) => live,
        Err(e) => {
            tracing::error!(error = %e, "web UI: cannot read the session");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot read the session; try again\n",
            )
                .into_response();
        }
    };
    let (Some(id), Some((csrf, user))) = (id, live) else {
        if is_htmx(request.headers()) {
            // htmx follows HX-Redirect with a full page load.
            return (
                StatusCode::UNAUTHORIZED,
                [("hx-redirect", crate::web::site::header("/ui/login"))],
                "sign in first\n",
            )
                .into_response();
        }
        return Redirect::to(&crate::web::site::path("/ui/login")).into_response();
    };
    let secure = over_tls(request.extensions().get::<OverTls>());
    request.extensions_mut().insert(Session {
        id,
        csrf,
        secure,
        user,
    });
    next.run(request).await
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub t: Tr,
    pub error: Option<String>,
}

pub async fn login_page(State(state): State<AppState>, lang: Lang, headers: HeaderMap) -> Response {
    if let Some(id) = cookie_value(&headers, COOKIE)
        && is_live(state.service.store().as_ref(), &id).await
    {
        return Redirect::to(&crate::web::site::path("/ui/devices")).into_response();
    }
    LoginPage {
        t: Tr(lang),
        error: None,
    }
    .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    password: String,
}

/// The sign-in form must come from our own pages: a cross-site form could otherwise sign the
/// browser into an attacker's session (login CSRF). Browsers send `Origin` on POST.
///
/// Our authority is the `Host` header, or over HTTP/2 (browsers speak it on the HTTPS listener)
/// the request URI's authority, since HTTP/2 has `:authority` instead of `Host`. On the TLS
/// listener the Origin must be `https`: an `http` page of the same host (anyone on the path can
/// write one) may not post a sign-in to it. On the plain listener both schemes pass, as a
/// reverse proxy may terminate TLS in front of it.
pub fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri, over_tls: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let scheme_ok = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => !over_tls,
        _ => false,
    };
    scheme_ok && !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    tls: Option<Extension<OverTls>>,
    lang: Lang,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = Tr(lang);
    let page = |status: StatusCode, key: &str| {
        (
            status,
            LoginPage {
                t,
                error: Some(t.get(key).to_owned()),
            },
        )
            .into_response()
    };
    if !same_origin(&headers, &uri, tls.as_ref().is_some_and(|Extension(t)| t.0)) {
        return page(StatusCode::FORBIDDEN, "login.cross_site");
    }
    let ip = peer.ip();
    // The same per-address budget of wrong passwords as the API's (one admin credential).
    match state.admin.check(ip, &form.password).await {
        Ok(AdminCheck::Ok) => {}
        Ok(AdminCheck::Wrong) => {
            metrics::counter!("admin_auth_failures_total").increment(1);
            tracing::warn!(%ip, "web UI sign-in: wrong password");
            return page(StatusCode::UNAUTHORIZED, "login.wrong_password");
        }
        Ok(AdminCheck::Limited(wait)) => {
            metrics::counter!("admin_auth_failures_total").increment(1);
            let mut response = page(StatusCode::TOO_MANY_REQUESTS, "login.rate_limited");
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            return response;
        }
        Ok(AdminCheck::Busy) => {
            let mut response = page(StatusCode::SERVICE_UNAVAILABLE, "login.busy");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        Err(e) => {
            tracing::error!(error = %e, "web UI sign-in: cannot check the password");
            return page(StatusCode::INTERNAL_SERVER_ERROR, "error.internal");
        }
    }
    let id = match create(state.service.store().as_ref(), None).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "web UI sign-in: cannot store the session");
            return page(StatusCode::SERVICE_UNAVAILABLE, "error.internal");
        }
    };
    let secure = tls.is_some_and(|Extension(t)| t.0);
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                session_cookie(&id, secure, Some(idle_secs())),
            ),
            (header::LOCATION, crate::web::site::header("/ui/devices")),
        ],
    )
        .into_response()
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    if let Err(e) = end(state.service.store().as_ref(), &session.id).await {
        tracing::error!(error = %e, "web UI sign-out: cannot remove the session");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot sign out; try again\n",
        )
            .into_response();
    }
    // Both cookie variants are cleared: a partitioned cookie is only replaced by a partitioned one.
    let mut response = (
        StatusCode::OK,
        [(
            header::HeaderName::from_static("hx-redirect"),
            crate::web::site::header("/ui/login"),
        )],
    )
        .into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session_cookie("", session.secure, None));
    headers.append(header::SET_COOKIE, framed_session_cookie("", None));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, axum::http::HeaderValue::from_static(v));
        }
        h
    }

    /// HTTP/1.1 carries `Host`; HTTP/2 (browsers on the HTTPS listener) the URI's authority.
    #[test]
    fn same_origin_reads_host_or_the_http2_authority_and_the_scheme() {
        let path: axum::http::Uri = "/ui/login".parse().expect("uri");
        let h2: axum::http::Uri = "https://prov.example.com:8443/ui/login"
            .parse()
            .expect("uri");
        let h1 = headers(&[
            ("origin", "http://prov.example.com:8080"),
            ("host", "prov.example.com:8080"),
        ]);
        assert!(same_origin(&h1, &path, false));
        // HTTP/2: no Host header at all.
        let from_ours = headers(&[("origin", "https://prov.example.com:8443")]);
        assert!(same_origin(&from_ours, &h2, true));
        let from_other = headers(&[("origin", "https://evil.example")]);
        assert!(!same_origin(&from_other, &h2, true));
        // An http page of our host may not post to the TLS listener.
        let downgraded = headers(&[("origin", "http://prov.example.com:8443")]);
        assert!(!same_origin(&downgraded, &h2, true));
        // Behind a TLS-terminating proxy the plain listener sees https origins.
        let proxied = headers(&[
            ("origin", "https://prov.example.com"),
            ("host", "prov.example.com"),
        ]);
        assert!(same_origin(&proxied, &path, false));
        // No authority known at all: refused; no Origin (not a browser form): allowed.
        assert!(!same_origin(&from_ours, &path, true));
        assert!(same_origin(&HeaderMap::new(), &path, true));
        assert!(!same_origin(&headers(&[("origin", "null")]), &h2, true));
    }

    #[test]
    fn framed_cookie_is_partitioned() {
        let c = framed_session_cookie("abc", Some(60));
        let c = c.to_str().unwrap_or_default();
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=None",
            "Partitioned",
            "Path=/ui",
        ] {
            assert!(c.contains(part), "{part} missing in {c}");
        }
    }

    #[test]
    fn cookie_attributes() {
        let c = session_cookie("abc", true, Some(60));
        let c = c.to_str().unwrap_or_default();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; yp_session=xyz"),
        );
        assert_eq!(cookie_value(&h, COOKIE).as_deref(), Some("xyz"));
    }
}
