//! Three `yealink-prov serve` processes on one PostgreSQL database, the simulated RPS and
//! PBX/Users/Devices; one instance is killed with SIGKILL while RPS commands are still going
//! out. Afterwards every phone is bound at RPS once, finished once in our history, connected to
//! Devices by one instance, served by the survivors, and the killed instance's phones were
//! taken over within 30 s (decisions 61 and 69). Skipped, with a printed reason, without
//! `TEST_DATABASE_URL`.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prov_sim::SimPhone;
use prov_sim::innovaphone::{DevicesSim, PbxConfig, PbxSim, UsersSim};
use prov_sim::rps::{Behavior, RpsSim, RpsSimConfig};
use serde_json::{Value, json};

const ADMIN: &str = "three-instances-admin-pw";
const PASSWORD: &str = "instance-password-4711";
const CATEGORY: &str = "Yealink";
/// Standalone phones, added through the API of each instance in turn.
const STANDALONE: usize = 30;
/// innovaphone phones, added through Users talking to each instance in turn.
const INNOVAPHONE: usize = 6;
/// The bound for the takeover after a SIGKILL.
const TAKEOVER: Duration = Duration::from_secs(30);

struct Instance {
    base: String,
    child: Child,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn serve(rps: &RpsSim, database_url: &str) -> Instance {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut c = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    c.args(["--database-url", database_url, "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .env("YEALINK_PROV_ADMIN_PASSWORD", ADMIN)
        .env("YEALINK_PROV_INNOVAPHONE__PASSWORD", PASSWORD)
        .env("YEALINK_PROV_RPS__API", "xmlrpc")
        .env("YEALINK_PROV_RPS__ENDPOINT", rps.xmlrpc_url())
        .env("YEALINK_PROV_RPS__USERNAME", "operator")
        .env("YEALINK_PROV_RPS__SECRET", "operator-secret")
        .env("YEALINK_PROV_RPS_RATE_PER_SECOND", "1000")
        .env("YEALINK_PROV_RPS_TIMEOUT_SECS", "5")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(key) = crate::helpers::pg_test_key_file(database_url) {
        c.env("YEALINK_PROV_SECRET_KEY_FILE", key);
    }
    Instance {
        base: format!("http://127.0.0.1:{port}"),
        child: c.spawn().expect("spawn serve"),
        _dir: dir,
    }
}

async fn wait(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn standalone_mac(i: usize) -> String {
    format!("805ec0{:06x}", 0x30_0000 + i)
}

fn innovaphone_mac(i: usize) -> String {
    format!("805ec0{:06x}", 0x31_0000 + i)
}

async fn api(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, format!("{base}/api/v1{path}"))
        .bearer_auth(ADMIN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_one_killed_mid_work_every_phone_done_once_and_taken_over() {
    let Some(database_url) = crate::helpers::fresh_postgres_url().await else {
        eprintln!("SKIPPED three-instance kill test: it needs PostgreSQL (TEST_DATABASE_URL)");
        return;
    };
    let rps = RpsSim::start(RpsSimConfig {
        xmlrpc_user: "operator".into(),
        xmlrpc_password: "operator-secret".into(),
        access_key_id: "AKID".into(),
        access_key_secret: "json-secret".into(),
    })
    .await
    .expect("rps sim");
    // Slow, so that commands are still going out when an instance is killed.
    rps.set_behavior(Behavior::Slow(Duration::from_millis(150)));
    let devices = DevicesSim::start("example.com").await.expect("devices sim");
    devices.add_category(CATEGORY, prov_sim::innovaphone::example_items());

    let mut instances: Vec<Instance> = (0..3).map(|_| serve(&rps, &database_url)).collect();
    let client = reqwest::Client::new();
    for i in &instances {
        let base = i.base.clone();
        wait(
            "an instance to serve",
            Duration::from_secs(60),
            async || {
                client
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            },
        )
        .await;
    }

    // The PBX connects to instance 0; Users talks to each instance in turn.
    let app_url = |n: usize| format!("{}/innovaphone-yealink", instances[n].base);
    let pbx = PbxSim::start(
        PbxConfig::new(&app_url(0), PASSWORD),
        Some(devices.websocket_url()),
    )
    .await;
    pbx.wait_logged_in(Duration::from_secs(15))
        .await
        .expect("PBX logs in");
    pbx.wait_subscribed(Duration::from_secs(15))
        .await
        .expect("PBX Services subscribed");
    // The PBX's domain becomes the RPS server name: that ADD SERVER, and the redirects of the
    // phones stored by then sent again, are a legitimate change, not work done twice; let it
    // settle before the phones come, so that each phone's commands are sent once.
    let pool = sqlx::PgPool::connect(&database_url).await.expect("pool");
    wait(
        "the ADD SERVER of the PBX's domain",
        Duration::from_secs(30),
        async || {
            let added = sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM rps_history WHERE command = 'ADD_SERVER' \
                 AND params->>'server_name' = 'example.com'",
            )
            .fetch_one(&pool)
            .await
            .is_ok_and(|n| n > 0);
            let queued = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rps_jobs")
                .fetch_one(&pool)
                .await
                .is_ok_and(|n| n == 0);
            added && queued
        },
    )
    .await;
    for p in 0..INNOVAPHONE {
        let cn = format!("User {p}");
        pbx.add_user(&cn, &format!("u{p}"), vec![]);
        let mac = innovaphone_mac(p);
        let outcome = UsersSim::add_phone(
            &pbx,
            &devices,
            &app_url(p % 3),
            PASSWORD,
            &cn,
            &mac,
            CATEGORY,
            "users-sip-secret",
        )
        .await
        .expect("Users talks to the app");
        assert_eq!(outcome.result, "ok", "{mac}: {:?}", outcome.raw);
    }
    // Standalone phones through every instance's API.
    for p in 0..STANDALONE {
        let r = api(
            &client,
            &instances[p % 3].base,
            reqwest::Method::POST,
            "/devices",
        )
        .await
        .json(&json!({
            "mac": standalone_mac(p),
            "sip_user": format!("{}", 3000 + p),
            "sip_password": format!("sip-secret-{p}"),
            "registrar": "pbx.test",
        }))
        .send()
        .await
        .expect("add device");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    // Which instance holds which innovaphone phone's sysclient.
    let holders = async |instances: &[Instance]| -> HashMap<String, usize> {
        let mut held = HashMap::new();
        for (n, i) in instances.iter().enumerate() {
            for p in 0..INNOVAPHONE {
                let mac = innovaphone_mac(p);
                let d: Value = match api(
                    &client,
                    &i.base,
                    reqwest::Method::GET,
                    &format!("/devices/{mac}"),
                )
                .await
                .send()
                .await
                {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(_) => continue,
                };
                if d["innovaphone"]["sysclient"]["status"] == "connected" {
                    held.insert(mac, n);
                }
            }
        }
        held
    };
    let before = holders(&instances).await;
    let killed = 1;
    let victims: Vec<String> = before
        .iter()
        .filter(|(_, n)| **n == killed)
        .map(|(m, _)| m.clone())
        .collect();
    assert!(
        !victims.is_empty(),
        "instance {killed} holds some phones: {before:?}"
    );

    // The admin signs in on the instance about to die (UI sessions live in the store).
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let signed_in = browser
        .post(format!("{}/ui/login", instances[killed].base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={ADMIN}"))
        .send()
        .await
        .expect("sign in");
    let cookie = signed_in
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("yp_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned();

    // Kill instance 1 while RPS commands are still going out.
    let device_calls = |rps: &RpsSim| {
        rps.calls()
            .iter()
            .filter(|c| c.mac.is_some() && c.method.contains("egister"))
            .count()
    };
    wait(
        "RPS commands to be under way",
        Duration::from_secs(60),
        async || device_calls(&rps) >= 4,
    )
    .await;
    let mut dead = instances.remove(killed);
    dead.child.kill().expect("SIGKILL");
    let killed_at = Instant::now();
    dead.child.wait().expect("reaped");
    let at_kill = device_calls(&rps);
    assert!(
        at_kill < 2 * (STANDALONE + INNOVAPHONE),
        "killed mid-work ({at_kill} device calls)"
    );
    rps.set_behavior(Behavior::Normal);

    // The survivors take the victims' sysclients over within 30 s.
    let connections: HashMap<String, u32> = victims
        .iter()
        .map(|m| {
            (
                m.clone(),
                devices.device(m).map(|d| d.connections).unwrap_or(0),
            )
        })
        .collect();
    wait(
        "the survivors to take the phones over",
        TAKEOVER,
        async || {
            victims.iter().all(|m| {
                devices
                    .device(m)
                    .is_some_and(|d| d.connected && d.connections > connections[m])
            })
        },
    )
    .await;
    eprintln!("takeover after SIGKILL: {:?}", killed_at.elapsed());

    // The outbox drains on the survivors.
    wait("the outbox to drain", Duration::from_secs(60), async || {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rps_jobs")
            .fetch_one(&pool)
            .await
            .is_ok_and(|n| n == 0)
    })
    .await;

    let all_macs: Vec<String> = (0..STANDALONE)
        .map(standalone_mac)
        .chain((0..INNOVAPHONE).map(innovaphone_mac))
        .collect();
    // RPS: every phone bound once; sent more than once only what was in flight at the kill.
    let bound = rps.devices();
    let mut sent: HashMap<String, usize> = HashMap::new();
    for call in rps.calls().iter().filter(|c| c.method.contains("egister")) {
        if let Some(m) = &call.mac {
            *sent.entry(m.clone()).or_default() += 1;
        }
    }
    for mac in &all_macs {
        assert_eq!(
            bound.iter().filter(|d| &d.mac == mac).count(),
            1,
            "{mac} bound once at RPS"
        );
    }
    let extra: usize = sent.values().map(|n| n.saturating_sub(2)).sum();
    assert!(
        extra <= 1,
        "only the killed instance's one in-flight command twice: {sent:?}"
    );
    // Our history: each phone's commands finished exactly once.
    let finished: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT mac, command, count(*) FROM rps_history WHERE mac IS NOT NULL GROUP BY mac, command",
    )
    .fetch_all(&pool)
    .await
    .expect("history");
    for (mac, command, n) in &finished {
        assert_eq!(*n, 1, "{mac} {command} finished once");
    }
    for mac in &all_macs {
        assert!(
            finished
                .iter()
                .any(|(m, c, _)| m == mac && c == "REDIRECT_DEVICE"),
            "{mac} redirected"
        );
    }
    // As an App Service without `innovaphone.domain` no instance sends ADD SERVER at start
    // (no name yet, never our host: decision 34); the PBX's login then sends one, once, for
    // all three (the start duty itself is tested in `instance.rs`).
    let add_server = |name: &'static str, outcome: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM rps_history WHERE command = 'ADD_SERVER' \
                 AND params->>'server_name' = $1 AND outcome = $2",
            )
            .bind(name)
            .bind(outcome)
            .fetch_one(&pool)
            .await
            .expect("history")
        }
    };
    assert_eq!(
        add_server("127.0.0.1", "ok").await,
        0,
        "no ADD SERVER under our host as an App Service"
    );
    assert_eq!(
        add_server("example.com", "ok").await,
        1,
        "the PBX's domain added once"
    );
    // Nothing else: the PBX's domain and App object URL together are one ADD SERVER, not one
    // each with the second answered "already done".
    let sent: Vec<(String, String)> = sqlx::query_as(
        "SELECT params->>'server_name', outcome FROM rps_history WHERE command = 'ADD_SERVER'",
    )
    .fetch_all(&pool)
    .await
    .expect("history");
    assert_eq!(sent.len(), 1, "ADD SERVER sent: {sent:?}");

    // Devices: one live connection per innovaphone phone, not moving between instances.
    let settled: HashMap<String, u32> = (0..INNOVAPHONE)
        .map(innovaphone_mac)
        .map(|m| {
            let d = devices.device(&m).expect("known");
            assert!(d.connected, "{m} connected");
            (m, d.connections)
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(6)).await;
    for (m, n) in &settled {
        assert_eq!(
            devices.device(m).map(|d| d.connections),
            Some(*n),
            "{m} stays with one instance"
        );
    }
    let after = holders(&instances).await;
    assert_eq!(
        after.len(),
        INNOVAPHONE,
        "each phone connected by one survivor: {after:?}"
    );

    // Every phone is served by the survivors.
    for (n, mac) in all_macs.iter().enumerate() {
        let survivor = &instances[n % 2].base;
        let mut phone = SimPhone::new(mac, "T54W", "96.86.0.100").expect("phone");
        assert!(
            phone.ask_rps(&rps.base_url()).await.expect("rps"),
            "{mac} redirected"
        );
        assert!(phone.switch_host(survivor), "{mac} has our URL");
        phone.provision().await.expect("served by a survivor");
        assert!(!phone.params().is_empty(), "{mac} got its configuration");
    }

    // The admin's session, opened on the killed instance, works on every survivor; without
    // the cookie the page sends to the sign-in form, so the 200 is the session's doing.
    for i in &instances {
        let page = browser
            .get(format!("{}/ui/devices", i.base))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .expect("devices page");
        assert_eq!(page.status(), 200, "session works on {}", i.base);
        let anonymous = browser
            .get(format!("{}/ui/devices", i.base))
            .send()
            .await
            .expect("devices page");
        assert_eq!(anonymous.status(), 303, "no cookie, no page on {}", i.base);
    }

    pool.close().await;
    for mut i in instances {
        let _ = i.child.kill();
        let _ = i.child.wait();
    }
    pbx.stop().await;
}

/// Decision 63: the live page of a browser signed in on instance B shows a phone request that
/// instance A served (PostgreSQL `LISTEN/NOTIFY`).
#[tokio::test]
async fn a_live_page_on_one_instance_sees_a_phone_served_by_another() {
    let Some(database_url) = crate::helpers::fresh_postgres_url().await else {
        eprintln!(
            "SKIPPED live updates across instances: they need PostgreSQL (TEST_DATABASE_URL)"
        );
        return;
    };
    let a = crate::helpers::spawn_app_on_url(&database_url).await;
    let b = crate::helpers::spawn_app_on_url(&database_url).await;
    let mac = "805ec0aabb77";
    a.add_device(json!({
        "mac": mac,
        "sip_user": "4711",
        "sip_password": "sip-secret-live",
        "registrar": "pbx.test",
    }))
    .await;

    // Signed in on B, B's live page open.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let signed_in = browser
        .post(format!("{}/ui/login", b.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={}", crate::helpers::ADMIN_PASSWORD))
        .send()
        .await
        .expect("sign in");
    let cookie = signed_in
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("yp_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned();
    let mut events = browser
        .get(format!("{}/ui/events", b.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);

    // The phone is served by A.
    let device = a.revealed(mac).await;
    let url = device["provisioning_url"].as_str().expect("url");
    let mut phone = SimPhone::new(mac, "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(url, None);
    phone.provision().await.expect("A serves the phone");

    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = events.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&format!("event: device\ndata: {mac}")) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "B's live page saw A's phone request: {seen:?}");
    drop(events);
    b.stop().await;
    a.stop().await;
}
