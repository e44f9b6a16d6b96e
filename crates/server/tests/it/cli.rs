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

/// The CLI on a database with no server of the test around it (after `stop`).
async fn cli_on(database_url: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    command
        .args(args)
        .arg("--database-url")
        .arg(database_url)
        .env("RUST_LOG", "warn");
    if let Some(key) = crate::helpers::pg_test_key_file(database_url) {
        command.env("YEALINK_PROV_SECRET_KEY_FILE", key);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run yealink-prov"))
        .await
        .expect("CLI task")
}

#[tokio::test]
async fn key_rotate_is_refused_while_a_server_runs() {
    let app = spawn_app().await;
    app.add_device(crate::helpers::device_json("805ec0aaee11", "711"))
        .await;
    let key_file = app.data_path().join("secret.key");
    let before = std::fs::read(&key_file).expect("key file");

    let out = cli(&app, &["key", "rotate"]).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    let address = app.base.trim_start_matches("http://");
    assert!(err.contains("refusing to rotate the key"), "{err}");
    assert!(err.contains(address), "names the running server: {err}");
    assert!(err.contains("Stop them"), "says what to do: {err}");
    // Nothing changed: the key file is as it was and the server still reads its secrets.
    assert_eq!(std::fs::read(&key_file).expect("key file"), before);
    let device = app.revealed("805ec0aaee11").await;
    let http_password = device["http_password"].as_str().unwrap_or_default();
    assert!(
        !http_password.is_empty() && http_password != "********",
        "{device}"
    );

    // A stopped server leaves its row behind no more: rotation goes ahead.
    let database_url = app.database_url.clone();
    let data = app.stop_keeping_data().await;
    let out = cli_on(&database_url, &["key", "rotate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("secrets re-encrypted"),
        "{}",
        stdout(&out)
    );
    assert_ne!(
        std::fs::read(data.path().join("secret.key")).expect("key file"),
        before
    );
}

/// No part of an error line comes twice (`mac: ...: mac: ...` was the rule before).
fn assert_said_once(err: &str) {
    for line in err.lines().filter(|l| l.starts_with("error:")) {
        let parts: Vec<&str> = line.split(": ").map(str::trim).collect();
        for (i, part) in parts.iter().enumerate() {
            assert!(
                part.len() < 12 || !parts[i + 1..].iter().any(|p| p.contains(part)),
                "said twice: {line}"
            );
        }
    }
}

#[tokio::test]
async fn cli_errors_say_it_once_and_say_what_to_write() {
    let app = spawn_app().await;
    let add = |mac: &'static str| {
        [
            "device",
            "add",
            "--mac",
            mac,
            "--sip-user",
            "1",
            "--sip-password",
            "p",
            "--registrar",
            "pbx",
        ]
    };
    let out = cli(&app, &add("00:15:65:AA:BB")).await;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.matches("hex digits").count(), 1, "{err}");
    assert_said_once(&err);

    let out = cli(&app, &["settings", "set", "time_zon=Europe/Berlin"]).await;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("did you mean `time_zone`?"), "{err}");
    assert_said_once(&err);

    let out = cli(&app, &["settings", "set", "update_interval_minutes=0"]).await;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("update_interval_minutes: must be 1 to 43200 minutes"),
        "{err}"
    );

    let out = cli(&app, &["settings", "set", "rps_secret=s3cr3t-value"]).await;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("set rps_username as well"), "{err}");
    assert!(!err.contains("s3cr3t-value"), "{err}");
    // Refused whole: no secret was kept (the settings show a set secret as a mask).
    let secret_now = |app: &TestApp| app.api(reqwest::Method::GET, "/settings").send();
    let settings: serde_json::Value = secret_now(&app)
        .await
        .expect("settings")
        .json()
        .await
        .expect("json");
    assert_eq!(
        settings["rps_secret"],
        serde_json::Value::Null,
        "{settings}"
    );
    // With its user name, the same secret is taken.
    let out = cli(
        &app,
        &[
            "settings",
            "set",
            "rps_username=someone",
            "rps_secret=s3cr3t-value",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let settings: serde_json::Value = secret_now(&app)
        .await
        .expect("settings")
        .json()
        .await
        .expect("json");
    assert_ne!(
        settings["rps_secret"],
        serde_json::Value::Null,
        "{settings}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_yealink-prov"))
        .args(["serve", "--listen", "8081"])
        .output()
        .expect("run");
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("ADDRESS:PORT") && err.contains("0.0.0.0:8081"),
        "{err}"
    );
    // The same from the environment (or the configuration file).
    let out = Command::new(env!("CARGO_BIN_EXE_yealink-prov"))
        .args(["serve"])
        .env("YEALINK_PROV_LISTEN", "8081")
        .output()
        .expect("run");
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("ADDRESS:PORT") && err.contains("0.0.0.0:8081"),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_api_suggests_the_setting_meant_and_wants_the_rps_user_with_its_secret() {
    let app = spawn_app().await;
    let response = app
        .api(reqwest::Method::PATCH, "/settings")
        .json(&serde_json::json!({"time_zon": "Europe/Berlin"}))
        .send()
        .await
        .expect("PATCH");
    assert!(response.status().is_client_error(), "{}", response.status());
    let body = response.text().await.expect("body");
    assert!(body.contains("did you mean `time_zone`?"), "{body}");

    let response = app
        .api(reqwest::Method::PATCH, "/settings")
        .json(&serde_json::json!({"rps_secret": "s3cr3t-value"}))
        .send()
        .await
        .expect("PATCH");
    assert!(response.status().is_client_error(), "{}", response.status());
    let body = response.text().await.expect("body");
    assert!(body.contains("set rps_username as well"), "{body}");
    assert!(!body.contains("s3cr3t-value"), "{body}");

    let response = app
        .api(reqwest::Method::PATCH, "/settings")
        .json(&serde_json::json!({"update_interval_minutes": 0}))
        .send()
        .await
        .expect("PATCH");
    assert!(response.status().is_client_error(), "{}", response.status());
    app.stop().await;
}

/// The CLI on a database that is not there, from an empty working folder.
fn cli_without_server(dir: &std::path::Path, database_url: &str) -> (Output, Duration) {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_yealink-prov"))
        .args(["device", "list", "--database-url", database_url])
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run");
    (out, started.elapsed())
}

#[tokio::test]
async fn an_unreachable_postgres_is_named_within_seconds_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_path_buf();
    // Nothing listens: refused at once.
    let (out, took) = tokio::task::spawn_blocking({
        let path = path.clone();
        move || cli_without_server(&path, "postgres://127.0.0.1:1/x")
    })
    .await
    .expect("task");
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot open postgres://127.0.0.1:1/x"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_said_once(&err);

    // Something accepts the connection but never answers: the connect timeout says so.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("postgres://u:pw@{}/x", silent.local_addr().expect("addr"));
    let (out, took) = tokio::task::spawn_blocking({
        let path = path.clone();
        move || cli_without_server(&path, &url)
    })
    .await
    .expect("task");
    drop(silent);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("did not answer within 5 s"), "{err}");
    assert!(!err.contains("pw@"), "no password in errors: {err}");
    assert!(took < Duration::from_secs(15), "{took:?}");

    // No data folder, key file or marker was made.
    let left: Vec<_> = std::fs::read_dir(&path)
        .expect("read dir")
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .expect("entries");
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn cli_logs_have_no_colour_codes_and_no_database_opened_line() {
    let app = spawn_app().await;
    let out = cli_with_env(
        &app,
        &["device", "list"],
        &[("RUST_LOG", "info,yealink_prov=info,prov_store=info")],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}'), "ANSI codes in a pipe: {err:?}");
    assert!(!err.contains("database opened"), "{err}");
    app.stop().await;
}

/// Reads the child's stderr until a line holds `needle` (or it ends).
fn read_until(stderr: std::process::ChildStderr, needle: &str) -> String {
    use std::io::BufRead as _;
    let mut seen = String::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            break;
        }
    }
    seen
}

#[tokio::test]
async fn serve_names_the_web_ui_and_the_api_without_colour_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_yealink-prov"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .env(
            "YEALINK_PROV_ADMIN_PASSWORD",
            crate::helpers::ADMIN_PASSWORD,
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr_pipe = child.stderr.take().expect("stderr");
    let seen = tokio::task::spawn_blocking(move || read_until(stderr_pipe, "yealink-prov serving"))
        .await
        .expect("task");
    let _ = child.kill();
    let _ = child.wait();
    let serving = seen
        .lines()
        .find(|l| l.contains("yealink-prov serving"))
        .unwrap_or_else(|| panic!("no serving line in\n{seen}"));
    assert!(serving.contains("web_ui=http://127.0.0.1:"), "{serving}");
    assert!(serving.contains("/api/v1"), "{serving}");
    assert!(seen.contains("database opened"), "INFO for serve: {seen}");
    assert!(!seen.contains('\u{1b}'), "ANSI codes in a pipe: {seen:?}");
}

#[tokio::test]
async fn csv_import_takes_dect_package_names_and_warns_about_foreign_macs() {
    let app = spawn_app().await;
    let file = app.data_path().join("dect.csv");
    std::fs::write(
        &file,
        "mac,sip_user,sip_password,registrar,model\n\
         001565000301,831,pw1,pbx.test,W73P\n\
         001565000302,832,pw2,pbx.test,w53p\n\
         020000000303,833,pw3,pbx.test,T46U\n",
    )
    .expect("write csv");
    let out = cli(&app, &["device", "import", file.to_str().expect("path")]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("imported 3 device(s), rejected 0"), "{text}");
    assert!(
        text.contains(
            "line 4: warning: 02:00:00:00:03:03 is not in Yealink's known address blocks"
        ),
        "{text}"
    );
    // A W73P is provisioned as its base station, the W70B (common file 146).
    let out = cli(&app, &["render", "001565000301", "boot"]).await;
    assert!(
        stdout(&out).contains("y000000000146.cfg"),
        "{}",
        stdout(&out)
    );

    // The API's import says the same per row.
    let response = app
        .api(reqwest::Method::POST, "/devices/import")
        .body(
            "mac,sip_user,sip_password,registrar,model\n\
             001565000311,841,pw1,pbx.test,W79P\n\
             020000000312,842,pw2,pbx.test,\n",
        )
        .send()
        .await
        .expect("import");
    let answer: serde_json::Value = response.json().await.expect("json");
    assert_eq!(answer["imported"], 2, "{answer}");
    assert!(answer["rows"][0].get("warning").is_none(), "{answer}");
    assert!(
        answer["rows"][1]["warning"]
            .as_str()
            .is_some_and(|w| w.contains("not in Yealink's known address blocks")),
        "{answer}"
    );

    // Added through the API: the answer carries the warning; a Yealink MAC gets none.
    let added = app
        .add_device(crate::helpers::device_json("020000000313", "843"))
        .await;
    assert!(
        added["warning"]
            .as_str()
            .is_some_and(|w| w.contains("02:00:00:00:03:13")),
        "{added}"
    );
    let added = app
        .add_device(crate::helpers::device_json("001565000314", "844"))
        .await;
    assert!(added.get("warning").is_none(), "{added}");

    // One device added by hand outside the OUIs: added, with a warning.
    let out = cli(
        &app,
        &[
            "device",
            "add",
            "--mac",
            "02:00:00:00:03:04",
            "--sip-user",
            "834",
            "--sip-password",
            "pw4",
            "--registrar",
            "pbx.test",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("warning: 02:00:00:00:03:04 is not in Yealink's known address blocks"),
        "{}",
        stderr(&out)
    );
    app.stop().await;
}

#[tokio::test]
async fn device_list_lines_up_and_shows_times_as_rfc3339() {
    let app = spawn_app().await;
    let mut body = crate::helpers::device_json("805ec0aaee21", "721");
    body["name"] = "A rather long name for the reception desk".into();
    app.add_device(body).await;
    app.add_device(crate::helpers::device_json("805ec0aaee22", "722"))
        .await;
    // Fetched once, so the last column holds a time.
    let device = app.revealed("805ec0aaee22").await;
    let url = device["provisioning_url"].as_str().expect("url").to_owned();
    let mut phone = SimPhone::new("805ec0aaee22", "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(&url, None);
    phone.provision().await.expect("provision");
    app.wait_for_device("805ec0aaee22", |d| {
        !d["status"]["last_config_request"].is_null()
    })
    .await;

    let out = cli(&app, &["device", "list"]).await;
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines[0];
    // The SIP user column starts at the same place in every row, long name or not.
    for (row, user) in [("805ec0aaee21", "721"), ("805ec0aaee22", "722")] {
        let line = lines.iter().find(|l| l.starts_with(row)).expect("row");
        assert_eq!(line.rfind(user), header.find("SIP USER"), "{text}");
    }
    let fetched = lines
        .iter()
        .find(|l| l.starts_with("805ec0aaee22"))
        .expect("row");
    let at = header.find("LAST CONFIG REQUEST").expect("column");
    let when = fetched[at..].trim();
    assert!(
        time::OffsetDateTime::parse(when, &time::format_description::well_known::Rfc3339).is_ok(),
        "{text}"
    );
    app.stop().await;
}

/// `--sip-password -` typed at a terminal: a prompt, and the password is not echoed. The
/// terminal is a pseudo-terminal from util-linux's `script`.
#[tokio::test]
async fn sip_password_dash_on_a_terminal_prompts_without_echo() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: script(1) from util-linux is not installed");
        return;
    }
    let app = spawn_app().await;
    let inner = format!(
        "'{}' device add --mac 805ec0aaee31 --sip-user 731 --sip-password - \
         --registrar pbx.test --database-url '{}'",
        env!("CARGO_BIN_EXE_yealink-prov"),
        app.database_url
    );
    let (output, status) = tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &inner, "/dev/null"])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("script");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("SIP password:") {
            let n = stdout.read(&mut buf).expect("read");
            assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        // The prompt is printed just before echo is switched off.
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(b"pty-secret-731\n").expect("type");
        stdout.read_to_end(&mut seen).expect("read");
        let status = child.wait().expect("wait");
        drop(stdin);
        (String::from_utf8_lossy(&seen).into_owned(), status)
    })
    .await
    .expect("task");
    assert!(status.success(), "{output}");
    assert!(output.contains("added 805ec0aaee31"), "{output}");
    assert!(!output.contains("pty-secret-731"), "echoed: {output}");
    let out = cli(&app, &["render", "805ec0aaee31", "cfg", "--reveal"]).await;
    assert!(
        stdout(&out).contains("account.1.password = pty-secret-731"),
        "{}",
        stdout(&out)
    );
    app.stop().await;
}

#[tokio::test]
async fn rps_status_says_what_a_405_to_its_probe_means() {
    // Answers every request as RPS answers a GET: 405, POST only.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}/xmlrpc", listener.local_addr().expect("addr"));
    let answering = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let app = spawn_app().await;
    let out = cli(
        &app,
        &[
            "settings",
            "set",
            "rps_mode=own",
            "rps_api=xmlrpc",
            &format!("rps_endpoint={endpoint}"),
            "rps_username=someone",
            "rps_secret=not-shown",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(&app, &["rps", "status"]).await;
    let text = stdout(&out);
    let reachable = text
        .lines()
        .find(|l| l.starts_with("Reachable:"))
        .unwrap_or_else(|| panic!("no Reachable line in\n{text}"));
    assert!(
        reachable.contains("answered HTTP 405 to a GET probe")
            && reachable.contains("as RPS does for GET"),
        "{reachable}"
    );
    assert!(text.contains("Mode:              own"), "{text}");
    app.stop().await;
    answering.abort();
}

/// On PostgreSQL, where several servers share the database, the refusal names each of them.
/// (Only the refusal: the test key file is shared by every PostgreSQL test.)
#[tokio::test]
async fn key_rotate_is_refused_on_postgres_while_servers_run() {
    let Some(first) = crate::helpers::spawn_app_on(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let second = crate::helpers::spawn_app_on_url(&first.database_url).await;
    let out = cli(&first, &["key", "rotate"]).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("2 server(s) use this database"), "{err}");
    for app in [&first, &second] {
        assert!(
            err.contains(app.base.trim_start_matches("http://")),
            "names {}: {err}",
            app.base
        );
    }
    second.stop().await;
    first.stop().await;
}
