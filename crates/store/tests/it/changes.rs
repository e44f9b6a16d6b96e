//! The audit of changes: record, list (newest first, by MAC, paged), prune.

use prov_store::{ChangeEntry, ChangeQuery};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use yealink::Mac;

use crate::harness::{TestDb, conformance};

conformance!(
    changes_round_trip_newest_first,
    changes_filter_by_mac_and_page,
    prune_changes_keeps_the_newest,
);

const T0: OffsetDateTime = time::macros::datetime!(2026-11-30 08:00:00 UTC);

fn mac(n: u8) -> Mac {
    Mac::parse(&format!("805ec0aa00{n:02x}")).unwrap()
}

fn entry(secs: i64, mac: Option<Mac>, action: &str) -> ChangeEntry {
    ChangeEntry {
        id: 0,
        at: T0 + Duration::seconds(secs),
        actor: json!({"kind": "my_apps", "sip": "alice", "dn": "Alice A", "guid": "g-1"}),
        action: action.into(),
        mac,
        summary: format!("{action} at {secs}"),
    }
}

async fn changes_round_trip_newest_first(db: &TestDb) {
    let s = &db.store;
    s.record_change(&entry(1, Some(mac(1)), "device_added"))
        .await
        .unwrap();
    s.record_changes(&[
        entry(2, None, "settings_changed"),
        entry(3, Some(mac(1)), "device_edited"),
    ])
    .await
    .unwrap();
    s.record_changes(&[]).await.unwrap();
    let page = s.list_changes(&ChangeQuery::default()).await.unwrap();
    assert_eq!(page.total, 3);
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["device_edited", "settings_changed", "device_added"]
    );
    let first = &page.items[0];
    assert_eq!(first.at, T0 + Duration::seconds(3));
    assert_eq!(first.mac, Some(mac(1)));
    assert_eq!(first.actor["dn"], "Alice A");
    assert_eq!(first.summary, "device_edited at 3");
    assert!(first.id > page.items[1].id);
}

async fn changes_filter_by_mac_and_page(db: &TestDb) {
    let s = &db.store;
    let entries: Vec<ChangeEntry> = (0..10)
        .map(|n| entry(n, Some(mac(u8::from(n % 2 == 0) + 1)), "device_edited"))
        .collect();
    s.record_changes(&entries).await.unwrap();
    let of_two = s
        .list_changes(&ChangeQuery {
            mac: Some(mac(2)),
            offset: 1,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(of_two.total, 5);
    let at: Vec<i64> = of_two
        .items
        .iter()
        .map(|e| (e.at - T0).whole_seconds())
        .collect();
    assert_eq!(at, [6, 4]);
    let none = s
        .list_changes(&ChangeQuery {
            mac: Some(mac(9)),
            ..ChangeQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(none.total, 0);
}

async fn prune_changes_keeps_the_newest(db: &TestDb) {
    let s = &db.store;
    let entries: Vec<ChangeEntry> = (0..10).map(|n| entry(n, None, "x")).collect();
    s.record_changes(&entries).await.unwrap();
    s.record_change(&entry(200, None, "x")).await.unwrap();
    let left = |items: Vec<ChangeEntry>| -> Vec<i64> {
        items.iter().map(|e| (e.at - T0).whole_seconds()).collect()
    };
    // Older than T0+100, but the newest 4 overall stay.
    assert_eq!(
        s.prune_changes(T0 + Duration::seconds(100), 4)
            .await
            .unwrap(),
        7
    );
    let all = s.list_changes(&ChangeQuery::default()).await.unwrap();
    assert_eq!(left(all.items), [200, 9, 8, 7]);
    // keep_last 0 is a pure age cut.
    assert_eq!(
        s.prune_changes(T0 + Duration::seconds(100), 0)
            .await
            .unwrap(),
        3
    );
    let all = s.list_changes(&ChangeQuery::default()).await.unwrap();
    assert_eq!(left(all.items), [200]);
}
