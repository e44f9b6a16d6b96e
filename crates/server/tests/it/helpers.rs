//! Starts the real server on `127.0.0.1:0` with a fresh database, and talks to it.

use std::path::PathBuf;
use std::time::Duration;

use prov_core::config::Config;
use prov_core::secret::Secret;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use yealink_prov::runtime::app::Server;

pub const ADMIN_PASSWORD: &str = "test-admin-password-0123456789";

pub struct TestApp {
    pub base: String,
    pub data_dir: TempDir,
    pub database_url: String,
    pub client: Client,
    /// The server's password checker (its counters; holding the whole state would keep the
    /// request log's writer alive past shutdown).
    pub admin: std::sync::Arc<prov_core::admin_auth::AdminVerifier>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// On PostgreSQL, instances of one test share the database but not a data folder, so they
/// (and the CLI runs on it) share one key file; SQLite finds the key beside the database.
pub fn pg_test_key_file(database_url: &str) -> Option<PathBuf> {
    if !database_url.starts_with("postgres") {
        return None;
    }
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-secret.key");
    if !path.exists() {
        // Fixed test key; written through a rename, as test processes run in parallel.
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&tmp, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n").expect("write key");
        std::fs::rename(&tmp, &path).expect("rename key");
    }
    Some(path)
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL database on the server named by `TEST_DATABASE_URL`, or `None` (and a
/// printed notice) when the variable is unset.
pub async fn fresh_postgres_url() -> Option<String> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("SKIPPED on PostgreSQL: TEST_DATABASE_URL is not set");
        return None;
    };
    let name = format!("it_{}", prov_core::secret::random_token(12).to_lowercase());
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    // The name is our own lower-case alphanumeric token, never outside input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (prefix, _) = admin_url
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL ends with /DBNAME");
    Some(format!("{prefix}/{name}"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(Backend::Sqlite)
        .await
        .expect("SQLite is always available")
}

/// `None` when the backend is not available here (PostgreSQL without `TEST_DATABASE_URL`).
pub async fn spawn_app_on(backend: Backend) -> Option<TestApp> {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            data_dir.path().join("test.db").display()
        ),
        Backend::Postgres => fresh_postgres_url().await?,
    };
    let app = start(data_dir, database_url, |_| {}).await;
    Some(app)
}

/// A second server on an existing database (several instances sharing the work).
pub async fn spawn_app_on_url(database_url: &str) -> TestApp {
    spawn_app_on_url_with(database_url, |_| {}).await
}

/// A server on an existing database with its own configuration (e.g. a restart).
pub async fn spawn_app_on_url_with(
    database_url: &str,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    start(data_dir, database_url.to_owned(), adjust).await
}

/// SQLite, with a chance to change the configuration (e.g. add the TLS listener).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        data_dir.path().join("test.db").display()
    );
    start(data_dir, database_url, adjust).await
}

async fn start(
    data_dir: TempDir,
    database_url: String,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    start_on(data_dir, database_url, None, adjust).await
}

/// A server on a SQLite file store the test holds too (for `SqliteStore::set_page_limit`).
pub async fn spawn_app_on_sqlite_store() -> (TestApp, prov_store::SqliteStore) {
    let data_dir = TempDir::new().expect("temp dir");
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        data_dir.path().join("prov.sqlite").display()
    );
    let store = prov_store::SqliteStore::open(&database_url)
        .await
        .expect("open sqlite");
    let shared: std::sync::Arc<dyn prov_store::Store> = std::sync::Arc::new(store.clone());
    let app = start_on(data_dir, database_url, Some(shared), |_| {}).await;
    (app, store)
}

async fn start_on(
    data_dir: TempDir,
    database_url: String,
    store: Option<std::sync::Arc<dyn prov_store::Store>>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let mut config = Config {
        listen: addr,
        data_dir: data_dir.path().to_path_buf(),
        database_url: Some(Secret::new(database_url.clone())),
        admin_password: Some(Secret::new(ADMIN_PASSWORD)),
        ..Config::default()
    };
    config.secret_key_file = pg_test_key_file(&database_url);
    adjust(&mut config);
    let server = match store {
        Some(store) => Server::build_with_store(config, store).await,
        None => Server::build(config).await,
    }
    .expect("server builds");
    let admin = server.state().admin.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async {
        let _ = rx.await;
    }));
    let app = TestApp {
        base: format!("http://{addr}"),
        data_dir,
        database_url,
        client: Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        admin,
        shutdown: Some(tx),
        task: Some(task),
    };
    let response = app
        .api(Method::PATCH, "/settings")
        .json(&json!({"public_base_url": app.base}))
        .send()
        .await
        .expect("set base url");
    assert_eq!(response.status(), StatusCode::OK);
    app
}

impl TestApp {
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(ADMIN_PASSWORD)
    }

    pub async fn add_device(&self, body: Value) -> Value {
        let response = self
            .api(Method::POST, "/devices")
            .json(&body)
            .send()
            .await
            .expect("POST /devices");
        assert_eq!(response.status(), StatusCode::CREATED, "adding {body}");
        response.json().await.expect("json")
    }

    /// The device with its secrets revealed (provisioning URL and HTTP password).
    pub async fn revealed(&self, mac: &str) -> Value {
        let response = self
            .api(Method::GET, &format!("/devices/{mac}?reveal=true"))
            .send()
            .await
            .expect("GET device");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    pub async fn device(&self, mac: &str) -> Value {
        self.api(Method::GET, &format!("/devices/{mac}"))
            .send()
            .await
            .expect("GET device")
            .json()
            .await
            .expect("json")
    }

    /// Polls until `check` holds for the device (the request log is written in batches).
    pub async fn wait_for_device(&self, mac: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            let device = self.device(mac).await;
            if check(&device) {
                return device;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "device {mac} never reached the expected state: {}",
            self.device(mac).await
        );
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    /// Stops the server but keeps its data folder (for a restart on the same database).
    pub async fn stop_keeping_data(mut self) -> TempDir {
        self.shut_down().await;
        let placeholder = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.data_dir, placeholder)
    }

    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }
}

pub fn device_json(mac: &str, user: &str) -> Value {
    json!({
        "mac": mac,
        "sip_user": user,
        "sip_password": format!("sip-secret-{user}"),
        "registrar": "pbx.example.test:5060",
        "display_name": format!("Phone {user}"),
    })
}
