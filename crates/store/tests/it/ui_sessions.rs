//! Web UI sessions: shared by the instances, stored by hash, bounded by idle time and count.

use prov_store::UiSession;
use time::{Duration, OffsetDateTime};

use crate::harness::{TestDb, conformance};

conformance!(
    ui_sessions_round_trip_and_sign_out,
    ui_sessions_expire_and_are_capped,
);

fn session(n: u32, last_used: OffsetDateTime) -> UiSession {
    UiSession {
        id_hash: format!("{n:064x}"),
        csrf: format!("csrf-{n}"),
        user_sip: None,
        user_dn: None,
        user_guid: None,
        created_at: last_used,
        last_used,
    }
}

fn truncated(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.microsecond() * 1_000).unwrap()
}

async fn ui_sessions_round_trip_and_sign_out(db: &TestDb) {
    let s = &db.store;
    let now = truncated(OffsetDateTime::now_utc());
    let old = now - Duration::hours(9);
    let mut user = session(1, now);
    user.user_sip = Some("jdoe".into());
    user.user_dn = Some("John Doe".into());
    user.user_guid = Some("0123456789abcdef0123456789abcdef".into());
    s.create_ui_session(&user, old, 1000).await.unwrap();
    assert_eq!(
        s.get_ui_session(&user.id_hash).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(s.get_ui_session("not-there").await.unwrap(), None);

    let later = now + Duration::minutes(5);
    s.touch_ui_session(&user.id_hash, later).await.unwrap();
    let got = s.get_ui_session(&user.id_hash).await.unwrap().unwrap();
    assert_eq!(got.last_used, later);
    assert_eq!(got.created_at, now);

    assert!(s.delete_ui_session(&user.id_hash).await.unwrap());
    assert!(!s.delete_ui_session(&user.id_hash).await.unwrap());
    assert_eq!(s.get_ui_session(&user.id_hash).await.unwrap(), None);
}

async fn ui_sessions_expire_and_are_capped(db: &TestDb) {
    let s = &db.store;
    let now = truncated(OffsetDateTime::now_utc());
    let idle_before = now - Duration::hours(8);
    // One idle for too long, then three fresh ones with a cap of two.
    let stale = session(1, now - Duration::hours(9));
    s.create_ui_session(&stale, now - Duration::hours(100), 10)
        .await
        .unwrap();
    let a = session(2, now - Duration::minutes(3));
    let b = session(3, now - Duration::minutes(2));
    let c = session(4, now - Duration::minutes(1));
    for x in [&a, &b] {
        s.create_ui_session(x, idle_before, 2).await.unwrap();
    }
    assert_eq!(s.get_ui_session(&stale.id_hash).await.unwrap(), None);
    s.create_ui_session(&c, idle_before, 2).await.unwrap();
    // The least recently used one made room.
    assert_eq!(s.get_ui_session(&a.id_hash).await.unwrap(), None);
    assert!(s.get_ui_session(&b.id_hash).await.unwrap().is_some());
    assert!(s.get_ui_session(&c.id_hash).await.unwrap().is_some());
}
