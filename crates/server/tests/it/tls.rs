//! The HTTPS listener: phones over TLS, and Basic accepted only there.

use std::time::Duration;

use base64::Engine;
use prov_sim::SimPhone;
use reqwest::StatusCode;

use crate::helpers::{device_json, spawn_app_with};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test]
async fn phones_provision_over_https_and_basic_works_only_there() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = tempfile::tempdir().expect("dir");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).expect("write cert");
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).expect("write key");
    let tls_port = free_port();
    let app = spawn_app_with(|c| {
        c.listen_tls = Some(std::net::SocketAddr::from(([127, 0, 0, 1], tls_port)));
        c.tls_cert = Some(cert_path.clone());
        c.tls_key = Some(key_path.clone());
    })
    .await;
    app.add_device(device_json("805ec0aaff01", "901")).await;
    let device = app.revealed("805ec0aaff01").await;
    let password = device["http_password"].as_str().expect("pw").to_owned();
    let token_url = device["provisioning_url"].as_str().expect("url").to_owned();
    let path = token_url.trim_start_matches(&app.base).to_owned();

    let client = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("ca"),
        ])
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let https = format!("https://localhost:{tls_port}");
    // The listener starts with the server; give it a moment.
    for _ in 0..50 {
        if client.get(format!("{https}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A simulated phone over HTTPS with its token URL.
    let mut phone = SimPhone::new("805ec0aaff01", "T46U", "108.86.0.90")
        .expect("phone")
        .with_client(client.clone());
    phone.set_provisioning_server(&format!("{https}{path}"), None);
    phone.provision().await.expect("provisions over TLS");
    assert_eq!(
        phone
            .params()
            .get("account.1.user_name")
            .map(String::as_str),
        Some("901")
    );

    // Basic with the phone's credentials: accepted over TLS, refused over plain HTTP.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("805ec0aaff01:{password}"))
    );
    let over_tls = client
        .get(format!("{https}/prov/805ec0aaff01.cfg"))
        .header("Authorization", &basic)
        .send()
        .await
        .expect("https");
    assert_eq!(over_tls.status(), StatusCode::OK);
    let plain = app
        .client
        .get(format!("{}/prov/805ec0aaff01.cfg", app.base))
        .header("Authorization", &basic)
        .send()
        .await
        .expect("http");
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    // Over TLS the refusal offers Basic too.
    let refused = client
        .get(format!("{https}/prov/805ec0aaff01.cfg"))
        .send()
        .await
        .expect("https");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let offers: Vec<_> = refused
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(offers, ["Digest", "Basic"]);
    app.stop().await;
}
