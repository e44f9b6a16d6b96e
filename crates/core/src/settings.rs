//! Administrator settings: persisted as one JSON document, defaults for every phone; a device may
//! override the phone-facing ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yealink::{PhoneSettings, Transport};

/// Scheme phones use to reach us; derived from and written into `public_base_url`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Base URL phones use, e.g. `https://prov.example.com` (no trailing slash). `None`: the
    /// server's own listen address, which only suits a LAN.
    pub public_base_url: Option<String>,
    #[serde(flatten)]
    pub phone: PhoneSettings,
    /// Which RPS account redirects phones: the operator's `standard` one from the configuration
    /// file, the customer's `own` one below, or `off`.
    pub rps_mode: RpsMode,
    /// The customer's own account (its secret is kept apart and never shown).
    pub rps_api: rps::RpsApi,
    pub rps_endpoint: Option<String>,
    pub rps_username: Option<String>,
    /// The RPS server name to register our URL under. `None`: the PBX's domain when an
    /// innovaphone PBX is connected, else the host of our base URL (see `Service::rps_server`).
    pub rps_server_name: Option<String>,
    /// innovaphone only: the "Reverse Proxy" (`trusted`) flag of the phone's device on the PBX
    /// user object after it fetched its configuration. Users already sets it when it adds the
    /// device, so by default it is left as the PBX has it.
    pub pbx_reverse_proxy: ReverseProxy,
    /// Firmware file URL per model (`T46U` -> `https://.../T46U-108.87.0.10.rom`), written as
    /// `static.firmware.url` into that model's common file, or into the device's own file for
    /// models whose common file is shared with a model of other firmware (W90B and W90DM ...,
    /// `yealink::ModelInfo::firmware_in_mac_file`).
    pub firmware_urls: BTreeMap<String, String>,
    /// DECT handset firmware per handset model (`W56H` -> URL), written as
    /// `over_the_air.url.<handset>` for every base whose template lists that handset.
    pub handset_firmware_urls: BTreeMap<String, String>,
    /// PEM of a private CA that signs the PBX's (or our) certificate. Served to enrolled
    /// phones as `/prov/<token>/ca.pem` and named by `static.trusted_certificates.url`.
    pub ca_certificate: Option<String>,
}

/// What to do with the device's Reverse Proxy flag (`trusted`) on the user object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReverseProxy {
    /// Leave it as the PBX has it (Users sets it on).
    #[default]
    Keep,
    On,
    Off,
}

impl ReverseProxy {
    /// The flag to write, `None` to leave it.
    pub fn wanted(self) -> Option<bool> {
        match self {
            ReverseProxy::Keep => None,
            ReverseProxy::On => Some(true),
            ReverseProxy::Off => Some(false),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReverseProxy::Keep => "keep",
            ReverseProxy::On => "on",
            ReverseProxy::Off => "off",
        }
    }

    fn parse(value: &str) -> Option<ReverseProxy> {
        match value.trim().to_ascii_lowercase().as_str() {
            "keep" | "" => Some(ReverseProxy::Keep),
            "on" | "true" | "1" | "yes" => Some(ReverseProxy::On),
            "off" | "0" | "no" => Some(ReverseProxy::Off),
            // Stored before the setting had three values: `false` was the default, which
            // cleared the flag Users had set; an administrator never chose it, so it keeps now.
            "false" => Some(ReverseProxy::Keep),
            _ => None,
        }
    }
}

/// Reads `"keep"`/`"on"`/`"off"`, and the booleans stored before (true → on, false → keep).
impl<'de> Deserialize<'de> for ReverseProxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Bool(bool),
            Text(String),
        }
        match Stored::deserialize(d)? {
            Stored::Bool(true) => Ok(ReverseProxy::On),
            Stored::Bool(false) => Ok(ReverseProxy::Keep),
            Stored::Text(t) => ReverseProxy::parse(&t).ok_or_else(|| {
                serde::de::Error::custom("pbx_reverse_proxy must be keep, on or off")
            }),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpsMode {
    #[default]
    Standard,
    Own,
    Off,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_base_url: None,
            phone: PhoneSettings {
                update_interval_minutes: 60,
                ntp_servers: vec!["pool.ntp.org".to_owned()],
                time_zone: "UTC".to_owned(),
                location: "US".to_owned(),
                media_relay: false,
                ice: false,
                sip_transport: Transport::Tcp,
                backup_registrar: None,
            },
            rps_mode: RpsMode::Standard,
            rps_api: rps::RpsApi::Xmlrpc,
            rps_endpoint: None,
            rps_username: None,
            rps_server_name: None,
            pbx_reverse_proxy: ReverseProxy::Keep,
            firmware_urls: BTreeMap::new(),
            handset_firmware_urls: BTreeMap::new(),
            ca_certificate: None,
        }
    }
}

/// Per-device overrides of [`PhoneSettings`]; `None` inherits the global value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_interval_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntp_servers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_relay: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_transport: Option<Transport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ice: Option<bool>,
    /// `host[:port]`; an empty string removes a global backup registrar for this device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_registrar: Option<String>,
    /// Codecs, SRTP, STUN and TLS strength; set from innovaphone's device configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaOverride>,
}

/// Media parameters of one device (innovaphone PHONE, MEDIA and TLS_PROFILE items, see
/// docs/innovaphone.md). Not part of the global settings: phones keep their own defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaOverride {
    /// Yealink codec names in preference order (`pcmu`, `pcma`, `g722`, `opus`, `g729`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<String>,
    /// Only the listed codecs are enabled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exclusive: bool,
    /// `Some(false)`: no SRTP even with TLS; `None`: the usual rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srtp: Option<bool>,
    /// `host` or `host:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stun: Option<String>,
    /// `true`: TLS 1.2 only (`static.security.default_ssl_method = 5`; Yealink's value picks
    /// one version, it is not a floor). The field keeps its stored name.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls12_minimum: bool,
}

/// Codec names [`MediaOverride::codecs`] accepts.
pub const CODEC_NAMES: [&str; 5] = ["pcmu", "pcma", "g722", "opus", "g729"];

fn validate_media(m: &MediaOverride) -> Result<(), FieldError> {
    for codec in &m.codecs {
        if !CODEC_NAMES.contains(&codec.as_str()) {
            return Err(field_error(
                "media.codecs",
                format!("{codec:?} is not one of {}", CODEC_NAMES.join(", ")),
            ));
        }
    }
    if let Some(stun) = &m.stun
        && !is_host_name(stun)
    {
        return Err(field_error(
            "media.stun",
            format!("{stun:?} is not a host name or host:port"),
        ));
    }
    Ok(())
}

impl SettingsOverride {
    pub fn apply(&self, base: &PhoneSettings) -> PhoneSettings {
        PhoneSettings {
            update_interval_minutes: self
                .update_interval_minutes
                .unwrap_or(base.update_interval_minutes),
            ntp_servers: self
                .ntp_servers
                .clone()
                .unwrap_or_else(|| base.ntp_servers.clone()),
            time_zone: self
                .time_zone
                .clone()
                .unwrap_or_else(|| base.time_zone.clone()),
            location: self
                .location
                .clone()
                .unwrap_or_else(|| base.location.clone()),
            media_relay: self.media_relay.unwrap_or(base.media_relay),
            ice: self.ice.unwrap_or(base.ice),
            sip_transport: self.sip_transport.unwrap_or(base.sip_transport),
            backup_registrar: match &self.backup_registrar {
                Some(value) if value.is_empty() => None,
                Some(value) => Some(value.clone()),
                None => base.backup_registrar.clone(),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == SettingsOverride::default()
    }
}

/// A setting that failed validation, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Longest update interval Yealink accepts (`static.auto_provision.repeat.minutes`, 30 days).
pub const MAX_UPDATE_INTERVAL_MINUTES: u32 = 43_200;

pub fn validate_phone_settings(s: &PhoneSettings) -> Result<(), FieldError> {
    validate_update_interval(s.update_interval_minutes)?;
    validate_ntp_servers(&s.ntp_servers)?;
    validate_time_zone(&s.time_zone)?;
    validate_location(&s.location)?;
    if let Some(v) = &s.backup_registrar {
        validate_backup_registrar(v)?;
    }
    Ok(())
}

/// `host` or `host:port` (port 1 to 65535); empty means none.
fn validate_backup_registrar(value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Ok(());
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (value, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    if !is_host_name(host) || !port_ok {
        return Err(field_error(
            "backup_registrar",
            format!("{value:?} is not host or host:port (port 1 to 65535)"),
        ));
    }
    Ok(())
}

/// Largest private CA file we accept (a chain of a few certificates).
pub const MAX_CA_CERTIFICATE: usize = 64 * 1024;

fn validate_ca_certificate(pem: &str) -> Result<(), FieldError> {
    let begin = pem.find("-----BEGIN CERTIFICATE-----");
    let end = pem.rfind("-----END CERTIFICATE-----");
    if pem.len() > MAX_CA_CERTIFICATE || !matches!((begin, end), (Some(b), Some(e)) if b < e) {
        return Err(field_error(
            "ca_certificate",
            format!(
                "must be PEM (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), at most {MAX_CA_CERTIFICATE} bytes"
            ),
        ));
    }
    if pem.contains("PRIVATE KEY") {
        return Err(field_error(
            "ca_certificate",
            "contains a private key; give the CA certificate only",
        ));
    }
    Ok(())
}

fn validate_firmware_urls(urls: &BTreeMap<String, String>) -> Result<(), FieldError> {
    let mut by_code: BTreeMap<u16, (&str, &str)> = BTreeMap::new();
    for (model, url) in urls {
        let Some(info) = yealink::model_info(model) else {
            return Err(field_error(
                "firmware_urls",
                format!("unknown Yealink model {model:?}"),
            ));
        };
        if info.name != model {
            return Err(field_error(
                "firmware_urls",
                format!("write the model as {:?}, not {model:?}", info.name),
            ));
        }
        if !is_firmware_url(url) {
            return Err(field_error(
                "firmware_urls",
                format!("{model}: the firmware URL must be http(s):// without spaces"),
            ));
        }
        // One common file per code: models sharing it must share the firmware file too,
        // unless their firmware keys go into each device's own file.
        if !info.firmware_in_mac_file()
            && let Some((other, other_url)) = by_code.insert(info.common_code, (model, url))
            && other_url != url
        {
            return Err(field_error(
                "firmware_urls",
                format!(
                    "{other} and {model} share the common file y{:012}.cfg; give them the same firmware URL",
                    info.common_code
                ),
            ));
        }
    }
    Ok(())
}

fn is_firmware_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn validate_handset_firmware_urls(urls: &BTreeMap<String, String>) -> Result<(), FieldError> {
    let known = yealink::handset_models();
    for (handset, url) in urls {
        if !known.contains(&handset.as_str()) {
            return Err(field_error(
                "handset_firmware_urls",
                format!(
                    "unknown Yealink handset {handset:?}; known: {}",
                    known.join(", ")
                ),
            ));
        }
        if !is_firmware_url(url) {
            return Err(field_error(
                "handset_firmware_urls",
                format!("{handset}: the firmware URL must be http(s):// without spaces"),
            ));
        }
    }
    Ok(())
}

pub fn validate_override(o: &SettingsOverride) -> Result<(), FieldError> {
    if let Some(v) = o.update_interval_minutes {
        validate_update_interval(v)?;
    }
    if let Some(v) = &o.ntp_servers {
        validate_ntp_servers(v)?;
    }
    if let Some(v) = &o.time_zone {
        validate_time_zone(v)?;
    }
    if let Some(v) = &o.location {
        validate_location(v)?;
    }
    if let Some(v) = &o.backup_registrar {
        validate_backup_registrar(v)?;
    }
    if let Some(m) = &o.media {
        validate_media(m)?;
    }
    Ok(())
}

/// 1 to [`MAX_UPDATE_INTERVAL_MINUTES`]. Not 0, which Yealink reads as "only at power-on":
/// a changed password, setting or RPS URL would then wait for each phone's next reboot (the web
/// UI's field starts at 1 for the same reason).
fn validate_update_interval(minutes: u32) -> Result<(), FieldError> {
    if minutes == 0 || minutes > MAX_UPDATE_INTERVAL_MINUTES {
        return Err(field_error(
            "update_interval_minutes",
            format!(
                "must be 1 to {MAX_UPDATE_INTERVAL_MINUTES} minutes (how often phones check for \
                 changes), got {minutes}; 0 would leave every change waiting for the phones' \
                 next reboot"
            ),
        ));
    }
    Ok(())
}

fn validate_ntp_servers(servers: &[String]) -> Result<(), FieldError> {
    if servers.len() > 2 {
        return Err(field_error(
            "ntp_servers",
            "Yealink phones take at most two NTP servers",
        ));
    }
    for server in servers {
        if !is_host_name(server) {
            return Err(field_error(
                "ntp_servers",
                format!("{server:?} is not a host name or IP address"),
            ));
        }
    }
    Ok(())
}

fn validate_time_zone(zone: &str) -> Result<(), FieldError> {
    yealink::resolve_time_zone(zone)
        .map(|_| ())
        .map_err(|e| field_error("time_zone", e.to_string()))
}

fn validate_location(code: &str) -> Result<(), FieldError> {
    if yealink::location(code).is_none() {
        let known: Vec<&str> = yealink::locations().iter().map(|l| l.code).collect();
        return Err(field_error(
            "location",
            format!("unknown location {code:?}; known: {}", known.join(", ")),
        ));
    }
    Ok(())
}

/// Host names, IPv4 and bracket-less IPv6 literals; nothing that could break a .cfg line.
pub fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
}

/// Checks and normalises a public base URL: `http(s)://host[:port][/path]`, no trailing slash.
pub fn normalise_base_url(url: &str) -> Result<String, FieldError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| field_error("public_base_url", "must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ', '@']) {
        return Err(field_error(
            "public_base_url",
            "must be http(s)://host[:port][/path] without query, fragment, spaces or credentials",
        ));
    }
    Ok(url.to_owned())
}

/// The port written in `host[:port][/path]`, if any (`[::1]:8443` and `host:8443` alike).
fn explicit_port(rest: &str) -> Option<&str> {
    let authority = rest.split('/').next().unwrap_or_default();
    let after_host = match authority.rfind(']') {
        Some(end) => &authority[end + 1..],
        None => authority,
    };
    after_host
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty())
}

impl Settings {
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(url) = &self.public_base_url {
            normalise_base_url(url)?;
        }
        if let Some(endpoint) = &self.rps_endpoint
            && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        {
            return Err(field_error(
                "rps_endpoint",
                "must be an http(s):// URL (empty: Yealink's own endpoint)",
            ));
        }
        validate_firmware_urls(&self.firmware_urls)?;
        validate_handset_firmware_urls(&self.handset_firmware_urls)?;
        if let Some(pem) = &self.ca_certificate {
            validate_ca_certificate(pem)?;
        }
        if let Some(name) = &self.rps_server_name {
            validate_rps_server_name(name)?;
        }
        validate_phone_settings(&self.phone)
    }

    /// The firmware keys of common file `code`: its models share one firmware URL (see
    /// [`validate_firmware_urls`]) and one handset list. None where the keys go into each
    /// device's own file instead ([`Settings::mac_file_firmware`]).
    pub fn common_file_firmware(&self, code: u16) -> yealink::Firmware<'_> {
        let Some(model) = yealink::known_models()
            .iter()
            .find(|m| m.common_code == code)
            .filter(|m| !m.firmware_in_mac_file())
        else {
            return yealink::Firmware::NONE;
        };
        yealink::Firmware {
            model: Some(model),
            url: self
                .firmware_urls
                .iter()
                .find(|(name, _)| yealink::common_file_code(name) == Some(code))
                .map(|(_, url)| url.as_str()),
            handset_urls: Some(&self.handset_firmware_urls),
        }
    }

    /// The firmware keys of a device's own file: only for a model known for certain (never
    /// guessed from the common-file code, which would push a W90B's file to a W90DM) whose
    /// firmware keys go there.
    pub fn mac_file_firmware(
        &self,
        model: Option<&'static yealink::ModelInfo>,
    ) -> yealink::Firmware<'_> {
        match model.filter(|m| m.firmware_in_mac_file()) {
            None => yealink::Firmware::NONE,
            Some(model) => yealink::Firmware {
                model: Some(model),
                url: self.firmware_urls.get(model.name).map(String::as_str),
                handset_urls: Some(&self.handset_firmware_urls),
            },
        }
    }

    pub fn scheme(&self) -> Option<Scheme> {
        self.public_base_url.as_deref().map(|u| {
            if u.starts_with("https://") {
                Scheme::Https
            } else {
                Scheme::Http
            }
        })
    }

    /// Applies `key=value` as typed on the command line.
    pub fn set_from_text(&mut self, key: &str, value: &str) -> Result<(), FieldError> {
        let value = value.trim();
        match key {
            "public_base_url" => {
                self.public_base_url = if value.is_empty() {
                    None
                } else {
                    Some(normalise_base_url(value)?)
                }
            }
            "provisioning_scheme" => {
                let base = self.public_base_url.clone().ok_or_else(|| {
                    field_error("provisioning_scheme", "set public_base_url first")
                })?;
                let (scheme, rest) = base.split_once("://").unwrap_or(("http", &base));
                let wanted = value.to_ascii_lowercase();
                if wanted != "http" && wanted != "https" {
                    return Err(field_error("provisioning_scheme", "must be http or https"));
                }
                if wanted != scheme.to_ascii_lowercase() {
                    // A port written for one scheme is that scheme's listener: never carry it
                    // over to the other, the phones would knock on the wrong port.
                    if let Some(port) = explicit_port(rest) {
                        return Err(field_error(
                            "provisioning_scheme",
                            format!(
                                "public_base_url names port {port}, which belongs to {scheme}; \
                                 set public_base_url={wanted}://<host>:<port of the {wanted} \
                                 listener> instead"
                            ),
                        ));
                    }
                    self.public_base_url = Some(format!("{wanted}://{rest}"));
                }
            }
            "update_interval_minutes" => {
                self.phone.update_interval_minutes = value.parse().map_err(|_| {
                    field_error(
                        "update_interval_minutes",
                        "must be a whole number of minutes",
                    )
                })?
            }
            "ntp_servers" => {
                self.phone.ntp_servers = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "time_zone" => self.phone.time_zone = value.to_owned(),
            "location" => self.phone.location = value.to_ascii_uppercase(),
            "media_relay" => self.phone.media_relay = parse_bool("media_relay", value)?,
            "ice" => self.phone.ice = parse_bool("ice", value)?,
            "backup_registrar" => {
                self.phone.backup_registrar = (!value.is_empty()).then(|| value.to_owned())
            }
            "ca_certificate" => self.ca_certificate = (!value.is_empty()).then(|| value.to_owned()),
            _ if key.starts_with("handset_firmware_url.") => {
                let handset = key["handset_firmware_url.".len()..].to_ascii_uppercase();
                if value.is_empty() {
                    self.handset_firmware_urls.remove(&handset);
                } else {
                    self.handset_firmware_urls.insert(handset, value.to_owned());
                }
            }
            _ if key.starts_with("firmware_url.") => {
                let model = yealink::normalize_model(&key["firmware_url.".len()..]);
                if value.is_empty() {
                    self.firmware_urls.remove(&model);
                } else {
                    self.firmware_urls.insert(model, value.to_owned());
                }
            }
            "pbx_reverse_proxy" => {
                // On the command line `false` means off: someone typed it.
                self.pbx_reverse_proxy = match value.to_ascii_lowercase().as_str() {
                    "false" => ReverseProxy::Off,
                    other => ReverseProxy::parse(other).ok_or_else(|| {
                        field_error("pbx_reverse_proxy", "must be keep, on or off")
                    })?,
                }
            }
            "sip_transport" => {
                self.phone.sip_transport = value
                    .parse()
                    .map_err(|_| field_error("sip_transport", "must be udp, tcp or tls"))?
            }
            "rps_mode" => {
                self.rps_mode = match value.to_ascii_lowercase().as_str() {
                    "standard" => RpsMode::Standard,
                    "own" => RpsMode::Own,
                    "off" => RpsMode::Off,
                    _ => return Err(field_error("rps_mode", "must be standard, own or off")),
                }
            }
            "rps_api" => {
                self.rps_api = match value.to_ascii_lowercase().as_str() {
                    "xmlrpc" => rps::RpsApi::Xmlrpc,
                    "json" => rps::RpsApi::Json,
                    _ => return Err(field_error("rps_api", "must be xmlrpc or json")),
                }
            }
            "rps_endpoint" => self.rps_endpoint = (!value.is_empty()).then(|| value.to_owned()),
            "rps_username" => self.rps_username = (!value.is_empty()).then(|| value.to_owned()),
            "rps_server_name" => {
                self.rps_server_name = (!value.is_empty()).then(|| value.to_owned())
            }
            _ => {
                return Err(FieldError {
                    field: "key",
                    message: format!(
                        "unknown setting {key:?}{}; settable: {}",
                        did_you_mean(key, SETTABLE_KEYS.iter().copied()),
                        SETTABLE_KEYS.join(", ")
                    ),
                });
            }
        }
        self.validate()
    }
}

/// An RPS secret is half an account: refused unless the settings name its user (the RPS user
/// name, or the JSON API's AccessKey ID), which would otherwise fail at RPS with a 401 later.
pub fn validate_rps_secret(settings: &Settings, secret: &str) -> Result<(), FieldError> {
    if !secret.trim().is_empty() && settings.rps_username.is_none() {
        return Err(field_error(
            "rps_secret",
            "set rps_username as well (the RPS user name, or the AccessKey ID of the JSON API): \
             a secret without its user name is no account",
        ));
    }
    Ok(())
}

/// The keys `yealink-prov settings set` takes, in the order its help lists them.
pub const SETTABLE_KEYS: &[&str] = &[
    "public_base_url",
    "provisioning_scheme",
    "update_interval_minutes",
    "ntp_servers",
    "time_zone",
    "location",
    "media_relay",
    "ice",
    "sip_transport",
    "backup_registrar",
    "firmware_url.<MODEL>",
    "handset_firmware_url.<MODEL>",
    "ca_certificate",
    "pbx_reverse_proxy",
    "rps_mode",
    "rps_api",
    "rps_endpoint",
    "rps_username",
    "rps_server_name",
    "rps_secret",
];

/// ` (did you mean `time_zone`?)` when one known key is close to the misspelt `key` (at most
/// a third of its letters off, case ignored), else nothing.
pub fn did_you_mean<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> String {
    let key = key.to_ascii_lowercase();
    let limit = (key.chars().count() / 3).max(1);
    known
        .map(|k| (strsim::damerau_levenshtein(&key, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// Longest RPS server name we register: the innovaphone app uses "the 24 first characters of
/// the domain name", so a longer name is not one RPS is known to take.
pub const MAX_RPS_SERVER_NAME: usize = 24;

/// RPS accepts only `A-z 0-9 - _ .` and space in a server name (its own error text, quoted by
/// peoplefone's client).
fn validate_rps_server_name(name: &str) -> Result<(), FieldError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if name.trim().is_empty() || !ok_chars || name.chars().count() > MAX_RPS_SERVER_NAME {
        return Err(field_error(
            "rps_server_name",
            format!(
                "must be 1 to {MAX_RPS_SERVER_NAME} characters of A-Z a-z 0-9 - _ . and space (empty: automatic)"
            ),
        ));
    }
    Ok(())
}

fn parse_bool(field: &'static str, value: &str) -> Result<bool, FieldError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(field_error(field, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reverse_proxy_reads_the_stored_booleans_and_the_three_values() {
        let read = |v: serde_json::Value| {
            let mut stored = serde_json::to_value(Settings::default()).unwrap();
            stored["pbx_reverse_proxy"] = v;
            serde_json::from_value::<Settings>(stored).map(|s| s.pbx_reverse_proxy)
        };
        assert_eq!(read(true.into()).unwrap(), ReverseProxy::On);
        // The old default, which cleared the flag Users had set.
        assert_eq!(read(false.into()).unwrap(), ReverseProxy::Keep);
        assert_eq!(read("keep".into()).unwrap(), ReverseProxy::Keep);
        assert_eq!(read("on".into()).unwrap(), ReverseProxy::On);
        assert_eq!(read("off".into()).unwrap(), ReverseProxy::Off);
        assert!(read("maybe".into()).is_err());
        assert_eq!(Settings::default().pbx_reverse_proxy, ReverseProxy::Keep);
        let written = serde_json::to_value(Settings::default()).unwrap();
        assert_eq!(written["pbx_reverse_proxy"], "keep");
    }

    #[test]
    fn reverse_proxy_from_the_command_line() {
        let mut s = Settings::default();
        s.set_from_text("pbx_reverse_proxy", "off").unwrap();
        assert_eq!(s.pbx_reverse_proxy, ReverseProxy::Off);
        s.set_from_text("pbx_reverse_proxy", "false").unwrap();
        assert_eq!(s.pbx_reverse_proxy, ReverseProxy::Off);
        s.set_from_text("pbx_reverse_proxy", "keep").unwrap();
        assert_eq!(s.pbx_reverse_proxy, ReverseProxy::Keep);
        s.set_from_text("pbx_reverse_proxy", "on").unwrap();
        assert_eq!(s.pbx_reverse_proxy, ReverseProxy::On);
        assert!(s.set_from_text("pbx_reverse_proxy", "x").is_err());
    }

    #[test]
    fn a_new_scheme_never_carries_the_other_schemes_port() {
        let mut s = Settings::default();
        s.set_from_text("public_base_url", "http://prov.example.com:8080")
            .unwrap();
        let e = s.set_from_text("provisioning_scheme", "https").unwrap_err();
        assert!(e.to_string().contains("port 8080"), "{e}");
        assert_eq!(
            s.public_base_url.as_deref(),
            Some("http://prov.example.com:8080")
        );
        // The same scheme again changes nothing; without a port the default ports follow.
        s.set_from_text("provisioning_scheme", "http").unwrap();
        s.set_from_text("public_base_url", "http://[2001:db8::1]/base")
            .unwrap();
        s.set_from_text("provisioning_scheme", "HTTPS").unwrap();
        assert_eq!(
            s.public_base_url.as_deref(),
            Some("https://[2001:db8::1]/base")
        );
        s.set_from_text("public_base_url", "https://[2001:db8::1]:8443")
            .unwrap();
        assert!(s.set_from_text("provisioning_scheme", "http").is_err());
        assert!(s.set_from_text("provisioning_scheme", "ftp").is_err());
    }
}

#[cfg(test)]
mod dect_firmware_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// W90B and W90DM share a common file but not the firmware; both can
    /// be upgraded, each from its own MAC file. Desk phones sharing a file still share a URL.
    #[test]
    fn w90b_and_w90dm_take_different_firmware() {
        let mut s = Settings::default();
        s.set_from_text(
            "firmware_url.W90B",
            "https://fw.example/W90B-130.87.0.18.rom",
        )
        .unwrap();
        s.set_from_text(
            "firmware_url.W90DM",
            "https://fw.example/W90DM-130.87.0.18.rom",
        )
        .unwrap();
        s.set_from_text("handset_firmware_url.w56h", "https://fw.example/W56H.rom")
            .unwrap();
        assert!(s.validate().is_ok());
        assert!(s.common_file_firmware(130).url.is_none());
        let dm = s.mac_file_firmware(yealink::model_info("W90DM"));
        assert_eq!(dm.url, Some("https://fw.example/W90DM-130.87.0.18.rom"));
        let base = s.mac_file_firmware(yealink::model_info("W90B"));
        assert_eq!(base.url, Some("https://fw.example/W90B-130.87.0.18.rom"));
        assert!(s.mac_file_firmware(None).url.is_none());

        assert!(
            s.set_from_text("handset_firmware_url.W99H", "https://fw.example/x.rom")
                .is_err()
        );
        s.handset_firmware_urls.remove("W99H");
        s.set_from_text("firmware_url.T53", "https://fw.example/a.rom")
            .unwrap();
        assert!(
            s.set_from_text("firmware_url.T53W", "https://fw.example/b.rom")
                .is_err()
        );
    }

    /// The user login's password is random-looking, stable, and follows
    /// the admin password.
    #[test]
    fn user_password_is_derived_from_the_admin_password() {
        let a = crate::secret::phone_user_password("Adm1n-Secret");
        assert_eq!(a.len(), 16);
        assert_eq!(a, crate::secret::phone_user_password("Adm1n-Secret"));
        assert_ne!(a, crate::secret::phone_user_password("Adm1n-Secret2"));
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
