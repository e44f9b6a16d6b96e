//! A simulated factory-fresh phone provisions against the real server.

use prov_sim::SimPhone;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, device_json, spawn_app, spawn_app_on};

async fn phone_gets_a_working_configuration(backend: Backend) {
    let Some(app) = spawn_app_on(backend).await else {
        return;
    };
    let mac = "80:5E:C0:AA:BB:01";
    app.add_device(device_json(mac, "201")).await;
    let device = app.revealed("805ec0aabb01").await;
    let url = device["provisioning_url"].as_str().expect("url");
    assert!(url.starts_with(&format!("{}/prov/", app.base)), "{url}");

    let mut phone = SimPhone::new(mac, "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(url, None);
    let run = phone.provision().await.expect("provisions");

    let fetched: Vec<(&str, u16)> = run
        .requests
        .iter()
        .map(|f| (f.file.as_str(), f.status))
        .collect();
    assert_eq!(fetched[0], ("805ec0aabb01.boot", 200), "{fetched:?}");
    assert!(fetched.contains(&("y000000000108.cfg", 200)), "{fetched:?}");
    assert!(fetched.contains(&("805ec0aabb01.cfg", 200)), "{fetched:?}");
    assert_eq!(
        run.applied_files.first().map(String::as_str),
        Some("y000000000108.cfg")
    );

    let p = phone.params();
    assert_eq!(p.get("account.1.enable").map(String::as_str), Some("1"));
    assert_eq!(
        p.get("account.1.user_name").map(String::as_str),
        Some("201")
    );
    assert_eq!(
        p.get("account.1.auth_name").map(String::as_str),
        Some("201")
    );
    assert_eq!(
        p.get("account.1.password").map(String::as_str),
        Some("sip-secret-201")
    );
    assert_eq!(
        p.get("account.1.sip_server.1.address").map(String::as_str),
        Some("pbx.example.test")
    );
    assert_eq!(
        p.get("account.1.sip_server.1.port").map(String::as_str),
        Some("5060")
    );
    assert_eq!(
        p.get("static.auto_provision.server.url")
            .map(String::as_str),
        Some(url)
    );
    assert_eq!(
        p.get("static.auto_provision.pnp_enable")
            .map(String::as_str),
        Some("0")
    );
    let admin = p
        .get("static.security.user_password")
        .expect("admin password set");
    assert!(
        admin.starts_with("admin:") && admin != "admin:admin",
        "{admin}"
    );

    // The Devices tab state, as in the original app.
    let device = app
        .wait_for_device("805ec0aabb01", |d| {
            d["status"]["phone_requests"] == "Provisioned"
        })
        .await;
    assert!(device["status"]["last_config_request"].is_string());
    assert_eq!(device["status"]["model_seen"], "T46U");
    assert_eq!(device["status"]["firmware_seen"], "108.86.0.90");
    assert_eq!(device["status"]["last_ip"], "127.0.0.1");

    // The phone adopted the URL from its config and keeps working at its next periodic check.
    let again = phone.provision().await.expect("second run");
    assert!(
        again
            .requests
            .iter()
            .all(|f| f.status == 200 || f.status == 404)
    );
    app.stop().await;
}

#[tokio::test]
async fn phone_gets_a_working_configuration_sqlite() {
    phone_gets_a_working_configuration(Backend::Sqlite).await;
}

#[tokio::test]
async fn phone_gets_a_working_configuration_postgres() {
    phone_gets_a_working_configuration(Backend::Postgres).await;
}

#[tokio::test]
async fn phone_with_digest_credentials_on_the_shared_url() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb02", "202")).await;
    let device = app.revealed("805ec0aabb02").await;
    let password = device["http_password"].as_str().expect("pw").to_owned();
    let mut phone = SimPhone::new("805ec0aabb02", "T54W", "96.86.0.10").expect("phone");
    phone.set_provisioning_server(
        &format!("{}/prov/", app.base),
        Some(("805ec0aabb02".to_owned(), password)),
    );
    let run = phone.provision().await.expect("provisions with Digest");
    assert!(
        run.requests.iter().any(|f| f.status == 401),
        "a challenge came first"
    );
    assert!(
        run.requests
            .iter()
            .any(|f| f.file == "805ec0aabb02.cfg" && f.status == 200)
    );
    assert_eq!(
        phone
            .params()
            .get("account.1.user_name")
            .map(String::as_str),
        Some("202")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_settings_change_reaches_the_next_fetch() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb03", "203")).await;
    let url = app.revealed("805ec0aabb03").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let mut phone = SimPhone::new("805ec0aabb03", "T33G", "124.86.0.40").expect("phone");
    phone.set_provisioning_server(&url, None);
    phone.provision().await.expect("first run");
    assert_eq!(
        phone
            .params()
            .get("account.1.sip_server.1.transport_type")
            .map(String::as_str),
        Some("1"),
        "TCP by default"
    );

    let response = app
        .api(Method::PATCH, "/settings")
        .json(&json!({"time_zone": "Europe/Berlin", "location": "DE", "sip_transport": "tls"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    phone.provision().await.expect("second run");
    let p = phone.params();
    assert_eq!(
        p.get("local_time.time_zone_name").map(String::as_str),
        Some("Germany(Berlin)")
    );
    assert_eq!(p.get("lang.gui").map(String::as_str), Some("German"));
    assert_eq!(
        p.get("account.1.sip_server.1.transport_type")
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(
        p.get("account.1.sip_server.1.port").map(String::as_str),
        Some("5060"),
        "an explicit registrar port is kept"
    );
    assert_eq!(
        p.get("account.1.srtp_encryption").map(String::as_str),
        Some("2")
    );

    // A per-device override wins over the global setting.
    let response = app
        .api(Method::PATCH, "/devices/805ec0aabb03")
        .json(&json!({"overrides": {"time_zone": "America/New_York", "location": "US"}}))
        .send()
        .await
        .expect("patch device");
    assert_eq!(response.status(), 200);
    phone.provision().await.expect("third run");
    let p = phone.params();
    assert_eq!(
        p.get("local_time.time_zone").map(String::as_str),
        Some("-5")
    );
    assert_eq!(p.get("lang.gui").map(String::as_str), Some("English"));
    app.stop().await;
}

#[tokio::test]
async fn local_cfg_upload_is_kept() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb04", "204")).await;
    let url = app.revealed("805ec0aabb04").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let mut phone = SimPhone::new("805ec0aabb04", "CP925", "148.86.0.5").expect("phone");
    phone.set_provisioning_server(&url, None);
    phone.provision().await.expect("provisions");
    let body = "#!version:1.0.0.1\nlinekey.2.label = Reception\n";
    assert_eq!(phone.upload_local_cfg(body).await.expect("upload"), 200);
    let stored = app
        .api(Method::GET, "/devices/805ec0aabb04/files/local")
        .send()
        .await
        .expect("get local");
    assert_eq!(stored.status(), 200);
    assert_eq!(stored.text().await.expect("text"), body);
    // The phone downloads it back at its next run (custom.sync) and keeps the value.
    phone.provision().await.expect("second run");
    assert_eq!(
        phone.params().get("linekey.2.label").map(String::as_str),
        Some("Reception")
    );
    app.stop().await;
}

#[tokio::test]
async fn five_models_provision() {
    let app = spawn_app().await;
    let phones = [
        (
            "805ec0000011",
            "T46U",
            "108.86.0.90",
            Some("y000000000108.cfg"),
        ),
        (
            "805ec0000012",
            "T54W",
            "96.86.0.70",
            Some("y000000000096.cfg"),
        ),
        (
            "805ec0000013",
            "T33G",
            "124.86.0.40",
            Some("y000000000124.cfg"),
        ),
        (
            "805ec0000014",
            "CP925",
            "148.86.0.5",
            Some("y000000000148.cfg"),
        ),
        (
            "805ec0000015",
            "W70B",
            "146.85.0.5",
            Some("y000000000146.cfg"),
        ),
    ];
    for (i, (mac, model, firmware, common)) in phones.iter().enumerate() {
        app.add_device(device_json(mac, &format!("30{i}"))).await;
        let url = app.revealed(mac).await["provisioning_url"]
            .as_str()
            .expect("url")
            .to_owned();
        let mut phone = SimPhone::new(mac, model, firmware).expect("phone");
        phone.set_provisioning_server(&url, None);
        let run = phone.provision().await.expect("provisions");
        if let Some(common) = common {
            assert!(
                run.applied_files.iter().any(|f| f == common),
                "{model}: {:?}",
                run.applied_files
            );
        }
        assert_eq!(
            phone
                .params()
                .get("account.1.user_name")
                .map(String::as_str),
            Some(format!("30{i}").as_str()),
            "{model}"
        );
    }
    app.stop().await;
}

/// Two instances on one PostgreSQL database: a device added on one is served by the other.
#[tokio::test]
async fn instances_sharing_postgres_serve_each_others_devices() {
    let Some(first) = spawn_app_on(Backend::Postgres).await else {
        return;
    };
    let second = crate::helpers::spawn_app_on_url(&first.database_url).await;
    first.add_device(device_json("805ec0aabb21", "221")).await;
    let url = first.revealed("805ec0aabb21").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    // Both instances share the settings, so the URL names the second instance's base URL;
    // the phone is pointed at the second instance explicitly.
    let path = url.split_once("/prov/").map(|(_, p)| p).expect("path");
    let mut phone = SimPhone::new("805ec0aabb21", "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(&format!("{}/prov/{path}", second.base), None);
    let mut served = false;
    for _ in 0..60 {
        if phone.provision().await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        served,
        "the second instance picked the device up from the change feed"
    );
    let device = first
        .wait_for_device("805ec0aabb21", |d| {
            d["status"]["phone_requests"] == "Provisioned"
        })
        .await;
    assert_eq!(device["status"]["model_seen"], "T46U");
    second.stop().await;
    first.stop().await;
}
