//! The HTTPS listener: phones over TLS, and Basic accepted only there.

use std::time::Duration;

use base64::Engine;
use prov_sim::SimPhone;
use reqwest::StatusCode;

use crate::helpers::{TestApp, device_json, spawn_app_with};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test]
async fn phones_provision_over_https_and_basic_works_only_there() {
    let (app, client, https, _dir) = spawn_tls_app(reqwest::redirect::Policy::default()).await;
    app.add_device(device_json("805ec0aaff01", "901")).await;
    let device = app.revealed("805ec0aaff01").await;
    let password = device["http_password"].as_str().expect("pw").to_owned();
    let token_url = device["provisioning_url"].as_str().expect("url").to_owned();
    let path = token_url.trim_start_matches(&app.base).to_owned();

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

/// A test PKI in the shape of Yealink's (docs/security.md, "Phone certificates"): a root, an
/// issuing CA below it, and per-phone device certificates with the MAC as the subject CN; the
/// phone sends its certificate and the issuing CA, the administrator's bundle holds the root.
struct PhonePki {
    root_pem: String,
    valid: String,
    other_mac: String,
    wrong_ca: String,
    expired: String,
    generic: String,
}

fn ca_params(cn: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params
}

/// A device certificate: `CN=<cn>`, usable as TLS client (and server, as Yealink's is).
fn device_identity(
    cn: &str,
    issuer: &rcgen::CertifiedIssuer<'_, rcgen::KeyPair>,
    expired: bool,
) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    if expired {
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(400);
        params.not_after = now - time::Duration::days(1);
    }
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("sign");
    // Key, then the chain the phone sends: its certificate and the issuing CA.
    format!("{}{}{}", key.serialize_pem(), cert.pem(), issuer.pem())
}

fn phone_pki() -> PhonePki {
    let root = rcgen::CertifiedIssuer::self_signed(
        ca_params("Test Yealink Root CA"),
        rcgen::KeyPair::generate().expect("key"),
    )
    .expect("root");
    let issuing = rcgen::CertifiedIssuer::signed_by(
        ca_params("Test Yealink Equipment Issuing CA"),
        rcgen::KeyPair::generate().expect("key"),
        &root,
    )
    .expect("issuing");
    let stranger = rcgen::CertifiedIssuer::self_signed(
        ca_params("Some Other CA"),
        rcgen::KeyPair::generate().expect("key"),
    )
    .expect("other");
    PhonePki {
        root_pem: root.pem(),
        valid: device_identity("805ec0aaff01", &issuing, false),
        other_mac: device_identity("805ec0aaff02", &issuing, false),
        wrong_ca: device_identity("805ec0aaff01", &stranger, false),
        expired: device_identity("805ec0aaff01", &issuing, true),
        // Issued by the same CA to every phone; it names no MAC.
        generic: device_identity("Yealink generic device certificate", &issuing, false),
    }
}

struct MtlsApp {
    app: crate::helpers::TestApp,
    https: String,
    tls: std::net::SocketAddr,
    server_pem: String,
    server_ca: reqwest::Certificate,
    /// `/prov/<token>/805ec0aaff01.cfg`
    path: String,
}

impl MtlsApp {
    fn client(&self, identity: Option<&str>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([self.server_ca.clone()])
            .timeout(Duration::from_secs(10));
        if let Some(pem) = identity {
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("id"));
        }
        builder.build().expect("client")
    }

    async fn fetch(&self, identity: Option<&str>) -> (StatusCode, String) {
        let response = self
            .client(identity)
            .get(format!("{}{}", self.https, self.path))
            .send()
            .await
            .expect("https request");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }
}

async fn spawn_mtls(mode: &str, pki: &PhonePki, dir: &std::path::Path) -> MtlsApp {
    let server = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    let ca_path = dir.join("phone-ca.pem");
    std::fs::write(&cert_path, server.cert.pem()).expect("write cert");
    std::fs::write(&key_path, server.signing_key.serialize_pem()).expect("write key");
    std::fs::write(&ca_path, &pki.root_pem).expect("write phone ca");
    let mode: prov_core::phone_cert::PhoneCertMode =
        serde_json::from_value(serde_json::json!(mode)).expect("mode");
    let tls_port = free_port();
    let app = spawn_app_with(|c| {
        c.listen_tls = Some(std::net::SocketAddr::from(([127, 0, 0, 1], tls_port)));
        c.tls_cert = Some(cert_path.clone());
        c.tls_key = Some(key_path.clone());
        c.phone_certificates = mode;
        c.phone_ca_file = Some(ca_path.clone());
    })
    .await;
    app.add_device(device_json("805ec0aaff01", "901")).await;
    app.add_device(device_json("805ec0aaff02", "902")).await;
    let device = app.revealed("805ec0aaff01").await;
    let token_url = device["provisioning_url"].as_str().expect("url").to_owned();
    // The provisioning URL names the folder; the phone appends the file.
    let path = format!(
        "{}/805ec0aaff01.cfg",
        token_url
            .trim_start_matches(&app.base)
            .trim_end_matches('/')
    );
    let mtls = MtlsApp {
        app,
        https: format!("https://localhost:{tls_port}"),
        tls: std::net::SocketAddr::from(([127, 0, 0, 1], tls_port)),
        server_pem: server.cert.pem(),
        server_ca: reqwest::Certificate::from_pem(server.cert.pem().as_bytes()).expect("ca"),
        path,
    };
    // The listener starts with the server; give it a moment. Browsers reach it without a
    // certificate (the admin pages share it).
    let anonymous = mtls.client(None);
    for _ in 0..50 {
        if let Ok(r) = anonymous
            .get(format!("{}/healthz", mtls.https))
            .send()
            .await
        {
            assert_eq!(r.status(), StatusCode::OK);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mtls
}

const REFUSED: (StatusCode, &str) = (StatusCode::UNAUTHORIZED, "Unauthorized\n");

fn refused(got: &(StatusCode, String)) -> bool {
    got.0 == REFUSED.0 && got.1 == REFUSED.1
}

#[tokio::test]
async fn required_phone_certificates_admit_only_a_valid_certificate_naming_the_mac() {
    let pki = phone_pki();
    let dir = tempfile::tempdir().expect("dir");
    let m = spawn_mtls("required", &pki, dir.path()).await;

    let valid = m.fetch(Some(&pki.valid)).await;
    assert_eq!(valid.0, StatusCode::OK, "valid certificate: {}", valid.1);
    assert!(valid.1.contains("account.1.user_name = 901"), "{}", valid.1);
    for (name, identity) in [
        ("other MAC", Some(&pki.other_mac)),
        ("wrong CA", Some(&pki.wrong_ca)),
        ("expired", Some(&pki.expired)),
        ("generic", Some(&pki.generic)),
        ("none", None),
    ] {
        let got = m.fetch(identity.map(String::as_str)).await;
        // The same answer as any refused phone: nothing says which check failed.
        assert!(refused(&got), "{name}: {got:?}");
    }
    // The certificate adds to the token/Digest checks; it does not replace them.
    let no_token = m
        .client(Some(&pki.valid))
        .get(format!("{}/prov/805ec0aaff01.cfg", m.https))
        .send()
        .await
        .expect("https");
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    // Plain HTTP carries no certificate, so required refuses it even with the token URL.
    let plain = m
        .app
        .client
        .get(format!("{}{}", m.app.base, m.path))
        .send()
        .await
        .expect("http");
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    m.app.stop().await;
}

#[tokio::test]
async fn preferred_phone_certificates_refuse_bad_ones_and_fall_back_without_one() {
    let pki = phone_pki();
    let dir = tempfile::tempdir().expect("dir");
    let m = spawn_mtls("preferred", &pki, dir.path()).await;

    assert_eq!(m.fetch(Some(&pki.valid)).await.0, StatusCode::OK);
    // A phone without a unique certificate is judged by the token as before.
    assert_eq!(m.fetch(None).await.0, StatusCode::OK);
    for (name, identity) in [
        ("other MAC", &pki.other_mac),
        ("wrong CA", &pki.wrong_ca),
        ("expired", &pki.expired),
        ("generic", &pki.generic),
    ] {
        let got = m.fetch(Some(identity)).await;
        assert!(refused(&got), "{name}: {got:?}");
    }
    let plain = m
        .app
        .client
        .get(format!("{}{}", m.app.base, m.path))
        .send()
        .await
        .expect("http");
    assert_eq!(plain.status(), StatusCode::OK);
    m.app.stop().await;
}

#[tokio::test]
async fn phone_certificates_need_a_readable_ca_bundle() {
    use prov_core::phone_cert::{PhoneCertError, PhoneCertMode, PhoneCerts};
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let dir = tempfile::tempdir().expect("dir");
    let missing = PhoneCerts::load(PhoneCertMode::Required, None, provider.clone());
    assert!(matches!(missing, Err(PhoneCertError::NoCaFile(_))));
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let no_ca = PhoneCerts::load(PhoneCertMode::Preferred, Some(&empty), provider.clone());
    assert!(matches!(no_ca, Err(PhoneCertError::NoCa(_))), "{no_ca:?}");
    let absent = PhoneCerts::load(
        PhoneCertMode::Preferred,
        Some(&dir.path().join("absent.pem")),
        provider,
    );
    assert!(matches!(absent, Err(PhoneCertError::Read { .. })));
}

/// An HTTPS server with a self-signed `localhost` certificate; `adjust` sets the limits.
struct HttpsApp {
    app: crate::helpers::TestApp,
    tls: std::net::SocketAddr,
    server_pem: String,
}

impl HttpsApp {
    async fn spawn(
        dir: &std::path::Path,
        adjust: impl FnOnce(&mut prov_core::config::Config),
    ) -> Self {
        let server =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, server.cert.pem()).expect("write cert");
        std::fs::write(&key_path, server.signing_key.serialize_pem()).expect("write key");
        let tls = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
        let app = spawn_app_with(|c| {
            c.listen_tls = Some(tls);
            c.tls_cert = Some(cert_path.clone());
            c.tls_key = Some(key_path.clone());
            adjust(c);
        })
        .await;
        let https = HttpsApp {
            app,
            tls,
            server_pem: server.cert.pem(),
        };
        // The listener starts with the server; give it a moment (from another source address,
        // so no test's per-source budget is touched by a pooled connection).
        for _ in 0..50 {
            if https.healthz_from("127.0.0.3").await.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        https
    }

    /// GET /healthz over HTTPS from `from`, on a fresh connection; `None` when not answered.
    async fn healthz_from(&self, from: &str) -> Option<StatusCode> {
        let client = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(self.server_pem.as_bytes()).expect("ca")
            ])
            .local_address(Some(from.parse().expect("ip")))
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let url = format!("https://localhost:{}/healthz", self.tls.port());
        client.get(url).send().await.ok().map(|r| r.status())
    }

    /// A TCP connection to the HTTPS listener with the TLS handshake done.
    async fn handshake(
        &self,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        self.handshake_with(self.client_config(provider, rustls::DEFAULT_VERSIONS))
            .await
    }

    fn client_config(
        &self,
        provider: rustls::crypto::CryptoProvider,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ClientConfig {
        client_config(&self.server_pem, provider, versions).with_no_client_auth()
    }

    async fn handshake_with(
        &self,
        config: rustls::ClientConfig,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        tls_connect(self.tls, config).await
    }
}

/// A client trusting `server_pem`, with these groups and versions; the client certificate is
/// still to choose.
fn client_config(
    server_pem: &str,
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(server_pem.as_bytes()).expect("der");
    roots.add(der).expect("root");
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
}

/// A TCP connection to `addr` with the TLS handshake (to `localhost`) done.
async fn tls_connect(
    addr: std::net::SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))?
}

/// Reads until EOF or an error; `None` when the stream stayed open for `within`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    within: Duration,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
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

#[tokio::test]
async fn idle_tls_sockets_beyond_the_per_source_cap_are_refused_while_health_answers() {
    let dir = tempfile::tempdir().expect("dir");
    let h = HttpsApp::spawn(dir.path(), |c| {
        c.limits.max_connections_per_source = 3;
        c.limits.header_timeout_secs = 60;
    })
    .await;
    // Idle TLS sessions from 127.0.0.1 until one is refused (closed before or during the
    // handshake, or right after it).
    let mut held = Vec::new();
    let mut refused = false;
    for _ in 0..6 {
        match h.handshake().await {
            Ok(mut s) => {
                if closed_within(&mut s, Duration::from_millis(500))
                    .await
                    .is_some()
                {
                    refused = true;
                    break;
                }
                held.push(s);
            }
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    assert!(refused && held.len() <= 3, "held {}", held.len());
    // The budget is the address's on both listeners: plain HTTP from it is refused too.
    let mut plain = tokio::net::TcpStream::connect(h.app.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    assert!(
        closed_within(&mut plain, Duration::from_secs(2))
            .await
            .is_some(),
        "the per-source cap is shared by the two listeners"
    );
    // Another source address still gets /healthz over HTTPS.
    assert_eq!(h.healthz_from("127.0.0.2").await, Some(StatusCode::OK));
    drop(held);
    // Closed sessions give their places back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.healthz_from("127.0.0.1").await, Some(StatusCode::OK));
    h.app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_the_tls_handshake_is_closed_after_the_timeout() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("dir");
    let h = HttpsApp::spawn(dir.path(), |c| {
        c.limits.tls_handshake_timeout_secs = 1;
        c.limits.header_timeout_secs = 60;
    })
    .await;
    let started = std::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(h.tls)
        .await
        .expect("connect");
    // A partial ClientHello record header, then nothing.
    let mut partial = tokio::net::TcpStream::connect(h.tls)
        .await
        .expect("connect");
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .expect("write");
    for (name, stream) in [("silent", &mut silent), ("partial", &mut partial)] {
        assert!(
            closed_within(stream, Duration::from_secs(10))
                .await
                .is_some(),
            "{name}: a socket that never finishes the handshake must be closed"
        );
    }
    // Not at once: the handshake has its second; not at the header timeout (60 s) either.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(h.healthz_from("127.0.0.2").await, Some(StatusCode::OK));
    h.app.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_and_silent_sessions_over_tls_are_closed_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("dir");
    let h = HttpsApp::spawn(dir.path(), |c| {
        c.limits.header_timeout_secs = 1;
        c.limits.tls_handshake_timeout_secs = 60;
    })
    .await;
    // Handshake done, then no request.
    let mut silent = h.handshake().await.expect("handshake");
    assert!(
        closed_within(&mut silent, Duration::from_secs(10))
            .await
            .is_some(),
        "a TLS session that never sends a request must be closed"
    );
    // One keep-alive request answered, then idle.
    let mut idle = h.handshake().await.expect("handshake");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let seen = closed_within(&mut idle, Duration::from_secs(10))
        .await
        .expect("an idle keep-alive TLS connection must be closed");
    assert!(
        String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    h.app.stop().await;
}

/// Browsers speak HTTP/2 on the HTTPS listener, where there is no `Host` header: the sign-in's
/// same-origin check must read the request's authority, and refuse an `http` Origin there.
#[tokio::test]
async fn the_sign_in_works_over_http2_on_the_tls_listener() {
    let (app, client, https, _dir) = spawn_tls_app(reqwest::redirect::Policy::none()).await;
    let tls_port = https.rsplit(':').next().expect("port").to_owned();
    let sign_in = |origin: String| {
        client
            .post(format!("{https}/ui/login"))
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("password={}", crate::helpers::ADMIN_PASSWORD))
            .send()
    };
    let ok = sign_in(https.clone()).await.expect("sign-in");
    assert_eq!(ok.version(), reqwest::Version::HTTP_2, "ALPN gave HTTP/2");
    assert!(
        ok.status().is_redirection() && ok.headers().contains_key("set-cookie"),
        "{} {:?}",
        ok.status(),
        ok.headers()
    );
    let downgraded = sign_in(format!("http://localhost:{tls_port}"))
        .await
        .expect("sign-in");
    assert_eq!(downgraded.status(), StatusCode::FORBIDDEN);
    let other = sign_in("https://evil.example".into())
        .await
        .expect("sign-in");
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

/// An app with a TLS listener on `localhost` (self-signed), a client trusting it, its base URL,
/// and the folder holding the certificate.
async fn spawn_tls_app(
    redirects: reqwest::redirect::Policy,
) -> (TestApp, reqwest::Client, String, tempfile::TempDir) {
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
    let client = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("ca"),
        ])
        .redirect(redirects)
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
    (app, client, https, dir)
}

/// `GET /healthz` on a fresh connection with `config`; how the handshake went and the group
/// it used.
async fn one_request(
    h: &HttpsApp,
    config: &rustls::ClientConfig,
) -> (rustls::HandshakeKind, Option<rustls::NamedGroup>) {
    let (kind, group, answer) = get_once(h.tls, config, "/healthz").await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    (kind, group)
}

/// `GET path` on a fresh connection to `addr`: how the handshake went, the group it used (none
/// when a TLS 1.2 session was resumed), and the whole answer. The answer is read to the end, so the session tickets sent after the
/// handshake have reached the client's session store.
async fn get_once(
    addr: std::net::SocketAddr,
    config: &rustls::ClientConfig,
    path: &str,
) -> (rustls::HandshakeKind, Option<rustls::NamedGroup>, Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tls_connect(addr, config.clone()).await.expect("handshake");
    let (_, connection) = stream.get_ref();
    let kind = connection.handshake_kind().expect("handshake done");
    let group = connection.negotiated_key_exchange_group().map(|g| g.name());
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let answer = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("closed after the answer");
    (kind, group, answer)
}

/// The client's session store, counting the TLS 1.3 tickets the server sends.
#[derive(Debug)]
struct CountingStore {
    inner: rustls::client::ClientSessionMemoryCache,
    tls13_tickets: std::sync::atomic::AtomicUsize,
}

impl CountingStore {
    fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(CountingStore {
            inner: rustls::client::ClientSessionMemoryCache::new(32),
            tls13_tickets: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn tickets(&self) -> usize {
        self.tls13_tickets.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl rustls::client::ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, name: rustls_pki_types::ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, group);
    }

    fn kx_hint(&self, name: &rustls_pki_types::ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(name)
    }

    fn set_tls12_session(
        &self,
        name: rustls_pki_types::ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(name, value);
    }

    fn tls12_session(
        &self,
        name: &rustls_pki_types::ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }

    fn remove_tls12_session(&self, name: &rustls_pki_types::ServerName<'static>) {
        self.inner.remove_tls12_session(name);
    }

    fn insert_tls13_ticket(
        &self,
        name: rustls_pki_types::ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tls13_tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.insert_tls13_ticket(name, value);
    }

    fn take_tls13_ticket(
        &self,
        name: &rustls_pki_types::ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(name)
    }
}

/// The server takes the first group in the client's list that it supports, without a second
/// round trip: X25519 for today's phones (OpenSSL offers it first), the post-quantum hybrid for
/// a client that offers that first (decision 78).
#[tokio::test]
async fn the_server_takes_the_key_exchange_group_the_client_offers_first() {
    use rustls::crypto::aws_lc_rs::kx_group;
    let dir = tempfile::tempdir().expect("dir");
    let h = HttpsApp::spawn(dir.path(), |_| {}).await;
    for (offered, expected) in [
        (
            vec![
                kx_group::X25519,
                kx_group::SECP256R1,
                kx_group::X25519MLKEM768,
            ],
            rustls::NamedGroup::X25519,
        ),
        (
            vec![kx_group::X25519MLKEM768, kx_group::X25519],
            rustls::NamedGroup::X25519MLKEM768,
        ),
        (vec![kx_group::SECP256R1], rustls::NamedGroup::secp256r1),
    ] {
        let provider = rustls::crypto::CryptoProvider {
            kx_groups: offered,
            ..rustls::crypto::aws_lc_rs::default_provider()
        };
        let config = h.client_config(provider, rustls::DEFAULT_VERSIONS);
        let (kind, group) = one_request(&h, &config).await;
        assert_eq!(group, Some(expected));
        assert_eq!(kind, rustls::HandshakeKind::Full, "{expected:?}: no retry");
    }
    h.app.stop().await;
}

/// A full TLS 1.3 handshake brings exactly one session ticket (a factory-fresh phone never uses
/// it; each costs the server an encryption), and a phone that reconnects resumes with it, also
/// after hundreds of other phones' handshakes, as one on TLS 1.2 resumes with its ticket;
/// decision 78.
#[tokio::test]
async fn one_ticket_per_handshake_and_a_reconnecting_client_resumes() {
    let dir = tempfile::tempdir().expect("dir");
    let h = HttpsApp::spawn(dir.path(), |_| {}).await;
    let store = CountingStore::new();
    let mut config = h.client_config(
        rustls::crypto::aws_lc_rs::default_provider(),
        &[&rustls::version::TLS13],
    );
    config.resumption = rustls::client::Resumption::store(store.clone());
    assert_eq!(
        one_request(&h, &config).await.0,
        rustls::HandshakeKind::Full
    );
    assert_eq!(store.tickets(), 1, "tickets after a full handshake");
    assert_eq!(
        one_request(&h, &config).await.0,
        rustls::HandshakeKind::Resumed
    );
    assert_eq!(store.tickets(), 2, "a resumed session brings a new ticket");
    // In a storm, many other phones handshake before this one comes back: its ticket must
    // still open (rustls' default cache kept the last 256 sessions).
    let mut crowd = h.client_config(
        rustls::crypto::aws_lc_rs::default_provider(),
        rustls::DEFAULT_VERSIONS,
    );
    crowd.resumption = rustls::client::Resumption::disabled();
    for _ in 0..300 {
        assert_eq!(one_request(&h, &crowd).await.0, rustls::HandshakeKind::Full);
    }
    assert_eq!(
        one_request(&h, &config).await.0,
        rustls::HandshakeKind::Resumed,
        "resumed after 300 other handshakes"
    );

    let tls12 = h.client_config(
        rustls::crypto::aws_lc_rs::default_provider(),
        &[&rustls::version::TLS12],
    );
    assert_eq!(one_request(&h, &tls12).await.0, rustls::HandshakeKind::Full);
    assert_eq!(
        one_request(&h, &tls12).await.0,
        rustls::HandshakeKind::Resumed
    );
    h.app.stop().await;
}

/// A resumed session still carries the phone's certificate (it is sealed into the ticket): with
/// `required`, a phone that reconnects gets its file on the resumed session, and a resumption
/// is no way around the certificate check.
#[tokio::test]
async fn a_resumed_session_keeps_the_phone_certificate() {
    use rustls_pki_types::pem::PemObject;
    let pki = phone_pki();
    let dir = tempfile::tempdir().expect("dir");
    let m = spawn_mtls("required", &pki, dir.path()).await;
    let provider = || rustls::crypto::aws_lc_rs::default_provider();
    for (name, identity, status) in [
        ("valid", &pki.valid, "HTTP/1.1 200"),
        ("other MAC", &pki.other_mac, "HTTP/1.1 401"),
    ] {
        let chain = rustls_pki_types::CertificateDer::pem_slice_iter(identity.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("chain");
        let key =
            rustls_pki_types::PrivateKeyDer::from_pem_slice(identity.as_bytes()).expect("key");
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let config = client_config(&m.server_pem, provider(), &[version])
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .expect("client certificate");
            for expected_kind in [rustls::HandshakeKind::Full, rustls::HandshakeKind::Resumed] {
                let (kind, _, answer) = get_once(m.tls, &config, &m.path).await;
                assert_eq!(kind, expected_kind, "{name} {version:?}");
                assert!(
                    answer.starts_with(status.as_bytes()),
                    "{name} {version:?} {kind:?}: {}",
                    String::from_utf8_lossy(&answer)
                );
            }
        }
    }
    m.app.stop().await;
}
