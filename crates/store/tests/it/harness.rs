//! Runs each conformance test against a fresh database of each backend.
//!
//! - SQLite: always; a new file (WAL) in a temporary directory per test.
//! - PostgreSQL: when `TEST_DATABASE_URL` (postgres://...) is set; a new schema per test,
//!   selected with `options=-c search_path=<schema>` in the store's URL, so tests run in
//!   parallel on one server. When it is not set, each Postgres test prints a `SKIPPED` line
//!   straight to stderr (not captured by the test harness) and returns; with
//!   `TEST_REQUIRE_POSTGRES=1` it fails instead, so CI cannot silently skip.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use prov_store::{DeviceRecord, Store};
use sqlx::Connection;
use time::OffsetDateTime;
use yealink::Mac;

pub const PG_URL_VAR: &str = "TEST_DATABASE_URL";
const REQUIRE_PG_VAR: &str = "TEST_REQUIRE_POSTGRES";

/// Declares `sqlite::<name>` and `postgres::<name>` tests for each `async fn <name>(&TestDb)`
/// of the calling module.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::harness::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    let Some(db) = $crate::harness::TestDb::postgres(test).await else {
                        return;
                    };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}
pub(crate) use conformance;

enum Kind {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, schema: String },
}

/// A fresh, migrated database and a store opened on it.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    /// The URL the store was opened with; open it again for a second instance.
    pub url: String,
    kind: Kind,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("prov.sqlite").display()
        );
        let store = prov_store::open(&url).await.expect("open sqlite");
        assert_eq!(store.backend(), "sqlite");
        TestDb {
            store,
            url,
            kind: Kind::Sqlite { _dir: dir },
        }
    }

    /// `None` (after printing why) when no PostgreSQL server is configured.
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let Some(admin_url) = pg_url() else {
            assert!(
                std::env::var_os(REQUIRE_PG_VAR).is_none(),
                "{REQUIRE_PG_VAR} is set but {PG_URL_VAR} is not"
            );
            skipped(test);
            return None;
        };
        let schema = unique_schema(test);
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create test schema");
        admin.close().await.expect("close admin connection");
        let url = with_search_path(&admin_url, &schema);
        let store = prov_store::open(&url).await.expect("open postgres");
        assert_eq!(store.backend(), "postgres");
        Some(TestDb {
            store,
            url,
            kind: Kind::Postgres { admin_url, schema },
        })
    }

    /// A second, independent store instance on the same database (another server process).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        prov_store::open(&self.url).await.expect("reopen")
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }

    /// Runs backend-specific SQL on the test database (for provoking raw errors).
    pub async fn raw_execute(&self, sql: &'static str) -> Result<(), sqlx::Error> {
        match &self.kind {
            Kind::Sqlite { .. } => {
                let store = prov_store::SqliteStore::open(&self.url)
                    .await
                    .expect("open");
                sqlx::query(sql).execute(store.pool()).await.map(drop)
            }
            Kind::Postgres { .. } => {
                let store = prov_store::PgStore::open(&self.url).await.expect("open");
                sqlx::query(sql).execute(store.pool()).await.map(drop)
            }
        }
    }

    /// Drops the Postgres schema. Not reached when the test panics, which leaves the schema
    /// for inspection (names carry the test name and process id).
    pub async fn cleanup(self) {
        if let Kind::Postgres { admin_url, schema } = &self.kind {
            drop(self.store);
            let mut admin = sqlx::PgConnection::connect(admin_url)
                .await
                .expect("connect to TEST_DATABASE_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("drop test schema");
            admin.close().await.expect("close admin connection");
        }
    }
}

pub fn pg_url() -> Option<String> {
    std::env::var(PG_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Bypasses the harness's output capture so the skip is visible in a normal `cargo test`.
pub fn skipped(test: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: {PG_URL_VAR} is not set (see crates/store/tests/start-postgres.sh)"
    );
}

fn unique_schema(test: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let name: String = test
        .rsplit("::")
        .next()
        .unwrap_or(test)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect();
    format!(
        "t_{}_{}_{}",
        name.to_ascii_lowercase(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

// ---- fixtures --------------------------------------------------------------------------------

pub fn mac(n: u32) -> Mac {
    Mac::parse(&format!("001565{n:06x}")).expect("valid MAC")
}

/// Device number `n`: MAC `001565` + n in hex, unique token, secrets that name `n`.
pub fn device(n: u32) -> DeviceRecord {
    DeviceRecord {
        mac: mac(n),
        name: format!("Phone {n:05}"),
        model: Some("T46U".into()),
        sip_user: format!("{}", 1000 + n),
        auth_name: None,
        sip_password: format!("sip-secret-{n}"),
        display_name: Some(format!("User {n}")),
        registrar: "pbx.example.com:5060".into(),
        overrides: serde_json::json!({ "lang": "de", "keys": [n] }).into(),
        http_password: format!("http-secret-{n}"),
        url_token: format!("tok{n:021}"),
        admin_password: format!("admin-secret-{n}"),
        created_at: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(i64::from(n)),
        updated_at: OffsetDateTime::UNIX_EPOCH,
        revision: 0,
    }
}

pub fn devices(range: std::ops::Range<u32>) -> Vec<DeviceRecord> {
    range.map(device).collect()
}
