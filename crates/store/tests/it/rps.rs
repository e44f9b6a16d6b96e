//! The RPS outbox (enqueue, claim with leases, per-MAC order, complete/retry) and the RPS
//! command history (filters, paging, retention).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prov_store::{HistoryQuery, NewRpsJob, QueueStats, RpsHistoryEntry, RpsJob, Store};
use time::OffsetDateTime;
use time::macros::datetime;
use yealink::Mac;

use crate::harness::{TestDb, conformance, device, mac};

conformance!(
    enqueue_keeps_slice_order_and_ids_grow,
    claims_only_due_jobs_and_retry_backs_off,
    jobs_of_one_mac_run_in_enqueue_order,
    leases_keep_other_workers_out_until_they_expire,
    complete_records_history_exactly_once,
    concurrent_claims_never_share_a_job,
    one_macs_jobs_run_in_id_order_while_instances_enqueue,
    thousand_jobs_survive_an_outage_and_drain_once,
    reopened_store_still_has_the_jobs_and_leases,
    removing_a_device_keeps_its_jobs_and_history,
    queue_stats_and_retry_now,
    history_filters_pages_newest_first,
    prune_history_keeps_the_newest,
    latest_redirect_per_mac_and_queued_macs,
    history_searched_by_part_of_a_mac,
);

const LEASE: Duration = Duration::from_secs(30);
/// A lease that outlives every test.
const LONG_LEASE: Duration = Duration::from_secs(3600);
const T0: OffsetDateTime = datetime!(2026-11-26 08:00 UTC);

fn secs(n: i64) -> time::Duration {
    time::Duration::seconds(n)
}

/// A job whose payload carries a secret, as a real ADD SERVER or REDIRECT would.
fn job(command: &str, mac: Option<Mac>) -> NewRpsJob {
    NewRpsJob {
        command: command.into(),
        mac,
        payload: serde_json::json!({ "url": "https://prov.example.com/prov/", "password": "rps-secret-42" }),
    }
}

/// A time after every job enqueued so far was created: all of them are due at it. Whole
/// microseconds, so values derived from it read back unchanged.
fn after_enqueue() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc() + secs(1);
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

/// The history entry a worker writes when `job` finished.
fn finished(job: &RpsJob, outcome: &str) -> RpsHistoryEntry {
    RpsHistoryEntry {
        id: 0,
        at: OffsetDateTime::now_utc(),
        command: job.command.clone(),
        mac: job.mac,
        params: serde_json::json!({ "job": job.id }),
        outcome: outcome.into(),
        answer: "Operation success".into(),
        duration_ms: 120,
        attempts: job.attempts + 1,
    }
}

fn ids(jobs: &[RpsJob]) -> Vec<i64> {
    jobs.iter().map(|j| j.id).collect()
}

async fn history(s: &Arc<dyn Store>, q: HistoryQuery) -> Vec<RpsHistoryEntry> {
    s.list_rps_history(&q).await.unwrap().items
}

async fn enqueue_keeps_slice_order_and_ids_grow(db: &TestDb) {
    let s = &db.store;
    assert!(s.enqueue_rps_jobs(&[]).await.unwrap().is_empty());

    let before = OffsetDateTime::now_utc() - secs(1);
    let first = vec![
        job("ADD_SERVER", None),
        job("DEREGISTER_DEVICE", Some(mac(1))),
        job("REDIRECT_DEVICE", Some(mac(1))),
    ];
    let ids1 = s.enqueue_rps_jobs(&first).await.unwrap();
    let second = vec![job("REDIRECT_DEVICE", Some(mac(2)))];
    let ids2 = s.enqueue_rps_jobs(&second).await.unwrap();
    assert_eq!((ids1.len(), ids2.len()), (3, 1));
    assert!(ids1.windows(2).all(|w| w[0] < w[1]), "{ids1:?}");
    assert!(ids2[0] > ids1[2]);

    let pending = s.pending_rps_jobs(None, 0).await.unwrap();
    assert_eq!(ids(&pending), [ids1.clone(), ids2.clone()].concat());
    for (got, want) in pending.iter().zip(first.iter().chain(&second)) {
        assert_eq!(
            (&got.command, got.mac, &got.payload),
            (&want.command, want.mac, &want.payload)
        );
        assert_eq!((got.attempts, got.last_error.as_deref()), (0, None));
        // Due now.
        assert_eq!(got.next_attempt_at, got.created_at);
        assert!(got.created_at >= before && got.created_at <= OffsetDateTime::now_utc());
    }
    assert!(
        pending
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at)
    );

    let of_mac1 = s.pending_rps_jobs(Some(mac(1)), 0).await.unwrap();
    assert_eq!(ids(&of_mac1), ids1[1..]);
    assert_eq!(ids(&s.pending_rps_jobs(None, 2).await.unwrap()), ids1[..2]);
    assert!(
        s.pending_rps_jobs(Some(mac(3)), 0)
            .await
            .unwrap()
            .is_empty()
    );

    // A big batch keeps its order too.
    let many: Vec<NewRpsJob> = (10..2510)
        .map(|n| job("REDIRECT_DEVICE", Some(mac(n))))
        .collect();
    let ids3 = s.enqueue_rps_jobs(&many).await.unwrap();
    assert_eq!(ids3.len(), many.len());
    assert!(ids3.windows(2).all(|w| w[0] < w[1]));
    assert!(ids3[0] > ids2[0]);
    let of_one = s.pending_rps_jobs(Some(mac(2000)), 0).await.unwrap();
    assert_eq!(ids(&of_one), [ids3[2000 - 10]]);
}

async fn claims_only_due_jobs_and_retry_backs_off(db: &TestDb) {
    let s = &db.store;
    let ids = s
        .enqueue_rps_jobs(&[
            job("REDIRECT_DEVICE", Some(mac(1))),
            job("ADD_SERVER", None),
        ])
        .await
        .unwrap();
    // Not due yet at a time before they were enqueued.
    let earlier = OffsetDateTime::now_utc() - secs(3600);
    assert!(
        s.claim_rps_jobs("w1", earlier, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let t = after_enqueue();
    assert!(
        s.claim_rps_jobs("w1", t, LEASE, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let claimed = s.claim_rps_jobs("w1", t, LONG_LEASE, 10).await.unwrap();
    assert_eq!(self::ids(&claimed), ids);

    // RPS timed out: back off for a minute.
    assert!(
        s.retry_rps_job(ids[0], "w1", t + secs(60), "timeout after 10 s")
            .await
            .unwrap()
    );
    let retried = &s.pending_rps_jobs(Some(mac(1)), 0).await.unwrap()[0];
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.last_error.as_deref(), Some("timeout after 10 s"));
    assert_eq!(retried.next_attempt_at, t + secs(60));
    // Lease released, but not due: nobody gets it before its time.
    assert!(
        s.claim_rps_jobs("w2", t + secs(59), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s
        .claim_rps_jobs("w2", t + secs(60), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(self::ids(&again), [ids[0]]);
    assert_eq!(again[0], *retried, "claimed as stored");

    // A second failure counts on.
    assert!(
        s.retry_rps_job(ids[0], "w2", t + secs(180), "HTTP 503")
            .await
            .unwrap()
    );
    let retried = &s.pending_rps_jobs(Some(mac(1)), 0).await.unwrap()[0];
    assert_eq!(
        (retried.attempts, retried.last_error.as_deref()),
        (2, Some("HTTP 503"))
    );
    // Retry of a job that does not exist.
    assert!(!s.retry_rps_job(-1, "w2", t, "x").await.unwrap());
}

async fn jobs_of_one_mac_run_in_enqueue_order(db: &TestDb) {
    let s = &db.store;
    let ids = s
        .enqueue_rps_jobs(&[
            job("DEREGISTER_DEVICE", Some(mac(1))),
            job("REDIRECT_DEVICE", Some(mac(1))),
            job("REDIRECT_DEVICE", Some(mac(2))),
            job("ADD_SERVER", None),
            job("ADD_SERVER", None),
        ])
        .await
        .unwrap();
    let (dereg, redirect1, redirect2, add_a, add_b) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let t = after_enqueue();

    // REDIRECT of mac 1 is due, but its DEREGISTER comes first. Jobs without a MAC don't wait
    // for each other.
    let first = s.claim_rps_jobs("w1", t, LONG_LEASE, 10).await.unwrap();
    assert_eq!(self::ids(&first), [dereg, redirect2, add_a, add_b]);
    // While the DEREGISTER is leased, another worker does not get the REDIRECT either.
    assert!(
        s.claim_rps_jobs("w2", t, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The DEREGISTER fails and backs off: the REDIRECT still waits, even though it is due.
    assert!(
        s.retry_rps_job(dereg, "w1", t + secs(60), "RPS down")
            .await
            .unwrap()
    );
    for at in [t, t + secs(59)] {
        assert!(
            s.claim_rps_jobs("w2", at, LEASE, 10)
                .await
                .unwrap()
                .is_empty(),
            "the REDIRECT must not overtake its DEREGISTER"
        );
    }
    let again = s
        .claim_rps_jobs("w2", t + secs(60), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(self::ids(&again), [dereg]);
    assert!(
        s.complete_rps_job(dereg, "w2", &finished(&again[0], "ok"))
            .await
            .unwrap()
    );
    // Now it is the oldest job of mac 1.
    let next = s
        .claim_rps_jobs("w2", t + secs(60), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(self::ids(&next), [redirect1]);
    assert_eq!(next[0].command, "REDIRECT_DEVICE");
}

async fn leases_keep_other_workers_out_until_they_expire(db: &TestDb) {
    let s = &db.store;
    let id = s
        .enqueue_rps_jobs(&[job("REDIRECT_DEVICE", Some(mac(1)))])
        .await
        .unwrap()[0];
    let t = after_enqueue();
    let mine = s.claim_rps_jobs("w1", t, LEASE, 10).await.unwrap();
    assert_eq!(ids(&mine), [id]);

    // Another worker (another instance) cannot take it, nor finish or retry it.
    assert!(
        s.claim_rps_jobs("w2", t + secs(29), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !s.complete_rps_job(id, "w2", &finished(&mine[0], "ok"))
            .await
            .unwrap()
    );
    assert!(!s.retry_rps_job(id, "w2", t, "x").await.unwrap());
    let job = &s.pending_rps_jobs(None, 0).await.unwrap()[0];
    assert_eq!((job.attempts, job.last_error.as_deref()), (0, None));
    assert_eq!(
        s.list_rps_history(&HistoryQuery::default())
            .await
            .unwrap()
            .total,
        0
    );

    // w1 went silent: after the lease, w2 takes the job over, and w1 can no longer finish it.
    let taken = s
        .claim_rps_jobs("w2", t + secs(30), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&taken), [id]);
    assert!(
        !s.complete_rps_job(id, "w1", &finished(&mine[0], "ok"))
            .await
            .unwrap()
    );
    assert!(!s.retry_rps_job(id, "w1", t, "late").await.unwrap());
    assert!(
        s.claim_rps_jobs("w1", t + secs(31), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "w2's new lease runs until t+60"
    );
    assert!(
        s.complete_rps_job(id, "w2", &finished(&taken[0], "ok"))
            .await
            .unwrap()
    );
    assert_eq!(
        s.list_rps_history(&HistoryQuery::default())
            .await
            .unwrap()
            .total,
        1
    );
}

async fn complete_records_history_exactly_once(db: &TestDb) {
    let s = &db.store;
    let id = s
        .enqueue_rps_jobs(&[job("REDIRECT_DEVICE", Some(mac(7)))])
        .await
        .unwrap()[0];
    let claimed = s
        .claim_rps_jobs("w1", after_enqueue(), LEASE, 1)
        .await
        .unwrap();
    assert_eq!(ids(&claimed), [id]);

    // The claimed job never shows its payload (it holds a secret) when logged.
    for text in [format!("{:?}", claimed[0]), format!("{claimed:#?}")] {
        assert!(!text.contains("rps-secret-42"), "{text}");
        assert!(
            text.contains("REDIRECT_DEVICE") && text.contains("001565000007"),
            "{text}"
        );
    }

    let mut entry = finished(&claimed[0], "ok");
    // Stored in UTC with microseconds, like every timestamp.
    entry.at = datetime!(2026-11-26 10:00:00.123_456_789 +02:00);
    assert!(s.complete_rps_job(id, "w1", &entry).await.unwrap());
    assert!(s.pending_rps_jobs(None, 0).await.unwrap().is_empty());

    let page = s.list_rps_history(&HistoryQuery::default()).await.unwrap();
    assert_eq!(page.total, 1);
    let got = &page.items[0];
    assert_eq!(
        *got,
        RpsHistoryEntry {
            id: got.id,
            at: datetime!(2026-11-26 08:00:00.123_456 UTC),
            ..entry.clone()
        }
    );

    // Finishing it again (a retried HTTP call, a second worker) writes nothing.
    assert!(!s.complete_rps_job(id, "w1", &entry).await.unwrap());
    assert!(!s.retry_rps_job(id, "w1", T0, "x").await.unwrap());
    assert_eq!(
        s.list_rps_history(&HistoryQuery::default())
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        s.rps_queue_stats(after_enqueue()).await.unwrap(),
        QueueStats::default()
    );
}

async fn concurrent_claims_never_share_a_job(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    // 200 independent jobs, and 50 MACs with two jobs each (only the first is claimable).
    let mut jobs: Vec<NewRpsJob> = (0..200).map(|_| job("ADD_SERVER", None)).collect();
    for n in 0..50 {
        jobs.push(job("DEREGISTER_DEVICE", Some(mac(n))));
        jobs.push(job("REDIRECT_DEVICE", Some(mac(n))));
    }
    a.enqueue_rps_jobs(&jobs).await.unwrap();
    let t = after_enqueue();

    let mut got: HashMap<i64, &str> = HashMap::new();
    loop {
        let (ja, jb) = tokio::join!(
            a.claim_rps_jobs("worker-a", t, LEASE, 7),
            b.claim_rps_jobs("worker-b", t, LEASE, 7),
        );
        let (ja, jb) = (ja.unwrap(), jb.unwrap());
        if ja.is_empty() && jb.is_empty() {
            break;
        }
        for (worker, claimed) in [("worker-a", ja), ("worker-b", jb)] {
            for j in claimed {
                assert_eq!(got.insert(j.id, worker), None, "job {} claimed twice", j.id);
                assert_ne!(
                    j.command, "REDIRECT_DEVICE",
                    "claimed before its DEREGISTER"
                );
            }
        }
    }
    assert_eq!(got.len(), 250);
    assert!(got.values().any(|w| *w == "worker-a"));
}

/// Two instances keep enqueueing commands for one phone while a third works the queue: the
/// worker must finish them in id order, never one before an older one exists to it.
async fn one_macs_jobs_run_in_id_order_while_instances_enqueue(db: &TestDb) {
    let (a, b, worker) = (db.reopen().await, db.reopen().await, db.store.clone());
    let enqueuers_done = AtomicUsize::new(0);
    let enqueue = |s: Arc<dyn Store>, who: &'static str| {
        let enqueuers_done = &enqueuers_done;
        async move {
            let mut ids = Vec::new();
            for n in 0..60 {
                let mut j = job("REDIRECT_DEVICE", Some(mac(1)));
                j.payload = serde_json::json!({ "from": who, "n": n });
                let pair = [j, job("ADD_SERVER", None)];
                ids.extend(s.enqueue_rps_jobs(&pair).await.unwrap());
            }
            enqueuers_done.fetch_add(1, Ordering::SeqCst);
            ids
        }
    };
    let work = async {
        let mut finished_ids = Vec::new();
        loop {
            // Read before claiming: when both are done and nothing is left, nothing can come.
            let all_enqueued = enqueuers_done.load(Ordering::SeqCst) == 2;
            let now = OffsetDateTime::now_utc();
            let batch = worker.claim_rps_jobs("w", now, LEASE, 10).await.unwrap();
            if batch.is_empty() {
                if all_enqueued && worker.rps_queue_stats(now).await.unwrap().pending == 0 {
                    return finished_ids;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            for j in batch {
                assert!(
                    worker
                        .complete_rps_job(j.id, "w", &finished(&j, "ok"))
                        .await
                        .unwrap()
                );
                if j.mac.is_some() {
                    finished_ids.push(j.id);
                }
            }
        }
    };
    let (ids_a, ids_b, finished_ids) = tokio::join!(enqueue(a, "a"), enqueue(b, "b"), work);
    assert_eq!(ids_a.len() + ids_b.len(), 240);
    assert_eq!(finished_ids.len(), 120);
    assert!(
        finished_ids.windows(2).all(|w| w[0] < w[1]),
        "out of order: {finished_ids:?}"
    );
}

/// "Adding 1,000 phones while RPS is down must end with 1,000 redirected phones once it is
/// back, nothing lost across a restart, each command recorded once."
async fn thousand_jobs_survive_an_outage_and_drain_once(db: &TestDb) {
    let s = &db.store;
    // 500 phones, each a DEREGISTER then a REDIRECT, like the server enqueues them.
    let jobs: Vec<NewRpsJob> = (0..500)
        .flat_map(|n| {
            [
                job("DEREGISTER_DEVICE", Some(mac(n))),
                job("REDIRECT_DEVICE", Some(mac(n))),
            ]
        })
        .collect();
    assert_eq!(s.enqueue_rps_jobs(&jobs).await.unwrap().len(), 1000);

    // RPS is down: every claimable job fails and backs off for an hour.
    let t = after_enqueue();
    loop {
        let batch = s.claim_rps_jobs("w1", t, LEASE, 100).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for j in batch {
            assert_eq!(j.command, "DEREGISTER_DEVICE");
            assert!(
                s.retry_rps_job(j.id, "w1", t + secs(3600), "connection refused")
                    .await
                    .unwrap()
            );
        }
    }
    let stats = s.rps_queue_stats(t).await.unwrap();
    assert_eq!((stats.pending, stats.max_attempts), (1000, 1));
    // The REDIRECTs are due but wait behind their DEREGISTERs.
    assert_eq!(stats.due, 500);

    // Restart: a new process opens the same database. RPS is back; the operator retries now.
    let reopened = db.reopen().await;
    let now = OffsetDateTime::now_utc();
    assert_eq!(reopened.retry_rps_jobs_now(now).await.unwrap(), 500);

    // Two instances drain the queue together.
    let second = db.reopen().await;
    let (da, db_) = tokio::join!(drain(reopened.clone(), "a"), drain(second, "b"));
    assert_eq!(da + db_, 1000);

    let stats = reopened
        .rps_queue_stats(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(stats, QueueStats::default());
    let page = reopened
        .list_rps_history(&HistoryQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.total, page.items.len()), (1000, 1000));
    // Each command exactly once, and per phone the DEREGISTER finished before the REDIRECT.
    let mut per_mac: HashMap<Mac, Vec<(i64, String, u32)>> = HashMap::new();
    for e in page.items {
        per_mac
            .entry(e.mac.unwrap())
            .or_default()
            .push((e.id, e.command, e.attempts));
    }
    assert_eq!(per_mac.len(), 500);
    for (m, mut entries) in per_mac {
        entries.sort();
        let commands: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(commands, ["DEREGISTER_DEVICE", "REDIRECT_DEVICE"], "{m}");
        assert_eq!((entries[0].2, entries[1].2), (2, 1), "{m}: attempts");
    }
}

/// Claims and completes until nothing is pending; returns how many jobs this worker finished.
async fn drain(s: Arc<dyn Store>, worker: &str) -> usize {
    let mut done = 0;
    loop {
        let now = OffsetDateTime::now_utc();
        let batch = s.claim_rps_jobs(worker, now, LEASE, 100).await.unwrap();
        if batch.is_empty() {
            if s.rps_queue_stats(now).await.unwrap().pending == 0 {
                return done;
            }
            // The rest is leased by the other worker or waits behind its jobs.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        for j in &batch {
            assert!(
                s.complete_rps_job(j.id, worker, &finished(j, "ok"))
                    .await
                    .unwrap()
            );
            done += 1;
        }
    }
}

async fn reopened_store_still_has_the_jobs_and_leases(db: &TestDb) {
    let s = &db.store;
    let ids = s
        .enqueue_rps_jobs(&[
            job("ADD_SERVER", None),
            job("REDIRECT_DEVICE", Some(mac(1))),
            job("REDIRECT_DEVICE", Some(mac(2))),
        ])
        .await
        .unwrap();
    let t = after_enqueue();
    let held = s.claim_rps_jobs("old-process", t, LEASE, 1).await.unwrap();
    assert_eq!(self::ids(&held), [ids[0]]);
    let before = s.pending_rps_jobs(None, 0).await.unwrap();

    let s2 = db.reopen().await;
    assert_eq!(s2.pending_rps_jobs(None, 0).await.unwrap(), before);
    // The old process's lease survives too: the new one waits for it to expire.
    let fresh = s2
        .claim_rps_jobs("new-process", t, LONG_LEASE, 10)
        .await
        .unwrap();
    assert_eq!(self::ids(&fresh), ids[1..]);
    let expired = s2
        .claim_rps_jobs("new-process", t + LEASE + secs(1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(self::ids(&expired), [ids[0]]);
    assert_eq!(expired[0].payload, before[0].payload);
}

async fn removing_a_device_keeps_its_jobs_and_history(db: &TestDb) {
    let s = &db.store;
    let d = s.insert_device(&device(1)).await.unwrap();
    s.record_rps_history(&RpsHistoryEntry {
        id: 0,
        at: OffsetDateTime::now_utc() - secs(60),
        command: "REDIRECT_DEVICE".into(),
        mac: Some(d.mac),
        params: serde_json::json!({}),
        outcome: "ok".into(),
        answer: "done".into(),
        duration_ms: 80,
        attempts: 1,
    })
    .await
    .unwrap();
    assert!(s.delete_device(d.mac).await.unwrap());
    // The service enqueues the DEREGISTER on removal, after the device is gone.
    let id = s
        .enqueue_rps_jobs(&[job("DEREGISTER_DEVICE", Some(d.mac))])
        .await
        .unwrap()[0];
    let claimed = s
        .claim_rps_jobs("w1", after_enqueue(), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&claimed), [id]);
    assert!(
        s.complete_rps_job(id, "w1", &finished(&claimed[0], "ok"))
            .await
            .unwrap()
    );
    let mine = history(
        s,
        HistoryQuery {
            mac: Some(d.mac),
            ..Default::default()
        },
    )
    .await;
    let commands: Vec<&str> = mine.iter().map(|e| e.command.as_str()).collect();
    assert_eq!(commands, ["DEREGISTER_DEVICE", "REDIRECT_DEVICE"]);

    // A job already queued for a device survives its removal as well.
    s.insert_device(&device(2)).await.unwrap();
    s.enqueue_rps_jobs(&[job("REDIRECT_DEVICE", Some(mac(2)))])
        .await
        .unwrap();
    assert!(s.delete_device(mac(2)).await.unwrap());
    assert_eq!(s.pending_rps_jobs(Some(mac(2)), 0).await.unwrap().len(), 1);
}

async fn queue_stats_and_retry_now(db: &TestDb) {
    let s = &db.store;
    assert_eq!(
        s.rps_queue_stats(OffsetDateTime::now_utc()).await.unwrap(),
        QueueStats::default()
    );
    let ids = s
        .enqueue_rps_jobs(&[
            job("ADD_SERVER", None),
            job("REDIRECT_DEVICE", Some(mac(1))),
            job("REDIRECT_DEVICE", Some(mac(2))),
        ])
        .await
        .unwrap();
    let created = s.pending_rps_jobs(None, 0).await.unwrap()[0].created_at;
    let t = after_enqueue();
    let stats = s.rps_queue_stats(t).await.unwrap();
    assert_eq!(
        stats,
        QueueStats {
            pending: 3,
            due: 3,
            oldest_created_at: Some(created),
            max_attempts: 0,
        }
    );
    // Before they were enqueued, none was due.
    assert_eq!(s.rps_queue_stats(created - secs(1)).await.unwrap().due, 0);

    // One leased, one backing off for an hour (second failure), one waiting.
    let claimed = s.claim_rps_jobs("w1", t, LEASE, 2).await.unwrap();
    assert_eq!(self::ids(&claimed), ids[..2]);
    assert!(s.retry_rps_job(ids[1], "w1", t, "first").await.unwrap());
    let again = s.claim_rps_jobs("w1", t, LEASE, 1).await.unwrap();
    assert_eq!(self::ids(&again), [ids[1]]);
    assert!(
        s.retry_rps_job(ids[1], "w1", t + secs(3600), "second")
            .await
            .unwrap()
    );
    let stats = s.rps_queue_stats(t).await.unwrap();
    assert_eq!((stats.pending, stats.due, stats.max_attempts), (3, 1, 2));
    assert_eq!(stats.oldest_created_at, Some(created));
    // After the lease expired, the leased job is due again.
    assert_eq!(s.rps_queue_stats(t + LEASE).await.unwrap().due, 2);

    // "RPS is back": everything waiting for later is due now; due jobs keep their time.
    let now = t + secs(5);
    assert_eq!(s.retry_rps_jobs_now(now).await.unwrap(), 1);
    let pending = s.pending_rps_jobs(None, 0).await.unwrap();
    assert_eq!(pending[1].next_attempt_at, now);
    assert_eq!(pending[2].next_attempt_at, created);
    assert_eq!(pending[1].attempts, 2, "attempts are kept");
    assert_eq!(s.retry_rps_jobs_now(now).await.unwrap(), 0);
    // The leased job stays leased.
    let got = s.claim_rps_jobs("w2", now, LEASE, 10).await.unwrap();
    assert_eq!(self::ids(&got), ids[1..]);
}

fn entry(n: i64, mac: Option<Mac>, command: &str) -> RpsHistoryEntry {
    RpsHistoryEntry {
        id: 0,
        at: T0 + secs(n),
        command: command.into(),
        mac,
        params: serde_json::json!({ "n": n, "server_name": "prov" }),
        outcome: if n % 3 == 0 { "rejected" } else { "ok" }.into(),
        answer: format!("answer {n}"),
        duration_ms: 100 + n,
        attempts: u32::try_from(n % 4).unwrap() + 1,
    }
}

async fn history_filters_pages_newest_first(db: &TestDb) {
    let s = &db.store;
    let commands = ["REDIRECT_DEVICE", "DEREGISTER_DEVICE", "CHECK_DEVICE"];
    let mut written = Vec::new();
    for n in 0..12_i64 {
        let m = match n % 3 {
            0 => Some(mac(1)),
            1 => Some(mac(2)),
            _ => None,
        };
        let e = entry(n, m, commands[usize::try_from(n % 2).unwrap()]);
        let id = s.record_rps_history(&e).await.unwrap();
        written.push(RpsHistoryEntry { id, ..e });
    }
    assert!(written.windows(2).all(|w| w[0].id < w[1].id));
    let newest_first: Vec<RpsHistoryEntry> = written.iter().rev().cloned().collect();

    let all = s.list_rps_history(&HistoryQuery::default()).await.unwrap();
    assert_eq!(all.total, 12);
    assert_eq!(all.items, newest_first, "stored as given, newest first");

    // Paging.
    let at = |items: &[RpsHistoryEntry]| -> Vec<i64> {
        items.iter().map(|e| (e.at - T0).whole_seconds()).collect()
    };
    let page = |offset, limit| HistoryQuery {
        offset,
        limit,
        ..Default::default()
    };
    let p1 = s.list_rps_history(&page(0, 5)).await.unwrap();
    let p3 = s.list_rps_history(&page(10, 5)).await.unwrap();
    assert_eq!((p1.total, at(&p1.items)), (12, vec![11, 10, 9, 8, 7]));
    assert_eq!((p3.total, at(&p3.items)), (12, vec![1, 0]));
    assert!(history(s, page(12, 5)).await.is_empty());

    // Filters: MAC, command, both.
    let of_mac1 = s
        .list_rps_history(&HistoryQuery {
            mac: Some(mac(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((of_mac1.total, at(&of_mac1.items)), (4, vec![9, 6, 3, 0]));
    let redirects = s
        .list_rps_history(&HistoryQuery {
            command: Some("REDIRECT_DEVICE".into()),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((redirects.total, at(&redirects.items)), (6, vec![10, 8]));
    let both = s
        .list_rps_history(&HistoryQuery {
            mac: Some(mac(1)),
            command: Some("DEREGISTER_DEVICE".into()),
            offset: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((both.total, at(&both.items)), (2, vec![3]));
    // Exact command only: no prefix or pattern match.
    for command in ["REDIRECT", "%", "redirect_device"] {
        let none = s
            .list_rps_history(&HistoryQuery {
                command: Some(command.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(none.total, 0, "{command}");
    }

    // Equal times: the later entry first.
    let tie = s
        .record_rps_history(&entry(11, None, "ADD_SERVER"))
        .await
        .unwrap();
    let top = history(s, page(0, 2)).await;
    assert_eq!((top[0].id, top[1].id), (tie, written[11].id));
}

async fn prune_history_keeps_the_newest(db: &TestDb) {
    let s = &db.store;
    for n in 0..10 {
        s.record_rps_history(&entry(n, Some(mac(1)), "REDIRECT_DEVICE"))
            .await
            .unwrap();
    }
    s.record_rps_history(&entry(200, None, "ADD_SERVER"))
        .await
        .unwrap();
    let left = |items: Vec<RpsHistoryEntry>| -> Vec<i64> {
        items.iter().map(|e| (e.at - T0).whole_seconds()).collect()
    };

    // Older than T0+100, but the newest 4 overall stay (one of them is recent anyway).
    assert_eq!(s.prune_rps_history(T0 + secs(100), 4).await.unwrap(), 7);
    assert_eq!(
        left(history(s, HistoryQuery::default()).await),
        [200, 9, 8, 7]
    );
    assert_eq!(s.prune_rps_history(T0 + secs(100), 4).await.unwrap(), 0);
    // keep_last 0 is a pure age cut; newer entries always stay.
    assert_eq!(s.prune_rps_history(T0 + secs(8), 0).await.unwrap(), 1);
    assert_eq!(s.prune_rps_history(T0 + secs(100), 0).await.unwrap(), 2);
    assert_eq!(left(history(s, HistoryQuery::default()).await), [200]);
    // Keeping more than there are deletes nothing.
    assert_eq!(s.prune_rps_history(T0 + secs(1000), 5).await.unwrap(), 0);
}

#[test]
fn job_debug_hides_the_payload() {
    let new = job("REDIRECT_DEVICE", Some(mac(5)));
    let stored = RpsJob {
        id: 9,
        command: new.command.clone(),
        mac: new.mac,
        payload: new.payload.clone(),
        attempts: 2,
        last_error: Some("HTTP 503".into()),
        created_at: T0,
        next_attempt_at: T0 + secs(60),
    };
    for text in [
        format!("{new:?}"),
        format!("{new:#?}"),
        format!("{stored:?}"),
        format!("{:?}", vec![stored.clone()]),
    ] {
        assert!(!text.contains("rps-secret-42"), "{text}");
        assert!(!text.contains("prov.example.com"), "{text}");
        assert!(
            text.contains("REDIRECT_DEVICE") && text.contains("001565000005"),
            "{text}"
        );
    }
    assert!(format!("{stored:?}").contains("HTTP 503"));
    // Serialisation keeps it: the worker needs it.
    let json = serde_json::to_string(&stored).unwrap();
    assert!(json.contains("rps-secret-42"), "{json}");
    let back: RpsJob = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stored);
}

async fn latest_redirect_per_mac_and_queued_macs(db: &TestDb) {
    let s = &db.store;
    assert!(s.latest_rps_redirects().await.unwrap().is_empty());
    assert!(s.queued_rps_macs().await.unwrap().is_empty());
    let mut e1 = entry(0, Some(mac(1)), "REDIRECT_DEVICE");
    e1.outcome = "rejected".into();
    s.record_rps_history(&e1).await.unwrap();
    s.record_rps_history(&entry(1, Some(mac(1)), "REDIRECT_DEVICE"))
        .await
        .unwrap();
    // Other commands and entries without a MAC do not count.
    s.record_rps_history(&entry(2, Some(mac(1)), "DEREGISTER_DEVICE"))
        .await
        .unwrap();
    s.record_rps_history(&entry(3, None, "REDIRECT_DEVICE"))
        .await
        .unwrap();
    let mut e2 = entry(4, Some(mac(2)), "REDIRECT_DEVICE");
    e2.outcome = "failed".into();
    s.record_rps_history(&e2).await.unwrap();
    let mut latest = s.latest_rps_redirects().await.unwrap();
    latest.sort_by_key(|e| e.mac);
    let got: Vec<(Option<Mac>, &str, i64)> = latest
        .iter()
        .map(|e| (e.mac, e.outcome.as_str(), (e.at - T0).whole_seconds()))
        .collect();
    assert_eq!(
        got,
        vec![(Some(mac(1)), "ok", 1), (Some(mac(2)), "failed", 4)]
    );

    s.enqueue_rps_jobs(&[
        job("ADD_SERVER", None),
        job("DEREGISTER_DEVICE", Some(mac(3))),
        job("REDIRECT_DEVICE", Some(mac(3))),
        job("REDIRECT_DEVICE", Some(mac(2))),
    ])
    .await
    .unwrap();
    let mut queued = s.queued_rps_macs().await.unwrap();
    queued.sort();
    assert_eq!(queued, vec![mac(2), mac(3)]);
}

async fn history_searched_by_part_of_a_mac(db: &TestDb) {
    let s = &db.store;
    // mac(0x12) = 001565000012, mac(0x34) = 001565000034.
    for (n, m, command) in [
        (0, Some(mac(0x12)), "REDIRECT_DEVICE"),
        (1, Some(mac(0x34)), "REDIRECT_DEVICE"),
        (2, Some(mac(0x12)), "DEREGISTER_DEVICE"),
        (3, None, "ADD_SERVER"),
    ] {
        s.record_rps_history(&entry(n, m, command)).await.unwrap();
    }
    let search = |part: &'static str, command: Option<&'static str>| async move {
        let page = s
            .search_rps_history(
                part,
                &HistoryQuery {
                    command: command.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let at: Vec<i64> = page
            .items
            .iter()
            .map(|e| (e.at - T0).whole_seconds())
            .collect();
        (page.total, at)
    };
    assert_eq!(search("00:12", None).await, (2, vec![2, 0]));
    assert_eq!(search("0012", Some("REDIRECT_DEVICE")).await, (1, vec![0]));
    assert_eq!(search("65:00:00", None).await, (3, vec![2, 1, 0]));
    assert_eq!(search("AB:CD", None).await, (0, vec![]));
    // Wildcards are not hex digits: `%` and `_` match nothing special.
    assert_eq!(search("%_", None).await.0, 3);
}
