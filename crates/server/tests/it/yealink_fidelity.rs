//! What a real phone needs beyond our own simulator's notes. The keys
//! and values are the ones `docs/yealink-parameters.md` cites from Yealink's templates.

use prov_sim::SimPhone;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{device_json, spawn_app};

const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2EtZm9yLXRlc3RzLW9ubHk=\n-----END CERTIFICATE-----\n";

#[tokio::test]
async fn settings_reach_the_phone_in_its_dialect() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb31", "301")).await;
    let url = app.revealed("805ec0aabb31").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let response = app
        .api(Method::PATCH, "/settings")
        .json(&json!({
            "ntp_servers": ["ntp1.example.test"],
            "ice": true,
            "backup_registrar": "pbx2.example.test:5070",
            "firmware_urls": {"T46U": "https://fw.example.test/T46U-108.87.0.10.rom"},
            "ca_certificate": CA_PEM,
        }))
        .send()
        .await
        .expect("patch");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let mut phone = SimPhone::new("805ec0aabb31", "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(&url, None);
    phone.provision().await.expect("provisions");
    let p = phone.params();
    let param = |k: &str| p.get(k).map(String::as_str);
    // T4xU runs V83+ firmware: the ICE key is static.ice.enable, and ice.enable is not sent.
    assert_eq!(param("static.ice.enable"), Some("1"));
    assert_eq!(param("ice.enable"), None);
    assert_eq!(param("local_time.manual_ntp_srv_prior"), Some("1"));
    assert_eq!(
        param("static.auto_provision.custom.upload_method"),
        Some("0")
    );
    assert_eq!(
        param("account.1.sip_server.2.address"),
        Some("pbx2.example.test")
    );
    assert_eq!(param("account.1.sip_server.2.port"), Some("5070"));
    assert_eq!(
        param("static.firmware.url"),
        Some("https://fw.example.test/T46U-108.87.0.10.rom")
    );
    // T46U has 16 accounts (wazo-provd-plugins' _NB_SIP_ACCOUNTS): 2..16 are switched off.
    assert_eq!(param("account.2.enable"), Some("0"));
    assert_eq!(param("account.16.enable"), Some("0"));
    assert_eq!(param("account.17.enable"), None);
    let ca_url = format!("{url}ca.pem");
    assert_eq!(
        param("static.trusted_certificates.url"),
        Some(ca_url.as_str())
    );
    assert_eq!(param("static.security.ca_cert"), Some("2"));
    assert_eq!(param("static.security.trust_certificates"), Some("1"));

    // The CA is served under the phone's own token path, and only there.
    let response = reqwest::get(&ca_url).await.expect("get ca");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("pem"), CA_PEM);
    let response = reqwest::get(format!("{}/prov/not-a-token/ca.pem", app.base))
        .await
        .expect("get ca without token");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Media relay switches ICE off whatever `ice` says.
    let response = app
        .api(Method::PATCH, "/settings")
        .json(&json!({"media_relay": true}))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), 200);
    phone.provision().await.expect("second run");
    assert_eq!(
        phone.params().get("static.ice.enable").map(String::as_str),
        Some("0")
    );

    // A device override of the backup registrar wins.
    let response = app
        .api(Method::PATCH, "/devices/805ec0aabb31")
        .json(&json!({"overrides": {"backup_registrar": "pbx3.example.test"}}))
        .send()
        .await
        .expect("patch device");
    assert_eq!(response.status(), 200);
    phone.provision().await.expect("third run");
    assert_eq!(
        phone
            .params()
            .get("account.1.sip_server.2.address")
            .map(String::as_str),
        Some("pbx3.example.test")
    );
    app.stop().await;
}

#[tokio::test]
async fn classic_family_gets_ice_enable() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aabb32", "302")).await;
    let url = app.revealed("805ec0aabb32").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let mut phone = SimPhone::new("805ec0aabb32", "T46S", "66.86.0.15").expect("phone");
    phone.set_provisioning_server(&url, None);
    phone.provision().await.expect("provisions");
    let p = phone.params();
    // Default: ICE off (factory value), under the T4xS template's name.
    assert_eq!(p.get("ice.enable").map(String::as_str), Some("0"));
    assert_eq!(p.get("static.ice.enable"), None);
    app.stop().await;
}

#[tokio::test]
async fn bad_settings_are_refused_with_the_field() {
    let app = spawn_app().await;
    for (body, needle) in [
        (
            json!({"firmware_urls": {"T23P": "https://fw/a.rom", "T23G": "https://fw/b.rom"}}),
            "share the common file",
        ),
        (
            json!({"firmware_urls": {"T99X": "https://fw/a.rom"}}),
            "unknown Yealink model",
        ),
        (
            json!({"firmware_urls": {"T46U": "ftp://fw/a.rom"}}),
            "http(s)",
        ),
        (json!({"ca_certificate": "not a certificate"}), "PEM"),
        (
            json!({"ca_certificate": format!("{CA_PEM}-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")}),
            "private key",
        ),
        (json!({"backup_registrar": "pbx two"}), "backup_registrar"),
        (json!({"backup_registrar": "pbx2:0"}), "backup_registrar"),
    ] {
        let response = app
            .api(Method::PATCH, "/settings")
            .json(&body)
            .send()
            .await
            .expect("patch");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {text}");
        assert!(text.contains(needle), "{body}: {text}");
    }
    app.stop().await;
}

/// Firmware V80 and older does not know the `static.` names: such models are refused by
/// name, both when entered and when such a phone asks for files.
#[tokio::test]
async fn legacy_models_are_refused_clearly() {
    let app = spawn_app().await;
    let mut body = device_json("805ec0aabb33", "303");
    body["model"] = json!("T38G");
    let response = app
        .api(Method::POST, "/devices")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = response.text().await.unwrap_or_default();
    assert!(text.contains("V80"), "{text}");

    app.add_device(device_json("805ec0aabb34", "304")).await;
    let url = app.revealed("805ec0aabb34").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let response = reqwest::Client::new()
        .get(format!("{url}805ec0aabb34.cfg"))
        .header(
            "User-Agent",
            "Yealink SIP-T38G 38.70.0.125 80:5e:c0:aa:bb:34",
        )
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .text()
            .await
            .unwrap_or_default()
            .contains("not supported")
    );
    app.stop().await;
}
