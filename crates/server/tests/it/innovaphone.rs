//! The innovaphone App Service flow end to end, on loopback: a simulated PBX connects to us,
//! simulated Users sends ProvisioningPhone, simulated Devices feeds the configuration over the
//! sysclient, RPS (simulated) redirects a simulated phone to us, and the PBX user object gets
//! its flags. The simulators were written from the protocol notes, not from our code.

use std::time::Duration;

use prov_core::config::{Config, StandardRpsAccount};
use prov_core::secret::Secret;
use prov_sim::SimPhone;
use prov_sim::innovaphone::{
    DevicesSim, LoginState, PbxConfig, PbxSim, PhoneRequest, ServicesShape, UsersLoginForm,
    UsersSim,
};
use prov_sim::rps::{RpsSim, RpsSimConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_on_url_with, spawn_app_with};

const PASSWORD: &str = "instance-password-4711";
const SIP_PASSWORD: &str = "users-sip-secret-0815";
const MAC: &str = "805ec0aaee01";
const CATEGORY: &str = "Yealink";
const WAIT: Duration = Duration::from_secs(15);

struct World {
    rps: RpsSim,
    devices: DevicesSim,
    pbx: PbxSim,
    app: TestApp,
    app_url: String,
}

fn configure(c: &mut Config, rps: &RpsSim) {
    c.rps = StandardRpsAccount {
        api: Some(rps::RpsApi::Xmlrpc),
        endpoint: Some(rps.xmlrpc_url()),
        username: Some("operator".into()),
        secret: Some(Secret::new("operator-secret")),
    };
    c.rps_rate_per_second = 1000;
    c.rps_timeout_secs = 2;
    c.innovaphone.password = Some(Secret::new(PASSWORD));
}

async fn world() -> World {
    world_with(true).await
}

/// `grant_devices`: whether the PBX offers the Devices API (devices-api in the Apps tab).
async fn world_with(grant_devices: bool) -> World {
    world_on(grant_devices, None).await
}

/// `database_url`: an existing database for the app; `None` for a fresh SQLite file.
async fn world_on(grant_devices: bool, database_url: Option<&str>) -> World {
    world_shaped(grant_devices, database_url, |_, _| {}).await
}

/// As [`world_on`]; `shape` adjusts the PBX (how it lists services, how it signs Users' login)
/// and the Devices URL it names, from the Devices simulator's App object URL.
async fn world_shaped(
    grant_devices: bool,
    database_url: Option<&str>,
    shape: impl FnOnce(&mut PbxConfig, &mut String),
) -> World {
    let rps = RpsSim::start(RpsSimConfig {
        xmlrpc_user: "operator".into(),
        xmlrpc_password: "operator-secret".into(),
        access_key_id: "AKID".into(),
        access_key_secret: "json-secret".into(),
    })
    .await
    .expect("rps sim");
    let devices = DevicesSim::start("example.com").await.expect("devices sim");
    devices.add_category(CATEGORY, prov_sim::innovaphone::example_items());
    let app = match database_url {
        Some(url) => spawn_app_on_url_with(url, |c| configure(c, &rps)).await,
        None => spawn_app_with(|c| configure(c, &rps)).await,
    };
    // Media relay on and SIP over TLS, so the user object's flags must change; no public base
    // URL, so the phones' URL comes from the App object URL the PBX tells us.
    let response = app
        .api(Method::PATCH, "/settings")
        .json(&json!({"public_base_url": null, "media_relay": true, "sip_transport": "tls"}))
        .send()
        .await
        .expect("settings");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let app_url = format!("{}/innovaphone-yealink", app.base);
    let mut config = PbxConfig::new(&app_url, PASSWORD);
    let mut devices_url = devices.websocket_url();
    shape(&mut config, &mut devices_url);
    let pbx = PbxSim::start(config, grant_devices.then_some(devices_url)).await;
    pbx.wait_logged_in(WAIT).await.expect("PBX logs in");
    pbx.wait_subscribed(WAIT)
        .await
        .expect("PBX Services subscribed");
    World {
        rps,
        devices,
        pbx,
        app,
        app_url,
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn user_device(pbx: &PbxSim, cn: &str, hw: &str) -> Option<Value> {
    pbx.user(cn)?["devices"]
        .as_array()?
        .iter()
        .find(|d| d["hw"] == hw)
        .cloned()
}

async fn add_phone(w: &World, cn: &str, mac: &str) -> prov_sim::innovaphone::ProvisionOutcome {
    UsersSim::add_phone(
        &w.pbx,
        &w.devices,
        &w.app_url,
        PASSWORD,
        cn,
        mac,
        CATEGORY,
        SIP_PASSWORD,
    )
    .await
    .expect("Users talks to the app")
}

/// A factory-fresh phone: asks RPS, then fetches its files from where RPS sent it.
async fn phone_from_rps(w: &World, mac: &str) -> SimPhone {
    let mut phone = SimPhone::new(mac, "T54W", "96.86.0.100").expect("phone");
    let rps = w.rps.base_url();
    eventually("RPS redirects the phone", async || {
        phone.ask_rps(&rps).await.unwrap_or(false)
    })
    .await;
    phone.provision().await.expect("the phone provisions");
    phone
}

#[tokio::test]
async fn profile_to_users_to_app_to_devices_to_phone_to_pbx() {
    let w = world().await;

    // The provider is published as the original does.
    eventually("AppInfoResult", async || w.pbx.app_info_result().is_some()).await;
    let info = w.pbx.app_info_result().expect("AppInfoResult");
    assert_eq!(
        info["serviceInfo"]["apis"]["com.innovaphone.provisioning"]["title"], "Yealink",
        "{info}"
    );
    // No `hidden`: this App object is also the administrators' myApps app (sdkprovisioning
    // sends no such flag).
    assert!(info["info"].get("hidden").is_none(), "{info}");
    // Another device of the user (an innovaphone phone) must be left exactly as it is.
    let desk =
        json!({"hw": "009033aabbcc", "text": "IP112", "app": "phone", "tls": true, "sreg": true});
    w.pbx.add_user("John Doe", "jdoe", vec![desk.clone()]);

    let outcome = add_phone(&w, "John Doe", MAC).await;
    assert_eq!(outcome.result, "ok", "{:?}", outcome.raw);

    // Devices knows the device and keeps the connection open.
    let known = w.devices.device(MAC).expect("Devices knows the phone");
    assert!(known.connected && known.has_password, "{known:?}");
    assert_eq!(known.last_identify.as_ref().unwrap()["other"], true);

    // Our Devices tab: Config Received; the phone has not asked yet.
    let device = w.app.device(MAC).await;
    assert_eq!(
        device["status"]["device_config"], "Config Received",
        "{device}"
    );
    assert_eq!(device["status"]["phone_requests"], "Not requested yet");
    assert_eq!(device["innovaphone"]["user_sip"], "jdoe", "{device}");
    assert_eq!(
        device["innovaphone"]["sysclient"]["status"], "connected",
        "{device}"
    );
    assert_eq!(device["sip_user"], "jdoe");
    assert_eq!(device["registrar"], "pbx.example.com");
    // The phones' base URL was learned from the App object URL.
    let revealed = w.app.revealed(MAC).await;
    let url = revealed["provisioning_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/prov/", w.app.base)), "{url}");

    // RPS redirects it; the phone fetches a working configuration.
    let phone = phone_from_rps(&w, MAC).await;
    let p = phone.params();
    let param = |k: &str| p.get(k).map(String::as_str);
    assert_eq!(param("account.1.user_name"), Some("jdoe"));
    assert_eq!(param("account.1.password"), Some(SIP_PASSWORD));
    assert_eq!(param("account.1.display_name"), Some("John Doe"));
    assert_eq!(
        param("account.1.sip_server.1.address"),
        Some("pbx.example.com")
    );
    assert_eq!(param("account.1.sip_server.1.transport_type"), Some("2"));
    assert_eq!(param("local_time.ntp_server1"), Some("ntp1.example.com"));
    assert_eq!(param("local_time.ntp_server2"), Some("ntp2.example.com"));
    assert_eq!(param("local_time.time_zone"), Some("+1"));
    assert_eq!(param("account.1.codec.g722.priority"), Some("1"));
    assert_eq!(param("account.1.codec.g722.enable"), Some("1"));
    assert_eq!(param("static.ice.enable"), Some("0"), "media relay: no ICE");
    // Devices' admin password for the domain's devices is the phone's web admin password.
    assert_eq!(
        param("static.security.user_password"),
        Some(
            format!(
                "admin:{}",
                prov_sim::innovaphone::devices::DEFAULT_ADMIN_PASSWORD
            )
            .as_str()
        )
    );

    // After the fetch the user object's device carries our flags; the other device is as it was.
    eventually("the PBX user object is updated", async || {
        user_device(&w.pbx, "John Doe", MAC).is_some_and(|d| d["mr"] == true)
    })
    .await;
    let ours = user_device(&w.pbx, "John Doe", MAC).unwrap();
    assert_eq!(ours["tls"], true, "{ours}");
    // Reverse Proxy is left as read by default: Users set it when it added the device (SDK
    // "Provisioning API" tutorial); clearing it broke phones behind a reverse proxy.
    assert_eq!(ours["trusted"], true, "{ours}");
    assert_eq!(ours["text"], "Yealink", "{ours}");
    assert_eq!(user_device(&w.pbx, "John Doe", "009033aabbcc"), Some(desk));

    // Devices tab: Provisioned with a timestamp; the update is recorded.
    let device = w
        .app
        .wait_for_device(MAC, |d| {
            d["status"]["phone_requests"] == "Provisioned"
                && d["innovaphone"]["pbx_update"]["ok"] == true
        })
        .await;
    assert!(
        device["status"]["last_config_request"].is_string(),
        "{device}"
    );

    // A configuration change in Devices reaches the phone's next fetch.
    let mut phone = phone;
    w.devices.update_item(
        CATEGORY,
        json!({"type": "NTP", "ntp1": "ntp-new.example.com", "ntp2": "", "tz": "GMT0BST,M3.5.0/1,M10.5.0"}),
    );
    eventually("the update reaches the phone", async || {
        phone.provision().await.is_ok()
            && phone
                .params()
                .get("local_time.ntp_server1")
                .map(String::as_str)
                == Some("ntp-new.example.com")
    })
    .await;
    assert_eq!(
        phone
            .params()
            .get("local_time.time_zone_name")
            .map(String::as_str),
        Some("United Kingdom(London)")
    );
    // The other items are still applied: the open connection does not keep the items in
    // memory (docs/benchmarks.md), so the update must be merged with the stored ones.
    assert_eq!(
        phone
            .params()
            .get("account.1.codec.g722.enable")
            .map(String::as_str),
        Some("1"),
        "the PHONE item was lost by the NTP update"
    );

    // No secret in what the API shows.
    let shown = w.app.device(MAC).await.to_string()
        + &w.app
            .api(Method::GET, "/innovaphone/status")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
        + &w.app
            .api(Method::GET, "/rps/history")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    for secret in [
        SIP_PASSWORD,
        PASSWORD,
        "turn-secret",
        prov_sim::innovaphone::devices::DEFAULT_ADMIN_PASSWORD,
    ] {
        assert!(!shown.contains(secret), "{secret} shown by the API");
    }
    w.app.stop().await;
}

/// What a real PBX may send and the first simulators never did: the Devices App object URL as
/// entered (`http://`, ending in the app's file name), Devices nested under `info.apis`, and
/// Users' login signed with `info.appobj` = our App object. "+ Phone" must complete in each.
#[tokio::test]
async fn a_real_pbx_shapes_of_services_and_users_login_all_provision_the_phone() {
    for (case, shape, http_url, users_login) in [
        (
            "documented, users' own appobj",
            ServicesShape::Documented,
            false,
            false,
        ),
        (
            "info.apis, http:// URL",
            ServicesShape::ApisNested,
            true,
            false,
        ),
        (
            "appobj = our App object",
            ServicesShape::Documented,
            false,
            true,
        ),
    ] {
        let w = world_shaped(true, None, |config, devices_url| {
            config.services_shape = shape;
            if users_login {
                config.users_login = UsersLoginForm::GrantingAppObject(config.app_sip.clone());
            }
            if http_url {
                *devices_url = devices_url.replacen("ws://", "http://", 1);
            }
        })
        .await;
        w.pbx.add_user("John Doe", "jdoe", vec![]);
        let outcome = add_phone(&w, "John Doe", MAC).await;
        assert_eq!(outcome.result, "ok", "{case}: {:?}", outcome.raw);
        let known = w.devices.device(MAC).expect("Devices knows the phone");
        assert!(known.connected && known.has_password, "{case}: {known:?}");
        // Nothing ever asked for a path below the App object URL.
        assert!(
            w.devices
                .events()
                .iter()
                .all(|e| !e.contains("handshake refused")),
            "{case}: {:?}",
            w.devices.events()
        );
        let device = w.app.device(MAC).await;
        assert_eq!(
            device["status"]["device_config"], "Config Received",
            "{case}: {device}"
        );
    }
}

/// ProvisioningPhone is answered whatever the connection: before a login it is refused with
/// the reason, not dropped.
#[tokio::test]
async fn provisioning_phone_before_a_login_gets_a_failed_answer() {
    use futures::{SinkExt, StreamExt};
    let app = app_with_limits(|_| {}).await;
    let mut ws = raw_connect(&app).await.expect("connect");
    ws.send(text(
        json!({"mt": "ProvisioningPhone", "src": "p9", "mac": MAC, "code": "1",
                        "usename": "x", "dns": "pbx.example.com"}),
    ))
    .await
    .expect("send");
    let answer = loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                break serde_json::from_str::<Value>(t.as_str()).expect("JSON");
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("no answer: {other:?}"),
        }
    };
    assert_eq!(answer["mt"], "ProvisioningPhoneResult", "{answer}");
    assert_eq!(answer["src"], "p9", "{answer}");
    assert_eq!(answer["result"], "failed", "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("AppLogin"),
        "{answer}"
    );
}

#[tokio::test]
async fn pbx_disconnects_devices_and_app_restart_lose_no_phone() {
    let w = world().await;
    w.pbx.add_user("Jane Roe", "jroe", vec![]);
    assert_eq!(add_phone(&w, "Jane Roe", MAC).await.result, "ok");

    // The PBX drops the connection: it logs in again, and the phone's sysclient stays.
    let before = w.pbx.connections();
    w.pbx.disconnect();
    eventually("the PBX is back", async || {
        w.pbx.connections() > before && w.pbx.login_state() == LoginState::LoggedIn
    })
    .await;
    assert!(w.devices.device(MAC).unwrap().connected);

    // Devices restarts: we reconnect by challenge and get the configuration again.
    let connections = w.devices.device(MAC).unwrap().connections;
    w.devices.restart().await;
    eventually("the sysclient reconnected", async || {
        w.devices
            .device(MAC)
            .is_some_and(|d| d.connected && d.connections > connections)
    })
    .await;
    let identify = w.devices.device(MAC).unwrap().last_identify.unwrap();
    assert!(identify.get("provisioningCode").is_none(), "{identify}");

    // Our own restart: every stored phone reconnects at start-up.
    let database_url = w.app.database_url.clone();
    let _kept = w.app.stop_keeping_data().await;
    eventually("Devices saw us go", async || {
        !w.devices.device(MAC).unwrap().connected
    })
    .await;
    let connections = w.devices.device(MAC).unwrap().connections;
    let app = spawn_app_on_url_with(&database_url, |c| configure(c, &w.rps)).await;
    eventually("the sysclient is back after our restart", async || {
        w.devices
            .device(MAC)
            .is_some_and(|d| d.connected && d.connections > connections)
    })
    .await;

    // And an update still arrives (the PBX reconnects to the new instance by itself? No: it
    // keeps dialling the old URL; the update path is sysclient only).
    w.devices.update_item(
        CATEGORY,
        json!({"type": "NTP", "ntp1": "after.example.com", "tz": "UTC0"}),
    );
    let revealed_url = app.revealed(MAC).await["provisioning_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut phone = SimPhone::new(MAC, "T54W", "96.86.0.100").unwrap();
    phone.set_provisioning_server(&revealed_url, None);
    eventually("the update after restarts reaches the phone", async || {
        phone.provision().await.is_ok()
            && phone
                .params()
                .get("local_time.ntp_server1")
                .map(String::as_str)
                == Some("after.example.com")
    })
    .await;
    app.stop().await;
}

/// Users provisions a phone again (another user), so Devices hands out a new code
/// for a phone that has a sysclient password. The phone is in a domain, so Devices challenges
/// first (sysclient.htm: the challenge comes "if already inside a domain"; the password comes
/// when the device "is added to a domain during this session"): we must answer with the old
/// password while presenting the new code, and use the new password from then on.
#[tokio::test]
async fn a_new_code_keeps_the_old_sysclient_password_until_devices_sends_the_new_one() {
    let w = world().await;
    w.pbx.add_user("Jane Roe", "jroe", vec![]);
    assert_eq!(add_phone(&w, "Jane Roe", MAC).await.result, "ok");
    assert_eq!(w.devices.device(MAC).unwrap().passwords_issued, 1);

    w.pbx.add_user("Max Muster", "mmuster", vec![]);
    let outcome = add_phone(&w, "Max Muster", MAC).await;
    let events = w.devices.events();
    assert_eq!(outcome.result, "ok", "{:?} {events:#?}", outcome.raw);
    let said = |text: &str| events.iter().filter(|e| e.contains(text)).count();
    // Challenged with the code, answered with the old password, then the new one sent.
    assert_eq!(
        said("known device presented a provisioning code, challenge sent first"),
        1,
        "{events:#?}"
    );
    assert_eq!(
        said("answered the challenge and re-provisioned"),
        1,
        "{events:#?}"
    );
    assert_eq!(said("wrong digest"), 0, "{events:#?}");
    let device = w.devices.device(MAC).unwrap();
    assert_eq!(device.passwords_issued, 2, "{events:#?}");
    let identify = device.last_identify.clone().unwrap();
    assert!(
        identify.get("provisioningCode").is_some() && identify.get("digest").is_some(),
        "the answer to the challenge still presents the new code: {identify}"
    );

    // Devices restarts: the reconnect, without a code now, must use the new password.
    w.devices.restart().await;
    eventually("the sysclient reconnected", async || {
        w.devices
            .device(MAC)
            .is_some_and(|d| d.connected && d.connections > device.connections)
    })
    .await;
    let identify = w.devices.device(MAC).unwrap().last_identify.unwrap();
    assert!(identify.get("provisioningCode").is_none(), "{identify}");
    let events = w.devices.events();
    assert!(
        !events.iter().any(|e| e.contains("wrong digest")),
        "{events:#?}"
    );
    assert_eq!(w.devices.device(MAC).unwrap().passwords_issued, 2);
    w.app.stop().await;
}

#[tokio::test]
async fn wrong_password_garbled_frames_and_bad_codes_give_clear_errors() {
    let w = world().await;

    // A PBX with the wrong instance password is refused (and keeps retrying, as PBXs do).
    let wrong = PbxSim::start(PbxConfig::new(&w.app_url, "not-the-password"), None).await;
    eventually("the wrong password is refused", async || {
        matches!(wrong.login_state(), LoginState::Failed(_))
    })
    .await;
    let err = UsersSim::connect(&w.app_url, "not-the-password", "example.com")
        .await
        .expect_err("Users with the wrong password is refused");
    assert!(err.to_string().contains("login failed"), "{err:#}");
    wrong.stop().await;

    // Garbage on the PBX connection is ignored; the connection and the flow keep working.
    w.pbx.send_raw("{this is not json".into());
    w.pbx.send_raw("[1,2,3]".into());
    w.pbx.add_user("Max Muster", "mmuster", vec![]);
    assert_eq!(add_phone(&w, "Max Muster", MAC).await.result, "ok");

    // A garbled sysclient frame is ignored too; the next update still applies.
    w.devices.send_raw(MAC, vec![0x07, 0x00]);
    w.devices.send_raw(MAC, vec![0x01, 0x00, 0x06, b'{']);
    w.devices.update_item(
        CATEGORY,
        json!({"type": "NTP", "ntp1": "garbage-survivor.example.com"}),
    );
    eventually("the update after garbage applies", async || {
        w.app.device(MAC).await["overrides"]["ntp_servers"][0] == "garbage-survivor.example.com"
    })
    .await;
    assert!(w.devices.device(MAC).unwrap().connected);
    // Tunnel frames are answered minimally; the probe repeats its receive as Devices may
    // ("until all data is read", sysclient.htm): one response per session, then its end.
    let seen = w.devices.tunnel_probe(MAC).await.expect("tunnel probe");
    let names: Vec<String> = seen.iter().map(|e| e.name()).collect();
    assert!(names.contains(&"send-result".to_owned()), "{names:?}");
    let count = |n: &str| names.iter().filter(|x| *x == n).count();
    assert_eq!(count("receive-result"), 1, "{names:?}");
    assert_eq!(count("shutdown"), 1, "{names:?}");

    // An unknown provisioning code: Users gets a reason a person can act on.
    let mut users = UsersSim::connect(&w.app_url, PASSWORD, "example.com")
        .await
        .expect("Users logs in");
    let outcome = users
        .provision_phone(PhoneRequest {
            mac: "805ec0aaee02".into(),
            code: "000000000000".into(),
            hwid: "805ec0aaee02".into(),
            usename: "mmuster".into(),
            cn: "Max Muster".into(),
            password: SIP_PASSWORD.into(),
            domain: "example.com".into(),
            dns: "pbx.example.com".into(),
        })
        .await
        .expect("answered");
    // Devices keeps the socket open and silent (not added to any domain): told by timeout.
    assert_eq!(outcome.result, "failed", "{:?}", outcome.raw);
    let text = outcome.error.unwrap_or_default();
    assert!(text.contains("refused or expired"), "{text}");
    assert!(!text.contains("did not answer"), "{text}");
    // A malformed MAC too, and nothing is stored for it.
    let outcome = users
        .provision_phone(PhoneRequest {
            mac: "not-a-mac".into(),
            code: "1".into(),
            hwid: String::new(),
            usename: "mmuster".into(),
            cn: "Max Muster".into(),
            password: SIP_PASSWORD.into(),
            domain: "example.com".into(),
            dns: "pbx.example.com".into(),
        })
        .await
        .expect("answered");
    assert_eq!(outcome.result, "failed");
    assert!(outcome.error.unwrap_or_default().contains("not a MAC"));
    users.close().await;
    w.app.stop().await;
}

#[tokio::test]
async fn without_the_devices_api_users_is_told_what_to_grant() {
    // The App object lacks devices-api in its Apps tab: ServicesInfo lists no Devices.
    let w = world_with(false).await;
    w.pbx.add_user("John Doe", "jdoe", vec![]);
    let outcome = add_phone(&w, "John Doe", MAC).await;
    assert_eq!(outcome.result, "failed");
    let text = outcome.error.unwrap_or_default();
    assert!(
        text.contains("Devices") && text.contains("devices-api"),
        "{text}"
    );
    // Once the grant is there, the same request works.
    w.pbx.set_devices_url(Some(w.devices.websocket_url()));
    eventually("the Devices URL arrives", async || {
        let status: Value = w
            .app
            .api(Method::GET, "/innovaphone/status")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["devices_url"].is_string()
    })
    .await;
    let outcome = add_phone(&w, "John Doe", MAC).await;
    assert_eq!(outcome.result, "ok", "{:?}", outcome.raw);
    w.app.stop().await;
}

#[tokio::test]
async fn one_instance_holds_a_phones_sysclient_and_another_takes_over_when_it_stops() {
    // Two instances on one database: PostgreSQL when configured, else one SQLite file.
    let pg = match std::env::var_os("TEST_DATABASE_URL") {
        Some(_) => crate::helpers::fresh_postgres_url().await,
        None => None,
    };
    let w = world_on(true, pg.as_deref()).await;
    w.pbx.add_user("Jane Roe", "jroe", vec![]);
    assert_eq!(add_phone(&w, "Jane Roe", MAC).await.result, "ok");
    let connections = w.devices.device(MAC).unwrap().connections;

    // B starts on the same database, with nothing pointing at it: A holds the phone's lease.
    let database_url = w.app.database_url.clone();
    let b = spawn_app_on_url_with(&database_url, |c| configure(c, &w.rps)).await;
    let status = |d: &Value| d["innovaphone"]["sysclient"]["status"].clone();
    eventually("B sees the phone held elsewhere", async || {
        status(&b.device(MAC).await) == "elsewhere"
    })
    .await;
    let shown = b.device(MAC).await;
    assert!(
        shown["innovaphone"]["sysclient"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("another yealink-prov instance")),
        "{shown}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let known = w.devices.device(MAC).unwrap();
    assert!(known.connected, "{known:?}");
    assert_eq!(known.connections, connections, "B opened a connection too");
    assert_eq!(status(&w.app.device(MAC).await), "connected");

    // A stops and releases its lease: B takes the phone over at its next try (10 s).
    let _a_data = w.app.stop_keeping_data().await;
    eventually("B takes the sysclient over", async || {
        w.devices
            .device(MAC)
            .is_some_and(|d| d.connected && d.connections > connections)
    })
    .await;
    eventually("B says connected", async || {
        status(&b.device(MAC).await) == "connected"
    })
    .await;
    let identify = w.devices.device(MAC).unwrap().last_identify.unwrap();
    assert!(identify.get("provisioningCode").is_none(), "{identify}");
    b.stop().await;
}

#[tokio::test]
async fn the_pbx_on_one_instance_users_and_the_phone_on_another_still_update_the_user_object() {
    // Decision 64: no sticky load balancing. The PBX is connected to A; Users' request and the
    // phone's fetch reach B, which has no PBX connection; A makes the PbxAdminApi update.
    let pg = match std::env::var_os("TEST_DATABASE_URL") {
        Some(_) => crate::helpers::fresh_postgres_url().await,
        None => None,
    };
    let w = world_on(true, pg.as_deref()).await;
    let b = spawn_app_on_url_with(&w.app.database_url, |c| configure(c, &w.rps)).await;
    let b_app_url = format!("{}/innovaphone-yealink", b.base);
    w.pbx.add_user("Jane Roe", "jroe", vec![]);
    let outcome = UsersSim::add_phone(
        &w.pbx,
        &w.devices,
        &b_app_url,
        PASSWORD,
        "Jane Roe",
        MAC,
        CATEGORY,
        SIP_PASSWORD,
    )
    .await
    .expect("Users talks to B");
    assert_eq!(outcome.result, "ok", "{:?}", outcome.raw);
    // B, which received the code, holds the phone's sysclient; A does not open a second one.
    let connections = w.devices.device(MAC).expect("known").connections;
    assert_eq!(
        b.device(MAC).await["innovaphone"]["sysclient"]["status"],
        "connected"
    );

    // The phone is sent to B (whatever URL RPS holds) and fetches its files there.
    let mut phone = SimPhone::new(MAC, "T54W", "96.86.0.100").expect("phone");
    let rps = w.rps.base_url();
    eventually("RPS redirects the phone", async || {
        phone.ask_rps(&rps).await.unwrap_or(false)
    })
    .await;
    assert!(phone.switch_host(&b.base), "redirected");
    phone
        .provision()
        .await
        .expect("the phone provisions from B");

    // A, the PBX's instance, makes the user-object update once.
    eventually("the user object is updated through A", async || {
        user_device(&w.pbx, "Jane Roe", MAC).is_some_and(|d| d["mr"] == true && d["tls"] == true)
    })
    .await;
    let device = b
        .wait_for_device(MAC, |d| d["innovaphone"]["pbx_update"]["ok"] == true)
        .await;
    assert!(
        device["innovaphone"]["pbx_update"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Media Relay on")),
        "{device}"
    );
    let updates = w
        .pbx
        .admin_requests()
        .iter()
        .filter(|r| r["mt"] == "UpdateObject")
        .count();
    assert_eq!(updates, 1, "one UpdateObject");
    assert_eq!(
        w.devices.device(MAC).expect("known").connections,
        connections,
        "still one sysclient connection"
    );
    b.stop().await;
    w.app.stop().await;
}

#[tokio::test]
async fn the_pbx_gone_between_provisioning_and_the_fetch_delays_the_user_object_update_only() {
    let w = world().await;
    w.pbx.add_user("John Doe", "jdoe", vec![]);
    assert_eq!(add_phone(&w, "John Doe", MAC).await.result, "ok");
    let user = w.pbx.user("John Doe").expect("user");
    let config = w.pbx.config().clone();
    // The PBX goes away mid-flow: after ProvisioningPhone, before the phone's first fetch.
    w.pbx.clone().stop().await;

    let mut phone = phone_from_rps(&w, MAC).await;
    assert_eq!(
        phone
            .params()
            .get("account.1.user_name")
            .map(String::as_str),
        Some("jdoe"),
        "the phone is provisioned without the PBX"
    );
    let failed = w
        .app
        .wait_for_device(MAC, |d| d["innovaphone"]["pbx_update"]["ok"] == false)
        .await;
    let text = failed["innovaphone"]["pbx_update"]["text"].to_string();
    assert!(text.contains("PbxAdminApi"), "{text}");

    // The PBX comes back (same user object): the update is made then, or at the next fetch.
    let pbx = PbxSim::start(config, Some(w.devices.websocket_url())).await;
    pbx.add_user(
        "John Doe",
        "jdoe",
        user["devices"].as_array().cloned().unwrap_or_default(),
    );
    pbx.wait_logged_in(WAIT).await.expect("PBX back");
    eventually(
        "the user object is updated once the PBX is back",
        async || {
            if user_device(&pbx, "John Doe", MAC).is_some_and(|d| d["mr"] == true) {
                return true;
            }
            let _ = phone.provision().await;
            false
        },
    )
    .await;
    let device = w
        .app
        .wait_for_device(MAC, |d| d["innovaphone"]["pbx_update"]["ok"] == true)
        .await;
    assert_eq!(device["status"]["device_config"], "Config Received");
    pbx.stop().await;
    w.app.stop().await;
}

#[tokio::test]
async fn app_check_login_is_ok_only_for_our_password() {
    let w = world().await;
    let mut users = UsersSim::connect(&w.app_url, PASSWORD, "example.com")
        .await
        .expect("logs in");
    // The PBX Manager's check of the App object's stored password: green tick only for ours.
    assert!(
        users
            .check_login("yealink", PASSWORD)
            .await
            .expect("answered")
    );
    assert!(
        !users
            .check_login("yealink", "not-the-password")
            .await
            .expect("answered"),
        "a wrong App object password must not look right"
    );
    users.close().await;
    w.app.stop().await;
}

#[tokio::test]
async fn reverse_proxy_setting_on_and_off_overrides_what_users_set() {
    let w = world().await;
    w.pbx.add_user("Erika Muster", "emuster", vec![]);
    let response = w
        .app
        .api(Method::PATCH, "/settings")
        .json(&json!({"pbx_reverse_proxy": "off"}))
        .send()
        .await
        .expect("settings");
    assert_eq!(response.status(), 200);
    assert_eq!(add_phone(&w, "Erika Muster", MAC).await.result, "ok");
    let _phone = phone_from_rps(&w, MAC).await;
    eventually("the PBX user object is updated", async || {
        user_device(&w.pbx, "Erika Muster", MAC).is_some_and(|d| d["mr"] == true)
    })
    .await;
    let ours = user_device(&w.pbx, "Erika Muster", MAC).unwrap();
    assert_eq!(ours["trusted"], false, "{ours}");
    w.app.stop().await;
}

/// An App Platform whose certificate comes from a private CA: `wss://` to Devices fails with the
/// operating system's store alone and works once `innovaphone.devices_ca_file` names the CA.
#[tokio::test]
async fn wss_to_devices_with_a_private_ca_needs_the_ca_file() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use yealink_prov::app_service::{devices_tls, sysclient};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key")).expect("ca");
    let server_key = KeyPair::generate().expect("server key");
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&server_key, &ca)
        .expect("server cert");
    let dir = tempfile::tempdir().expect("dir");
    let cert_path = dir.path().join("ap.pem");
    let key_path = dir.path().join("ap.key");
    let ca_path = dir.path().join("private-ca.pem");
    std::fs::write(&cert_path, server_cert.pem()).expect("write cert");
    std::fs::write(&key_path, server_key.serialize_pem()).expect("write key");
    std::fs::write(&ca_path, ca.pem()).expect("write ca");

    // Our own server's TLS listener stands in for the App Platform: any wss endpoint will do.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let app = spawn_app_with(|c| {
        c.listen_tls = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        c.tls_cert = Some(cert_path.clone());
        c.tls_key = Some(key_path.clone());
        c.innovaphone.password = Some(Secret::new(PASSWORD));
    })
    .await;
    let url = format!("wss://localhost:{port}/innovaphone-yealink");

    let os_only = devices_tls::client_config(None).expect("OS store");
    let mut refused = String::new();
    for _ in 0..50 {
        match sysclient::connect(&url, &os_only).await {
            Ok(_) => panic!("a private CA's certificate was trusted without the CA file"),
            Err(e) if e.contains("certificate") || e.contains("Certificate") => {
                refused = e;
                break;
            }
            // The listener may still be starting.
            Err(e) => {
                refused = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");

    let with_ca = devices_tls::client_config(Some(&ca_path)).expect("CA file");
    sysclient::connect(&url, &with_ca)
        .await
        .expect("wss works with the private CA");

    // A CA file that holds no certificate is a clear start-up error.
    std::fs::write(dir.path().join("empty.pem"), "").expect("write");
    let e = devices_tls::client_config(Some(&dir.path().join("empty.pem")))
        .expect_err("empty CA file")
        .to_string();
    assert!(e.contains("no PEM certificate"), "{e}");
    app.stop().await;
}

// --- The AppWebsocket endpoint before the login ---

/// A raw AppWebsocket client: no login, sends what the test says.
type RawWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

fn ws_url(app: &TestApp) -> String {
    format!("{}/innovaphone-yealink", app.base.replacen("http", "ws", 1))
}

/// Connects with a small receive buffer, so a client that does not read fills up quickly.
async fn raw_connect(app: &TestApp) -> Result<RawWs, tokio_tungstenite::tungstenite::Error> {
    raw_connect_with(app, None).await
}

/// As [`raw_connect`], from `source` when given (a loopback address other than 127.0.0.1
/// counts as another client).
async fn raw_connect_with(
    app: &TestApp,
    source: Option<&str>,
) -> Result<RawWs, tokio_tungstenite::tungstenite::Error> {
    let addr: std::net::SocketAddr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("loopback address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    if let Some(source) = source {
        socket
            .bind(format!("{source}:0").parse().expect("source address"))
            .expect("bind");
    }
    let tcp = socket.connect(addr).await.expect("tcp connect");
    tokio_tungstenite::client_async(ws_url(app), tcp)
        .await
        .map(|(ws, _)| ws)
}

fn text(v: Value) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::Text(v.to_string().into())
}

async fn app_with_limits(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|c| {
        c.innovaphone.password = Some(Secret::new(PASSWORD));
        adjust(c);
    })
    .await
}

#[tokio::test]
async fn a_peer_that_never_logs_in_is_closed_at_the_deadline_whatever_it_sends() {
    use futures::{SinkExt, StreamExt};
    let app = app_with_limits(|c| c.innovaphone.login_timeout_secs = 1).await;
    let mut ws = raw_connect(&app).await.expect("upgrade");
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(150));
    // KeepAlive and pings more often than the deadline: they must not extend it.
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let keepalive = ws.send(text(json!({"mt": "KeepAlive"}))).await;
                    let ping = ws.send(tokio_tungstenite::tungstenite::Message::Ping(vec![1].into())).await;
                    if keepalive.is_err() || ping.is_err() {
                        return;
                    }
                }
                next = ws.next() => match next {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "an unauthenticated socket sending KeepAlive stayed open past the 1 s login deadline"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    app.stop().await;
}

#[tokio::test]
async fn unauthenticated_sockets_are_capped_and_a_login_frees_a_place() {
    let app = app_with_limits(|c| c.innovaphone.max_unauthenticated = 3).await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(raw_connect(&app).await.expect("within the cap"));
    }
    match raw_connect(&app).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        Ok(_) => panic!("a 4th unauthenticated socket was accepted (cap 3)"),
        Err(e) => panic!("unexpected error: {e}"),
    }
    // Users counts as waiting until its login: refused too.
    let app_url = format!("{}/innovaphone-yealink", app.base);
    assert!(
        UsersSim::connect(&app_url, PASSWORD, "example.com")
            .await
            .is_err()
    );
    // One leaves: its place is free again, and a logged-in peer holds none.
    waiting.pop().expect("one").close(None).await.ok();
    let mut users = None;
    eventually("a place frees up once a socket closes", async || {
        if users.is_none() {
            users = UsersSim::connect(&app_url, PASSWORD, "example.com")
                .await
                .ok();
        }
        users.is_some()
    })
    .await;
    waiting.push(
        raw_connect(&app)
            .await
            .expect("the logged-in peer holds no place"),
    );
    if let Some(users) = users {
        users.close().await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_peer_that_does_not_read_cannot_grow_our_queue() {
    use futures::SinkExt;
    let app = app_with_limits(|c| c.innovaphone.outbox_limit = 8).await;
    let mut ws = raw_connect(&app).await.expect("upgrade");
    // Each AppChallenge is answered; we never read the answers. Without a bound the server
    // queues them for ever (until the login deadline, 30 s here); with it, it hangs up.
    let sent = tokio::time::timeout(Duration::from_secs(15), async {
        let mut sent = 0u64;
        loop {
            if ws.send(text(json!({"mt": "AppChallenge"}))).await.is_err() {
                return sent;
            }
            sent += 1;
            if sent.is_multiple_of(256) {
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
    assert!(
        sent.is_ok(),
        "the server kept reading AppChallenge from a peer that reads nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn one_address_holds_only_its_share_of_the_places_before_login() {
    let app = app_with_limits(|c| {
        c.innovaphone.max_unauthenticated = 8;
        c.innovaphone.max_unauthenticated_per_source = 2;
    })
    .await;
    let mut waiting = Vec::new();
    for _ in 0..2 {
        waiting.push(
            raw_connect_with(&app, Some("127.0.0.2"))
                .await
                .expect("within the share"),
        );
    }
    match raw_connect_with(&app, Some("127.0.0.2")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        Ok(_) => panic!("a 3rd socket from one address was accepted (share 2)"),
        Err(e) => panic!("unexpected error: {e}"),
    }
    // The PBX, from another address, still gets in and logs in.
    let app_url = format!("{}/innovaphone-yealink", app.base);
    let users = UsersSim::connect(&app_url, PASSWORD, "example.com")
        .await
        .expect("another address is not kept out by the first one's sockets");
    users.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_frame_longer_than_a_message_is_refused_from_its_header() {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let app = app_with_limits(|_| {}).await;
    let mut ws = raw_connect(&app).await.expect("upgrade");
    // A masked text frame announcing 15,000,000 bytes, then only a few of them: refused at
    // once, not read (or waited for) whole.
    let mut header = vec![0x81u8, 0x80 | 127];
    header.extend_from_slice(&15_000_000u64.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header.extend_from_slice(b"abcdefgh");
    ws.get_mut().write_all(&header).await.expect("write");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
                | None
                | Some(Err(_)) => {
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the socket stayed open waiting for a 15 MB frame"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_logged_in_appwebsocket_outlives_the_idle_timeout_of_its_http_connection() {
    // The listener closes HTTP connections with nothing in use after the header timeout; an
    // upgraded socket is no longer an HTTP connection and must stay.
    let app = app_with_limits(|c| c.limits.header_timeout_secs = 1).await;
    let app_url = format!("{}/innovaphone-yealink", app.base);
    let mut users = UsersSim::connect(&app_url, PASSWORD, "example.com")
        .await
        .expect("login");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        users
            .check_login("yealink", PASSWORD)
            .await
            .expect("still connected after 4 idle seconds"),
        "answered"
    );
    users.close().await;
    app.stop().await;
}
