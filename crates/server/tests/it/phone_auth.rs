//! Nobody but the phone gets its files, and every refusal looks the same.

use prov_sim::SimPhone;
use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, device_json, spawn_app};

const UA_A: &str = "Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:cc:01";

/// Status, body and the header names of a refusal (nonces differ per answer by design).
async fn refusal(
    app: &TestApp,
    path: &str,
    ua: &str,
    auth: Option<&str>,
) -> (StatusCode, String, Vec<String>) {
    let mut request = app
        .client
        .get(format!("{}{path}", app.base))
        .header("User-Agent", ua);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let mut names: Vec<String> = response
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k != "date")
        .collect();
    names.sort();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Digest realm=\"yealink-prov\""),
        "{challenge}"
    );
    (status, response.text().await.expect("body"), names)
}

#[tokio::test]
async fn unknown_wrong_and_foreign_requests_get_the_same_answer() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aacc01", "401")).await;
    app.add_device(device_json("805ec0aacc02", "402")).await;
    let a = app.revealed("805ec0aacc01").await;
    let url_a = a["provisioning_url"].as_str().expect("url").to_owned();
    let token_a = url_a
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned();

    let unknown_mac = refusal(
        &app,
        "/prov/ZZZZZZZZZZZZZZZZZZZZZZZZ/001565000001.cfg",
        UA_A,
        None,
    )
    .await;
    let wrong_token = refusal(
        &app,
        "/prov/AAAAAAAAAAAAAAAAAAAAAAAA/805ec0aacc01.cfg",
        UA_A,
        None,
    )
    .await;
    let foreign_file = refusal(
        &app,
        &format!("/prov/{token_a}/805ec0aacc02.cfg"),
        UA_A,
        None,
    )
    .await;
    let foreign_boot = refusal(
        &app,
        &format!("/prov/{token_a}/805ec0aacc02.boot"),
        UA_A,
        None,
    )
    .await;
    let no_token = refusal(&app, "/prov/805ec0aacc01.cfg", UA_A, None).await;
    let wrong_digest = refusal(
        &app,
        "/prov/805ec0aacc01.cfg",
        UA_A,
        Some(r#"Digest username="805ec0aacc01", realm="yealink-prov", nonce="00000000000000000000000000000000000000000000000a", uri="/prov/805ec0aacc01.cfg", response="00000000000000000000000000000000", qop=auth, nc=00000001, cnonce="x""#),
    )
    .await;
    let garbled = refusal(&app, "/prov/805ec0aacc01.cfg", UA_A, Some("Digest ,,,=\"")).await;
    // Basic is refused over plain HTTP even with the right password.
    let basic = {
        use base64::Engine;
        let pw = a["http_password"].as_str().expect("pw");
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("805ec0aacc01:{pw}"));
        refusal(
            &app,
            "/prov/805ec0aacc01.cfg",
            UA_A,
            Some(&format!("Basic {encoded}")),
        )
        .await
    };

    for other in [
        &wrong_token,
        &foreign_file,
        &foreign_boot,
        &no_token,
        &wrong_digest,
        &garbled,
        &basic,
    ] {
        assert_eq!(&unknown_mac, other);
    }
    assert_eq!(unknown_mac.0, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_mac.1, "Unauthorized\n");

    // A real phone with the right token still gets its own files.
    let mut phone = SimPhone::new("805ec0aacc01", "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(&url_a, None);
    phone.provision().await.expect("own files");

    // Refusals are counted and logged without the token.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("phone_auth_failures_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("failure counter present");
    assert!(failures >= 8.0, "{failures}");
    let log = requests_until(&app, |rows| {
        // Identical refusals are folded into one row with a count (request_fold.rs).
        let denied: u64 = rows.as_array().map_or(0, |r| {
            r.iter()
                .filter(|r| r["outcome"] == "denied")
                .map(|r| r["count"].as_u64().unwrap_or(0))
                .sum()
        });
        denied >= 8
    })
    .await
    .to_string();
    assert!(
        !log.contains(&token_a),
        "the request log holds no URL token"
    );
    assert!(!log.contains("ZZZZZZZZZZZZ"), "nor a guessed one");
    app.stop().await;
}

#[tokio::test]
async fn removed_device_is_refused() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aacc03", "403")).await;
    let url = app.revealed("805ec0aacc03").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let response = app
        .api(Method::DELETE, "/devices/805ec0aacc03")
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let mut phone = SimPhone::new("805ec0aacc03", "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(&url, None);
    assert!(
        phone.provision().await.is_err(),
        "a removed phone gets nothing"
    );
    app.stop().await;
}

/// The phone request log once `done` says it holds what the test waits for.
async fn requests_until(
    app: &TestApp,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let rows: serde_json::Value = app
            .api(Method::GET, "/requests?limit=1000")
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("json");
        if done(&rows) {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `/prov/<token>` without the trailing `/` reads as a file name; it must not put the token
/// into the request log (or our log) in clear.
#[tokio::test]
async fn a_token_without_its_slash_is_not_logged() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aacc09", "409")).await;
    let url = app.revealed("805ec0aacc09").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let bare = url.trim_end_matches('/').to_owned();
    let token = bare.rsplit('/').next().expect("token").to_owned();
    let response = reqwest::get(&bare).await.expect("request");
    assert_eq!(response.status(), 401);
    let log = requests_until(&app, |rows| rows.as_array().is_some_and(|r| !r.is_empty())).await;
    assert!(!log.to_string().contains(&token), "{log}");
    assert_eq!(log[0]["file"], "(no-file-name)", "{log}");
    app.stop().await;
}

#[tokio::test]
async fn rotated_credentials_retire_the_old_url() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aacc04", "404")).await;
    let old = app.revealed("805ec0aacc04").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let response = app
        .api(Method::PATCH, "/devices/805ec0aacc04")
        .json(&serde_json::json!({"rotate_credentials": true}))
        .send()
        .await
        .expect("rotate");
    assert_eq!(response.status(), 200);
    let new = app.revealed("805ec0aacc04").await["provisioning_url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_ne!(old, new);
    let mut phone = SimPhone::new("805ec0aacc04", "T46U", "108.86.0.90").expect("phone");
    phone.set_provisioning_server(&old, None);
    assert!(phone.provision().await.is_err());
    phone.set_provisioning_server(&new, None);
    phone.provision().await.expect("new URL works");
    app.stop().await;
}

/// A phone asking for the same file again and again costs one row per interval, not one per
/// request, and the row says how many it stands for (request_fold.rs).
#[tokio::test]
async fn repeats_of_one_request_are_folded_into_a_counted_row() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aacc07", "407")).await;
    let url = app.revealed("805ec0aacc07").await["provisioning_url"]
        .as_str()
        .expect("url")
        .trim_end_matches('/')
        .to_owned();
    const TIMES: u64 = 6;
    for _ in 0..TIMES {
        let r = app
            .client
            .get(format!("{url}/805ec0aacc07.cfg"))
            .header(
                "User-Agent",
                "Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:cc:07",
            )
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::OK);
    }
    // The first is logged at once, the repeats within one fold interval (60 s) after it.
    let mut rows = Vec::new();
    for _ in 0..750 {
        let all: serde_json::Value = app
            .api(Method::GET, "/devices/805ec0aacc07/requests")
            .send()
            .await
            .expect("GET requests")
            .json()
            .await
            .expect("json");
        rows = all.as_array().cloned().unwrap_or_default();
        let total: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap_or(0)).sum();
        if total >= TIMES {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let counts: Vec<u64> = rows
        .iter()
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), TIMES, "{counts:?}");
    assert!(counts.len() < TIMES as usize, "folded: {counts:?}");
    assert_eq!(counts.last(), Some(&1), "the first request has its own row");
    assert!(rows.iter().all(|r| r["file"] == "805ec0aacc07.cfg"));
    app.stop().await;
}

/// The phone paths are answered by the connection, not the router (boot storm); what
/// the router gave them is kept: decoded segments, its 404 and 400, the body limit and headers.
#[tokio::test]
async fn the_phone_paths_keep_the_routers_answers() {
    let app = spawn_app().await;
    app.add_device(device_json("805ec0aacc08", "408")).await;
    let url = app.revealed("805ec0aacc08").await["provisioning_url"]
        .as_str()
        .expect("url")
        .trim_end_matches('/')
        .to_owned();
    let ua = "Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:cc:08";
    let get = |path: String| app.client.get(path).header("User-Agent", ua).send();

    let served = get(format!("{url}/805ec0aacc08%2Ecfg")).await.expect("GET");
    assert_eq!(
        served.status(),
        StatusCode::OK,
        "a %-encoded name is decoded"
    );
    let header = |name: &str| {
        served
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    assert!(served.text().await.expect("body").contains("account.1."));

    for (path, status) in [
        (format!("{}/prov/", app.base), StatusCode::NOT_FOUND),
        (
            format!("{}/prov/a/b/c.cfg", app.base),
            StatusCode::NOT_FOUND,
        ),
        (format!("{url}//805ec0aacc08.cfg"), StatusCode::NOT_FOUND),
        (format!("{url}/%FF.cfg"), StatusCode::BAD_REQUEST),
    ] {
        let r = get(path.clone()).await.expect("GET");
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{path}"
        );
    }

    let too_big = app
        .client
        .put(format!("{url}/805ec0aacc08-local.cfg"))
        .header("User-Agent", ua)
        .body(vec![b'#'; 256 * 1024 + 1])
        .send()
        .await
        .expect("PUT");
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}
