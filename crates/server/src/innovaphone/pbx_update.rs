//! After the phone fetched its configuration: set Media Relay, TLS only and Reverse Proxy on
//! its device of the PBX user object (GetObject, then UpdateObject with every device kept).

use std::sync::Arc;

use innovaphone::DeviceFlags;
use serde_json::{Value, json};
use time::OffsetDateTime;
use yealink::{Mac, Transport};

use super::Innovaphone;
use super::record::{PbxDevice, PbxUpdate};

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Pbx(#[from] super::registry::PbxError),
    #[error(
        "user object {cn:?} has SIP name {found:?}, not {expected:?}; its devices were left alone"
    )]
    WrongUser {
        cn: String,
        found: String,
        expected: String,
    },
    #[error("{0}")]
    Protocol(String),
}

/// The flags our settings ask for, for this phone.
pub fn wanted_flags(inn: &Innovaphone, mac: Mac) -> Option<DeviceFlags> {
    let record = inn.service.cache().by_mac(mac)?;
    let settings = inn.service.settings();
    let effective = crate::service::effective_settings(&record, &settings.phone);
    Some(DeviceFlags {
        mr: effective.media_relay,
        tls: effective.sip_transport == Transport::Tls,
        trusted: settings.pbx_reverse_proxy,
    })
}

/// Updates the user object unless these flags were already set; records the outcome.
pub async fn update_after_fetch(inn: &Arc<Innovaphone>, mac: Mac) {
    let store = inn.service.store().clone();
    let Ok(Some(mut doc)) = PbxDevice::load(store.as_ref(), mac).await else {
        return;
    };
    let Some(flags) = wanted_flags(inn, mac) else {
        return;
    };
    let as_array = [flags.mr, flags.tls, flags.trusted];
    if doc
        .pbx_update
        .as_ref()
        .is_some_and(|u| u.ok && u.flags == Some(as_array))
    {
        return;
    }
    let outcome = set_flags(inn, &doc, flags).await;
    let update = match &outcome {
        Ok(text) => {
            tracing::info!(%mac, cn = %doc.cn, "device flags set on the PBX user object");
            PbxUpdate {
                at: OffsetDateTime::now_utc(),
                ok: true,
                text: text.clone(),
                flags: Some(as_array),
            }
        }
        Err(e) => {
            tracing::warn!(%mac, cn = %doc.cn, error = %e, "could not update the PBX user object");
            PbxUpdate {
                at: OffsetDateTime::now_utc(),
                ok: false,
                text: e.to_string(),
                flags: None,
            }
        }
    };
    // Re-read: the sysclient may have written meanwhile.
    if let Ok(Some(fresh)) = PbxDevice::load(store.as_ref(), mac).await {
        doc = fresh;
    }
    doc.pbx_update = Some(update);
    if let Err(e) = doc.save(store.as_ref(), mac).await {
        tracing::warn!(%mac, error = %e, "could not record the PBX update");
    }
}

async fn set_flags(
    inn: &Innovaphone,
    doc: &PbxDevice,
    flags: DeviceFlags,
) -> Result<String, UpdateError> {
    let object = inn
        .registry
        .admin_request("GetObject", json!({ "cn": doc.cn }))
        .await?;
    let h323 = object
        .get("h323")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !doc.usename.is_empty() && !h323.eq_ignore_ascii_case(&doc.usename) {
        return Err(UpdateError::WrongUser {
            cn: doc.cn.clone(),
            found: h323.to_owned(),
            expected: doc.usename.clone(),
        });
    }
    let guid = object
        .get("guid")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            UpdateError::Protocol(format!("GetObject for {:?} returned no guid", doc.cn))
        })?
        .to_owned();
    let devices = innovaphone::set_device_flags(&object, &doc.hwid, flags)
        .map_err(|e| UpdateError::Protocol(format!("user {:?}: {e}", doc.cn)))?;
    inn.registry
        .admin_request("UpdateObject", json!({ "guid": guid, "devices": devices }))
        .await?;
    Ok(format!(
        "device {} of {}: Media Relay {}, TLS only {}, Reverse Proxy {}",
        doc.hwid,
        doc.cn,
        on_off(flags.mr),
        on_off(flags.tls),
        on_off(flags.trusted)
    ))
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
