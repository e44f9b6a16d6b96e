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

/// Which MACs the history shows.
pub(super) enum MacFilter {
    All,
    One(Mac),
    /// Part of a MAC, in hex digits ("34:56" finds every MAC with 3456 in it).
    Part(String),
}

pub(super) async fn history_for(
    state: &AppState,
    macs: &MacFilter,
    command: Option<String>,
    offset: u32,
    limit: u32,
) -> Result<(Vec<HistoryRow>, Vec<PendingRow>, u64), ServiceError> {
    let store = state.service.store();
    let query = HistoryQuery {
        mac: match macs {
            MacFilter::One(mac) => Some(*mac),
            _ => None,
        },
        command,
        offset,
        limit,
    };
    let page = match macs {
        MacFilter::Part(part) => store.search_rps_history(part, &query).await?,
        _ => store.list_rps_history(&query).await?,
    };
    let pending = match macs {
        MacFilter::All => store.pending_rps_jobs(None, 100).await?,
        MacFilter::One(mac) => store.pending_rps_jobs(Some(*mac), 100).await?,
        MacFilter::Part(part) => store
            .pending_rps_jobs(None, 1000)
            .await?
            .into_iter()
            .filter(|j| j.mac.is_some_and(|m| m.to_string().contains(part.as_str())))
            .take(100)
            .collect(),
    };
    Ok((
        page.items
            .iter()
            .map(|h: &RpsHistoryEntry| HistoryRow::from(h))
            .collect(),
        pending.iter().map(PendingRow::from).collect(),
        page.total,
    ))
}

/// What was typed in the MAC filter: a whole MAC, part of one (hex digits with any of the usual
/// separators), or an error for anything else.
fn mac_filter(text: &str) -> Result<MacFilter, ()> {
    if text.is_empty() {
        return Ok(MacFilter::All);
    }
    if let Ok(mac) = Mac::parse(text) {
        return Ok(MacFilter::One(mac));
    }
    let part: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.' | ' '))
        .collect();
    if part.is_empty() || part.len() > 12 || !part.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(());
    }
    Ok(MacFilter::Part(part.to_ascii_lowercase()))
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
    let (macs, error) = match mac_filter(&mac_text) {
        Ok(f) => (f, None),
        Err(()) => (
            MacFilter::All,
            Some(format!(
                "{}: {}",
                t.field_label("mac"),
                t.get("rps.mac_part_invalid")
            )),
        ),
    };
    let (history, pending, total) = if error.is_some() {
        (Vec::new(), Vec::new(), 0)
    } else {
        match history_for(
            &state,
            &macs,
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
