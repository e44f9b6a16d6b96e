//! Single-device CRUD.

use prov_store::{DeviceStatus, StoreError};
use time::macros::datetime;

use crate::harness::{TestDb, conformance, device, mac};

conformance!(
    insert_and_get,
    duplicate_mac_is_reported_with_the_mac,
    duplicate_url_token_is_reported_without_the_token,
    update_and_not_found,
    delete_removes_device_status_and_local_cfg,
    timestamps_are_utc_microseconds,
);

async fn insert_and_get(db: &TestDb) {
    let s = &db.store;
    let d = device(1);
    let stored = s.insert_device(&d).await.unwrap();
    assert!(stored.revision > 0);
    assert_eq!(stored.created_at, d.created_at);
    assert!(
        stored.updated_at > d.updated_at,
        "updated_at is set by the store"
    );
    assert_eq!(
        prov_store::DeviceRecord {
            revision: d.revision,
            updated_at: d.updated_at,
            ..stored.clone()
        },
        d,
        "everything else is stored as given"
    );

    let got = s.get_device(d.mac).await.unwrap().unwrap();
    assert_eq!(got.record, stored);
    assert_eq!(got.status, DeviceStatus::default());

    let by_token = s.get_device_by_token(&d.url_token).await.unwrap().unwrap();
    assert_eq!(by_token.record, stored);
    assert!(s.get_device_by_token("nope").await.unwrap().is_none());
    assert!(s.get_device(mac(2)).await.unwrap().is_none());
    assert_eq!(s.device_count().await.unwrap(), 1);
}

async fn duplicate_mac_is_reported_with_the_mac(db: &TestDb) {
    let s = &db.store;
    let mut d = device(0xaabbcc);
    s.insert_device(&d).await.unwrap();
    d.url_token = "another-token-entirely-x".into();
    let err = s.insert_device(&d).await.unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateMac(m) if m == d.mac),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "a device with MAC 001565aabbcc already exists"
    );
    assert_eq!(s.device_count().await.unwrap(), 1);
}

async fn duplicate_url_token_is_reported_without_the_token(db: &TestDb) {
    let s = &db.store;
    let a = device(1);
    s.insert_device(&a).await.unwrap();
    let b = prov_store::DeviceRecord {
        url_token: a.url_token.clone(),
        ..device(2)
    };
    let rev = s.current_revision().await.unwrap();
    let err = s.insert_device(&b).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateUrlToken), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(&a.url_token), "{text}");
    }
    assert!(s.get_device(b.mac).await.unwrap().is_none());
    // The failed insert rolled back its revision bump.
    assert_eq!(s.current_revision().await.unwrap(), rev);
}

async fn update_and_not_found(db: &TestDb) {
    let s = &db.store;
    let stored = s.insert_device(&device(1)).await.unwrap();
    s.insert_device(&device(2)).await.unwrap();

    let mut changed = stored.clone();
    changed.name = "Reception".into();
    changed.model = None;
    changed.auth_name = Some("auth1".into());
    changed.overrides = serde_json::json!({ "volume": 7 }).into();
    changed.sip_password = "new-secret".into();
    changed.created_at = datetime!(2030-01-01 00:00 UTC); // ignored: created_at is kept
    let updated = s.update_device(&changed).await.unwrap();
    assert!(updated.revision > stored.revision);
    assert!(updated.updated_at >= stored.updated_at);
    assert_eq!(updated.created_at, stored.created_at);
    assert_eq!(updated.name, "Reception");
    assert_eq!(
        s.get_device(stored.mac).await.unwrap().unwrap().record,
        updated
    );

    let err = s.update_device(&device(3)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(m) if m == mac(3)),
        "{err:?}"
    );
    assert!(s.get_device(mac(3)).await.unwrap().is_none());

    let steal = prov_store::DeviceRecord {
        url_token: device(2).url_token,
        ..updated.clone()
    };
    let err = s.update_device(&steal).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateUrlToken), "{err:?}");
    assert_eq!(
        s.get_device(stored.mac).await.unwrap().unwrap().record,
        updated
    );
}

async fn delete_removes_device_status_and_local_cfg(db: &TestDb) {
    let s = &db.store;
    let d = device(1);
    s.insert_device(&d).await.unwrap();
    s.put_local_cfg(d.mac, b"local").await.unwrap();
    s.record_phone_requests(&[crate::requests::request(d.mac, 10, true)])
        .await
        .unwrap();
    assert!(s.get_status(d.mac).await.unwrap().last_request_at.is_some());

    assert!(s.delete_device(d.mac).await.unwrap());
    assert!(!s.delete_device(d.mac).await.unwrap());
    assert!(s.get_device(d.mac).await.unwrap().is_none());
    assert!(s.get_device_by_token(&d.url_token).await.unwrap().is_none());
    assert_eq!(s.get_status(d.mac).await.unwrap(), DeviceStatus::default());
    assert_eq!(s.get_local_cfg(d.mac).await.unwrap(), None);
    // The request log keeps the MAC as text until pruned.
    assert_eq!(
        s.list_phone_requests(Some(d.mac), 10).await.unwrap().len(),
        1
    );

    // Re-adding starts from a clean status.
    s.insert_device(&d).await.unwrap();
    let again = s.get_device(d.mac).await.unwrap().unwrap();
    assert_eq!(again.status, DeviceStatus::default());
    assert_eq!(s.get_local_cfg(d.mac).await.unwrap(), None);
}

async fn timestamps_are_utc_microseconds(db: &TestDb) {
    let s = &db.store;
    let mut d = device(1);
    d.created_at = datetime!(1969-07-20 22:56:15.123_456_789 +02:00);
    let stored = s.insert_device(&d).await.unwrap();
    assert_eq!(
        stored.created_at,
        datetime!(1969-07-20 20:56:15.123_456 UTC)
    );
    assert_eq!(stored.created_at.offset(), time::UtcOffset::UTC);
    let got = s.get_device(d.mac).await.unwrap().unwrap().record;
    assert_eq!(got.created_at, stored.created_at);
    assert_eq!(got.updated_at, stored.updated_at);
    assert_eq!(got.created_at.offset(), time::UtcOffset::UTC);
}
