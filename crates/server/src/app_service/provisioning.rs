//! `ProvisioningPhone` from Users: store the phone, redirect it at RPS, open its sysclient and
//! answer once Devices sent the configuration (or say what went wrong).

use std::sync::Arc;
use std::time::Duration;

use innovaphone::{ProvisioningPhone, SessionKey};
use tokio::sync::broadcast::error::RecvError;
use yealink::Mac;

use super::Innovaphone;
use super::sysclient::LinkEvent;
use prov_core::audit::Actor;
use prov_core::device_input::{DeviceInput, DevicePatch};
use prov_core::error::ServiceError;
use prov_core::pbx::record::PbxDevice;

/// How long Users waits for our answer while Devices sends the configuration.
pub const CONFIG_WAIT: Duration = Duration::from_secs(20);
/// How long a request waits for a PBX to name the Devices API.
pub const DEVICES_URL_WAIT: Duration = Duration::from_secs(5);

/// `Ok(note)`: answer ok. `Err(text)`: answer failed with `text`, written for a person.
pub async fn provision_phone(
    inn: &Arc<Innovaphone>,
    key: &SessionKey,
    req: &ProvisioningPhone,
) -> Result<String, String> {
    let missing = req.missing_fields();
    if !missing.is_empty() {
        return Err(format!(
            "ProvisioningPhone lacks {}; update Users or report this",
            missing.join(", ")
        ));
    }
    let mac =
        Mac::parse(&req.mac).map_err(|e| format!("{:?} is not a MAC address: {e}", req.mac))?;
    let password = if req.password.is_empty() {
        String::new()
    } else {
        req.decrypt_password(key).map_err(|e| {
            format!("cannot decrypt the user's password ({e}); the Users connection may use another instance password")
        })?
    };
    // Right after a (re)start the PBX may still be telling us about its services.
    let mut urls = inn.registry.watch_devices_url();
    let known = tokio::time::timeout(DEVICES_URL_WAIT, async {
        urls.wait_for(Option::is_some).await.is_ok()
    })
    .await
    .unwrap_or(false);
    if !known {
        return Err("Devices Service not found! The PBX has not offered the Devices API to the Yealink App object: tick Services on it, add devices-api in its Apps tab, and check that the PBX is connected".into());
    }

    upsert_device(inn, mac, req, &password)
        .await
        .map_err(|e| format!("cannot store the phone: {e}"))?;

    let store = inn.service.store().as_ref();
    let old = PbxDevice::load(store, mac)
        .await
        .map_err(|e| format!("cannot read the phone's innovaphone data: {e}"))?
        .unwrap_or_default();
    // A new code means a new assignment in Devices: start over with it.
    let same_code = old.code == req.code;
    let model = inn
        .service
        .cache()
        .by_mac(mac)
        .and_then(|r| r.model.clone());
    let doc = PbxDevice {
        code: req.code.clone(),
        hwid: if req.hwid.is_empty() {
            mac.to_string()
        } else {
            req.hwid.clone()
        },
        usename: req.usename.clone(),
        cn: req.cn.clone(),
        domain: req.domain.clone(),
        dns: req.dns.clone(),
        product: if same_code && !old.product.is_empty() {
            old.product.clone()
        } else {
            match model {
                Some(model) => format!("Yealink {model}"),
                None => "Yealink".to_owned(),
            }
        },
        version: if same_code && !old.version.is_empty() {
            old.version.clone()
        } else {
            "1".to_owned()
        },
        // Kept until Devices confirms the new code with a new password (sysclient.rs).
        sysclient_password: old.sysclient_password.clone(),
        code_pending: if same_code {
            old.code_pending
        } else {
            old.sysclient_password.is_some()
        },
        items: if same_code {
            old.items.clone()
        } else {
            Default::default()
        },
        config_complete: same_code && old.config_complete,
        config_received_at: if same_code {
            old.config_received_at
        } else {
            None
        },
        config_updated_at: if same_code {
            old.config_updated_at
        } else {
            None
        },
        mapping_notes: if same_code {
            old.mapping_notes.clone()
        } else {
            Vec::new()
        },
        pbx_update: None,
    };
    doc.save(store, mac)
        .await
        .map_err(|e| format!("cannot store the phone's innovaphone data: {e}"))?;
    inn.note_config_state(mac, doc.config_complete);

    let mut events = inn.sysclients.subscribe();
    inn.sysclients.start(inn, mac);
    wait_for_config(&mut events, mac, doc.config_complete).await
}

async fn upsert_device(
    inn: &Innovaphone,
    mac: Mac,
    req: &ProvisioningPhone,
    password: &str,
) -> Result<(), ServiceError> {
    let name = if req.cn.is_empty() {
        req.usename.clone()
    } else {
        req.cn.clone()
    };
    // Users asks on behalf of the PBX user the phone is for; ProvisioningPhone names no admin.
    let actor = Actor::Innovaphone {
        service: "Users (ProvisioningPhone)".into(),
        user: Some(req.usename.clone()).filter(|u| !u.is_empty()),
    };
    if inn.service.cache().by_mac(mac).is_some() {
        inn.service
            .update_device(
                mac,
                DevicePatch {
                    sip_user: Some(req.usename.clone()),
                    sip_password: Some(password.to_owned()),
                    registrar: Some(req.dns.clone()),
                    auth_name: Some(req.usename.clone()),
                    display_name: Some(name.clone()),
                    name: Some(name),
                    ..DevicePatch::default()
                },
                &actor,
            )
            .await?;
        // A phone provisioned again (new user, factory reset) must be sent to us again.
        inn.service.resend_redirect(mac, &actor).await
    } else {
        inn.service
            .add_device(
                DeviceInput {
                    mac: mac.to_string(),
                    sip_user: req.usename.clone(),
                    sip_password: password.to_owned(),
                    registrar: req.dns.clone(),
                    auth_name: None,
                    display_name: Some(name.clone()),
                    name: Some(name),
                    model: None,
                    overrides: Default::default(),
                },
                &actor,
            )
            .await
            .map(|_| ())
    }
}

async fn wait_for_config(
    events: &mut tokio::sync::broadcast::Receiver<(yealink::Mac, LinkEvent)>,
    mac: Mac,
    already_complete: bool,
) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + CONFIG_WAIT;
    let mut accepted = false;
    loop {
        let next = tokio::time::timeout_at(deadline, events.recv()).await;
        match next {
            Err(_) if accepted || already_complete => {
                return Ok("Devices took the phone; its configuration follows".into());
            }
            Err(_) => {
                return Err(format!(
                    "Devices did not answer within {CONFIG_WAIT:?}; the app keeps trying. Check that the Devices app is running and reachable from this server"
                ));
            }
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(RecvError::Closed)) => return Err("the service is shutting down".into()),
            Ok(Ok((m, _))) if m != mac => continue,
            Ok(Ok((_, LinkEvent::Accepted))) => accepted = true,
            Ok(Ok((_, LinkEvent::ConfigComplete | LinkEvent::Updated))) => {
                return Ok("configuration received from Devices".into());
            }
            Ok(Ok((_, LinkEvent::Rejected(text)))) => return Err(text),
        }
    }
}
