//! Storage faults on SQLite: the database full (SQLITE_FULL, made with `max_page_count` as
//! a full disk would) and then freed, and the write lock held past the busy timeout. After
//! each, writes recover without reopening the store.

use std::time::Duration;

use prov_store::{SqliteStore, Store, StoreError};

use crate::harness::device;

async fn file_store() -> (tempfile::TempDir, SqliteStore, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("prov.sqlite").display()
    );
    let store = SqliteStore::open(&url).await.expect("open sqlite");
    (dir, store, url)
}

/// Inserts devices until one fails; returns that error.
async fn fill(store: &SqliteStore) -> StoreError {
    for n in 1..100_000 {
        if let Err(e) = store.insert_device(&device(n)).await {
            return e;
        }
    }
    panic!("the database never became full");
}

#[tokio::test]
async fn full_database_recovers_once_space_is_freed() {
    let (_dir, store, _) = file_store().await;
    store.check_writable().await.expect("writable at first");
    let pages: u32 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(store.pool())
        .await
        .expect("page count");
    store.set_page_limit(Some(pages + 8));

    let err = fill(&store).await;
    assert!(
        err.to_string().contains("database or disk is full"),
        "clear error: {err}"
    );
    // Every later write fails the same way, never with sqlx's confused transaction depth.
    for n in 200_000..200_010 {
        let err = store.insert_device(&device(n)).await.expect_err("full");
        let text = err.to_string();
        assert!(!text.contains("transaction depth"), "{text}");
        assert!(text.contains("full"), "{text}");
    }
    let health = store.check_writable().await.expect_err("health sees it");
    assert!(matches!(health, StoreError::Full(_)), "{health}");

    store.set_page_limit(None);
    let back = store
        .insert_device(&device(300_000))
        .await
        .expect("writes again without reopening");
    assert_eq!(back.mac, device(300_000).mac);
    store.check_writable().await.expect("healthy again");
    // Every pooled connection is usable: as many writes in parallel as the pool holds.
    let writes = (0..16).map(|i| {
        let store = store.clone();
        async move { store.insert_device(&device(400_000 + i)).await }
    });
    for r in futures_join(writes).await {
        r.expect("write on any pooled connection");
    }
}

#[tokio::test]
async fn full_in_memory_database_keeps_its_data() {
    let store = SqliteStore::open("sqlite::memory:").await.expect("open");
    store.insert_device(&device(1)).await.expect("first");
    let pages: u32 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(store.pool())
        .await
        .expect("page count");
    store.set_page_limit(Some(pages + 4));
    fill(&store).await;
    store.set_page_limit(None);
    store
        .insert_device(&device(500_000))
        .await
        .expect("recovers");
    // The one connection was repaired, not replaced by an empty database.
    assert!(
        store
            .get_device(device(1).mac)
            .await
            .expect("read")
            .is_some()
    );
}

#[tokio::test]
async fn write_lock_held_past_busy_timeout_fails_clearly_then_recovers() {
    let (_dir, store, url) = file_store().await;
    // Another process holds the write lock for longer than the busy timeout (10 s).
    let other = SqliteStore::open(&url).await.expect("second handle");
    let mut holder = other.pool().acquire().await.expect("connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .expect("take the write lock");
    let started = std::time::Instant::now();
    let err = store
        .insert_device(&device(1))
        .await
        .expect_err("locked out");
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "waited busy_timeout"
    );
    assert!(
        err.to_string().contains("database is locked"),
        "clear: {err}"
    );
    assert!(store.check_writable().await.is_err(), "health sees it");
    sqlx::query("ROLLBACK")
        .execute(&mut *holder)
        .await
        .expect("release");
    drop(holder);
    store.insert_device(&device(1)).await.expect("recovers");
    store.check_writable().await.expect("healthy again");
}

async fn futures_join<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// SQLite rolls a transaction back by itself after some errors (SQLITE_FULL on a statement
/// without a statement journal, IOERR, NOMEM; <https://www.sqlite.org/lang_transaction.html>).
/// A raw ROLLBACK inside a sqlx transaction leaves exactly that state: sqlx's own ROLLBACK on
/// drop then fails. Before the fix the connection stayed at depth 1 and every later write
/// failed with "attempted to call begin_with at non-zero transaction depth".
#[tokio::test]
async fn transaction_rolled_back_by_sqlite_leaves_no_stuck_connection() {
    // One connection, so the next write surely gets the one that was affected.
    let store = SqliteStore::open("sqlite::memory:").await.expect("open");
    store.insert_device(&device(1)).await.expect("first");
    {
        let mut tx = store
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .expect("begin");
        sqlx::query("ROLLBACK")
            .execute(&mut *tx)
            .await
            .expect("SQLite ends the transaction on its own");
    }
    store
        .insert_device(&device(2))
        .await
        .expect("the next write gets a clean connection");
    assert!(
        store
            .get_device(device(1).mac)
            .await
            .expect("read")
            .is_some()
    );
}

/// The file under a running store deleted, replaced, or overwritten in place: queries on the
/// pool may still succeed (the old inode, the page cache, the WAL), the health check must not.
#[tokio::test]
async fn check_readable_sees_a_lost_or_overwritten_file() {
    let (dir, store, _) = file_store().await;
    store.insert_device(&device(1)).await.expect("insert");
    store.check_readable().await.expect("readable at first");
    let db = dir.path().join("prov.sqlite");

    // Overwritten in place: same inode, garbage from the first byte.
    let len = std::fs::metadata(&db).expect("size").len();
    std::fs::write(&db, vec![0x5a; len as usize]).expect("overwrite");
    let err = store.check_readable().await.expect_err("garbage");
    assert!(matches!(err, StoreError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("cannot be read"), "{err}");

    // Deleted: the pool still holds the old file open.
    std::fs::remove_file(&db).expect("delete");
    let err = store.check_readable().await.expect_err("deleted");
    assert!(matches!(err, StoreError::Replaced(_)), "{err}");
    assert!(
        err.to_string().contains("prov.sqlite"),
        "names the file: {err}"
    );

    // Another valid database moved to the path: readable, but not ours.
    let other = dir.path().join("other.sqlite");
    drop(
        SqliteStore::open(&format!("sqlite://{}?mode=rwc", other.display()))
            .await
            .expect("other"),
    );
    std::fs::rename(&other, &db).expect("replace");
    let err = store.check_readable().await.expect_err("replaced");
    assert!(matches!(err, StoreError::Replaced(_)), "{err}");

    // A store opened on what is there now is fine.
    let (_dir2, fresh, _) = file_store().await;
    fresh.check_readable().await.expect("a healthy store");
    let memory = SqliteStore::open("sqlite::memory:").await.expect("memory");
    memory
        .check_readable()
        .await
        .expect("in memory: nothing to compare");
}
