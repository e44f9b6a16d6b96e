//! The app page myApps loads for our App object (docs/innovaphone.md, "The admin app in
//! myApps"). myApps keeps the App object URL without `.htm` and loads `<URL>.htm` with `lang`,
//! `scheme` and `name` (the App object's SIP name) as query arguments (13r1-SDK
//! `doc/appwebsocket/myApps.htm` "App.url"; `web1/lib1/innovaphone.lib1.js` `start()`). The
//! page's script (`assets/myapps.js`) logs in on our AppWebsocket (the App object URL) and asks
//! for a UI session ([`ui_session`]); the UI itself is `/ui`, unchanged.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use innovaphone::LoginKind;
use serde::Deserialize;

use super::Innovaphone;
use crate::state::AppState;
use crate::ui::MyAppsUser;
use crate::ui::i18n::{Lang, Tr};

pub fn routes(path: &str, state: AppState) -> Router<AppState> {
    Router::new()
        .route(&format!("{path}.htm"), get(page))
        .layer(middleware::from_fn_with_state(
            state,
            crate::ui::headers::add,
        ))
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    lang: Option<String>,
    scheme: Option<String>,
    name: Option<String>,
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
}

async fn page(State(state): State<AppState>, Query(q): Query<PageQuery>, lang: Lang) -> Response {
    let Some(inn) = state.innovaphone.clone() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
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
    let origins = serde_json::to_string(&inn.frame_origins()).unwrap_or_else(|_| "[]".into());
    AppPage {
        t: Tr(lang),
        scheme,
        ws_path: inn.path.clone(),
        app,
        name,
        origins,
    }
    .into_response()
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
        tracing::warn!(app = %crate::log_safe::LogSafe(app), "UiSession refused: the login is for another app");
        return refuse("not this app");
    }
    let user = match (kind, user) {
        (LoginKind::User, Some(user)) => Some(user),
        (LoginKind::AppPassword, _) => None,
        _ => return refuse("this login does not open the admin UI"),
    };
    match crate::ui::session::create(inn.service.store().as_ref(), user).await {
        Ok(id) => {
            tracing::info!(user = %crate::log_safe::LogSafe(user.map_or("(App object password)", |u| u.sip.as_str())), "web UI session through myApps");
            serde_json::json!({"mt": "UiSessionResult", "token": id}).to_string()
        }
        Err(e) => {
            tracing::error!(error = %e, "UiSession: cannot store the session");
            refuse("cannot store the session")
        }
    }
}

/// Checks `innovaphone.frame_origins`: each `http(s)://host[:port]`, nothing after it.
pub fn parse_origins(list: &[String]) -> Result<Vec<String>, String> {
    list.iter()
        .map(|o| {
            let o = o.trim().trim_end_matches('/');
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .ok_or_else(|| format!("{o:?}: an origin starts with https:// (or http://)"))?;
            if !is_host_port(rest) {
                return Err(format!(
                    "{o:?}: an origin is scheme://host[:port], without path, query or spaces"
                ));
            }
            Ok(o.to_ascii_lowercase())
        })
        .collect()
}

/// A DNS name or IPv4 address with an optional port (what a CSP host-source can name).
fn is_host_port(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

impl Innovaphone {
    /// The App object URL's last segment (`innovaphone-yealink`).
    pub fn app_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// Origins allowed to frame the UI: `innovaphone.frame_origins`, and `https://<pbxDns>` of
    /// each PBX connected to this instance (PbxInfo's `pbxDns`: the name myApps is served under).
    pub fn frame_origins(&self) -> Vec<String> {
        let mut list = self.frame_origins.clone();
        for s in self.registry.sessions() {
            let dns = s.pbx_dns.trim().to_ascii_lowercase();
            if is_host_port(&dns) {
                let origin = format!("https://{dns}");
                if !list.contains(&origin) {
                    list.push(origin);
                }
            }
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        let ok = parse_origins(&[
            "https://PBX.example.com/".into(),
            "http://127.0.0.1:8080".into(),
        ]);
        assert_eq!(
            ok,
            Ok(vec![
                "https://pbx.example.com".to_owned(),
                "http://127.0.0.1:8080".to_owned()
            ])
        );
        for bad in [
            "pbx.example.com",
            "https://pbx.example.com/path",
            "https://pbx.example.com:port",
            "https://a b",
            "https://*",
            "javascript:alert(1)",
            "https://pbx; script-src *",
        ] {
            assert!(parse_origins(&[bad.into()]).is_err(), "{bad} accepted");
        }
    }
}
