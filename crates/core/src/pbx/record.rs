//! What we keep per phone for the innovaphone side: one JSON document in `pbx_devices`.

use std::collections::{BTreeMap, HashMap};
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
        store
            .put_pbx_device(mac, &doc, Some(self.config_complete))
            .await?;
        Ok(())
    }
}

/// Whether Devices' configuration is complete, for every stored phone. Read from the store's
/// plain column, not from the (sealed) documents: at 10,000 phones opening every document
/// meant about 110 MB of transient JSON each time (docs/benchmarks.md). A row written before
/// the column existed has no flag: its document is opened once, alone, and the flag stored.
pub async fn config_states(store: &dyn Store) -> Result<HashMap<Mac, bool>, ServiceError> {
    let rows = store.pbx_config_states().await?;
    let mut states = HashMap::with_capacity(rows.len());
    for (mac, state) in rows {
        let complete = match state {
            Some(complete) => complete,
            None => match PbxDevice::load(store, mac).await? {
                Some(doc) => {
                    store
                        .fill_pbx_config_complete(mac, doc.config_complete)
                        .await?;
                    doc.config_complete
                }
                // Removed meanwhile.
                None => continue,
            },
        };
        states.insert(mac, complete);
    }
    Ok(states)
}

/// Devices' configuration state of a phone, as the original app words it.
pub const CONFIG_RECEIVED: &str = "Config Received";
pub const WAITING_FOR_CONFIG: &str = "Waiting for config";

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
    pub sysclient: LinkState,
    pub pbx_update: Option<PbxUpdate>,
}

impl PbxDeviceView {
    pub fn new(doc: &PbxDevice, sysclient: LinkState) -> Self {
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

/// The sysclient connection of one phone, as shown to administrators (kept by
/// `app_service::sysclient`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkState {
    /// `waiting_for_devices_url`, `elsewhere` (another instance holds the connection),
    /// `connecting`, `connected`, `retrying`, `rejected`, `stopped`.
    pub status: String,
    /// Why it is not connected, for a person to act on.
    pub detail: Option<String>,
    /// Successful connections so far.
    pub connects: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac::parse(&format!("0015650000{n:02x}")).expect("test MAC")
    }

    /// The states come from the column, whatever the document says; a row from before the
    /// column gets its flag from its document, and keeps it.
    #[tokio::test]
    async fn states_come_from_the_column_and_old_rows_are_filled_from_their_document() {
        let store = prov_store::open("sqlite::memory:").await.expect("store");
        let complete = serde_json::json!({"code": "1", "config_complete": true});
        let waiting = serde_json::json!({"code": "2"});
        // Written by this version: the column decides.
        store
            .put_pbx_device(mac(1), &waiting, Some(true))
            .await
            .expect("put");
        store
            .put_pbx_device(mac(2), &complete, Some(false))
            .await
            .expect("put");
        // Written before the column: the document decides, once.
        store
            .put_pbx_device(mac(3), &complete, None)
            .await
            .expect("put");
        store
            .put_pbx_device(mac(4), &waiting, None)
            .await
            .expect("put");
        let states = config_states(store.as_ref()).await.expect("states");
        let expected = HashMap::from([
            (mac(1), true),
            (mac(2), false),
            (mac(3), true),
            (mac(4), false),
        ]);
        assert_eq!(states, expected);
        assert_eq!(
            store.pbx_config_states().await.expect("states"),
            vec![
                (mac(1), Some(true)),
                (mac(2), Some(false)),
                (mac(3), Some(true)),
                (mac(4), Some(false)),
            ]
        );
        // The document saved by the server carries its own flag into the column.
        let doc = PbxDevice {
            config_complete: true,
            ..PbxDevice::default()
        };
        doc.save(store.as_ref(), mac(4)).await.expect("save");
        let states = config_states(store.as_ref()).await.expect("states");
        assert_eq!(states.get(&mac(4)), Some(&true));
    }
}
