//! The `yealink-prov` binary against the same store a running server uses.

use std::process::{Command, Output};
use std::time::Duration;

use prov_sim::SimPhone;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// Runs the CLI off the test's runtime thread: the server under test shares that thread, and a
/// blocked thread would stall it mid-transaction and hold the database lock.
pub(crate) async fn cli(app: &TestApp, args: &[&str]) -> Output {
    cli_with_env(app, args, &[]).await
}

/// [`cli`] with these environment variables (the configuration the server runs with).
pub(crate) async fn cli_with_env(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    command.envs(env.iter().copied());
    command
        .args(args)
        .arg("--database-url")
        .arg(&app.database_url)
        .env("RUST_LOG", "warn");
    if let Some(key) = crate::helpers::pg_test_key_file(&app.database_url) {
        command.env("YEALINK_PROV_SECRET_KEY_FILE", key);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run yealink-prov"))
        .await
        .expect("CLI task")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn cli_changes_reach_the_running_server() {
    let app = spawn_app().await;
    let out = cli(
        &app,
        &[
            "device",
            "add",
            "--mac",
            "80-5E-C0-AA-EE-01",
            "--sip-user",
            "701",
            "--sip-password",
            "cli-secret-701",
            "--registrar",
            "pbx.test:5070",
            "--display-name",
            "Front Desk",
            "--model",
            "t54w",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("/prov/"), "{}", stdout(&out));

    let out = cli(
        &app,
        &["device", "show", "805ec0aaee01", "--json", "--reveal"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let device: Value = serde_json::from_slice(&out.stdout).expect("json");
    let url = device["provisioning_url"].as_str().expect("url").to_owned();
    assert_eq!(device["model"], "T54W");

    // The server learns about the CLI's device through the change feed.
    let mut phone = SimPhone::new("805ec0aaee01", "T54W", "96.86.0.70").expect("phone");
    phone.set_provisioning_server(&url, None);
    let mut provisioned = false;
    for _ in 0..60 {
        if phone.provision().await.is_ok() {
            provisioned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(provisioned, "the server picked up the CLI's device");
    assert_eq!(
        phone
            .params()
            .get("account.1.sip_server.1.port")
            .map(String::as_str),
        Some("5070")
    );

    // Masked by default; the CLI's "why did my phone get this".
    let out = cli(&app, &["device", "show", "805ec0aaee01"]).await;
    let text = stdout(&out);
    assert!(
        !text.contains("cli-secret-701") && text.contains("********"),
        "{text}"
    );
    let out = cli(&app, &["render", "805ec0aaee01"]).await;
    let masked = stdout(&out);
    assert!(masked.starts_with("#!version:1.0.0.1"), "{masked}");
    assert!(!masked.contains("cli-secret-701"));
    let out = cli(&app, &["render", "805ec0aaee01", "cfg", "--reveal"]).await;
    assert!(stdout(&out).contains("account.1.password = cli-secret-701"));
    let out = cli(&app, &["render", "805ec0aaee01", "boot"]).await;
    assert!(
        stdout(&out).contains("include:config \"y000000000096.cfg\""),
        "{}",
        stdout(&out)
    );

    // Removing through the CLI locks the phone out.
    let out = cli(&app, &["device", "remove", "805ec0aaee01"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let mut refused = false;
    for _ in 0..60 {
        if phone.provision().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the server dropped the removed device");
    app.stop().await;
}

#[tokio::test]
async fn cli_rejects_bad_input_clearly() {
    let app = spawn_app().await;
    let out = cli(
        &app,
        &[
            "device",
            "add",
            "--mac",
            "00:15:65:AA:BB",
            "--sip-user",
            "1",
            "--sip-password",
            "p",
            "--registrar",
            "pbx",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("mac:"), "{}", stderr(&out));
    let args = [
        "device",
        "add",
        "--mac",
        "001565aabbcc",
        "--sip-user",
        "1",
        "--sip-password",
        "p",
        "--registrar",
        "pbx",
    ];
    assert!(cli(&app, &args).await.status.success());
    let out = cli(&app, &args).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a device with MAC 001565aabbcc already exists"),
        "{}",
        stderr(&out)
    );
    let out = cli(&app, &["device", "show", "nonsense"]).await;
    assert!(stderr(&out).contains("invalid MAC"), "{}", stderr(&out));
    let out = cli(&app, &["settings", "set", "location=XX"]).await;
    assert!(stderr(&out).contains("location"), "{}", stderr(&out));
    app.stop().await;
}

#[tokio::test]
async fn csv_import_reports_rejected_rows() {
    let app = spawn_app().await;
    let file = app.data_path().join("phones.csv");
    std::fs::write(
        &file,
        "mac,sip_user,sip_password,registrar,model\n\
         001565000101,801,pw1,pbx.test,T46U\n\
         001565000102,802,pw2,pbx.test,T99X\n\
         00156500010,803,pw3,pbx.test,\n\
         001565000101,804,pw4,pbx.test,\n\
         001565000105,805,pw5,pbx.test:5060,W70B\n",
    )
    .expect("write csv");
    let out = cli(&app, &["device", "import", file.to_str().expect("path")]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("line 3: 001565000102 rejected: model:"),
        "{text}"
    );
    assert!(
        text.contains("line 4: 00156500010 rejected: mac:"),
        "{text}"
    );
    assert!(
        text.contains(
            "line 5: 001565000101 rejected: a device with MAC 001565000101 already exists"
        ),
        "{text}"
    );
    assert!(text.contains("imported 2 device(s), rejected 3"), "{text}");
    let out = cli(&app, &["device", "list", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_eq!(list[0]["sip_password"], "********");
    app.stop().await;
}

#[test]
fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["device"],
        &["device", "add"],
        &["device", "list"],
        &["device", "show"],
        &["device", "remove"],
        &["device", "import"],
        &["render"],
        &["settings"],
        &["settings", "show"],
        &["settings", "set"],
        &["admin", "reset-password"],
    ];
    for command in commands {
        let out = Command::new(env!("CARGO_BIN_EXE_yealink-prov"))
            .args(*command)
            .arg("--help")
            .output()
            .expect("run");
        assert!(out.status.success(), "{command:?} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{command:?}"
        );
    }
}

#[tokio::test]
async fn pbx_app_object_prints_what_to_create_or_says_what_is_missing() {
    let app = spawn_app().await;
    // Without an instance password one is generated (16 characters, within the PBX's 23) and
    // shown once, like the admin password.
    let out = cli(&app, &["pbx", "app-object"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let generated = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Password    "))
        .expect("a password line")
        .trim()
        .to_owned();
    assert_eq!(generated.len(), 16, "{text}");
    assert!(text.contains("shown only this once"), "{text}");
    let again = stdout(&cli(&app, &["pbx", "app-object"]).await);
    assert!(!again.contains(&generated), "shown twice:\n{again}");
    assert!(again.contains("generated earlier"), "{again}");

    let mut command = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    command
        .args(["pbx", "app-object", "--database-url", &app.database_url])
        .env("RUST_LOG", "warn")
        .env("YEALINK_PROV_INNOVAPHONE__PASSWORD", "printed-instance-pw");
    let out = tokio::task::spawn_blocking(move || command.output().expect("run"))
        .await
        .expect("task");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // The URL is the public base URL the test server set, plus the configured path.
    for needle in [
        format!("URL         {}/innovaphone-yealink", app.base),
        "Password    printed-instance-pw".to_owned(),
        "Websocket".to_owned(),
        "Admin".to_owned(),
        "Services".to_owned(),
        "devices-api".to_owned(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in\n{text}");
    }

    // `pbx show` for a standalone device says it is not an innovaphone phone.
    app.add_device(crate::helpers::device_json("805ec0aaee09", "709"))
        .await;
    let out = cli(&app, &["pbx", "show", "805ec0aaee09"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not an innovaphone phone"),
        "{}",
        stderr(&out)
    );
    app.stop().await;
}
