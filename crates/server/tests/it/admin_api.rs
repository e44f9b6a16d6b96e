//! The admin API: credential, validation errors, secrets masked, paging, OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{device_json, spawn_app};

#[tokio::test]
async fn api_requires_the_admin_credential() {
    let app = spawn_app().await;
    for auth in [None, Some("Bearer wrong"), Some("Basic YWRtaW46d3Jvbmc=")] {
        let mut request = app.client.get(format!("{}/api/v1/devices", app.base));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
    }
    let doc: Value = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/devices/{mac}"]["patch"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn every_documented_path_exists() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aadd09", "509")).await;
    let doc: Value = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        if !item["get"].is_object() {
            continue;
        }
        let concrete = path
            .replace("{mac}", "805ec0aadd09")
            .replace("{file}", "boot")
            .replace("{id}", "1");
        let response = app.api(Method::GET, &concrete).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "GET {concrete}");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_loses_nothing() {
    let app = spawn_app().await;
    let mut bad = device_json("00:15:65:zz:00:01", "501");
    let response = app
        .api(Method::POST, "/devices")
        .json(&bad)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["field"], "mac");
    assert!(
        body["error"].as_str().expect("msg").contains("hex"),
        "{body}"
    );

    bad["mac"] = json!("001565000001");
    bad["registrar"] = json!("pbx:70000");
    let body: Value = app
        .api(Method::POST, "/devices")
        .json(&bad)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(body["field"], "registrar");

    let response = app
        .api(Method::POST, "/devices")
        .header("content-type", "application/json")
        .body("{\"mac\": ")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.expect("json")["error"].is_string());

    app.add_device(device_json("001565000002", "502")).await;
    let response = app
        .api(Method::POST, "/devices")
        .json(&device_json("00-15-65-00-00-02", "503"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["error"],
        "a device with MAC 001565000002 already exists"
    );
    // The first device is untouched.
    let device = app.device("001565000002").await;
    assert_eq!(device["sip_user"], "502");

    let response = app
        .api(Method::PATCH, "/settings")
        .json(&json!({"time_zone": "Mars/Olympus"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.json::<Value>().await.expect("json")["field"],
        "time_zone"
    );

    let response = app
        .api(Method::GET, "/devices/001565999999")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn secrets_are_masked_in_answers() {
    let app = spawn_app().await;
    let added = app.add_device(device_json("805ec0aadd01", "510")).await;
    let listed: Value = app
        .api(Method::GET, "/devices")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let shown = app.device("805ec0aadd01").await;
    let revealed = app.revealed("805ec0aadd01").await;
    let http_password = revealed["http_password"].as_str().expect("pw");
    let token = revealed["provisioning_url"]
        .as_str()
        .expect("url")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned();
    for answer in [&added, &listed, &shown] {
        let text = answer.to_string();
        assert!(!text.contains("sip-secret-510"), "{text}");
        assert!(!text.contains(http_password));
        assert!(!text.contains(&token));
    }
    // Even revealed, the API never returns the SIP password.
    assert!(!revealed.to_string().contains("sip-secret-510"));
    let rendered = app
        .api(Method::GET, "/devices/805ec0aadd01/files/cfg")
        .send()
        .await
        .expect("render")
        .text()
        .await
        .expect("text");
    assert!(rendered.contains("account.1.user_name = 510"), "{rendered}");
    assert!(!rendered.contains("sip-secret-510"));
    assert!(!rendered.contains(http_password));
    app.stop().await;
}

#[tokio::test]
async fn list_searches_sorts_and_pages() {
    let app = spawn_app().await;
    let csv: String = std::iter::once("mac,sip_user,sip_password,registrar,name".to_owned())
        .chain((0..120).map(|i| format!("805ec001{i:04x},{},pw{i},pbx.test,desk-{i:03}", 600 + i)))
        .chain(std::iter::once("not-a-mac,1,2,pbx".to_owned()))
        .collect::<Vec<_>>()
        .join("\n");
    let report: Value = app
        .api(Method::POST, "/devices/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import")
        .json()
        .await
        .expect("json");
    assert_eq!(report["imported"], 120);
    assert_eq!(report["rejected"], 1);
    assert_eq!(report["rows"][120]["line"], 122);

    let page: Value = app
        .api(
            Method::GET,
            "/devices?limit=50&offset=100&sort=name&desc=true",
        )
        .send()
        .await
        .expect("page")
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 120);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 20);
    assert_eq!(items[0]["name"], "desk-019");
    let found: Value = app
        .api(Method::GET, "/devices?search=DESK-11")
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(found["total"], 10);
    app.stop().await;
}

#[tokio::test]
async fn health_and_metrics() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.expect("text").contains("devices"));
    app.stop().await;
}
