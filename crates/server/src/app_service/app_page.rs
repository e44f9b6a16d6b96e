//! The app page myApps loads for our App object (docs/innovaphone.md, "The admin app in
//! myApps"). myApps keeps the App object URL without `.htm` and loads `<URL>.htm` with `lang`,
//! `scheme` and `name` (the App object's SIP name) as query arguments (13r1-SDK
//! `doc/appwebsocket/myApps.htm` "App.url"; `web1/lib1/innovaphone.lib1.js` `start()`). The
//! page's script (`assets/myapps.js`) logs in on our AppWebsocket (the App object URL) and asks
//! for a UI session ([`ui_session`]); the UI itself is `/ui`, unchanged.
//!
//! Beside it, `<URL>.png` is the tile myApps shows: "a 50x50px png file at the same place as
//! login.htm with the name login.png" (13r1-SDK `doc/tutorials/ExternalAppService.htm`).
//!
//! The page itself may be framed by any origin: it holds nothing but the sign-in, which only a
//! PBX origin can complete, and so it can tell an administrator whose myApps runs under an
//! origin we do not know what to configure, instead of a blank frame. `/ui` stays restricted
//! ([`crate::web::headers`]).

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use innovaphone::LoginKind;
use serde::Deserialize;

use super::Innovaphone;
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::auth::MyAppsUser;

/// The tile, light (our own drawing, `scripts/make-app-icon.py`).
const ICON_LIGHT: &[u8] = include_bytes!("../../assets/app-icon.png");
/// The tile for myApps' dark scheme.
const ICON_DARK: &[u8] = include_bytes!("../../assets/app-icon-dark.png");

pub fn routes(path: &str, inn: Arc<Innovaphone>, state: AppState) -> Router<AppState> {
    Router::new()
        .route(&format!("{path}.htm"), get(page))
        .layer(middleware::from_fn_with_state(
            state,
            crate::web::headers::add_frameable_anywhere,
        ))
        .route(&format!("{path}.png"), get(icon))
        .with_state(inn)
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    lang: Option<String>,
    scheme: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct IconQuery {
    scheme: Option<String>,
}

/// `<App object URL>.png`; `?scheme=dark` gives the dark variant.
async fn icon(Query(q): Query<IconQuery>) -> Response {
    let body = match q.scheme.as_deref() {
        Some("dark") => ICON_DARK,
        _ => ICON_LIGHT,
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "myapps.html")]
pub struct AppPage {
    pub t: Tr,
    /// `dark` or `light`.
    pub scheme: &'static str,
    /// The App object URL's path: the AppWebsocket the page logs in on.
    pub ws_path: String,
    /// The App object URL's last segment: `app` in the login (AppWebsocket.htm: "the name of
    /// the initially loaded HTML file (without the .htm file extension)").
    pub app: String,
    /// The App object's SIP name, for `getLogin` (myApps' `AppGetLogin.app`).
    pub name: String,
    /// JSON array of the origins whose posted messages the page accepts.
    pub origins: String,
    /// The framing origin (from the Referer) when it may not frame the UI: the page says so.
    pub refused_origin: String,
}

async fn page(
    State(inn): State<Arc<Innovaphone>>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    lang: Lang,
) -> Response {
    let lang = q.lang.as_deref().and_then(Lang::from_code).unwrap_or(lang);
    let scheme = match q.scheme.as_deref() {
        Some("dark") => "dark",
        _ => "light",
    };
    let app = inn.app_name().to_owned();
    let name = q
        .name
        .filter(|n| !n.is_empty() && n.len() <= 128)
        .unwrap_or_else(|| app.clone());
    let allowed = inn.frame_origins();
    let refused_origin = framing_origin(&headers)
        .filter(|o| !allowed.contains(o) && !is_own_origin(o, &headers))
        .inspect(|o| inn.note_refused_frame(o))
        .unwrap_or_default();
    let origins = serde_json::to_string(&allowed).unwrap_or_else(|_| "[]".into());
    AppPage {
        t: Tr(lang),
        scheme,
        ws_path: crate::web::site::path(&inn.path),
        app,
        name,
        origins,
        refused_origin,
    }
    .into_response()
}

/// The origin of the page that loads ours in a frame: browsers send it as the Referer of a
/// cross-origin frame navigation (the default policy `strict-origin-when-cross-origin`).
/// Only for frame loads (`Sec-Fetch-Dest: iframe` where the browser sends it).
fn framing_origin(headers: &HeaderMap) -> Option<String> {
    let dest = headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok());
    if dest.is_some_and(|d| d != "iframe" && d != "frame") {
        return None;
    }
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(super::frame_origins::origin_of)
}

/// Whether `origin` is the one this request was sent to (our own pages may frame us).
fn is_own_origin(origin: &str, headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    !host.is_empty()
        && origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host)
}

/// The answer to `UiSession` on a logged-in AppWebsocket: a UI session id for a myApps user
/// the PBX signed the login for, or for the App object password; nothing for anyone else.
pub async fn ui_session(
    inn: &Arc<Innovaphone>,
    app: &str,
    kind: &LoginKind,
    user: Option<&MyAppsUser>,
) -> String {
    let refuse = |why: &str| serde_json::json!({"mt": "UiSessionResult", "error": why}).to_string();
    // The digest covers `app`: a login signed for another App object's URL is not for us.
    if app != inn.app_name() {
        tracing::warn!(app = %prov_core::log_safe::LogSafe(app), "UiSession refused: the login is for another app");
        return refuse("not this app");
    }
    let user = match (kind, user) {
        (LoginKind::User, Some(user)) => Some(user),
        (LoginKind::AppPassword, _) => None,
        _ => return refuse("this login does not open the admin UI"),
    };
    match prov_core::auth::create(inn.service.store().as_ref(), user).await {
        Ok(id) => {
            tracing::info!(user = %prov_core::log_safe::LogSafe(user.map_or("(App object password)", |u| u.sip.as_str())), "web UI session through myApps");
            serde_json::json!({"mt": "UiSessionResult", "token": id}).to_string()
        }
        Err(e) => {
            tracing::error!(error = %e, "UiSession: cannot store the session");
            refuse("cannot store the session")
        }
    }
}

impl Innovaphone {
    /// The App object URL's last segment (`innovaphone-yealink`).
    pub fn app_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}
