//! The real binary's logs: informative, and never holding a secret.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prov_sim::SimPhone;
use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    c.env_remove("YEALINK_PROV_ADMIN_PASSWORD");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Served {
    child: Child,
    base: String,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

async fn serve(dir: &std::path::Path, name: &str, admin_password: Option<&str>) -> Served {
    serve_with(dir, name, admin_password, &[]).await
}

async fn serve_with(
    dir: &std::path::Path,
    name: &str,
    admin_password: Option<&str>,
    env: &[(&str, &str)],
) -> Served {
    let port = free_port();
    let out = dir.join(format!("{name}.out"));
    let err = dir.join(format!("{name}.err"));
    let mut command = bin();
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(std::fs::File::create(&out).expect("out")))
        .stderr(Stdio::from(std::fs::File::create(&err).expect("err")));
    if let Some(pw) = admin_password {
        command.env("YEALINK_PROV_ADMIN_PASSWORD", pw);
    }
    command.envs(env.iter().copied());
    let child = command.spawn().expect("spawn serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Served {
        child,
        base,
        out,
        err,
    }
}

impl Served {
    fn stop(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        (
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default(),
        )
    }
}

#[tokio::test]
async fn generated_admin_password_is_shown_once_and_logs_hold_no_secret() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let out = bin()
        .args([
            "device",
            "add",
            "--mac",
            "805ec0ab0001",
            "--sip-user",
            "111",
        ])
        .args(["--sip-password", "SipSecret-111", "--registrar", "pbx.test"])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("add");
    assert!(out.status.success());
    let out = bin()
        .args([
            "device",
            "show",
            "805ec0ab0001",
            "--json",
            "--reveal",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .expect("show");
    let device: Value = serde_json::from_slice(&out.stdout).expect("json");
    let url = device["provisioning_url"].as_str().expect("url").to_owned();
    let token = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned();
    let http_password = device["http_password"].as_str().expect("pw").to_owned();

    // First start: a generated password, printed once on stdout.
    let first = serve(dir.path(), "first", None).await;
    let (stdout, _) = first.stop();
    let generated = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("Generated admin password (shown only now, store it safely): ")
        })
        .expect("password shown on first start")
        .to_owned();
    assert!(generated.len() >= 20);

    let second = serve(dir.path(), "second", None).await;
    let client = reqwest::Client::new();
    let listed = client
        .get(format!("{}/api/v1/devices", second.base))
        .bearer_auth(&generated)
        .send()
        .await
        .expect("api");
    assert_eq!(listed.status(), 200, "the generated password works");
    let wrong = client
        .get(format!("{}/api/v1/devices", second.base))
        .bearer_auth("not-the-password")
        .send()
        .await
        .expect("api");
    assert_eq!(wrong.status(), 401);
    // The phone's URL was made with the default base URL; point the phone at this server.
    let path = url.split_once("/prov/").map(|(_, p)| p).expect("path");
    let mut phone = SimPhone::new("805ec0ab0001", "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(&format!("{}/prov/{path}", second.base), None);
    phone.provision().await.expect("provisions");
    let denied = client
        .get(format!("{}/prov/{token}x/805ec0ab0001.cfg", second.base))
        .basic_auth("805ec0ab0001", Some(&http_password))
        .send()
        .await
        .expect("denied");
    assert_eq!(denied.status(), 401);
    let (stdout, stderr) = second.stop();
    assert!(
        !stdout.contains("Generated admin password"),
        "shown only once"
    );
    assert!(stderr.contains("phone request denied"), "{stderr}");
    assert!(stderr.contains("yealink-prov serving"), "{stderr}");
    for secret in [&token, &http_password, &generated, "SipSecret-111"] {
        assert!(!stderr.contains(secret), "log leaks a secret: {secret}");
        assert!(!stdout.contains(secret), "stdout leaks a secret: {secret}");
    }
}

#[tokio::test]
async fn the_innovaphone_flow_logs_hold_no_secret() {
    use prov_sim::innovaphone::{DevicesSim, PbxConfig, PbxSim, UsersSim, example_items};

    const INSTANCE: &str = "Instance-Secret-4711";
    const SIP: &str = "Users-Sip-Secret-0815";
    const ADMIN: &str = "admin-password-for-logs-test";
    let dir = tempfile::tempdir().expect("dir");
    let devices = DevicesSim::start("example.com").await.expect("devices");
    devices.add_category("yealink", example_items());
    let served = serve_with(
        dir.path(),
        "pbx",
        Some(ADMIN),
        &[("YEALINK_PROV_INNOVAPHONE__PASSWORD", INSTANCE)],
    )
    .await;
    let app_url = format!("{}/innovaphone-yealink", served.base);
    // A PBX with the wrong password first: its refusal is logged, without the digest's input.
    let wrong = PbxSim::start(PbxConfig::new(&app_url, "Wrong-Instance-Secret"), None).await;
    for _ in 0..100 {
        if matches!(
            wrong.login_state(),
            prov_sim::innovaphone::LoginState::Failed(_)
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wrong.stop().await;
    let pbx = PbxSim::start(
        PbxConfig::new(&app_url, INSTANCE),
        Some(devices.websocket_url()),
    )
    .await;
    pbx.wait_subscribed(Duration::from_secs(10))
        .await
        .expect("PBX subscribed");
    pbx.add_user("John Doe", "jdoe", vec![]);
    let outcome = UsersSim::add_phone(
        &pbx,
        &devices,
        &app_url,
        INSTANCE,
        "John Doe",
        "805ec0ab0002",
        "yealink",
        SIP,
    )
    .await
    .expect("Users");
    assert_eq!(outcome.result, "ok", "{:?}", outcome.raw);
    // The phone fetches its file, which triggers the user-object update.
    let client = reqwest::Client::new();
    let device: Value = client
        .get(format!(
            "{}/api/v1/devices/805ec0ab0002?reveal=true",
            served.base
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let url = device["provisioning_url"].as_str().expect("url").to_owned();
    let token = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned();
    let mut phone = SimPhone::new("805ec0ab0002", "T54W", "96.86.0.100").expect("phone");
    phone.set_provisioning_server(&url, None);
    phone.provision().await.expect("provisions");
    assert_eq!(
        phone.params().get("account.1.password").map(String::as_str),
        Some(SIP)
    );
    for _ in 0..100 {
        let flagged = pbx.user("John Doe").is_some_and(|u| {
            u["devices"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d.get("mr").is_some()))
        });
        if flagged {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pbx.stop().await;
    devices.stop().await;
    let (stdout, stderr) = served.stop();
    assert!(stderr.contains("AppWebsocket login failed"), "{stderr}");
    assert!(stderr.contains("ProvisioningPhone"), "{stderr}");
    assert!(
        stderr.contains("device flags set on the PBX user object"),
        "{stderr}"
    );
    for secret in [
        INSTANCE,
        SIP,
        ADMIN,
        &token,
        "Wrong-Instance-Secret",
        "turn-secret",
        "log-secret",
        prov_sim::innovaphone::devices::DEFAULT_ADMIN_PASSWORD,
    ] {
        assert!(!stderr.contains(secret), "log leaks a secret: {secret}");
        assert!(!stdout.contains(secret), "stdout leaks a secret: {secret}");
    }
}
