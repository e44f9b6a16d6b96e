//! Phone request log, device status, retention.

use prov_store::{DeviceStatus, PhoneRequest};
use time::OffsetDateTime;
use time::macros::datetime;
use yealink::Mac;

use crate::harness::{TestDb, conformance, device, devices, mac};

conformance!(
    requests_update_status_without_bumping_revision,
    older_batches_do_not_overwrite_newer_status,
    prune_keeps_recent_rows_and_the_newest_per_device,
    anonymous_rows_are_capped_by_count,
    a_batch_over_many_devices_updates_each_one,
    a_folded_row_keeps_its_request_count,
    one_batch_sets_each_devices_status_and_keeps_what_it_lacks,
);

const T0: OffsetDateTime = datetime!(2026-11-26 08:00 UTC);

/// A request at `T0 + secs` attributed to `mac`.
pub fn request(mac: Mac, secs: i64, mac_cfg_served: bool) -> PhoneRequest {
    PhoneRequest {
        at: T0 + time::Duration::seconds(secs),
        mac: Some(mac),
        method: "GET".into(),
        file: if mac_cfg_served {
            format!("{mac}.cfg")
        } else {
            "y000000000108.cfg".into()
        },
        status: 200,
        outcome: "served".into(),
        source_ip: format!("192.0.2.{}", secs % 250),
        user_agent: Some(format!("Yealink SIP-T46U 108.86.0.{secs} {mac}")),
        model: Some("T46U".into()),
        firmware: Some(format!("108.86.0.{secs}")),
        mac_cfg_served,
        count: 1,
    }
}

fn anonymous(secs: i64) -> PhoneRequest {
    PhoneRequest {
        mac: None,
        status: 401,
        outcome: "denied".into(),
        user_agent: None,
        model: None,
        firmware: None,
        ..request(mac(0), secs, false)
    }
}

async fn requests_update_status_without_bumping_revision(db: &TestDb) {
    let s = &db.store;
    let d = s.insert_device(&device(1)).await.unwrap();
    let rev = s.current_revision().await.unwrap();

    let mut no_ua = request(d.mac, 30, false);
    no_ua.user_agent = None;
    no_ua.model = None;
    no_ua.firmware = None;
    let batch = vec![
        request(d.mac, 10, true),
        request(d.mac, 20, false),
        no_ua,
        anonymous(25),
        // A MAC that is not (or no longer) a device: logged, and does not fail the batch.
        request(mac(999), 26, true),
    ];
    s.record_phone_requests(&batch).await.unwrap();

    let status = s.get_status(d.mac).await.unwrap();
    assert_eq!(
        status,
        DeviceStatus {
            provisioned_at: Some(T0 + time::Duration::seconds(10)),
            last_config_request: Some(T0 + time::Duration::seconds(10)),
            last_request_at: Some(T0 + time::Duration::seconds(30)),
            last_ip: Some("192.0.2.30".into()),
            // The newest request had no User-Agent: keep the last one seen.
            last_user_agent: batch[1].user_agent.clone(),
            model_seen: Some("T46U".into()),
            firmware_seen: Some("108.86.0.20".into()),
        }
    );
    assert_eq!(s.get_device(d.mac).await.unwrap().unwrap().status, status);
    assert_eq!(
        s.get_status(mac(999)).await.unwrap(),
        DeviceStatus::default()
    );

    // A later config fetch moves last_config_request, not provisioned_at.
    s.record_phone_requests(&[request(d.mac, 100, true)])
        .await
        .unwrap();
    let status = s.get_status(d.mac).await.unwrap();
    assert_eq!(
        status.provisioned_at,
        Some(T0 + time::Duration::seconds(10))
    );
    assert_eq!(
        status.last_config_request,
        Some(T0 + time::Duration::seconds(100))
    );

    // Status is not a device change.
    assert_eq!(s.current_revision().await.unwrap(), rev);
    assert!(s.device_changes(rev).await.unwrap().upserted.is_empty());
    assert_eq!(s.get_device(d.mac).await.unwrap().unwrap().record, d);

    // The log, newest first, all or per device.
    let all = s.list_phone_requests(None, 0).await.unwrap();
    let times: Vec<i64> = all.iter().map(|r| (r.at - T0).whole_seconds()).collect();
    assert_eq!(times, [100, 30, 26, 25, 20, 10]);
    assert_eq!(all[3], batch[3], "stored as given");
    let mine = s.list_phone_requests(Some(d.mac), 2).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!((mine[0].at - T0).whole_seconds(), 100);
    assert!(mine.iter().all(|r| r.mac == Some(d.mac)));
    assert_eq!(
        s.list_phone_requests(Some(mac(999)), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    s.record_phone_requests(&[]).await.unwrap();
}

async fn older_batches_do_not_overwrite_newer_status(db: &TestDb) {
    let s = &db.store;
    let d = s.insert_device(&device(1)).await.unwrap();
    s.record_phone_requests(&[request(d.mac, 50, true)])
        .await
        .unwrap();
    // A batch from a slower instance arrives late.
    s.record_phone_requests(&[request(d.mac, 40, false), request(d.mac, 5, true)])
        .await
        .unwrap();
    let status = s.get_status(d.mac).await.unwrap();
    assert_eq!(
        status.last_request_at,
        Some(T0 + time::Duration::seconds(50))
    );
    assert_eq!(status.last_ip.as_deref(), Some("192.0.2.50"));
    assert_eq!(status.firmware_seen.as_deref(), Some("108.86.0.50"));
    assert_eq!(
        status.last_config_request,
        Some(T0 + time::Duration::seconds(50))
    );
    // ...but it knows of an earlier first config fetch.
    assert_eq!(status.provisioned_at, Some(T0 + time::Duration::seconds(5)));
}

async fn prune_keeps_recent_rows_and_the_newest_per_device(db: &TestDb) {
    let s = &db.store;
    let (a, b) = (mac(1), mac(2));
    s.insert_device(&device(1)).await.unwrap();
    let mut batch = Vec::new();
    for secs in 0..10 {
        batch.push(request(a, secs, false)); // a: 10 old rows
    }
    batch.push(request(b, 1, false)); // b (not a device): 2 old rows
    batch.push(request(b, 2, false));
    batch.push(anonymous(3)); // unattributed: 1 old, 1 recent
    batch.push(anonymous(200));
    batch.push(request(a, 150, false)); // a: 2 recent rows
    batch.push(request(a, 160, false));
    s.record_phone_requests(&batch).await.unwrap();
    assert_eq!(s.list_phone_requests(None, 100).await.unwrap().len(), 16);

    let cutoff = T0 + time::Duration::seconds(100);
    // keep 3 per device: a keeps its 2 recent rows + 1 old; b keeps both; the old anonymous
    // row goes.
    let deleted = s.prune_phone_requests(cutoff, 3).await.unwrap();
    assert_eq!(deleted, 9 + 1);
    let a_rows: Vec<i64> = s
        .list_phone_requests(Some(a), 100)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.at - T0).whole_seconds())
        .collect();
    assert_eq!(a_rows, [160, 150, 9]);
    assert_eq!(s.list_phone_requests(Some(b), 100).await.unwrap().len(), 2);
    assert_eq!(s.list_phone_requests(None, 100).await.unwrap().len(), 6);

    // Pruning again with the same limits deletes nothing; keep 0 is a pure age cut.
    assert_eq!(s.prune_phone_requests(cutoff, 3).await.unwrap(), 0);
    assert_eq!(s.prune_phone_requests(cutoff, 0).await.unwrap(), 3);
    let left: Vec<i64> = s
        .list_phone_requests(None, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.at - T0).whole_seconds())
        .collect();
    assert_eq!(left, [200, 160, 150]);
}

/// Refused requests all arrive within the retention period in a flood: the count caps them,
/// newest kept, and rows of devices are never touched.
async fn anonymous_rows_are_capped_by_count(db: &TestDb) {
    let s = &db.store;
    s.insert_device(&device(1)).await.unwrap();
    let mut batch: Vec<PhoneRequest> = (0..50).map(anonymous).collect();
    batch.push(request(mac(1), 10, false));
    batch.push(request(mac(1), 60, false));
    s.record_phone_requests(&batch).await.unwrap();
    assert_eq!(s.prune_anonymous_phone_requests(20).await.unwrap(), 30);
    let rows = s.list_phone_requests(None, 1000).await.unwrap();
    let anonymous: Vec<i64> = rows
        .iter()
        .filter(|r| r.mac.is_none())
        .map(|r| (r.at - T0).whole_seconds())
        .collect();
    assert_eq!(
        anonymous,
        (30..50).rev().collect::<Vec<i64>>(),
        "the newest 20 stay"
    );
    assert_eq!(rows.iter().filter(|r| r.mac.is_some()).count(), 2);
    assert_eq!(s.prune_anonymous_phone_requests(20).await.unwrap(), 0);
}

/// More devices than one status UPDATE takes (500): every device gets its own values, the
/// device between two chunks included, and its newest request wins within the batch.
async fn a_batch_over_many_devices_updates_each_one(db: &TestDb) {
    let s = &db.store;
    const N: i64 = 1_201;
    let mut batch = Vec::new();
    for i in 0..N {
        let d = s.insert_device(&device(i as u32)).await.unwrap();
        batch.push(request(d.mac, i, i % 2 == 0));
        batch.push(request(d.mac, i + 2_000, false));
    }
    s.record_phone_requests(&batch).await.unwrap();
    for i in [0, 1, 499, 500, 501, 999, 1_000, N - 1] {
        let status = s.get_status(mac(i as u32)).await.unwrap();
        let first = (i % 2 == 0).then(|| T0 + time::Duration::seconds(i));
        assert_eq!(
            status,
            DeviceStatus {
                provisioned_at: first,
                last_config_request: first,
                last_request_at: Some(T0 + time::Duration::seconds(i + 2_000)),
                last_ip: Some(format!("192.0.2.{}", (i + 2_000) % 250)),
                last_user_agent: batch[2 * i as usize + 1].user_agent.clone(),
                model_seen: Some("T46U".into()),
                firmware_seen: Some(format!("108.86.0.{}", i + 2_000)),
            },
            "device {i}"
        );
    }
}

/// A row standing for several identical requests keeps how many (the server folds repeats).
async fn a_folded_row_keeps_its_request_count(db: &TestDb) {
    let s = &db.store;
    let d = s.insert_device(&device(1)).await.unwrap();
    let folded = PhoneRequest {
        count: 4_000_000,
        ..request(d.mac, 40, true)
    };
    s.record_phone_requests(&[request(d.mac, 10, true), folded.clone()])
        .await
        .unwrap();
    let rows = s.list_phone_requests(Some(d.mac), 0).await.unwrap();
    let counts: Vec<u32> = rows.iter().map(|r| r.count).collect();
    assert_eq!(counts, [4_000_000, 1]);
    assert_eq!(rows[0], folded, "stored as given");
    assert_eq!(
        s.get_status(d.mac).await.unwrap().last_config_request,
        Some(T0 + time::Duration::seconds(40))
    );
}

/// A request at `T0 + secs` without User-Agent, model or firmware (e.g. a bare fetch).
fn bare(mac: Mac, secs: i64, mac_cfg_served: bool) -> PhoneRequest {
    PhoneRequest {
        user_agent: None,
        model: None,
        firmware: None,
        ..request(mac, secs, mac_cfg_served)
    }
}

/// One batch, several requests per device out of time order, devices in different prior
/// states: each status row gets its own device's values, and nothing is overwritten by an
/// older request or by a NULL.
async fn one_batch_sets_each_devices_status_and_keeps_what_it_lacks(db: &TestDb) {
    let s = &db.store;
    for r in s.insert_devices(&devices(1..5)).await.unwrap() {
        r.unwrap();
    }
    let secs = |n: i64| Some(T0 + time::Duration::seconds(n));
    let (fresh, newer, older, untouched, unknown) = (mac(1), mac(2), mac(3), mac(4), mac(999));
    // Prior state: `newer` was last seen after the batch below, `older` before it.
    s.record_phone_requests(&[request(newer, 500, true), request(older, 5, true)])
        .await
        .unwrap();
    let before_untouched = s.get_status(untouched).await.unwrap();

    let batch = vec![
        bare(fresh, 30, false),
        request(newer, 200, false),
        bare(older, 50, false),
        request(fresh, 10, true),
        request(unknown, 60, true),
        request(newer, 100, true),
        request(fresh, 20, true),
        bare(older, 40, false),
    ];
    s.record_phone_requests(&batch).await.unwrap();

    assert_eq!(
        s.get_status(fresh).await.unwrap(),
        DeviceStatus {
            provisioned_at: secs(10),
            last_config_request: secs(20),
            last_request_at: secs(30),
            last_ip: Some("192.0.2.30".into()),
            // The newest request (30) had none: the newest that had them (20).
            last_user_agent: request(fresh, 20, true).user_agent,
            model_seen: Some("T46U".into()),
            firmware_seen: Some("108.86.0.20".into()),
        },
        "a device's first requests"
    );
    assert_eq!(
        s.get_status(newer).await.unwrap(),
        DeviceStatus {
            // An earlier config fetch than the stored one moves provisioned_at back...
            provisioned_at: secs(100),
            // ...but every newer stored value stays.
            last_config_request: secs(500),
            last_request_at: secs(500),
            last_ip: Some("192.0.2.0".into()),
            last_user_agent: request(newer, 500, true).user_agent,
            model_seen: Some("T46U".into()),
            firmware_seen: Some("108.86.0.500".into()),
        },
        "a batch older than the stored status"
    );
    assert_eq!(
        s.get_status(older).await.unwrap(),
        DeviceStatus {
            // No config fetch in the batch: both config times stay.
            provisioned_at: secs(5),
            last_config_request: secs(5),
            last_request_at: secs(50),
            last_ip: Some("192.0.2.50".into()),
            // The batch had no User-Agent, model or firmware: NULL does not overwrite.
            last_user_agent: request(older, 5, true).user_agent,
            model_seen: Some("T46U".into()),
            firmware_seen: Some("108.86.0.5".into()),
        },
        "a batch without User-Agent"
    );
    assert_eq!(s.get_status(untouched).await.unwrap(), before_untouched);
    // A MAC that is not a device gets no status row (and no device).
    assert_eq!(
        s.get_status(unknown).await.unwrap(),
        DeviceStatus::default()
    );
    assert!(s.get_device(unknown).await.unwrap().is_none());
    assert_eq!(
        s.list_phone_requests(Some(unknown), 0).await.unwrap().len(),
        1
    );
}

/// PostgreSQL only (SQLite has one writer at a time): two instances write batches over the
/// same devices at once, many times, and none fails with a deadlock. The batches differ in
/// size, and before each round the status rows are laid out in reverse MAC order: a statement
/// that locked rows in the order its join plan visits them (the table's order for a few
/// devices, the batch's for many) would lock the shared rows in opposite orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_status_batches_do_not_deadlock() {
    let Some(db) = TestDb::postgres("postgres_concurrent_status_batches_do_not_deadlock").await
    else {
        return;
    };
    const N: u32 = 300;
    const ROUNDS: i64 = 50;
    let (one, two) = (db.store.clone(), db.reopen().await);
    for r in one.insert_devices(&devices(0..N)).await.unwrap() {
        r.unwrap();
    }
    let raw = prov_store::PgStore::open(&db.url).await.unwrap();
    for sql in [
        "CREATE INDEX test_status_mac_desc ON device_status (mac DESC)",
        // Statistics, as autovacuum keeps them in production.
        "ANALYZE device_status",
    ] {
        sqlx::query(sql).execute(raw.pool()).await.unwrap();
    }
    for round in 0..ROUNDS {
        // Rewrites the table in reverse MAC order (the writes below leave it in MAC order).
        sqlx::query("CLUSTER device_status USING test_status_mac_desc")
            .execute(raw.pool())
            .await
            .unwrap();
        let at = round * 10;
        // A few devices, many requests each, MACs ascending; all devices, MACs descending.
        // Both batches have as many rows, so their status writes overlap in time.
        let few: Vec<PhoneRequest> = (0..N)
            .step_by(3)
            .flat_map(|n| (0..6).map(move |i| request(mac(n), at - i, round % 2 == 0)))
            .collect();
        let all: Vec<PhoneRequest> = (0..N)
            .rev()
            .flat_map(|n| [request(mac(n), at + 1, false), bare(mac(n), at, true)])
            .collect();
        let (a, b) = tokio::join!(
            one.record_phone_requests(&few),
            two.record_phone_requests(&all)
        );
        a.unwrap_or_else(|e| panic!("round {round}, a few devices: {e}"));
        b.unwrap_or_else(|e| panic!("round {round}, all devices: {e}"));
    }
    let last = (ROUNDS - 1) * 10;
    for n in [0, 3, 4, N - 1] {
        let status = two.get_status(mac(n)).await.unwrap();
        assert_eq!(
            status.last_request_at,
            Some(T0 + time::Duration::seconds(last + 1)),
            "device {n}"
        );
        assert_eq!(
            status.last_config_request,
            Some(T0 + time::Duration::seconds(last)),
            "device {n}"
        );
    }
    drop(raw);
    db.cleanup().await;
}

/// PostgreSQL only: a batch locks its status rows in MAC order, whatever order the table
/// holds them in (here the reverse). While another transaction holds the row of the batch's
/// lowest MAC, the writer waits for it holding no other row of the batch. Deterministic,
/// unlike the race above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_status_rows_are_locked_in_mac_order() {
    let Some(db) = TestDb::postgres("postgres_status_rows_are_locked_in_mac_order").await else {
        return;
    };
    const N: u32 = 60;
    let mut reversed = devices(0..N);
    reversed.reverse();
    for r in db.store.insert_devices(&reversed).await.unwrap() {
        r.unwrap();
    }
    let raw = prov_store::PgStore::open(&db.url).await.unwrap();
    sqlx::query("ANALYZE device_status")
        .execute(raw.pool())
        .await
        .unwrap();
    let macs: Vec<String> = (0..N).step_by(3).map(|n| mac(n).to_string()).collect();

    let mut holder = raw.pool().begin().await.unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    sqlx::query("SELECT mac FROM device_status WHERE mac = $1 FOR UPDATE")
        .bind(mac(0).to_string())
        .fetch_one(&mut *holder)
        .await
        .unwrap();

    let store = db.store.clone();
    let batch: Vec<PhoneRequest> = (0..N)
        .step_by(3)
        .rev()
        .map(|n| request(mac(n), 10, true))
        .collect();
    let writer = tokio::spawn(async move { store.record_phone_requests(&batch).await });
    let mut waited = 0;
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(holder_pid)
        .fetch_one(raw.pool())
        .await
        .unwrap();
        if blocked > 0 {
            break;
        }
        waited += 1;
        assert!(waited < 500, "the writer never waited for the held row");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Every other row of the batch is free: SKIP LOCKED passes over rows the writer holds.
    let mut probe = raw.pool().begin().await.unwrap();
    let free: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT mac FROM device_status WHERE mac = ANY($1) \
         FOR UPDATE SKIP LOCKED) t",
    )
    .bind(&macs)
    .fetch_one(&mut *probe)
    .await
    .unwrap();
    probe.rollback().await.unwrap();
    assert_eq!(
        free,
        i64::try_from(macs.len() - 1).unwrap(),
        "the writer locked rows before the lowest MAC's"
    );

    holder.rollback().await.unwrap();
    writer.await.unwrap().unwrap();
    assert_eq!(
        db.store
            .get_status(mac(N - 1 - (N - 1) % 3))
            .await
            .unwrap()
            .last_config_request,
        Some(T0 + time::Duration::seconds(10))
    );
    drop(raw);
    db.cleanup().await;
}
