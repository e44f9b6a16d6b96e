//! The "Changes" view (`/ui/changes`) and the rows the device page shows: who changed what,
//! read from the audit (`prov_core::audit`). Names only, never values.

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use prov_store::{ChangeEntry, ChangeQuery};
use serde::Deserialize;
use yealink::Mac;

use super::session::Session;
use super::view::{fmt_time, mac_colons, mac_hex};
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::audit::ChangeView;
use prov_core::error::ServiceError;

const PAGE: u32 = 50;

/// One audit entry, ready for the templates.
pub struct ChangeRow {
    pub at: String,
    /// `changes.actor.<kind>` label key.
    pub actor_key: String,
    pub actor_kind: String,
    /// Who, where the kind alone does not say it (myApps user, innovaphone side).
    pub actor_name: Option<String>,
    /// The PBX user an innovaphone change was for ("user" is translated by the template).
    pub actor_user: Option<String>,
    /// `changes.action.<action>` label key.
    pub action_key: String,
    pub mac: String,
    pub mac_hex: String,
    pub summary: String,
}

impl From<&ChangeEntry> for ChangeRow {
    fn from(e: &ChangeEntry) -> Self {
        let v = ChangeView::from(e);
        let named = matches!(v.actor_kind.as_str(), "my_apps" | "innovaphone" | "unknown");
        // The innovaphone side's name in parts, so that "user" reads in the page's language.
        let (actor_name, actor_user) = match prov_core::audit::Actor::from_stored(&e.actor) {
            Ok(prov_core::audit::Actor::Innovaphone { service, user }) => {
                (Some(format!("innovaphone {service}")), user)
            }
            _ => (named.then_some(v.actor_name), None),
        };
        ChangeRow {
            at: fmt_time(v.at),
            actor_key: format!("changes.actor.{}", v.actor_kind),
            actor_kind: v.actor_kind,
            actor_name,
            actor_user,
            action_key: format!("changes.action.{}", v.action),
            mac: v.mac.map(mac_colons).unwrap_or_default(),
            mac_hex: v.mac.map(mac_hex).unwrap_or_default(),
            summary: v.summary,
        }
    }
}

/// The newest `limit` changes of a device (device page).
pub async fn for_device(
    state: &AppState,
    mac: Mac,
    limit: u32,
) -> Result<Vec<ChangeRow>, ServiceError> {
    let page = state
        .service
        .list_changes(&ChangeQuery {
            mac: Some(mac),
            offset: 0,
            limit,
        })
        .await?;
    Ok(page.items.iter().map(ChangeRow::from).collect())
}

#[derive(Deserialize)]
pub struct ChangeParams {
    mac: Option<String>,
    #[serde(default)]
    offset: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "changes.html")]
pub struct ChangesPage {
    t: Tr,
    csrf: String,
    tab: &'static str,
    mac: String,
    error: Option<String>,
    changes: Vec<ChangeRow>,
    total: u64,
    prev: Option<String>,
    next: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Query(p): Query<ChangeParams>,
) -> Response {
    let t = Tr(lang);
    let mac_text = p.mac.unwrap_or_default().trim().to_owned();
    let (mac, error) = if mac_text.is_empty() {
        (None, None)
    } else {
        match Mac::parse(&mac_text) {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(format!("{}: {e}", t.field_label("mac")))),
        }
    };
    let (changes, total) = if error.is_some() {
        (Vec::new(), 0)
    } else {
        let q = ChangeQuery {
            mac,
            offset: p.offset,
            limit: PAGE,
        };
        match state.service.list_changes(&q).await {
            Ok(page) => (page.items.iter().map(ChangeRow::from).collect(), page.total),
            Err(e) => {
                tracing::error!(error = %e, "cannot list the changes");
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    t.get("error.internal"),
                )
                    .into_response();
            }
        }
    };
    let link = |offset: u32| {
        let mac: String = mac_text
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        format!("mac={mac}&offset={offset}")
    };
    let prev = (p.offset > 0).then(|| link(p.offset.saturating_sub(PAGE)));
    let next = (u64::from(p.offset) + u64::from(PAGE) < total).then(|| link(p.offset + PAGE));
    ChangesPage {
        t,
        csrf: session.csrf,
        tab: "changes",
        mac: mac_text,
        error,
        changes,
        total,
        prev,
        next,
    }
    .into_response()
}
