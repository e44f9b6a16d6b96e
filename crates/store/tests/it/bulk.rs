//! Bulk insert: per-row results, duplicates inside the batch and against stored rows.

use prov_store::{DeviceRecord, NewRpsJob, StoreError};

use crate::harness::{TestDb, conformance, device, devices};

conformance!(
    bulk_insert_reports_each_row,
    bulk_insert_of_nothing,
    bulk_insert_readds_deleted_devices,
    bulk_insert_queues_jobs_with_the_rows_it_saves,
);

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    DupMac,
    DupToken,
}

fn outcome(r: &Result<DeviceRecord, StoreError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(StoreError::DuplicateMac(_)) => Outcome::DupMac,
        Err(StoreError::DuplicateUrlToken) => Outcome::DupToken,
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

async fn bulk_insert_reports_each_row(db: &TestDb) {
    let s = &db.store;
    // Already stored: devices 0..10 and 5000 (whose token rows below will reuse).
    for d in devices(0..10).iter().chain([&device(5000)]) {
        s.insert_device(d).await.unwrap();
    }
    let before = s.current_revision().await.unwrap();

    // 1000 rows: 0..1000, where
    // - rows 0..10 repeat stored MACs,
    // - rows 10..15 are repeated at the end (same MAC, new token) -> DupMac for the repeats,
    // - rows 20..23 get the token of row 19 -> DupToken,
    // - rows 30..32 get the token of stored device 5000 -> DupToken.
    let mut batch = devices(0..995);
    for n in 10..15 {
        batch.push(DeviceRecord {
            url_token: format!("repeat-token-{n:011}"),
            ..device(n)
        });
    }
    for row in &mut batch[20..23] {
        row.url_token = device(19).url_token;
    }
    for row in &mut batch[30..32] {
        row.url_token = device(5000).url_token;
    }
    assert_eq!(batch.len(), 1000);

    let started = std::time::Instant::now();
    let results = s.insert_devices(&batch).await.unwrap();
    eprintln!("{}: 1000 rows in {:?}", s.backend(), started.elapsed());
    assert_eq!(results.len(), batch.len());

    let expected = |i: usize| match i {
        0..10 | 995.. => Outcome::DupMac,
        20..23 | 30..32 => Outcome::DupToken,
        _ => Outcome::Ok,
    };
    for (i, r) in results.iter().enumerate() {
        assert_eq!(outcome(r), expected(i), "row {i}");
        match r {
            Ok(stored) => {
                assert_eq!(stored.mac, batch[i].mac);
                assert!(stored.revision > before);
            }
            Err(StoreError::DuplicateMac(m)) => assert_eq!(*m, batch[i].mac),
            Err(_) => {}
        }
    }
    let ok: Vec<&DeviceRecord> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 1000 - 10 - 5 - 3 - 2);
    assert_eq!(s.device_count().await.unwrap(), (ok.len() + 11) as u64);

    // Stored rows are what the call returned, with a status row each, and in the feed.
    for stored in [ok[0], ok[ok.len() / 2], ok[ok.len() - 1]] {
        let got = s.get_device(stored.mac).await.unwrap().unwrap();
        assert_eq!(&got.record, stored);
    }
    let feed = s.device_changes(before).await.unwrap();
    assert_eq!(feed.upserted.len(), ok.len());
    assert_eq!(feed.revision, s.current_revision().await.unwrap());
    // The stored device whose token was reused is untouched.
    assert_eq!(
        s.get_device_by_token(&device(5000).url_token)
            .await
            .unwrap()
            .unwrap()
            .record
            .mac,
        device(5000).mac
    );
    // Listing joins the status rows the inserts created.
    let page = s
        .list_devices(&prov_store::DeviceQuery::default())
        .await
        .unwrap();
    assert_eq!(page.total, (ok.len() + 11) as u64);
}

async fn bulk_insert_of_nothing(db: &TestDb) {
    let s = &db.store;
    assert!(s.insert_devices(&[]).await.unwrap().is_empty());
    // A batch of only duplicates publishes no revision.
    s.insert_device(&device(1)).await.unwrap();
    let rev = s.current_revision().await.unwrap();
    let results = s.insert_devices(&[device(1), device(1)]).await.unwrap();
    assert_eq!(
        results.iter().map(outcome).collect::<Vec<_>>(),
        [Outcome::DupMac, Outcome::DupMac]
    );
    assert_eq!(s.current_revision().await.unwrap(), rev);
}

async fn bulk_insert_readds_deleted_devices(db: &TestDb) {
    let s = &db.store;
    s.insert_devices(&devices(0..3)).await.unwrap();
    assert!(s.delete_device(device(1).mac).await.unwrap());
    let after_delete = s.current_revision().await.unwrap();
    let results = s.insert_devices(&devices(0..3)).await.unwrap();
    assert_eq!(
        results.iter().map(outcome).collect::<Vec<_>>(),
        [Outcome::DupMac, Outcome::Ok, Outcome::DupMac]
    );
    let feed = s.device_changes(0).await.unwrap();
    assert!(
        feed.removed.is_empty(),
        "the tombstone went with the re-add"
    );
    let since = s.device_changes(after_delete).await.unwrap();
    assert_eq!(since.upserted.len(), 1);
    assert_eq!(since.upserted[0].mac, device(1).mac);
}

/// The jobs go in with the rows, one set per saved row, in row order; a rejected row gets none.
async fn bulk_insert_queues_jobs_with_the_rows_it_saves(db: &TestDb) {
    let s = &db.store;
    s.insert_device(&device(1)).await.unwrap();
    let per_device: Vec<NewRpsJob> = ["DEREGISTER_DEVICE", "REDIRECT_DEVICE"]
        .into_iter()
        .map(|command| NewRpsJob {
            command: command.into(),
            // Ignored: the store fills in each saved row's MAC.
            mac: None,
            payload: serde_json::json!({}),
        })
        .collect();
    // Device 1 exists already; device 3 repeats in the batch.
    let mut batch = devices(0..5);
    batch.push(DeviceRecord {
        url_token: "another-token-of-device-3".into(),
        ..device(3)
    });
    let results = s
        .insert_devices_with_jobs(&batch, &per_device)
        .await
        .unwrap();
    let outcomes: Vec<Outcome> = results.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Ok,
            Outcome::DupMac,
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Ok,
            Outcome::DupMac
        ]
    );

    let jobs = s.pending_rps_jobs(None, 100).await.unwrap();
    let got: Vec<(String, String)> = jobs
        .iter()
        .map(|j| {
            (
                j.mac.map(|m| m.to_string()).unwrap_or_default(),
                j.command.clone(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [0, 2, 3, 4]
        .into_iter()
        .flat_map(|n| {
            let mac = device(n).mac.to_string();
            [
                (mac.clone(), "DEREGISTER_DEVICE".to_owned()),
                (mac, "REDIRECT_DEVICE".to_owned()),
            ]
        })
        .collect();
    assert_eq!(
        got, want,
        "one DEREGISTER + REDIRECT per saved row, in order"
    );

    // Without jobs (RPS off) the same call queues nothing.
    s.insert_devices_with_jobs(&devices(10..12), &[])
        .await
        .unwrap();
    assert_eq!(
        s.pending_rps_jobs(None, 100).await.unwrap().len(),
        want.len()
    );
}
