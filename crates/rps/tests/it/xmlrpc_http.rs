//! The XML-RPC client over real HTTP against the loopback responder.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use rps::{Outcome, RedirectTarget, Rps, RpsApi, RpsError};

use crate::support::{
    FakeRps, PHONE_PASSWORD, Reply, SECRET, Seen, TOKEN, USER, http, mac, target, xml_answer,
};
use crate::xmlrpc_codec::decode_call;

async fn client_for(fake: &FakeRps) -> Box<dyn Rps> {
    rps::client(&fake.account(RpsApi::Xmlrpc, "/xmlrpc"), http())
}

fn check_transport(seen: &Seen) {
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/xmlrpc");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{SECRET}"))
    );
    assert_eq!(seen.header("authorization"), Some(expected.as_str()));
    assert_eq!(seen.header("content-type"), Some("text/xml"));
}

#[tokio::test]
async fn every_method_on_the_wire() {
    let fake = FakeRps::start(|_| Reply::xml(xml_answer(true, "OK"))).await;
    let client = client_for(&fake).await;
    assert_eq!(client.api(), RpsApi::Xmlrpc);

    let url = "https://prov.example.com/prov/";
    let answers = [
        client.add_server("pbx.example.com", url).await.unwrap(),
        client.deregister_device(mac()).await.unwrap(),
        client.redirect_device(mac(), &target()).await.unwrap(),
        client
            .redirect_device(
                mac(),
                &RedirectTarget {
                    server_name: "pbx.example.com".into(),
                    ..RedirectTarget::default()
                },
            )
            .await
            .unwrap(),
        client.check_device(mac()).await.unwrap(),
    ];
    for answer in &answers {
        assert_eq!(answer.outcome, Outcome::Ok);
        assert_eq!(answer.text, "OK");
    }

    let seen = fake.seen();
    assert_eq!(seen.len(), 5);
    seen.iter().for_each(check_transport);
    let calls: Vec<_> = seen.iter().map(|s| decode_call(&s.body_str())).collect();
    let unique = format!("https://prov.example.com/prov/{TOKEN}/");
    let expected: Vec<(&str, Vec<&str>)> = vec![
        ("redirect.addServer", vec!["pbx.example.com", url]),
        ("redirect.deRegisterDevice", vec!["805ec0112233"]),
        (
            "redirect.registerDeviceWithUniqueUrl",
            vec!["805ec0112233", "pbx.example.com", &unique, "1"],
        ),
        (
            "redirect.registerDevice",
            vec!["805ec0112233", "pbx.example.com", "1"],
        ),
        ("redirect.checkDevice", vec!["805ec0112233"]),
    ];
    for ((name, params), (want_name, want_params)) in calls.iter().zip(expected) {
        assert_eq!(name, want_name);
        assert_eq!(params, &want_params);
    }
    // XML-RPC has no field for per-device credentials: they are never sent.
    assert!(seen.iter().all(|s| !s.body_str().contains(PHONE_PASSWORD)));
}

#[tokio::test]
async fn server_name_in_use_is_already_done() {
    let fake =
        FakeRps::start(|_| Reply::xml(xml_answer(false, "Error: The server name has been used")))
            .await;
    let answer = client_for(&fake)
        .await
        .add_server("pbx.example.com", "https://prov.example.com/prov/")
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::AlreadyDone);
    assert_eq!(answer.text, "Error: The server name has been used");
}

#[tokio::test]
async fn deregistering_a_new_phone_is_already_done() {
    let fake =
        FakeRps::start(|_| Reply::xml(xml_answer(false, "Error:Invalid MAC(s):805ec0112233")))
            .await;
    let answer = client_for(&fake)
        .await
        .deregister_device(mac())
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::AlreadyDone);
    assert_eq!(answer.text, "Error:Invalid MAC(s):805ec0112233");
}

#[tokio::test]
async fn existing_mac_is_rebound() {
    let registers = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&registers);
    let fake = FakeRps::start(move |seen| {
        let (method, _) = decode_call(&seen.body_str());
        if method.starts_with("redirect.register") && counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::xml(xml_answer(false, "Existing MAC(s): 805ec0112233"))
        } else {
            Reply::xml(xml_answer(true, "OK"))
        }
    })
    .await;
    let answer = client_for(&fake)
        .await
        .redirect_device(mac(), &target())
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::AlreadyDone, "{answer:?}");
    let methods: Vec<String> = fake
        .seen()
        .iter()
        .map(|s| decode_call(&s.body_str()).0)
        .collect();
    assert_eq!(
        methods,
        [
            "redirect.registerDeviceWithUniqueUrl",
            "redirect.deRegisterDevice",
            "redirect.registerDeviceWithUniqueUrl"
        ]
    );
}

#[tokio::test]
async fn mac_of_another_account_is_rejected() {
    let fake = FakeRps::start(|_| {
        Reply::xml(xml_answer(
            false,
            "Are you sure you want to override MAC addresses: 805ec0112233",
        ))
    })
    .await;
    let answer = client_for(&fake)
        .await
        .redirect_device(mac(), &target())
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
}

#[tokio::test]
async fn fault_is_rejected_and_masked() {
    let fault = format!(
        "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>\
         <member><name>faultCode</name><value><int>3</int></value></member>\
         <member><name>faultString</name><value><string>bad url https://prov.example.com/prov/{TOKEN}/</string></value></member>\
         </struct></value></fault></methodResponse>"
    );
    let fake = FakeRps::start(move |_| Reply::xml(fault.clone())).await;
    let answer = client_for(&fake)
        .await
        .redirect_device(mac(), &target())
        .await
        .unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert_eq!(
        answer.text,
        "Fault 3: bad url https://prov.example.com/prov/********/"
    );
}

#[tokio::test]
async fn unauthorized_is_rejected_not_retried() {
    let fake = FakeRps::start(|_| Reply::status(401, "Unauthorized")).await;
    let answer = client_for(&fake).await.check_device(mac()).await.unwrap();
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert_eq!(answer.text, "HTTP 401 Unauthorized");
}

#[tokio::test]
async fn unavailable_is_retryable() {
    for status in [503, 502, 429] {
        let fake = FakeRps::start(move |_| Reply::status(status, "busy")).await;
        let error = client_for(&fake)
            .await
            .check_device(mac())
            .await
            .unwrap_err();
        assert_eq!(error, RpsError::Server { status });
        assert!(error.is_retryable());
    }
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let fake = FakeRps::start(|_| Reply::Hang).await;
    let started = std::time::Instant::now();
    let error = client_for(&fake)
        .await
        .add_server("pbx.example.com", "https://prov.example.com/prov/")
        .await
        .unwrap_err();
    assert_eq!(error, RpsError::Timeout);
    assert!(error.is_retryable());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn garbage_is_garbled_and_masked() {
    // A misbehaving proxy that echoes what it got: the token we sent comes back.
    let fake = FakeRps::start(|seen| {
        let (method, params) = decode_call(&seen.body_str());
        Reply::status(200, format!("<html>{method} {params:?} {SECRET}</html>"))
    })
    .await;
    let error = client_for(&fake)
        .await
        .redirect_device(mac(), &target())
        .await
        .unwrap_err();
    assert!(matches!(error, RpsError::Garbled(_)), "{error:?}");
    assert!(error.is_retryable());
    let shown = error.to_string();
    assert!(shown.contains("registerDeviceWithUniqueUrl"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}
