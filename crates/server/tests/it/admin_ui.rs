//! The web UI's pages as an administrator with a real fleet meets them: numbers that must hold
//! at 1,600 devices, read over HTTP with a signed-in session.

use std::time::{Duration, Instant};

use prov_store::{RpsHistoryEntry, Store};
use reqwest::StatusCode;
use time::OffsetDateTime;
use yealink::Mac;

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app_on_sqlite_store};

/// Signs in with the admin password; the session cookie.
async fn session_cookie(app: &TestApp) -> String {
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.base)
        .body(format!("password={ADMIN_PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let set = answer
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("yp_session="))
        .expect("a session cookie")
        .to_owned();
    set.split(';').next().unwrap().to_owned()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> (String, Duration) {
    let started = Instant::now();
    let answer = app
        .client
        .get(format!("{}{path}", app.base))
        .header(reqwest::header::COOKIE, cookie)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "{path}");
    let body = answer.text().await.unwrap();
    (body, started.elapsed())
}

fn mac(n: u32) -> Mac {
    Mac::parse(&format!("001565{n:06x}")).unwrap()
}

fn redirect(n: u32, outcome: &str, answer: &str) -> RpsHistoryEntry {
    RpsHistoryEntry {
        id: 0,
        at: OffsetDateTime::now_utc(),
        command: "REDIRECT_DEVICE".into(),
        mac: Some(mac(n)),
        params: serde_json::json!({}),
        outcome: outcome.into(),
        answer: answer.into(),
        duration_ms: 10,
        attempts: 1,
    }
}

/// 1,600 devices: the RPS column and the "not redirected" filter come from one grouped query
/// (not one per row), and the filtered count reads "1,000 of 1,600".
#[tokio::test]
async fn devices_list_at_1600_shows_rps_states_and_filtered_counts_quickly() {
    let (app, store) = spawn_app_on_sqlite_store().await;
    let mut csv = String::from("mac,sip_user,sip_password,registrar\n");
    for n in 0..1600 {
        csv.push_str(&format!("{},{n},pw-{n},pbx.example.com\n", mac(n)));
    }
    let imported = app
        .api(reqwest::Method::POST, "/devices/import")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), StatusCode::OK);
    // 600 redirected (one of them refused first), 100 refused; the rest never sent.
    for n in 0..700 {
        if n == 0 {
            store
                .record_rps_history(&redirect(n, "rejected", "earlier refusal"))
                .await
                .unwrap();
        }
        let e = if n < 600 {
            redirect(n, "ok", "Operation success")
        } else {
            redirect(n, "rejected", "owned by another account")
        };
        store.record_rps_history(&e).await.unwrap();
    }
    let cookie = session_cookie(&app).await;

    let (all, _) = page(&app, &cookie, "/ui/devices").await;
    assert!(all.contains("(1,600)"), "total");
    assert_eq!(all.matches("data-mac=").count(), 50, "one page");
    assert!(all.contains(">Redirected<"), "RPS column");

    let (filtered, took) = page(&app, &cookie, "/ui/devices?show=not_redirected").await;
    assert!(filtered.contains("(1,000 of 1,600)"), "filtered count");
    assert!(
        !filtered.contains(">Redirected<"),
        "a redirected phone in the filter"
    );
    assert!(filtered.contains("owned by another account"), "the reason");
    assert!(
        took < Duration::from_secs(3),
        "not redirected took {took:?}"
    );

    // The rows fragment (search as you type) brings the count along.
    let (rows, took) = page(
        &app,
        &cookie,
        "/ui/devices/rows?show=not_redirected&q=00156500026",
    )
    .await;
    // 0x260..=0x26f: 608..=623, all beyond the redirected 600 and some refused.
    assert!(rows.contains("(16 of 1,600)"), "{rows}");
    assert!(took < Duration::from_secs(3), "rows took {took:?}");
    let (german, _) = {
        let answer = app
            .client
            .get(format!("{}/ui/devices?show=never_fetched", app.base))
            .header(reqwest::header::COOKIE, &cookie)
            .header("accept-language", "de")
            .send()
            .await
            .unwrap();
        (answer.text().await.unwrap(), ())
    };
    assert!(german.contains("(1.600 von 1.600)"), "German count");
    app.stop().await;
}
