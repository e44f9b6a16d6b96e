//! The Devices tab: the list, its rows and live fragments, adding, changing, removing a
//! device and sending its redirection again.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use std::collections::{HashMap, HashSet};

use prov_store::{Device, DeviceKeyset, DeviceSort, HistoryQuery};
use serde::Deserialize;
use yealink::Mac;

use super::common::{Message, blank_to_none, enc, error_fragment, hx_redirect, internal, notice};
use crate::admin::ui::session::Session;
use crate::admin::ui::view::{DeviceRow, RpsCell, mac_colons, mac_hex};
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::audit::ui_actor;
use prov_core::device_input::{DeviceInput, DevicePatch};
use prov_core::error::ServiceError;

/// Devices per page of the Devices tab.
const PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct ListParams {
    q: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    after: Option<String>,
    added: Option<String>,
    /// `not_redirected` or `never_fetched`; anything else shows every device.
    show: Option<String>,
}

/// The Devices list's filters beyond the search.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    All,
    /// RPS has not confirmed the phone's redirect (refused, waiting, off, never sent).
    NotRedirected,
    /// The phone never fetched its own file.
    NeverFetched,
}

impl Show {
    fn parse(s: Option<&str>) -> Show {
        match s {
            Some("not_redirected") => Show::NotRedirected,
            Some("never_fetched") => Show::NeverFetched,
            _ => Show::All,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Show::All => "",
            Show::NotRedirected => "not_redirected",
            Show::NeverFetched => "never_fetched",
        }
    }

    fn matches(self, d: &Device, rps: &RpsStates) -> bool {
        match self {
            Show::All => true,
            Show::NotRedirected => rps.cell(d.record.mac) != RpsCell::Redirected,
            Show::NeverFetched => d.status.provisioned_at.is_none(),
        }
    }
}

/// Every phone's RPS state, read in two queries for a whole page (never one per row): each
/// MAC's newest REDIRECT DEVICE answer, and the MACs with a command still queued.
pub(super) struct RpsStates {
    latest: HashMap<Mac, (String, String)>,
    queued: HashSet<Mac>,
}

impl RpsStates {
    pub(super) async fn load(state: &AppState) -> Result<RpsStates, ServiceError> {
        let store = state.service.store();
        let latest = store
            .latest_rps_redirects()
            .await?
            .into_iter()
            .filter_map(|e| Some((e.mac?, (e.outcome, e.answer))))
            .collect();
        let queued = store.queued_rps_macs().await?.into_iter().collect();
        Ok(RpsStates { latest, queued })
    }

    /// One phone's (its row, refreshed live when it fetches a file).
    pub(super) async fn of(state: &AppState, mac: Mac) -> Result<RpsStates, ServiceError> {
        let store = state.service.store();
        let newest = store
            .list_rps_history(&HistoryQuery {
                mac: Some(mac),
                command: Some("REDIRECT_DEVICE".into()),
                offset: 0,
                limit: 1,
            })
            .await?;
        let latest = newest
            .items
            .into_iter()
            .map(|e| (mac, (e.outcome, e.answer)))
            .collect();
        let queued = if store.pending_rps_jobs(Some(mac), 1).await?.is_empty() {
            HashSet::new()
        } else {
            HashSet::from([mac])
        };
        Ok(RpsStates { latest, queued })
    }

    pub(super) fn cell(&self, mac: Mac) -> RpsCell {
        if self.queued.contains(&mac) {
            return RpsCell::Waiting;
        }
        match self.latest.get(&mac) {
            None => RpsCell::NotSent,
            Some((outcome, answer)) => RpsCell::from_outcome(outcome, answer),
        }
    }
}

async fn listing(state: &AppState, p: &ListParams) -> Result<Listing, ServiceError> {
    let (sort, key) = match p.sort.as_deref() {
        Some("name") => (DeviceSort::Name, "name"),
        Some("last") => (DeviceSort::LastConfigRequest, "last"),
        _ => (DeviceSort::Mac, "mac"),
    };
    let descending = p.dir.as_deref() == Some("desc");
    let q = p.q.clone().unwrap_or_default();
    let show = Show::parse(p.show.as_deref());
    let after = p.after.as_deref().and_then(|m| Mac::parse(m).ok());
    let rps = RpsStates::load(state).await?;
    let keyset = |after: Option<Mac>, limit: u32| DeviceKeyset {
        search: blank_to_none(Some(q.clone())),
        sort,
        descending,
        after,
        limit,
    };
    // One more than a page tells whether there is a next page, without counting.
    let mut devices = if show == Show::All {
        state
            .service
            .list_devices_after(&keyset(after, PAGE + 1))
            .await?
    } else {
        scan(
            state,
            &keyset(after, SCAN),
            &rps,
            show,
            Some(PAGE as usize + 1),
        )
        .await?
        .0
    };
    // "12 of 1,600": counted only when the list is narrowed, by reading the matching devices
    // (the search already narrows what the store returns).
    let matched = if show == Show::All && q.trim().is_empty() {
        None
    } else {
        Some(scan(state, &keyset(None, SCAN), &rps, show, None).await?.1)
    };
    let more = devices.len() > PAGE as usize;
    devices.truncate(PAGE as usize);
    let dir = if descending { "desc" } else { "asc" };
    let next = match (more, devices.last()) {
        (true, Some(last)) => Some(format!(
            "q={}&sort={key}&dir={dir}&show={}&after={}",
            enc(&q),
            show.key(),
            mac_hex(last.record.mac)
        )),
        _ => None,
    };
    Ok(Listing {
        rows: devices
            .iter()
            .map(|d| {
                DeviceRow::new(d, state.service.pbx_config_state(d.record.mac))
                    .with_rps(rps.cell(d.record.mac))
            })
            .collect(),
        after: p.after.clone(),
        next,
        sort: key,
        dir,
        q,
        show: show.key(),
        matched,
    })
}

/// Devices read per store query while filtering.
const SCAN: u32 = 1000;

/// Reads the devices of `keyset` in its order, page by page, keeping those `show` matches:
/// the first `keep` of them (all when `None`) and how many match in all.
async fn scan(
    state: &AppState,
    keyset: &DeviceKeyset,
    rps: &RpsStates,
    show: Show,
    keep: Option<usize>,
) -> Result<(Vec<Device>, usize), ServiceError> {
    let mut kept = Vec::new();
    let mut count = 0;
    let mut after = keyset.after;
    loop {
        let page = state
            .service
            .list_devices_after(&DeviceKeyset {
                search: keyset.search.clone(),
                after,
                limit: SCAN,
                ..*keyset
            })
            .await?;
        let full = page.len() == SCAN as usize;
        after = page.last().map(|d| d.record.mac);
        for d in page {
            if show.matches(&d, rps) {
                count += 1;
                if keep.is_none_or(|k| kept.len() < k) {
                    kept.push(d);
                }
            }
        }
        if !full || keep.is_some_and(|k| kept.len() >= k) {
            return Ok((kept, count));
        }
    }
}

/// `1,600` / `1.600`.
fn grouped(t: Tr, n: usize) -> String {
    let digits = n.to_string();
    let sep = t.get("number.thousands");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// "(1,600)" or "(12 of 1,600)".
fn count_text(t: Tr, matched: Option<usize>, total: usize) -> String {
    match matched {
        None => format!("({})", grouped(t, total)),
        Some(m) => format!(
            "({})",
            t.get("devices.count_of")
                .replace("{n}", &grouped(t, m))
                .replace("{total}", &grouped(t, total))
        ),
    }
}

struct Listing {
    rows: Vec<DeviceRow>,
    after: Option<String>,
    next: Option<String>,
    sort: &'static str,
    dir: &'static str,
    q: String,
    show: &'static str,
    /// Devices matching the search and filter, when either is set.
    matched: Option<usize>,
}

#[derive(Template, WebTemplate)]
#[template(path = "devices.html")]
pub struct DevicesPage {
    t: Tr,
    csrf: String,
    tab: &'static str,
    total: usize,
    q: String,
    q_enc: String,
    sort: &'static str,
    dir: &'static str,
    flip_mac: &'static str,
    flip_name: &'static str,
    flip_last: &'static str,
    arrow_mac: &'static str,
    arrow_name: &'static str,
    arrow_last: &'static str,
    rows: Vec<DeviceRow>,
    after: Option<String>,
    next: Option<String>,
    added: Option<String>,
    show: &'static str,
    count: String,
    /// Only the rows fragment swaps the count in.
    oob_count: Option<String>,
}

pub async fn devices(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Query(p): Query<ListParams>,
) -> Response {
    let t = Tr(lang);
    let l = match listing(&state, &p).await {
        Ok(l) => l,
        Err(e) => return internal(t, e),
    };
    // A column header link flips the direction of the current order.
    let flip = |col: &str| -> &'static str {
        if l.sort == col && l.dir == "asc" {
            "desc"
        } else {
            "asc"
        }
    };
    let arrow = |col: &str| -> &'static str {
        match (l.sort == col, l.dir) {
            (true, "asc") => " ▲",
            (true, _) => " ▼",
            _ => "",
        }
    };
    let total = state.service.cache().len();
    DevicesPage {
        t,
        csrf: session.csrf,
        tab: "devices",
        total,
        count: count_text(t, l.matched, total),
        oob_count: None,
        show: l.show,
        q_enc: enc(&l.q),
        flip_mac: flip("mac"),
        flip_name: flip("name"),
        flip_last: flip("last"),
        arrow_mac: arrow("mac"),
        arrow_name: arrow("name"),
        arrow_last: arrow("last"),
        q: l.q,
        sort: l.sort,
        dir: l.dir,
        rows: l.rows,
        after: l.after,
        next: l.next,
        added: p.added.and_then(|m| Mac::parse(&m).ok()).map(mac_colons),
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "device_rows.html")]
pub struct RowsFragment {
    t: Tr,
    rows: Vec<DeviceRow>,
    after: Option<String>,
    next: Option<String>,
    /// The header's count, swapped in out of band (the search and filter change it).
    oob_count: Option<String>,
}

/// The table body for a search or the next page (htmx).
pub async fn device_rows(
    State(state): State<AppState>,
    lang: Lang,
    Query(p): Query<ListParams>,
) -> Response {
    let t = Tr(lang);
    match listing(&state, &p).await {
        Ok(l) => RowsFragment {
            t,
            oob_count: Some(count_text(t, l.matched, state.service.cache().len())),
            rows: l.rows,
            after: l.after,
            next: l.next,
        }
        .into_response(),
        Err(e) => internal(t, e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "device_row.html")]
pub struct RowFragment {
    t: Tr,
    row: DeviceRow,
}

/// One row, fetched again when the live feed says its phone just fetched a file.
pub async fn device_row(
    State(state): State<AppState>,
    lang: Lang,
    Path(mac): Path<String>,
) -> Response {
    let t = Tr(lang);
    let Ok(mac) = Mac::parse(&mac) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let rps = match RpsStates::of(&state, mac).await {
        Ok(r) => r,
        Err(e) => return internal(t, e),
    };
    match state.service.get_device(mac).await {
        Ok(d) => RowFragment {
            t,
            row: DeviceRow::new(&d, state.service.pbx_config_state(mac)).with_rps(rps.cell(mac)),
        }
        .into_response(),
        // Removed meanwhile: the row goes away.
        Err(ServiceError::NotFound(_)) => StatusCode::OK.into_response(),
        Err(e) => internal(t, e),
    }
}

#[derive(Deserialize)]
pub struct MacParam {
    #[serde(default)]
    mac: String,
}

/// Live MAC validation while typing: the same parser the service uses.
pub async fn check_mac(
    State(state): State<AppState>,
    lang: Lang,
    Query(p): Query<MacParam>,
) -> Response {
    let t = Tr(lang);
    if p.mac.trim().is_empty() {
        return StatusCode::OK.into_response();
    }
    match Mac::parse(&p.mac) {
        Ok(mac) if state.service.cache().by_mac(mac).is_some() => Message {
            ok: false,
            text: format!("{} {}", mac_colons(mac), t.get("mac.exists")),
            field: Some("mac"),
        }
        .into_response(),
        Ok(mac) => notice(format!("✓ {}", mac_colons(mac))),
        Err(e) => Message {
            ok: false,
            text: format!("{}: {e}", t.field_label("mac")),
            field: Some("mac"),
        }
        .into_response(),
    }
}

#[derive(Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    mac: String,
    #[serde(default)]
    sip_user: String,
    #[serde(default)]
    sip_password: String,
    #[serde(default)]
    registrar: String,
    name: Option<String>,
    display_name: Option<String>,
    auth_name: Option<String>,
    model: Option<String>,
    rotate_credentials: Option<String>,
}

pub async fn add_device(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Form(f): Form<DeviceForm>,
) -> Response {
    let t = Tr(lang);
    let input = DeviceInput {
        mac: f.mac,
        sip_user: f.sip_user,
        sip_password: f.sip_password,
        registrar: f.registrar,
        auth_name: blank_to_none(f.auth_name),
        display_name: blank_to_none(f.display_name),
        name: blank_to_none(f.name),
        model: blank_to_none(f.model),
        overrides: Default::default(),
    };
    match state.service.add_device(input, &ui_actor(&session)).await {
        Ok(record) => {
            let mac = mac_hex(record.mac);
            hx_redirect(&crate::web::site::path(&format!(
                "/ui/devices?q={mac}&added={mac}"
            )))
        }
        Err(e) => error_fragment(t, &e),
    }
}

pub async fn update_device(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Path(mac): Path<String>,
    Form(f): Form<DeviceForm>,
) -> Response {
    let t = Tr(lang);
    let Ok(mac) = Mac::parse(&mac) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let patch = DevicePatch {
        sip_user: Some(f.sip_user),
        // Blank keeps the stored password: it is never sent to the browser to be sent back.
        sip_password: blank_to_none(Some(f.sip_password)),
        registrar: Some(f.registrar),
        auth_name: Some(f.auth_name.unwrap_or_default()),
        display_name: Some(f.display_name.unwrap_or_default()),
        name: f.name,
        model: Some(f.model.unwrap_or_default()),
        overrides: None,
        rotate_credentials: f.rotate_credentials.is_some(),
    };
    match state
        .service
        .update_device(mac, patch, &ui_actor(&session))
        .await
    {
        Ok(_) => hx_redirect(&crate::web::site::path(&format!(
            "/ui/devices/{}",
            mac_hex(mac)
        ))),
        Err(e) => error_fragment(t, &e),
    }
}

pub async fn remove_device(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Path(mac): Path<String>,
) -> Response {
    let Ok(mac) = Mac::parse(&mac) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // The service deregisters the phone at RPS (queued).
    match state.service.remove_device(mac, &ui_actor(&session)).await {
        Ok(()) => hx_redirect(&crate::web::site::path("/ui/devices")),
        Err(e) => error_fragment(Tr(lang), &e),
    }
}

pub async fn resend_redirect(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Path(mac): Path<String>,
) -> Response {
    let t = Tr(lang);
    let Ok(mac) = Mac::parse(&mac) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state
        .service
        .resend_redirect(mac, &ui_actor(&session))
        .await
    {
        Ok(()) => notice(t.get("device.resent")),
        Err(e) => error_fragment(t, &e),
    }
}
