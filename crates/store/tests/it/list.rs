//! list_devices: search, every sort order in both directions, paging and totals.

use prov_store::{Device, DeviceKeyset, DeviceQuery, DeviceRecord, DeviceSort};
use time::OffsetDateTime;

use crate::harness::{TestDb, conformance, device};
use crate::requests::request;

conformance!(
    list_sorts_pages_and_counts,
    list_searches_case_insensitively,
    keyset_pages_follow_every_order
);

const NAMES: [&str; 6] = ["alpha", "Bravo", "charlie", "Delta", "echo", "bravo"];

/// 30 devices with names in mixed case (and duplicates), created out of MAC order; every
/// third one has fetched its config at a distinct time.
async fn populate(db: &TestDb) -> Vec<Device> {
    let s = &db.store;
    let mut batch = Vec::new();
    for n in 0..30_u32 {
        batch.push(DeviceRecord {
            name: format!("{} {}", NAMES[(n % 6) as usize], n / 6),
            created_at: OffsetDateTime::UNIX_EPOCH + time::Duration::hours(i64::from((n * 7) % 30)),
            ..device(n)
        });
    }
    for r in s.insert_devices(&batch).await.unwrap() {
        r.unwrap();
    }
    let served: Vec<_> = (0..30_u32)
        .filter(|n| n % 3 == 0)
        .map(|n| request(device(n).mac, i64::from((n * 11) % 31), true))
        .collect();
    s.record_phone_requests(&served).await.unwrap();
    let mut all = Vec::new();
    for n in 0..30 {
        all.push(s.get_device(device(n).mac).await.unwrap().unwrap());
    }
    all
}

fn expected(all: &[Device], sort: DeviceSort, descending: bool) -> Vec<String> {
    let mut v: Vec<&Device> = all.iter().collect();
    v.sort_by(|a, b| {
        let (a, b) = (a, b);
        let primary = match sort {
            DeviceSort::Mac => std::cmp::Ordering::Equal,
            DeviceSort::Name => a
                .record
                .name
                .to_ascii_lowercase()
                .cmp(&b.record.name.to_ascii_lowercase()),
            DeviceSort::CreatedAt => a.record.created_at.cmp(&b.record.created_at),
            // None < Some: never-provisioned devices count as the oldest.
            DeviceSort::LastConfigRequest => a
                .status
                .last_config_request
                .cmp(&b.status.last_config_request),
        };
        primary.then(a.record.mac.cmp(&b.record.mac))
    });
    if descending {
        v.reverse();
    }
    v.iter().map(|d| d.record.mac.to_string()).collect()
}

fn macs(items: &[Device]) -> Vec<String> {
    items.iter().map(|d| d.record.mac.to_string()).collect()
}

async fn list_sorts_pages_and_counts(db: &TestDb) {
    let all = populate(db).await;
    let s = &db.store;
    for sort in [
        DeviceSort::Mac,
        DeviceSort::Name,
        DeviceSort::CreatedAt,
        DeviceSort::LastConfigRequest,
    ] {
        for descending in [false, true] {
            let want = expected(&all, sort, descending);
            let q = DeviceQuery {
                sort,
                descending,
                limit: 1000,
                ..Default::default()
            };
            let page = s.list_devices(&q).await.unwrap();
            assert_eq!(page.total, 30);
            assert_eq!(macs(&page.items), want, "{sort:?} descending={descending}");

            // Pages of 7 stitch together to the same order.
            let mut stitched = Vec::new();
            for offset in (0..35).step_by(7) {
                let page = s
                    .list_devices(&DeviceQuery {
                        offset,
                        limit: 7,
                        ..q.clone()
                    })
                    .await
                    .unwrap();
                assert_eq!(page.total, 30);
                assert!(page.items.len() <= 7);
                stitched.extend(macs(&page.items));
            }
            assert_eq!(stitched, want, "paged {sort:?} descending={descending}");
        }
    }
    // Items carry their status.
    let page = s
        .list_devices(&DeviceQuery {
            sort: DeviceSort::LastConfigRequest,
            descending: true,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.items[0].status.last_config_request.is_some());
    // limit 0 means the default page size (50), which covers all 30.
    let page = s.list_devices(&DeviceQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 30);
    let past_end = s
        .list_devices(&DeviceQuery {
            offset: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(past_end.items.is_empty());
    assert_eq!(past_end.total, 30);
}

async fn list_searches_case_insensitively(db: &TestDb) {
    populate(db).await;
    let s = &db.store;
    let mut special = device(100);
    special.name = "100% Lobby_Phone".into();
    special.display_name = Some("Front Desk Süd".into());
    special.sip_user = "frontdesk".into();
    special.model = Some("T58W".into());
    s.insert_device(&special).await.unwrap();

    let search = |text: &str| {
        let q = DeviceQuery {
            search: Some(text.to_owned()),
            limit: 1000,
            ..Default::default()
        };
        async move { s.list_devices(&q).await.unwrap() }
    };
    // name, any case: "bravo" and "Bravo" rows (5 of each).
    let page = search("BRAVO").await;
    assert_eq!(page.total, 10);
    assert_eq!(page.items.len(), 10);
    assert!(
        page.items
            .iter()
            .all(|d| d.record.name.to_lowercase().starts_with("bravo"))
    );
    // MAC with separators and upper case.
    let page = search("00:15:65:00:00:1D").await;
    assert_eq!(macs(&page.items), ["00156500001d"]);
    // sip_user, display_name, model.
    assert_eq!(macs(&search("FRONTDESK").await.items), ["001565000064"]);
    assert_eq!(macs(&search("front desk").await.items), ["001565000064"]);
    // Non-ASCII text matches as a substring (case folding is ASCII-only on both backends).
    assert_eq!(macs(&search("DESK Süd").await.items), ["001565000064"]);
    assert_eq!(search("t58w").await.total, 1);
    assert_eq!(search("T46U").await.total, 30);
    // LIKE wildcards in the search text match literally.
    assert_eq!(macs(&search("100%").await.items), ["001565000064"]);
    assert_eq!(search("%").await.total, 1);
    assert_eq!(search("y_p").await.total, 1);
    assert_eq!(search("nothing like this").await.total, 0);
    // Blank search lists everything; search combines with sort and paging.
    assert_eq!(search("  ").await.total, 31);
    let page = s
        .list_devices(&DeviceQuery {
            search: Some("bravo".into()),
            sort: DeviceSort::Name,
            descending: true,
            offset: 8,
            limit: 5,
        })
        .await
        .unwrap();
    assert_eq!(page.total, 10);
    assert_eq!(page.items.len(), 2);
}

/// `list_devices_after` pages (of 7) stitch together to the same order as `list_devices`, for
/// every order and direction, with and without a search.
async fn keyset_pages_follow_every_order(db: &TestDb) {
    let all = populate(db).await;
    let s = &db.store;
    for search in [None, Some("bravo")] {
        for sort in [
            DeviceSort::Mac,
            DeviceSort::Name,
            DeviceSort::CreatedAt,
            DeviceSort::LastConfigRequest,
        ] {
            for descending in [false, true] {
                let want: Vec<String> = expected(&all, sort, descending)
                    .into_iter()
                    .filter(|mac| {
                        search.is_none_or(|_| {
                            all.iter().any(|d| {
                                d.record.mac.to_string() == *mac
                                    && d.record.name.to_ascii_lowercase().contains("bravo")
                            })
                        })
                    })
                    .collect();
                let mut stitched = Vec::new();
                let mut after = None;
                for _ in 0..10 {
                    let page = s
                        .list_devices_after(&DeviceKeyset {
                            search: search.map(str::to_owned),
                            sort,
                            descending,
                            after,
                            limit: 7,
                        })
                        .await
                        .unwrap();
                    assert!(page.len() <= 7);
                    let Some(last) = page.last() else { break };
                    after = Some(last.record.mac);
                    stitched.extend(macs(&page));
                }
                assert_eq!(
                    stitched, want,
                    "{sort:?} descending={descending} search={search:?}"
                );
            }
        }
    }
}
