//! What we keep per phone for the innovaphone side: one JSON document in `pbx_devices`.

use std::collections::BTreeMap;
use std::fmt;

use prov_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use yealink::Mac;

use crate::error::ServiceError;

/// The PBX-side state of one phone. `Debug` hides the secrets.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PbxDevice {
    /// Devices provisioning code from Users; presented on the first sysclient connection.
    pub code: String,
    /// Hardware id of the device Users put on the user object.
    pub hwid: String,
    /// The user's SIP name (h323) and long name (cn).
    pub usename: String,
    pub cn: String,
    pub domain: String,
    /// PBX DNS name: the phone's registrar.
    pub dns: String,
    /// What we identify as to Devices; fixed at provisioning so digests stay stable.
    pub product: String,
    pub version: String,
    /// Given by Devices on the first connection, needed to answer its challenges later.
    pub sysclient_password: Option<String>,
    /// `code` is new and Devices has not confirmed it (no new password yet): it is presented on
    /// every connection, and `sysclient_password` is still the previous one, kept so that a
    /// challenge (the phone still in a domain) can be answered.
    pub code_pending: bool,
    /// Configuration items by type (PHONE, MEDIA, NTP, TLS_PROFILE, ALARM_SERVER), as received.
    pub items: BTreeMap<String, Value>,
    /// The item with `last: true` arrived.
    pub config_complete: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub config_received_at: Option<OffsetDateTime>,
    /// Last configuration change (first complete set or an update).
    #[serde(with = "time::serde::rfc3339::option")]
    pub config_updated_at: Option<OffsetDateTime>,
    /// Items or fields we could not carry over to the phone, for the administrator.
    pub mapping_notes: Vec<String>,
    /// The last attempt to set the flags on the user object.
    pub pbx_update: Option<PbxUpdate>,
}

/// Outcome of editing the device on the user object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PbxUpdate {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub ok: bool,
    /// What was set, or why it failed.
    pub text: String,
    /// The flags that were set (`mr`, `tls`, `trusted`), when `ok`.
    #[serde(default)]
    pub flags: Option<[bool; 3]>,
}

impl fmt::Debug for PbxDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PbxDevice")
            .field("code", &self.code)
            .field("hwid", &self.hwid)
            .field("usename", &self.usename)
            .field("cn", &self.cn)
            .field("domain", &self.domain)
            .field("dns", &self.dns)
            .field(
                "sysclient_password",
                &self.sysclient_password.as_ref().map(|_| "***"),
            )
            .field("code_pending", &self.code_pending)
            .field("items", &self.items.keys().collect::<Vec<_>>())
            .field("config_complete", &self.config_complete)
            .field("pbx_update", &self.pbx_update)
            .finish()
    }
}

impl PbxDevice {
    pub async fn load(store: &dyn Store, mac: Mac) -> Result<Option<PbxDevice>, ServiceError> {
        match store.get_pbx_device(mac).await? {
            None => Ok(None),
            Some(doc) => serde_json::from_value(doc)
                .map(Some)
                .map_err(|e| ServiceError::CorruptSettings(format!("pbx device {mac}: {e}"))),
        }
    }

    pub async fn save(&self, store: &dyn Store, mac: Mac) -> Result<(), ServiceError> {
        let doc = serde_json::to_value(self)
            .map_err(|e| ServiceError::CorruptSettings(format!("pbx device {mac}: {e}")))?;
        store.put_pbx_device(mac, &doc).await?;
        Ok(())
    }
}

/// What the Devices tab and the API show of the innovaphone side; no secrets.
#[derive(Clone, Debug, Serialize)]
pub struct PbxDeviceView {
    pub user_cn: String,
    pub user_sip: String,
    pub hwid: String,
    pub domain: String,
    pub registrar: String,
    /// "Config Received" or "Waiting for config", as in the original app.
    pub device_config: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub config_received_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub config_updated_at: Option<OffsetDateTime>,
    pub config_items: Vec<String>,
    pub mapping_notes: Vec<String>,
    /// The sysclient connection to Devices, e.g. "connected".
    pub sysclient: crate::innovaphone::sysclient::LinkState,
    pub pbx_update: Option<PbxUpdate>,
}

use crate::views::{CONFIG_RECEIVED, WAITING_FOR_CONFIG};

impl PbxDeviceView {
    pub fn new(doc: &PbxDevice, sysclient: crate::innovaphone::sysclient::LinkState) -> Self {
        PbxDeviceView {
            user_cn: doc.cn.clone(),
            user_sip: doc.usename.clone(),
            hwid: doc.hwid.clone(),
            domain: doc.domain.clone(),
            registrar: doc.dns.clone(),
            device_config: if doc.config_complete {
                CONFIG_RECEIVED
            } else {
                WAITING_FOR_CONFIG
            },
            config_received_at: doc.config_received_at,
            config_updated_at: doc.config_updated_at,
            config_items: doc.items.keys().cloned().collect(),
            mapping_notes: doc.mapping_notes.clone(),
            sysclient,
            pbx_update: doc.pbx_update.clone(),
        }
    }
}
