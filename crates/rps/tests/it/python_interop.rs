//! Our XML-RPC encoding, checked by an independent implementation: Python's standard-library
//! `xmlrpc.server` decodes what we send and answers; a script records every call it received.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use rps::{Outcome, RedirectTarget, Rps, RpsAccount, RpsApi, XmlRpcClient};
use serde_json::Value;
use yealink::Mac;

struct Recorder {
    child: Child,
    lines: BufReader<ChildStdout>,
    port: u16,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_recorder() -> Option<Recorder> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/xmlrpc_recorder.py"
    );
    let mut child = match Command::new("python3")
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 is required in CI: {e}"
            );
            eprintln!("SKIPPED: python3 not available ({e})");
            return None;
        }
    };
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines.read_line(&mut first).expect("read port");
    let port = first
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .expect("recorder prints its port");
    Some(Recorder { child, lines, port })
}

impl Recorder {
    fn next_call(&mut self) -> Value {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("read call");
        let json = line.trim().strip_prefix("CALL ").expect("a CALL line");
        serde_json::from_str(json).expect("call json")
    }
}

#[tokio::test]
async fn python_xmlrpc_server_understands_every_method() {
    let Some(mut recorder) = start_recorder() else {
        return;
    };
    let account = RpsAccount {
        api: RpsApi::Xmlrpc,
        endpoint: format!("http://127.0.0.1:{}/xmlrpc", recorder.port),
        username: "operator".into(),
        secret: "operator-secret".into(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let client = XmlRpcClient::new(&account, http);
    let mac = Mac::parse("80:5e:c0:aa:bb:cc").expect("mac");

    let answer = client
        .add_server("prov.example.com", "https://prov.example.com/prov/")
        .await
        .expect("addServer");
    assert_eq!(answer.outcome, Outcome::Ok);
    let call = recorder.next_call();
    assert_eq!(call["method"], "redirect.addServer");
    assert_eq!(
        call["params"],
        serde_json::json!(["prov.example.com", "https://prov.example.com/prov/"])
    );
    assert_eq!(call["user"], "operator");
    assert!(
        call["content_type"]
            .as_str()
            .unwrap_or_default()
            .starts_with("text/xml"),
        "{call}"
    );

    client.deregister_device(mac).await.expect("deRegister");
    let call = recorder.next_call();
    assert_eq!(call["method"], "redirect.deRegisterDevice");
    assert_eq!(call["params"][0], "805ec0aabbcc");

    let target = RedirectTarget {
        server_name: "prov.example.com".into(),
        unique_url: Some("https://prov.example.com/prov/Tok3n/".into()),
        auth_name: None,
        password: None,
    };
    client
        .redirect_device(mac, &target)
        .await
        .expect("redirect");
    let call = recorder.next_call();
    assert_eq!(call["method"], "redirect.registerDeviceWithUniqueUrl");
    assert_eq!(
        call["params"],
        serde_json::json!([
            "805ec0aabbcc",
            "prov.example.com",
            "https://prov.example.com/prov/Tok3n/",
            "1"
        ])
    );

    let plain = RedirectTarget {
        unique_url: None,
        ..target
    };
    client.redirect_device(mac, &plain).await.expect("register");
    let call = recorder.next_call();
    assert_eq!(call["method"], "redirect.registerDevice");
    assert_eq!(
        call["params"],
        serde_json::json!(["805ec0aabbcc", "prov.example.com", "1"])
    );

    let answer = client.check_device(mac).await.expect("check");
    assert_eq!(answer.text, "unregistered");
    assert_eq!(recorder.next_call()["method"], "redirect.checkDevice");
}
