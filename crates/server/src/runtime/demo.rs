//! `yealink-prov demo`: the whole zero-touch flow on loopback, with simulated RPS and phone.

use std::time::Duration;

use anyhow::Context;
use prov_sim::SimPhone;
use prov_sim::rps::{RpsSim, RpsSimConfig};

use crate::runtime::app::Server;
use prov_core::config::{Config, StandardRpsAccount};
use prov_core::device_input::DeviceInput;
use prov_core::secret::{MASK, Secret, random_token};

const MAC: &str = "80:5e:c0:de:00:01";
const PBX_MAC: &str = "80:5e:c0:de:00:02";
/// The demo's App instance password (loopback only, thrown away at the end).
const INSTANCE_PASSWORD: &str = "demo-instance-password";

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

pub async fn run() -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    step(
        1,
        "Starting a simulated Yealink RPS (XML-RPC API) on loopback",
    );
    let rps_user = "demo-operator".to_owned();
    let rps_password = random_token(16);
    let sim = RpsSim::start(RpsSimConfig {
        xmlrpc_user: rps_user.clone(),
        xmlrpc_password: rps_password.clone(),
        access_key_id: "demo-key".into(),
        access_key_secret: random_token(16),
    })
    .await
    .context("cannot start the RPS simulator")?;
    println!("    RPS simulator: {}", sim.base_url());

    step(
        2,
        "Starting yealink-prov (SQLite in a temporary folder) with that RPS account",
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config = Config {
        listen: addr,
        data_dir: dir.clone(),
        admin_password: Some(Secret::new(random_token(24))),
        rps: StandardRpsAccount {
            api: Some(rps::RpsApi::Xmlrpc),
            endpoint: Some(sim.xmlrpc_url()),
            username: Some(rps_user),
            secret: Some(Secret::new(rps_password)),
        },
        // An App instance is created for a domain: the simulated PBX's. It names the RPS server
        // from the start, before the PBX logs in (docs/rps.md, "Server name").
        innovaphone: prov_core::config::InnovaphoneConfig {
            password: Some(Secret::new(INSTANCE_PASSWORD)),
            domain: Some("example.com".into()),
            ..Default::default()
        },
        ..Config::default()
    };
    let server = Server::build(config).await?;
    let service = server.state().service.clone();
    let mut settings = service.settings().as_ref().clone();
    settings.public_base_url = Some(format!("http://{addr}"));
    service
        .update_settings(settings, &prov_core::audit::Actor::Demo, false)
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(listener, async {
        let _ = stopped.await;
    }));
    println!(
        "    yealink-prov:  http://{addr}  (data in {})",
        dir.display()
    );

    step(
        3,
        "The administrator adds a phone: MAC, SIP user, password, registrar",
    );
    let record = service
        .add_device(
            DeviceInput {
                mac: MAC.into(),
                sip_user: "201".into(),
                sip_password: random_token(12),
                registrar: "pbx.example.com".into(),
                display_name: Some("Reception".into()),
                ..DeviceInput::default()
            },
            &prov_core::audit::Actor::Demo,
        )
        .await?;
    println!(
        "    added {} (SIP user 201, display name Reception)",
        record.mac
    );

    step(
        4,
        "yealink-prov tells RPS: ADD SERVER, DEREGISTER DEVICE, REDIRECT DEVICE",
    );
    let mac_text = record.mac.to_string();
    if !wait_until(Duration::from_secs(20), || {
        sim.devices().iter().any(|d| d.mac == mac_text)
    })
    .await
    {
        anyhow::bail!("RPS never got the redirect");
    }
    // RPS has the redirect a moment before the history records its answer.
    let query = prov_store::HistoryQuery {
        limit: 10,
        ..Default::default()
    };
    wait_until_async(Duration::from_secs(10), async || {
        service
            .store()
            .list_rps_history(&query)
            .await
            .is_ok_and(|h| {
                h.items
                    .iter()
                    .any(|e| e.command == "REDIRECT_DEVICE" && e.mac == Some(record.mac))
            })
    })
    .await;
    let history = service.store().list_rps_history(&query).await?;
    for e in history.items.iter().rev() {
        // RPS answers a DEREGISTER of a MAC it does not hold with an error text; for a new
        // phone that is the expected answer, recorded as `already_done`.
        let expected = if e.outcome == "already_done" {
            "  <- expected: a new phone is not at RPS yet, nothing to deregister"
        } else {
            ""
        };
        println!(
            "    {:<18} {:<12} -> {} ({}, {} ms){expected}",
            e.command,
            e.mac.map_or("-".into(), |m| m.to_string()),
            e.answer,
            e.outcome,
            e.duration_ms
        );
    }

    step(5, "A factory-fresh phone boots and asks RPS where to go");
    let mut phone = SimPhone::new(MAC, "T46U", "108.86.0.90")?;
    println!("    User-Agent: {}", phone.user_agent());
    if !phone.ask_rps(&sim.base_url()).await? {
        anyhow::bail!("RPS did not know the phone");
    }
    let url = phone.provisioning_server().unwrap_or_default().to_owned();
    println!("    RPS answered: {}", url.replace(&record.url_token, MASK));

    step(6, "The phone fetches its files from yealink-prov");
    let run = phone.provision().await?;
    for f in &run.requests {
        // A first boot has uploaded no local changes yet, so that file is not there.
        let expected = if f.status == 404 && f.file.ends_with("-local.cfg") {
            "  <- expected on a first boot: the phone has uploaded no local changes yet"
        } else {
            ""
        };
        println!(
            "    {} {:<24} {} ({} bytes){expected}",
            f.method, f.file, f.status, f.bytes
        );
    }
    for key in [
        "account.1.user_name",
        "account.1.display_name",
        "account.1.sip_server.1.address",
        "local_time.time_zone_name",
        "static.auto_provision.repeat.minutes",
    ] {
        if let Some(v) = phone.params().get(key) {
            println!("    {key} = {v}");
        }
    }

    step(7, "The Devices tab");
    wait_provisioned(&service, record.mac).await;
    let device = service.get_device(record.mac).await?;
    let view = prov_core::views::DeviceView::new(&service, &device, false);
    println!(
        "    {}  {}  Device Config: {}  Phone Requests: {}  Last Config Request: {}",
        view.mac,
        view.name,
        view.status.device_config,
        view.status.phone_requests,
        crate::runtime::cli::when_or_dash(view.status.last_config_request)
    );

    let (pbx, devices) = innovaphone_flow(&service, &sim, &format!("http://{addr}")).await?;

    // The server first: stopped before it, the simulated Devices app would leave the server
    // retrying its connections with warnings on the way out.
    let _ = stop.send(());
    running.await??;
    pbx.stop().await;
    devices.stop().await;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\nDone: both phones went from the box to a working configuration with no one typing a URL."
    );
    Ok(())
}

/// Part two: the same server as an innovaphone App Service.
async fn innovaphone_flow(
    service: &prov_core::service::Service,
    rps: &RpsSim,
    base: &str,
) -> anyhow::Result<(
    prov_sim::innovaphone::PbxSim,
    prov_sim::innovaphone::DevicesSim,
)> {
    use prov_sim::innovaphone::{DevicesSim, PbxConfig, PbxSim, UsersSim, example_items};

    println!("\n--- Part two: the same service as an innovaphone App Service ---");
    step(8, "Starting a simulated innovaphone Devices app and PBX");
    let devices = DevicesSim::start("example.com").await?;
    devices.add_category("Yealink phones", example_items());
    let app_url = format!("{base}/innovaphone-yealink");
    let pbx = PbxSim::start(
        PbxConfig::new(&app_url, INSTANCE_PASSWORD),
        Some(devices.websocket_url()),
    )
    .await;
    pbx.wait_logged_in(Duration::from_secs(10)).await?;
    pbx.wait_subscribed(Duration::from_secs(10)).await?;
    if !wait_until(Duration::from_secs(5), || pbx.app_info_result().is_some()).await {
        anyhow::bail!("the PBX got no AppInfoResult");
    }
    println!("    the PBX connected to {app_url} and logged in with the instance password");
    println!(
        "    published provider: {}",
        pbx.app_info_result()
            .map(|v| v["serviceInfo"].to_string())
            .unwrap_or_default()
    );
    println!("    Devices API found at {}", devices.websocket_url());

    step(
        9,
        "John Doe clicks \"+ Phone\" in myApps Profile, picks Yealink and enters the MAC",
    );
    pbx.add_user("John Doe", "jdoe", Vec::new());
    let outcome = UsersSim::add_phone(
        &pbx,
        &devices,
        &app_url,
        INSTANCE_PASSWORD,
        "John Doe",
        PBX_MAC,
        "Yealink phones",
        &random_token(12),
    )
    .await?;
    println!(
        "    Users -> ProvisioningPhone -> yealink-prov: {}{}",
        outcome.result,
        outcome.error.map(|e| format!(" ({e})")).unwrap_or_default()
    );
    let mac = yealink::Mac::parse(PBX_MAC)?;
    let doc = prov_core::pbx::record::PbxDevice::load(service.store().as_ref(), mac)
        .await?
        .context("no innovaphone data stored")?;
    println!(
        "    sysclient to Devices: configuration items {:?}, complete: {}",
        doc.items.keys().collect::<Vec<_>>(),
        doc.config_complete
    );
    for note in &doc.mapping_notes {
        println!("    note: {note}");
    }

    step(
        10,
        "RPS redirects the phone; it fetches a configuration built from Users and Devices",
    );
    let mut phone = SimPhone::new(PBX_MAC, "T54W", "96.86.0.100")?;
    if !wait_until_async(Duration::from_secs(20), async || {
        phone.ask_rps(&rps.base_url()).await.unwrap_or(false)
    })
    .await
    {
        anyhow::bail!("RPS never learned the innovaphone phone");
    }
    phone.provision().await?;
    for key in [
        "account.1.user_name",
        "account.1.sip_server.1.address",
        "account.1.codec.g722.priority",
        "static.sip.nat_stun.server",
        "local_time.ntp_server1",
        "local_time.time_zone_name",
    ] {
        if let Some(v) = phone.params().get(key) {
            println!("    {key} = {v}");
        }
    }

    step(
        11,
        "After the fetch, the device on John Doe's user object gets its flags",
    );
    let flagged = || {
        pbx.user("John Doe")
            .and_then(|u| u["devices"].as_array().cloned())
            .and_then(|d| d.into_iter().find(|d| d["hw"] == mac.to_string()))
    };
    wait_until(Duration::from_secs(10), || {
        flagged().is_some_and(|d| d.get("mr").is_some())
    })
    .await;
    println!(
        "    {}",
        flagged().map(|d| d.to_string()).unwrap_or_default()
    );
    wait_provisioned(service, mac).await;
    let device = service.get_device(mac).await?;
    let view = prov_core::views::DeviceView::new(service, &device, false);
    println!(
        "    Devices tab: {}  Device Config: {}  Phone Requests: {}",
        view.mac, view.status.device_config, view.status.phone_requests
    );

    step(
        12,
        "An administrator changes the NTP server in Devices; the phone's next fetch has it",
    );
    devices.update_item(
        "Yealink phones",
        serde_json::json!({"type": "NTP", "ntp1": "ntp.changed.example.com", "tz": "CET-1CEST-2,M3.5.0/2,M10.5.0/3"}),
    );
    let changed = wait_until_async(Duration::from_secs(10), async || {
        phone.provision().await.is_ok()
            && phone
                .params()
                .get("local_time.ntp_server1")
                .map(String::as_str)
                == Some("ntp.changed.example.com")
    })
    .await;
    println!(
        "    local_time.ntp_server1 = {}{}",
        phone
            .params()
            .get("local_time.ntp_server1")
            .map_or("-", String::as_str),
        if changed { "" } else { "  (update not seen!)" }
    );
    Ok((pbx, devices))
}

async fn wait_until_async(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// The request log is written in batches; give it a moment before reading the status.
async fn wait_provisioned(service: &prov_core::service::Service, mac: yealink::Mac) {
    for _ in 0..50 {
        if service
            .store()
            .get_status(mac)
            .await
            .is_ok_and(|s| s.provisioned_at.is_some())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_until(limit: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("yealink-prov-demo-{}", random_token(8)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
