//! The JSON client over real HTTP against the loopback responder: signing headers, the
//! add-or-edit recipes, and error mapping.

use rps::sign::{content_md5, signature, string_to_sign};
use rps::{Outcome, Rps, RpsApi, RpsError};
use serde_json::{Value, json};

use crate::support::{
    FakeRps, PHONE_PASSWORD, Reply, SECRET, Seen, TOKEN, USER, http, mac, target,
};

fn ok(data: Value) -> Reply {
    Reply::json(json!({"ret": 1, "data": data, "error": null}))
}

fn fail(code: &str) -> Reply {
    Reply::json(json!({"ret": -1, "data": null, "error": {"msg": code, "fieldErrors": []}}))
}

fn page(items: Value) -> Reply {
    let total = items.as_array().map_or(0, Vec::len);
    ok(json!({"total": total, "data": items}))
}

fn client_for(fake: &FakeRps) -> Box<dyn Rps> {
    rps::client(&fake.account(RpsApi::Json, ""), http())
}

/// The API path below /api/open/v1/.
fn api_path(seen: &Seen) -> &str {
    seen.path().strip_prefix("/api/open/v1/").unwrap_or("?")
}

/// Checks every X-Ca-* header, Content-MD5 and the signature, recomputed from what arrived.
fn check_signed(seen: &Seen) {
    assert_eq!(seen.header("x-ca-key"), Some(USER));
    let nonce = seen.header("x-ca-nonce").unwrap();
    assert_eq!(nonce.len(), 32);
    assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()));
    let timestamp = seen.header("x-ca-timestamp").unwrap();
    assert_eq!(timestamp.len(), 13);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i128;
    assert!((now_ms - timestamp.parse::<i128>().unwrap()).abs() < 60_000);
    assert_eq!(
        seen.header("content-type"),
        Some("application/json;charset=UTF-8")
    );
    assert_eq!(seen.header("accept"), Some("application/json"));
    let md5 = match seen.method.as_str() {
        "POST" => {
            let md5 = seen.header("content-md5").unwrap();
            assert_eq!(
                md5,
                content_md5(&seen.body),
                "Content-MD5 must cover the bytes sent"
            );
            assert!(
                seen.query().is_empty(),
                "a request uses a body or a query, never both"
            );
            Some(md5)
        }
        "GET" => {
            assert!(seen.header("content-md5").is_none());
            assert!(seen.body.is_empty());
            None
        }
        other => panic!("unexpected method {other}"),
    };
    let query = seen.query();
    let pairs: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let to_sign = string_to_sign(
        &seen.method,
        md5,
        USER,
        nonce,
        timestamp,
        seen.path(),
        &pairs,
    );
    assert_eq!(
        seen.header("x-ca-signature"),
        Some(signature(SECRET, &to_sign).as_str()),
        "signature of {to_sign:?}"
    );
}

#[tokio::test]
async fn check_device_is_a_signed_get() {
    let fake = FakeRps::start(|_| ok(json!({"existed": true, "self": true}))).await;
    let client = client_for(&fake);
    assert_eq!(client.api(), RpsApi::Json);
    let answer = client.check_device(mac()).await.unwrap();
    assert_eq!(answer.outcome, Outcome::Ok);
    assert_eq!(answer.text, "registered");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].target,
        "/api/open/v1/device/checkMac?mac=805ec0112233"
    );
    check_signed(&seen[0]);
}

#[tokio::test]
async fn check_device_vocabulary() {
    for (data, text) in [
        (json!({"existed": false, "self": null}), "unregistered"),
        (
            json!({"existed": true, "self": false}),
            "registered elsewhere",
        ),
    ] {
        let fake = FakeRps::start(move |_| ok(data.clone())).await;
        let answer = client_for(&fake).check_device(mac()).await.unwrap();
        assert_eq!((answer.outcome, answer.text.as_str()), (Outcome::Ok, text));
    }
}

#[tokio::test]
async fn add_server_creates_when_missing() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "server/list" => {
            page(json!([{"id": "other", "serverName": "pbx.example.com.old", "url": "x"}]))
        }
        "server/add" => ok(json!({"id": "srv-1", "serverName": "pbx.example.com"})),
        _ => Reply::status(404, ""),
    })
    .await;
    let answer = client_for(&fake)
        .add_server("pbx.example.com", "https://prov.example.com/prov/")
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Ok, "{answer:?}");
    let seen = fake.seen();
    assert_eq!(
        seen.iter().map(api_path).collect::<Vec<_>>(),
        ["server/list", "server/add"]
    );
    seen.iter().for_each(check_signed);
    assert_eq!(
        seen[0].json(),
        json!({"key": "pbx.example.com", "skip": 0, "limit": 100, "autoCount": true})
    );
    assert_eq!(
        seen[1].json(),
        json!({"serverName": "pbx.example.com", "url": "https://prov.example.com/prov/"})
    );
}

#[tokio::test]
async fn add_server_with_same_url_is_already_done() {
    let fake = FakeRps::start(|_| {
        page(json!([{"id": "srv-1", "serverName": "pbx.example.com", "url": "https://prov.example.com/prov/"}]))
    })
    .await;
    let answer = client_for(&fake)
        .add_server("pbx.example.com", "https://prov.example.com/prov/")
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::AlreadyDone);
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn add_server_with_another_url_edits() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "server/list" => {
            page(json!([{"id": 7, "serverName": "pbx.example.com", "url": "http://old/"}]))
        }
        "server/edit" => ok(Value::Null),
        _ => Reply::status(404, ""),
    })
    .await;
    let answer = client_for(&fake)
        .add_server("pbx.example.com", "https://prov.example.com/prov/")
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Ok);
    let seen = fake.seen();
    assert_eq!(api_path(&seen[1]), "server/edit");
    // The id goes back with the type RPS gave it.
    assert_eq!(
        seen[1].json(),
        json!({"id": 7, "serverName": "pbx.example.com", "url": "https://prov.example.com/prov/"})
    );
}

#[tokio::test]
async fn add_server_name_taken_elsewhere_is_rejected() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "server/list" => page(json!([])),
        _ => fail("server.name.existed"),
    })
    .await;
    let answer = client_for(&fake)
        .add_server("pbx.example.com", "https://prov.example.com/prov/")
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert!(answer.text.contains("server.name.existed"), "{answer:?}");
    // Listed again after the refusal, in case another instance added it meanwhile.
    let paths: Vec<_> = fake.seen().iter().map(|s| api_path(s).to_owned()).collect();
    assert_eq!(paths, ["server/list", "server/add", "server/list"]);
}

#[tokio::test]
async fn redirect_adds_with_per_device_url_and_credentials_and_caches_the_server_id() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "server/list" => {
            page(json!([{"id": "srv-1", "serverName": "pbx.example.com", "url": "u"}]))
        }
        "device/add" => ok(json!([{"id": "dev-1", "mac": "805ec0112233"}])),
        _ => Reply::status(404, ""),
    })
    .await;
    let client = client_for(&fake);
    for _ in 0..2 {
        let answer = client.redirect_device(mac(), &target()).await.unwrap();
        assert_eq!(answer.outcome, Outcome::Ok);
        assert_eq!(answer.text, "device/add: OK");
    }
    let seen = fake.seen();
    let paths: Vec<_> = seen.iter().map(api_path).collect();
    assert_eq!(paths, ["server/list", "device/add", "device/add"]);
    seen.iter().for_each(check_signed);
    assert_eq!(
        seen[1].json(),
        json!({
            "macs": ["805ec0112233"],
            "serverId": "srv-1",
            "uniqueServerUrl": format!("https://prov.example.com/prov/{TOKEN}/"),
            "authName": "805ec0112233",
            "password": PHONE_PASSWORD,
        })
    );
}

#[tokio::test]
async fn redirect_of_an_existing_mac_edits_it() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "server/list" => {
            page(json!([{"id": "srv-1", "serverName": "pbx.example.com", "url": "u"}]))
        }
        "device/add" => fail("device.mac.existed"),
        "device/list" => page(json!([
            {"id": "dev-0", "mac": "805ec0112234"},
            {"id": "dev-9", "mac": "80:5E:C0:11:22:33", "serverId": "srv-old"}
        ])),
        "device/edit" => ok(Value::Null),
        _ => Reply::status(404, ""),
    })
    .await;
    let answer = client_for(&fake)
        .redirect_device(mac(), &target())
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::AlreadyDone, "{answer:?}");
    assert_eq!(
        answer.text,
        "device/add: device.mac.existed; device/edit: OK"
    );
    let seen = fake.seen();
    let paths: Vec<_> = seen.iter().map(api_path).collect();
    assert_eq!(
        paths,
        ["server/list", "device/add", "device/list", "device/edit"]
    );
    assert_eq!(seen[2].json()["key"], json!("805ec0112233"));
    assert_eq!(
        seen[3].json(),
        json!({
            "id": "dev-9",
            "serverId": "srv-1",
            "uniqueServerUrl": format!("https://prov.example.com/prov/{TOKEN}/"),
            "authName": "805ec0112233",
            "password": PHONE_PASSWORD,
        })
    );
}

#[tokio::test]
async fn redirect_of_a_mac_owned_elsewhere_is_rejected() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "server/list" => {
            page(json!([{"id": "srv-1", "serverName": "pbx.example.com", "url": "u"}]))
        }
        _ => fail("device.mac.added.by.other"),
    })
    .await;
    let answer = client_for(&fake)
        .redirect_device(mac(), &target())
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert_eq!(answer.text, "device/add: device.mac.added.by.other");
}

#[tokio::test]
async fn redirect_to_an_unknown_server_is_rejected_without_adding() {
    let fake = FakeRps::start(|_| page(json!([]))).await;
    let answer = client_for(&fake)
        .redirect_device(mac(), &target())
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert!(answer.text.contains("pbx.example.com"), "{answer:?}");
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn deregister_deletes_by_id() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "device/list" => page(json!([{"id": "dev-9", "mac": "805ec0112233"}])),
        "device/delete" => ok(json!(1)),
        _ => Reply::status(404, ""),
    })
    .await;
    let answer = client_for(&fake).deregister_device(mac()).await.unwrap();
    assert_eq!(answer.outcome, Outcome::Ok);
    let seen = fake.seen();
    assert_eq!(seen[1].json(), json!({"ids": ["dev-9"]}));
}

#[tokio::test]
async fn deregister_of_an_unknown_mac_is_already_done() {
    let fake = FakeRps::start(|_| page(json!([]))).await;
    let answer = client_for(&fake).deregister_device(mac()).await.unwrap();
    assert_eq!(answer.outcome, Outcome::AlreadyDone);
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn deregister_device_not_found_is_already_done() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "device/list" => page(json!([{"id": "dev-9", "mac": "805ec0112233"}])),
        _ => fail("device.not.found"),
    })
    .await;
    let answer = client_for(&fake).deregister_device(mac()).await.unwrap();
    assert_eq!(answer.outcome, Outcome::AlreadyDone);
    assert_eq!(answer.text, "device/delete: device.not.found");
}

#[tokio::test]
async fn unauthorized_is_rejected_not_retried() {
    let fake = FakeRps::start(|_| Reply::Respond {
        status: 401,
        content_type: "application/json",
        body: json!({"ret": -1, "error": {"msg": "signature.invalid"}}).to_string(),
    })
    .await;
    let answer = client_for(&fake).check_device(mac()).await.unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert_eq!(
        answer.text,
        "device/checkMac: HTTP 401 Unauthorized: signature.invalid"
    );

    let fake = FakeRps::start(|_| Reply::status(403, "")).await;
    let answer = client_for(&fake)
        .add_server("n", "https://u/")
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert_eq!(answer.text, "server/list: HTTP 403 Forbidden");
}

#[tokio::test]
async fn unavailable_is_retryable() {
    let fake = FakeRps::start(|_| Reply::status(503, "")).await;
    let error = client_for(&fake)
        .redirect_device(mac(), &target())
        .await
        .unwrap_err();
    assert_eq!(error, RpsError::Server { status: 503 });
    assert!(error.is_retryable());
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let fake = FakeRps::start(|_| Reply::Hang).await;
    let error = client_for(&fake).check_device(mac()).await.unwrap_err();
    assert_eq!(error, RpsError::Timeout);
}

#[tokio::test]
async fn garbled_answers_are_masked() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "server/list" => {
            page(json!([{"id": "srv-1", "serverName": "pbx.example.com", "url": "u"}]))
        }
        // A broken proxy page that echoes the body, password and token included.
        _ => Reply::status(200, format!("<html>{}</html>", seen.body_str())),
    })
    .await;
    let error = client_for(&fake)
        .redirect_device(mac(), &target())
        .await
        .unwrap_err();
    assert!(matches!(error, RpsError::Garbled(_)), "{error:?}");
    let shown = error.to_string();
    assert!(
        !shown.contains(TOKEN) && !shown.contains(PHONE_PASSWORD),
        "{shown}"
    );
}

#[tokio::test]
async fn endpoint_path_prefix_is_signed() {
    let fake = FakeRps::start(|_| ok(json!({"existed": false}))).await;
    let client = rps::client(&fake.account(RpsApi::Json, "/rps/"), http());
    client.check_device(mac()).await.unwrap();
    let seen = fake.seen();
    assert_eq!(seen[0].path(), "/rps/api/open/v1/device/checkMac");
    check_signed(&seen[0]);
}

#[tokio::test]
async fn denied_is_rejected_whatever_the_code() {
    let fake = FakeRps::start(|seen| match api_path(seen) {
        "device/list" => page(json!([{"id": "dev-9", "mac": "805ec0112233"}])),
        _ => Reply::Respond {
            status: 403,
            content_type: "application/json",
            body: json!({"ret": -1, "error": {"msg": "device.not.found"}}).to_string(),
        },
    })
    .await;
    let answer = client_for(&fake).deregister_device(mac()).await.unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert_eq!(
        answer.text,
        "device/delete: HTTP 403 Forbidden: device.not.found"
    );
}
