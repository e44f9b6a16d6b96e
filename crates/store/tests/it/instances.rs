//! Instance heartbeats: leases and claimed RPS jobs of a live instance stay held without
//! renewals; a stale one's are taken over; a clean stop hands everything over at once.

use std::time::Duration;

use prov_store::{INSTANCE_STALE_AFTER, InstanceBeat, NewRpsJob, RpsHistoryEntry};
use time::OffsetDateTime;

use crate::harness::{TestDb, conformance, mac};

conformance!(
    a_live_instance_keeps_its_leases_past_their_until,
    a_stale_instance_loses_its_leases,
    a_live_instance_keeps_its_claimed_jobs_and_a_stale_ones_are_retried_by_another,
    leaving_hands_leases_and_jobs_over_at_once,
    beats_refresh_one_row_per_instance,
    unheld_pbx_devices_are_the_phones_whose_lease_acquire_would_take,
);

fn beat(id: &str, age: Duration) -> InstanceBeat {
    let at = OffsetDateTime::now_utc() - age;
    InstanceBeat {
        id: id.into(),
        started_at: at,
        last_beat: at,
        address: Some("127.0.0.1:8080".into()),
    }
}

fn soon() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::milliseconds(200)
}

fn later() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::seconds(30)
}

async fn a_live_instance_keeps_its_leases_past_their_until(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    a.beat_instance(&beat("a", Duration::ZERO)).await.unwrap();
    assert!(a.acquire_lease("sysclient:1", "a", soon()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Its `until` is past, but its holder beats: nobody else gets it, no renewal needed.
    assert!(!b.acquire_lease("sysclient:1", "b", later()).await.unwrap());
    assert_eq!(a.leases_held("a").await.unwrap(), vec!["sysclient:1"]);
    // A holder without a heartbeat row is judged by `until` alone, as before.
    assert!(b.acquire_lease("plain", "x", soon()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.acquire_lease("plain", "a", later()).await.unwrap());
}

async fn a_stale_instance_loses_its_leases(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    let stale = INSTANCE_STALE_AFTER + Duration::from_secs(1);
    a.beat_instance(&beat("dead", Duration::ZERO))
        .await
        .unwrap();
    assert!(
        a.acquire_lease("sysclient:1", "dead", soon())
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!b.acquire_lease("sysclient:1", "b", later()).await.unwrap());
    // Its last beat is now older than the threshold (as after a SIGKILL).
    a.beat_instance(&beat("dead", stale)).await.unwrap();
    assert!(b.acquire_lease("sysclient:1", "b", later()).await.unwrap());
    assert!(a.leases_held("dead").await.unwrap().is_empty());
    // But a stale holder's lease that has not reached its `until` yet stays (start-up grace).
    assert!(
        a.acquire_lease("sysclient:2", "dead", later())
            .await
            .unwrap()
    );
    assert!(!b.acquire_lease("sysclient:2", "b", later()).await.unwrap());
    let listed = b.list_instances().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].is_live(OffsetDateTime::now_utc()));
}

async fn a_live_instance_keeps_its_claimed_jobs_and_a_stale_ones_are_retried_by_another(
    db: &TestDb,
) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    a.enqueue_rps_jobs(&[NewRpsJob {
        command: "REDIRECT_DEVICE".into(),
        mac: Some(mac(1)),
        payload: serde_json::json!({}),
    }])
    .await
    .unwrap();
    a.beat_instance(&beat("a", Duration::ZERO)).await.unwrap();
    let now = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let lease = Duration::from_secs(1);
    let claimed = a.claim_rps_jobs("a", now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // After the job's own lease: still a's, because a beats.
    let after = now + time::Duration::seconds(2);
    assert!(
        b.claim_rps_jobs("b", after, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // a dies: once its beat is stale, b takes the job over and finishes it; a cannot.
    a.beat_instance(&beat("a", INSTANCE_STALE_AFTER))
        .await
        .unwrap();
    let taken = b.claim_rps_jobs("b", after, lease, 10).await.unwrap();
    assert_eq!(taken.len(), 1, "taken over");
    assert_eq!(taken[0].id, claimed[0].id);
    let entry = RpsHistoryEntry {
        id: 0,
        at: OffsetDateTime::now_utc(),
        command: taken[0].command.clone(),
        mac: taken[0].mac,
        params: serde_json::json!({}),
        outcome: "ok".into(),
        answer: "Operation success".into(),
        duration_ms: 1,
        attempts: taken[0].attempts + 1,
    };
    assert!(!a.complete_rps_job(taken[0].id, "a", &entry).await.unwrap());
    assert!(b.complete_rps_job(taken[0].id, "b", &entry).await.unwrap());
}

async fn leaving_hands_leases_and_jobs_over_at_once(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    a.beat_instance(&beat("a", Duration::ZERO)).await.unwrap();
    b.beat_instance(&beat("b", Duration::ZERO)).await.unwrap();
    a.enqueue_rps_jobs(&[NewRpsJob {
        command: "ADD_SERVER".into(),
        mac: None,
        payload: serde_json::json!({}),
    }])
    .await
    .unwrap();
    let now = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert!(a.acquire_lease("sysclient:1", "a", later()).await.unwrap());
    assert!(a.acquire_lease("sysclient:2", "a", later()).await.unwrap());
    assert!(b.acquire_lease("sysclient:3", "b", later()).await.unwrap());
    let long = Duration::from_secs(3600);
    assert_eq!(a.claim_rps_jobs("a", now, long, 10).await.unwrap().len(), 1);
    assert!(
        b.claim_rps_jobs("b", now, long, 10)
            .await
            .unwrap()
            .is_empty()
    );

    a.leave_instance("a").await.unwrap();
    assert!(a.leases_held("a").await.unwrap().is_empty());
    assert!(b.acquire_lease("sysclient:1", "b", later()).await.unwrap());
    assert_eq!(b.claim_rps_jobs("b", now, long, 10).await.unwrap().len(), 1);
    // b's own are untouched, and only b is left.
    assert_eq!(
        b.leases_held("b").await.unwrap(),
        vec!["sysclient:1", "sysclient:3"]
    );
    let ids: Vec<String> = b
        .list_instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec!["b"]);
}

async fn beats_refresh_one_row_per_instance(db: &TestDb) {
    let s = &db.store;
    let first = beat("a", Duration::from_secs(10));
    s.beat_instance(&first).await.unwrap();
    let mut next = beat("a", Duration::ZERO);
    next.address = None;
    s.beat_instance(&next).await.unwrap();
    let rows = s.list_instances().await.unwrap();
    assert_eq!(rows.len(), 1);
    // The start is kept from the first beat; the beat moves.
    assert_eq!(
        rows[0].started_at.unix_timestamp(),
        first.started_at.unix_timestamp()
    );
    assert!(rows[0].last_beat > rows[0].started_at);
    assert!(rows[0].is_live(OffsetDateTime::now_utc()));
    assert_eq!(rows[0].address, None);
    // Rows dead for a day are forgotten by the next beat of anyone.
    s.beat_instance(&beat("ancient", Duration::from_secs(2 * 24 * 3600)))
        .await
        .unwrap();
    s.beat_instance(&beat("a", Duration::ZERO)).await.unwrap();
    let ids: Vec<String> = s
        .list_instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec!["a"]);
}

/// The takeover sweep's read: phones with no lease, or whose lease is past its `until` with a
/// stale holder, and no others; exactly the ones `acquire_lease` would hand over.
async fn unheld_pbx_devices_are_the_phones_whose_lease_acquire_would_take(db: &TestDb) {
    let store = db.store.clone();
    let stale = INSTANCE_STALE_AFTER + Duration::from_secs(1);
    for n in 1..=5 {
        store
            .put_pbx_device(mac(n), &serde_json::json!({"code": "x"}), Some(false))
            .await
            .unwrap();
    }
    let name = |n: u32| format!("sysclient:{}", mac(n));
    store
        .beat_instance(&beat("live", Duration::ZERO))
        .await
        .unwrap();
    store
        .beat_instance(&beat("dead", Duration::ZERO))
        .await
        .unwrap();
    // 1: no lease. 2: a live holder, past its `until`. 3: the dead one's, past `until`.
    // 4: the dead one's, `until` not reached. 5: a live holder.
    assert!(store.acquire_lease(&name(2), "live", soon()).await.unwrap());
    assert!(store.acquire_lease(&name(3), "dead", soon()).await.unwrap());
    assert!(
        store
            .acquire_lease(&name(4), "dead", later())
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease(&name(5), "live", later())
            .await
            .unwrap()
    );
    // Another kind of lease on the same MAC is not the phone's.
    assert!(
        store
            .acquire_lease(&format!("other:{}", mac(5)), "dead", soon())
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.unheld_pbx_devices("sysclient:", 100).await.unwrap(),
        vec![mac(1)],
        "while both instances beat"
    );
    store.beat_instance(&beat("dead", stale)).await.unwrap();
    let unheld = store.unheld_pbx_devices("sysclient:", 100).await.unwrap();
    assert_eq!(unheld, vec![mac(1), mac(3)], "after one went stale");
    assert_eq!(
        store.unheld_pbx_devices("sysclient:", 1).await.unwrap(),
        vec![mac(1)],
        "in pages"
    );
    for n in 1..=5 {
        let taken = store
            .acquire_lease(&name(n), "taker", later())
            .await
            .unwrap();
        assert_eq!(taken, unheld.contains(&mac(n)), "phone {n}");
    }
    assert!(
        store
            .unheld_pbx_devices("sysclient:", 100)
            .await
            .unwrap()
            .is_empty()
    );
}
