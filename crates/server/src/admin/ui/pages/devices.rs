//! The Devices tab: the list, its rows and live fragments, adding, changing, removing a
//! device and sending its redirection again.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use prov_store::{DeviceKeyset, DeviceSort};
use serde::Deserialize;
use yealink::Mac;

use super::common::{Message, blank_to_none, enc, error_fragment, hx_redirect, internal, notice};
use crate::admin::ui::session::Session;
use crate::admin::ui::view::{DeviceRow, mac_colons, mac_hex};
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
