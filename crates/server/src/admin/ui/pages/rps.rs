//! The RPS history page.

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use prov_store::{HistoryQuery, RpsHistoryEntry};
use serde::Deserialize;
use yealink::Mac;

use super::common::{blank_to_none, enc, internal};
use crate::admin::ui::session::Session;
use crate::admin::ui::view::{HistoryRow, PendingRow};
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::error::ServiceError;

const HISTORY_PAGE: u32 = 50;
const COMMANDS: &[&str] = &[
    "ADD_SERVER",
    "DEREGISTER_DEVICE",
    "REDIRECT_DEVICE",
    "CHECK_DEVICE",
];

pub(super) async fn history_for(
    state: &AppState,
    mac: Option<Mac>,
    command: Option<String>,
    offset: u32,
    limit: u32,
) -> Result<(Vec<HistoryRow>, Vec<PendingRow>, u64), ServiceError> {
    let store = state.service.store();
    let page = store
        .list_rps_history(&HistoryQuery {
            mac,
            command,
            offset,
            limit,
        })
        .await?;
    let pending = store.pending_rps_jobs(mac, 100).await?;
    Ok((
        page.items
            .iter()
            .map(|h: &RpsHistoryEntry| HistoryRow::from(h))
            .collect(),
        pending.iter().map(PendingRow::from).collect(),
        page.total,
    ))
}

#[derive(Deserialize)]
pub struct HistoryParams {
    mac: Option<String>,
    command: Option<String>,
    #[serde(default)]
    offset: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "rps.html")]
pub struct RpsPage {
    t: Tr,
    csrf: String,
    tab: &'static str,
    mac: String,
    /// Each command and whether the filter selects it.
    commands: Vec<(&'static str, bool)>,
    error: Option<String>,
    /// RPS keeps an old URL for our server name (XML-RPC): what to do.
    stale: Option<String>,
    history: Vec<HistoryRow>,
    pending: Vec<PendingRow>,
    total: u64,
    prev: Option<String>,
    next: Option<String>,
}

pub async fn rps_history(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Query(p): Query<HistoryParams>,
) -> Response {
    let t = Tr(lang);
    let mac_text = p.mac.unwrap_or_default().trim().to_owned();
    let command = p.command.unwrap_or_default();
    let (mac, error) = if mac_text.is_empty() {
        (None, None)
    } else {
        match Mac::parse(&mac_text) {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(format!("{}: {e}", t.field_label("mac")))),
        }
    };
    let (history, pending, total) = if error.is_some() {
        (Vec::new(), Vec::new(), 0)
    } else {
        match history_for(
            &state,
            mac,
            blank_to_none(Some(command.clone())),
            p.offset,
            HISTORY_PAGE,
        )
        .await
        {
            Ok(x) => x,
            Err(e) => return internal(t, e),
        }
    };
    let link = |offset: u32| {
        format!(
            "mac={}&command={}&offset={offset}",
            enc(&mac_text),
            enc(&command)
        )
    };
    let stale = match state.service.rps().server_url_warning().await {
        Ok(w) => w,
        Err(e) => return internal(t, e),
    };
    let prev = (p.offset > 0).then(|| link(p.offset.saturating_sub(HISTORY_PAGE)));
    let next = (u64::from(p.offset) + u64::from(HISTORY_PAGE) < total)
        .then(|| link(p.offset + HISTORY_PAGE));
    RpsPage {
        t,
        csrf: session.csrf,
        tab: "rps",
        mac: mac_text,
        commands: COMMANDS.iter().map(|c| (*c, *c == command)).collect(),
        error,
        stale,
        history,
        pending,
        total,
        prev,
        next,
    }
    .into_response()
}
