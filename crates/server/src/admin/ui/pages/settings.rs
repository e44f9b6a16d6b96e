//! The settings page: the global settings form, firmware URLs, the innovaphone status.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use prov_store::{DeviceKeyset, DeviceSort};
use std::collections::HashMap;

use super::common::{error_fragment, internal};
use crate::admin::ui::session::Session;
use crate::web::i18n::{Lang, Tr};
use crate::web::state::AppState;
use prov_core::audit::ui_actor;
use prov_core::error::ServiceError;
use prov_core::service::SettingsImpact;
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

/// The RPS status panel: the facts `rps status` prints, from the same function
/// (`Service::rps_status`), loaded after the page because asking RPS may take seconds.
#[derive(Template, WebTemplate)]
#[template(path = "settings_rps_status.html")]
pub struct RpsStatusPanel {
    t: Tr,
    /// i18n key: the operator's account (configuration file), our own (settings), off.
    account_key: &'static str,
    configured: bool,
    api: String,
    endpoint: String,
    username: String,
    reachable: Option<bool>,
    reachability: String,
    server_name: String,
    server_name_source: &'static str,
    server_url: String,
    /// What RPS holds for our server name ("name → URL"), as far as we know.
    at_rps: Option<String>,
    /// i18n key: registered with the URL in use, with another URL, refused, not yet.
    registered_key: &'static str,
    registered_ok: bool,
    warning: Option<String>,
    unknown_server: Option<String>,
    pending: u64,
    due: u64,
    last_error: Option<String>,
}

pub async fn rps_status_panel(State(state): State<AppState>, lang: Lang) -> Response {
    let t = Tr(lang);
    let status = match state.service.rps_status(true).await {
        Ok(s) => s,
        Err(e) => return error_fragment(t, &e),
    };
    use prov_core::service::ServerNameSource as Src;
    use prov_core::settings::RpsMode;
    let at_rps = status
        .registered
        .as_ref()
        .map(|r| format!("{} → {}", r.name, rps::redact::redact_url(&r.url)));
    let same_url = status
        .registered
        .as_ref()
        .is_some_and(|r| r.wanted_url.is_none() && r.url == status.server_url);
    let registered_key = match (status.server_registered, same_url) {
        (Some(true), true) => "rps_status.registered_ours",
        (Some(true), false) => "rps_status.registered_other_url",
        (Some(false), _) => "rps_status.registered_no",
        (None, _) => "rps_status.registered_not_yet",
    };
    RpsStatusPanel {
        t,
        account_key: match (status.mode, status.configured) {
            (RpsMode::Off, _) => "rps_status.account_off",
            (_, false) => "rps_status.account_missing",
            (RpsMode::Standard, true) => "rps_status.account_standard",
            (RpsMode::Own, true) => "rps_status.account_own",
        },
        configured: status.configured,
        api: status.api.map(|a| a.to_string()).unwrap_or_default(),
        endpoint: status.endpoint.clone().unwrap_or_default(),
        username: status.username.clone().unwrap_or_default(),
        reachable: status.reachable,
        reachability: status.reachability.clone().unwrap_or_default(),
        server_name: status.server_name.clone(),
        server_name_source: match status.server_name_source {
            Src::Setting => "setting",
            Src::PbxDomain => "pbx_domain",
            Src::UrlHost => "url_host",
            Src::ConfiguredDomain => "configured_domain",
            Src::AwaitingPbx => "awaiting_pbx",
        },
        server_url: status.server_url.clone(),
        at_rps,
        registered_ok: registered_key == "rps_status.registered_ours",
        registered_key,
        warning: status.server_url_warning.clone(),
        unknown_server: status
            .unknown_server
            .as_ref()
            .map(|u| format!("{} ({}, {})", u.name, u.at, u.answer)),
        pending: status.queue.pending,
        due: status.queue.due,
        last_error: status.last_error.clone(),
    }
    .into_response()
}

/// Form fields, applied one by one so that every invalid one is reported at once. The HTTP /
/// HTTPS choice is checked against the base URL, not applied to it (see [`scheme_error`]).
const SETTINGS_FIELDS: &[&str] = &[
    "public_base_url",
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

/// What a save shows at the top of the page.
pub enum SaveOutcome {
    /// Every validation error: (field, text).
    Errors(Vec<(&'static str, String)>),
    /// The change touches every phone: what it will do, and the token that confirms it.
    Confirm { lines: Vec<String>, token: String },
    /// Saved: what was done.
    Saved(Vec<String>),
}

#[derive(Template, WebTemplate)]
#[template(path = "settings_result.html")]
pub struct SaveResult {
    t: Tr,
    outcome: SaveOutcome,
}

/// The HTTP / HTTPS choice must agree with the base URL typed: switching the scheme alone would
/// keep the HTTP port (or guess one), and phones would be sent where nothing answers.
fn scheme_error(t: Tr, scheme: Option<&str>, base_url: Option<&str>) -> Option<String> {
    let (scheme, url) = (scheme?, base_url?);
    let url_https = url.starts_with("https://");
    match (scheme, url_https) {
        ("https", false) => Some(t.get("settings.scheme_https_mismatch").to_owned()),
        ("http", true) => Some(t.get("settings.scheme_http_mismatch").to_owned()),
        _ => None,
    }
}

/// What the change does, in the page's language, one line per effect.
fn impact_lines(t: Tr, i: &SettingsImpact) -> Vec<String> {
    let n = i.devices.to_string();
    let fill = |key: &str| t.get(key).replace("{n}", &n);
    let mut lines = Vec::new();
    if let Some((before, after)) = &i.base_url {
        lines.push(
            fill("settings.impact_base_url")
                .replace("{before}", before)
                .replace("{after}", after)
                .replace("{minutes}", &i.update_interval_minutes.to_string()),
        );
    }
    if let Some((before, after)) = &i.server_name {
        lines.push(
            fill("settings.impact_server_name")
                .replace("{before}", before)
                .replace("{after}", after),
        );
    }
    if i.add_server {
        lines.push(fill("settings.impact_add_server").replace("{url}", &i.server_url));
    }
    if i.redirect_all {
        lines.push(fill("settings.impact_redirect_all"));
    } else if i.add_server && i.account_changed {
        lines.push(fill("settings.impact_new_account"));
    }
    if i.rps_off {
        lines.push(fill("settings.impact_rps_off"));
    }
    lines
}

/// Ties a confirmation to what it confirmed: the settings to be saved and their effect. A form
/// changed after the question, or settings changed by someone else meanwhile, ask again.
fn confirm_token(settings: &Settings, lines: &[String], current: &Settings) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(settings)
        .unwrap_or_default()
        .hash(&mut h);
    serde_json::to_string(current)
        .unwrap_or_default()
        .hash(&mut h);
    lines.hash(&mut h);
    format!("{:016x}", h.finish())
}

pub async fn save_settings(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    lang: Lang,
    Form(mut form): Form<HashMap<String, String>>,
) -> Response {
    let t = Tr(lang);
    let current = state.service.settings();
    let mut settings = current.as_ref().clone();
    // An unticked checkbox is simply absent from the form.
    for key in ["media_relay", "ice"] {
        let value = if form.contains_key(key) {
            "true"
        } else {
            "false"
        };
        form.insert(key.into(), value.into());
    }
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let mut apply = |settings: &mut Settings, key: &str, value: &str| {
        // On a copy: a field that fails leaves the others to be checked on their own.
        let mut trial = settings.clone();
        match trial.set_from_text(key, value) {
            Ok(()) => *settings = trial,
            Err(e) => {
                if !errors.iter().any(|(f, _)| *f == e.field) {
                    errors.push((
                        e.field,
                        format!("{}: {}", t.field_label(e.field), e.message),
                    ));
                }
            }
        }
    };
    // One `firmware_url.<MODEL>` field per row of the firmware table.
    let mut firmware: Vec<(&String, &String)> = form
        .iter()
        .filter(|(k, _)| k.starts_with("firmware_url."))
        .collect();
    firmware.sort();
    for (key, value) in firmware {
        apply(&mut settings, key, value);
    }
    for key in SETTINGS_FIELDS {
        if let Some(value) = form.get(*key) {
            apply(&mut settings, key, value);
        }
    }
    let url_ok = !errors.iter().any(|(f, _)| *f == "public_base_url");
    if url_ok
        && let Some(text) = scheme_error(
            t,
            form.get("provisioning_scheme").map(String::as_str),
            settings.public_base_url.as_deref(),
        )
    {
        errors.push((
            "provisioning_scheme",
            format!("{}: {text}", t.field_label("provisioning_scheme")),
        ));
    }
    if let Some(secret) = form.get("rps_secret")
        && let Err(e) = prov_core::settings::validate_rps_secret(&settings, secret)
    {
        errors.push((
            e.field,
            format!("{}: {}", t.field_label(e.field), e.message),
        ));
    }
    if !errors.is_empty() {
        return SaveResult {
            t,
            outcome: SaveOutcome::Errors(errors),
        }
        .into_response();
    }
    let secret = form
        .get("rps_secret")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let impact = match state
        .service
        .settings_impact(&settings, secret.is_some())
        .await
    {
        Ok(i) => i,
        Err(e) => return error_fragment(t, &e),
    };
    let lines = impact_lines(t, &impact);
    if impact.touches_phones() {
        let token = confirm_token(&settings, &lines, &current);
        if form.get("confirm") != Some(&token) {
            return SaveResult {
                t,
                outcome: SaveOutcome::Confirm { lines, token },
            }
            .into_response();
        }
    }
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
        Ok(_) => SaveResult {
            t,
            outcome: SaveOutcome::Saved(if impact.touches_phones() {
                lines
            } else {
                Vec::new()
            }),
        }
        .into_response(),
        Err(e) => error_fragment(t, &e),
    }
}
