//! The audit of changes through the API: who did what, filtered by MAC, and no secret values.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{device_json, spawn_app};

const SIP_SECRET: &str = "Audit-Sip-Secret-4711";
const RPS_SECRET: &str = "Audit-Rps-Secret-0815";

#[tokio::test]
async fn changes_record_who_did_what_without_secret_values() {
    let app = spawn_app().await;
    let mac = "805ec0aaee71";
    app.add_device(device_json(mac, "771")).await;
    app.add_device(device_json("805ec0aaee72", "772")).await;
    let response = app
        .api(Method::PATCH, &format!("/devices/{mac}"))
        .json(&json!({"sip_password": SIP_SECRET, "registrar": "pbx2.example.test"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .api(Method::PATCH, "/settings")
        // A secret comes with its user name (refused alone).
        .json(&json!({"rps_username": "audit-user", "rps_secret": RPS_SECRET, "update_interval_minutes": 17}))
        .send()
        .await
        .expect("settings");
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .api(Method::POST, &format!("/devices/{mac}/redirect"))
        .send()
        .await
        .expect("redirect");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = app
        .api(Method::DELETE, &format!("/devices/{mac}"))
        .send()
        .await
        .expect("delete");
    assert!(response.status().is_success());

    let raw = app
        .api(Method::GET, "/changes")
        .send()
        .await
        .expect("changes")
        .text()
        .await
        .expect("body");
    for secret in [SIP_SECRET, RPS_SECRET, "sip-secret-771"] {
        assert!(!raw.contains(secret), "{secret} in the audit: {raw}");
    }
    let all: Value = serde_json::from_str(&raw).expect("json");
    let settings = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| {
            e["action"] == "settings_changed"
                && e["summary"]
                    .as_str()
                    .is_some_and(|s| s.contains("rps_secret"))
        })
        .unwrap_or_else(|| panic!("no settings change naming rps_secret: {all}"));
    assert!(
        settings["summary"]
            .as_str()
            .is_some_and(|s| s.contains("update_interval_minutes")),
        "{settings}"
    );
    assert_eq!(settings["actor"]["kind"], "api");
    assert_eq!(settings["actor_kind"], "api");

    let of_mac: Value = app
        .api(Method::GET, &format!("/changes?mac={mac}"))
        .send()
        .await
        .expect("changes of mac")
        .json()
        .await
        .expect("json");
    let items = of_mac["items"].as_array().expect("items");
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    // Newest first.
    assert_eq!(
        actions,
        [
            "device_removed",
            "redirect_resent",
            "device_edited",
            "device_added"
        ]
    );
    assert_eq!(of_mac["total"], 4);
    assert_eq!(items[2]["summary"], "sip_password, registrar");
    assert!(
        items
            .iter()
            .all(|e| e["mac"] == mac && e["actor_kind"] == "api")
    );

    let bad = app
        .api(Method::GET, "/changes?mac=not-a-mac")
        .send()
        .await
        .expect("bad mac");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}
