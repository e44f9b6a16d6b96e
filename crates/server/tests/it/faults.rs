//! Fault suite, storage part: the database full and then freed, seen through the
//! API and `/healthz`, recovering without a restart. SQLite busy and the stale-transaction
//! state are covered at the store level in `crates/store/tests/it/faults.rs`.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, device_json, spawn_app, spawn_app_on, spawn_app_on_sqlite_store};

async fn healthz(base: &str) -> (StatusCode, String) {
    let r = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    let status = r.status();
    (status, r.text().await.expect("body"))
}

/// Polls `/healthz` until `want` (the write probe runs every 2 s).
async fn wait_health(base: &str, want: StatusCode) -> String {
    for _ in 0..50 {
        let (status, body) = healthz(base).await;
        if status == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("/healthz never answered {want}");
}

#[tokio::test]
async fn disk_full_then_freed_recovers_without_restart() {
    let (app, store) = spawn_app_on_sqlite_store().await;
    wait_health(&app.base, StatusCode::OK).await;
    let pages: u32 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(store.pool())
        .await
        .expect("page count");
    store.set_page_limit(Some(pages + 8));

    let mut failed = None;
    for n in 0..5_000u32 {
        let mac = format!("001565{n:06x}");
        let r = app
            .api(Method::POST, "/devices")
            .json(&device_json(&mac, &format!("{}", 1000 + n)))
            .send()
            .await
            .expect("request");
        if !r.status().is_success() {
            failed = Some((r.status(), r.text().await.expect("body")));
            break;
        }
    }
    let (status, body) = failed.expect("the database became full");
    assert!(status.is_server_error(), "{status}: {body}");
    assert!(body.contains("full"), "a clear error: {body}");
    assert!(!body.contains("transaction depth"), "{body}");

    let why = wait_health(&app.base, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        why.contains("cannot write") && why.contains("full"),
        "{why}"
    );

    store.set_page_limit(None);
    let r = app
        .api(Method::POST, "/devices")
        .json(&device_json("0015650fffff", "9999"))
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "writes again: {}", r.status());
    assert_eq!(wait_health(&app.base, StatusCode::OK).await, "ok\n");
    app.stop().await;
}

/// The SQLite file and its companions, removed as an operator's `rm prov.sqlite*` would.
fn remove_database_files(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

#[tokio::test]
async fn a_deleted_database_file_fails_healthz() {
    let app = spawn_app().await;
    app.add_device(device_json("0015651d0001", "101")).await;
    assert_eq!(wait_health(&app.base, StatusCode::OK).await, "ok\n");
    remove_database_files(&app.data_path().join("test.db"));
    // The open connections still write into the deleted file; /healthz must not say ok.
    let why = wait_health(&app.base, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(why.contains("test.db"), "names the file: {why}");
    assert!(why.contains("deleted or replaced"), "{why}");
    app.stop().await;
}

#[tokio::test]
async fn a_database_file_replaced_by_another_fails_healthz() {
    let app = spawn_app().await;
    app.add_device(device_json("0015651d0002", "102")).await;
    assert_eq!(wait_health(&app.base, StatusCode::OK).await, "ok\n");
    // Another (valid, empty) database moved over ours, as a careless restore would.
    let db = app.data_path().join("test.db");
    let other = app.data_path().join("other.db");
    let url = format!("sqlite://{}?mode=rwc", other.display());
    drop(prov_store::open(&url).await.expect("other database"));
    std::fs::rename(&other, &db).expect("replace");
    let why = wait_health(&app.base, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(why.contains("deleted or replaced"), "{why}");
    app.stop().await;
}

#[tokio::test]
async fn a_database_file_overwritten_with_garbage_fails_healthz() {
    let app = spawn_app().await;
    app.add_device(device_json("0015651d0003", "103")).await;
    assert_eq!(wait_health(&app.base, StatusCode::OK).await, "ok\n");
    // Overwritten in place (same inode), as `cp junk prov.sqlite` or a broken disk would.
    let db = app.data_path().join("test.db");
    let len = std::fs::metadata(&db).expect("size").len().max(8192);
    let garbage: Vec<u8> = (0..len).map(|i| (i * 7 + 13) as u8).collect();
    std::fs::write(&db, garbage).expect("overwrite");
    let why = wait_health(&app.base, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(why.contains("cannot be read"), "{why}");
    app.stop().await;
}

/// PostgreSQL has no file to compare, but a database that cannot be read fails `/healthz`
/// too (here a table every read of the change feed needs is gone), and recovers with it.
#[tokio::test]
async fn postgres_read_failure_fails_healthz() {
    let Some(app) = spawn_app_on(Backend::Postgres).await else {
        return;
    };
    assert_eq!(wait_health(&app.base, StatusCode::OK).await, "ok\n");
    let pool = sqlx::PgPool::connect(&app.database_url).await.expect("pg");
    sqlx::query("ALTER TABLE change_counter RENAME TO change_counter_gone")
        .execute(&pool)
        .await
        .expect("rename");
    let why = wait_health(&app.base, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(why.contains("database"), "{why}");
    sqlx::query("ALTER TABLE change_counter_gone RENAME TO change_counter")
        .execute(&pool)
        .await
        .expect("rename back");
    assert_eq!(wait_health(&app.base, StatusCode::OK).await, "ok\n");
    pool.close().await;
    app.stop().await;
}
