//! Every answer text of the reference's tables, classified per command.

use rps::json::{Reply, classify as json_classify, parse_envelope};
use rps::xmlrpc::classify;
use rps::{Command, Outcome, RpsError};
use serde_json::json;

use Command::*;
use Outcome::*;

#[test]
fn xmlrpc_texts() {
    let invalid_mac = "Error:Invalid MAC(s):00s1122334400";
    let cases: &[(Command, bool, &str, Outcome)] = &[
        (AddServer, true, "OK", Ok),
        (RedirectDevice, true, "OK", Ok),
        (DeregisterDevice, true, "OK", Ok),
        // The concept page: every start after the first.
        (
            AddServer,
            false,
            "Error: The server name has been used",
            AlreadyDone,
        ),
        (
            AddServer,
            false,
            "Error:The server name has been used",
            AlreadyDone,
        ),
        // A new phone: DEREGISTER first answers "Invalid MAC(s)", which is expected.
        (DeregisterDevice, false, invalid_mac, AlreadyDone),
        (RedirectDevice, false, invalid_mac, Rejected),
        (CheckDevice, false, "Error:Invalid MAC", Ok),
        (RedirectDevice, false, "Error:Invalid server", Rejected),
        (
            AddServer,
            false,
            "Error:The server name can only contain 'A-z 0-9 - _ . '(include space)",
            Rejected,
        ),
        (
            AddServer,
            false,
            "Error:The url can only begin with 'http://' or 'https://' or 'ftp://' or 'tftp://'",
            Rejected,
        ),
        // falconieri: "owned by another user".
        (RedirectDevice, false, "Error:a1b2c3d4e5", Rejected),
        (
            RedirectDevice,
            false,
            "Existing MAC(s): 805ec0112233",
            AlreadyDone,
        ),
        (
            RedirectDevice,
            false,
            "Are you sure you want to override MAC addresses: 805ec0112233",
            Rejected,
        ),
        (CheckDevice, true, "registered", Ok),
        (CheckDevice, true, "unregistered", Ok),
        (CheckDevice, true, "unknown", Ok),
        (CheckDevice, true, "registered elsewhere", Ok),
        (CheckDevice, false, "unregistered", Ok),
        // Never seen: a business error, not a retry loop.
        (RedirectDevice, false, "Error:Something new", Rejected),
    ];
    for (command, success, text, expected) in cases {
        assert_eq!(
            classify(*command, *success, text),
            *expected,
            "{command} [{success}, {text:?}]"
        );
    }
}

#[test]
fn json_codes() {
    let cases: &[(Command, &str, Outcome)] = &[
        (RedirectDevice, "device.mac.existed", AlreadyDone),
        (RedirectDevice, "device.mac.added.by.other", Rejected),
        (RedirectDevice, "device.operate.forbidden", Rejected),
        (DeregisterDevice, "device.operate.forbidden", Rejected),
        (DeregisterDevice, "device.not.found", AlreadyDone),
        (RedirectDevice, "device.not.found", Rejected),
        (CheckDevice, "device.not.found", Ok),
        (AddServer, "server.name.existed", Rejected),
        (AddServer, "", Rejected),
    ];
    for (command, code, expected) in cases {
        assert_eq!(
            json_classify(*command, code),
            *expected,
            "{command} {code:?}"
        );
    }
}

#[test]
fn json_envelopes() {
    for ret in [0, 1] {
        let body = json!({"ret": ret, "data": {"id": "s1"}, "error": null}).to_string();
        assert_eq!(
            parse_envelope(&body).unwrap(),
            Reply::Success(json!({"id": "s1"}))
        );
    }
    let body =
        json!({"ret": -1, "data": null, "error": {"msg": "device.mac.existed", "fieldErrors": []}});
    assert_eq!(
        parse_envelope(&body.to_string()).unwrap(),
        Reply::Failure {
            code: "device.mac.existed".into(),
            text: "device.mac.existed".into()
        }
    );
    // Some builds say "errors"; field errors are kept for the history.
    let body = json!({"ret": -1, "errors": {"msg": "param.invalid", "fieldErrors": [{"field": "url", "msg": "url.invalid"}]}});
    assert_eq!(
        parse_envelope(&body.to_string()).unwrap(),
        Reply::Failure {
            code: "param.invalid".into(),
            text: "param.invalid (url: url.invalid)".into()
        }
    );
    let body = json!({"ret": "-2"});
    assert_eq!(
        parse_envelope(&body.to_string()).unwrap(),
        Reply::Failure {
            code: String::new(),
            text: "ret=-2".into()
        }
    );
    for garbage in ["", "<html>", "{\"data\":1}", "[1,2]"] {
        assert!(
            matches!(parse_envelope(garbage), Err(RpsError::Garbled(_))),
            "{garbage:?}"
        );
    }
}

#[test]
fn retryability() {
    assert!(RpsError::Timeout.is_retryable());
    assert!(RpsError::Network("x".into()).is_retryable());
    assert!(RpsError::Server { status: 503 }.is_retryable());
    assert!(RpsError::Server { status: 429 }.is_retryable());
    assert!(RpsError::Garbled("x".into()).is_retryable());
    assert!(!RpsError::Config("x".into()).is_retryable());
}

#[test]
fn server_names() {
    assert_eq!(
        rps::server_name_from_domain("pbx.example.com"),
        "pbx.example.com"
    );
    assert_eq!(
        rps::server_name_from_domain("voice.headquarters.example.com"),
        "voice.headquarters.examp"
    );
    assert_eq!(rps::server_name_from_domain("a+b@c"), "a-b-c");
    assert_eq!(rps::server_name_from_domain(""), "yealink-prov");
}

#[test]
fn invalid_server_is_told_apart_from_other_refusals() {
    use rps::xmlrpc::names_unknown_server;
    // peoplefone/provisioning-rpc (ProvisioningRPCDeviceYealink.php) matches it lower-cased.
    assert!(names_unknown_server(
        Outcome::Rejected,
        "Error:Invalid server"
    ));
    assert!(names_unknown_server(
        Outcome::Rejected,
        "error:invalid server"
    ));
    for other in [
        "Error:Invalid MAC(s):805ec0112233",
        "Error:The server name can only contain 'A-z 0-9 - _ . '(include space)",
        "Are you sure you want to override MAC addresses",
    ] {
        assert!(!names_unknown_server(Outcome::Rejected, other), "{other}");
    }
    assert!(!names_unknown_server(Outcome::Ok, "OK"));
}
