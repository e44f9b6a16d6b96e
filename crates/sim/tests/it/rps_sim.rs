//! The RPS simulator driven over real HTTP on loopback with hand-built requests: XML-RPC
//! bodies written here, and a JSON signer written here (checked against the reference's test
//! vectors), so that neither the simulator's code nor our RPS client is trusted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac as _};
use md5::{Digest as _, Md5};
use prov_sim::rps::{
    Behavior, FOREIGN_SERVER_NAME, FOREIGN_SERVER_URL, Owner, RpsSim, RpsSimConfig, code, text,
};
use prov_sim::{SimError, SimPhone};
use reqwest::Client;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::fake_server::FakeServer;

const USER: &str = "acme";
const PASSWORD: &str = "s3cret";
const KEY: &str = "AKID_TEST";
const SECRET: &str = "SECRET_TEST";

async fn start() -> RpsSim {
    RpsSim::start(RpsSimConfig {
        xmlrpc_user: USER.to_owned(),
        xmlrpc_password: PASSWORD.to_owned(),
        access_key_id: KEY.to_owned(),
        access_key_secret: SECRET.to_owned(),
    })
    .await
    .unwrap()
}

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// XML-RPC, by hand

enum P<'a> {
    /// `<value><string><![CDATA[..]]></string></value>`, as falconieri/sipwise send.
    Str(&'a str),
    /// `<value>..</value>`, untyped (a string in XML-RPC).
    Untyped(&'a str),
    Int(i32),
}

fn method_call(method: &str, params: &[P<'_>]) -> String {
    let mut body = format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<methodCall>\n<methodName>{method}</methodName>\n<params>\n"
    );
    for p in params {
        let value = match p {
            P::Str(s) => format!("<string><![CDATA[{s}]]></string>"),
            P::Untyped(s) => (*s).to_owned(),
            P::Int(i) => format!("<int>{i}</int>"),
        };
        body.push_str(&format!("<param><value>{value}</value></param>\n"));
    }
    body.push_str("</params>\n</methodCall>\n");
    body
}

async fn xml_raw(sim: &RpsSim, body: String, auth: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = client()
        .post(sim.xmlrpc_url())
        .header("Content-Type", "text/xml")
        .body(body);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `[boolean, text]` from a response, requiring exactly the compact shape of the reference
/// (the one falconieri's regex matches) with the text untyped.
fn result_of(body: &str) -> (bool, String) {
    let (_, rest) = body
        .split_once("<params><param><value><array><data><value><boolean>")
        .unwrap_or_else(|| panic!("not a [boolean, text] answer: {body}"));
    let (flag, rest) = rest
        .split_once("</boolean></value><value>")
        .unwrap_or_else(|| panic!("boolean not followed by an untyped value: {body}"));
    let (text, _) = rest
        .split_once("</value></data></array></value></param></params></methodResponse>")
        .unwrap_or_else(|| panic!("text not followed by the end: {body}"));
    assert!(!text.contains('<'), "the text must be untyped: {body}");
    let ok = match flag {
        "1" => true,
        "0" => false,
        other => panic!("boolean {other:?}"),
    };
    (ok, unescape(text))
}

fn fault_of(body: &str) -> String {
    assert!(body.contains("<fault>"), "not a fault: {body}");
    let (_, rest) = body
        .split_once("<name>faultString</name><value>")
        .unwrap_or_else(|| panic!("no faultString: {body}"));
    unescape(rest.split_once("</value>").unwrap().0)
}

async fn xml(sim: &RpsSim, method: &str, params: &[P<'_>]) -> (bool, String) {
    let response = xml_raw(sim, method_call(method, params), Some((USER, PASSWORD))).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    result_of(&response.text().await.unwrap())
}

async fn xml_fault(sim: &RpsSim, body: String) -> String {
    let response = xml_raw(sim, body, Some((USER, PASSWORD))).await;
    assert_eq!(response.status(), 200);
    fault_of(&response.text().await.unwrap())
}

fn ok() -> (bool, String) {
    (true, "OK".to_owned())
}

fn no(text: &str) -> (bool, String) {
    (false, text.to_owned())
}

/// falconieri's test for "owned by another user" (`^Error:[a-z0-9]{10}`), anchored here.
fn falconieri_owned_by_other(text: &str) -> bool {
    text.strip_prefix("Error:").is_some_and(|code| {
        code.len() == 10
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    })
}

async fn add_server(sim: &RpsSim, name: &str, url: &str) {
    assert_eq!(
        xml(sim, "redirect.addServer", &[P::Str(name), P::Str(url)]).await,
        ok()
    );
}

#[tokio::test]
async fn xmlrpc_add_server_and_its_errors() {
    let sim = start().await;
    add_server(&sim, "acme-pbx 1_a.b", "https://prov.example.com/y/").await;
    assert_eq!(
        xml(
            &sim,
            "redirect.addServer",
            &[P::Str("acme-pbx 1_a.b"), P::Str("http://other/")]
        )
        .await,
        no("Error: The server name has been used")
    );
    for bad in ["acme/pbx", "", "pbx:1", "ä"] {
        assert_eq!(
            xml(
                &sim,
                "redirect.addServer",
                &[P::Str(bad), P::Str("http://x/")]
            )
            .await,
            no("Error:The server name can only contain 'A-z 0-9 - _ . '(include space)"),
            "{bad:?}"
        );
    }
    for bad in ["prov.example.com", "file:///etc", "", "http://"] {
        assert_eq!(
            xml(&sim, "redirect.addServer", &[P::Str("s2"), P::Str(bad)]).await,
            no(
                "Error:The url can only begin with 'http://' or 'https://' or 'ftp://' or 'tftp://'"
            ),
            "{bad:?}"
        );
    }
    for (i, url) in ["ftp://f/", "tftp://t/", "http://h/"].iter().enumerate() {
        let name = format!("s{i}");
        add_server(&sim, &name, url).await;
    }
    let servers = sim.servers();
    assert_eq!(servers.len(), 4);
    assert_eq!(servers[0].name, "acme-pbx 1_a.b");
    assert_eq!(servers[0].url, "https://prov.example.com/y/");
    assert_eq!(servers[0].owner, Owner::ThisAccount);
    assert_eq!(servers[0].auth_name, None);
}

#[tokio::test]
async fn xmlrpc_register_device_formats_override_and_errors() {
    let sim = start().await;
    add_server(&sim, "pbx", "http://prov.example.com/").await;
    add_server(&sim, "pbx2", "http://prov2.example.com/").await;

    assert_eq!(
        xml(
            &sim,
            "redirect.registerDevice",
            &[P::Str("00s1122334400"), P::Str("pbx")]
        )
        .await,
        no("Error:Invalid MAC(s):00s1122334400")
    );
    assert_eq!(
        xml(
            &sim,
            "redirect.registerDevice",
            &[P::Str("805ec0112233"), P::Str("nope")]
        )
        .await,
        no("Error:Invalid server")
    );
    // The four notations of the reference, untyped or <string>, any case: stored normalised.
    let notations = [
        "0C1105002189",
        "0c 11 05 00 21 8a",
        "0C-11-05-00-21-8B",
        "0c:11:05:00:21:8c",
    ];
    for (i, mac) in notations.iter().enumerate() {
        let param = if i % 2 == 0 {
            P::Str(mac)
        } else {
            P::Untyped(mac)
        };
        assert_eq!(
            xml(&sim, "redirect.registerDevice", &[param, P::Str("pbx")]).await,
            ok(),
            "{mac}"
        );
    }
    let macs: Vec<String> = sim.devices().into_iter().map(|d| d.mac).collect();
    assert_eq!(
        macs,
        [
            "0c1105002189",
            "0c110500218a",
            "0c110500218b",
            "0c110500218c"
        ]
    );
    assert!(
        sim.devices()
            .iter()
            .all(|d| d.server_name.as_deref() == Some("pbx") && d.owner == Owner::ThisAccount)
    );

    // Already ours: refused without override ("0" or absent), moved with "1".
    for over in [None, Some("0")] {
        let mut params = vec![P::Str("0C-11-05-00-21-89"), P::Str("pbx2")];
        params.extend(over.map(P::Str));
        assert_eq!(
            xml(&sim, "redirect.registerDevice", &params).await,
            no("Existing MAC(s): 0C-11-05-00-21-89")
        );
    }
    assert_eq!(
        xml(
            &sim,
            "redirect.registerDevice",
            &[P::Str("0c1105002189"), P::Str("pbx2"), P::Str("1")]
        )
        .await,
        ok()
    );
    assert_eq!(
        sim.destination("0c1105002189").unwrap().url,
        "http://prov2.example.com/"
    );
    // isOverride as <int> works too.
    assert_eq!(
        xml(
            &sim,
            "redirect.registerDevice",
            &[P::Str("0c1105002189"), P::Str("pbx"), P::Int(1)]
        )
        .await,
        ok()
    );
    assert_eq!(sim.devices().len(), 4);
}

#[tokio::test]
async fn xmlrpc_register_with_unique_url() {
    let sim = start().await;
    add_server(&sim, "pbx", "http://prov.example.com/").await;
    let call = |mac: &'static str, server: &'static str, url: &'static str, over: &'static str| {
        let sim = sim.clone();
        async move {
            xml(
                &sim,
                "redirect.registerDeviceWithUniqueUrl",
                &[P::Str(mac), P::Str(server), P::Str(url), P::Str(over)],
            )
            .await
        }
    };
    assert_eq!(
        call(
            "AA-BB-CC-DD-EE-FF",
            "pbx",
            "https://prov.example.com/prov/tok123/",
            "1"
        )
        .await,
        ok()
    );
    let device = &sim.devices()[0];
    assert_eq!(device.mac, "aabbccddeeff");
    assert_eq!(
        device.unique_url.as_deref(),
        Some("https://prov.example.com/prov/tok123/")
    );
    assert_eq!(
        sim.destination("aabbccddeeff").unwrap().url,
        "https://prov.example.com/prov/tok123/"
    );
    assert_eq!(
        call("AA-BB-CC-DD-EE-F", "pbx", "http://x/", "1").await,
        no("Error:Invalid MAC(s):AA-BB-CC-DD-EE-F")
    );
    assert_eq!(
        call("aabbccddee00", "other", "http://x/", "1").await,
        no("Error:Invalid server")
    );
    assert_eq!(
        call("aabbccddee00", "pbx", "gopher://x/", "1").await,
        no(text::BAD_URL)
    );
    assert_eq!(
        call("aabbccddeeff", "pbx", "http://x/", "0").await,
        no("Existing MAC(s): aabbccddeeff")
    );
    // Three parameters: the method takes four.
    let fault = xml_fault(
        &sim,
        method_call(
            "redirect.registerDeviceWithUniqueUrl",
            &[P::Str("aabbccddee00"), P::Str("pbx"), P::Str("http://x/")],
        ),
    )
    .await;
    assert!(fault.starts_with("No method matching arguments"), "{fault}");
}

#[tokio::test]
async fn xmlrpc_foreign_mac_check_override_and_deregister() {
    let sim = start().await;
    add_server(&sim, "pbx", "http://prov.example.com/").await;
    sim.preregister_foreign("80:5E:C0:11:22:33");

    let check = |mac: &'static str| {
        let sim = sim.clone();
        async move { xml(&sim, "redirect.checkDevice", &[P::Str(mac)]).await }
    };
    assert_eq!(
        check("805ec0112233").await,
        (true, "registered elsewhere".into())
    );
    assert_eq!(check("805ec0999999").await, (true, "unregistered".into()));
    assert_eq!(
        check("805ec01122").await,
        no("Error:Invalid MAC(s):805ec01122")
    );

    // Not ours: cannot be deregistered, not taken without override.
    assert_eq!(
        xml(&sim, "redirect.deRegisterDevice", &[P::Str("805ec0112233")]).await,
        no("Error:Invalid MAC(s):805ec0112233")
    );
    for params in [
        vec![P::Str("805ec0112233"), P::Str("pbx")],
        vec![P::Str("805ec0112233"), P::Str("pbx"), P::Str("0")],
    ] {
        let (success, text) = xml(&sim, "redirect.registerDevice", &params).await;
        assert!(!success);
        assert!(falconieri_owned_by_other(&text), "{text}");
        assert_eq!(text, text::owned_elsewhere("805ec0112233"));
    }
    let (success, text) = xml(
        &sim,
        "redirect.registerDeviceWithUniqueUrl",
        &[
            P::Str("805ec0112233"),
            P::Str("pbx"),
            P::Str("http://u/"),
            P::Str("0"),
        ],
    )
    .await;
    assert!(!success && falconieri_owned_by_other(&text), "{text}");
    // Another MAC gets another code of the same shape.
    sim.preregister_foreign("805ec0112234");
    let (_, other) = xml(
        &sim,
        "redirect.registerDevice",
        &[P::Str("805ec0112234"), P::Str("pbx")],
    )
    .await;
    assert!(falconieri_owned_by_other(&other) && other != text);
    assert_eq!(
        sim.destination("805ec0112233").unwrap().url,
        FOREIGN_SERVER_URL
    );

    // With override the MAC becomes ours.
    assert_eq!(
        xml(
            &sim,
            "redirect.registerDevice",
            &[P::Str("805ec0112233"), P::Str("pbx"), P::Str("1")]
        )
        .await,
        ok()
    );
    assert_eq!(
        check("80-5E-C0-11-22-33").await,
        (true, "registered".into())
    );
    let device = sim
        .devices()
        .into_iter()
        .find(|d| d.mac == "805ec0112233")
        .unwrap();
    assert_eq!(device.owner, Owner::ThisAccount);
    assert_eq!(device.server_name.as_deref(), Some("pbx"));

    // Deregister: ours once, then unknown.
    assert_eq!(
        xml(
            &sim,
            "redirect.deRegisterDevice",
            &[P::Str("80:5e:c0:11:22:33")]
        )
        .await,
        ok()
    );
    assert_eq!(check("805ec0112233").await, (true, "unregistered".into()));
    assert_eq!(
        xml(
            &sim,
            "redirect.deRegisterDevice",
            &[P::Str("80:5e:c0:11:22:33")]
        )
        .await,
        no("Error:Invalid MAC(s):80:5e:c0:11:22:33")
    );
    assert_eq!(
        xml(&sim, "redirect.deRegisterDevice", &[P::Str("nonsense")]).await,
        no("Error:Invalid MAC(s):nonsense")
    );
    // The other account's server shows as theirs.
    let foreign = sim
        .servers()
        .into_iter()
        .find(|s| s.name == FOREIGN_SERVER_NAME)
        .unwrap();
    assert_eq!(foreign.owner, Owner::OtherAccount);
    // ...and cannot be used by this account.
    assert_eq!(
        xml(
            &sim,
            "redirect.registerDevice",
            &[P::Str("805ec0777777"), P::Str(FOREIGN_SERVER_NAME)]
        )
        .await,
        no("Error:Invalid server")
    );
}

#[tokio::test]
async fn xmlrpc_faults_and_basic_auth() {
    let sim = start().await;
    let fault = xml_fault(&sim, method_call("redirect.listEverything", &[])).await;
    assert_eq!(fault, "No such handler: redirect.listEverything");
    let response = xml_raw(
        &sim,
        method_call("redirect.checkDevice", &[]),
        Some((USER, PASSWORD)),
    )
    .await;
    let body = response.text().await.unwrap();
    assert!(fault_of(&body).starts_with("No method matching arguments"));
    assert!(body.contains("<name>faultCode</name><value><i4>0</i4></value>"));
    let fault = xml_fault(&sim, "this is not xml".to_owned()).await;
    assert!(
        fault.starts_with("Failed to parse XML-RPC request"),
        "{fault}"
    );

    let body = || method_call("redirect.checkDevice", &[P::Str("805ec0112233")]);
    for auth in [
        None,
        Some((USER, "wrong")),
        Some(("other", PASSWORD)),
        Some((USER, "")),
    ] {
        let response = xml_raw(&sim, body(), auth).await;
        assert_eq!(response.status(), 401, "{auth:?}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic "), "{challenge}");
    }
    // A Digest or Bearer header is no Basic login either.
    let response = client()
        .post(sim.xmlrpc_url())
        .bearer_auth(PASSWORD)
        .body(body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // peoplefone posts to /xmlrpc/.
    let response = client()
        .post(format!("{}/", sim.xmlrpc_url()))
        .basic_auth(USER, Some(PASSWORD))
        .body(body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        result_of(&response.text().await.unwrap()),
        (true, "unregistered".into())
    );

    let calls = sim.calls();
    assert_eq!(calls[0].api, "xmlrpc");
    assert_eq!(calls[0].method, "redirect.listEverything");
    assert!(!calls[0].ok);
    assert_eq!(calls[2].method, "(unreadable)");
    let unauthorized = &calls[3];
    assert_eq!(unauthorized.method, "redirect.checkDevice");
    assert_eq!(unauthorized.mac.as_deref(), Some("805ec0112233"));
    assert!(!unauthorized.ok);
    let last = calls.last().unwrap();
    assert!(last.ok && last.method == "redirect.checkDevice");
}

// ---------------------------------------------------------------------------------------
// JSON API, with a signer written here

type HmacSha256 = Hmac<Sha256>;

fn test_md5(body: &[u8]) -> String {
    STANDARD.encode(Md5::digest(body))
}

/// The reference's stringToSign and signature, independently of the simulator's `sign`.
#[allow(clippy::too_many_arguments)]
fn test_signature(
    secret: &str,
    method: &str,
    md5: Option<&str>,
    key: &str,
    nonce: &str,
    timestamp: &str,
    path: &str,
    query: &[(&str, &str)],
) -> String {
    let mut s = format!("{method}\n");
    if let Some(md5) = md5 {
        s.push_str(&format!("Content-MD5:{md5}\n"));
    }
    s.push_str(&format!(
        "X-Ca-Key:{key}\nX-Ca-Nonce:{nonce}\nX-Ca-Timestamp:{timestamp}\n{}",
        path.trim_start_matches('/')
    ));
    if !query.is_empty() {
        let mut sorted = query.to_vec();
        sorted.sort();
        let pairs: Vec<String> = sorted
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    (*k).to_owned()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        s.push('\n');
        s.push_str(&pairs.join("&"));
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(s.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn test_signer_matches_reference_vectors() {
    let body = br#"{"macs":["805ec0112233"],"serverId":"srv-1"}"#;
    let md5 = test_md5(body);
    assert_eq!(md5, "LLFfbs/WG1e64L3itBbpvA==");
    let (key, secret, nonce, ts) = (
        "AKID_EXAMPLE",
        "SECRET_EXAMPLE",
        "0f8e3c1b2a4d4e6f8a9b0c1d2e3f4a5b",
        "1700000000000",
    );
    assert_eq!(
        test_signature(
            secret,
            "POST",
            Some(&md5),
            key,
            nonce,
            ts,
            "/api/open/v1/device/add",
            &[]
        ),
        "BLC4OZmgffuokh28vQKBL0nORmhvpftPqaNznfD8LoY="
    );
    assert_eq!(
        test_signature(
            secret,
            "GET",
            None,
            key,
            nonce,
            ts,
            "/api/open/v1/device/checkMac",
            &[("mac", "805ec0112233")]
        ),
        "nVnpfxsgT81uB9FvLIIt/pUvzCgqGGpZ+j+v0mGnOPY="
    );
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn fresh_nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:016x}",
        now_ms(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One JSON request, with knobs to break it.
struct J<'a> {
    method: &'a str,
    api: &'a str,
    query: Vec<(&'a str, &'a str)>,
    body: Option<Vec<u8>>,
    key: &'a str,
    secret: &'a str,
    nonce: String,
    timestamp: String,
    /// Replaces the correct Content-MD5 header (`Some(None)`: leave it out).
    md5_header: Option<Option<String>>,
    /// Sent instead of `body` (after signing `body`).
    tampered_body: Option<Vec<u8>>,
    /// Sent instead of `query` (after signing `query`).
    tampered_query: Option<Vec<(&'a str, &'a str)>>,
}

impl<'a> J<'a> {
    fn post(api: &'a str, body: Value) -> J<'a> {
        J {
            method: "POST",
            body: Some(serde_json::to_vec(&body).unwrap()),
            ..J::get(api, &[])
        }
    }

    fn get(api: &'a str, query: &[(&'a str, &'a str)]) -> J<'a> {
        J {
            method: "GET",
            api,
            query: query.to_vec(),
            body: None,
            key: KEY,
            secret: SECRET,
            nonce: fresh_nonce(),
            timestamp: now_ms().to_string(),
            md5_header: None,
            tampered_body: None,
            tampered_query: None,
        }
    }

    async fn send(self, sim: &RpsSim) -> (u16, Value) {
        self.send_with(sim, &client()).await.unwrap()
    }

    async fn send_with(self, sim: &RpsSim, client: &Client) -> reqwest::Result<(u16, Value)> {
        let method = self.method;
        let path = format!("/api/open/v1/{}", self.api);
        let md5 = self.body.as_deref().map(test_md5);
        let signature = test_signature(
            self.secret,
            method,
            md5.as_deref(),
            self.key,
            &self.nonce,
            &self.timestamp,
            &path,
            &self.query,
        );
        let url = format!("{}{path}", sim.json_base_url());
        let mut request = client
            .request(method.parse().unwrap(), url)
            .header("X-Ca-Key", self.key)
            .header("X-Ca-Nonce", &self.nonce)
            .header("X-Ca-Timestamp", &self.timestamp)
            .header("X-Ca-Signature", signature)
            .header("Accept", "application/json");
        let query = self.tampered_query.unwrap_or(self.query);
        if !query.is_empty() {
            request = request.query(&query);
        }
        let md5_header = self.md5_header.unwrap_or(md5);
        if let Some(md5) = md5_header {
            request = request.header("Content-MD5", md5);
        }
        if let Some(body) = self.tampered_body.or(self.body) {
            request = request
                .header("Content-Type", "application/json;charset=UTF-8")
                .body(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {status}: {text:?}"));
        Ok((status, value))
    }
}

/// The `data` of a successful answer.
fn data(answer: (u16, Value)) -> Value {
    let (status, body) = answer;
    assert_eq!(status, 200, "{body}");
    assert!(body["ret"].as_i64().unwrap() >= 0, "{body}");
    assert!(body["error"].is_null(), "{body}");
    body["data"].clone()
}

/// The error code of a refusal with HTTP `status`.
fn error(answer: (u16, Value), status: u16) -> String {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["ret"], -1, "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert!(body["error"]["fieldErrors"].is_array(), "{body}");
    body["error"]["msg"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn json_signature_checks() {
    let sim = start().await;
    let checkmac = [("mac", "805ec0112233")];
    // A good GET and a good POST.
    assert_eq!(
        data(J::get("device/checkMac", &checkmac).send(&sim).await),
        json!({"existed": false, "self": null})
    );
    let (status, body) = J::post("server/add", json!({"serverName": "s", "url": "http://p/"}))
        .send(&sim)
        .await;
    assert_eq!((status, body["ret"].clone()), (200, json!(1)));
    // No parameters: no query line in the string to sign.
    assert_eq!(
        data(J::get("device/serverList", &[]).send(&sim).await)[0]["serverName"],
        "s"
    );

    // Wrong secret, wrong key.
    let wrong_secret = J {
        secret: "not-the-secret",
        ..J::get("device/checkMac", &checkmac)
    };
    assert_eq!(
        error(wrong_secret.send(&sim).await, 401),
        code::SIGNATURE_INVALID
    );
    let wrong_key = J {
        key: "AKID_OTHER",
        ..J::get("device/checkMac", &checkmac)
    };
    assert_eq!(error(wrong_key.send(&sim).await, 401), "auth.key.invalid");

    // A nonce is good once.
    let nonce = fresh_nonce();
    let first = J {
        nonce: nonce.clone(),
        ..J::get("device/checkMac", &checkmac)
    };
    data(first.send(&sim).await);
    let replay = J {
        nonce,
        ..J::get("device/checkMac", &checkmac)
    };
    assert_eq!(error(replay.send(&sim).await, 401), "auth.nonce.replayed");
    let empty_nonce = J {
        nonce: String::new(),
        ..J::get("device/checkMac", &checkmac)
    };
    assert_eq!(
        error(empty_nonce.send(&sim).await, 401),
        "auth.nonce.invalid"
    );

    // Timestamps: 16 minutes off either way, seconds instead of milliseconds.
    let sixteen_minutes = 16 * 60 * 1000;
    for timestamp in [
        (now_ms() - sixteen_minutes).to_string(),
        (now_ms() + sixteen_minutes).to_string(),
        (now_ms() / 1000).to_string(),
        "abcdefghijklm".to_owned(),
    ] {
        let stale = J {
            timestamp: timestamp.clone(),
            ..J::get("device/checkMac", &checkmac)
        };
        assert_eq!(
            error(stale.send(&sim).await, 401),
            "auth.timestamp.invalid",
            "{timestamp}"
        );
    }
    // 14 minutes is fine.
    let late = J {
        timestamp: (now_ms() - 14 * 60 * 1000).to_string(),
        ..J::get("device/checkMac", &checkmac)
    };
    data(late.send(&sim).await);

    // Content-MD5: wrong, missing, or a body changed after signing.
    let body = json!({"serverName": "t", "url": "http://p/"});
    let bad_md5 = J {
        md5_header: Some(Some(test_md5(b"something else"))),
        ..J::post("server/add", body.clone())
    };
    assert_eq!(
        error(bad_md5.send(&sim).await, 401),
        "auth.content.md5.invalid"
    );
    let no_md5 = J {
        md5_header: Some(None),
        ..J::post("server/add", body.clone())
    };
    assert_eq!(
        error(no_md5.send(&sim).await, 401),
        "auth.content.md5.invalid"
    );
    let tampered = J {
        tampered_body: Some(br#"{"serverName":"t","url":"http://evil/"}"#.to_vec()),
        ..J::post("server/add", body.clone())
    };
    assert_eq!(
        error(tampered.send(&sim).await, 401),
        "auth.content.md5.invalid"
    );
    // A query changed after signing.
    let tampered = J {
        tampered_query: Some(vec![("mac", "805ec0999999")]),
        ..J::get("device/checkMac", &checkmac)
    };
    assert_eq!(
        error(tampered.send(&sim).await, 401),
        code::SIGNATURE_INVALID
    );
    // Nothing was added by the refused requests.
    assert_eq!(sim.servers().len(), 1);

    // Query values are signed raw: a space (sent as %20 or +) is a space in the string.
    data(
        J::post(
            "server/add",
            json!({"serverName": "My PBX", "url": "http://p/"}),
        )
        .send(&sim)
        .await,
    );
    assert_eq!(
        data(
            J::get("server/checkServerName", &[("serverName", "My PBX")])
                .send(&sim)
                .await
        ),
        json!(true)
    );
    let calls = sim.calls();
    assert!(calls.iter().all(|c| c.api == "json"));
    assert_eq!(calls.iter().filter(|c| c.ok).count(), 7);
    assert_eq!(calls[0].method, "/api/open/v1/device/checkMac");
    assert_eq!(calls[0].mac.as_deref(), Some("805ec0112233"));
}

#[tokio::test]
async fn json_server_flows() {
    let sim = start().await;
    let added = data(
        J::post(
            "server/add",
            json!({"serverName": "acme", "url": "https://prov.example.com/y/",
                   "authName": "rps", "password": "pw", "certificateUrl": "https://ca/"}),
        )
        .send(&sim)
        .await,
    );
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(added["serverName"], "acme");
    assert_eq!(added["authName"], "rps");
    assert!(added.get("password").is_none(), "{added}");
    let server = &sim.servers()[0];
    assert_eq!(
        (server.auth_name.as_deref(), server.password.as_deref()),
        (Some("rps"), Some("pw"))
    );

    let add = |name: &'static str, url: &'static str| {
        let sim = sim.clone();
        async move {
            J::post("server/add", json!({"serverName": name, "url": url}))
                .send(&sim)
                .await
        }
    };
    assert_eq!(
        error(add("acme", "http://x/").await, 200),
        "server.name.existed"
    );
    assert_eq!(
        error(add("ac/me", "http://x/").await, 200),
        "server.name.invalid"
    );
    assert_eq!(
        error(add("acme2", "x.example").await, 200),
        "server.url.invalid"
    );
    let missing = J::post("server/add", json!({"serverName": "acme2"}))
        .send(&sim)
        .await;
    assert_eq!(missing.1["error"]["fieldErrors"][0]["field"], "url");
    assert_eq!(error(missing, 200), "param.invalid");
    data(add("beta", "http://b/").await);
    data(add("gamma", "http://g/").await);

    assert_eq!(
        data(
            J::get("server/checkServerName", &[("serverName", "acme")])
                .send(&sim)
                .await
        ),
        json!(true)
    );
    assert_eq!(
        data(
            J::get("server/checkServerName", &[("serverName", "zeta")])
                .send(&sim)
                .await
        ),
        json!(false)
    );
    // Names are unique across accounts.
    sim.preregister_foreign("805ec0000001");
    assert_eq!(
        data(
            J::get(
                "server/checkServerName",
                &[("serverName", FOREIGN_SERVER_NAME)]
            )
            .send(&sim)
            .await
        ),
        json!(true)
    );

    let list = |body: Value| {
        let sim = sim.clone();
        async move { data(J::post("server/list", body).send(&sim).await) }
    };
    let all = list(json!({"skip": 0, "limit": 10, "autoCount": true})).await;
    assert_eq!(all["total"], 3, "only this account's servers: {all}");
    let page = list(json!({"skip": 1, "limit": 1, "autoCount": true})).await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["serverName"], "beta");
    let found = list(json!({"key": "CME", "skip": 0, "limit": 10})).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["data"][0]["id"], id.as_str());
    assert_eq!(
        error(
            J::post("server/list", json!({"limit": 10}))
                .send(&sim)
                .await,
            200
        ),
        "param.invalid"
    );

    let detail = data(J::get("server/detail", &[("id", &id)]).send(&sim).await);
    assert_eq!(detail["url"], "https://prov.example.com/y/");
    assert_eq!(
        error(
            J::get("server/detail", &[("id", "srv-999")])
                .send(&sim)
                .await,
            200
        ),
        "server.not.found"
    );

    // Edit: rename (not onto another's name), keep credentials unless given, clear with "".
    let edited = data(
        J::post(
            "server/edit",
            json!({"id": id, "serverName": "acme-new", "url": "https://prov2.example.com/"}),
        )
        .send(&sim)
        .await,
    );
    assert_eq!(edited["serverName"], "acme-new");
    assert_eq!(edited["authName"], "rps");
    assert_eq!(
        error(
            J::post(
                "server/edit",
                json!({"id": id, "serverName": "beta", "url": "http://x/"})
            )
            .send(&sim)
            .await,
            200
        ),
        "server.name.existed"
    );
    data(
        J::post(
            "server/edit",
            json!({"id": id, "serverName": "acme-new", "url": "https://prov2.example.com/", "authName": ""}),
        )
        .send(&sim)
        .await,
    );
    assert_eq!(sim.servers()[0].auth_name, None);
    assert_eq!(sim.servers()[0].name, "acme-new");

    // Delete: not while a device points at it; unknown ids refuse the whole batch.
    data(
        J::post(
            "device/add",
            json!({"macs": ["805ec0aaaaaa"], "serverId": id}),
        )
        .send(&sim)
        .await,
    );
    assert_eq!(
        error(
            J::post("server/delete", json!({"ids": [id]}))
                .send(&sim)
                .await,
            200
        ),
        "server.used.by.device"
    );
    let beta = found_id(&sim, "beta");
    assert_eq!(
        error(
            J::post("server/delete", json!({"ids": [beta.clone(), "srv-999"]}))
                .send(&sim)
                .await,
            200
        ),
        "server.not.found"
    );
    assert!(sim.servers().iter().any(|s| s.name == "beta"));
    let (status, body) = J::post("server/delete", json!({"ids": [beta]}))
        .send(&sim)
        .await;
    assert_eq!(
        (status, &body["ret"], &body["data"]),
        (200, &json!(1), &Value::Null)
    );
    assert!(!sim.servers().iter().any(|s| s.name == "beta"));
}

fn found_id(sim: &RpsSim, name: &str) -> String {
    sim.servers()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
        .id
}

#[tokio::test]
async fn json_device_flows() {
    let sim = start().await;
    let server = data(
        J::post(
            "server/add",
            json!({"serverName": "acme", "url": "https://prov.example.com/y/",
                   "authName": "srvuser", "password": "srvpw"}),
        )
        .send(&sim)
        .await,
    );
    let server_id = server["id"].as_str().unwrap().to_owned();
    sim.preregister_foreign("805ec0ffffff");

    // Add two, one of them in another notation.
    let (status, body) = J::post(
        "device/add",
        json!({"macs": ["805ec0112233", "80:5E:C0:11:22:44"], "serverId": server_id,
               "remark": "lobby"}),
    )
    .send(&sim)
    .await;
    assert_eq!((status, &body["ret"]), (200, &json!(1)), "{body}");
    let added = body["data"].as_array().unwrap().clone();
    assert_eq!(added.len(), 2);
    assert_eq!(added[1]["mac"], "805ec0112244");
    assert_eq!(added[0]["serverId"], server_id.as_str());
    assert_eq!(added[0]["serverName"], "acme");
    assert_eq!(added[0]["serverUrl"], "https://prov.example.com/y/");
    assert_eq!(added[0]["remark"], "lobby");
    let first_id = added[0]["id"].as_str().unwrap().to_owned();

    // The codes of the reference.
    let add = |macs: Value| {
        let sim = sim.clone();
        let server_id = server_id.clone();
        async move {
            J::post("device/add", json!({"macs": macs, "serverId": server_id}))
                .send(&sim)
                .await
        }
    };
    let existed = add(json!(["805ec0112233"])).await;
    assert_eq!(existed.1["error"]["fieldErrors"][0]["msg"], "805ec0112233");
    assert_eq!(error(existed, 200), "device.mac.existed");
    assert_eq!(
        error(add(json!(["805ec0000002", "805ec0ffffff"])).await, 200),
        "device.mac.added.by.other"
    );
    assert_eq!(
        error(add(json!(["805ec0zzzzzz"])).await, 200),
        "device.mac.invalid"
    );
    assert_eq!(error(add(json!([])).await, 200), "param.invalid");
    // All or nothing: 805ec0000002 was not added with the foreign MAC.
    assert!(!sim.devices().iter().any(|d| d.mac == "805ec0000002"));
    assert_eq!(
        error(
            J::post(
                "device/add",
                json!({"macs": ["805ec0000003"], "serverId": "srv-999"})
            )
            .send(&sim)
            .await,
            200
        ),
        "server.not.found"
    );
    assert_eq!(
        error(
            J::post(
                "device/add",
                json!({"macs": ["805ec0000003"], "uniqueServerUrl": "mailto:x"})
            )
            .send(&sim)
            .await,
            200
        ),
        "server.url.invalid"
    );

    // checkMac: ours, theirs, nobody's.
    let check = |mac: &'static str| {
        let sim = sim.clone();
        async move { J::get("device/checkMac", &[("mac", mac)]).send(&sim).await }
    };
    assert_eq!(
        data(check("805ec0112233").await),
        json!({"existed": true, "self": true})
    );
    assert_eq!(
        data(check("80-5E-C0-FF-FF-FF").await),
        json!({"existed": true, "self": false})
    );
    assert_eq!(
        data(check("805ec0123456").await),
        json!({"existed": false, "self": null})
    );
    assert_eq!(error(check("nope").await, 200), "device.mac.invalid");

    // List: fuzzy on the MAC, only this account's, paged.
    let listed = data(
        J::post(
            "device/list",
            json!({"key": "11:22:4", "skip": 0, "limit": 10, "autoCount": true}),
        )
        .send(&sim)
        .await,
    );
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["data"][0]["mac"], "805ec0112244");
    let listed = data(
        J::post(
            "device/list",
            json!({"status": "bound", "skip": 0, "limit": 10}),
        )
        .send(&sim)
        .await,
    );
    assert_eq!(listed["total"], 2);

    // Detail, edit, and what the phone is told.
    let detail = data(
        J::get("device/detail", &[("id", &first_id)])
            .send(&sim)
            .await,
    );
    assert_eq!(detail["mac"], "805ec0112233");
    let destination = sim.destination("805ec0112233").unwrap();
    assert_eq!(
        (
            destination.url.as_str(),
            destination.auth_name.as_deref(),
            destination.password.as_deref()
        ),
        (
            "https://prov.example.com/y/",
            Some("srvuser"),
            Some("srvpw")
        )
    );
    let edited = data(
        J::post(
            "device/edit",
            json!({"id": first_id, "uniqueServerUrl": "https://prov.example.com/prov/tok/",
                   "authName": "805ec0112233", "password": "devpw"}),
        )
        .send(&sim)
        .await,
    );
    assert_eq!(
        edited["uniqueServerUrl"],
        "https://prov.example.com/prov/tok/"
    );
    assert_eq!(edited["authName"], "805ec0112233");
    assert_eq!(edited["serverName"], "acme", "untouched fields stay");
    assert_eq!(edited["remark"], "lobby");
    let destination = sim.destination("805ec0112233").unwrap();
    assert_eq!(
        (
            destination.url.as_str(),
            destination.auth_name.as_deref(),
            destination.password.as_deref()
        ),
        (
            "https://prov.example.com/prov/tok/",
            Some("805ec0112233"),
            Some("devpw")
        )
    );
    assert_eq!(
        error(
            J::post("device/edit", json!({"id": "dev-999", "remark": "x"}))
                .send(&sim)
                .await,
            200
        ),
        "device.not.found"
    );
    assert_eq!(
        error(
            J::post(
                "device/edit",
                json!({"id": first_id, "serverId": "srv-999"})
            )
            .send(&sim)
            .await,
            200
        ),
        "server.not.found"
    );

    // Delete by MAC, again (not found), by id; another account's: forbidden.
    let deleted = data(
        J::post("device/delete", json!({"macs": ["805ec0112233"]}))
            .send(&sim)
            .await,
    );
    assert_eq!(deleted, json!(1));
    assert_eq!(
        error(
            J::post("device/delete", json!({"macs": ["805ec0112233"]}))
                .send(&sim)
                .await,
            200
        ),
        "device.not.found"
    );
    assert_eq!(
        error(
            J::post("device/delete", json!({"macs": ["805ec0ffffff"]}))
                .send(&sim)
                .await,
            200
        ),
        "device.operate.forbidden"
    );
    let second_id = added[1]["id"].as_str().unwrap();
    assert_eq!(
        data(
            J::post("device/delete", json!({"ids": [second_id]}))
                .send(&sim)
                .await
        ),
        json!(1)
    );
    assert_eq!(
        error(J::post("device/delete", json!({})).send(&sim).await, 200),
        "param.invalid"
    );
    let ours: Vec<_> = sim
        .devices()
        .into_iter()
        .filter(|d| d.owner == Owner::ThisAccount)
        .collect();
    assert!(ours.is_empty(), "{ours:?}");

    // Wrong HTTP method and unknown API.
    let wrong = J {
        method: "GET",
        ..J::get("device/add", &[])
    };
    assert_eq!(
        error(wrong.send(&sim).await, 405),
        "request.method.not.supported"
    );
    assert_eq!(
        error(J::get("device/teleport", &[]).send(&sim).await, 404),
        "request.path.not.found"
    );
    let log: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "/api/open/v1/device/add")
        .collect();
    assert_eq!(log[0].mac.as_deref(), Some("805ec0112233,805ec0112244"));
    assert!(log[0].ok && !log[1].ok);
}

#[tokio::test]
async fn both_apis_share_one_account() {
    let sim = start().await;
    add_server(&sim, "from-xmlrpc", "http://x/").await;
    let servers = data(J::get("device/serverList", &[]).send(&sim).await);
    let id = servers[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(servers[0]["serverName"], "from-xmlrpc");
    data(
        J::post(
            "device/add",
            json!({"macs": ["805ec0112233"], "serverId": id}),
        )
        .send(&sim)
        .await,
    );
    assert_eq!(
        xml(&sim, "redirect.checkDevice", &[P::Str("805ec0112233")]).await,
        (true, "registered".into())
    );
    assert_eq!(
        xml(
            &sim,
            "redirect.registerDevice",
            &[P::Str("805ec0112233"), P::Str("from-xmlrpc")]
        )
        .await,
        no("Existing MAC(s): 805ec0112233")
    );
    assert_eq!(
        xml(&sim, "redirect.deRegisterDevice", &[P::Str("805ec0112233")]).await,
        ok()
    );
    assert_eq!(
        data(
            J::get("device/checkMac", &[("mac", "805ec0112233")])
                .send(&sim)
                .await
        ),
        json!({"existed": false, "self": null})
    );
}

// ---------------------------------------------------------------------------------------
// Behaviours

#[tokio::test]
async fn behaviours_down_ratelimited_garbage() {
    let sim = start().await;
    add_server(&sim, "pbx", "http://prov.example.com/").await;
    let lookup = || {
        client()
            .get(format!("{}/phone/lookup?mac=805ec0112233", sim.base_url()))
            .send()
    };

    let check = || {
        xml_raw(
            &sim,
            method_call("redirect.checkDevice", &[P::Str("805ec0112233")]),
            Some((USER, PASSWORD)),
        )
    };
    // A correctly signed JSON request: the behaviour wins over the API.
    let json_raw = || async {
        let request = J::get("device/serverList", &[]);
        let path = "/api/open/v1/device/serverList";
        let signature = test_signature(
            SECRET,
            "GET",
            None,
            KEY,
            &request.nonce,
            &request.timestamp,
            path,
            &[],
        );
        client()
            .get(format!("{}{path}", sim.json_base_url()))
            .header("X-Ca-Key", KEY)
            .header("X-Ca-Nonce", &request.nonce)
            .header("X-Ca-Timestamp", &request.timestamp)
            .header("X-Ca-Signature", signature)
            .send()
            .await
            .unwrap()
    };

    sim.set_behavior(Behavior::Down503);
    assert_eq!(check().await.status(), 503);
    assert_eq!(lookup().await.unwrap().status(), 503);
    assert_eq!(json_raw().await.status(), 503);

    sim.set_behavior(Behavior::RateLimited);
    for response in [check().await, lookup().await.unwrap(), json_raw().await] {
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
    }

    sim.set_behavior(Behavior::Garbage);
    let response = check().await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(!body.contains("<methodResponse"), "{body}");
    assert!(dxr::MethodResponse::from_xml(&body).is_err());
    assert!(serde_json::from_str::<Value>(&body).is_err());
    let response = json_raw().await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(serde_json::from_str::<Value>(&response.text().await.unwrap()).is_err());

    sim.set_behavior(Behavior::Normal);
    assert_eq!(
        xml(&sim, "redirect.checkDevice", &[P::Str("805ec0112233")]).await,
        (true, "unregistered".into())
    );
    assert_eq!(
        data(J::get("device/serverList", &[]).send(&sim).await)[0]["serverName"],
        "pbx"
    );
    // The misbehaving requests were recorded as failed.
    let calls = sim.calls();
    assert_eq!(calls.iter().filter(|c| !c.ok).count(), 8);
    assert_eq!(calls.len(), 11);
    assert!(calls.last().unwrap().ok);
}

#[tokio::test]
async fn behaviour_slow() {
    let sim = start().await;
    sim.set_behavior(Behavior::Slow(Duration::from_millis(400)));
    let impatient = Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = J::get("device/serverList", &[])
        .send_with(&sim, &impatient)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let started = Instant::now();
    let servers = data(J::get("device/serverList", &[]).send(&sim).await);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(servers, json!([]));
}

#[tokio::test]
async fn behaviour_refuse_new_and_kept_alive_connections() {
    let sim = start().await;
    let pooled = client();
    let lookup = |c: &Client| {
        c.get(format!("{}/phone/lookup?mac=805ec0112233", sim.base_url()))
            .send()
    };
    assert_eq!(lookup(&pooled).await.unwrap().status(), 404);
    sim.set_behavior(Behavior::Refuse);
    // The kept-alive connection is cut off at its next request...
    assert!(lookup(&pooled).await.is_err());
    // ...and new connections are closed at once.
    assert!(lookup(&client()).await.is_err());
    let err = xml_raw_result(&sim).await.unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    sim.set_behavior(Behavior::Normal);
    assert_eq!(lookup(&pooled).await.unwrap().status(), 404);
    // No request reached the service while refusing.
    assert_eq!(sim.calls().len(), 2);
}

async fn xml_raw_result(sim: &RpsSim) -> reqwest::Result<reqwest::Response> {
    client()
        .post(sim.xmlrpc_url())
        .basic_auth(USER, Some(PASSWORD))
        .body(method_call(
            "redirect.checkDevice",
            &[P::Str("805ec0112233")],
        ))
        .send()
        .await
}

#[tokio::test]
async fn stop_closes_the_port_and_drop_does_too() {
    let sim = start().await;
    let url = format!("{}/phone/lookup?mac=805ec0112233", sim.base_url());
    assert_eq!(client().get(&url).send().await.unwrap().status(), 404);
    let other_handle = sim.clone();
    sim.stop().await;
    assert!(client().get(&url).send().await.is_err());
    drop(other_handle);

    let sim = start().await;
    let url = format!("{}/phone/lookup?mac=805ec0112233", sim.base_url());
    drop(sim);
    // Shutdown after the last handle goes is asynchronous: allow it a moment.
    let mut closed = false;
    for _ in 0..50 {
        if client().get(&url).send().await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed);
}

#[tokio::test]
async fn refuses_non_loopback() {
    let config = RpsSimConfig {
        xmlrpc_user: USER.to_owned(),
        xmlrpc_password: PASSWORD.to_owned(),
        access_key_id: KEY.to_owned(),
        access_key_secret: SECRET.to_owned(),
    };
    let err = RpsSim::start_on("0.0.0.0:0".parse().unwrap(), config.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    // Secrets stay out of Debug.
    let debug = format!("{config:?}");
    assert!(
        !debug.contains(PASSWORD) && !debug.contains(SECRET),
        "{debug}"
    );
}

// ---------------------------------------------------------------------------------------
// The phone's side

#[tokio::test]
async fn lookup_answers() {
    let sim = start().await;
    add_server(&sim, "pbx", "http://prov.example.com/y/").await;
    assert_eq!(
        xml(
            &sim,
            "redirect.registerDevice",
            &[P::Str("805ec0112233"), P::Str("pbx")]
        )
        .await,
        ok()
    );
    let get = |mac: &'static str| {
        let url = format!("{}/phone/lookup?mac={mac}", sim.base_url());
        async move { client().get(url).send().await.unwrap() }
    };
    let found = get("80:5e:c0:11:22:33").await;
    assert_eq!(found.status(), 200);
    assert_eq!(
        found.json::<Value>().await.unwrap(),
        json!({"url": "http://prov.example.com/y/", "auth_name": null, "password": null})
    );
    assert_eq!(get("805ec0999999").await.status(), 404);
    assert_eq!(get("nonsense").await.status(), 400);
    let lookups: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.api == "phone")
        .collect();
    assert_eq!(lookups.len(), 3);
    assert_eq!(lookups[0].method, "/phone/lookup");
    assert_eq!(lookups[0].mac.as_deref(), Some("805ec0112233"));
    assert!(lookups[0].ok && !lookups[1].ok && !lookups[2].ok);
}

#[tokio::test]
async fn factory_phone_asks_rps_then_provisions_with_its_credentials() {
    const MAC: &str = "805ec0112233";
    let prov = FakeServer::start().await;
    let base = "/prov/tok/";
    prov.put_file(
        &format!("{base}{MAC}.boot"),
        &format!("#!version:1.0.0.1\ninclude:config \"{MAC}.cfg\"\n"),
    );
    prov.put_file(
        &format!("{base}{MAC}.cfg"),
        "#!version:1.0.0.1\naccount.1.user_name = 201\n",
    );
    prov.protect(base, MAC, "devpw");

    let sim = start().await;
    let server = data(
        J::post(
            "server/add",
            json!({"serverName": "acme", "url": prov.url("/unused/")}),
        )
        .send(&sim)
        .await,
    );
    data(
        J::post(
            "device/add",
            json!({"macs": [MAC], "serverId": server["id"], "uniqueServerUrl": prov.url(base),
                   "authName": MAC, "password": "devpw"}),
        )
        .send(&sim)
        .await,
    );

    let mut phone = SimPhone::new("80:5E:C0:11:22:33", "T46U", "108.86.0.90").unwrap();
    assert!(phone.ask_rps(&sim.base_url()).await.unwrap());
    assert_eq!(phone.provisioning_server(), Some(prov.url(base).as_str()));
    let run = phone.provision().await.unwrap();
    assert_eq!(run.applied_files, [format!("{MAC}.cfg")]);
    assert_eq!(phone.params()["account.1.user_name"], "201");

    // A phone with a URL does not consult RPS; after a factory reset it does again.
    assert!(matches!(
        phone.ask_rps(&sim.base_url()).await,
        Err(SimError::NotFactoryFresh(_))
    ));
    phone.factory_reset();
    assert_eq!(phone.provisioning_server(), None);
    assert!(phone.params().is_empty());

    // Taken over by another account: the reset phone goes there (the "RPS lock").
    sim.preregister_foreign(MAC);
    assert!(
        phone
            .ask_rps(&format!("{}/", sim.base_url()))
            .await
            .unwrap()
    );
    assert_eq!(phone.provisioning_server(), Some(FOREIGN_SERVER_URL));

    // Unknown to RPS: stays without a server.
    let mut stranger = SimPhone::new("805ec0999999", "T54W", "96.86.0.100").unwrap();
    assert!(!stranger.ask_rps(&sim.base_url()).await.unwrap());
    assert_eq!(stranger.provisioning_server(), None);

    // RPS misbehaving.
    sim.set_behavior(Behavior::Down503);
    assert!(matches!(
        stranger.ask_rps(&sim.base_url()).await,
        Err(SimError::UnexpectedStatus { status: 503, .. })
    ));
    sim.set_behavior(Behavior::Garbage);
    assert!(matches!(
        stranger.ask_rps(&sim.base_url()).await,
        Err(SimError::BadRpsAnswer(_))
    ));
    assert_eq!(stranger.provisioning_server(), None);
    let asked: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.api == "phone")
        .map(|c| (c.mac.unwrap(), c.ok))
        .collect();
    assert_eq!(
        asked,
        [
            (MAC.to_owned(), true),
            (MAC.to_owned(), true),
            ("805ec0999999".to_owned(), false),
            ("805ec0999999".to_owned(), false),
            ("805ec0999999".to_owned(), false),
        ]
    );
}

/// The child process, killed (by its handle) when the test ends, also on a panic.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rps_command(listen: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_yealink-sim"));
    command
        .args(["rps", "--listen", listen, "--user", USER])
        .args(["--access-key-id", KEY, "--foreign", "805ec0ffffff"])
        .env("YEALINK_SIM_RPS_PASSWORD", PASSWORD)
        .env("YEALINK_SIM_RPS_SECRET", SECRET);
    command
}

#[tokio::test]
async fn binary_runs_rps_on_loopback() {
    use std::io::BufRead as _;
    let mut child = KillOnDrop(
        rps_command("127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    // Read the banner off the runtime: the four lines end with the lookup URL.
    let printed = tokio::task::spawn_blocking(move || {
        let mut printed = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.starts_with("phone lookup:");
            printed.push(line);
            if done {
                break;
            }
        }
        printed
    });
    let printed = tokio::time::timeout(Duration::from_secs(60), printed)
        .await
        .unwrap()
        .unwrap();
    let xmlrpc_url = printed
        .iter()
        .find_map(|l| l.strip_prefix("XML-RPC:"))
        .unwrap_or_else(|| panic!("{printed:?}"))
        .trim()
        .to_owned();
    assert!(xmlrpc_url.starts_with("http://127.0.0.1:"), "{xmlrpc_url}");
    assert!(xmlrpc_url.ends_with("/xmlrpc"), "{xmlrpc_url}");
    let response = client()
        .post(&xmlrpc_url)
        .basic_auth(USER, Some(PASSWORD))
        .body(method_call(
            "redirect.checkDevice",
            &[P::Str("805ec0ffffff")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        result_of(&response.text().await.unwrap()),
        (true, "registered elsewhere".into())
    );
    drop(child);

    // Not on a public address.
    let output = tokio::task::spawn_blocking(|| rps_command("0.0.0.0:0").output())
        .await
        .unwrap()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}
