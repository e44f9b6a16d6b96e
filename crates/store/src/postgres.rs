//! PostgreSQL backend, for several server instances sharing one database: connecting,
//! migrating, and its [`Dialect`]. The queries are in the topic files, written once for both
//! backends.
//!
//! Timestamps are TIMESTAMPTZ, JSON is JSONB (both in `values.rs`). Bulk writes send whole
//! columns as arrays and `UNNEST` them, so a chunk of rows costs one round trip instead of one
//! per row. Device writers serialise on the `change_counter` row lock (see docs/storage.md).

use std::str::FromStr;

use sqlx::ConnectOptions as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::StoreError;
use crate::backend::Dialect;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Several reads that must agree (page + total, change feed) run in one snapshot.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
const MAX_CONNECTIONS: u32 = 10;
/// How long opening the store waits for PostgreSQL to answer before saying it is unreachable.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The PostgreSQL implementation of [`crate::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The tenant every scoped query of this handle reads and writes ([`crate::Store::for_tenant`]).
    tenant: crate::TenantId,
}

/// Only pool counters: nothing about the connection (URL, credentials).
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects and runs the migrations. sqlx's migrator holds a PostgreSQL advisory lock
    /// while it runs, so instances starting together migrate one at a time.
    pub async fn open(database_url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(database_url)?;
        // One connection first, with a deadline: the pool would retry an unreachable server
        // for its whole acquire timeout (30 s) and then name only the timeout.
        match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Err(_) => {
                return Err(StoreError::Unreachable(format!(
                    "PostgreSQL at {}:{} did not answer within {} s",
                    options.get_host(),
                    options.get_port(),
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            tenant: crate::TenantId::DEFAULT,
        })
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Dialect for PgStore {
    type Db = Postgres;

    const NAME: &'static str = "postgres";

    fn tenant(&self) -> i64 {
        self.tenant.get()
    }

    fn with_tenant(&self, tenant: crate::TenantId) -> Self {
        Self {
            tenant,
            ..self.clone()
        }
    }

    // `search_text` is a stored generated column of the text fields, ASCII lower-cased.
    const DEVICE_SEARCH: &'static str =
        "(d.search_text LIKE $2 ESCAPE '\\' OR d.mac LIKE $1 ESCAPE '\\')";

    const RESERVE_RPS_SLOT: &'static str = "INSERT INTO meta (key, value) \
         VALUES ($1, ($2::BIGINT + $3::BIGINT)::TEXT) \
         ON CONFLICT (key) DO UPDATE \
         SET value = (GREATEST(meta.value::BIGINT, $2::BIGINT) + $3::BIGINT)::TEXT \
         RETURNING value::BIGINT";

    const EXISTING_MACS: &'static str = "SELECT mac FROM devices WHERE mac = ANY($1)";

    const DELETE_TOMBSTONES: &'static str = "DELETE FROM device_tombstones WHERE mac = ANY($1)";

    const TRIM_UI_SESSIONS: &'static str = "DELETE FROM ui_sessions WHERE id_hash IN \
         (SELECT id_hash FROM ui_sessions WHERE tenant_id = $2 \
         ORDER BY last_used DESC, id_hash OFFSET $1)";

    async fn begin_write(&self) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    async fn begin_read(&self) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        self.pool.begin_with(BEGIN_SNAPSHOT).await
    }
}
