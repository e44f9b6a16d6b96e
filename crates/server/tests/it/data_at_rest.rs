//! Data at rest (docs/security.md): the data folder is 0700, the database and key files 0600,
//! the SQLite file holds none of a provisioned phone's secrets, `key rotate` re-encrypts and
//! the phone is still served, a wrong key file stops the start-up with a clear error.

use std::path::Path;
use std::process::Command;

use prov_core::config::Config;
use prov_core::secret::Secret;
use prov_sim::SimPhone;
use serde_json::Value;
use yealink_prov::runtime::app::Server;

use crate::helpers::{Backend, device_json, spawn_app, spawn_app_on, spawn_app_on_url};

/// The revealed secrets of a device: passwords, the URL token (in the provisioning URL).
fn secrets_of(device: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in device.as_object().expect("object") {
        if (k.contains("password") || k.contains("token"))
            && let Some(s) = v.as_str()
            && s.len() >= 8
            && !s.contains('*')
        {
            out.push(s.to_owned());
        }
    }
    let url = device["provisioning_url"].as_str().expect("url");
    out.extend(
        url.split('/')
            .filter(|seg| seg.len() >= 16 && !seg.contains('.') && !seg.contains(':'))
            .map(str::to_owned),
    );
    out
}

fn sqlite_bytes(dir: &Path) -> String {
    let mut all = Vec::new();
    for name in ["test.db", "test.db-wal", "test.db-shm"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            all.extend(b);
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_rotation_keeps_the_phone_served() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb61", "361")).await;
    let device = app.revealed("805ec0aabb61").await;
    let mut secrets = secrets_of(&device);
    secrets.push("sip-secret-361".to_owned());
    assert!(
        secrets.len() >= 3,
        "SIP and HTTP passwords and the token: {secrets:?}"
    );
    let url = device["provisioning_url"].as_str().expect("url").to_owned();
    let mut phone = SimPhone::new("805ec0aabb61", "T46U", "124.86.0.61").expect("phone");
    phone.set_provisioning_server(&url, None);
    phone.provision().await.expect("served");
    assert_eq!(
        phone.params().get("account.1.password").map(String::as_str),
        Some("sip-secret-361")
    );

    let dir = app.data_path();
    let bytes = sqlite_bytes(&dir);
    assert!(bytes.contains("805ec0aabb61"), "the grep sees the rows");
    for s in &secrets {
        assert!(
            !bytes.contains(s.as_str()),
            "the database files contain a secret"
        );
    }
    assert!(bytes.contains("ypenc1:"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join("secret.key")), 0o600);
        assert_eq!(mode(&dir.join("test.db")), 0o600);
        assert_eq!(mode(&dir.join("test.db-wal")), 0o600);
    }
    let old_key = std::fs::read_to_string(dir.join("secret.key")).expect("key");

    // Rotate with the server stopped, as docs/security.md says.
    let database_url = app.database_url.clone();
    let old_base = app.base.clone();
    let kept = app.stop_keeping_data().await;
    let out = Command::new(env!("CARGO_BIN_EXE_yealink-prov"))
        .args(["key", "rotate", "--database-url", &database_url])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 devices"), "{stdout}");
    let new_key = std::fs::read_to_string(kept.path().join("secret.key")).expect("key");
    assert_ne!(old_key, new_key);
    #[cfg(unix)]
    assert_eq!(mode(&kept.path().join("secret.key")), 0o600);
    let bytes = sqlite_bytes(kept.path());
    for s in &secrets {
        assert!(!bytes.contains(s.as_str()), "a secret after rotation");
    }

    // The old key no longer opens the database.
    let old_file = kept.path().join("old.key");
    std::fs::write(&old_file, &old_key).expect("write");
    let err = Server::build(Config {
        data_dir: kept.path().to_path_buf(),
        database_url: Some(Secret::new(database_url.clone())),
        secret_key_file: Some(old_file),
        ..Config::default()
    })
    .await
    .err()
    .expect("old key refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("not in the key file"), "{msg}");
    for s in &secrets {
        assert!(!msg.contains(s.as_str()), "the error shows a secret: {msg}");
    }

    // With the new key the server starts and serves the phone.
    let again = spawn_app_on_url(&database_url).await;
    phone.set_provisioning_server(&url.replace(&old_base, &again.base), None);
    phone.provision().await.expect("served after rotation");
    assert_eq!(
        phone.params().get("account.1.password").map(String::as_str),
        Some("sip-secret-361")
    );
    again.stop().await;
    drop(kept);
}

#[tokio::test]
async fn an_old_plaintext_database_is_encrypted_on_first_start() {
    let dir = tempfile::tempdir().expect("dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    // A database as an older version left it: secrets in plain text.
    let raw = prov_store::open(&database_url).await.expect("open");
    raw.set_meta("rps_own_secret", "plain-rps-own-secret")
        .await
        .expect("meta");
    drop(raw);
    let server = Server::build(Config {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(Secret::new(database_url.clone())),
        ..Config::default()
    })
    .await
    .expect("starts");
    drop(server);
    assert!(!sqlite_bytes(dir.path()).contains("plain-rps-own-secret"));
    #[cfg(unix)]
    {
        assert_eq!(mode(dir.path()), 0o700, "the data folder is narrowed");
        assert_eq!(mode(&dir.path().join("secret.key")), 0o600);
    }
}

fn remove_sqlite_files(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

/// Every file and folder under `dir`, relative, sorted (what a refused start must not add to).
/// SQLite's `-wal` and `-shm` files of an existing database are left out: they come and go
/// with its connections (the stopped server's last ones may still be closing).
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.expect("entry").path();
            let name = p
                .strip_prefix(dir)
                .expect("under dir")
                .display()
                .to_string();
            if !name.ends_with("-wal") && !name.ends_with("-shm") {
                out.push(name);
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn config_on(dir: &Path, database_url: &str) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(Secret::new(database_url.to_owned())),
        ..Config::default()
    }
}

/// The SQLite file deleted, a restart came up with 0 of its devices and no word.
#[tokio::test]
async fn a_restart_refuses_a_new_empty_database_in_place_of_one_that_held_devices() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb71", "371")).await;
    let database_url = app.database_url.clone();
    let dir = app.stop_keeping_data().await;
    let db = dir.path().join("test.db");
    remove_sqlite_files(&db);
    let before = tree(dir.path());

    let err = Server::build(config_on(dir.path(), &database_url))
        .await
        .err()
        .expect("an empty database in place of one with devices is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&db.display().to_string()),
        "names the database: {msg}"
    );
    assert!(msg.contains("database.marker"), "names the marker: {msg}");
    assert!(
        msg.contains("--allow-empty-database"),
        "says how to go on: {msg}"
    );
    assert_eq!(tree(dir.path()), before, "a refused start creates nothing");
    assert!(!db.exists());

    // The operator says so: it starts, empty, and the next start needs no flag.
    let mut config = config_on(dir.path(), &database_url);
    config.allow_empty_database = true;
    drop(Server::build(config).await.expect("allowed"));
    drop(
        Server::build(config_on(dir.path(), &database_url))
            .await
            .expect("accepted once, then the database is this one"),
    );
}

/// Deleting every device is the administrator's choice, not a lost database.
#[tokio::test]
async fn a_database_emptied_by_the_administrator_restarts() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb72", "372")).await;
    // The marker is written once the devices are in memory (each refresh, 1 s).
    let marker = app.data_path().join("database.marker");
    for _ in 0..50 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(marker.exists(), "the data folder remembers the database");
    let r = app
        .api(reqwest::Method::DELETE, "/devices/805ec0aabb72")
        .send()
        .await
        .expect("delete");
    assert!(r.status().is_success(), "{}", r.status());
    let database_url = app.database_url.clone();
    let dir = app.stop_keeping_data().await;
    drop(
        Server::build(config_on(dir.path(), &database_url))
            .await
            .expect("the same database, empty: starts"),
    );
}

/// The default key file lost beside a database whose secrets it sealed: refused, and no new
/// key file is left behind (the next start would otherwise report a wrong key).
#[tokio::test]
async fn a_lost_key_file_is_refused_without_creating_a_new_one() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb73", "373")).await;
    let database_url = app.database_url.clone();
    let dir = app.stop_keeping_data().await;
    let key = dir.path().join("secret.key");
    std::fs::remove_file(&key).expect("lose the key");
    let before = tree(dir.path());
    let err = Server::build(config_on(dir.path(), &database_url))
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&key.display().to_string()),
        "names the key file: {msg}"
    );
    assert!(msg.contains("missing"), "says it is missing: {msg}");
    assert!(!key.exists(), "no new key file left behind");
    assert_eq!(tree(dir.path()), before, "a refused start creates nothing");
}

/// A configured key file that does not exist: refused before anything is created.
#[tokio::test]
async fn a_missing_configured_key_file_creates_nothing() {
    let root = tempfile::tempdir().expect("dir");
    let key = root.path().join("secrets").join("prov.key");
    let err = Server::build(Config {
        data_dir: root.path().join("data"),
        secret_key_file: Some(key.clone()),
        ..Config::default()
    })
    .await
    .err()
    .expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains(&key.display().to_string()), "{msg}");
    assert_eq!(tree(root.path()), Vec::<String>::new(), "nothing created");
}

/// The same on PostgreSQL: the database dropped and created again (empty) under its name.
/// The marker is in the instance's data folder, not beside the (shared) key file.
#[tokio::test]
async fn postgres_a_recreated_empty_database_is_refused() {
    let Some(app) = spawn_app_on(Backend::Postgres).await else {
        return;
    };
    app.add_device(device_json("805ec0aabb74", "374")).await;
    let database_url = app.database_url.clone();
    let dir = app.stop_keeping_data().await;
    assert!(dir.path().join("database.marker").exists());
    let (_, name) = database_url
        .rsplit_once('/')
        .expect("url ends with the name");
    let admin_url = std::env::var("TEST_DATABASE_URL").expect("set, or we had returned");
    let pool = sqlx::PgPool::connect(&admin_url).await.expect("pg");
    // The name is the helper's own lower-case token.
    for sql in [
        format!("DROP DATABASE {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .expect("recreate");
    }
    pool.close().await;
    let mut config = config_on(dir.path(), &database_url);
    config.secret_key_file = crate::helpers::pg_test_key_file(&database_url);
    let err = Server::build(config.clone()).await.err().expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("--allow-empty-database"), "{msg}");
    assert!(msg.contains(name), "names the database: {msg}");
    config.allow_empty_database = true;
    drop(Server::build(config).await.expect("allowed"));
}
