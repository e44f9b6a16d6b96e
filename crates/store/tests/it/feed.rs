//! The change feed: revisions, tombstones, and a second instance following the first.

use std::collections::HashSet;

use prov_store::DeviceChanges;

use crate::harness::{TestDb, conformance, device, mac};

conformance!(
    feed_follows_insert_update_delete_and_readd,
    second_instance_sees_first_instances_changes,
    concurrent_writers_get_distinct_revisions,
);

fn macs(c: &DeviceChanges) -> Vec<String> {
    c.upserted.iter().map(|d| d.mac.to_string()).collect()
}

async fn feed_follows_insert_update_delete_and_readd(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.current_revision().await.unwrap(), 0);
    let empty = s.device_changes(0).await.unwrap();
    assert_eq!(empty, DeviceChanges::default());

    let a = s.insert_device(&device(1)).await.unwrap();
    let b = s.insert_device(&device(2)).await.unwrap();
    assert!(b.revision > a.revision);
    let r_inserted = s.current_revision().await.unwrap();
    assert_eq!(r_inserted, b.revision);

    let all = s.device_changes(0).await.unwrap();
    assert_eq!(all.upserted, vec![a.clone(), b.clone()]);
    assert!(all.removed.is_empty());
    assert_eq!(all.revision, r_inserted);
    // Nothing new since.
    let none = s.device_changes(r_inserted).await.unwrap();
    assert!(none.upserted.is_empty() && none.removed.is_empty());
    assert_eq!(none.revision, r_inserted);

    // Update: only the updated device shows up.
    let a2 = s
        .update_device(&prov_store::DeviceRecord {
            name: "renamed".into(),
            ..a.clone()
        })
        .await
        .unwrap();
    let since = s.device_changes(r_inserted).await.unwrap();
    assert_eq!(since.upserted, vec![a2.clone()]);
    assert_eq!(since.revision, a2.revision);

    // Delete: a tombstone.
    assert!(s.delete_device(b.mac).await.unwrap());
    let r_deleted = s.current_revision().await.unwrap();
    assert!(r_deleted > a2.revision);
    let since = s.device_changes(a2.revision).await.unwrap();
    assert!(since.upserted.is_empty());
    assert_eq!(since.removed, vec![b.mac]);
    assert_eq!(since.revision, r_deleted);
    // A cold reader sees only the surviving device and the tombstone.
    let cold = s.device_changes(0).await.unwrap();
    assert_eq!(macs(&cold), vec![a2.mac.to_string()]);
    assert_eq!(cold.removed, vec![b.mac]);

    // Deleting a missing device changes nothing.
    assert!(!s.delete_device(mac(99)).await.unwrap());
    assert_eq!(s.current_revision().await.unwrap(), r_deleted);

    // Re-add: it is upserted, and no longer removed, for every reader.
    let b2 = s.insert_device(&device(2)).await.unwrap();
    assert!(b2.revision > r_deleted);
    for since_rev in [0, r_inserted, r_deleted] {
        let c = s.device_changes(since_rev).await.unwrap();
        assert!(c.removed.is_empty(), "since {since_rev}: {c:?}");
        assert!(macs(&c).contains(&b2.mac.to_string()), "since {since_rev}");
    }

    // Revisions only grow, and the cold list agrees with the feed.
    let records = s.all_device_records().await.unwrap();
    assert_eq!(records, vec![a2, b2.clone()]);
    assert_eq!(s.current_revision().await.unwrap(), b2.revision);
}

async fn second_instance_sees_first_instances_changes(db: &TestDb) {
    let one = &db.store;
    let two = db.reopen().await; // migrations are already applied: a no-op
    let mut seen_by_two = two.current_revision().await.unwrap();

    let a = one.insert_device(&device(1)).await.unwrap();
    let c = two.device_changes(seen_by_two).await.unwrap();
    assert_eq!(c.upserted, vec![a.clone()]);
    seen_by_two = c.revision;

    assert!(one.delete_device(a.mac).await.unwrap());
    let c = two.device_changes(seen_by_two).await.unwrap();
    assert_eq!(c.removed, vec![a.mac]);
    assert!(c.revision > seen_by_two);

    // And the other way round.
    let seen_by_one = one.current_revision().await.unwrap();
    let b = two.insert_device(&device(2)).await.unwrap();
    let c = one.device_changes(seen_by_one).await.unwrap();
    assert_eq!(c.upserted, vec![b.clone()]);
    assert_eq!(one.get_device(b.mac).await.unwrap().unwrap().record, b);
}

async fn concurrent_writers_get_distinct_revisions(db: &TestDb) {
    let two = db.reopen().await;
    let mut tasks = Vec::new();
    for n in 0..40_u32 {
        let store = if n % 2 == 0 {
            db.store.clone()
        } else {
            two.clone()
        };
        tasks.push(tokio::spawn(async move {
            let d = store.insert_device(&device(n)).await.unwrap();
            let u = store.update_device(&d).await.unwrap();
            (d.revision, u.revision)
        }));
    }
    let mut revisions = HashSet::new();
    for t in tasks {
        let (inserted, updated) = t.await.unwrap();
        assert!(updated > inserted);
        assert!(revisions.insert(inserted) && revisions.insert(updated));
    }
    let max = revisions.iter().copied().max().unwrap();
    assert_eq!(db.store.current_revision().await.unwrap(), max);
    let feed = two.device_changes(0).await.unwrap();
    assert_eq!(feed.upserted.len(), 40);
    assert_eq!(feed.revision, max);
    // The feed is ordered by revision.
    assert!(
        feed.upserted
            .windows(2)
            .all(|w| w[0].revision < w[1].revision)
    );
}
