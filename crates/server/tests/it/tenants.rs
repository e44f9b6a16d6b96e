//! Tenants from the command line: add, list, show, work on one with `--tenant`, remove (which
//! deregisters the tenant's phones at RPS first), against the RPS simulator.

use std::process::{Command, Output};

use prov_sim::rps::RpsSim;

use crate::rps::sim_config;

/// The CLI on `dir`'s SQLite database, with the operator's RPS account of the simulator.
async fn cli(dir: &std::path::Path, sim: &RpsSim, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .env("YEALINK_PROV_RPS__API", "xmlrpc")
        .env("YEALINK_PROV_RPS__ENDPOINT", sim.xmlrpc_url())
        .env("YEALINK_PROV_RPS__USERNAME", "operator")
        .env("YEALINK_PROV_RPS__SECRET", "operator-secret")
        .env("YEALINK_PROV_RPS_RATE_PER_SECOND", "1000")
        .env_remove("YEALINK_PROV_TENANT");
    tokio::task::spawn_blocking(move || command.output().expect("run yealink-prov"))
        .await
        .expect("CLI task")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn add_phone<'a>(mac: &'a str, user: &'a str) -> Vec<&'a str> {
    vec![
        "device",
        "add",
        "--mac",
        mac,
        "--sip-user",
        user,
        "--sip-password",
        "tenant-phone-secret",
        "--registrar",
        "pbx.test",
    ]
}

#[tokio::test]
async fn tenants_are_managed_from_the_cli_and_removal_deregisters_their_phones() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&cli(
        d,
        &sim,
        &[
            "settings",
            "set",
            "public_base_url=https://prov.example.net",
        ],
    )
    .await);

    let added = ok(&cli(d, &sim, &["tenant", "add", "Customer-A.example.com"]).await);
    assert!(
        added.contains("added tenant customer-a.example.com/yealink")
            && added.contains(
                "https://prov.example.net/customer-a.example.com/yealink/innovaphone-yealink"
            )
            && added.contains("RPS server name   customer-a.example.com"),
        "{added}"
    );
    ok(&cli(d, &sim, &["tenant", "add", "b.example.com/prov"]).await);
    let again = err(&cli(d, &sim, &["tenant", "add", "b.example.com/prov"]).await);
    assert!(again.contains("already exists"), "{again}");

    // Phones go to the tenant --tenant names; a MAC can be in one tenant only.
    let mut a_phone = vec!["--tenant", "customer-a.example.com"];
    a_phone.extend(add_phone("805ec0aa0001", "101"));
    ok(&cli(d, &sim, &a_phone).await);
    let mut b_phone = vec!["--tenant", "b.example.com/prov"];
    b_phone.extend(add_phone("805ec0aa0001", "201"));
    let taken = err(&cli(d, &sim, &b_phone).await);
    assert!(
        taken.contains("already a device of tenant customer-a.example.com/yealink"),
        "{taken}"
    );
    let default_list = ok(&cli(d, &sim, &["device", "list"]).await);
    assert!(default_list.contains("0 device(s)"), "{default_list}");
    let a_list = ok(&cli(
        d,
        &sim,
        &["--tenant", "customer-a.example.com", "device", "list"],
    )
    .await);
    assert!(a_list.contains("805ec0aa0001"), "{a_list}");

    let list = ok(&cli(d, &sim, &["tenant", "list"]).await);
    let row = list
        .lines()
        .find(|l| l.contains("customer-a.example.com/yealink"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        row.contains("  1  ") && row.contains("/customer-a.example.com/yealink/"),
        "{row}"
    );
    let show = ok(&cli(d, &sim, &["tenant", "show", "customer-a.example.com"]).await);
    assert!(show.contains("devices         1"), "{show}");
    let unknown = err(&cli(d, &sim, &["--tenant", "nope.example.com", "device", "list"]).await);
    assert!(
        unknown.contains("no tenant \"nope.example.com\""),
        "{unknown}"
    );
    let serve = err(&cli(d, &sim, &["--tenant", "b.example.com", "serve"]).await);
    assert!(serve.contains("serves every tenant"), "{serve}");

    // Removal sends the phone's DEREGISTER to RPS itself, then deletes the tenant.
    let removed = ok(&cli(d, &sim, &["tenant", "remove", "customer-a.example.com"]).await);
    assert!(
        removed.contains("deregistering 1 phone(s)") && removed.contains("removed tenant"),
        "{removed}"
    );
    assert!(
        sim.calls()
            .iter()
            .any(|c| c.method.contains("deRegisterDevice") || c.method.contains("deregister")),
        "no DEREGISTER reached RPS: {:?}",
        sim.calls().iter().map(|c| &c.method).collect::<Vec<_>>()
    );
    let list = ok(&cli(d, &sim, &["tenant", "list"]).await);
    assert!(!list.contains("customer-a"), "{list}");
    // The MAC is free for another tenant now.
    ok(&cli(d, &sim, &b_phone).await);
    let default = err(&cli(d, &sim, &["tenant", "remove", "default"]).await);
    assert!(default.contains("cannot be removed"), "{default}");
    sim.stop().await;
}

/// Waits (20 s at most) until the site at `prefix` answers its health check: the running
/// server opens a new tenant's site within a few seconds.
async fn wait_for_site(app: &crate::helpers::TestApp, prefix: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let health = app
            .client
            .get(format!("{}{prefix}/healthz", app.base))
            .send()
            .await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "site {prefix} not open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Adds a tenant through the CLI of `app`'s database; its admin password.
async fn add_tenant(app: &crate::helpers::TestApp, label: &str) -> String {
    let out = crate::cli::cli(app, &["tenant", "add", label]).await;
    let text = ok(&out);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("admin password"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no admin password in\n{text}"))
        .to_owned()
}

/// A request to the admin API of the site at `prefix` ("" = the default tenant's).
fn api(
    app: &crate::helpers::TestApp,
    prefix: &str,
    password: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, format!("{}{prefix}/api/v1{path}", app.base))
        .bearer_auth(password)
}

/// Status and body, with `mac` written as `MAC` so two answers about different MACs compare.
async fn answer(request: reqwest::RequestBuilder, mac: &str) -> (u16, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    (status, body.replace(mac, "MAC"))
}

const A: &str = "/a.example.com/yealink";
const B: &str = "/b.example.com/yealink";

/// Tenants A and B on `app`, with the deployment's address set and both sites open; their
/// admin passwords.
async fn open_two_tenants(app: &crate::helpers::TestApp) -> (String, String) {
    use reqwest::Method;
    let public = serde_json::json!({ "public_base_url": app.base });
    let set = api(
        app,
        "",
        crate::helpers::ADMIN_PASSWORD,
        Method::PATCH,
        "/settings",
    )
    .json(&public)
    .send()
    .await
    .expect("settings");
    assert!(
        set.status().is_success(),
        "{}",
        set.text().await.unwrap_or_default()
    );
    let a_password = add_tenant(app, "a.example.com/yealink").await;
    let b_password = add_tenant(app, "b.example.com/yealink").await;
    for prefix in [A, B] {
        wait_for_site(app, prefix).await;
    }
    (a_password, b_password)
}

#[tokio::test]
async fn a_tenants_admin_reaches_nothing_of_another_tenant() {
    use reqwest::Method;
    let app = crate::helpers::spawn_app().await;
    let (a_password, b_password) = open_two_tenants(&app).await;
    let (a, b) = (A, B);

    let mac = "805ec0aa0a01";
    let never = "805ec0aa0bff";
    let added = api(&app, a, &a_password, Method::POST, "/devices")
        .json(&crate::helpers::device_json(mac, "101"))
        .send()
        .await
        .expect("add");
    assert_eq!(
        added.status().as_u16(),
        201,
        "{}",
        added.text().await.unwrap_or_default()
    );
    let revealed: serde_json::Value = api(
        &app,
        a,
        &a_password,
        Method::GET,
        &format!("/devices/{mac}?reveal=true"),
    )
    .send()
    .await
    .expect("device")
    .json()
    .await
    .expect("json");
    let url = revealed["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(url.starts_with(&format!("{}{a}/prov/", app.base)), "{url}");

    // Each site takes its own administrators' password only.
    for (prefix, password) in [(a, &b_password), (b, &a_password), ("", &a_password)] {
        let status = api(&app, prefix, password, Method::GET, "/devices")
            .send()
            .await
            .expect("list")
            .status();
        assert_eq!(status.as_u16(), 401, "{prefix}");
    }

    // Every route of B that names a MAC answers for A's phone as for one that never existed.
    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/devices/{mac}".into(), None),
        (Method::GET, "/devices/{mac}?reveal=true".into(), None),
        (
            Method::PATCH,
            "/devices/{mac}".into(),
            Some(serde_json::json!({"display_name": "taken"})),
        ),
        (Method::GET, "/devices/{mac}/files/{mac}.cfg".into(), None),
        (Method::GET, "/devices/{mac}/files/boot".into(), None),
        (Method::GET, "/devices/{mac}/requests".into(), None),
        (Method::POST, "/devices/{mac}/redirect".into(), None),
        (Method::GET, "/rps/history?mac={mac}".into(), None),
        (Method::GET, "/changes?mac={mac}".into(), None),
        (Method::DELETE, "/devices/{mac}".into(), None),
    ];
    for (method, path, body) in &routes {
        let ask = |m: &str| {
            let request = api(
                &app,
                b,
                &b_password,
                method.clone(),
                &path.replace("{mac}", m),
            );
            match body {
                Some(b) => request.json(b),
                None => request,
            }
        };
        let theirs = answer(ask(mac), mac).await;
        let missing = answer(ask(never), never).await;
        assert_eq!(theirs, missing, "{method} {path}");
    }
    // A's phone is still A's, unchanged.
    let kept: serde_json::Value = api(
        &app,
        a,
        &a_password,
        Method::GET,
        &format!("/devices/{mac}"),
    )
    .send()
    .await
    .expect("device")
    .json()
    .await
    .expect("json");
    assert_eq!(kept["display_name"], "Phone 101", "{kept}");

    // B's lists and the default tenant's never show A's phone.
    for (prefix, password) in [
        (b, b_password.as_str()),
        ("", crate::helpers::ADMIN_PASSWORD),
    ] {
        for path in ["/devices", "/requests", "/rps/history", "/changes"] {
            let (status, text) = answer(api(&app, prefix, password, Method::GET, path), "-").await;
            assert_eq!(status, 200, "{prefix}{path}: {text}");
            assert!(
                !text.contains(mac),
                "{prefix}{path} shows A's phone: {text}"
            );
        }
    }
    // Adding A's MAC in B is refused without naming A.
    let (status, text) = answer(
        api(&app, b, &b_password, Method::POST, "/devices")
            .json(&crate::helpers::device_json(mac, "201")),
        "-",
    )
    .await;
    assert_eq!(status, 409, "{text}");
    assert!(
        text.contains("another customer") && !text.contains("a.example.com"),
        "{text}"
    );

    // The phone path: A's URL works under A only; elsewhere it is an unknown token.
    let path = url
        .strip_prefix(&format!("{}{a}", app.base))
        .expect("A's prefix")
        .to_owned();
    let file = format!("{path}{mac}.boot");
    let fetch = |prefix: &str| app.client.get(format!("{}{prefix}{file}", app.base)).send();
    assert_eq!(fetch(a).await.expect("A").status().as_u16(), 200);
    let unknown = format!("{}{b}/prov/{}/{mac}.boot", app.base, "x".repeat(24));
    let unknown = app
        .client
        .get(unknown)
        .send()
        .await
        .expect("unknown")
        .status();
    for prefix in [b, ""] {
        assert_eq!(
            fetch(prefix).await.expect("fetch").status(),
            unknown,
            "under {prefix:?}"
        );
    }

    app.stop().await;
}

/// The App object of `tenant` as `pbx app-object` prints it: its URL and password.
async fn app_object(d: &std::path::Path, sim: &RpsSim, tenant: &str) -> (String, String) {
    let text = ok(&cli(d, sim, &["--tenant", tenant, "pbx", "app-object"]).await);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    (field("URL"), field("Password"))
}

/// Tenants a.example.com and b.example.com with their App objects (URL and password, as
/// `pbx app-object` prints them), made by the CLI before the server starts on their database.
async fn two_tenants_with_app_objects() -> (
    RpsSim,
    tempfile::TempDir,
    (String, String),
    (String, String),
    crate::helpers::TestApp,
) {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&cli(d, &sim, &["tenant", "add", "a.example.com"]).await);
    ok(&cli(d, &sim, &["tenant", "add", "b.example.com"]).await);
    let a = app_object(d, &sim, "a.example.com").await;
    let b = app_object(d, &sim, "b.example.com").await;
    assert_ne!(a.1, b.1);
    let database_url = format!("sqlite://{}?mode=rwc", d.join("yealink-prov.db").display());
    let app = crate::helpers::spawn_app_on_url(&database_url).await;
    (sim, dir, a, b, app)
}

#[tokio::test]
async fn a_pbx_logs_in_to_its_own_tenants_app_object_only() {
    use prov_sim::innovaphone::{LoginState, PbxConfig, PbxSim, UsersSim};
    let (sim, _dir, (a_url, a_password), (b_url, b_password), app) =
        two_tenants_with_app_objects().await;
    // The printed URLs name this CLI's listen address; the test server listens elsewhere.
    let on_app = |url: &str| {
        let path = url.split_once("/a.example.com").map_or_else(
            || {
                format!(
                    "/b.example.com{}",
                    url.split_once("/b.example.com").expect("b").1
                )
            },
            |(_, rest)| format!("/a.example.com{rest}"),
        );
        format!("{}{path}", app.base)
    };
    let (a_url, b_url) = (on_app(&a_url), on_app(&b_url));
    assert!(
        a_url.ends_with("/a.example.com/yealink/innovaphone-yealink"),
        "{a_url}"
    );
    wait_for_site(&app, "/b.example.com/yealink").await;

    let pbx = |url: &str, password: &str, domain: &str| {
        let mut config = PbxConfig::new(url, password);
        config.domain = domain.into();
        PbxSim::start(config, None)
    };
    let wait = std::time::Duration::from_secs(15);
    // A's PBX logs in to A's App object.
    let own = pbx(&a_url, &a_password, "a.example.com").await;
    own.wait_logged_in(wait)
        .await
        .expect("A's PBX logs in to A");
    // A's PBX with A's password at B's App object: refused.
    let wrong_site = pbx(&b_url, &a_password, "a.example.com").await;
    // Another domain's PBX that somehow has B's password: refused at B too.
    let wrong_domain = pbx(&b_url, &b_password, "a.example.com").await;
    for refused in [&wrong_site, &wrong_domain] {
        let deadline = std::time::Instant::now() + wait;
        while !matches!(refused.login_state(), LoginState::Failed(_)) {
            assert!(
                std::time::Instant::now() < deadline,
                "not refused: {:?}",
                refused.login_state()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // Users of A's PBX cannot provision into B: its login at B's App object is refused,
    // with A's password and with B's; at A's own App object it is welcome.
    let users = prov_sim::innovaphone::UsersLoginForm::OwnAppObject;
    for password in [&a_password, &b_password] {
        let refused = UsersSim::connect_as(&b_url, password, "a.example.com", &users).await;
        let Err(why) = refused else {
            panic!("A's Users logged in at B")
        };
        let why = why.to_string();
        assert!(why.contains("login refused"), "{why}");
    }
    UsersSim::connect_as(&a_url, &a_password, "a.example.com", &users)
        .await
        .expect("A's Users logs in to A")
        .close()
        .await;
    // B's own PBX is welcome.
    let b_pbx = pbx(&b_url, &b_password, "b.example.com").await;
    b_pbx
        .wait_logged_in(wait)
        .await
        .expect("B's PBX logs in to B");
    for p in [own, wrong_site, wrong_domain, b_pbx] {
        p.stop().await;
    }
    app.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn the_provider_manages_tenants_through_the_api_and_tenants_cannot() {
    use reqwest::Method;
    let app = crate::helpers::spawn_app().await;
    let provider = crate::helpers::ADMIN_PASSWORD;
    let (status, text) = answer(
        api(&app, "", provider, Method::POST, "/tenants")
            .json(&serde_json::json!({"domain": "C.example.com", "name": "prov"})),
        "-",
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let created: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(created["tenant"], "c.example.com/prov");
    assert_eq!(created["path"], "/c.example.com/prov/");
    let id = created["id"].as_i64().expect("id");
    let password = created["admin_password"]
        .as_str()
        .expect("password")
        .to_owned();
    let again = api(&app, "", provider, Method::POST, "/tenants")
        .json(&serde_json::json!({"domain": "c.example.com", "name": "prov"}))
        .send()
        .await
        .expect("again");
    assert_eq!(again.status().as_u16(), 409);
    let bad = api(&app, "", provider, Method::POST, "/tenants")
        .json(&serde_json::json!({"domain": "not a domain"}))
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status().as_u16(), 422);

    let listed: serde_json::Value = api(&app, "", provider, Method::GET, "/tenants")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let labels: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["tenant"].as_str())
        .collect();
    assert_eq!(labels, vec!["default", "c.example.com/prov"]);

    // The tenant's administrators use their own site; the provider's routes are not theirs.
    let site = "/c.example.com/prov";
    wait_for_site(&app, site).await;
    let theirs = api(&app, site, &password, Method::GET, "/tenants")
        .send()
        .await
        .expect("tenants on the tenant's site");
    assert_eq!(theirs.status().as_u16(), 404);
    let at_provider = api(&app, "", &password, Method::GET, "/tenants")
        .send()
        .await
        .expect("tenants at the provider's");
    assert_eq!(at_provider.status().as_u16(), 401);

    // A tenant with a phone is not removed; without, it is.
    let added = api(&app, site, &password, Method::POST, "/devices")
        .json(&crate::helpers::device_json("805ec0aa0c01", "301"))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status().as_u16(), 201);
    let (status, text) = answer(
        api(
            &app,
            "",
            provider,
            Method::DELETE,
            &format!("/tenants/{id}"),
        ),
        "-",
    )
    .await;
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("1 phone(s)"), "{text}");
    let gone = api(
        &app,
        site,
        &password,
        Method::DELETE,
        "/devices/805ec0aa0c01",
    )
    .send()
    .await
    .expect("remove phone");
    assert!(gone.status().is_success());
    let removed = api(
        &app,
        "",
        provider,
        Method::DELETE,
        &format!("/tenants/{id}"),
    )
    .send()
    .await
    .expect("remove");
    assert_eq!(removed.status().as_u16(), 204);
    let missing = api(&app, "", provider, Method::GET, &format!("/tenants/{id}"))
        .send()
        .await
        .expect("show");
    assert_eq!(missing.status().as_u16(), 404);
    let default = api(&app, "", provider, Method::DELETE, "/tenants/1")
        .send()
        .await
        .expect("default");
    assert_eq!(default.status().as_u16(), 409);
    app.stop().await;
}

/// A client that does not follow redirects (a sign-in answers 303 with the cookie).
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The sign-in form of the site at `prefix` posted with `password`, as a browser on the
/// server's own origin sends it.
async fn post_sign_in(
    app: &crate::helpers::TestApp,
    prefix: &str,
    password: &str,
) -> reqwest::Response {
    no_redirects()
        .post(format!("{}{prefix}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.base)
        .body(format!("password={password}"))
        .send()
        .await
        .expect("sign in")
}

/// Signs in to the web UI of the site at `prefix`; the whole `Set-Cookie` of the session and
/// the redirect's target.
async fn ui_sign_in(
    app: &crate::helpers::TestApp,
    prefix: &str,
    password: &str,
) -> (String, String) {
    let answer = post_sign_in(app, prefix, password).await;
    assert_eq!(answer.status().as_u16(), 303, "{prefix}");
    let cookie = answer
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("yp_session="))
        .expect("a session cookie")
        .to_owned();
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (cookie, location)
}

/// A UI page of the site at `prefix` with `cookie` (`name=value`, or none): status, where it
/// redirects to, and the body with `mac` written as `MAC`.
async fn ui_get(
    app: &crate::helpers::TestApp,
    prefix: &str,
    cookie: Option<&str>,
    path: &str,
    mac: &str,
) -> (u16, String, String) {
    let mut request = no_redirects()
        .get(format!("{}{prefix}{path}", app.base))
        .header("accept-language", "en");
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let answer = request.send().await.expect("page");
    let status = answer.status().as_u16();
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = answer.text().await.unwrap_or_default().replace(mac, "MAC");
    (status, location, body)
}

#[tokio::test]
async fn a_tenants_web_ui_shows_its_own_phones_and_no_other_tenants_session_opens_it() {
    use reqwest::Method;
    let app = crate::helpers::spawn_app().await;
    let (a_password, b_password) = open_two_tenants(&app).await;
    let mac = "805ec0aa0d01";
    let never = "805ec0aa0dff";
    let added = api(&app, A, &a_password, Method::POST, "/devices")
        .json(&crate::helpers::device_json(mac, "401"))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status().as_u16(), 201);

    // Signing in to A's UI: the cookie is A's site's, and the way on stays on A's site.
    let (a_set, a_next) = ui_sign_in(&app, A, &a_password).await;
    assert!(a_set.contains(&format!("Path={A}/ui;")), "{a_set}");
    assert_eq!(a_next, format!("{A}/ui/devices"));
    let (b_set, _) = ui_sign_in(&app, B, &b_password).await;
    let a_cookie = a_set.split(';').next().expect("cookie").to_owned();
    let b_cookie = b_set.split(';').next().expect("cookie").to_owned();

    // A's pages show A's phone, under A's address.
    let (status, _, page) = ui_get(&app, A, Some(&a_cookie), "/ui/devices", mac).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("MAC") && page.contains(&format!("<base href=\"{A}/\">")),
        "{page}"
    );
    let (status, _, csv) = ui_get(&app, A, Some(&a_cookie), "/ui/devices/export.csv", mac).await;
    assert_eq!(status, 200);
    assert!(csv.contains("MAC"), "{csv}");

    // Another tenant's session opens nothing of A's: answered as no session at all (to A's
    // sign-in), pages, export and live updates alike.
    for path in [
        "/ui/devices",
        "/ui/devices/export.csv",
        "/ui/events",
        "/ui/settings",
        "/ui/rps",
    ] {
        let foreign = ui_get(&app, A, Some(&b_cookie), path, mac).await;
        let none = ui_get(&app, A, None, path, mac).await;
        assert_eq!(foreign, none, "{path}");
        assert_eq!(none.1, format!("{A}/ui/login"), "{path}");
    }
    // ... nor does A's session open the default tenant's pages.
    let foreign = ui_get(&app, "", Some(&a_cookie), "/ui/devices", mac).await;
    assert_eq!(foreign.1, "/ui/login");

    // B's own pages, asked about A's phone, answer as for a phone that never existed.
    for path in [
        "/ui/devices/{mac}",
        "/ui/devices/{mac}/row",
        "/ui/devices/{mac}/edit",
        "/ui/devices?q={mac}",
        "/ui/rps?mac={mac}",
        "/ui/changes?mac={mac}",
    ] {
        let theirs = ui_get(&app, B, Some(&b_cookie), &path.replace("{mac}", mac), mac).await;
        let missing = ui_get(
            &app,
            B,
            Some(&b_cookie),
            &path.replace("{mac}", never),
            never,
        )
        .await;
        assert_eq!(theirs, missing, "{path}");
    }
    let (_, _, b_csv) = ui_get(&app, B, Some(&b_cookie), "/ui/devices/export.csv", mac).await;
    assert!(!b_csv.contains("MAC"), "{b_csv}");
    // A wrong password at B is refused like any other wrong password.
    let wrong = post_sign_in(&app, B, &a_password).await;
    assert_ne!(wrong.status().as_u16(), 303);
    app.stop().await;
}

/// The live page of a tenant's administrator signed in on instance B shows a phone of that
/// tenant served by instance A (PostgreSQL `LISTEN/NOTIFY`, one connection per process for
/// every tenant); the default tenant's live page on B does not.
#[tokio::test]
async fn a_tenants_live_page_on_one_instance_sees_its_phone_served_by_another() {
    let Some(database_url) = crate::helpers::fresh_postgres_url().await else {
        eprintln!("SKIPPED live updates of a tenant across instances: they need PostgreSQL");
        return;
    };
    let a = crate::helpers::spawn_app_on_url(&database_url).await;
    let b = crate::helpers::spawn_app_on_url(&database_url).await;
    let password = add_tenant(&a, "live.example.com").await;
    let prefix = "/live.example.com/yealink";
    wait_for_site(&a, prefix).await;
    wait_for_site(&b, prefix).await;
    let mac = "805ec0aabb78";
    let added = api(&a, prefix, &password, reqwest::Method::POST, "/devices")
        .json(&serde_json::json!({
            "mac": mac,
            "sip_user": "4712",
            "sip_password": "sip-secret-live",
            "registrar": "pbx.test",
        }))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status(), 201);

    // Signed in on B: the tenant's administrator and the default tenant's, each on its page.
    let live_page = |prefix: &'static str, password: String| {
        let b = &b;
        async move {
            let (cookie, _) = ui_sign_in(b, prefix, &password).await;
            let cookie = cookie.split(';').next().expect("name=value").to_owned();
            let events = no_redirects()
                .get(format!("{}{prefix}/ui/events", b.base))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await
                .expect("events");
            assert_eq!(events.status(), 200, "{prefix}");
            events
        }
    };
    let mut tenant_events = live_page(prefix, password.clone()).await;
    let mut default_events = live_page("", crate::helpers::ADMIN_PASSWORD.to_owned()).await;

    // The phone is served by A, under the tenant's prefix.
    let device: serde_json::Value = api(
        &a,
        prefix,
        &password,
        reqwest::Method::GET,
        &format!("/devices/{mac}?reveal=true"),
    )
    .send()
    .await
    .expect("reveal")
    .json()
    .await
    .expect("json");
    let url = device["provisioning_url"].as_str().expect("url");
    let on_a = format!(
        "{}{prefix}{}",
        a.base,
        url.split_once(prefix).expect("prefix").1
    );
    let mut phone = prov_sim::SimPhone::new(mac, "T46U", "108.86.0.91").expect("phone");
    phone.set_provisioning_server(&on_a, None);
    phone
        .provision()
        .await
        .expect("A serves the tenant's phone");

    let wanted = format!("event: device\ndata: {mac}");
    let mut seen = String::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = tenant_events.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&wanted) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(
        found,
        "the tenant's live page on B saw A's phone request: {seen:?}"
    );
    // The default tenant's page on B got the same notification's chance, and nothing of it.
    let mut other = String::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while let Ok(Some(chunk)) = default_events.chunk().await {
            other.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(!other.contains(mac), "the default tenant's page: {other:?}");
    drop((tenant_events, default_events));
    b.stop().await;
    a.stop().await;
}

/// A myApps user of tenant A's PBX (the login A's PBX signs for the app page) gets a session
/// of A's UI only: the same login at B's App object is refused, A's session token entered at
/// B's site is answered as a made-up one, and A's session cookie on B's pages as none.
#[tokio::test]
async fn a_myapps_user_of_one_tenant_opens_that_tenants_ui_only() {
    use crate::myapps::{enter_at, login_and_ask_at, user_login_of};
    let (sim, _dir, (_, a_password), (_, b_password), app) = two_tenants_with_app_objects().await;
    let (a, b) = ("/a.example.com/yealink", "/b.example.com/yealink");
    wait_for_site(&app, a).await;
    wait_for_site(&app, b).await;

    let user = user_login_of("a.example.com", "jdoe", "yealink");
    let answer = login_and_ask_at(&app, a, user.clone(), &a_password).await;
    assert_eq!(answer["mt"], "UiSessionResult", "{answer}");
    let token = answer["token"].as_str().expect("a session of A").to_owned();
    // At B's App object: refused with A's password, and with B's for a user of A's domain.
    for password in [&a_password, &b_password] {
        let refused = login_and_ask_at(&app, b, user.clone(), password).await;
        assert_eq!(refused["mt"], "AppLoginResult", "{refused}");
        assert_eq!(refused["ok"], false, "{refused}");
    }
    // A's token at B's site is a token B never issued.
    let entered_b = enter_at(&app, b, &token, false).await;
    let made_up = enter_at(&app, b, "made-up-token-000000000000", false).await;
    assert_eq!(entered_b.status(), made_up.status());
    assert_eq!(entered_b.status().as_u16(), 401);
    assert!(
        entered_b
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .is_none()
    );
    // At A's site it opens A's UI; its cookie on B's pages is no session.
    let entered_a = enter_at(&app, a, &token, false).await;
    assert_eq!(entered_a.status().as_u16(), 303);
    let cookie = format!("yp_session={token}");
    let (status, _, _) = ui_get(&app, a, Some(&cookie), "/ui/devices", "-").await;
    assert_eq!(status, 200);
    for path in ["/ui/devices", "/ui/settings", "/ui/rps", "/ui/me"] {
        assert_eq!(
            ui_get(&app, b, Some(&cookie), path, "-").await,
            ui_get(&app, b, None, path, "-").await,
            "{path}"
        );
    }
    app.stop().await;
    sim.stop().await;
}
