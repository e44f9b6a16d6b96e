//! The page and fragment handlers. Each one reads or changes state through the service layer
//! and renders a template; validation and business rules stay in the service.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use prov_store::{DeviceKeyset, DeviceSort, HistoryQuery, RpsHistoryEntry};
use serde::Deserialize;
use std::collections::HashMap;
use yealink::{Mac, PhoneFile};

use super::session::Session;
use super::view::{
    DeviceRow, HistoryRow, InnovaphonePanel, PbxUpdateLine, PendingRow, RequestRow,
    innovaphone_panel, mac_colons, mac_hex,
};
use crate::core::audit::ui_actor;
use crate::core::device_input::{DeviceInput, DevicePatch};
use crate::core::error::ServiceError;
use crate::core::import::{MAX_CSV, export_cell, parse_csv};
use crate::core::secret::MASK;
use crate::core::service::RowResult;
use crate::core::settings::{RpsMode, Settings};
use crate::core::views::DeviceView;
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;

/// Devices per page of the Devices tab.
const PAGE: u32 = 50;
const HISTORY_PAGE: u32 = 50;
const COMMANDS: &[&str] = &[
    "ADD_SERVER",
    "DEREGISTER_DEVICE",
    "REDIRECT_DEVICE",
    "CHECK_DEVICE",
];

pub async fn home() -> Redirect {
    Redirect::to("/ui/devices")
}

// ---- messages and errors --------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct Message {
    ok: bool,
    text: String,
    field: Option<&'static str>,
}

fn notice(text: impl Into<String>) -> Response {
    Message {
        ok: true,
        text: text.into(),
        field: None,
    }
    .into_response()
}

/// An error as a fragment. Status 200, so htmx swaps it in where the result belongs; the
/// message names the field (in the page's language) when there is one.
fn error_fragment(t: Tr, e: &ServiceError) -> Response {
    let (field, text) = match e {
        ServiceError::Invalid(fe) => (
            Some(fe.field),
            format!("{}: {}", t.field_label(fe.field), fe.message),
        ),
        ServiceError::Duplicate(_) | ServiceError::NotFound(_) | ServiceError::Rps(_) => {
            (None, e.to_string())
        }
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

fn hx_redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (
            StatusCode::OK,
            [(HeaderName::from_static("hx-redirect"), v)],
        )
            .into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

fn internal(t: Tr, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "web UI page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, t.get("error.internal")).into_response()
}

/// Percent-encodes a query value (everything but unreserved characters).
fn enc(s: &str) -> String {
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

fn blank_to_none(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

// ---- Devices tab ----------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct ListParams {
    q: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    after: Option<String>,
    added: Option<String>,
}

struct Listing {
    rows: Vec<DeviceRow>,
    after: Option<String>,
    next: Option<String>,
    sort: &'static str,
    dir: &'static str,
    q: String,
}

async fn listing(state: &AppState, p: &ListParams) -> Result<Listing, ServiceError> {
    let (sort, key) = match p.sort.as_deref() {
        Some("name") => (DeviceSort::Name, "name"),
        Some("last") => (DeviceSort::LastConfigRequest, "last"),
        _ => (DeviceSort::Mac, "mac"),
    };
    let descending = p.dir.as_deref() == Some("desc");
    let q = p.q.clone().unwrap_or_default();
    let after = p.after.as_deref().and_then(|m| Mac::parse(m).ok());
    // One more than a page tells whether there is a next page, without counting.
    let mut devices = state
        .service
        .list_devices_after(&DeviceKeyset {
            search: blank_to_none(Some(q.clone())),
            sort,
            descending,
            after,
            limit: PAGE + 1,
        })
        .await?;
    let more = devices.len() > PAGE as usize;
    devices.truncate(PAGE as usize);
    let dir = if descending { "desc" } else { "asc" };
    let next = match (more, devices.last()) {
        (true, Some(last)) => Some(format!(
            "q={}&sort={key}&dir={dir}&after={}",
            enc(&q),
            mac_hex(last.record.mac)
        )),
        _ => None,
    };
    Ok(Listing {
        rows: devices
            .iter()
            .map(|d| DeviceRow::new(d, state.service.pbx_config_state(d.record.mac)))
            .collect(),
        after: p.after.clone(),
        next,
        sort: key,
        dir,
        q,
    })
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
    DevicesPage {
        t,
        csrf: session.csrf,
        tab: "devices",
        total: state.service.cache().len(),
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
    match state.service.get_device(mac).await {
        Ok(d) => RowFragment {
            t,
            row: DeviceRow::new(&d, state.service.pbx_config_state(mac)),
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
            hx_redirect(&format!("/ui/devices?q={mac}&added={mac}"))
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
        Ok(_) => hx_redirect(&format!("/ui/devices/{}", mac_hex(mac))),
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
        Ok(()) => hx_redirect("/ui/devices"),
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

#[derive(Template, WebTemplate)]
#[template(path = "import_result.html")]
pub struct ImportResult {
    t: Tr,
    summary: String,
    rejected: usize,
    rows: Vec<RowResult>,
}

pub async fn import_devices(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    mut multipart: Multipart,
) -> Response {
    let t = Tr(lang);
    let bad = |text: String| {
        Message {
            ok: false,
            text,
            field: Some("file"),
        }
        .into_response()
    };
    let mut bytes = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => match field.bytes().await {
                Ok(b) if b.len() <= MAX_CSV => bytes = Some(b),
                Ok(_) => return bad(t.get("import.too_big").to_owned()),
                Err(e) => return bad(e.body_text()),
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return bad(e.body_text()),
        }
    }
    let Some(bytes) = bytes else {
        return bad(t.get("import.no_file").to_owned());
    };
    let rows = match parse_csv(&bytes) {
        Ok(rows) => rows,
        Err(e) => return bad(e.to_string()),
    };
    match state
        .service
        .import_devices(rows, &|_| {}, &ui_actor(&session))
        .await
    {
        Ok(rows) => {
            let rejected = rows.iter().filter(|r| r.error.is_some()).count();
            let summary = t
                .get("import.summary")
                .replace("{ok}", &(rows.len() - rejected).to_string())
                .replace("{bad}", &rejected.to_string());
            ImportResult {
                t,
                summary,
                rejected,
                rows,
            }
            .into_response()
        }
        Err(e) => error_fragment(t, &e),
    }
}

/// Every device as CSV in the import's columns, without secrets (the SIP password column is
/// absent: the browser never gets it; add it before importing the file elsewhere).
pub async fn export_devices(State(state): State<AppState>, lang: Lang) -> Response {
    let t = Tr(lang);
    let records = match state.service.store().all_device_records().await {
        Ok(r) => r,
        Err(e) => return internal(t, e),
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "mac",
        "name",
        "sip_user",
        "auth_name",
        "display_name",
        "registrar",
        "model",
    ];
    let mut result = out.write_record(header);
    for r in &records {
        if result.is_err() {
            break;
        }
        let mac = r.mac.to_string();
        result = out.write_record(
            [
                mac.as_str(),
                &r.name,
                &r.sip_user,
                r.auth_name.as_deref().unwrap_or(""),
                r.display_name.as_deref().unwrap_or(""),
                &r.registrar,
                r.model.as_deref().unwrap_or(""),
            ]
            .map(|v| export_cell(v).into_owned()),
        );
    }
    let body = match (result, out.into_inner()) {
        (Ok(()), Ok(body)) => body,
        (Err(e), _) => return internal(t, e),
        (_, Err(e)) => return internal(t, e.error()),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"devices.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

// ---- Device detail --------------------------------------------------------------------------

pub struct FileView {
    name: String,
    body: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "device.html")]
pub struct DevicePage {
    t: Tr,
    csrf: String,
    tab: &'static str,
    d: DeviceView,
    mac_hex: String,
    row: DeviceRow,
    files: Vec<FileView>,
    requests: Vec<RequestRow>,
    history: Vec<HistoryRow>,
    pending: Vec<PendingRow>,
    innovaphone: Option<InnovaphonePanel>,
    changes: Vec<super::changes::ChangeRow>,
}

pub async fn device_detail(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Path(mac): Path<String>,
) -> Response {
    let t = Tr(lang);
    let Ok(mac) = Mac::parse(&mac) else {
        return (StatusCode::NOT_FOUND, t.get("device.not_found")).into_response();
    };
    let service = &state.service;
    let device = match service.get_device(mac).await {
        Ok(d) => d,
        Err(ServiceError::NotFound(_)) => {
            return (StatusCode::NOT_FOUND, t.get("device.not_found")).into_response();
        }
        Err(e) => return internal(t, e),
    };
    // The files as the phone would get them now, secrets masked (and the URL secret too).
    let code = crate::core::service::common_code(
        &device.record,
        None,
        device.status.model_seen.as_deref(),
    );
    let mut wanted = vec![PhoneFile::MacBoot(mac)];
    if let Some(code) = code {
        wanted.push(PhoneFile::Common(code));
    }
    wanted.extend([PhoneFile::MacCfg(mac), PhoneFile::MacLocalCfg(mac)]);
    let mut files = Vec::new();
    for file in wanted {
        let body = match service.render_for_admin(&device, file).await {
            Ok(body) => body
                .map(|b| yealink::mask_secrets(&b).replace(device.record.url_token.as_str(), MASK)),
            Err(e) => Some(format!("{e}")),
        };
        files.push(FileView {
            name: file.file_name(),
            body,
        });
    }
    let store = service.store();
    let requests = match store.list_phone_requests(Some(mac), 50).await {
        Ok(r) => r.iter().map(RequestRow::from).collect(),
        Err(e) => return internal(t, e),
    };
    let (history, pending) = match history_for(&state, Some(mac), None, 0, 20).await {
        Ok((h, p, _)) => (h, p),
        Err(e) => return internal(t, e),
    };
    let changes = match super::changes::for_device(&state, mac, 20).await {
        Ok(c) => c,
        Err(e) => return internal(t, e),
    };
    let mut d = DeviceView::new(service, &device, false);
    d.sip_password = MASK.to_owned();
    let pbx_view = match &state.innovaphone {
        Some(inn) => match inn.view(mac).await {
            Ok(v) => v,
            Err(e) => return internal(t, e),
        },
        None => None,
    };
    DevicePage {
        t,
        csrf: session.csrf,
        tab: "devices",
        mac_hex: mac_hex(mac),
        row: DeviceRow::new(&device, service.pbx_config_state(mac)),
        innovaphone: innovaphone_panel(pbx_view.as_ref()),
        d,
        files,
        requests,
        history,
        pending,
        changes,
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "device_edit.html")]
pub struct EditPage {
    t: Tr,
    csrf: String,
    tab: &'static str,
    d: DeviceView,
    mac_hex: String,
    mac: String,
    model: String,
}

pub async fn edit_device(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Path(mac): Path<String>,
) -> Response {
    let t = Tr(lang);
    let Ok(mac) = Mac::parse(&mac) else {
        return (StatusCode::NOT_FOUND, t.get("device.not_found")).into_response();
    };
    match state.service.get_device(mac).await {
        Ok(device) => EditPage {
            t,
            csrf: session.csrf,
            tab: "devices",
            model: device.record.model.clone().unwrap_or_default(),
            d: DeviceView::new(&state.service, &device, false),
            mac_hex: mac_hex(mac),
            mac: mac_colons(mac),
        }
        .into_response(),
        Err(ServiceError::NotFound(_)) => {
            (StatusCode::NOT_FOUND, t.get("device.not_found")).into_response()
        }
        Err(e) => internal(t, e),
    }
}

// ---- RPS history ----------------------------------------------------------------------------

async fn history_for(
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

// ---- Settings -------------------------------------------------------------------------------

pub struct SettingsView {
    public_base_url: String,
    https: bool,
    update_interval_minutes: u32,
    ntp_servers: String,
    time_zone: String,
    media_relay: bool,
    /// (value, label key, selected) of each Reverse Proxy choice.
    reverse_proxy: Vec<(&'static str, &'static str, bool)>,
    ice: bool,
    backup_registrar: String,
    ca_certificate: String,
    /// (value, selected) of each choice.
    transports: Vec<(&'static str, bool)>,
    modes: Vec<(&'static str, bool)>,
    apis: Vec<(&'static str, bool)>,
    rps_endpoint: String,
    rps_username: String,
    rps_server_name: String,
    /// Whether a secret is stored; the secret itself never leaves the server.
    has_rps_secret: bool,
}

impl SettingsView {
    fn new(s: &Settings, has_rps_secret: bool) -> SettingsView {
        SettingsView {
            public_base_url: s.public_base_url.clone().unwrap_or_default(),
            https: s
                .public_base_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            update_interval_minutes: s.phone.update_interval_minutes,
            ntp_servers: s.phone.ntp_servers.join(", "),
            time_zone: s.phone.time_zone.clone(),
            media_relay: s.phone.media_relay,
            reverse_proxy: {
                use crate::core::settings::ReverseProxy;
                [ReverseProxy::Keep, ReverseProxy::On, ReverseProxy::Off]
                    .into_iter()
                    .map(|r| {
                        let label = match r {
                            ReverseProxy::Keep => "settings.reverse_proxy_keep",
                            ReverseProxy::On => "settings.reverse_proxy_on",
                            ReverseProxy::Off => "settings.reverse_proxy_off",
                        };
                        (r.as_str(), label, r == s.pbx_reverse_proxy)
                    })
                    .collect()
            },
            ice: s.phone.ice,
            backup_registrar: s.phone.backup_registrar.clone().unwrap_or_default(),
            ca_certificate: s.ca_certificate.clone().unwrap_or_default(),
            transports: {
                let current = s.phone.sip_transport.to_string().to_ascii_lowercase();
                ["udp", "tcp", "tls"]
                    .into_iter()
                    .map(|t| (t, t == current))
                    .collect()
            },
            modes: [
                ("standard", RpsMode::Standard),
                ("own", RpsMode::Own),
                ("off", RpsMode::Off),
            ]
            .into_iter()
            .map(|(name, mode)| (name, mode == s.rps_mode))
            .collect(),
            apis: [("xmlrpc", rps::RpsApi::Xmlrpc), ("json", rps::RpsApi::Json)]
                .into_iter()
                .map(|(name, api)| (name, api == s.rps_api))
                .collect(),
            rps_endpoint: s.rps_endpoint.clone().unwrap_or_default(),
            rps_username: s.rps_username.clone().unwrap_or_default(),
            rps_server_name: s.rps_server_name.clone().unwrap_or_default(),
            has_rps_secret,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    t: Tr,
    csrf: String,
    tab: &'static str,
    s: SettingsView,
    time_zones: Vec<String>,
    /// (code, name, selected).
    locations: Vec<(String, String, bool)>,
    /// The innovaphone side, when it is on.
    pbx: Option<PbxStatusView>,
    /// The RPS server name in use and where it comes from (`setting`, `pbx_domain`, `url_host`).
    server_name: String,
    server_name_source: &'static str,
    /// What would stop a factory-fresh phone (HTTPS trust, a stale RPS server URL).
    warnings: Vec<String>,
    /// One row per model with a firmware URL or seen among the devices.
    firmware: Vec<FirmwareRow>,
}

/// A model's firmware URL, beside the firmware versions its phones report.
pub struct FirmwareRow {
    model: String,
    url: String,
    /// "108.86.0.90 (3), 108.87.0.10 (1)".
    reported: String,
}

/// Devices scanned for reported firmware; the page stays quick with very many devices (the
/// Devices tab shows every phone's firmware).
const FIRMWARE_SCAN_LIMIT: usize = 5_000;

/// Firmware URL rows: models with a URL, plus models phones reported, with the versions they
/// report (first [`FIRMWARE_SCAN_LIMIT`] devices by MAC).
async fn firmware_rows(
    state: &AppState,
    settings: &Settings,
) -> Result<Vec<FirmwareRow>, ServiceError> {
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut after = None;
    let mut scanned = 0;
    while scanned < FIRMWARE_SCAN_LIMIT {
        let page = state
            .service
            .list_devices_after(&DeviceKeyset {
                search: None,
                sort: DeviceSort::Mac,
                descending: false,
                after,
                limit: 1000,
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.record.mac);
        scanned += page.len();
        for d in &page {
            let model = d.status.model_seen.as_deref().or(d.record.model.as_deref());
            if let Some(info) = model.and_then(yealink::model_info) {
                let versions = seen.entry(info.name.to_string()).or_default();
                if let Some(fw) = d.status.firmware_seen.clone() {
                    *versions.entry(fw).or_default() += 1;
                }
            }
        }
        if page.len() < 1000 {
            break;
        }
    }
    for model in settings.firmware_urls.keys() {
        seen.entry(model.clone()).or_default();
    }
    Ok(seen
        .into_iter()
        .map(|(model, versions)| FirmwareRow {
            url: settings
                .firmware_urls
                .get(&model)
                .cloned()
                .unwrap_or_default(),
            reported: versions
                .iter()
                .map(|(fw, n)| format!("{fw} ({n})"))
                .collect::<Vec<_>>()
                .join(", "),
            model,
        })
        .collect())
}

/// What the settings page shows of the innovaphone connection.
pub struct PbxStatusView {
    /// "master (example.com, pbx.example.com): PbxAdminApi, Services" per connected PBX.
    sessions: Vec<String>,
    devices_url: String,
    app_url: String,
}

fn pbx_status(state: &AppState) -> Option<PbxStatusView> {
    let inn = state.innovaphone.as_ref()?;
    Some(PbxStatusView {
        sessions: inn
            .sessions()
            .iter()
            .map(|s| {
                format!(
                    "{} ({}, {}): {}",
                    s.pbx,
                    s.domain,
                    s.pbx_dns,
                    s.apis.join(", ")
                )
            })
            .collect(),
        devices_url: inn.devices_url().unwrap_or_default(),
        app_url: state.service.learned_app_url().unwrap_or_default(),
    })
}

pub async fn settings(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
) -> Response {
    let t = Tr(lang);
    let has_secret = match state.service.rps().has_own_secret().await {
        Ok(h) => h,
        Err(e) => return internal(t, e),
    };
    let settings = state.service.settings();
    let server = state.service.rps_server();
    let mut warnings = Vec::new();
    let trust = crate::core::doctor::https_factory_trust(
        settings.public_base_url.as_deref(),
        state.tls_cert.as_deref(),
    );
    if trust.level != crate::core::doctor::Level::Ok {
        warnings.push(trust.text);
    }
    match state.service.rps().server_url_warning().await {
        Ok(Some(w)) => warnings.push(w),
        Ok(None) => {}
        Err(e) => return internal(t, e),
    }
    let firmware = match firmware_rows(&state, &settings).await {
        Ok(rows) => rows,
        Err(e) => return internal(t, e),
    };
    SettingsPage {
        t,
        csrf: session.csrf,
        tab: "settings",
        s: SettingsView::new(&settings, has_secret),
        time_zones: yealink::iana_time_zone_names(),
        locations: yealink::locations()
            .iter()
            .map(|l| {
                let code = l.code.to_string();
                let selected = code == settings.phone.location;
                (code, l.name.to_string(), selected)
            })
            .collect(),
        pbx: pbx_status(&state),
        server_name: server.name,
        server_name_source: match server.source {
            crate::core::service::ServerNameSource::Setting => "setting",
            crate::core::service::ServerNameSource::PbxDomain => "pbx_domain",
            crate::core::service::ServerNameSource::UrlHost => "url_host",
            crate::core::service::ServerNameSource::ConfiguredDomain => "configured_domain",
            crate::core::service::ServerNameSource::AwaitingPbx => "awaiting_pbx",
        },
        warnings,
        firmware,
    }
    .into_response()
}

/// Form fields in the order they are applied (`provisioning_scheme` rewrites the base URL).
const SETTINGS_FIELDS: &[&str] = &[
    "public_base_url",
    "provisioning_scheme",
    "update_interval_minutes",
    "ntp_servers",
    "time_zone",
    "location",
    "media_relay",
    "ice",
    "backup_registrar",
    "ca_certificate",
    "pbx_reverse_proxy",
    "sip_transport",
    "rps_mode",
    "rps_api",
    "rps_endpoint",
    "rps_username",
    "rps_server_name",
];

pub async fn save_settings(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Form(mut form): Form<HashMap<String, String>>,
) -> Response {
    let t = Tr(lang);
    let mut settings = state.service.settings().as_ref().clone();
    // An unticked checkbox is simply absent from the form.
    let relay = if form.contains_key("media_relay") {
        "true"
    } else {
        "false"
    };
    form.insert("media_relay".into(), relay.into());
    let ice = if form.contains_key("ice") {
        "true"
    } else {
        "false"
    };
    form.insert("ice".into(), ice.into());
    // One `firmware_url.<MODEL>` field per row of the firmware table.
    for (key, value) in form.iter().filter(|(k, _)| k.starts_with("firmware_url.")) {
        if let Err(e) = settings.set_from_text(key, value) {
            return error_fragment(t, &ServiceError::Invalid(e));
        }
    }
    for key in SETTINGS_FIELDS {
        let Some(value) = form.get(*key) else {
            continue;
        };
        if *key == "provisioning_scheme" && settings.public_base_url.is_none() {
            continue;
        }
        if let Err(e) = settings.set_from_text(key, value) {
            return error_fragment(t, &ServiceError::Invalid(e));
        }
    }
    let secret = form
        .get("rps_secret")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    if let Some(secret) = secret
        && let Err(e) = state.service.rps().set_own_secret(secret).await
    {
        return error_fragment(t, &e);
    }
    let actor = ui_actor(&session);
    match state
        .service
        .update_settings(settings, &actor, secret.is_some())
        .await
    {
        Ok(_) => notice(t.get("settings.saved")),
        Err(e) => error_fragment(t, &e),
    }
}
