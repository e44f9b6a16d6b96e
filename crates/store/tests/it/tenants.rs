//! Tenants: every scoped method of a handle sees and changes only its own tenant's rows.
//! Each test writes through tenant A and then uses tenant B's handle on A's MACs, ids, tokens
//! and keys: B's answers are those for something that does not exist, and A's rows are unchanged.

use std::sync::Arc;
use std::time::Duration;

use prov_store::{
    ChangeEntry, ChangeQuery, DeviceKeyset, DeviceQuery, DeviceSort, HistoryQuery, NewRpsJob,
    RpsHistoryEntry, Store, StoreError, TenantId, UiSession,
};
use time::OffsetDateTime;

use crate::harness::{TestDb, conformance, device, mac};
use crate::requests::request;

conformance!(
    the_default_tenant_exists_and_cannot_be_removed,
    tenants_are_created_listed_found_and_named_uniquely,
    a_mac_belongs_to_one_tenant_and_the_error_names_it,
    devices_of_one_tenant_are_invisible_and_untouchable_through_another,
    requests_status_and_uploads_stay_with_their_tenant,
    settings_and_meta_are_per_tenant_but_global_keys_are_shared,
    pbx_devices_stay_with_their_tenant,
    rps_jobs_and_history_stay_with_their_tenant,
    ui_sessions_and_changes_stay_with_their_tenant,
    removing_a_tenant_removes_its_rows_only,
    one_read_names_the_tenants_with_changes_or_due_rps_jobs,
);

/// Tenant A (a new one) and tenant B (another new one), with their handles.
async fn two_tenants(db: &TestDb) -> (Arc<dyn Store>, Arc<dyn Store>) {
    let a = db
        .store
        .create_tenant("yealink", "a.example.com")
        .await
        .unwrap();
    let b = db
        .store
        .create_tenant("yealink", "b.example.com")
        .await
        .unwrap();
    (db.store.for_tenant(a.id), db.store.for_tenant(b.id))
}

async fn the_default_tenant_exists_and_cannot_be_removed(db: &TestDb) {
    assert_eq!(db.store.tenant_id(), TenantId::DEFAULT);
    let all = db.store.list_tenants().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, TenantId::DEFAULT);
    assert_eq!(all[0].name, "default");
    assert!(matches!(
        db.store.delete_tenant(TenantId::DEFAULT).await,
        Err(StoreError::DefaultTenant)
    ));
}

async fn tenants_are_created_listed_found_and_named_uniquely(db: &TestDb) {
    let a = db
        .store
        .create_tenant("yealink", "a.example.com")
        .await
        .unwrap();
    let b = db
        .store
        .create_tenant("yealink", "b.example.com")
        .await
        .unwrap();
    let b2 = db
        .store
        .create_tenant("second", "b.example.com")
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.label(), "a.example.com/yealink");
    let dup = db.store.create_tenant("yealink", "a.example.com").await;
    assert!(
        matches!(dup, Err(StoreError::DuplicateTenant { .. })),
        "{dup:?}"
    );
    let ids: Vec<TenantId> = db
        .store
        .list_tenants()
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, vec![TenantId::DEFAULT, a.id, b.id, b2.id]);
    let found = db
        .store
        .find_tenant("b.example.com", "second")
        .await
        .unwrap();
    assert_eq!(found, Some(b2.clone()));
    assert_eq!(
        db.store.find_tenant("b.example.com", "x").await.unwrap(),
        None
    );
    assert_eq!(db.store.get_tenant(b.id).await.unwrap(), Some(b));
    // A handle says which tenant it is scoped to.
    assert_eq!(db.store.for_tenant(a.id).tenant_id(), a.id);
}

async fn a_mac_belongs_to_one_tenant_and_the_error_names_it(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    a.insert_device(&device(1)).await.unwrap();
    let mut other = device(1);
    other.url_token = "another-token-000000001".into();
    match b.insert_device(&other).await {
        Err(StoreError::MacInOtherTenant { mac: m, tenant }) => {
            assert_eq!(m, mac(1));
            assert_eq!(tenant, "a.example.com/yealink");
        }
        other => panic!("expected MacInOtherTenant, got {other:?}"),
    }
    // The same through the bulk insert, next to a row that goes in.
    let mut fresh = device(2);
    fresh.url_token = "another-token-000000002".into();
    let results = b
        .insert_devices_with_jobs(&[other.clone(), fresh], &[])
        .await
        .unwrap();
    assert!(
        matches!(&results[0], Err(StoreError::MacInOtherTenant { tenant, .. }) if tenant == "a.example.com/yealink"),
        "{:?}",
        results[0]
    );
    assert!(results[1].is_ok());
    // Within one tenant a duplicate stays a duplicate.
    let mut again = device(1);
    again.url_token = "another-token-000000003".into();
    let dup = a.insert_device(&again).await;
    assert!(matches!(dup, Err(StoreError::DuplicateMac(_))), "{dup:?}");
    // The cross-tenant lookups.
    assert_eq!(
        db.store.tenant_of_mac(mac(1)).await.unwrap().map(|t| t.id),
        Some(a.tenant_id())
    );
    assert_eq!(
        db.store
            .tenant_of_token(&device(1).url_token)
            .await
            .unwrap(),
        Some(a.tenant_id())
    );
    assert_eq!(db.store.tenant_of_mac(mac(9)).await.unwrap(), None);
}

async fn devices_of_one_tenant_are_invisible_and_untouchable_through_another(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    let since = b.current_revision().await.unwrap();
    let stored = a.insert_device(&device(1)).await.unwrap();
    a.insert_device(&device(2)).await.unwrap();
    a.delete_device(mac(2)).await.unwrap();
    a.record_phone_requests(&[request(mac(1), 1, true)])
        .await
        .unwrap();

    assert!(b.get_device(mac(1)).await.unwrap().is_none());
    assert!(
        b.get_device_by_token(&stored.url_token)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(b.device_count().await.unwrap(), 0);
    assert!(b.all_device_records().await.unwrap().is_empty());
    let page = b
        .list_devices(&DeviceQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total), (0, 0));
    let searched = b
        .list_devices(&DeviceQuery {
            search: Some("Phone".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((searched.items.len(), searched.total), (0, 0));
    for sort in [
        DeviceSort::Name,
        DeviceSort::Mac,
        DeviceSort::CreatedAt,
        DeviceSort::LastConfigRequest,
    ] {
        let keyset = |after| DeviceKeyset {
            sort,
            after,
            limit: 50,
            ..Default::default()
        };
        assert!(
            b.list_devices_after(&keyset(None))
                .await
                .unwrap()
                .is_empty()
        );
        // A's device as B's cursor answers as a cursor that does not exist.
        b.insert_device(&device(3)).await.unwrap();
        let with_foreign = b.list_devices_after(&keyset(Some(mac(1)))).await.unwrap();
        // mac(0) is no device and sorts where mac(1) does among B's (never fetched) devices;
        // the orders that read the cursor's row (name, creation, last fetch: A's device was
        // fetched) would place A's row elsewhere if they found it.
        let with_missing = b.list_devices_after(&keyset(Some(mac(0)))).await.unwrap();
        assert_eq!(with_foreign, with_missing, "{sort:?}");
        b.delete_device(mac(3)).await.unwrap();
    }
    let feed = b.device_changes(since).await.unwrap();
    assert!(
        feed.upserted.is_empty()
            && !feed.removed.contains(&mac(2))
            && !feed.removed.contains(&mac(1)),
        "{feed:?}"
    );
    let a_feed = a.device_changes(since).await.unwrap();
    assert_eq!(a_feed.upserted.len(), 1);
    assert_eq!(a_feed.removed, vec![mac(2)]);

    // B cannot change or remove A's device.
    let mut changed = stored.clone();
    changed.name = "taken over".into();
    assert!(matches!(
        b.update_device(&changed).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!b.delete_device(mac(1)).await.unwrap());
    let kept = a.get_device(mac(1)).await.unwrap().unwrap();
    assert_eq!(kept.record.name, stored.name);
}

async fn requests_status_and_uploads_stay_with_their_tenant(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    a.insert_device(&device(1)).await.unwrap();
    a.record_phone_requests(&[request(mac(1), 1, true)])
        .await
        .unwrap();
    // B records a request naming A's MAC (a phone that asked B's path): A's status is not
    // touched by it.
    let before = a.get_status(mac(1)).await.unwrap();
    b.record_phone_requests(&[request(mac(1), 50, true)])
        .await
        .unwrap();
    assert_eq!(a.get_status(mac(1)).await.unwrap(), before);

    assert_eq!(a.list_phone_requests(None, 50).await.unwrap().len(), 1);
    assert_eq!(
        a.list_phone_requests(Some(mac(1)), 50).await.unwrap().len(),
        1
    );
    assert_eq!(b.list_phone_requests(None, 50).await.unwrap().len(), 1);
    assert_eq!(b.get_status(mac(1)).await.unwrap(), Default::default());

    // Pruning B leaves A's rows.
    let far = OffsetDateTime::now_utc() + time::Duration::days(1);
    b.prune_phone_requests(far, 0).await.unwrap();
    b.prune_anonymous_phone_requests(0).await.unwrap();
    assert_eq!(a.list_phone_requests(None, 50).await.unwrap().len(), 1);

    a.put_local_cfg(mac(1), b"local").await.unwrap();
    assert!(b.get_local_cfg(mac(1)).await.unwrap().is_none());
    assert!(matches!(
        b.put_local_cfg(mac(1), b"overwrite").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(a.get_local_cfg(mac(1)).await.unwrap().unwrap().0, b"local");
}

async fn settings_and_meta_are_per_tenant_but_global_keys_are_shared(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    db.store
        .put_settings(&serde_json::json!({"ntp_server": "default"}))
        .await
        .unwrap();
    a.put_settings(&serde_json::json!({"ntp_server": "a"}))
        .await
        .unwrap();
    assert_eq!(b.get_settings().await.unwrap(), None);
    assert_eq!(
        a.get_settings().await.unwrap(),
        Some(serde_json::json!({"ntp_server": "a"}))
    );
    assert_eq!(
        db.store.get_settings().await.unwrap(),
        Some(serde_json::json!({"ntp_server": "default"}))
    );

    a.set_meta("innovaphone.app_url", "https://a")
        .await
        .unwrap();
    assert_eq!(b.get_meta("innovaphone.app_url").await.unwrap(), None);
    assert_eq!(
        db.store.get_meta("innovaphone.app_url").await.unwrap(),
        None
    );
    assert_eq!(
        b.insert_meta_if_absent("innovaphone.app_url", "https://b")
            .await
            .unwrap(),
        "https://b"
    );
    assert_eq!(
        a.get_meta("innovaphone.app_url").await.unwrap().as_deref(),
        Some("https://a")
    );
    // The deployment's own keys are one value for all.
    a.set_meta("nonce_secret", "shared").await.unwrap();
    assert_eq!(
        b.get_meta("nonce_secret").await.unwrap().as_deref(),
        Some("shared")
    );
}

async fn pbx_devices_stay_with_their_tenant(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    let doc = serde_json::json!({"hw": mac(1).to_string()});
    a.put_pbx_device(mac(1), &doc, None).await.unwrap();
    assert_eq!(b.get_pbx_device(mac(1)).await.unwrap(), None);
    assert!(b.list_pbx_devices().await.unwrap().is_empty());
    assert!(b.pbx_config_states().await.unwrap().is_empty());
    assert!(!b.fill_pbx_config_complete(mac(1), true).await.unwrap());
    assert!(
        b.unheld_pbx_devices("sysclient:", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        a.unheld_pbx_devices("sysclient:", 10).await.unwrap(),
        vec![mac(1)]
    );
    // B's PBX cannot take A's phone over, nor remove it.
    let taken = b
        .put_pbx_device(mac(1), &serde_json::json!({"hw": "b"}), Some(true))
        .await;
    assert!(
        matches!(taken, Err(StoreError::MacInOtherTenant { .. })),
        "{taken:?}"
    );
    assert!(!b.delete_pbx_device(mac(1)).await.unwrap());
    assert_eq!(a.get_pbx_device(mac(1)).await.unwrap(), Some(doc));
    assert_eq!(a.pbx_config_states().await.unwrap(), vec![(mac(1), None)]);
}

fn job(mac_n: u32) -> NewRpsJob {
    NewRpsJob {
        command: "REDIRECT_DEVICE".into(),
        mac: Some(mac(mac_n)),
        payload: serde_json::json!({"url": "https://a.example.com/"}),
    }
}

fn entry(mac_n: u32) -> RpsHistoryEntry {
    RpsHistoryEntry {
        id: 0,
        at: OffsetDateTime::now_utc(),
        command: "REDIRECT_DEVICE".into(),
        mac: Some(mac(mac_n)),
        params: serde_json::json!({}),
        outcome: "ok".into(),
        answer: "Operation success".into(),
        duration_ms: 5,
        attempts: 1,
    }
}

async fn rps_jobs_and_history_stay_with_their_tenant(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    let ids = a.enqueue_rps_jobs(&[job(1)]).await.unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(5);
    let lease = Duration::from_secs(30);
    assert!(
        b.claim_rps_jobs("w", later, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(b.pending_rps_jobs(None, 10).await.unwrap().is_empty());
    assert!(
        b.pending_rps_jobs(Some(mac(1)), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(b.rps_queue_stats(later).await.unwrap().pending, 0);
    assert!(b.queued_rps_macs().await.unwrap().is_empty());
    assert_eq!(b.retry_rps_jobs_now(later).await.unwrap(), 0);

    let claimed = a.claim_rps_jobs("w", later, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // B cannot finish or reschedule A's job, even with its id and worker name.
    assert!(!b.complete_rps_job(ids[0], "w", &entry(1)).await.unwrap());
    assert!(!b.retry_rps_job(ids[0], "w", later, "x").await.unwrap());
    assert!(a.complete_rps_job(ids[0], "w", &entry(1)).await.unwrap());

    a.record_rps_history(&entry(2)).await.unwrap();
    let all = HistoryQuery {
        limit: 50,
        ..Default::default()
    };
    assert_eq!(a.list_rps_history(&all).await.unwrap().total, 2);
    for q in [
        all.clone(),
        HistoryQuery {
            mac: Some(mac(1)),
            ..all.clone()
        },
        HistoryQuery {
            command: Some("REDIRECT_DEVICE".into()),
            ..all.clone()
        },
        HistoryQuery {
            mac: Some(mac(1)),
            command: Some("REDIRECT_DEVICE".into()),
            ..all.clone()
        },
    ] {
        let page = b.list_rps_history(&q).await.unwrap();
        assert_eq!((page.items.len(), page.total), (0, 0), "{q:?}");
    }
    assert_eq!(b.search_rps_history("00", &all).await.unwrap().total, 0);
    assert!(b.latest_rps_redirects().await.unwrap().is_empty());
    assert_eq!(a.latest_rps_redirects().await.unwrap().len(), 2);
    let far = OffsetDateTime::now_utc() + time::Duration::days(1);
    b.prune_rps_history(far, 0).await.unwrap();
    assert_eq!(a.list_rps_history(&all).await.unwrap().total, 2);
}

async fn ui_sessions_and_changes_stay_with_their_tenant(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    let now = OffsetDateTime::now_utc();
    let session = UiSession {
        id_hash: "a".repeat(64),
        csrf: "csrf".into(),
        user_sip: None,
        user_dn: None,
        user_guid: None,
        created_at: now,
        last_used: now,
    };
    let long_ago = now - time::Duration::days(30);
    a.create_ui_session(&session, long_ago, 100).await.unwrap();
    assert_eq!(b.get_ui_session(&session.id_hash).await.unwrap(), None);
    // B's sign-ins trim B's sessions only, even with a cap of one.
    let mut other = session.clone();
    other.id_hash = "b".repeat(64);
    b.create_ui_session(&other, now, 1).await.unwrap();
    b.touch_ui_session(&session.id_hash, now).await.unwrap();
    assert!(!b.delete_ui_session(&session.id_hash).await.unwrap());
    assert!(a.get_ui_session(&session.id_hash).await.unwrap().is_some());

    let change = ChangeEntry {
        id: 0,
        at: now,
        actor: serde_json::json!({"kind": "cli"}),
        action: "device.add".into(),
        mac: Some(mac(1)),
        summary: "added".into(),
    };
    a.record_changes(std::slice::from_ref(&change))
        .await
        .unwrap();
    for q in [
        ChangeQuery {
            limit: 50,
            ..Default::default()
        },
        ChangeQuery {
            mac: Some(mac(1)),
            limit: 50,
            ..Default::default()
        },
    ] {
        assert_eq!(b.list_changes(&q).await.unwrap().total, 0);
        assert_eq!(a.list_changes(&q).await.unwrap().total, 1);
    }
    b.prune_changes(now + time::Duration::days(1), 0)
        .await
        .unwrap();
    assert_eq!(
        a.list_changes(&ChangeQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .total,
        1
    );
}

async fn removing_a_tenant_removes_its_rows_only(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    for (store, n) in [(&a, 1), (&b, 2)] {
        store.insert_device(&device(n)).await.unwrap();
        store
            .record_phone_requests(&[request(mac(n), 1, true)])
            .await
            .unwrap();
        store
            .put_settings(&serde_json::json!({"n": n}))
            .await
            .unwrap();
        store.set_meta("rps.registered_server", "x").await.unwrap();
        store.enqueue_rps_jobs(&[job(n)]).await.unwrap();
        store.record_rps_history(&entry(n)).await.unwrap();
        store
            .put_pbx_device(mac(n), &serde_json::json!({}), None)
            .await
            .unwrap();
    }
    assert!(db.store.delete_tenant(a.tenant_id()).await.unwrap());
    assert_eq!(db.store.get_tenant(a.tenant_id()).await.unwrap(), None);
    assert_eq!(a.device_count().await.unwrap(), 0);
    assert!(a.list_phone_requests(None, 10).await.unwrap().is_empty());
    assert_eq!(a.get_settings().await.unwrap(), None);
    assert_eq!(a.get_meta("rps.registered_server").await.unwrap(), None);
    assert!(a.pending_rps_jobs(None, 10).await.unwrap().is_empty());
    assert!(a.list_pbx_devices().await.unwrap().is_empty());
    // The MAC is free again.
    assert_eq!(db.store.tenant_of_mac(mac(1)).await.unwrap(), None);
    // B keeps everything.
    assert_eq!(b.device_count().await.unwrap(), 1);
    assert_eq!(b.list_phone_requests(None, 10).await.unwrap().len(), 1);
    assert_eq!(
        b.get_settings().await.unwrap(),
        Some(serde_json::json!({"n": 2}))
    );
    assert_eq!(
        b.get_meta("rps.registered_server")
            .await
            .unwrap()
            .as_deref(),
        Some("x")
    );
    assert_eq!(b.pending_rps_jobs(None, 10).await.unwrap().len(), 1);
    assert_eq!(b.list_pbx_devices().await.unwrap().len(), 1);
    assert!(!db.store.delete_tenant(a.tenant_id()).await.unwrap());
}

/// What a process's one pulse reads for every tenant at once (docs/tenants.md, "One pulse").
async fn one_read_names_the_tenants_with_changes_or_due_rps_jobs(db: &TestDb) {
    let (a, b) = two_tenants(db).await;
    let revision_of = |all: Vec<(TenantId, i64)>, id: TenantId| {
        all.into_iter()
            .find(|(t, _)| *t == id)
            .map(|(_, r)| r)
            .unwrap()
    };
    // Settings, tenant meta keys and PBX-side documents raise their tenant's revision only.
    let before = db.store.tenant_config_revisions().await.unwrap();
    assert_eq!(before.len(), 3, "the default tenant, A and B");
    b.put_settings(&serde_json::json!({"ntp_server": "b"}))
        .await
        .unwrap();
    let after = db.store.tenant_config_revisions().await.unwrap();
    assert!(revision_of(after.clone(), b.tenant_id()) > revision_of(before.clone(), b.tenant_id()));
    assert_eq!(
        revision_of(after.clone(), a.tenant_id()),
        revision_of(before.clone(), a.tenant_id())
    );
    for write in 0..3 {
        let before = revision_of(
            db.store.tenant_config_revisions().await.unwrap(),
            a.tenant_id(),
        );
        match write {
            0 => a
                .set_meta("innovaphone.app_url", "https://pbx-a/x")
                .await
                .unwrap(),
            1 => a
                .insert_meta_if_absent("rps_own_secret", "s")
                .await
                .map(drop)
                .unwrap(),
            _ => a
                .put_pbx_device(mac(9), &serde_json::json!({}), Some(true))
                .await
                .unwrap(),
        }
        let after = revision_of(
            db.store.tenant_config_revisions().await.unwrap(),
            a.tenant_id(),
        );
        assert!(after > before, "write {write} raised A's revision");
    }
    // A global key is no tenant's: the write probe every few seconds raises nothing.
    let before = db.store.tenant_config_revisions().await.unwrap();
    a.set_meta("write_probe", "1").await.unwrap();
    assert_eq!(db.store.tenant_config_revisions().await.unwrap(), before);

    // Device changes: the tenants written to after a revision, and none when nothing moved.
    let (start, _) = db.store.tenants_with_device_changes(0).await.unwrap();
    a.insert_device(&device(1)).await.unwrap();
    let (moved, changed) = b.tenants_with_device_changes(start).await.unwrap();
    assert!(moved > start);
    assert_eq!(changed, vec![a.tenant_id()]);
    assert_eq!(
        b.tenants_with_device_changes(moved).await.unwrap(),
        (moved, Vec::new())
    );
    b.insert_device(&device(2)).await.unwrap();
    b.delete_device(mac(2)).await.unwrap();
    let (last, changed) = a.tenants_with_device_changes(moved).await.unwrap();
    assert!(last > moved);
    assert_eq!(
        changed,
        vec![b.tenant_id()],
        "a delete leaves its tenant's tombstone"
    );

    // RPS: the tenants with a job a worker may take now, not one held by a live lease.
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(5);
    let due = async |at| db.store.tenants_with_due_rps_jobs(at).await.unwrap();
    assert!(due(later).await.is_empty());
    b.enqueue_rps_jobs(&[job(3)]).await.unwrap();
    assert_eq!(
        a.tenants_with_due_rps_jobs(later).await.unwrap(),
        vec![b.tenant_id()]
    );
    let claimed = b
        .claim_rps_jobs("w", later, Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(due(later).await.is_empty());
    // Once its lease ran out (no live instance holds it), it is due again.
    let after_lease = later + time::Duration::seconds(31);
    assert_eq!(due(after_lease).await, vec![b.tenant_id()]);
}
