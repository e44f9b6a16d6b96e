//! Secrets at rest (SealedStore): the raw rows hold none of a device's secrets, a plaintext
//! database is sealed on first open with a key, rotation re-seals, a wrong key is a clear error.

use std::sync::Arc;

use prov_store::{Keyring, SealedStore, Store, StoreError};

use crate::harness::{TestDb, conformance, device, mac};

conformance!(
    raw_rows_hold_no_secret,
    plaintext_database_is_sealed_on_open,
    rotation_reseals_and_old_key_no_longer_opens,
    wrong_key_is_a_clear_error,
    verify_key_checks_without_writing,
    a_finished_pass_is_not_repeated,
);

fn ring(b: u8) -> Keyring {
    Keyring::new(&[[b; prov_store::KEY_LEN]]).unwrap()
}

/// Every secret the store keeps for one phone, and where it goes.
const SECRETS: &[&str] = &[
    "sip-secret-7",
    "http-secret-7",
    "admin-secret-7",
    "tok000000000000000000007",
    "nonce-secret-value",
    "rps-own-secret-value",
    "instance-pw-value",
    "sysclient-pw-value",
    "local-cfg-password",
];

async fn write_secrets(store: &dyn Store) {
    store.insert_device(&device(7)).await.unwrap();
    store
        .insert_meta_if_absent("nonce_secret", "nonce-secret-value")
        .await
        .unwrap();
    store
        .set_meta("rps_own_secret", "rps-own-secret-value")
        .await
        .unwrap();
    store
        .set_meta("innovaphone.instance_password", "instance-pw-value")
        .await
        .unwrap();
    store
        .put_pbx_device(
            mac(7),
            &serde_json::json!({ "sysclient_password": "sysclient-pw-value" }),
            Some(true),
        )
        .await
        .unwrap();
    store
        .put_local_cfg(mac(7), b"account.1.password = local-cfg-password\n")
        .await
        .unwrap();
}

async fn assert_secrets_readable(store: &dyn Store) {
    let d = store.get_device(mac(7)).await.unwrap().unwrap();
    assert_eq!(d.record.sip_password, "sip-secret-7");
    assert_eq!(d.record.http_password, "http-secret-7");
    assert_eq!(d.record.admin_password, "admin-secret-7");
    assert_eq!(d.record.url_token, "tok000000000000000000007");
    let by_token = store
        .get_device_by_token("tok000000000000000000007")
        .await
        .unwrap()
        .expect("found by token");
    assert_eq!(by_token.record.mac, mac(7));
    assert!(store.get_device_by_token("nope").await.unwrap().is_none());
    assert_eq!(
        store.get_meta("nonce_secret").await.unwrap().as_deref(),
        Some("nonce-secret-value")
    );
    assert_eq!(
        store.get_meta("rps_own_secret").await.unwrap().as_deref(),
        Some("rps-own-secret-value")
    );
    assert_eq!(
        store
            .get_meta("innovaphone.instance_password")
            .await
            .unwrap()
            .as_deref(),
        Some("instance-pw-value")
    );
    let doc = store.get_pbx_device(mac(7)).await.unwrap().unwrap();
    assert_eq!(doc["sysclient_password"], "sysclient-pw-value");
    let (cfg, _) = store.get_local_cfg(mac(7)).await.unwrap().unwrap();
    assert!(
        String::from_utf8(cfg)
            .unwrap()
            .contains("local-cfg-password")
    );
    let feed = store.device_changes(0).await.unwrap();
    assert_eq!(feed.upserted[0].sip_password, "sip-secret-7");
}

/// Everything the raw (unsealed) store returns for the phone, as text.
async fn raw_text(raw: &dyn Store) -> String {
    let d = raw.get_device(mac(7)).await.unwrap().unwrap();
    let mut all = serde_json::to_string(&d.record).unwrap();
    for key in prov_store::SECRET_META_KEYS {
        all.push_str(&raw.get_meta(key).await.unwrap().unwrap_or_default());
    }
    all.push_str(
        &raw.get_pbx_device(mac(7))
            .await
            .unwrap()
            .unwrap()
            .to_string(),
    );
    let (cfg, _) = raw.get_local_cfg(mac(7)).await.unwrap().unwrap();
    all.push_str(&String::from_utf8_lossy(&cfg));
    all
}

fn assert_no_secret(text: &str, what: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} contains {s}");
    }
}

/// The SQLite database's files (db, -wal, -shm) as bytes.
fn sqlite_file_bytes(db: &TestDb) -> Vec<u8> {
    let path = db
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc");
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
            all.extend(b);
        }
    }
    all
}

async fn raw_rows_hold_no_secret(db: &TestDb) {
    let sealed = SealedStore::open(db.store.clone(), ring(1)).await.unwrap();
    write_secrets(&sealed).await;
    assert_secrets_readable(&sealed).await;
    assert_no_secret(&raw_text(db.store.as_ref()).await, "a raw row");
    if !db.is_postgres() {
        let bytes = sqlite_file_bytes(db);
        assert!(!bytes.is_empty());
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("Phone 00007"), "the grep sees plain columns");
        assert_no_secret(&text, "the SQLite files");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let path = db
                .url
                .trim_start_matches("sqlite://")
                .trim_end_matches("?mode=rwc");
            for suffix in ["", "-wal", "-shm"] {
                let mode = std::fs::metadata(format!("{path}{suffix}"))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{path}{suffix}");
            }
        }
    }
    // A second instance with the same key reads it all.
    let again = SealedStore::open(db.reopen().await, ring(1)).await.unwrap();
    assert_secrets_readable(&again).await;
}

async fn plaintext_database_is_sealed_on_open(db: &TestDb) {
    // Written before encryption existed: straight into the backend.
    write_secrets(db.store.as_ref()).await;
    assert!(raw_text(db.store.as_ref()).await.contains("sip-secret-7"));
    let sealed = SealedStore::open(db.store.clone(), ring(1)).await.unwrap();
    assert_no_secret(&raw_text(db.store.as_ref()).await, "a migrated row");
    assert_secrets_readable(&sealed).await;
    // A second start has nothing left to do.
    assert_eq!(sealed.reseal_all().await.unwrap().total(), 0);
}

async fn a_finished_pass_is_not_repeated(db: &TestDb) {
    let sealed = SealedStore::open(db.store.clone(), ring(1)).await.unwrap();
    write_secrets(&sealed).await;
    // A row no writer with this key would leave: only a pass over every row would see it.
    let mut plain = device(8);
    plain.sip_password = "left-plain".into();
    db.store.insert_device(&plain).await.unwrap();
    SealedStore::open(db.store.clone(), ring(1)).await.unwrap();
    let raw_password = || async {
        let d = db.store.get_device(mac(8)).await.unwrap().unwrap();
        d.record.sip_password
    };
    assert_eq!(
        raw_password().await,
        "left-plain",
        "a start with the key that sealed everything reads no row"
    );
    // A database whose last pass did not finish (or from before the marker) gets one.
    db.store
        .set_meta("secrets.sealed_with", "someone-else")
        .await
        .unwrap();
    let resealed = SealedStore::open(db.store.clone(), ring(1)).await.unwrap();
    assert!(ring(1).is_current(raw_password().await.as_bytes()));
    assert_eq!(
        resealed
            .get_device(mac(8))
            .await
            .unwrap()
            .unwrap()
            .record
            .sip_password,
        "left-plain"
    );
    // A new sealing key (an interrupted rotation's key file) runs the pass, and records it.
    let both = Keyring::new(&[[2u8; prov_store::KEY_LEN], [1u8; prov_store::KEY_LEN]]).unwrap();
    SealedStore::open(db.store.clone(), both).await.unwrap();
    assert_eq!(
        db.store
            .get_meta("secrets.sealed_with")
            .await
            .unwrap()
            .as_deref(),
        Some(ring(2).primary_id())
    );
    assert!(
        !raw_text(db.store.as_ref())
            .await
            .contains(ring(1).primary_id())
    );
}

async fn rotation_reseals_and_old_key_no_longer_opens(db: &TestDb) {
    let old = SealedStore::open(db.store.clone(), ring(1)).await.unwrap();
    write_secrets(&old).await;
    let before = raw_text(db.store.as_ref()).await;
    // During the rotation both keys open; the new one seals.
    let both = Keyring::new(&[[2u8; prov_store::KEY_LEN], [1u8; prov_store::KEY_LEN]]).unwrap();
    let rotating = SealedStore::wrap(db.store.clone(), both);
    assert_secrets_readable(&rotating).await;
    let report = rotating.reseal_all().await.unwrap();
    assert_eq!(report.devices, 1);
    assert_eq!(report.meta, 3);
    assert_eq!(report.pbx_devices, 1);
    assert_eq!(report.local_cfgs, 1);
    // Re-sealing the document keeps its plain flag.
    assert_eq!(
        db.store.pbx_config_states().await.unwrap(),
        vec![(mac(7), Some(true))]
    );
    let after = raw_text(db.store.as_ref()).await;
    assert_ne!(before, after);
    assert!(after.contains(ring(2).primary_id()));
    assert!(!after.contains(ring(1).primary_id()));
    assert_no_secret(&after, "a rotated row");
    // The new key alone reads everything; the old one no longer opens the database.
    let new = SealedStore::open(db.store.clone(), ring(2)).await.unwrap();
    assert_secrets_readable(&new).await;
    let err = SealedStore::open(db.store.clone(), ring(1))
        .await
        .err()
        .expect("old key refused");
    assert!(matches!(err, StoreError::Secret(_)), "{err:?}");
    let stale = SealedStore::wrap(db.store.clone(), ring(1));
    assert!(matches!(
        stale.get_device(mac(7)).await,
        Err(StoreError::Secret(_))
    ));
}

async fn wrong_key_is_a_clear_error(db: &TestDb) {
    let right = SealedStore::open(db.store.clone(), ring(1)).await.unwrap();
    write_secrets(&right).await;
    let err = SealedStore::open(db.store.clone(), ring(3))
        .await
        .err()
        .expect("wrong key refused");
    let msg = err.to_string();
    assert!(msg.contains("key"), "{msg}");
    assert!(
        msg.contains(ring(1).primary_id()),
        "names the key id: {msg}"
    );
    assert_no_secret(&msg, "the error");
    assert_no_secret(&format!("{err:?}"), "the error's Debug");
    // Nothing was written with the wrong key.
    let again: Arc<dyn Store> =
        Arc::new(SealedStore::open(db.store.clone(), ring(1)).await.unwrap());
    assert_secrets_readable(again.as_ref()).await;
}

/// The start-up's check before a new key file is written: answers without writing anything.
async fn verify_key_checks_without_writing(db: &TestDb) {
    db.store.check_readable().await.unwrap();
    let fresh = SealedStore::wrap(db.store.clone(), ring(1));
    assert!(
        !fresh.verify_key().await.unwrap(),
        "a new database has no check value"
    );
    assert_eq!(
        db.store.get_meta("secrets.key_check").await.unwrap(),
        None,
        "and verify_key wrote none"
    );
    let right = SealedStore::open(db.store.clone(), ring(1)).await.unwrap();
    write_secrets(&right).await;
    assert!(right.verify_key().await.unwrap());
    let before = raw_text(db.store.as_ref()).await;
    let wrong = SealedStore::wrap(db.store.clone(), ring(3));
    let err = wrong.verify_key().await.expect_err("another key");
    assert!(matches!(err, StoreError::Secret(_)), "{err:?}");
    assert_eq!(raw_text(db.store.as_ref()).await, before, "nothing written");
}
