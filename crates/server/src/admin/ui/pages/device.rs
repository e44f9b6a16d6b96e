//! A device's detail page and its edit form.

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use yealink::{Mac, PhoneFile};

use super::common::internal;
use super::rps::{MacFilter, history_for};
use crate::admin::ui::session::Session;
use crate::admin::ui::view::{
    DeviceRow, HistoryRow, InnovaphonePanel, PbxUpdateLine, PendingRow, RequestRow,
    innovaphone_panel, mac_colons, mac_hex,
};
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::error::ServiceError;
use prov_core::secret::MASK;
use prov_core::views::DeviceView;

/// The phone's own provisioning URL, secret and all: shown only when "Reveal" is clicked (a
/// POST, so no link, prefetch or cache reveals it), to give the phone by DHCP option 66 or in
/// its web UI when RPS is not used.
#[derive(Template, WebTemplate)]
#[template(path = "device_url.html")]
pub struct RevealedUrl {
    t: Tr,
    url: String,
}

pub async fn reveal_url(
    State(state): State<AppState>,
    lang: Lang,
    Path(mac): Path<String>,
) -> Response {
    let t = Tr(lang);
    let Ok(mac) = Mac::parse(&mac) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state.service.get_device(mac).await {
        Ok(device) => (
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            RevealedUrl {
                t,
                url: state.service.provisioning_url(&device.record),
            },
        )
            .into_response(),
        Err(ServiceError::NotFound(_)) => {
            (StatusCode::NOT_FOUND, t.get("device.not_found")).into_response()
        }
        Err(e) => internal(t, e),
    }
}

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
    changes: Vec<crate::admin::ui::changes::ChangeRow>,
    model_firmware: String,
}

impl DevicePage {
    /// "–" for a field with nothing in it, so an empty line does not read as a broken page.
    fn dash<'a>(&self, value: &'a str) -> &'a str {
        if value.trim().is_empty() {
            "–"
        } else {
            value
        }
    }
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
    let code =
        prov_core::service::common_code(&device.record, None, device.status.model_seen.as_deref());
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
    let (history, pending) = match history_for(&state, &MacFilter::One(mac), None, 0, 20).await {
        Ok((h, p, _)) => (h, p),
        Err(e) => return internal(t, e),
    };
    let changes = match crate::admin::ui::changes::for_device(&state, mac, 20).await {
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
    let row = DeviceRow::new(&device, service.pbx_config_state(mac));
    DevicePage {
        t,
        csrf: session.csrf,
        tab: "devices",
        mac_hex: mac_hex(mac),
        model_firmware: format!("{} {}", row.model, row.firmware).trim().to_owned(),
        row,
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
