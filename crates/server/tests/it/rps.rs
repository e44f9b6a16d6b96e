//! Yealink RPS: the server registers itself, redirects every phone through the persisted
//! outbox, and keeps the history; checked against the RPS simulator, which was written from the
//! protocol docs and not from our client.

use std::time::Duration;

use prov_core::config::{Config, StandardRpsAccount};
use prov_core::secret::Secret;
use prov_sim::SimPhone;
use prov_sim::rps::{Behavior, RpsSim, RpsSimConfig};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{TestApp, device_json, spawn_app, spawn_app_on_url_with, spawn_app_with};

pub(crate) fn sim_config() -> RpsSimConfig {
    RpsSimConfig {
        xmlrpc_user: "operator".into(),
        xmlrpc_password: "operator-secret".into(),
        access_key_id: "AKID-TEST".into(),
        access_key_secret: "json-secret-value".into(),
    }
}

fn use_rps(config: &mut Config, sim: &RpsSim, api: rps::RpsApi) {
    let (endpoint, username, secret) = match api {
        rps::RpsApi::Xmlrpc => (sim.xmlrpc_url(), "operator", "operator-secret"),
        rps::RpsApi::Json => (sim.json_base_url(), "AKID-TEST", "json-secret-value"),
    };
    config.rps = StandardRpsAccount {
        api: Some(api),
        endpoint: Some(endpoint),
        username: Some(username.into()),
        secret: Some(Secret::new(secret)),
    };
    config.rps_rate_per_second = 1000;
    config.rps_timeout_secs = 2;
}

async fn history(app: &TestApp, query: &str) -> Value {
    app.api(Method::GET, &format!("/rps/history{query}"))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json")
}

/// Polls `check` for up to `secs` seconds.
async fn eventually(secs: u64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn zero_touch(api: rps::RpsApi) {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app_with(|c| use_rps(c, &sim, api)).await;
    app.add_device(device_json("805ec0aacd01", "611")).await;
    let device = app.revealed("805ec0aacd01").await;
    let url = device["provisioning_url"].as_str().expect("url").to_owned();

    eventually(20, "RPS knows the phone", async || {
        sim.devices()
            .iter()
            .any(|d| d.mac == "805ec0aacd01" && d.unique_url.as_deref() == Some(url.as_str()))
    })
    .await;
    // The server registered itself at start-up, under the first 24 characters of its domain.
    assert!(
        sim.servers().iter().any(|s| s.name == "127.0.0.1"),
        "{:?}",
        sim.servers()
    );

    // A factory-fresh phone asks RPS where to go and gets its configuration there.
    let mut phone = SimPhone::new("805ec0aacd01", "T46U", "108.86.0.90").expect("phone");
    assert!(phone.ask_rps(&sim.base_url()).await.expect("ask rps"));
    phone.provision().await.expect("provisions after RPS");
    assert_eq!(
        phone
            .params()
            .get("account.1.user_name")
            .map(String::as_str),
        Some("611")
    );

    // History: ADD SERVER, DEREGISTER DEVICE ("Invalid MAC(s)" for a new phone is expected),
    // REDIRECT DEVICE, each once, with no secret in it.
    let h = history(&app, "?mac=805ec0aacd01").await;
    let items = h["items"].as_array().expect("items");
    let commands: Vec<&str> = items.iter().filter_map(|e| e["command"].as_str()).collect();
    assert_eq!(commands, ["REDIRECT_DEVICE", "DEREGISTER_DEVICE"], "{h}");
    assert_eq!(items[0]["outcome"], "ok", "{h}");
    assert_eq!(items[1]["outcome"], "already_done", "{h}");
    let all = history(&app, "").await.to_string();
    let token = url.trim_end_matches('/').rsplit('/').next().expect("token");
    assert!(!all.contains(token), "no URL token in the history: {all}");
    assert!(!all.contains(device["http_password"].as_str().expect("pw")));
    assert!(!all.contains("operator-secret") && !all.contains("json-secret-value"));
    assert!(all.contains("ADD_SERVER"));

    // Removing the phone deregisters it.
    app.api(Method::DELETE, "/devices/805ec0aacd01")
        .send()
        .await
        .expect("delete");
    eventually(20, "RPS forgot the phone", async || {
        !sim.devices().iter().any(|d| d.mac == "805ec0aacd01")
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_touch_with_xmlrpc() {
    zero_touch(rps::RpsApi::Xmlrpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_touch_with_the_signed_json_api() {
    zero_touch(rps::RpsApi::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_phones_added_while_rps_is_down_are_all_redirected_once() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    sim.set_behavior(Behavior::Down503);
    let app = spawn_app_with(|c| use_rps(c, &sim, rps::RpsApi::Xmlrpc)).await;
    let csv: String = std::iter::once("mac,sip_user,sip_password,registrar".to_owned())
        .chain((0..1000).map(|i| format!("805ec1{i:06x},{},pw{i},pbx.test", 1000 + i)))
        .collect::<Vec<_>>()
        .join("\n");
    let report: Value = app
        .api(Method::POST, "/devices/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import")
        .json()
        .await
        .expect("json");
    assert_eq!(report["imported"], 1000);

    // RPS is down: commands wait with their error, nothing is recorded as done.
    eventually(20, "a failed attempt is visible", async || {
        history(&app, "").await["pending"]
            .as_array()
            .is_some_and(|p| p.iter().any(|j| j["last_error"].is_string()))
    })
    .await;
    let database_url = app.database_url.clone();
    // A restart loses nothing: the queue is in the database.
    let _data = app.stop_keeping_data().await;
    let app = spawn_app_on_url_with(&database_url, |c| use_rps(c, &sim, rps::RpsApi::Xmlrpc)).await;

    sim.set_behavior(Behavior::Normal);
    let retried = app
        .api(Method::POST, "/rps/retry")
        .send()
        .await
        .expect("retry");
    assert_eq!(retried.status(), 200);
    eventually(120, "1,000 phones redirected", async || {
        sim.devices().len() == 1000
    })
    .await;
    eventually(30, "the queue drained", async || {
        history(&app, "").await["pending"]
            .as_array()
            .is_some_and(Vec::is_empty)
    })
    .await;
    let redirects = history(&app, "?command=REDIRECT_DEVICE&limit=1").await;
    assert_eq!(redirects["total"], 1000, "each REDIRECT recorded once");
    let deregisters = history(&app, "?command=DEREGISTER_DEVICE&limit=1").await;
    assert_eq!(deregisters["total"], 1000, "each DEREGISTER recorded once");
    app.stop().await;
}

#[tokio::test]
async fn without_an_account_rps_is_off_and_says_so() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aacd09", "619")).await;
    let h = history(&app, "?mac=805ec0aacd09").await;
    assert_eq!(h["items"][0]["outcome"], "off", "{h}");
    assert!(
        h["items"][0]["answer"]
            .as_str()
            .unwrap_or_default()
            .contains("DHCP option 66"),
        "{h}"
    );
    let status: Value = app
        .api(Method::GET, "/rps/status")
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["configured"], false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customers_own_account_is_used_and_its_secret_never_shown() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app().await;
    let response = app
        .api(Method::PATCH, "/settings")
        .json(&serde_json::json!({
            "rps_mode": "own",
            "rps_api": "json",
            "rps_endpoint": sim.json_base_url(),
            "rps_username": "AKID-TEST",
            "rps_secret": "json-secret-value",
        }))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), 200);
    let shown = response.text().await.expect("text");
    assert!(!shown.contains("json-secret-value"), "{shown}");
    assert!(shown.contains("\"rps_secret\":\"********\""), "{shown}");
    app.add_device(device_json("805ec0aacd02", "612")).await;
    eventually(20, "redirected with the own account", async || {
        sim.devices().iter().any(|d| d.mac == "805ec0aacd02")
    })
    .await;
    let check: Value = app
        .api(Method::POST, "/rps/check/805ec0aacd02")
        .send()
        .await
        .expect("check")
        .json()
        .await
        .expect("json");
    assert_eq!(check["command"], "CHECK_DEVICE");
    assert_eq!(check["answer"], "registered", "{check}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_rps_times_out_and_the_command_is_retried() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    sim.set_behavior(Behavior::Slow(Duration::from_secs(3)));
    let app = spawn_app_with(|c| {
        use_rps(c, &sim, rps::RpsApi::Xmlrpc);
        c.rps_timeout_secs = 1;
    })
    .await;
    app.add_device(device_json("805ec0aacd03", "613")).await;
    eventually(
        20,
        "the timeout is visible on the waiting command",
        async || {
            history(&app, "").await["pending"]
                .as_array()
                .is_some_and(|p| {
                    p.iter().any(|j| {
                        j["last_error"]
                            .as_str()
                            .is_some_and(|e| e.contains("did not answer in time"))
                    })
                })
        },
    )
    .await;
    sim.set_behavior(Behavior::Normal);
    app.api(Method::POST, "/rps/retry")
        .send()
        .await
        .expect("retry");
    eventually(60, "redirected once RPS is fast again", async || {
        sim.devices().iter().any(|d| d.mac == "805ec0aacd03")
    })
    .await;
    app.stop().await;
}

/// RPS answering HTTP 200 with a body that is neither XML-RPC nor JSON: the commands wait with
/// a clear error (no secret in it), nothing crashes, `/healthz` keeps answering, and the
/// redirect goes through once RPS answers properly again. Both APIs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rps_answering_garbage_is_retried_and_shown() {
    for (api, mac, user) in [
        (rps::RpsApi::Xmlrpc, "805ec0aacd41", "641"),
        (rps::RpsApi::Json, "805ec0aacd42", "642"),
    ] {
        let sim = RpsSim::start(sim_config()).await.expect("rps sim");
        sim.set_behavior(Behavior::Garbage);
        let app = spawn_app_with(|c| use_rps(c, &sim, api)).await;
        app.add_device(device_json(mac, user)).await;
        // ADD SERVER meets the garbage first and is retried with its error shown; the phone's
        // commands wait behind it, none is lost or finished as done.
        eventually(
            20,
            "the garbled answer is visible on the waiting command",
            async || {
                history(&app, "").await["pending"]
                    .as_array()
                    .is_some_and(|pending| {
                        pending.iter().any(|j| {
                            j["attempts"].as_u64().is_some_and(|n| n >= 1)
                                && j["last_error"]
                                    .as_str()
                                    .is_some_and(|e| e.contains("unreadable"))
                        }) && pending.iter().any(|j| j["mac"] == mac)
                    })
            },
        )
        .await;
        assert!(
            history(&app, &format!("?mac={mac}")).await["items"]
                .as_array()
                .is_some_and(|done| done.iter().all(|e| e["outcome"] != "ok")),
            "nothing recorded as done while RPS answers garbage"
        );
        let pending = history(&app, "").await["pending"].to_string();
        for secret in ["operator-secret", "json-secret-value", "sip-secret-"] {
            assert!(!pending.contains(secret), "{api:?}: {pending}");
        }
        let health = app
            .client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .expect("healthz");
        assert!(health.status().is_success(), "{api:?}: still healthy");

        sim.set_behavior(Behavior::Normal);
        app.api(Method::POST, "/rps/retry")
            .send()
            .await
            .expect("retry");
        eventually(60, "redirected once RPS answers properly", async || {
            sim.devices().iter().any(|d| d.mac == mac)
        })
        .await;
        app.stop().await;
    }
}

/// `rps status`, `rps check` and `rps history` of the real binary, against the simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rps_commands_of_the_cli() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app_with(|c| use_rps(c, &sim, rps::RpsApi::Xmlrpc)).await;
    app.add_device(device_json("805ec0aacd04", "614")).await;
    eventually(20, "redirected", async || {
        sim.devices().iter().any(|d| d.mac == "805ec0aacd04")
    })
    .await;
    let run = |args: &'static [&'static str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
        command
            .args(args)
            .arg("--database-url")
            .arg(&app.database_url)
            .env("RUST_LOG", "warn")
            .env("YEALINK_PROV_RPS__API", "xmlrpc")
            .env("YEALINK_PROV_RPS__ENDPOINT", sim.xmlrpc_url())
            .env("YEALINK_PROV_RPS__USERNAME", "operator")
            .env("YEALINK_PROV_RPS__SECRET", "operator-secret");
        tokio::task::spawn_blocking(move || command.output().expect("run"))
    };
    let out = run(&["rps", "status", "--json"]).await.expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(status["configured"], true, "{status}");
    assert_eq!(status["reachable"], true, "{status}");
    assert_eq!(status["server_registered"], true, "{status}");
    assert_eq!(status["secret"], "********");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("operator-secret"));

    let out = run(&["rps", "check", "805ec0aacd04"]).await.expect("check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("registered"), "{text}");

    let out = run(&["rps", "history", "--json"]).await.expect("history");
    let h: Value = serde_json::from_slice(&out.stdout).expect("json");
    let commands: Vec<&str> = h["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["command"].as_str())
        .collect();
    for expected in [
        "CHECK_DEVICE",
        "REDIRECT_DEVICE",
        "DEREGISTER_DEVICE",
        "ADD_SERVER",
    ] {
        assert!(commands.contains(&expected), "{commands:?}");
    }
    app.stop().await;
}

/// `yealink-prov demo` runs the whole flow and says so.
#[tokio::test]
async fn the_demo_runs_end_to_end() {
    let out = tokio::task::spawn_blocking(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_yealink-prov"))
            .arg("demo")
            .env("RUST_LOG", "warn")
            .output()
            .expect("demo")
    })
    .await
    .expect("task");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("REDIRECT_DEVICE"), "{text}");
    assert!(text.contains("GET 805ec0de0001.cfg         200"), "{text}");
    assert!(text.contains("Phone Requests: Provisioned"), "{text}");
    // The happy path: what looks like a failure says that it is expected, and no warning.
    for line in text.lines() {
        if line.contains("Error:") || line.contains(" 404 ") || line.contains("WARN") {
            assert!(line.contains("expected"), "unexplained: {line}\n{text}");
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("WARN") && !stderr.contains("Error"),
        "{stderr}"
    );
    // Times as people read them (RFC 3339), not the debug form `... +00:00:00`.
    let tab = text
        .lines()
        .find(|l| l.contains("Last Config Request: "))
        .expect("the Devices tab line");
    let when = tab
        .rsplit("Last Config Request: ")
        .next()
        .unwrap_or_default();
    assert!(
        time::OffsetDateTime::parse(when.trim(), &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{tab}"
    );
}

async fn rps_status(app: &TestApp) -> Value {
    app.api(Method::GET, "/rps/status")
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json")
}

async fn patch_settings(app: &TestApp, body: Value) {
    let response = app
        .api(Method::PATCH, "/settings")
        .json(&body)
        .send()
        .await
        .expect("settings");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// As an App Service the server name is the PBX's domain (the innovaphone
/// app's "24 first characters of the domain name"), not the host of our URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_name_is_the_pbx_domain_as_an_app_service() {
    use prov_sim::innovaphone::{PbxConfig, PbxSim};
    const PASSWORD: &str = "instance-password-4711";
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app_with(|c| {
        use_rps(c, &sim, rps::RpsApi::Xmlrpc);
        c.innovaphone.password = Some(Secret::new(PASSWORD));
    })
    .await;
    // Before the PBX's first login there is no name: nothing goes to RPS under our URL's host
    // (an IP here), neither at start nor for a settings change.
    let status = rps_status(&app).await;
    assert_eq!(status["server_name_source"], "awaiting_pbx", "{status}");
    assert_eq!(status["server_name"], "", "{status}");
    let base = app.base.replace("127.0.0.1", "localhost");
    patch_settings(&app, serde_json::json!({"public_base_url": base})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sim.servers().is_empty(), "{:?}", sim.calls());

    let mut pbx_config = PbxConfig::new(&format!("{}/innovaphone-yealink", app.base), PASSWORD);
    pbx_config.domain = "Voice.Headquarters.Example-Customer.com".into();
    let pbx = PbxSim::start(pbx_config, None).await;
    pbx.wait_logged_in(Duration::from_secs(15))
        .await
        .expect("PBX logs in");
    // Lower-cased and cut to 24 characters.
    let expected = "voice.headquarters.examp";
    eventually(20, "ADD SERVER under the PBX's domain", async || {
        sim.servers().iter().any(|s| s.name == expected)
    })
    .await;
    let status = rps_status(&app).await;
    assert_eq!(status["server_name"], expected, "{status}");
    assert_eq!(status["server_name_source"], "pbx_domain", "{status}");
    // Exactly one ADD SERVER, and only ever under the domain.
    let names: Vec<String> = sim.servers().into_iter().map(|s| s.name).collect();
    assert_eq!(names, [expected], "{:?}", sim.calls());

    // A phone added now is bound to that name.
    app.add_device(device_json("805ec0aacd21", "621")).await;
    eventually(
        20,
        "the phone is bound to the PBX-domain server",
        async || {
            sim.devices()
                .iter()
                .any(|d| d.mac == "805ec0aacd21" && d.server_name.as_deref() == Some(expected))
        },
    )
    .await;

    // The setting wins over the domain; a bad name is refused with the rule.
    patch_settings(&app, serde_json::json!({"rps_server_name": "acme-prov"})).await;
    eventually(20, "ADD SERVER under the configured name", async || {
        sim.servers().iter().any(|s| s.name == "acme-prov")
    })
    .await;
    assert_eq!(rps_status(&app).await["server_name_source"], "setting");
    let response = app
        .api(Method::PATCH, "/settings")
        .json(&serde_json::json!({"rps_server_name": "bad/name"}))
        .send()
        .await
        .expect("settings");
    assert_eq!(response.status(), 422);
    let text = response.text().await.unwrap_or_default();
    assert!(text.contains("rps_server_name"), "{text}");
    app.stop().await;
}

/// With `innovaphone.domain` configured (the domain the App instance was made for) the name is
/// known at start: one ADD SERVER under it, and the PBX's login with that domain adds none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_innovaphone_domain_names_the_server_from_the_start() {
    use prov_sim::innovaphone::{PbxConfig, PbxSim};
    const PASSWORD: &str = "instance-password-4711";
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app_with(|c| {
        use_rps(c, &sim, rps::RpsApi::Xmlrpc);
        c.innovaphone.password = Some(Secret::new(PASSWORD));
        c.innovaphone.domain = Some("example.com".into());
    })
    .await;
    eventually(20, "ADD SERVER under the configured domain", async || {
        sim.servers().iter().any(|s| s.name == "example.com")
    })
    .await;
    let status = rps_status(&app).await;
    assert_eq!(
        status["server_name_source"], "configured_domain",
        "{status}"
    );
    let pbx = PbxSim::start(
        PbxConfig::new(&format!("{}/innovaphone-yealink", app.base), PASSWORD),
        None,
    )
    .await;
    pbx.wait_logged_in(Duration::from_secs(15))
        .await
        .expect("PBX logs in");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let add_servers: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "redirect.addServer")
        .collect();
    assert_eq!(add_servers.len(), 1, "{add_servers:?}");
    assert!(
        sim.servers().iter().all(|s| s.name == "example.com"),
        "{:?}",
        sim.servers()
    );
    pbx.stop().await;
    app.stop().await;
}

/// A PBX connecting changes the server name (its domain) and our URL (its App object
/// URL) at once; RPS must get one ADD SERVER carrying both, not one per change (the second was
/// answered "already done": a wasted call and a history line). A reconnect changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pbx_connecting_sends_one_add_server_with_its_domain_and_url() {
    use prov_sim::innovaphone::{LoginState, PbxConfig, PbxSim};
    const PASSWORD: &str = "instance-password-4711";
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app_with(|c| {
        use_rps(c, &sim, rps::RpsApi::Xmlrpc);
        c.innovaphone.password = Some(Secret::new(PASSWORD));
    })
    .await;
    // No public base URL: the PBX's App object URL becomes ours (what the App Service does).
    patch_settings(&app, serde_json::json!({"public_base_url": null})).await;
    let add_servers = || {
        sim.calls()
            .iter()
            .filter(|c| c.method == "redirect.addServer")
            .count()
    };
    // The start and the settings changes send theirs; count from when they are done.
    let settled = async || {
        let mut seen = (add_servers(), std::time::Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = add_servers();
            if now != seen.0 {
                seen = (now, std::time::Instant::now());
            } else if now > 0 && seen.1.elapsed() > Duration::from_millis(1500) {
                return now;
            }
        }
    };
    // As an App Service nothing is sent before the PBX logged in (no domain yet).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = add_servers();
    assert_eq!(before, 0, "{:?}", sim.calls());

    // Another host name for us than the listen address: the learned URL changes ours.
    let app_url = format!(
        "{}/innovaphone-yealink",
        app.base.replace("127.0.0.1", "localhost")
    );
    let mut pbx_config = PbxConfig::new(&app_url, PASSWORD);
    pbx_config.domain = "pbx-one.example.com".into();
    let pbx = PbxSim::start(pbx_config, None).await;
    pbx.wait_logged_in(Duration::from_secs(15))
        .await
        .expect("PBX logs in");
    eventually(20, "ADD SERVER under the PBX's domain", async || {
        sim.servers()
            .iter()
            .any(|s| s.name == "pbx-one.example.com")
    })
    .await;
    // Give a second ADD SERVER time to show up (the outbox sends within milliseconds here).
    let after = settled().await;
    assert_eq!(after, before + 1, "one for the PBX: {:?}", sim.calls());
    let server = sim
        .servers()
        .into_iter()
        .find(|s| s.name == "pbx-one.example.com")
        .expect("server");
    assert!(
        server.url.starts_with("http://localhost:") && server.url.ends_with("/prov/"),
        "the one ADD SERVER carries the learned URL too: {server:?}"
    );
    let entries = history(&app, "?command=ADD_SERVER").await;
    assert_eq!(entries["total"], after, "{entries}");

    // The PBX reconnects: same domain, same URL, nothing to send.
    let before = pbx.connections();
    pbx.disconnect();
    eventually(20, "the PBX is back", async || {
        pbx.connections() > before && pbx.login_state() == LoginState::LoggedIn
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        add_servers(),
        after,
        "a reconnect sends none: {:?}",
        sim.calls()
    );
    pbx.stop().await;
    app.stop().await;
}

/// With XML-RPC, "The server name has been used" after our URL changed leaves
/// RPS on the old URL. We say so (history, status, metric) and re-send every phone's redirect,
/// whose own URL is what a factory-reset phone gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_url_with_xmlrpc_is_flagged_stale_and_phones_are_redirected_again() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app_with(|c| use_rps(c, &sim, rps::RpsApi::Xmlrpc)).await;
    app.add_device(device_json("805ec0aacd31", "631")).await;
    eventually(20, "RPS knows the phone", async || {
        sim.devices().iter().any(|d| d.mac == "805ec0aacd31")
    })
    .await;
    let old_url = sim.servers()[0].url.clone();

    // Same host (same server name), another port: a new URL.
    let new_base = "http://127.0.0.1:18099";
    patch_settings(&app, serde_json::json!({"public_base_url": new_base})).await;
    eventually(20, "ADD SERVER recorded as stale", async || {
        history(&app, "?command=ADD_SERVER").await["items"][0]["outcome"] == "stale"
    })
    .await;
    // RPS really kept the old URL (it has no way to change it).
    assert_eq!(sim.servers().len(), 1, "{:?}", sim.servers());
    assert_eq!(sim.servers()[0].url, old_url);
    let status = rps_status(&app).await;
    let warning = status["server_url_warning"].as_str().expect("warning");
    assert!(warning.contains("RPS portal"), "{warning}");
    assert_eq!(status["server_registered"], false, "{status}");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("rps_server_url_stale 1"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("rps_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The phone's binding now carries the new URL.
    eventually(20, "the phone is redirected to the new URL", async || {
        sim.devices().iter().any(|d| {
            d.mac == "805ec0aacd31"
                && d.unique_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with(new_base))
        })
    })
    .await;
    app.stop().await;
}

/// With the JSON API, `server/edit` moves the entry to the new URL; no warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_url_with_the_json_api_edits_the_server() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app_with(|c| use_rps(c, &sim, rps::RpsApi::Json)).await;
    eventually(20, "ADD SERVER", async || !sim.servers().is_empty()).await;
    let new_base = "http://127.0.0.1:18098";
    patch_settings(&app, serde_json::json!({"public_base_url": new_base})).await;
    eventually(20, "the server entry follows our URL", async || {
        sim.servers()
            .iter()
            .any(|s| s.url == format!("{new_base}/prov/"))
    })
    .await;
    assert_eq!(sim.servers().len(), 1, "{:?}", sim.servers());
    // RPS changes its entry before it answers; we record the answer just after.
    eventually(20, "the status shows the edited entry", async || {
        rps_status(&app).await["registered"]["url"] == format!("{new_base}/prov/")
    })
    .await;
    let status = rps_status(&app).await;
    assert!(status["server_url_warning"].is_null(), "{status}");
    app.stop().await;
}

/// Our server entry deleted in the RPS portal. The next REDIRECT is answered
/// "Invalid server" (XML-RPC) or finds no server (JSON); we send ADD SERVER again, retry the
/// redirect, and `rps status` says what happened.
async fn a_server_deleted_at_rps_is_registered_again(api: rps::RpsApi) {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let app = spawn_app_with(|c| use_rps(c, &sim, api)).await;
    app.add_device(device_json("805ec0aacd41", "641")).await;
    eventually(20, "RPS knows the first phone", async || {
        sim.devices().iter().any(|d| d.mac == "805ec0aacd41")
    })
    .await;
    let name = sim.servers()[0].name.clone();
    assert_eq!(sim.delete_server_in_portal(&name), 1);

    app.add_device(device_json("805ec0aacd42", "642")).await;
    eventually(30, "the server is registered again", async || {
        sim.servers().iter().any(|s| s.name == name)
    })
    .await;
    eventually(30, "the second phone is redirected after all", async || {
        sim.devices()
            .iter()
            .any(|d| d.mac == "805ec0aacd42" && d.server_name.as_deref() == Some(name.as_str()))
    })
    .await;
    // RPS holds the redirect before our worker has written its answer to the history.
    eventually(10, "the redirect's answer is in the history", async || {
        let redirects = history(&app, "?command=REDIRECT_DEVICE&mac=805ec0aacd42").await;
        !redirects["items"][0].is_null()
    })
    .await;
    let redirects = history(&app, "?command=REDIRECT_DEVICE&mac=805ec0aacd42").await;
    assert_eq!(redirects["items"][0]["outcome"], "ok", "{redirects}");
    eventually(10, "the status has seen the new registration", async || {
        rps_status(&app).await["server_registered"] == true
    })
    .await;
    let status = rps_status(&app).await;
    let unknown = &status["unknown_server"];
    assert_eq!(unknown["name"], name.as_str(), "{status}");
    assert_eq!(unknown["re_registered"], "ok", "{status}");
    assert_eq!(status["server_registered"], true, "{status}");
    if api == rps::RpsApi::Xmlrpc {
        // Yealink's own text (peoplefone/provisioning-rpc matches "error:invalid server").
        assert!(
            unknown["answer"]
                .as_str()
                .is_some_and(|a| a.contains("Invalid server")),
            "{status}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_deleted_at_rps_is_registered_again_with_xmlrpc() {
    a_server_deleted_at_rps_is_registered_again(rps::RpsApi::Xmlrpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_deleted_at_rps_is_registered_again_with_the_json_api() {
    a_server_deleted_at_rps_is_registered_again(rps::RpsApi::Json).await;
}

/// Two instances on one database share `rps_rate_per_second`; each applying
/// it on its own would together send twice as many commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_together_keep_the_rps_rate_limit() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let rate = |c: &mut Config| {
        use_rps(c, &sim, rps::RpsApi::Xmlrpc);
        c.rps_rate_per_second = 4;
    };
    let a = spawn_app_with(rate).await;
    let b = spawn_app_on_url_with(&a.database_url.clone(), rate).await;
    eventually(10, "both ADD SERVERs", async || {
        history(&a, "?command=ADD_SERVER").await["total"] == 2
    })
    .await;
    // 40 phones: 80 commands, one RPS call each (new MACs), far more than 3 s allow.
    let csv: String = std::iter::once("mac,sip_user,sip_password,registrar".to_owned())
        .chain((0..40).map(|i| format!("805ec2{i:06x},{},pw{i},pbx.test", 2000 + i)))
        .collect::<Vec<_>>()
        .join("\n");
    let imported = a
        .api(Method::POST, "/devices/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(imported.status(), 200);
    let before = sim.calls().len();
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent = sim.calls().len() - before;
    let elapsed = started.elapsed().as_secs_f64();
    // 4 per second for both together, plus the slot each may have started: a per-instance
    // limit lets through about twice as many.
    let allowed = (4.0 * elapsed).ceil() as usize + 2;
    assert!(sent >= 4, "only {sent} RPS calls in {elapsed:.1} s");
    assert!(
        sent <= allowed,
        "{sent} RPS calls in {elapsed:.1} s from two instances, the shared limit allows {allowed}"
    );
    let pending = history(&b, "").await["pending"].as_array().map(Vec::len);
    assert!(pending.is_some_and(|n| n > 0), "the queue drained too fast");
    b.stop().await;
    a.stop().await;
}
