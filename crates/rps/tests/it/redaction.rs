//! No password and no URL token in what the history or the logs get.

use rps::{Command, CommandDetail, RpsAccount, RpsApi, describe};
use serde_json::json;

use crate::support::{PHONE_PASSWORD, SECRET, TOKEN, http, mac, target};

fn assert_clean(text: &str) {
    assert!(!text.contains(TOKEN), "token leaked: {text}");
    assert!(!text.contains(PHONE_PASSWORD), "password leaked: {text}");
    assert!(!text.contains(SECRET), "account secret leaked: {text}");
}

#[test]
fn redirect_records_are_masked() {
    for api in [RpsApi::Xmlrpc, RpsApi::Json] {
        let record = describe(
            api,
            Command::RedirectDevice,
            Some(mac()),
            &CommandDetail::Redirect(target()),
        );
        let shown = serde_json::to_string(&record).unwrap();
        assert_clean(&shown);
        assert_eq!(
            record.params["unique_url"],
            json!("https://prov.example.com/prov/********/")
        );
        assert_eq!(record.params["server_name"], json!("pbx.example.com"));
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(value["command"], json!("REDIRECT_DEVICE"));
        assert_eq!(value["mac"], json!("805ec0112233"));
        match api {
            RpsApi::Json => {
                assert_eq!(record.params["password"], json!("********"));
                assert_eq!(record.params["auth_name"], json!("805ec0112233"));
                assert_eq!(record.params["method"], json!("device/add"));
            }
            RpsApi::Xmlrpc => {
                assert!(record.params.get("password").is_none());
                assert_eq!(
                    record.params["method"],
                    json!("redirect.registerDeviceWithUniqueUrl")
                );
                assert_eq!(record.params["override"], json!("1"));
            }
        }
        assert_clean(&format!("{record:?}"));
    }
}

#[test]
fn other_records() {
    let record = describe(
        RpsApi::Xmlrpc,
        Command::AddServer,
        None,
        &CommandDetail::Server {
            name: "pbx.example.com".into(),
            url: "https://user:pw-in-url@prov.example.com/prov/".into(),
        },
    );
    assert_eq!(
        record.params["url"],
        json!("https://********@prov.example.com/prov/")
    );
    assert_eq!(record.params["method"], json!("redirect.addServer"));
    let record = describe(
        RpsApi::Json,
        Command::DeregisterDevice,
        Some(mac()),
        &CommandDetail::None,
    );
    assert_eq!(
        record.params,
        json!({"api": "json", "method": "device/delete"})
    );
    let record = describe(
        RpsApi::Xmlrpc,
        Command::CheckDevice,
        Some(mac()),
        &CommandDetail::None,
    );
    assert_eq!(record.params["method"], json!("redirect.checkDevice"));
}

#[test]
fn trait_describe_matches_free_function() {
    let account = RpsAccount {
        api: RpsApi::Json,
        endpoint: String::new(),
        username: "AKID".into(),
        secret: SECRET.into(),
    };
    let client = rps::client(&account, http());
    let record = client.describe(
        Command::RedirectDevice,
        Some(mac()),
        &CommandDetail::Redirect(target()),
    );
    assert_eq!(record.params["api"], json!("json"));
    assert_clean(&serde_json::to_string(&record).unwrap());
    assert_clean(&format!("{account:?}"));
}

#[tokio::test]
async fn network_error_names_no_secret() {
    // Nothing listens on a port we just freed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    for api in [RpsApi::Xmlrpc, RpsApi::Json] {
        let account = RpsAccount {
            api,
            endpoint: format!("http://user:{SECRET}@127.0.0.1:{port}/xmlrpc?key={TOKEN}"),
            username: "u".into(),
            secret: SECRET.into(),
        };
        let client = rps::client(&account, http());
        let error = client.redirect_device(mac(), &target()).await.unwrap_err();
        assert!(error.is_retryable(), "{error:?}");
        assert!(matches!(error, rps::RpsError::Network(_)), "{error:?}");
        assert_clean(&error.to_string());
        assert_clean(&format!("{error:?}"));
    }
}
