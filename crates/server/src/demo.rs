//! `yealink-prov demo`: the whole zero-touch flow on loopback, with simulated RPS and phone.

use std::time::Duration;

use anyhow::Context;
use prov_sim::SimPhone;
use prov_sim::rps::{RpsSim, RpsSimConfig};

use crate::app::Server;
use crate::config::{Config, StandardRpsAccount};
use crate::device_input::DeviceInput;
use crate::secret::{MASK, Secret, random_token};

const MAC: &str = "80:5e:c0:de:00:01";

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
        ..Config::default()
    };
    let server = Server::build(config).await?;
    let service = server.state().service.clone();
    let mut settings = service.settings().as_ref().clone();
    settings.public_base_url = Some(format!("http://{addr}"));
    service.update_settings(settings).await?;
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
        .add_device(DeviceInput {
            mac: MAC.into(),
            sip_user: "201".into(),
            sip_password: random_token(12),
            registrar: "pbx.example.com".into(),
            display_name: Some("Reception".into()),
            ..DeviceInput::default()
        })
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
    let history = service
        .store()
        .list_rps_history(&prov_store::HistoryQuery {
            limit: 10,
            ..Default::default()
        })
        .await?;
    for e in history.items.iter().rev() {
        println!(
            "    {:<18} {:<12} -> {} ({}, {} ms)",
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
        println!(
            "    {} {:<24} {} ({} bytes)",
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
    let view = crate::views::DeviceView::new(&service, &device, false);
    println!(
        "    {}  {}  Device Config: {}  Phone Requests: {}  Last Config Request: {}",
        view.mac,
        view.name,
        view.status.device_config,
        view.status.phone_requests,
        view.status
            .last_config_request
            .map_or_else(|| "-".to_owned(), |t| t.to_string())
    );

    let _ = stop.send(());
    running.await??;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\nDone: the phone went from the box to a working configuration with no one typing a URL."
    );
    Ok(())
}

/// The request log is written in batches; give it a moment before reading the status.
async fn wait_provisioned(service: &crate::service::Service, mac: yealink::Mac) {
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
