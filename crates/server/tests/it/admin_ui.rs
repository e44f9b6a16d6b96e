//! The web UI's pages as an administrator with a real fleet meets them: numbers that must hold
//! at 1,600 devices, read over HTTP with a signed-in session.

use std::time::{Duration, Instant};

use prov_store::{RpsHistoryEntry, Store};
use reqwest::StatusCode;
use time::OffsetDateTime;
use yealink::Mac;

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app_on_sqlite_store};

/// Signs in with the admin password; the session cookie.
async fn session_cookie(app: &TestApp) -> String {
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.base)
        .body(format!("password={ADMIN_PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let set = answer
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("yp_session="))
        .expect("a session cookie")
        .to_owned();
    set.split(';').next().unwrap().to_owned()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> (String, Duration) {
    let started = Instant::now();
    let answer = app
        .client
        .get(format!("{}{path}", app.base))
        .header(reqwest::header::COOKIE, cookie)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "{path}");
    let body = answer.text().await.unwrap();
    (body, started.elapsed())
}

fn mac(n: u32) -> Mac {
    Mac::parse(&format!("001565{n:06x}")).unwrap()
}

fn redirect(n: u32, outcome: &str, answer: &str) -> RpsHistoryEntry {
    RpsHistoryEntry {
        id: 0,
        at: OffsetDateTime::now_utc(),
        command: "REDIRECT_DEVICE".into(),
        mac: Some(mac(n)),
        params: serde_json::json!({}),
        outcome: outcome.into(),
        answer: answer.into(),
        duration_ms: 10,
        attempts: 1,
    }
}

/// 1,600 devices: the RPS column and the "not redirected" filter come from one grouped query
/// (not one per row), and the filtered count reads "1,000 of 1,600".
#[tokio::test]
async fn devices_list_at_1600_shows_rps_states_and_filtered_counts_quickly() {
    let (app, store) = spawn_app_on_sqlite_store().await;
    let mut csv = String::from("mac,sip_user,sip_password,registrar\n");
    for n in 0..1600 {
        csv.push_str(&format!("{},{n},pw-{n},pbx.example.com\n", mac(n)));
    }
    let imported = app
        .api(reqwest::Method::POST, "/devices/import")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), StatusCode::OK);
    // 600 redirected (one of them refused first), 100 refused; the rest never sent.
    for n in 0..700 {
        if n == 0 {
            store
                .record_rps_history(&redirect(n, "rejected", "earlier refusal"))
                .await
                .unwrap();
        }
        let e = if n < 600 {
            redirect(n, "ok", "Operation success")
        } else {
            redirect(n, "rejected", "owned by another account")
        };
        store.record_rps_history(&e).await.unwrap();
    }
    let cookie = session_cookie(&app).await;

    let (all, _) = page(&app, &cookie, "/ui/devices").await;
    assert!(all.contains("(1,600)"), "total");
    assert_eq!(all.matches("data-mac=").count(), 50, "one page");
    assert!(all.contains(">Redirected<"), "RPS column");

    let (filtered, took) = page(&app, &cookie, "/ui/devices?show=not_redirected").await;
    assert!(filtered.contains("(1,000 of 1,600)"), "filtered count");
    assert!(
        !filtered.contains(">Redirected<"),
        "a redirected phone in the filter"
    );
    assert!(filtered.contains("owned by another account"), "the reason");
    assert!(
        took < Duration::from_secs(3),
        "not redirected took {took:?}"
    );

    // The rows fragment (search as you type) brings the count along.
    let (rows, took) = page(
        &app,
        &cookie,
        "/ui/devices/rows?show=not_redirected&q=00156500026",
    )
    .await;
    // 0x260..=0x26f: 608..=623, all beyond the redirected 600 and some refused.
    assert!(rows.contains("(16 of 1,600)"), "{rows}");
    assert!(took < Duration::from_secs(3), "rows took {took:?}");
    let (german, _) = {
        let answer = app
            .client
            .get(format!("{}/ui/devices?show=never_fetched", app.base))
            .header(reqwest::header::COOKIE, &cookie)
            .header("accept-language", "de")
            .send()
            .await
            .unwrap();
        (answer.text().await.unwrap(), ())
    };
    assert!(german.contains("(1.600 von 1.600)"), "German count");
    app.stop().await;
}

fn entry(command: &str, mac: Option<Mac>, outcome: &str, answer: &str) -> RpsHistoryEntry {
    RpsHistoryEntry {
        command: command.into(),
        mac,
        outcome: outcome.into(),
        answer: answer.into(),
        ..redirect(0, "ok", "")
    }
}

/// RPS's answers in plain words: "already registered", not a green `already_done` beside
/// "Error: ..."; an HTTP 401 says what to check; the MAC filter takes part of a MAC.
#[tokio::test]
async fn rps_history_speaks_plainly_and_finds_part_of_a_mac() {
    let (app, store) = spawn_app_on_sqlite_store().await;
    let mine = Mac::parse("001565123456").unwrap();
    let other = Mac::parse("0015659999aa").unwrap();
    for e in [
        entry(
            "ADD_SERVER",
            None,
            "already_done",
            "Error: The server name has been used",
        ),
        entry(
            "REDIRECT_DEVICE",
            Some(mine),
            "rejected",
            "HTTP 401 Unauthorized",
        ),
        entry("REDIRECT_DEVICE", Some(other), "ok", "Operation success"),
    ] {
        store.record_rps_history(&e).await.unwrap();
    }
    let cookie = session_cookie(&app).await;
    let (all, _) = page(&app, &cookie, "/ui/rps").await;
    assert!(all.contains(">already registered<"), "plain outcome");
    assert!(
        !all.contains(">already_done<"),
        "the raw outcome as the badge"
    );
    assert!(
        all.contains("RPS answered „Error: The server name has been used“"),
        "RPS's own words quoted, not shown as the error"
    );
    assert!(
        all.contains("check the RPS user name and secret"),
        "401 hint"
    );

    let (part, _) = page(&app, &cookie, "/ui/rps?mac=34:56").await;
    assert!(part.contains("00:15:65:12:34:56"), "part of the MAC");
    assert!(!part.contains("00:15:65:99:99:aa"), "another MAC");
    assert!(
        !part.contains("ADD_SERVER</strong>"),
        "entries without a MAC"
    );
    let (bad, _) = page(&app, &cookie, "/ui/rps?mac=zz").await;
    assert!(bad.contains("part of one in hex digits"), "a clear error");

    let (german, _) = {
        let answer = app
            .client
            .get(format!("{}/ui/rps", app.base))
            .header(reqwest::header::COOKIE, &cookie)
            .header("accept-language", "de")
            .send()
            .await
            .unwrap();
        (answer.text().await.unwrap(), ())
    };
    assert!(german.contains(">bereits registriert<"));
    assert!(german.contains("RPS-Benutzername und -Geheimnis prüfen"));
    app.stop().await;
}

/// The settings page's RPS panel says what `rps status` says, for the operator's account from
/// the configuration file: the account, reachable, our server registered with the URL in use,
/// the queue.
#[tokio::test]
async fn settings_rps_panel_shows_the_operators_account_and_our_registration() {
    use prov_core::config::StandardRpsAccount;
    use prov_core::secret::Secret;
    use prov_sim::rps::{RpsSim, RpsSimConfig};
    let sim = RpsSim::start(RpsSimConfig {
        xmlrpc_user: "operator".into(),
        xmlrpc_password: "operator-secret".into(),
        access_key_id: "AKID-TEST".into(),
        access_key_secret: "json-secret-value".into(),
    })
    .await
    .unwrap();
    let endpoint = sim.xmlrpc_url();
    let app = crate::helpers::spawn_app_with(|c| {
        c.rps = StandardRpsAccount {
            api: Some(rps::RpsApi::Xmlrpc),
            endpoint: Some(endpoint.clone()),
            username: Some("operator".into()),
            secret: Some(Secret::new("operator-secret")),
        };
        c.rps_rate_per_second = 1000;
        c.rps_timeout_secs = 2;
    })
    .await;
    let cookie = session_cookie(&app).await;
    let mut panel = String::new();
    for _ in 0..100 {
        panel = page(&app, &cookie, "/ui/settings/rps-status").await.0;
        // Settled: registered, and nothing left in the queue (setting the base URL at start
        // queues one more ADD SERVER).
        if panel.contains("yes, with the URL in use") && panel.contains("0 waiting") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        panel.contains("the operator&#39;s account (configuration file)")
            || panel.contains("the operator's account (configuration file)"),
        "{panel}"
    );
    assert!(panel.contains(&endpoint), "{panel}");
    assert!(panel.contains("<code>operator</code>"), "{panel}");
    assert!(panel.contains(">yes<"), "reachable: {panel}");
    assert!(panel.contains("yes, with the URL in use"), "{panel}");
    assert!(panel.contains(&format!("{}/prov/", app.base)), "{panel}");
    assert!(panel.contains("0 waiting"), "{panel}");
    assert!(!panel.contains("operator-secret"), "the secret");
    app.stop().await;
}

/// RPS answering HTTP 401 (a wrong secret) is logged at WARN with what to check, once per
/// refused command, and the secret never appears in the log.
#[tokio::test]
async fn rps_http_401_is_logged_at_warn_with_what_to_check() {
    use prov_sim::rps::{RpsSim, RpsSimConfig};
    use std::process::{Command, Stdio};
    let sim = RpsSim::start(RpsSimConfig {
        xmlrpc_user: "operator".into(),
        xmlrpc_password: "operator-secret".into(),
        access_key_id: "AKID-TEST".into(),
        access_key_secret: "json-secret-value".into(),
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let err_path = dir.path().join("serve.err");
    let mut child = Command::new(env!("CARGO_BIN_EXE_yealink-prov"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .env("YEALINK_PROV_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("YEALINK_PROV_RPS__API", "xmlrpc")
        .env("YEALINK_PROV_RPS__ENDPOINT", sim.xmlrpc_url())
        .env("YEALINK_PROV_RPS__USERNAME", "operator")
        .env("YEALINK_PROV_RPS__SECRET", "wrong-rps-secret-4711")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut refused = false;
    for _ in 0..200 {
        let history = client
            .get(format!("{base}/api/v1/rps/history"))
            .bearer_auth(ADMIN_PASSWORD)
            .send()
            .await;
        if let Ok(r) = history
            && let Ok(text) = r.text().await
            && text.contains("HTTP 401")
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let log = std::fs::read_to_string(&err_path).unwrap();
    assert!(refused, "RPS never answered 401: {log}");
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("HTTP 401")
            && l.contains("check the RPS user name and secret")),
        "{log}"
    );
    assert!(
        !log.contains("wrong-rps-secret-4711"),
        "the secret in the log"
    );
}

fn form_body(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The settings form posted as the page does (its CSRF token from the page).
async fn post_settings(app: &TestApp, cookie: &str, fields: &[(&str, &str)]) -> String {
    let (settings, _) = page(app, cookie, "/ui/settings").await;
    let csrf = settings
        .split("\"X-CSRF-Token\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_owned();
    let answer = app
        .client
        .post(format!("{}/ui/settings", app.base))
        .header(reqwest::header::COOKIE, cookie)
        .header("x-csrf-token", csrf)
        .header("accept-language", "en")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(fields))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().await.unwrap()
}

/// A new public base URL reaches every phone: the first save only asks (with the count and the
/// new address), nothing is stored; the save carrying the question's token applies it. HTTPS
/// ticked against an http:// URL is an error beside the others, and the URL is not rewritten.
#[tokio::test]
async fn a_new_base_url_is_asked_about_once_and_https_never_guesses_a_port() {
    let (app, _store) = spawn_app_on_sqlite_store().await;
    for n in 0..3 {
        app.add_device(crate::helpers::device_json(&format!("00156500aa0{n}"), "7"))
            .await;
    }
    let cookie = session_cookie(&app).await;
    let old = app.base.clone();
    let base = |url: &str| {
        vec![
            ("public_base_url", url.to_owned()),
            ("update_interval_minutes", "60".to_owned()),
            ("time_zone", "Europe/Berlin".to_owned()),
            ("location", "DE".to_owned()),
            ("sip_transport", "udp".to_owned()),
            ("rps_mode", "standard".to_owned()),
            ("rps_api", "xmlrpc".to_owned()),
        ]
    };

    // HTTPS with an http:// URL and a bad time zone: both errors, nothing saved.
    let mut form = base(&old);
    form.push(("provisioning_scheme", "https".into()));
    form.retain(|(k, _)| *k != "time_zone");
    form.push(("time_zone", "Mars/Olympus_Mons".into()));
    // An RPS secret without its user name is a third error; the secret is not echoed.
    form.push(("rps_secret", "half-an-account-secret".into()));
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let errors = post_settings(&app, &cookie, &fields).await;
    assert!(
        errors.contains("data-field=\"provisioning_scheme\""),
        "{errors}"
    );
    assert!(errors.contains("data-field=\"rps_secret\""), "{errors}");
    assert!(!errors.contains("half-an-account-secret"), "{errors}");
    assert!(errors.contains("data-field=\"time_zone\""), "{errors}");
    let stored: serde_json::Value = app
        .api(reqwest::Method::GET, "/settings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["public_base_url"],
        serde_json::json!(old),
        "rewritten"
    );

    // A new address: asked first.
    let new = "http://prov.example.com:8080";
    let form = base(new);
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let question = post_settings(&app, &cookie, &fields).await;
    assert!(question.contains("id=\"settings-confirm\""), "{question}");
    assert!(question.contains("each of the 3 phones"), "{question}");
    assert!(question.contains(new), "{question}");
    let token = question
        .split("{&quot;confirm&quot;: &quot;")
        .nth(1)
        .or_else(|| question.split("{\"confirm\": \"").nth(1))
        .and_then(|rest| rest.split(['&', '"']).next())
        .expect("the confirmation token")
        .to_owned();
    let stored: serde_json::Value = app
        .api(reqwest::Method::GET, "/settings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["public_base_url"],
        serde_json::json!(old),
        "saved before the answer"
    );

    // A wrong token asks again; the right one saves.
    let mut again = fields.clone();
    again.push(("confirm", "0000000000000000"));
    assert!(
        post_settings(&app, &cookie, &again)
            .await
            .contains("id=\"settings-confirm\"")
    );
    let mut confirmed = fields.clone();
    confirmed.push(("confirm", token.as_str()));
    let saved = post_settings(&app, &cookie, &confirmed).await;
    assert!(saved.contains("id=\"settings-saved\""), "{saved}");
    let stored: serde_json::Value = app
        .api(reqwest::Method::GET, "/settings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["public_base_url"], serde_json::json!(new));
    app.stop().await;
}
