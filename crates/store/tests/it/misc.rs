//! Local config uploads, settings, metadata, opening URLs and secret hygiene.

use prov_store::StoreError;

use crate::harness::{TestDb, conformance, device, mac};

conformance!(
    local_cfg_round_trip,
    settings_round_trip,
    meta_insert_if_absent_first_writer_wins,
    database_errors_do_not_leak_row_secrets,
    pbx_device_documents_round_trip,
    pbx_config_states_are_read_without_the_documents,
);

async fn local_cfg_round_trip(db: &TestDb) {
    let s = &db.store;
    let d = s.insert_device(&device(1)).await.unwrap();
    assert_eq!(s.get_local_cfg(d.mac).await.unwrap(), None);

    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let body = b"#!version:1.0.0.1\nlang.gui = German\n\xff\x00binary-safe".to_vec();
    s.put_local_cfg(d.mac, &body).await.unwrap();
    let (got, at) = s.get_local_cfg(d.mac).await.unwrap().unwrap();
    assert_eq!(got, body);
    assert!(at >= before && at <= time::OffsetDateTime::now_utc());

    s.put_local_cfg(d.mac, b"replaced").await.unwrap();
    let (got, at2) = s.get_local_cfg(d.mac).await.unwrap().unwrap();
    assert_eq!(got, b"replaced");
    assert!(at2 >= at);

    let err = s.put_local_cfg(mac(2), b"x").await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(m) if m == mac(2)),
        "{err:?}"
    );
    assert_eq!(s.get_local_cfg(mac(2)).await.unwrap(), None);
    // Uploads are not device changes.
    assert_eq!(s.current_revision().await.unwrap(), d.revision);
}

async fn settings_round_trip(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.get_settings().await.unwrap(), None);
    let v1 = serde_json::json!({
        "public_base_url": "https://prov.example.com",
        "ntp": ["0.pool.ntp.org", "1.pool.ntp.org"],
        "timezone": { "name": "Europe/Berlin", "offset": 1.5 },
        "big": 9_007_199_254_740_993_u64,
        "unicode": "Grüße ☎",
    });
    s.put_settings(&v1).await.unwrap();
    assert_eq!(s.get_settings().await.unwrap(), Some(v1));
    let v2 = serde_json::json!({ "public_base_url": "https://other.example.com" });
    s.put_settings(&v2).await.unwrap();
    assert_eq!(s.get_settings().await.unwrap(), Some(v2.clone()));
    // Another instance reads the same document.
    assert_eq!(db.reopen().await.get_settings().await.unwrap(), Some(v2));
}

async fn meta_insert_if_absent_first_writer_wins(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.get_meta("instance_secret").await.unwrap(), None);
    assert_eq!(
        s.insert_meta_if_absent("k", "first").await.unwrap(),
        "first"
    );
    assert_eq!(
        s.insert_meta_if_absent("k", "second").await.unwrap(),
        "first"
    );
    s.set_meta("k", "third").await.unwrap();
    assert_eq!(s.get_meta("k").await.unwrap().as_deref(), Some("third"));

    // Race: many callers on two instances, each with its own value, all get one value.
    let two = db.reopen().await;
    for round in 0..5 {
        let key = format!("race-{round}");
        let mut tasks = Vec::new();
        for caller in 0..8 {
            let store = if caller % 2 == 0 {
                s.clone()
            } else {
                two.clone()
            };
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .insert_meta_if_absent(&key, &format!("value-{caller}"))
                    .await
                    .unwrap()
            }));
        }
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        values.dedup();
        assert_eq!(values.len(), 1, "round {round}: {values:?}");
        assert_eq!(s.get_meta(&key).await.unwrap(), Some(values[0].clone()));
    }
}

async fn database_errors_do_not_leak_row_secrets(db: &TestDb) {
    let s = &db.store;
    s.insert_device(&device(1)).await.unwrap();
    // A raw unique violation on the URL token: PostgreSQL puts the token into the error's
    // DETAIL ("Key (url_token)=(...) already exists"), which sqlx's Debug prints.
    let raw = db
        .raw_execute(
            "INSERT INTO devices (mac, name, sip_user, sip_password, registrar, overrides, \
             http_password, url_token, admin_password, created_at, updated_at, revision) \
             SELECT '001565ffffff', name, sip_user, sip_password, registrar, overrides, \
             http_password, url_token, admin_password, created_at, updated_at, revision \
             FROM devices",
        )
        .await
        .unwrap_err();
    let token = device(1).url_token;
    if db.is_postgres() {
        assert!(
            format!("{raw:?}").contains(&token),
            "the test provokes a leaky error"
        );
    }
    let err = StoreError::from(raw);
    assert!(matches!(err, StoreError::Database(_)));
    for text in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
        assert!(!text.contains(&token), "{text}");
        assert!(!text.contains("secret-1"), "{text}");
        assert!(
            text.contains("url_token"),
            "still says what went wrong: {text}"
        );
    }
}

#[tokio::test]
async fn unsupported_urls_name_the_schemes_and_hide_passwords() {
    for url in [
        "mysql://root:hunter2@db.example/prov",
        "hunter2",
        "file:///var/lib/prov.db?password=hunter2",
    ] {
        let err = prov_store::open(url).await.err().unwrap();
        assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err:?}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(
                text.contains("sqlite:") && text.contains("postgres://"),
                "{text}"
            );
            assert!(!text.contains("hunter2"), "{text}");
        }
    }
}

#[tokio::test]
async fn connection_errors_hide_passwords() {
    // `.invalid` never resolves (RFC 2606), so this fails fast without a server. (A refused
    // connection would be retried by the pool for its 30 s acquire timeout.)
    let url = "postgres://prov:hunter2@db.invalid:5432/prov";
    let err = prov_store::open(url).await.err().unwrap();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn redact_url_hides_passwords() {
    use prov_store::redact_url;
    assert_eq!(
        redact_url("postgres://prov:hunter2@db.example:5432/prov"),
        "postgres://prov:***@db.example:5432/prov"
    );
    assert_eq!(
        redact_url("postgresql://prov:hun%40ter2@db/prov?sslmode=require&password=x"),
        "postgresql://prov:***@db/prov?sslmode=require&password=***"
    );
    assert_eq!(
        redact_url("sqlite://data/prov.sqlite?mode=rwc"),
        "sqlite://data/prov.sqlite?mode=rwc"
    );
    let debug = format!(
        "{:?}",
        StoreError::UnsupportedUrl(redact_url("x://u:hunter2@h"))
    );
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let s = prov_store::open("sqlite::memory:").await.unwrap();
    assert_eq!(s.backend(), "sqlite");
    s.insert_device(&device(1)).await.unwrap();
    // The single pooled connection keeps the database alive between calls.
    assert_eq!(s.device_count().await.unwrap(), 1);
    assert_eq!(s.device_changes(0).await.unwrap().upserted.len(), 1);
}

#[test]
fn record_debug_hides_secrets() {
    let d = device(7);
    let changes = prov_store::DeviceChanges {
        upserted: vec![d.clone()],
        removed: vec![mac(8)],
        revision: 3,
    };
    for text in [format!("{d:?}"), format!("{d:#?}"), format!("{changes:?}")] {
        for secret in [
            &d.sip_password,
            &d.http_password,
            &d.admin_password,
            &d.url_token,
        ] {
            assert!(!text.contains(secret.as_str()), "{text}");
        }
        assert!(
            text.contains("001565000007") && text.contains("Phone 00007"),
            "{text}"
        );
    }
    // Serialisation keeps them: the admin API and exports need them.
    let json = serde_json::to_string(&d).unwrap();
    assert!(
        json.contains(&d.sip_password) && json.contains("\"created_at\":\"1970-01-01T00:00:07Z\"")
    );
    let back: prov_store::DeviceRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}

async fn pbx_device_documents_round_trip(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.get_pbx_device(mac(1)).await.unwrap(), None);
    assert!(s.list_pbx_devices().await.unwrap().is_empty());
    // Key order and nesting survive (the server's documents are plain JSON objects).
    let doc = serde_json::json!({"code": "562822784750", "items": {"PHONE": {"coder": "G722"}}});
    s.put_pbx_device(mac(2), &doc, Some(false)).await.unwrap();
    s.put_pbx_device(mac(1), &serde_json::json!({"code": "1"}), Some(false))
        .await
        .unwrap();
    assert_eq!(s.get_pbx_device(mac(2)).await.unwrap(), Some(doc.clone()));
    let replaced = serde_json::json!({"code": "562822784750", "complete": true});
    s.put_pbx_device(mac(2), &replaced, Some(true))
        .await
        .unwrap();
    let all = s.list_pbx_devices().await.unwrap();
    assert_eq!(
        all.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
        vec![mac(1), mac(2)]
    );
    assert_eq!(all[1].1, replaced);
    assert!(s.delete_pbx_device(mac(2)).await.unwrap());
    assert!(!s.delete_pbx_device(mac(2)).await.unwrap());
    assert_eq!(s.get_pbx_device(mac(2)).await.unwrap(), None);
    // Not part of the device change feed.
    assert_eq!(s.current_revision().await.unwrap(), 0);
}

/// The flag `Service` reads for every phone each refresh comes from its own column: what the
/// last `put_pbx_device` said, whatever the (opaque, possibly sealed) document holds; `None`
/// keeps it; rows from before the column are `None` until filled, and filling never overwrites.
async fn pbx_config_states_are_read_without_the_documents(db: &TestDb) {
    let s = &db.store;
    assert!(s.pbx_config_states().await.unwrap().is_empty());
    // The document says the opposite: the store must not look inside it.
    s.put_pbx_device(
        mac(3),
        &serde_json::json!({"config_complete": false}),
        Some(true),
    )
    .await
    .unwrap();
    s.put_pbx_device(
        mac(1),
        &serde_json::json!({"config_complete": true}),
        Some(false),
    )
    .await
    .unwrap();
    // A new row written without a flag has none.
    s.put_pbx_device(mac(2), &serde_json::json!("sealed"), None)
        .await
        .unwrap();
    assert_eq!(
        s.pbx_config_states().await.unwrap(),
        vec![(mac(1), Some(false)), (mac(2), None), (mac(3), Some(true))]
    );
    // `None` on an existing row (re-sealing) keeps its flag; `Some` replaces it.
    s.put_pbx_device(mac(3), &serde_json::json!("resealed"), None)
        .await
        .unwrap();
    s.put_pbx_device(mac(1), &serde_json::json!({}), Some(true))
        .await
        .unwrap();
    assert_eq!(
        s.get_pbx_device(mac(3)).await.unwrap(),
        Some(serde_json::json!("resealed"))
    );
    // Filling sets a missing flag once and never overwrites one (a newer write wins).
    assert!(s.fill_pbx_config_complete(mac(2), true).await.unwrap());
    assert!(!s.fill_pbx_config_complete(mac(2), false).await.unwrap());
    assert!(!s.fill_pbx_config_complete(mac(3), false).await.unwrap());
    assert!(!s.fill_pbx_config_complete(mac(9), true).await.unwrap());
    assert_eq!(
        s.pbx_config_states().await.unwrap(),
        vec![
            (mac(1), Some(true)),
            (mac(2), Some(true)),
            (mac(3), Some(true))
        ]
    );
    // Another instance sees the same flags; deleting the document drops its flag.
    assert!(s.delete_pbx_device(mac(2)).await.unwrap());
    assert_eq!(
        db.reopen().await.pbx_config_states().await.unwrap(),
        vec![(mac(1), Some(true)), (mac(3), Some(true))]
    );
}
