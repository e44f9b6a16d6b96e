//! The settings page: the global settings form, firmware URLs, the innovaphone status.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use prov_store::{DeviceKeyset, DeviceSort};
use std::collections::HashMap;

use super::common::{error_fragment, internal, notice};
use crate::admin::ui::session::Session;
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::audit::ui_actor;
use prov_core::error::ServiceError;
use prov_core::settings::{RpsMode, Settings};

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
                use prov_core::settings::ReverseProxy;
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
    let trust = prov_core::doctor::https_factory_trust(
        settings.public_base_url.as_deref(),
        state.tls_cert.as_deref(),
    );
    if trust.level != prov_core::doctor::Level::Ok {
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
            prov_core::service::ServerNameSource::Setting => "setting",
            prov_core::service::ServerNameSource::PbxDomain => "pbx_domain",
            prov_core::service::ServerNameSource::UrlHost => "url_host",
            prov_core::service::ServerNameSource::ConfiguredDomain => "configured_domain",
            prov_core::service::ServerNameSource::AwaitingPbx => "awaiting_pbx",
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
