//! Named leases: one holder at a time, renewal, expiry, release, and races between instances.

use std::sync::Arc;

use prov_store::Store;
use time::{Duration, OffsetDateTime};

use crate::harness::{TestDb, conformance};

conformance!(
    lease_free_is_acquired_and_held_against_others,
    lease_renewed_by_its_holder,
    lease_expired_is_taken_over,
    lease_released_is_free_for_others,
    lease_release_by_non_holder_does_nothing,
    lease_steal_takes_a_held_lease,
    lease_concurrent_acquires_have_one_winner,
    rps_slots_are_shared_by_instances_and_never_handed_out_twice,
);

fn later() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::seconds(30)
}

fn earlier() -> OffsetDateTime {
    OffsetDateTime::now_utc() - Duration::seconds(1)
}

async fn lease_free_is_acquired_and_held_against_others(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    assert!(a.acquire_lease("sysclient:1", "a", later()).await.unwrap());
    assert!(!b.acquire_lease("sysclient:1", "b", later()).await.unwrap());
    assert!(!a.acquire_lease("sysclient:1", "b", later()).await.unwrap());
    // Names are independent.
    assert!(b.acquire_lease("sysclient:2", "b", later()).await.unwrap());
    assert!(!a.acquire_lease("sysclient:2", "a", later()).await.unwrap());
}

async fn lease_renewed_by_its_holder(db: &TestDb) {
    let s = &db.store;
    assert!(s.acquire_lease("n", "a", later()).await.unwrap());
    assert!(s.acquire_lease("n", "a", later()).await.unwrap());
    // A renewal that shortens the lease to the past lets others in...
    assert!(s.acquire_lease("n", "a", earlier()).await.unwrap());
    assert!(s.acquire_lease("n", "b", later()).await.unwrap());
    // ...and then the old holder is refused.
    assert!(!s.acquire_lease("n", "a", later()).await.unwrap());
}

async fn lease_expired_is_taken_over(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    let soon = OffsetDateTime::now_utc() + Duration::milliseconds(300);
    assert!(a.acquire_lease("n", "a", soon).await.unwrap());
    assert!(!b.acquire_lease("n", "b", later()).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(b.acquire_lease("n", "b", later()).await.unwrap());
    assert!(!a.acquire_lease("n", "a", later()).await.unwrap());
}

async fn lease_released_is_free_for_others(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    assert!(a.acquire_lease("n", "a", later()).await.unwrap());
    a.release_lease("n", "a").await.unwrap();
    assert!(b.acquire_lease("n", "b", later()).await.unwrap());
    assert!(!a.acquire_lease("n", "a", later()).await.unwrap());
    // Releasing what one never held, or twice, is fine.
    a.release_lease("never", "a").await.unwrap();
    b.release_lease("n", "b").await.unwrap();
    b.release_lease("n", "b").await.unwrap();
    assert!(a.acquire_lease("n", "a", later()).await.unwrap());
}

async fn lease_release_by_non_holder_does_nothing(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    assert!(a.acquire_lease("n", "a", later()).await.unwrap());
    b.release_lease("n", "b").await.unwrap();
    assert!(!b.acquire_lease("n", "b", later()).await.unwrap());
    assert!(a.acquire_lease("n", "a", later()).await.unwrap());
}

async fn lease_steal_takes_a_held_lease(db: &TestDb) {
    let (a, b) = (db.store.clone(), db.reopen().await);
    assert!(a.acquire_lease("n", "a", later()).await.unwrap());
    b.steal_lease("n", "b", later()).await.unwrap();
    // The old holder's renewal fails; the new one renews.
    assert!(!a.acquire_lease("n", "a", later()).await.unwrap());
    assert!(b.acquire_lease("n", "b", later()).await.unwrap());
    // A free name can be stolen too, and then it is held.
    b.steal_lease("free", "b", later()).await.unwrap();
    assert!(!a.acquire_lease("free", "a", later()).await.unwrap());
}

async fn lease_concurrent_acquires_have_one_winner(db: &TestDb) {
    let stores: [Arc<dyn Store>; 2] = [db.store.clone(), db.reopen().await];
    for round in 0..10 {
        let name = format!("race-{round}");
        // Even rounds race for a free name, odd ones for an expired lease.
        if round % 2 == 1 {
            assert!(
                stores[0]
                    .acquire_lease(&name, "old", earlier())
                    .await
                    .unwrap()
            );
        }
        let until = later();
        let mut tasks = Vec::new();
        for n in 0..12 {
            let store = stores[n % 2].clone();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                let holder = format!("holder-{n}");
                let won = store.acquire_lease(&name, &holder, until).await.unwrap();
                (holder, won)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (holder, won) = t.await.unwrap();
            if won {
                winners.push(holder);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        // The winner is the one holding it now.
        assert!(
            stores[1]
                .acquire_lease(&name, &winners[0], until)
                .await
                .unwrap()
        );
        assert!(!stores[1].acquire_lease(&name, "old", until).await.unwrap());
    }
}

async fn rps_slots_are_shared_by_instances_and_never_handed_out_twice(db: &TestDb) {
    let step = std::time::Duration::from_millis(200);
    let (a, b) = (db.store.clone(), db.reopen().await);
    let now = OffsetDateTime::now_utc();
    // The first slot starts now; the other instance's next one a step later, and so on.
    let first = a.reserve_rps_slot(now, step).await.unwrap();
    assert!(
        (first - now).abs() < Duration::milliseconds(1),
        "{first} {now}"
    );
    let second = b.reserve_rps_slot(now, step).await.unwrap();
    assert_eq!(second - first, Duration::milliseconds(200));
    // Once the reserved slots are past, the next starts at once.
    let later = now + Duration::seconds(5);
    let third = a.reserve_rps_slot(later, step).await.unwrap();
    assert!((third - later).abs() < Duration::milliseconds(1));
    // Concurrent reservations from two instances: all distinct, each a step apart.
    let now = third + Duration::milliseconds(200);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(
            async move { s.reserve_rps_slot(now, step).await },
        ));
    }
    let mut starts = Vec::new();
    for t in tasks {
        starts.push(t.await.unwrap().unwrap());
    }
    starts.sort();
    for pair in starts.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::milliseconds(200), "{starts:?}");
    }
}
