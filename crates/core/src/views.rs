//! What the CLI and the admin API show of a device: secrets masked unless revealed.

use prov_store::{Device, DeviceStatus, PhoneRequest};
use serde::Serialize;
use time::OffsetDateTime;

use crate::secret::{MASK, phone_user_password};
use crate::service::{Service, overrides_of};
use crate::settings::SettingsOverride;

#[derive(Debug, Serialize)]
pub struct DeviceView {
    pub mac: String,
    pub name: String,
    pub model: Option<String>,
    pub sip_user: String,
    pub auth_name: Option<String>,
    pub display_name: Option<String>,
    pub sip_password: String,
    pub registrar: String,
    pub overrides: SettingsOverride,
    /// The URL to give this phone (RPS, DHCP option 66 or by hand); holds its URL secret.
    pub provisioning_url: String,
    /// HTTP Digest credentials the phone may use instead of the URL secret.
    pub http_username: String,
    pub http_password: String,
    pub phone_admin_password: String,
    /// The phone's `user` web login, derived from the admin password (decision 73).
    pub phone_user_password: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub status: StatusView,
    /// innovaphone phones: user, Devices configuration, sysclient and user-object update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub innovaphone: Option<crate::pbx::record::PbxDeviceView>,
}

#[derive(Debug, Serialize)]
pub struct StatusView {
    /// As in the original app's Devices tab.
    pub device_config: &'static str,
    pub phone_requests: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_config_request: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub provisioned_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_request_at: Option<OffsetDateTime>,
    pub last_ip: Option<String>,
    pub last_user_agent: Option<String>,
    pub model_seen: Option<String>,
    pub firmware_seen: Option<String>,
}

pub const PROVISIONED: &str = "Provisioned";
pub const NOT_REQUESTED: &str = "Not requested yet";
pub use crate::pbx::record::{CONFIG_RECEIVED, WAITING_FOR_CONFIG};

impl StatusView {
    /// `pbx_config`: `None` for a standalone device, else whether Devices' configuration is
    /// complete.
    pub fn from_status(s: &DeviceStatus, pbx_config: Option<bool>) -> StatusView {
        StatusView {
            device_config: match pbx_config {
                // Standalone devices carry their whole configuration from the administrator.
                None | Some(true) => CONFIG_RECEIVED,
                Some(false) => WAITING_FOR_CONFIG,
            },
            phone_requests: if s.provisioned_at.is_some() {
                PROVISIONED
            } else {
                NOT_REQUESTED
            },
            last_config_request: s.last_config_request,
            provisioned_at: s.provisioned_at,
            last_request_at: s.last_request_at,
            last_ip: s.last_ip.clone(),
            last_user_agent: s.last_user_agent.clone(),
            model_seen: s.model_seen.clone(),
            firmware_seen: s.firmware_seen.clone(),
        }
    }
}

fn shown(value: &str, reveal: bool) -> String {
    if reveal {
        value.to_owned()
    } else {
        MASK.to_owned()
    }
}

impl DeviceView {
    pub fn new(service: &Service, device: &Device, reveal: bool) -> DeviceView {
        let r = &device.record;
        let url = service.provisioning_url(r);
        DeviceView {
            mac: r.mac.to_string(),
            name: r.name.clone(),
            model: r.model.clone().or_else(|| device.status.model_seen.clone()),
            sip_user: r.sip_user.clone(),
            auth_name: r.auth_name.clone(),
            display_name: r.display_name.clone(),
            sip_password: shown(&r.sip_password, reveal),
            registrar: r.registrar.clone(),
            overrides: overrides_of(r),
            provisioning_url: if reveal {
                url
            } else {
                url.replace(&r.url_token, MASK)
            },
            http_username: r.mac.to_string(),
            http_password: shown(&r.http_password, reveal),
            phone_admin_password: shown(&r.admin_password, reveal),
            phone_user_password: shown(&phone_user_password(&r.admin_password), reveal),
            created_at: r.created_at,
            updated_at: r.updated_at,
            status: StatusView::from_status(&device.status, service.pbx_config_state(r.mac)),
            innovaphone: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RequestView {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub mac: Option<String>,
    pub method: String,
    pub file: String,
    pub status: u16,
    pub outcome: String,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// How many identical requests this entry stands for; `at` is the last one's time.
    pub count: u32,
}

impl From<&PhoneRequest> for RequestView {
    fn from(r: &PhoneRequest) -> Self {
        RequestView {
            at: r.at,
            mac: r.mac.map(|m| m.to_string()),
            method: r.method.clone(),
            file: r.file.clone(),
            status: r.status,
            outcome: r.outcome.clone(),
            source_ip: r.source_ip.clone(),
            user_agent: r.user_agent.clone(),
            model: r.model.clone(),
            firmware: r.firmware.clone(),
            count: r.count,
        }
    }
}

/// A queued RPS command as shown to administrators (its payload is never shown).
#[derive(Debug, Serialize)]
pub struct PendingView {
    pub command: String,
    pub mac: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
}

impl From<&prov_store::RpsJob> for PendingView {
    fn from(j: &prov_store::RpsJob) -> Self {
        PendingView {
            command: j.command.clone(),
            mac: j.mac.map(|m| m.to_string()),
            attempts: j.attempts,
            last_error: j.last_error.clone(),
            created_at: j.created_at,
            next_attempt_at: j.next_attempt_at,
        }
    }
}
