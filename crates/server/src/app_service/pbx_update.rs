//! After the phone fetched its configuration: set Media Relay, TLS only and (unless left as the
//! PBX has it) Reverse Proxy on its device of the PBX user object (GetObject by the user's SIP
//! name, then UpdateObject by guid with every device kept).

use std::sync::Arc;

use innovaphone::DeviceFlags;
use serde_json::{Value, json};
use time::OffsetDateTime;
use yealink::{Mac, Transport};

use super::Innovaphone;
use prov_core::pbx::record::{PbxDevice, PbxUpdate};

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
    let effective = prov_core::service::effective_settings(&record, &settings.phone);
    Some(DeviceFlags {
        mr: effective.media_relay,
        tls: effective.sip_transport == Transport::Tls,
        trusted: settings.pbx_reverse_proxy.wanted(),
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
    if done_already(&doc, flags) {
        return;
    }
    if !inn.registry.has_admin_session() {
        // The PBX is connected to another instance (or none): ask it through the database;
        // it makes the update (Innovaphone::spawn_peer_sync). Recorded as not done yet.
        let wanted = prov_core::secret::random_token(12);
        if let Err(e) = store.set_meta(super::META_PBX_UPDATE_WANTED, &wanted).await {
            tracing::warn!(%mac, error = %e, "could not ask the other instances for the PBX update");
        }
    }
    // One instance at a time per phone: two with a PBX connection could both be asked.
    let lease = format!("pbx_update:{mac}");
    let until = OffsetDateTime::now_utc() + prov_store::INSTANCE_STALE_AFTER;
    match store.acquire_lease(&lease, inn.instance.id(), until).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(%mac, "another instance is updating this phone's user object");
            return;
        }
        Err(e) => {
            tracing::warn!(%mac, error = %e, "cannot take the phone's PBX update lease");
            return;
        }
    }
    // Another instance may have made it while we waited for the lease.
    if let Ok(Some(fresh)) = PbxDevice::load(store.as_ref(), mac).await {
        doc = fresh;
    }
    if done_already(&doc, flags) {
        let _ = store.release_lease(&lease, inn.instance.id()).await;
        return;
    }
    let outcome = set_flags(inn, &doc, flags).await;
    let update = match &outcome {
        Ok((text, trusted)) => {
            tracing::info!(%mac, cn = %doc.cn, "device flags set on the PBX user object");
            PbxUpdate {
                at: OffsetDateTime::now_utc(),
                ok: true,
                text: text.clone(),
                flags: Some([flags.mr, flags.tls, *trusted]),
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
    if let Err(e) = store.release_lease(&lease, inn.instance.id()).await {
        tracing::debug!(%mac, error = %e, "could not release the PBX update lease; it goes with the heartbeat");
    }
}

/// A kept Reverse Proxy flag matches whatever was read last time.
fn done_already(doc: &PbxDevice, flags: DeviceFlags) -> bool {
    doc.pbx_update.as_ref().is_some_and(|u| {
        u.ok && u.flags.is_some_and(|[mr, tls, trusted]| {
            mr == flags.mr && tls == flags.tls && flags.trusted.is_none_or(|t| t == trusted)
        })
    })
}

/// `Ok((what was done, the Reverse Proxy flag now on the device))`.
async fn set_flags(
    inn: &Innovaphone,
    doc: &PbxDevice,
    flags: DeviceFlags,
) -> Result<(String, bool), UpdateError> {
    let object = get_user_object(inn, doc).await?;
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
    let trusted = devices
        .iter()
        .find(|d| {
            d.get("hw").and_then(Value::as_str).is_some_and(|hw| {
                innovaphone::normalize_hw(hw) == innovaphone::normalize_hw(&doc.hwid)
            })
        })
        .and_then(|d| d.get("trusted"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    inn.registry
        .admin_request("UpdateObject", json!({ "guid": guid, "devices": devices }))
        .await?;
    let proxy = match flags.trusted {
        Some(t) => on_off(t).to_owned(),
        None => format!("{} (left as the PBX has it)", on_off(trusted)),
    };
    Ok((
        format!(
            "device {} of {}: Media Relay {}, TLS only {}, Reverse Proxy {}",
            doc.hwid,
            doc.cn,
            on_off(flags.mr),
            on_off(flags.tls),
            proxy
        ),
        trusted,
    ))
}

/// The user object by its SIP name (`h323`, unique; PbxAdminApi 14r1 `GetObject` accepts it),
/// falling back to the long name (`cn`, not unique; the caller checks the `h323`) for a PBX that
/// does not know the `h323` lookup.
async fn get_user_object(inn: &Innovaphone, doc: &PbxDevice) -> Result<Value, UpdateError> {
    if doc.usename.is_empty() {
        return Ok(inn
            .registry
            .admin_request("GetObject", json!({ "cn": doc.cn }))
            .await?);
    }
    match inn
        .registry
        .admin_request("GetObject", json!({ "h323": doc.usename }))
        .await
    {
        Ok(object) if object.get("guid").and_then(Value::as_str).is_some() => Ok(object),
        Ok(_) | Err(super::registry::PbxError::Answer { .. }) if !doc.cn.is_empty() => {
            tracing::debug!(user = %doc.usename, "GetObject by h323 found nothing; trying the long name");
            Ok(inn
                .registry
                .admin_request("GetObject", json!({ "cn": doc.cn }))
                .await?)
        }
        other => Ok(other?),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
