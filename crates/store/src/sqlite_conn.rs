//! Pool hooks of the SQLite backend: no connection goes back into the pool with a transaction
//! sqlx still counts as open, and the test seam that makes the database "full".
//!
//! Why the first: after SQLITE_FULL (also IOERR, BUSY, NOMEM) SQLite may roll the whole
//! transaction back by itself (<https://www.sqlite.org/lang_transaction.html>, "Response To
//! Errors Within A Transaction"). sqlx's ROLLBACK on drop then fails ("no transaction is
//! active"), and sqlx only lowers its transaction depth when ROLLBACK succeeds. The
//! connection went back to the pool at depth 1, and every later `begin_with("BEGIN
//! IMMEDIATE")` on it failed with "attempted to call begin_with at non-zero transaction
//! depth" until the process restarted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::sqlite::{SqlitePoolOptions, SqliteTransactionManager};
// sqlx does not re-export the trait that carries the depth-aware ROLLBACK.
use sqlx::{AssertSqlSafe, Connection, Executor, SqliteConnection};
use sqlx_core::transaction::TransactionManager;

/// SQLite's largest page limit; "no limit" for the test seam.
pub(crate) const NO_PAGE_LIMIT: u32 = 0xffff_fffe;

/// Adds the hooks to `options`. `page_limit` 0 means the seam was never used: no PRAGMA.
pub(crate) fn with_hooks(
    options: SqlitePoolOptions,
    page_limit: Arc<AtomicU32>,
) -> SqlitePoolOptions {
    let on_connect = page_limit.clone();
    options
        .after_connect(move |conn, _| {
            let limit = on_connect.load(Ordering::Acquire);
            Box::pin(async move { apply_page_limit(conn, limit).await })
        })
        .before_acquire(move |conn, _| {
            let limit = page_limit.load(Ordering::Acquire);
            Box::pin(async move { apply_page_limit(conn, limit).await.map(|()| true) })
        })
        .after_release(|conn, _| Box::pin(settle_transaction(conn)))
}

async fn apply_page_limit(conn: &mut SqliteConnection, limit: u32) -> Result<(), sqlx::Error> {
    if limit != 0 {
        let sql = format!("PRAGMA max_page_count = {limit}");
        (&mut *conn).execute(AssertSqlSafe(sql)).await?;
    }
    Ok(())
}

/// Keeps the connection (`Ok(true)`) only with no transaction open, in SQLite and in sqlx.
/// An `Err` makes the pool close the connection; for a file database the next acquire opens
/// a fresh one. The connection is repaired rather than dropped first because an in-memory
/// database lives in its only connection.
async fn settle_transaction(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    // The ROLLBACK of a dropped `Transaction` is queued on the connection's worker; a ping
    // runs after it, so the depth read below is the one after that ROLLBACK.
    conn.ping().await?;
    let depth = SqliteTransactionManager::get_transaction_depth(conn);
    if depth == 0 {
        return Ok(true);
    }
    tracing::warn!(
        depth,
        "a database connection came back with its transaction in an unknown state; resetting it"
    );
    if depth > 1 {
        // The store never nests transactions; a state it did not create is not repaired.
        return Err(sqlx::Error::Protocol(format!(
            "connection returned at transaction depth {depth}"
        )));
    }
    // SQLite may or may not still have the transaction. BEGIN opens one if it has none (and
    // fails harmlessly if it has one), so the ROLLBACK below succeeds either way and sqlx's
    // depth drops back to 0 together with SQLite's.
    let _ = (&mut *conn).execute("BEGIN").await;
    SqliteTransactionManager::rollback(conn).await?;
    Ok(!conn.is_in_transaction())
}
