//! Hostile load on loopback: each test reproduces one way the service fell over.
//! Timings are generous on purpose: they tell "answered at once" from "hung", nothing finer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{ADMIN_PASSWORD, TestApp, device_json, spawn_app_with};

fn addr(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("socket address")
}

async fn sign_in(app: &TestApp, password: &str) -> StatusCode {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={password}"))
        .send()
        .await
        .expect("sign-in answered")
        .status()
}

#[tokio::test]
async fn parallel_wrong_bearer_guesses_run_a_bounded_number_of_argon2_checks() {
    let app = spawn_app_with(|c| {
        c.limits.password_checks = 2;
        // Out of the way here: this test is about the concurrency bound.
        c.limits.auth_failures = 10_000;
    })
    .await;
    let started = Instant::now();
    // More than the two running and the 64 that may wait.
    let guesses = (0..160).map(|i| {
        app.client
            .get(format!("{}/api/v1/devices", app.base))
            .bearer_auth(format!("wrong-guess-{i}"))
            .send()
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.expect("answered").status())
        .collect();
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(
        statuses.iter().all(|s| matches!(
            *s,
            StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
        )),
        "{statuses:?}"
    );
    assert!(busy > 0, "the excess must be turned away: {statuses:?}");
    assert!(app.admin.peak_checks_in_flight() <= 2);
    assert!(started.elapsed() < Duration::from_secs(60));
    // The right password still works, from the argon2 check or the remembered credential.
    let ok = app.api(Method::GET, "/devices").send().await.expect("GET");
    assert_eq!(ok.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn parallel_wrong_sign_ins_are_limited_atomically_and_the_right_password_still_works() {
    let app = spawn_app_with(|c| {
        c.limits.auth_failures = 5;
        c.limits.auth_failure_refill_secs = 2;
        c.limits.password_checks = 16;
    })
    .await;
    let attempts = (0..60).map(|_| sign_in(&app, "wrong-password"));
    let started = std::time::Instant::now();
    let statuses = futures::future::join_all(attempts).await;
    // The burst of 5, plus one try per 2 s refill period the 60 attempts took on a busy
    // machine: anything above means parallel guesses slipped past the budget.
    let budget = 5 + (started.elapsed().as_secs() / 2) as usize;
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        wrong <= budget,
        "{wrong} wrong passwords were checked, the budget allows {budget}: {statuses:?}"
    );
    assert_eq!(wrong + limited, 60, "{statuses:?}");
    // The API shares the address's budget: a guess there is refused unchecked too.
    let api = app
        .client
        .get(format!("{}/api/v1/devices", app.base))
        .bearer_auth("another-guess")
        .send()
        .await
        .expect("answered");
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(api.headers().contains_key("retry-after"));
    // One more try per refill period; a right password does not use it up.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for _ in 0..5 {
        assert_eq!(sign_in(&app, ADMIN_PASSWORD).await, StatusCode::SEE_OTHER);
    }
    app.stop().await;
}

/// Reads until EOF or reset; `None` when the socket stayed open for `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| seen)
}

async fn raw_get(to: SocketAddr, from: Option<&str>, path: &str) -> String {
    let mut stream = match from {
        Some(ip) => {
            let socket = TcpSocket::new_v4().expect("socket");
            socket
                .bind(format!("{ip}:0").parse().expect("addr"))
                .expect("bind");
            socket.connect(to).await.expect("connect")
        }
        None => TcpStream::connect(to).await.expect("connect"),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {to}\r\nAuthorization: Bearer {ADMIN_PASSWORD}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let body = closed_within(&mut stream, Duration::from_secs(20))
        .await
        .expect("answered and closed");
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test]
async fn silent_and_idle_sockets_are_closed_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.limits.header_timeout_secs = 1).await;
    let to = addr(&app);
    let mut silent = TcpStream::connect(to).await.expect("connect");
    assert!(
        closed_within(&mut silent, Duration::from_secs(15))
            .await
            .is_some(),
        "a socket that never sends headers must be closed"
    );
    let mut idle = TcpStream::connect(to).await.expect("connect");
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {to}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let seen = closed_within(&mut idle, Duration::from_secs(15))
        .await
        .expect("an idle keep-alive connection must be closed");
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    app.stop().await;
}

#[tokio::test]
async fn connections_above_the_per_source_cap_are_refused_while_others_are_served() {
    let app = spawn_app_with(|c| {
        c.limits.max_connections_per_source = 3;
        c.limits.header_timeout_secs = 60;
    })
    .await;
    let to = addr(&app);
    // The test client's own pooled connection counts too: open until one is refused.
    let mut held = Vec::new();
    let mut refused = false;
    for _ in 0..5 {
        let mut s = TcpStream::connect(to).await.expect("connect");
        if closed_within(&mut s, Duration::from_millis(500))
            .await
            .is_some()
        {
            refused = true;
            break;
        }
        held.push(s);
    }
    assert!(refused && held.len() <= 3, "held {}", held.len());
    // Another source address on the loopback network is not affected.
    let answer = raw_get(to, Some("127.0.0.2"), "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn a_connection_flood_leaves_the_reserve_to_health_and_the_admin_api() {
    let app = spawn_app_with(|c| {
        c.limits.max_connections = 12;
        c.limits.reserved_connections = 6;
        c.limits.header_timeout_secs = 60;
    })
    .await;
    let to = addr(&app);
    // Fill the normal places with silent sockets (the client's pooled one may hold one more).
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(TcpStream::connect(to).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let phone = raw_get(to, None, "/prov/001565aabbcc.cfg").await;
    assert!(phone.starts_with("HTTP/1.1 503"), "{phone}");
    let health = raw_get(to, None, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let api = raw_get(to, None, "/api/v1/devices").await;
    assert!(api.starts_with("HTTP/1.1 200"), "{api}");
    // Above the total, connections are closed at once.
    let mut refused = false;
    for _ in 0..10 {
        let mut s = TcpStream::connect(to).await.expect("connect");
        if closed_within(&mut s, Duration::from_millis(500))
            .await
            .is_some()
        {
            refused = true;
            break;
        }
        held.push(s);
    }
    assert!(refused, "the total cap must refuse");
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn an_import_of_25000_rows_is_not_cut_by_the_default_body_limit() {
    let app = spawn_app_with(|_| {}).await;
    let mut csv = String::from("mac,sip_user,sip_password,registrar\n");
    for n in 0..25_000u32 {
        csv.push_str(&format!(
            "001565{n:06x},{},secret-{n},pbx.example.test\n",
            10_000 + n
        ));
    }
    assert!(csv.len() > 1024 * 1024);
    let response = app
        .api(Method::POST, "/devices/import")
        .header("content-type", "text/csv")
        .body(csv)
        // A debug build on a busy CI machine takes close to the client's usual 20 s for this.
        .timeout(Duration::from_secs(180))
        .send()
        .await
        .expect("import");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["imported"], 25_000, "{}", body["rows"][0]);
    app.stop().await;
}

#[tokio::test]
async fn impossible_macs_are_refused_with_a_clear_error() {
    let app = spawn_app_with(|_| {}).await;
    for mac in [
        "00:00:00:00:00:00",
        "ff:ff:ff:ff:ff:ff",
        "01:00:5e:00:00:fb",
    ] {
        let response = app
            .api(Method::POST, "/devices")
            .json(&device_json(mac, "100"))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{mac}");
        let body: Value = response.json().await.expect("json");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot be a phone")),
            "{body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn ui_sends_security_headers_and_exports_formulas_as_text() {
    let app = spawn_app_with(|_| {}).await;
    let mut device = device_json("001565aabb01", "100");
    device["display_name"] = "=HYPERLINK(\"http://evil.example/\",\"x\")".into();
    app.add_device(device).await;
    let login = app
        .client
        .get(format!("{}/ui/login", app.base))
        .send()
        .await
        .expect("login page");
    let h = login.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(
        h.get("x-frame-options").and_then(|v| v.to_str().ok()),
        Some("SAMEORIGIN")
    );
    assert_eq!(
        h.get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let signed_in = client
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={ADMIN_PASSWORD}"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned();
    let csv = client
        .get(format!("{}/ui/devices/export.csv", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"),
        "{csv}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_digest_put_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    app.add_device(device_json("001565aabb02", "102")).await;
    let device = app.revealed("001565aabb02").await;
    let user = device["http_username"].as_str().expect("user").to_owned();
    let password = device["http_password"]
        .as_str()
        .expect("password")
        .to_owned();
    let uri = "/prov/001565aabb02-local.cfg";
    let url = format!("{}{uri}", app.base);
    let challenge = app.client.put(&url).send().await.expect("challenge");
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    let www = challenge
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .expect("challenge")
        .to_owned();
    let mut prompt = digest_auth::parse(&www).expect("digest challenge");
    let context = digest_auth::AuthContext::new_with_method(
        user.as_str(),
        password.as_str(),
        uri,
        Option::<&[u8]>::None,
        digest_auth::HttpMethod::PUT,
    );
    let answer = prompt
        .respond(&context)
        .expect("respond")
        .to_header_string();
    let put = |auth: String| {
        app.client
            .put(&url)
            .header("authorization", auth)
            .body("static.custom = 1\n")
            .send()
    };
    assert_eq!(
        put(answer.clone()).await.expect("PUT").status(),
        StatusCode::OK
    );
    let replay = put(answer).await.expect("replayed PUT");
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED, "replay accepted");
    // The phone's next request (nc 2) on the same nonce is fine.
    let next = prompt
        .respond(&context)
        .expect("respond")
        .to_header_string();
    assert_eq!(put(next).await.expect("PUT").status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn refused_requests_are_capped_in_the_request_log() {
    let app = spawn_app_with(|c| c.limits.request_log_keep_anonymous = 100).await;
    for i in 0..400 {
        let r = app
            .client
            .get(format!("{}/prov/nobody-{i}.cfg", app.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // The log is written in batches: wait until the last refusal shows up.
    let mut n = 0;
    for _ in 0..100 {
        let rows: Value = app
            .api(Method::GET, "/requests?limit=1000")
            .send()
            .await
            .expect("GET /requests")
            .json()
            .await
            .expect("json");
        let rows = rows.as_array().cloned().unwrap_or_default();
        n = rows.len();
        if rows.iter().any(|r| r["file"] == "nobody-399.cfg") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Trimmed every 100 refusals to the newest 100: never more than 200 here.
    assert!((1..=200).contains(&n), "{n} anonymous rows kept");
    app.stop().await;
}

/// The HTTP/2 client preface and an empty SETTINGS frame (RFC 9113, 3.4 and 6.5).
const H2_START: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// A PING frame (RFC 9113, 6.7).
const H2_PING: &[u8] = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08";

#[tokio::test]
async fn a_bare_pri_or_a_whole_http2_preface_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.limits.header_timeout_secs = 1).await;
    let to = addr(&app);
    // hyper-util's protocol detection waits for 24 bytes without a timer.
    let mut pri = TcpStream::connect(to).await.expect("connect");
    pri.write_all(b"PRI").await.expect("write");
    assert!(
        closed_within(&mut pri, Duration::from_secs(8))
            .await
            .is_some(),
        "a socket that sent `PRI` and nothing more must be closed"
    );
    // The whole preface, then silence: no SETTINGS, no request.
    let mut preface = TcpStream::connect(to).await.expect("connect");
    preface.write_all(&H2_START[..24]).await.expect("write");
    assert!(
        closed_within(&mut preface, Duration::from_secs(8))
            .await
            .is_some(),
        "a socket that sent the HTTP/2 preface and nothing more must be closed"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_http2_connection_kept_open_by_pings_alone_is_closed() {
    let app = spawn_app_with(|c| c.limits.header_timeout_secs = 1).await;
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connect");
    stream.write_all(H2_START).await.expect("write");
    let started = Instant::now();
    let mut closed = false;
    let mut buf = [0u8; 4096];
    // A PING every 300 ms for up to 8 s: traffic, but never a request.
    while started.elapsed() < Duration::from_secs(8) {
        if stream.write_all(H2_PING).await.is_err() {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(
        closed,
        "an HTTP/2 connection without requests must be closed"
    );
    // And a request on a fresh connection is still served.
    assert_eq!(
        app.client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .expect("healthz")
            .status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn a_body_trickled_byte_by_byte_is_cut_at_the_body_timeout() {
    let app = spawn_app_with(|c| c.limits.body_timeout_secs = 2).await;
    let to = addr(&app);
    let mut stream = TcpStream::connect(to).await.expect("connect");
    let head = format!(
        "POST /ui/login HTTP/1.1\r\nHost: {to}\r\nOrigin: http://{to}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // One byte every 500 ms: each would reset a timeout that only counts silence.
    let answered = loop {
        if started.elapsed() > Duration::from_secs(12) {
            break false;
        }
        let _ = stream.write_all(b"x").await;
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => {
                seen.extend_from_slice(&buf[..n]);
                break true;
            }
            Err(_) => {}
        }
    };
    assert!(answered, "a trickled body held its connection for 12 s");
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "refused, not signed in: {text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_anonymous_upload_is_refused_before_its_body_is_read() {
    let app = spawn_app_with(|_| {}).await;
    let to = addr(&app);
    let mut stream = TcpStream::connect(to).await.expect("connect");
    // Headers announcing a 200 KB upload, and no body at all.
    let head = format!(
        "PUT /prov/001565aabb02-local.cfg HTTP/1.1\r\nHost: {to}\r\nContent-Length: 200000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await;
    let answer = match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        other => panic!("no answer without the body: {other:?}"),
    };
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_sign_in_body_beyond_what_a_form_needs_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let to = addr(&app);
    let padding = "a".repeat(64 * 1024);
    let status = reqwest::Client::new()
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", format!("http://{to}"))
        .body(format!("password=wrong&pad={padding}"))
        .send()
        .await
        .expect("answered")
        .status();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}
