//! Sign-in, sessions and the sign-in rate limit.
//!
//! Sessions are server-side: the cookie holds only a random 256-bit id; the table (in memory)
//! maps it to the session's CSRF token and expiry. Signing out or expiry removes the entry, so
//! a copied cookie is useless afterwards. A restart signs everybody out (the admin signs in
//! again); several instances behind one address need sticky sessions. See `docs/ui.md`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use parking_lot::Mutex;
use serde::Deserialize;

use super::i18n::{Lang, Tr};
use crate::admin_auth::AdminCheck;
use crate::phone_http::OverTls;
use crate::secret::random_token;
use crate::state::AppState;

pub const COOKIE: &str = "yp_session";
/// A session unused this long ends.
const IDLE: Duration = Duration::from_secs(8 * 3600);
/// Bounds the table if someone signs in over and over without signing out.
const MAX_SESSIONS: usize = 1_000;

/// What a signed-in request carries (in its extensions).
#[derive(Clone)]
pub struct Session {
    pub id: String,
    pub csrf: String,
    /// Whether the cookie must be `Secure` (the request came over TLS).
    pub secure: bool,
}

struct Entry {
    csrf: String,
    last_used: Instant,
}

#[derive(Default)]
pub struct UiState {
    sessions: Mutex<HashMap<String, Entry>>,
}

impl UiState {
    fn create(&self) -> (String, String) {
        let id = random_token(43);
        let csrf = random_token(32);
        let mut sessions = self.sessions.lock();
        let now = Instant::now();
        sessions.retain(|_, e| now.duration_since(e.last_used) < IDLE);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Entry {
                csrf: csrf.clone(),
                last_used: now,
            },
        );
        (id, csrf)
    }

    fn touch(&self, id: &str) -> Option<String> {
        let mut sessions = self.sessions.lock();
        let now = Instant::now();
        let entry = sessions.get_mut(id)?;
        if now.duration_since(entry.last_used) >= IDLE {
            sessions.remove(id);
            return None;
        }
        entry.last_used = now;
        Some(entry.csrf.clone())
    }

    fn end(&self, id: &str) {
        self.sessions.lock().remove(id);
    }
}

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

fn over_tls(request_ext: Option<&OverTls>) -> bool {
    request_ext.is_some_and(|t| t.0)
}

fn session_cookie(value: &str, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let mut cookie = format!("{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict");
    if secure {
        cookie.push_str("; Secure");
    }
    match max_age {
        Some(age) => cookie.push_str(&format!("; Max-Age={age}")),
        None => cookie.push_str("; Max-Age=0"),
    }
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// Lets signed-in requests through (with their [`Session`]); sends the others to sign in.
pub async fn require(
    State(_state): State<AppState>,
    Extension(ui): Extension<Arc<UiState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = cookie_value(request.headers(), COOKIE);
    let csrf = id.as_deref().and_then(|id| ui.touch(id));
    let (Some(id), Some(csrf)) = (id, csrf) else {
        if is_htmx(request.headers()) {
            // htmx follows HX-Redirect with a full page load.
            return (
                StatusCode::UNAUTHORIZED,
                [("hx-redirect", "/ui/login")],
                "sign in first\n",
            )
                .into_response();
        }
        return Redirect::to("/ui/login").into_response();
    };
    let secure = over_tls(request.extensions().get::<OverTls>());
    request
        .extensions_mut()
        .insert(Session { id, csrf, secure });
    next.run(request).await
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub t: Tr,
    pub error: Option<String>,
}

pub async fn login_page(
    Extension(ui): Extension<Arc<UiState>>,
    lang: Lang,
    headers: HeaderMap,
) -> Response {
    if cookie_value(&headers, COOKIE).is_some_and(|id| ui.touch(&id).is_some()) {
        return Redirect::to("/ui/devices").into_response();
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
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

pub async fn login(
    State(state): State<AppState>,
    Extension(ui): Extension<Arc<UiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    tls: Option<Extension<OverTls>>,
    lang: Lang,
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
    if !same_origin(&headers) {
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
    let (id, _csrf) = ui.create();
    let secure = tls.is_some_and(|Extension(t)| t.0);
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                session_cookie(&id, secure, Some(IDLE.as_secs())),
            ),
            (header::LOCATION, HeaderValue::from_static("/ui/devices")),
        ],
    )
        .into_response()
}

pub async fn logout(
    Extension(ui): Extension<Arc<UiState>>,
    Extension(session): Extension<Session>,
) -> Response {
    ui.end(&session.id);
    (
        StatusCode::OK,
        [
            (header::SET_COOKIE, session_cookie("", session.secure, None)),
            (
                header::HeaderName::from_static("hx-redirect"),
                HeaderValue::from_static("/ui/login"),
            ),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_on_sign_out() {
        let ui = UiState::default();
        let (id, csrf) = ui.create();
        assert_eq!(ui.touch(&id), Some(csrf));
        ui.end(&id);
        assert_eq!(ui.touch(&id), None);
        assert_eq!(ui.touch("made-up"), None);
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
