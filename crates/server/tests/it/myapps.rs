//! The admin UI as a myApps app (docs/innovaphone.md, "The admin app in myApps"): a login the
//! PBX signed for a user becomes a UI session, shared through the database by every instance;
//! the PBX's own login, Users' and a wrong digest get none; framing follows the PBX's origins.

use futures::{SinkExt, StreamExt};
use prov_core::secret::Secret;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, spawn_app_on_url_with, spawn_app_with};

const PASSWORD: &str = "myapps-instance-pw";
const APP: &str = "innovaphone-yealink";
const MYAPPS: &str = "https://pbx.example.com";

/// What the PBX computes (13r1-SDK `doc/appwebsocket/myApps.htm`, AppGetLoginResult): written
/// out here rather than calling the server's `login_digest`.
pub(crate) fn pbx_digest(login: &Value, challenge: &str, password: &str) -> String {
    let s = |k: &str| login[k].as_str().unwrap_or_default().to_owned();
    let text = format!(
        "{}:{}:{}:{}:{}:{}:{challenge}:{password}",
        s("app"),
        s("domain"),
        s("sip"),
        s("guid"),
        s("dn"),
        login["info"]
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn user_login(sip: &str, appobj: &str) -> Value {
    user_login_of("example.com", sip, appobj)
}

/// A user's AppLogin as the PBX of `domain` signs it for the app page.
pub(crate) fn user_login_of(domain: &str, sip: &str, appobj: &str) -> Value {
    json!({
        "mt": "AppLogin", "app": APP, "domain": domain, "sip": sip,
        "guid": "0123456789abcdef0123456789abcdef", "dn": "John Doe",
        "info": {"appobj": appobj, "appdn": "Yealink", "appurl": "https://prov/innovaphone-yealink", "pbx": "master"},
        "pbxObj": "yealink",
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn recv(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// Logs in on the AppWebsocket like the app page does; the socket and the `AppLoginResult`.
async fn log_in(app: &TestApp, login: Value, password: &str) -> (Ws, Value) {
    log_in_at(app, "", login, password).await
}

/// [`log_in`] on the AppWebsocket of the site at `prefix` ("" = the default tenant's).
async fn log_in_at(app: &TestApp, prefix: &str, mut login: Value, password: &str) -> (Ws, Value) {
    let url = format!("{}{prefix}/{APP}", app.base.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    send(&mut ws, json!({"mt": "AppChallenge"})).await;
    let challenge = recv(&mut ws).await.expect("challenge")["challenge"]
        .as_str()
        .expect("challenge text")
        .to_owned();
    login["digest"] = pbx_digest(&login, &challenge, password).into();
    send(&mut ws, login).await;
    let result = recv(&mut ws).await.expect("AppLoginResult");
    assert_eq!(result["mt"], "AppLoginResult");
    (ws, result)
}

/// [`log_in`], then `UiSession`: its `UiSessionResult`, or the failed `AppLoginResult`.
async fn login_and_ask(app: &TestApp, login: Value, password: &str) -> Value {
    login_and_ask_at(app, "", login, password).await
}

/// [`login_and_ask`] on the site at `prefix`.
pub(crate) async fn login_and_ask_at(
    app: &TestApp,
    prefix: &str,
    login: Value,
    password: &str,
) -> Value {
    let (mut ws, result) = log_in_at(app, prefix, login, password).await;
    if result["ok"] != true {
        return result;
    }
    send(&mut ws, json!({"mt": "UiSession"})).await;
    recv(&mut ws).await.expect("UiSessionResult")
}

fn configure(c: &mut prov_core::config::Config) {
    c.innovaphone.password = Some(Secret::new(PASSWORD));
    c.innovaphone.frame_origins = vec![MYAPPS.to_owned()];
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn enter(app: &TestApp, token: &str, framed: bool) -> reqwest::Response {
    enter_at(app, "", token, framed).await
}

/// [`enter`] on the site at `prefix`.
pub(crate) async fn enter_at(
    app: &TestApp,
    prefix: &str,
    token: &str,
    framed: bool,
) -> reqwest::Response {
    no_redirects()
        .post(format!("{}{prefix}/ui/myapps/enter", app.base))
        .header("origin", &app.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={token}&lang=de&framed={}",
            if framed { "1" } else { "" }
        ))
        .send()
        .await
        .expect("enter")
}

#[tokio::test]
async fn a_signed_user_login_opens_the_ui_on_every_instance() {
    let one = spawn_app_with(configure).await;
    let two = spawn_app_on_url_with(&one.database_url, configure).await;

    let answer = login_and_ask(&one, user_login("jdoe", "yealink"), PASSWORD).await;
    assert_eq!(answer["mt"], "UiSessionResult", "{answer}");
    let token = answer["token"].as_str().expect("a session").to_owned();

    // Cross-site POSTs of a token are refused (login CSRF), and a made-up token gets nothing.
    let cross = no_redirects()
        .post(format!("{}/ui/myapps/enter", two.base))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}&framed=1"))
        .send()
        .await
        .expect("cross-site enter");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        enter(&two, "made-up-token", true).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The other instance accepts the session: it is in the shared database.
    let entered = enter(&two, &token, true).await;
    assert_eq!(entered.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<String> = entered
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("yp_session="))
        .expect("session cookie");
    for part in ["Secure", "SameSite=None", "Partitioned", "HttpOnly"] {
        assert!(session.contains(part), "{session}");
    }
    assert!(
        cookies.iter().any(|c| c.starts_with("yp_lang=de")),
        "{cookies:?}"
    );
    let cookie = format!("yp_session={token}");
    let me = no_redirects()
        .get(format!("{}/ui/me", two.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    assert!(me.text().await.unwrap_or_default().contains(">John Doe<"));
    let devices = no_redirects()
        .get(format!("{}/ui/devices", one.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("devices");
    assert_eq!(devices.status(), StatusCode::OK);
    // The PBX's origin may frame the UI, others not; XFO would block it and is left out.
    let csp = devices
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.ends_with(&format!("frame-ancestors 'self' {MYAPPS}")),
        "{csp}"
    );
    assert!(devices.headers().get("x-frame-options").is_none());

    // Signed out on one instance: gone on the other.
    let csrf_page = devices.text().await.unwrap_or_default();
    let csrf = csrf_page
        .split("\"X-CSRF-Token\": \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf token in the page")
        .to_owned();
    let out = no_redirects()
        .post(format!("{}/ui/logout", one.base))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::OK);
    let after = no_redirects()
        .get(format!("{}/ui/devices", two.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("devices after sign-out");
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn no_session_for_a_wrong_digest_the_pbx_itself_or_users() {
    let app = spawn_app_with(configure).await;
    let wrong = login_and_ask(&app, user_login("jdoe", "yealink"), "not-the-password").await;
    assert_eq!(wrong["mt"], "AppLoginResult");
    assert_eq!(wrong["ok"], false);
    // The PBX's own connection: the App object logs in as itself.
    let pbx = login_and_ask(&app, user_login("yealink", "yealink"), PASSWORD).await;
    assert_eq!(pbx["mt"], "UiSessionResult");
    assert!(
        pbx.get("token").is_none() && pbx["error"].is_string(),
        "{pbx}"
    );
    let users = login_and_ask(&app, user_login("users", "users"), PASSWORD).await;
    assert!(users.get("token").is_none(), "{users}");
    // Signed for another App object URL (another `app`): not ours.
    let mut other = user_login("jdoe", "yealink");
    other["app"] = "innovaphone-other".into();
    let other = login_and_ask(&app, other, PASSWORD).await;
    assert!(other.get("token").is_none(), "{other}");
    // A user's socket cannot pose as a PBX (whose pbxDns would become a frame origin).
    let (mut ws, ok) = log_in(&app, user_login("jdoe", "yealink"), PASSWORD).await;
    assert_eq!(ok["ok"], true);
    send(
        &mut ws,
        json!({"mt": "PbxInfo", "domain": "example.com", "pbx": "evil", "pbxDns": "evil.example", "apis": []}),
    )
    .await;
    send(&mut ws, json!({"mt": "UiSession"})).await;
    assert!(recv(&mut ws).await.expect("UiSessionResult")["token"].is_string());
    let csp = ui_csp(&app).await;
    assert!(!csp.contains("evil.example"), "{csp}");
    app.stop().await;
}

/// The CSP of the UI behind the sign-in (restricted to the allowed framers).
async fn ui_csp(app: &TestApp) -> String {
    let page = no_redirects()
        .get(format!("{}/ui/login", app.base))
        .send()
        .await
        .expect("login page");
    page.headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Real installs reach myApps under other names: every origin a PBX-signed login names in
/// `info.appurl` may frame the UI. A framer we do not know gets the page saying what to set,
/// and `doctor` names it.
#[tokio::test]
async fn origins_the_pbx_names_may_frame_and_a_refused_framer_is_told_and_reported() {
    let app = spawn_app_with(configure).await;
    let csp = ui_csp(&app).await;
    assert!(!csp.contains("https://ap.example.com"), "{csp}");
    // The PBX's own login names our App object URL on the App Platform (a reverse proxy).
    let mut pbx = user_login("yealink", "yealink");
    pbx["info"]["appurl"] =
        "https://AP.example.com:8443/example.com/yealink/innovaphone-yealink".into();
    let (_ws, ok) = log_in(&app, pbx, PASSWORD).await;
    assert_eq!(ok["ok"], true);
    let mut learned = String::new();
    for _ in 0..50 {
        learned = ui_csp(&app).await;
        if learned.contains("https://ap.example.com:8443") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(learned.contains("https://ap.example.com:8443"), "{learned}");
    // A user's login names nothing that we trust for framing.
    let mut user = user_login("jdoe", "yealink");
    user["info"]["appurl"] = "https://user-said.example/x".into();
    let _ = log_in(&app, user, PASSWORD).await;
    assert!(!ui_csp(&app).await.contains("user-said.example"));

    // Framed by an unknown origin: the page is shown (any framer), says why, and names the fix.
    let page = no_redirects()
        .get(format!("{}/{APP}.htm?lang=en&name=yealink", app.base))
        .header("referer", "https://10.0.0.9:8443/PBX0/APPS/myapps.htm")
        .header("sec-fetch-dest", "iframe")
        .send()
        .await
        .expect("app page");
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.ends_with("frame-ancestors https: http:"), "{csp}");
    let html = page.text().await.unwrap_or_default();
    assert!(
        html.contains("data-refused-origin=\"https://10.0.0.9:8443\""),
        "{html}"
    );
    assert!(html.contains("innovaphone.frame_origins"), "{html}");
    // An allowed framer is not refused.
    let page = no_redirects()
        .get(format!("{}/{APP}.htm", app.base))
        .header("referer", format!("{MYAPPS}/PBX0/APPS/myapps.htm"))
        .header("sec-fetch-dest", "iframe")
        .send()
        .await
        .expect("app page");
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("data-refused-origin=\"\""), "{html}");

    let mut report = String::new();
    for _ in 0..50 {
        let out = crate::cli::cli_with_env(
            &app,
            &["doctor"],
            &[
                ("YEALINK_PROV_INNOVAPHONE__PASSWORD", PASSWORD),
                (
                    "YEALINK_PROV_INNOVAPHONE__FRAME_ORIGINS",
                    &format!("[\"{MYAPPS}\"]"),
                ),
            ],
        )
        .await;
        report = String::from_utf8_lossy(&out.stdout).into_owned();
        if report.contains("https://10.0.0.9:8443") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = report
        .lines()
        .find(|l| l.contains("myapps_frame"))
        .unwrap_or_default();
    assert!(line.starts_with("[WARN]"), "{report}");
    assert!(line.contains("https://10.0.0.9:8443"), "{report}");
    assert!(line.contains("innovaphone.frame_origins"), "{report}");
    assert!(line.contains("https://ap.example.com:8443"), "{report}");
    app.stop().await;
}

/// myApps shows `<App object URL>.png` as the app's tile (ExternalAppService.htm: 50x50 px).
#[tokio::test]
async fn the_tile_icon_is_served_beside_the_app_page() {
    let app = spawn_app_with(configure).await;
    for query in ["", "?scheme=dark"] {
        let icon = reqwest::get(format!("{}/{APP}.png{query}", app.base))
            .await
            .expect("icon");
        assert_eq!(icon.status(), StatusCode::OK, "{query}");
        assert_eq!(
            icon.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("image/png")
        );
        let bytes = icon.bytes().await.expect("body");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{query}");
        // IHDR: width and height, big-endian, at bytes 16..24.
        assert_eq!(&bytes[16..24], &[0, 0, 0, 50, 0, 0, 0, 50], "{query}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_app_page_is_served_where_myapps_loads_it() {
    let app = spawn_app_with(configure).await;
    let page = no_redirects()
        .get(format!(
            "{}/{APP}.htm?lang=de&scheme=dark&name=yealink",
            app.base
        ))
        .send()
        .await
        .expect("app page");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // The sign-in page may be framed anywhere (it says when its framer is not allowed); the
    // UI behind it only by the allowed origins.
    assert!(csp.ends_with("frame-ancestors https: http:"), "{csp}");
    let ui = ui_csp(&app).await;
    assert!(
        ui.ends_with(&format!("frame-ancestors 'self' {MYAPPS}")),
        "{ui}"
    );
    let html = page.text().await.unwrap_or_default();
    assert!(
        html.contains("<html lang=\"de\" data-scheme=\"dark\">"),
        "{html}"
    );
    assert!(html.contains("data-name=\"yealink\""));
    assert!(html.contains("data-app=\"innovaphone-yealink\""));
    assert!(html.contains("\"ui/assets/myapps.js\""));
    assert!(html.contains("<base href=\"/\">"));
    assert!(!html.contains("<script>"), "no inline script");
    app.stop().await;
}
