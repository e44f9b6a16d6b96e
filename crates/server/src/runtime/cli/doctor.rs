//! `yealink-prov doctor`.

use prov_core::config::Config;
use prov_core::service::Service;

use super::shared::open_service;

/// `yealink-prov doctor`: the factory-trust check and the RPS basics, one line each.
pub async fn run_doctor(config: &Config, json: bool) -> anyhow::Result<()> {
    use prov_core::doctor::{Finding, Level};
    let service = open_service(config).await?;
    let settings = service.settings();
    let tls_cert = config.listen_tls.and(config.tls_cert.as_deref());
    let mut findings = vec![prov_core::doctor::https_factory_trust(
        settings.public_base_url.as_deref(),
        tls_cert,
    )];
    if settings.public_base_url.is_none() {
        findings.push(Finding {
            check: "public_base_url",
            level: Level::Warn,
            text: format!(
                "public_base_url is not set: phones are sent to {}, which only suits a LAN",
                service.base_url()
            ),
        });
    }
    let status = service.rps_status(true).await?;
    findings.push(if !status.configured {
        Finding {
            check: "rps",
            level: Level::Info,
            text: "RPS is off: phones need their URL by DHCP option 66 or by hand".into(),
        }
    } else if status.reachable == Some(false) {
        Finding {
            check: "rps",
            level: Level::Warn,
            text: format!(
                "RPS ({}) is not reachable: {}",
                status.endpoint.as_deref().unwrap_or("-"),
                status.reachability.as_deref().unwrap_or("-")
            ),
        }
    } else {
        Finding {
            check: "rps",
            level: Level::Ok,
            text: format!(
                "RPS account configured ({}), endpoint {}",
                status.api.map_or("-".into(), |a| a.to_string()),
                status.reachability.as_deref().unwrap_or("-")
            ),
        }
    });
    findings.push(match (&status.server_url_warning, status.server_registered) {
        (Some(warning), _) => Finding {
            check: "rps_server",
            level: Level::Warn,
            text: warning.clone(),
        },
        (None, Some(true)) => Finding {
            check: "rps_server",
            level: Level::Ok,
            text: format!(
                "server {:?} registered for {}",
                status.server_name, status.server_url
            ),
        },
        (None, Some(false)) => Finding {
            check: "rps_server",
            level: Level::Warn,
            text: format!(
                "server {:?} is not registered: see `yealink-prov rps history --command ADD_SERVER`",
                status.server_name
            ),
        },
        (None, None) => Finding {
            check: "rps_server",
            level: Level::Info,
            text: format!(
                "server {:?} not registered yet (ADD SERVER is sent when the server starts)",
                status.server_name
            ),
        },
    });
    if let Some(finding) = myapps_frame_finding(config, &service).await? {
        findings.push(finding);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
        return Ok(());
    }
    for f in &findings {
        let tag = match f.level {
            Level::Ok => "ok  ",
            Level::Info => "info",
            Level::Warn => "WARN",
        };
        println!("[{tag}] {}: {}", f.check, f.text);
    }
    Ok(())
}

/// Who may frame the admin app in myApps, and who tried without being allowed (the app page
/// notes that); `None` without the innovaphone integration.
async fn myapps_frame_finding(
    config: &Config,
    service: &Service,
) -> anyhow::Result<Option<prov_core::doctor::Finding>> {
    use crate::app_service::frame_origins::{
        META_REFUSED_FRAMES, META_TOLD_ORIGINS, decode_list, parse_origins,
    };
    if !service.is_app_service() {
        return Ok(None);
    }
    let store = service.store();
    let mut allowed = parse_origins(&config.innovaphone.frame_origins).unwrap_or_default();
    allowed.extend(decode_list(
        store.get_meta(META_TOLD_ORIGINS).await?.as_deref(),
    ));
    let refused: Vec<String> = decode_list(store.get_meta(META_REFUSED_FRAMES).await?.as_deref())
        .into_iter()
        .filter(|o| !allowed.contains(o))
        .collect();
    let known = if allowed.is_empty() {
        "none yet besides https://<pbxDns> of a connected PBX".to_owned()
    } else {
        allowed.join(", ")
    };
    Ok(Some(if refused.is_empty() {
        prov_core::doctor::Finding {
            check: "myapps_frame",
            level: prov_core::doctor::Level::Ok,
            text: format!("origins that may frame the admin app in myApps: {known}"),
        }
    } else {
        prov_core::doctor::Finding {
            check: "myapps_frame",
            level: prov_core::doctor::Level::Warn,
            text: format!(
                "the admin app was opened in a frame on {} and refused there; if that is your \
                 myApps, add it to innovaphone.frame_origins (or \
                 YEALINK_PROV_INNOVAPHONE__FRAME_ORIGINS) and restart (allowed now: {known})",
                refused.join(", ")
            ),
        }
    }))
}
