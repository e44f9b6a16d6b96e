//! Ad-hoc timings with 100,000 devices (ignored by default). Run:
//! `cargo test -p prov-store --test it -- --ignored bench_ --nocapture`
//! (add `TEST_DATABASE_URL=postgres://...` for the PostgreSQL half).

use std::io::Write;
use std::time::{Duration, Instant};

use prov_store::{DeviceQuery, DeviceSort};

use crate::harness::{TestDb, devices, pg_url, skipped};
use crate::requests::request;

const N: u32 = 100_000;

fn report(backend: &str, what: &str, took: Duration) {
    // Straight to stderr: visible without --nocapture.
    let _ = writeln!(
        std::io::stderr().lock(),
        "bench {backend:8} {what:48} {:>10.1} ms",
        took.as_secs_f64() * 1000.0
    );
}

async fn timed<T, F: std::future::Future<Output = T>>(backend: &str, what: &str, f: F) -> T {
    let started = Instant::now();
    let out = f.await;
    report(backend, what, started.elapsed());
    out
}

async fn run(db: &TestDb) {
    let s = &db.store;
    let b = s.backend();
    let batch = devices(0..N);
    let results = timed(b, "insert_devices 100k", s.insert_devices(&batch))
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    // Some status so the LastConfigRequest sort has values to order.
    let served: Vec<_> = (0..N)
        .step_by(10)
        .map(|n| request(batch[n as usize].mac, i64::from(n % 5000), true))
        .collect();
    timed(
        b,
        "record_phone_requests 10k (one batch)",
        s.record_phone_requests(&served),
    )
    .await
    .unwrap();
    let again = timed(
        b,
        "insert_devices 100k, all duplicates",
        s.insert_devices(&batch),
    )
    .await
    .unwrap();
    assert!(again.iter().all(Result::is_err));

    let all = timed(b, "all_device_records", s.all_device_records())
        .await
        .unwrap();
    assert_eq!(all.len(), N as usize);
    let feed = timed(b, "device_changes(0)", s.device_changes(0))
        .await
        .unwrap();
    assert_eq!(feed.upserted.len(), N as usize);
    let count = timed(b, "device_count", s.device_count()).await.unwrap();
    assert_eq!(count, u64::from(N));

    for sort in [
        DeviceSort::Mac,
        DeviceSort::Name,
        DeviceSort::CreatedAt,
        DeviceSort::LastConfigRequest,
    ] {
        for (descending, offset) in [(false, 0), (true, 0), (false, 50_000)] {
            let q = DeviceQuery {
                sort,
                descending,
                offset,
                limit: 50,
                ..Default::default()
            };
            let what = format!("list {sort:?} desc={descending} offset={offset}");
            let page = timed(b, &what, s.list_devices(&q)).await.unwrap();
            assert_eq!(page.items.len(), 50);
        }
    }
    let q = DeviceQuery {
        search: Some("phone 0420".into()),
        ..Default::default()
    };
    let page = timed(b, "list search (scan)", s.list_devices(&q))
        .await
        .unwrap();
    assert_eq!(page.total, 10);
    let q = DeviceQuery {
        search: Some("00:15:65:01".into()),
        sort: DeviceSort::Name,
        ..Default::default()
    };
    timed(b, "list search by MAC prefix, by name", s.list_devices(&q))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_sqlite_100k() {
    let db = TestDb::sqlite().await;
    run(&db).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_postgres_100k() {
    if pg_url().is_none() {
        skipped("bench_postgres_100k");
        return;
    }
    let Some(db) = TestDb::postgres("bench_postgres_100k").await else {
        return;
    };
    run(&db).await;
    db.cleanup().await;
}
