//! The innovaphone simulators driven by tiny hand-rolled peers written here: a sysclient
//! (binary frames, digest, RC4 written in this file) against `DevicesSim`, and an AppWebsocket
//! server (challenge, digest check, session key) against `PbxSim` and `UsersSim`, so that
//! neither the simulators' crypto nor our server's is trusted.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use prov_sim::innovaphone::devices::DEFAULT_ADMIN_PASSWORD;
use prov_sim::innovaphone::{
    DevicesSim, LoginState, PbxConfig, PbxSim, PhoneRequest, UsersSim, example_items,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(3);
const MAC: &str = "001565aabbcc";
const PRODUCT: &str = "Yealink T54W";
const VERSION: &str = "96.86.0.100";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// RC4 again, written independently of the simulator's.
fn rc4(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut s: Vec<u8> = (0..=255).collect();
    let mut j = 0usize;
    for i in 0..256 {
        j = (j + s[i] as usize + key[i % key.len()] as usize) % 256;
        s.swap(i, j);
    }
    let (mut i, mut j) = (0usize, 0usize);
    data.iter()
        .map(|b| {
            i = (i + 1) % 256;
            j = (j + s[i] as usize) % 256;
            s.swap(i, j);
            b ^ s[(s[i] as usize + s[j] as usize) % 256]
        })
        .collect()
}

fn decrypt(seed: &str, secret: &str, hex_text: &str) -> String {
    let bytes = hex::decode(hex_text).unwrap();
    String::from_utf8(rc4(format!("{seed}:{secret}").as_bytes(), &bytes)).unwrap()
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

// ---------------------------------------------------------------------------------------------
// A hand-rolled sysclient.

struct Sysclient {
    ws: Ws,
}

#[derive(Debug)]
enum In {
    Admin(u16, Value),
    Tunnel(u32, u32, Vec<u8>),
}

impl Sysclient {
    async fn connect(url: &str) -> Sysclient {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap();
        Sysclient { ws }
    }

    async fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.unwrap();
    }

    async fn admin(&mut self, kind: u16, json: Value) {
        let mut bytes = vec![0x01];
        bytes.extend_from_slice(&kind.to_be_bytes());
        bytes.extend_from_slice(json.to_string().as_bytes());
        self.send_bytes(bytes).await;
    }

    async fn tunnel(&mut self, session: u32, event: u32, data: &[u8]) {
        let mut bytes = vec![0x02];
        bytes.extend_from_slice(&session.to_be_bytes());
        bytes.extend_from_slice(&event.to_be_bytes());
        bytes.extend_from_slice(data);
        self.send_bytes(bytes).await;
    }

    /// The next frame within `timeout`; None if the connection closed (or nothing came).
    async fn next_within(&mut self, timeout: Duration) -> Option<In> {
        loop {
            let msg = tokio::time::timeout(timeout, self.ws.next()).await.ok()??;
            match msg.ok()? {
                Message::Binary(b) => {
                    return Some(match b[0] {
                        1 => In::Admin(
                            u16::from_be_bytes([b[1], b[2]]),
                            serde_json::from_slice(&b[3..]).unwrap(),
                        ),
                        2 => In::Tunnel(
                            u32::from_be_bytes([b[1], b[2], b[3], b[4]]),
                            u32::from_be_bytes([b[5], b[6], b[7], b[8]]),
                            b[9..].to_vec(),
                        ),
                        other => panic!("frame type {other}"),
                    });
                }
                Message::Close(_) => return None,
                Message::Text(t) => panic!("text frame from Devices: {t}"),
                _ => {}
            }
        }
    }

    async fn expect_admin(&mut self, kind: u16) -> Value {
        match self.next_within(WAIT).await {
            Some(In::Admin(k, json)) if k == kind => json,
            other => panic!("expected admin 0x{kind:04x}, got {other:?}"),
        }
    }

    /// Configuration items until `last:true`.
    async fn configuration(&mut self) -> Vec<Value> {
        let mut items = Vec::new();
        loop {
            let msg = self.expect_admin(0x0006).await;
            items.push(msg["config"].clone());
            if msg["last"] == json!(true) {
                return items;
            }
            assert_eq!(msg["last"], json!(false));
        }
    }

    async fn expect_closed(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("connection still open"),
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(Some(Ok(other))) => panic!("expected a close, got {other:?}"),
            }
        }
    }
}

fn identify(code: Option<&str>, digest: Option<&str>, other: bool) -> Value {
    let mut id = json!({"id": MAC, "product": PRODUCT, "version": VERSION,
                        "platform": {"type": "PHONE"}});
    if let Some(code) = code {
        id["provisioningCode"] = json!(code);
    }
    if let Some(digest) = digest {
        id["digest"] = json!(digest);
    }
    if other {
        id["other"] = json!(true);
    }
    id
}

/// First connection with a fresh code: returns the client and the sysclient password.
async fn provision(devices: &DevicesSim, category: &str) -> (Sysclient, String, Vec<Value>) {
    let code = devices.issue_code(category);
    assert_eq!(code.len(), 12);
    let mut client = Sysclient::connect(&devices.sysclients_url()).await;
    client.admin(0, identify(Some(&code), None, true)).await;
    let password = client.expect_admin(0x0001).await["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = client.expect_admin(0x0003).await;
    assert_eq!(
        decrypt(
            admin["seed"].as_str().unwrap(),
            &password,
            admin["pwd"].as_str().unwrap()
        ),
        DEFAULT_ADMIN_PASSWORD
    );
    let items = client.configuration().await;
    (client, password, items)
}

async fn wait_disconnected(devices: &DevicesSim) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while devices.device(MAC).unwrap().connected {
        assert!(tokio::time::Instant::now() < deadline, "still connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn devices_first_connection_reconnect_and_update() {
    let devices = DevicesSim::start("example.com").await.unwrap();
    assert!(
        devices
            .websocket_url()
            .ends_with("/example.com/devices/innovaphone-devices-api")
    );
    assert!(
        devices
            .sysclients_url()
            .ends_with("/example.com/devices/sysclients")
    );
    devices.add_category("yealink", example_items());
    let (mut client, password, items) = provision(&devices, "yealink").await;
    assert_eq!(password.len(), 32);
    let types: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["PHONE", "MEDIA", "NTP", "TLS_PROFILE", "ALARM_SERVER"]
    );
    assert_eq!(items[0]["coder"], "G722");
    assert_eq!(items[1]["stunServer"], "stun.example.com:3478");
    let media = &items[1];
    assert_eq!(
        decrypt(
            media["turnSeed"].as_str().unwrap(),
            &password,
            media["turnPassword"].as_str().unwrap()
        ),
        "turn-secret"
    );
    let alarm = &items[4];
    assert_eq!(
        decrypt(
            alarm["logSeed"].as_str().unwrap(),
            &password,
            alarm["logPassword"].as_str().unwrap()
        ),
        "log-secret"
    );
    devices.wait_connected(MAC, WAIT).await.unwrap();
    let view = devices.device(MAC).unwrap();
    assert!(view.connected && view.has_password);
    assert_eq!((view.connections, view.category.as_str()), (1, "yealink"));
    assert_eq!(view.product, PRODUCT);

    // An update carries only the changed item.
    let mut ntp = items[2].clone();
    ntp["ntp1"] = json!("ntp.other.example.com");
    devices.update_item("yealink", ntp);
    let update = client.expect_admin(0x0006).await;
    assert_eq!(update["config"]["type"], "NTP");
    assert_eq!(update["config"]["ntp1"], "ntp.other.example.com");
    assert_eq!(update["last"], true);
    assert!(
        client
            .next_within(Duration::from_millis(100))
            .await
            .is_none()
    );

    // Reconnect: challenge, digest, configuration again (with the update).
    drop(client);
    wait_disconnected(&devices).await;
    let mut client = Sysclient::connect(&devices.sysclients_url()).await;
    client.admin(0, identify(None, None, true)).await;
    let challenge = client.expect_admin(0x0002).await["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let digest = sha256(&format!("{MAC}:{PRODUCT}:{VERSION}:{challenge}:{password}"));
    client.admin(0, identify(None, Some(&digest), true)).await;
    client.expect_admin(0x0003).await;
    let items = client.configuration().await;
    assert_eq!(items.len(), 5);
    assert_eq!(items[2]["ntp1"], "ntp.other.example.com");
    devices.wait_connected(MAC, WAIT).await.unwrap();
    assert_eq!(devices.device(MAC).unwrap().connections, 2);

    // A newer connection with a wrong digest is refused; the open one stays.
    let mut intruder = Sysclient::connect(&devices.sysclients_url()).await;
    intruder.admin(0, identify(None, None, true)).await;
    intruder.expect_admin(0x0002).await;
    intruder
        .admin(0, identify(None, Some(&"0".repeat(64)), true))
        .await;
    intruder.expect_closed().await;
    assert!(devices.events().iter().any(|e| e.contains("wrong digest")));
    assert!(devices.device(MAC).unwrap().connected);
    assert!(
        devices
            .events()
            .iter()
            .all(|e| !e.contains(&password) && !e.contains(&challenge))
    );
    devices.stop().await;
}

/// The sysclient endpoint is beside the Devices App object URL (sysclient.htm), not below it.
#[tokio::test]
async fn devices_serve_sysclients_beside_the_app_object_url_only() {
    let devices = DevicesSim::start("example.com").await.unwrap();
    let below = format!("{}/sysclients", devices.websocket_url());
    match tokio_tungstenite::connect_async(&below).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404, "{below}")
        }
        other => panic!("{below}: expected HTTP 404, got {:?}", other.map(|_| ())),
    }
    assert!(
        tokio_tungstenite::connect_async(&devices.sysclients_url())
            .await
            .is_ok()
    );
    devices.stop().await;
}

#[tokio::test]
async fn devices_refuse_what_a_strict_server_refuses() {
    let devices = DevicesSim::start("example.com").await.unwrap();
    devices.add_category("yealink", example_items());
    let url = devices.sysclients_url();

    // Unknown code: not added to any domain (sysclient.htm); the socket stays open, silent.
    let mut c = Sysclient::connect(&url).await;
    c.admin(0, identify(Some("123456789012"), None, true)).await;
    assert!(c.next_within(Duration::from_millis(300)).await.is_none());

    // Expired code: the same.
    let code = devices.issue_code("yealink");
    devices.expire_code(&code);
    let mut c = Sysclient::connect(&url).await;
    c.admin(0, identify(Some(&code), None, true)).await;
    assert!(c.next_within(Duration::from_millis(300)).await.is_none());

    // A text frame.
    let mut c = Sysclient::connect(&url).await;
    c.ws.send(Message::Text("{\"mt\":\"AppChallenge\"}".into()))
        .await
        .unwrap();
    c.expect_closed().await;

    // A garbled binary frame.
    let mut c = Sysclient::connect(&url).await;
    c.send_bytes(b"\x01\x00\x00{\"id\":".to_vec()).await;
    c.expect_closed().await;

    // Wrong path.
    let wrong = url.replace("/sysclients", "//sysclients");
    assert!(tokio_tungstenite::connect_async(&wrong).await.is_err());

    // Without other:true: password (and admin password) but no configuration.
    let code = devices.issue_code("yealink");
    let mut c = Sysclient::connect(&url).await;
    c.admin(0, identify(Some(&code), None, false)).await;
    let password = c.expect_admin(0x0001).await["password"]
        .as_str()
        .unwrap()
        .to_owned();
    c.expect_admin(0x0003).await;
    assert!(c.next_within(Duration::from_millis(200)).await.is_none());
    devices.wait_connected(MAC, WAIT).await.unwrap();
    let digest = |challenge: &Value, password: &str| {
        let challenge = challenge["challenge"].as_str().unwrap();
        sha256(&format!("{MAC}:{PRODUCT}:{VERSION}:{challenge}:{password}"))
    };

    // The used code again, now from a device in a domain: challenged first (sysclient.htm);
    // the right digest keeps it in its domain with its password (no 0x0001).
    let mut c2 = Sysclient::connect(&url).await;
    c2.admin(0, identify(Some(&code), None, false)).await;
    let challenge = c2.expect_admin(0x0002).await;
    c2.admin(
        0,
        identify(Some(&code), Some(&digest(&challenge, &password)), false),
    )
    .await;
    c2.expect_admin(0x0003).await;
    assert_eq!(devices.device(MAC).unwrap().passwords_issued, 1);

    // A new code from the device in a domain: challenged; a digest over another password is
    // refused and the code stays unused; over its password, the code is taken and a new
    // password sent.
    let fresh = devices.issue_code("yealink");
    let mut c3 = Sysclient::connect(&url).await;
    c3.admin(0, identify(Some(&fresh), None, false)).await;
    let challenge = c3.expect_admin(0x0002).await;
    c3.admin(
        0,
        identify(
            Some(&fresh),
            Some(&digest(&challenge, "not-its-password")),
            false,
        ),
    )
    .await;
    c3.expect_closed().await;
    let mut c4 = Sysclient::connect(&url).await;
    c4.admin(0, identify(Some(&fresh), None, false)).await;
    let challenge = c4.expect_admin(0x0002).await;
    c4.admin(
        0,
        identify(Some(&fresh), Some(&digest(&challenge, &password)), false),
    )
    .await;
    let new_password = c4.expect_admin(0x0001).await["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_password, password);
    let admin = c4.expect_admin(0x0003).await;
    assert_eq!(
        decrypt(
            admin["seed"].as_str().unwrap(),
            &new_password,
            admin["pwd"].as_str().unwrap()
        ),
        DEFAULT_ADMIN_PASSWORD
    );
    assert_eq!(devices.device(MAC).unwrap().passwords_issued, 2);

    let events = devices.events().join("\n");
    for why in [
        "unknown provisioning code",
        "expired",
        "text frame",
        "garbled frame",
        "handshake refused",
        "already used",
        "challenge sent first",
        "wrong digest",
        "re-provisioned",
    ] {
        assert!(events.contains(why), "no {why:?} in\n{events}");
    }
    assert!(!events.contains(&code) && !events.contains(&fresh));
    assert!(!events.contains(&password) && !events.contains(&new_password));
    drop(c);
    devices.stop().await;
}

#[tokio::test]
async fn devices_tunnel_raw_frames_and_restart() {
    let devices = DevicesSim::start("example.com").await.unwrap();
    devices.add_category("yealink", example_items());
    let (mut client, password, _) = provision(&devices, "yealink").await;

    // The device answers tunnel events minimally: one response per session, whatever number
    // of receives Devices sends ("until all data is read").
    let responder = tokio::spawn(async move {
        let mut answered = std::collections::HashSet::new();
        loop {
            match client.next_within(WAIT).await {
                Some(In::Tunnel(session, 0, data)) => {
                    assert!(String::from_utf8_lossy(&data).starts_with("GET / HTTP/1.1\r\n"));
                    client.tunnel(session, 3, &[]).await;
                }
                Some(In::Tunnel(session, 1, data)) => {
                    assert_eq!(data.len(), 4);
                    if !answered.insert(session) {
                        continue;
                    }
                    client
                        .tunnel(
                            session,
                            2,
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                        )
                        .await;
                }
                Some(In::Tunnel(session, 4, _)) => {
                    client.tunnel(session, 4, &[]).await;
                    return client;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    let seen = devices.tunnel_probe(MAC).await.unwrap();
    let names: Vec<String> = seen.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["send-result", "receive-result", "shutdown"]);
    assert!(seen[1].text().starts_with("HTTP/1.1 404"));
    let mut client = responder.await.unwrap();

    // A raw frame reaches the device as sent.
    devices.send_raw(MAC, b"\x01\x00\x06garbage".to_vec());
    match client.ws.next().await.unwrap().unwrap() {
        Message::Binary(b) => assert_eq!(&b[..], b"\x01\x00\x06garbage"),
        other => panic!("{other:?}"),
    }

    // Restart: the connection drops, the same URL answers again, the password still works.
    let url = devices.sysclients_url();
    devices.restart().await;
    client.expect_closed().await;
    assert!(!devices.device(MAC).unwrap().connected);
    let mut client = Sysclient::connect(&url).await;
    client.admin(0, identify(None, None, true)).await;
    let challenge = client.expect_admin(0x0002).await["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let digest = sha256(&format!("{MAC}:{PRODUCT}:{VERSION}:{challenge}:{password}"));
    client.admin(0, identify(None, Some(&digest), true)).await;
    client.expect_admin(0x0003).await;
    assert_eq!(client.configuration().await.len(), 5);
    assert!(devices.tunnel_probe("00:00:00:00:00:01").await.is_err());
    devices.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A hand-rolled AppWebsocket server (our app's side).

type ServerWs = WebSocketStream<TcpStream>;

async fn recv(ws: &mut ServerWs) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.ok()??.ok()?;
        match msg {
            Message::Text(t) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

async fn send(ws: &mut ServerWs, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

/// Accepts one connection and checks its login against `password`; answers ok or an error.
/// Returns the socket (if the login was ok), the AppLogin and the session key.
async fn accept_login(listener: &TcpListener, password: &str) -> (Option<ServerWs>, Value, String) {
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    let challenge = "4711081512345678";
    assert_eq!(recv(&mut ws).await.unwrap()["mt"], "AppChallenge");
    send(
        &mut ws,
        json!({"mt": "AppChallengeResult", "challenge": challenge}),
    )
    .await;
    let login = recv(&mut ws).await.unwrap();
    assert_eq!(login["mt"], "AppLogin");
    let field = |k: &str| login[k].as_str().unwrap_or_default().to_owned();
    let info = serde_json::to_string(&login["info"]).unwrap();
    let expected = sha256(&format!(
        "{}:{}:{}:{}:{}:{info}:{challenge}:{password}",
        field("app"),
        field("domain"),
        field("sip"),
        field("guid"),
        field("dn")
    ));
    let key = sha256(&format!("innovaphoneAppSessionKey:{challenge}:{password}"));
    if field("digest") == expected {
        send(
            &mut ws,
            json!({"mt": "AppLoginResult", "ok": true, "domain": "example.com"}),
        )
        .await;
        (Some(ws), login, key)
    } else {
        send(
            &mut ws,
            json!({"mt": "AppLoginResult", "ok": false, "errorText": "bad digest"}),
        )
        .await;
        let _ = ws.close(None).await;
        (None, login, key)
    }
}

#[tokio::test]
async fn pbx_logs_in_and_serves_services_and_admin_api() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!(
        "http://{}/example.com/yealink/innovaphone-yealink",
        listener.local_addr().unwrap()
    );
    let mut config = PbxConfig::new(&app_url, "app-pwd");
    config.app_dn = "Yealink Prövisioning".to_owned();
    let pbx = PbxSim::start(
        config,
        Some("ws://127.0.0.1:9/example.com/devices/".to_owned()),
    )
    .await;
    let guid = pbx.add_user(
        "John Doe",
        "jdoe",
        vec![
            json!({"hw": "001565aabbcc", "text": "Yealink", "app": "phone",
                    "tls": true, "trusted": true}),
            json!({"hw": "other"}),
        ],
    );

    let (ws, login, _) = accept_login(&listener, "app-pwd").await;
    let mut ws = ws.expect("digest accepted");
    assert_eq!(login["app"], "innovaphone-yealink");
    assert_eq!(login["sip"], "yealink");
    assert_eq!(login["info"]["appurl"], app_url.as_str());
    assert_eq!(login["info"]["lics"], 1);
    pbx.wait_logged_in(WAIT).await.unwrap();

    let pbx_info = recv(&mut ws).await.unwrap();
    assert_eq!(pbx_info["mt"], "PbxInfo");
    assert_eq!(pbx_info["pbxDns"], "pbx.example.com");
    assert_eq!(pbx_info["apis"], json!(["PbxAdminApi", "Services"]));
    let app_info = recv(&mut ws).await.unwrap();
    assert_eq!(
        app_info,
        json!({"mt": "AppInfo", "app": "innovaphone-yealink"})
    );
    send(
        &mut ws,
        json!({"mt": "AppInfoResult", "app": "innovaphone-yealink",
               "serviceInfo": {"apis": {"com.innovaphone.provisioning": {"title": "Yealink"}}}}),
    )
    .await;

    send(
        &mut ws,
        json!({"api": "Services", "mt": "SubscribeServices", "src": "svc"}),
    )
    .await;
    let result = recv(&mut ws).await.unwrap();
    assert_eq!(
        result,
        json!({"api": "Services", "mt": "SubscribeServicesResult", "src": "svc"})
    );
    let info = recv(&mut ws).await.unwrap();
    assert_eq!(info["mt"], "ServicesInfo");
    assert_eq!(info["src"], "svc");
    assert_eq!(
        info["services"][0]["url"],
        "ws://127.0.0.1:9/example.com/devices/"
    );
    pbx.wait_subscribed(WAIT).await.unwrap();
    assert!(pbx.app_info_result().unwrap()["serviceInfo"].is_object());

    pbx.set_devices_url(None);
    let info = recv(&mut ws).await.unwrap();
    assert_eq!(
        (info["src"].as_str(), &info["services"]),
        (Some("svc"), &json!([]))
    );

    // GetObject, UpdateObject (devices replaced whole, -1 deletes), GetObject again.
    send(
        &mut ws,
        json!({"api": "PbxAdminApi", "mt": "GetObject", "src": "g1", "cn": "John Doe"}),
    )
    .await;
    let object = recv(&mut ws).await.unwrap();
    assert_eq!(object["mt"], "GetObjectResult");
    assert_eq!(object["src"], "g1");
    assert_eq!(
        (object["guid"].as_str(), object["h323"].as_str()),
        (Some(guid.as_str()), Some("jdoe"))
    );
    assert_eq!(object["devices"].as_array().unwrap().len(), 2);
    send(
        &mut ws,
        json!({"api": "PbxAdminApi", "mt": "UpdateObject", "src": "u1", "guid": guid,
               "devices": [{"hw": "001565aabbcc", "text": "Yealink T54W", "tls": false,
                            "trusted": -1, "mr": true}]}),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await.unwrap(),
        json!({"api": "PbxAdminApi", "mt": "UpdateObjectResult", "src": "u1"})
    );
    assert_eq!(
        pbx.user("John Doe").unwrap()["devices"],
        json!([{"hw": "001565aabbcc", "text": "Yealink T54W", "tls": false, "mr": true}])
    );
    assert_eq!(pbx.user("John Doe").unwrap()["h323"], "jdoe");
    send(
        &mut ws,
        json!({"api": "PbxAdminApi", "mt": "UpdateObject", "src": "u2", "guid": "*",
               "cn": "John Doe", "e164": "201"}),
    )
    .await;
    assert_eq!(recv(&mut ws).await.unwrap()["src"], "u2");
    assert_eq!(pbx.user("John Doe").unwrap()["e164"], "201");
    send(
        &mut ws,
        json!({"api": "PbxAdminApi", "mt": "GetObject", "src": "g2", "cn": "Nobody"}),
    )
    .await;
    let missing = recv(&mut ws).await.unwrap();
    assert_eq!(missing["mt"], "GetObjectResult");
    assert!(missing.get("error").is_some() && missing.get("guid").is_none());
    assert_eq!(pbx.admin_requests().len(), 4);

    // A non-granted API is ignored; an unknown request of a granted one gets an error.
    send(
        &mut ws,
        json!({"api": "RCC", "mt": "Initialize", "src": "r"}),
    )
    .await;
    send(
        &mut ws,
        json!({"api": "PbxAdminApi", "mt": "GetNothing", "src": "n"}),
    )
    .await;
    let answer = recv(&mut ws).await.unwrap();
    assert_eq!(
        (answer["mt"].as_str(), answer["src"].as_str()),
        (Some("GetNothingResult"), Some("n"))
    );

    // Disconnect: the PBX comes back.
    pbx.disconnect();
    assert!(recv(&mut ws).await.is_none());
    let (ws2, _, _) = accept_login(&listener, "app-pwd").await;
    assert!(ws2.is_some());
    pbx.wait_logged_in(WAIT).await.unwrap();
    assert_eq!(pbx.connections(), 2);
    pbx.stop().await;
}

#[tokio::test]
async fn pbx_with_wrong_password_fails_and_keeps_trying() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!(
        "http://{}/x/innovaphone-yealink",
        listener.local_addr().unwrap()
    );
    let pbx = PbxSim::start(PbxConfig::new(&app_url, "wrong"), None).await;
    let (ws, _, _) = accept_login(&listener, "right").await;
    assert!(ws.is_none());
    let deadline = tokio::time::Instant::now() + WAIT;
    while pbx.login_state() != LoginState::Failed("bad digest".to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            pbx.login_state()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(pbx.wait_logged_in(Duration::from_millis(50)).await.is_err());
    // It tries again.
    let (ws, _, _) = accept_login(&listener, "right").await;
    assert!(ws.is_none());
    assert!(pbx.connections() >= 2);
    pbx.stop().await;
}

#[tokio::test]
async fn users_login_and_provisioning_phone() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!(
        "http://{}/example.com/yealink/innovaphone-yealink",
        listener.local_addr().unwrap()
    );
    // Wrong password: the error text comes back.
    let refused = {
        let connect = UsersSim::connect(&app_url, "wrong", "example.com");
        let (outcome, _) = tokio::join!(connect, accept_login(&listener, "app-pwd"));
        outcome.unwrap_err().to_string()
    };
    assert!(refused.contains("bad digest"), "{refused}");

    let server = async {
        let (ws, login, key) = accept_login(&listener, "app-pwd").await;
        let mut ws = ws.unwrap();
        assert_eq!(
            (login["sip"].as_str(), login["dn"].as_str()),
            (Some("users"), Some("Users"))
        );
        let req = recv(&mut ws).await.unwrap();
        assert_eq!(req["mt"], "ProvisioningPhone");
        let password = decrypt(
            req["seed1"].as_str().unwrap(),
            &key,
            req["password"].as_str().unwrap(),
        );
        // An unrelated message first, then the result.
        send(
            &mut ws,
            json!({"mt": "ProvisioningPhoneResult", "src": "other", "result": "ok"}),
        )
        .await;
        send(
            &mut ws,
            json!({"mt": "ProvisioningPhoneResult", "src": req["src"], "result": "failed",
                   "error": "Devices Service not found!"}),
        )
        .await;
        (req, password)
    };
    let client = async {
        let mut session = UsersSim::connect(&app_url, "app-pwd", "example.com")
            .await
            .unwrap();
        session
            .provision_phone(PhoneRequest {
                mac: MAC.to_owned(),
                code: "562822784750".to_owned(),
                hwid: MAC.to_owned(),
                usename: "jdoe".to_owned(),
                cn: "John Doe".to_owned(),
                password: "sip-secret".to_owned(),
                domain: "example.com".to_owned(),
                dns: "pbx.example.com".to_owned(),
            })
            .await
            .unwrap()
    };
    let ((req, password), outcome) = tokio::join!(server, client);
    assert_eq!(password, "sip-secret");
    assert_eq!(req["usename"], "jdoe");
    assert_eq!(req["code"], "562822784750");
    assert_eq!(outcome.result, "failed");
    assert_eq!(outcome.error.as_deref(), Some("Devices Service not found!"));
}

#[tokio::test]
async fn add_phone_end_to_end_with_a_hand_rolled_app() {
    let devices = DevicesSim::start("example.com").await.unwrap();
    devices.add_category("yealink", example_items());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!(
        "http://{}/example.com/yealink/innovaphone-yealink",
        listener.local_addr().unwrap()
    );
    // The PBX points at a closed port: add_phone only needs its user objects.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = format!("http://{}/x/app", closed.local_addr().unwrap());
    drop(closed);
    let pbx = PbxSim::start(PbxConfig::new(&nowhere, "pwd"), None).await;
    pbx.add_user("John Doe", "jdoe", Vec::new());

    let sysclients = devices.sysclients_url();
    let app = async {
        let (ws, _, key) = accept_login(&listener, "app-pwd").await;
        let mut ws = ws.unwrap();
        let req = recv(&mut ws).await.unwrap();
        assert_eq!(
            decrypt(
                req["seed1"].as_str().unwrap(),
                &key,
                req["password"].as_str().unwrap()
            ),
            "sip-secret"
        );
        assert_eq!(
            (req["dns"].as_str(), req["domain"].as_str()),
            (Some("pbx.example.com"), Some("example.com"))
        );
        // Flow C with the code Users got from Devices.
        let mut client = Sysclient::connect(&sysclients).await;
        client
            .admin(0, identify(Some(req["code"].as_str().unwrap()), None, true))
            .await;
        client.expect_admin(0x0001).await;
        client.expect_admin(0x0003).await;
        assert_eq!(client.configuration().await.len(), 5);
        send(
            &mut ws,
            json!({"mt": "ProvisioningPhoneResult", "src": req["src"], "result": "ok"}),
        )
        .await;
        client
    };
    let users = UsersSim::add_phone(
        &pbx,
        &devices,
        &app_url,
        "app-pwd",
        "John Doe",
        "00:15:65:AA:BB:CC",
        "yealink",
        "sip-secret",
    );
    let (client, outcome) = tokio::join!(app, users);
    assert_eq!(outcome.unwrap().result, "ok");
    assert_eq!(
        pbx.user("John Doe").unwrap()["devices"],
        json!([{"hw": MAC, "text": "Yealink", "app": "phone", "tls": true, "trusted": true}])
    );
    assert!(devices.device(MAC).unwrap().connected);
    drop(client);
    pbx.stop().await;
    devices.stop().await;
}
