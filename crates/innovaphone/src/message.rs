//! AppWebsocket envelope, the messages we send, and parsers for the ones we
//! receive (PBX, Services, Users/Provisioning, PbxAdminApi) — reference §1–§5, §7.

use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::{Error, SessionKey};

/// One received AppWebsocket message: the envelope fields plus the whole
/// object. `Debug` lists only the body's keys, since bodies can carry
/// secrets (encrypted passwords, digests).
#[derive(Clone, PartialEq)]
pub struct Incoming {
    pub mt: String,
    pub api: Option<String>,
    pub src: Option<String>,
    /// The whole JSON object, including `mt`/`api`/`src`.
    pub body: Value,
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self
            .body
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        f.debug_struct("Incoming")
            .field("mt", &self.mt)
            .field("api", &self.api)
            .field("src", &self.src)
            .field("keys", &keys)
            .finish()
    }
}

impl Incoming {
    /// Parses one text frame. Errors name the problem, never the text.
    pub fn parse(text: &str) -> Result<Incoming, Error> {
        let body: Value =
            serde_json::from_str(text).map_err(|_| Error::NotJson { len: text.len() })?;
        let obj = body.as_object().ok_or(Error::NotObject)?;
        let mt = obj
            .get("mt")
            .and_then(Value::as_str)
            .ok_or(Error::MissingMt)?
            .to_owned();
        let text_field = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let api = text_field("api");
        let src = text_field("src");
        Ok(Incoming { mt, api, src, body })
    }

    /// A string field of the body.
    pub fn field_str(&self, key: &str) -> Option<&str> {
        self.body.get(key)?.as_str()
    }

    /// Deserializes the body into `T`; type errors report position only.
    fn decode<T: DeserializeOwned>(&self, message: &'static str) -> Result<T, Error> {
        T::deserialize(&self.body).map_err(|e| Error::InvalidFields {
            message,
            line: e.line(),
            column: e.column(),
        })
    }
}

/// Builds `{"api"?,"mt","src"?,...fields}`.
///
/// The envelope keys win: `mt`/`api`/`src` inside `fields` are ignored.
/// A non-object `fields` adds nothing.
pub fn reply(mt: &str, api: Option<&str>, src: Option<&str>, fields: Value) -> String {
    let mut out = Map::new();
    if let Some(api) = api {
        out.insert("api".into(), api.into());
    }
    out.insert("mt".into(), mt.into());
    if let Some(src) = src {
        out.insert("src".into(), src.into());
    }
    if let Value::Object(fields) = fields {
        for (k, v) in fields {
            if !matches!(k.as_str(), "api" | "mt" | "src") {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out).to_string()
}

/// Echoed `src` values: an empty string means "the request had none".
fn echo(src: &str) -> Option<&str> {
    (!src.is_empty()).then_some(src)
}

/// `AppChallengeResult` carrying our fresh challenge.
pub fn app_challenge_result(challenge: &str) -> String {
    reply(
        "AppChallengeResult",
        None,
        None,
        json!({ "challenge": challenge }),
    )
}

/// Successful `AppLoginResult`; `domain` is our instance domain, if known.
pub fn app_login_result_ok(domain: Option<&str>) -> String {
    let fields = match domain {
        Some(d) => json!({ "ok": true, "domain": d }),
        None => json!({ "ok": true }),
    };
    reply("AppLoginResult", None, None, fields)
}

/// Failed `AppLoginResult`; clients read `errorText`. Close the socket after.
pub fn app_login_result_failed(text: &str) -> String {
    reply(
        "AppLoginResult",
        None,
        None,
        json!({ "ok": false, "errorText": text }),
    )
}

/// `AppInfoResult` publishing `com.innovaphone.provisioning` with `title`.
///
/// The service info is sent twice: as `serviceInfo` (the C++ library's
/// name) and as `seviceInfo`, the spelling used in the JSON example of the
/// SDK's AppWebsocket.htm — that is probably a doc typo, but we cannot tell
/// which one the PBX reads, and the extra key costs nothing (reference §2).
pub fn app_info_result(app: &str, src: Option<&str>, title: &str) -> String {
    let service_info = json!({ "apis": { "com.innovaphone.provisioning": { "title": title } } });
    reply(
        "AppInfoResult",
        None,
        src,
        json!({
            "app": app,
            // No `hidden`: the same App object is the administrators' myApps app, and
            // innovaphone's sdkprovisioning sample sends no such flag.
            "info": { "apis": {} },
            "serviceInfo": service_info.clone(),
            "seviceInfo": service_info,
        }),
    )
}

/// Services API: subscribe to the service list (to find Devices).
pub fn subscribe_services(src: &str) -> String {
    reply("SubscribeServices", Some("Services"), Some(src), json!({}))
}

/// PbxAdminApi: read a user object by its long name.
pub fn get_object_by_cn(src: &str, cn: &str) -> String {
    reply(
        "GetObject",
        Some("PbxAdminApi"),
        Some(src),
        json!({ "cn": cn }),
    )
}

/// PbxAdminApi: replace the object's whole `devices` array (arrays are
/// replaced as a whole, so pass every device, see [`set_device_flags`]).
pub fn update_object_devices(src: &str, guid: &str, devices: &[Value]) -> String {
    reply(
        "UpdateObject",
        Some("PbxAdminApi"),
        Some(src),
        json!({ "guid": guid, "devices": devices }),
    )
}

/// `ProvisioningPhoneResult` ok; `src` is echoed (empty = omitted).
pub fn provisioning_phone_ok(src: &str) -> String {
    reply(
        "ProvisioningPhoneResult",
        None,
        echo(src),
        json!({ "result": "ok" }),
    )
}

/// `ProvisioningPhoneResult` failed with a text shown to the user.
pub fn provisioning_phone_failed(src: &str, error: &str) -> String {
    reply(
        "ProvisioningPhoneResult",
        None,
        echo(src),
        json!({ "result": "failed", "error": error }),
    )
}

/// Answer to the PBX Manager's `AppCheckLogin`: `ok` only when the digest verified (the
/// Manager shows a green tick for `ok`). The result name follows the `XResult` convention; the
/// Manager reads only `ok`.
pub fn app_check_login_result(src: &str, ok: bool) -> String {
    reply("AppCheckLoginResult", None, echo(src), json!({ "ok": ok }))
}

/// `PbxInfo`, sent by the PBX right after login; marks a "PBX session".
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct PbxInfo {
    pub domain: String,
    pub pbx: String,
    #[serde(rename = "pbxDns")]
    pub pbx_dns: String,
    /// PBX APIs usable on this socket (the App object's grants).
    pub apis: Vec<String>,
    pub version: String,
    pub build: String,
}

impl PbxInfo {
    /// Parses the message body.
    pub fn from_incoming(msg: &Incoming) -> Result<PbxInfo, Error> {
        msg.decode("PbxInfo")
    }

    /// Whether the PBX granted `api` (e.g. `"PbxAdminApi"`, `"Services"`).
    pub fn has_api(&self, api: &str) -> bool {
        self.apis.iter().any(|a| a == api)
    }
}

impl TryFrom<&Incoming> for PbxInfo {
    type Error = Error;
    fn try_from(msg: &Incoming) -> Result<Self, Error> {
        Self::from_incoming(msg)
    }
}

/// One entry of a Services API `ServicesInfo`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Service {
    /// SIP name of the providing App object.
    pub name: String,
    pub title: String,
    /// Its websocket URL.
    pub url: String,
    /// Map from service id to a service-defined model.
    pub info: Value,
}

/// Services API `ServicesInfo`: the services our App object may use.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServicesInfo {
    pub services: Vec<Service>,
}

/// Service id of the Devices API.
const DEVICES_SERVICE: &str = "com.innovaphone.devices";

impl ServicesInfo {
    /// Parses the message body.
    pub fn from_incoming(msg: &Incoming) -> Result<ServicesInfo, Error> {
        msg.decode("ServicesInfo")
    }

    /// The Devices App object URL: the first service offering `com.innovaphone.devices`,
    /// else one named `devices-api`. The service id is read where 13r1-SDK
    /// `doc/appwebsocket/Services.htm` ("AppServiceInfo") puts it, `info.<id>`, and also under
    /// `info.apis.<id>`, the shape of an app's published info (`doc/appwebsocket/myApps.htm`,
    /// "AppInfo"), which innovaphone's own app code reads.
    pub fn devices_url(&self) -> Option<String> {
        let usable = || self.services.iter().filter(|s| !s.url.trim().is_empty());
        usable()
            .find(|s| offers(&s.info, DEVICES_SERVICE))
            .or_else(|| usable().find(|s| s.name == "devices-api"))
            .map(|s| s.url.trim().to_owned())
    }

    /// Same as the free function [`sysclients_url`].
    pub fn sysclients_url(devices_url: &str) -> String {
        sysclients_url(devices_url)
    }
}

/// Whether a service's `info` names `service`, directly or under `apis`.
fn offers(info: &Value, service: &str) -> bool {
    info.get(service).is_some()
        || info
            .get("apis")
            .and_then(|apis| apis.get(service))
            .is_some()
}

impl TryFrom<&Incoming> for ServicesInfo {
    type Error = Error;
    fn try_from(msg: &Incoming) -> Result<Self, Error> {
        Self::from_incoming(msg)
    }
}

/// The sysclient endpoint of a Devices instance, from its App object URL.
///
/// The App object URL ends in the app's file name (`.../example.com/devices/innovaphone-devices-api`);
/// the endpoint is that URL cut after its last `/`, plus `sysclients`
/// (13r1-SDK `doc/protocol/sysclient.htm`: `wss://app-platform-dns/domain.com/devices/sysclients`;
/// `doc/service/Devices.htm`: "The part before the passthrough can be retrieved from your Devices
/// App object URL"). A URL ending in `/` only gets `sysclients`. `http(s)://` becomes `ws(s)://`
/// (the PBX dials App object URLs the same way). Query and fragment are dropped.
pub fn sysclients_url(devices_url: &str) -> String {
    let url = devices_url.trim();
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "https" | "wss" => "wss",
                _ => "ws",
            };
            (scheme, rest)
        }
        None => ("ws", url),
    };
    // Keep the authority even when the URL has no path at all.
    let base = match rest.find('/') {
        Some(_) => &rest[..=rest.rfind('/').unwrap_or(0)],
        None => rest,
    };
    let slash = if base.ends_with('/') { "" } else { "/" };
    format!("{scheme}://{base}{slash}sysclients")
}

/// `ProvisioningPhone` from Users (§5). `password` is the user's password,
/// RC4-encrypted with this connection's session key and `seed1`; it is
/// redacted in `Debug`.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProvisioningPhone {
    pub mac: String,
    /// Devices provisioning code.
    pub code: String,
    /// Hardware id of the device Users put on the user object.
    pub hwid: String,
    /// The user's SIP name; the key really is spelled `usename`.
    pub usename: String,
    pub cn: String,
    pub seed1: String,
    /// Hex, encrypted.
    pub password: String,
    pub domain: String,
    /// PBX DNS name, the phone's SIP registrar.
    pub dns: String,
}

impl fmt::Debug for ProvisioningPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisioningPhone")
            .field("mac", &self.mac)
            .field("code", &self.code)
            .field("hwid", &self.hwid)
            .field("usename", &self.usename)
            .field("cn", &self.cn)
            .field("seed1", &self.seed1)
            .field("password", &"***")
            .field("domain", &self.domain)
            .field("dns", &self.dns)
            .finish()
    }
}

impl ProvisioningPhone {
    /// Parses the message body.
    pub fn from_incoming(msg: &Incoming) -> Result<ProvisioningPhone, Error> {
        msg.decode("ProvisioningPhone")
    }

    /// The clear-text SIP password: `decrypt(seed1, password)` with the
    /// session key of the Users connection that sent this message.
    pub fn decrypt_password(&self, key: &SessionKey) -> Result<String, Error> {
        key.decrypt(&self.seed1, &self.password)
    }

    /// Names of required fields that are empty: mac, code, usename, dns.
    pub fn missing_fields(&self) -> Vec<&'static str> {
        [
            ("mac", &self.mac),
            ("code", &self.code),
            ("usename", &self.usename),
            ("dns", &self.dns),
        ]
        .into_iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(k, _)| k)
        .collect()
    }
}

impl TryFrom<&Incoming> for ProvisioningPhone {
    type Error = Error;
    fn try_from(msg: &Incoming) -> Result<Self, Error> {
        Self::from_incoming(msg)
    }
}

/// The three device flags we manage on the user's PBX object (§7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceFlags {
    /// Media Relay.
    pub mr: bool,
    /// TLS only.
    pub tls: bool,
    /// Registration via a trusted reverse proxy allowed; `None` leaves the flag as read (Users
    /// sets it when it adds the device).
    pub trusted: Option<bool>,
}

/// Canonical hardware id for comparisons: lowercase, without `:`/`-`.
pub fn normalize_hw(hw: &str) -> String {
    hw.chars()
        .filter(|c| !matches!(c, ':' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// From a `GetObjectResult` object, the complete `devices` array for
/// `UpdateObject` with only the device(s) whose `hw` matches `hw` changed
/// in `mr`/`tls` (and `trusted` when given). Everything else is kept as received (including
/// unknown keys and key order), because `UpdateObject` replaces the array
/// as a whole.
pub fn set_device_flags(object: &Value, hw: &str, flags: DeviceFlags) -> Result<Vec<Value>, Error> {
    let mut devices = object
        .get("devices")
        .and_then(Value::as_array)
        .ok_or(Error::NoDevices)?
        .clone();
    let wanted = normalize_hw(hw);
    let mut found = false;
    for device in devices.iter_mut().filter_map(Value::as_object_mut) {
        let matches = device
            .get("hw")
            .and_then(Value::as_str)
            .is_some_and(|h| normalize_hw(h) == wanted);
        if matches {
            found = true;
            device.insert("mr".into(), flags.mr.into());
            device.insert("tls".into(), flags.tls.into());
            if let Some(trusted) = flags.trusted {
                device.insert("trusted".into(), trusted.into());
            }
        }
    }
    if found {
        Ok(devices)
    } else {
        Err(Error::DeviceNotOnObject { hw: hw.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session_key;

    fn obj(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn parse_envelope() {
        let m =
            Incoming::parse(r#"{"api":"Services","mt":"ServicesInfo","src":"svc","x":1}"#).unwrap();
        assert_eq!(m.mt, "ServicesInfo");
        assert_eq!(m.api.as_deref(), Some("Services"));
        assert_eq!(m.src.as_deref(), Some("svc"));
        assert_eq!(m.field_str("mt"), Some("ServicesInfo"));
        assert_eq!(m.field_str("x"), None);
        let m = Incoming::parse(r#"{"mt":"AppChallenge"}"#).unwrap();
        assert_eq!((m.api, m.src), (None, None));
    }

    #[test]
    fn parse_errors_do_not_echo() {
        let e = Incoming::parse("secret-not-json").unwrap_err();
        assert_eq!(e, Error::NotJson { len: 15 });
        assert!(!e.to_string().contains("secret"));
        assert_eq!(Incoming::parse("[1]").unwrap_err(), Error::NotObject);
        assert_eq!(
            Incoming::parse(r#"{"mt":1}"#).unwrap_err(),
            Error::MissingMt
        );
        assert_eq!(
            Incoming::parse(r#"{"x":"y"}"#).unwrap_err(),
            Error::MissingMt
        );
    }

    #[test]
    fn incoming_debug_hides_values() {
        let m = Incoming::parse(r#"{"mt":"ProvisioningPhone","password":"cafe01"}"#).unwrap();
        let dbg = format!("{m:?}");
        assert!(dbg.contains("password"));
        assert!(!dbg.contains("cafe01"));
    }

    #[test]
    fn reply_order_and_envelope_wins() {
        assert_eq!(
            reply("X", Some("A"), Some("s"), json!({"mt":"evil","b":1,"a":2})),
            r#"{"api":"A","mt":"X","src":"s","b":1,"a":2}"#
        );
        assert_eq!(reply("X", None, None, Value::Null), r#"{"mt":"X"}"#);
    }

    #[test]
    fn builders() {
        assert_eq!(
            app_challenge_result("4711081512345678"),
            r#"{"mt":"AppChallengeResult","challenge":"4711081512345678"}"#
        );
        assert_eq!(
            app_login_result_ok(Some("example.com")),
            r#"{"mt":"AppLoginResult","ok":true,"domain":"example.com"}"#
        );
        assert_eq!(
            app_login_result_ok(None),
            r#"{"mt":"AppLoginResult","ok":true}"#
        );
        assert_eq!(
            app_login_result_failed("bad digest"),
            r#"{"mt":"AppLoginResult","ok":false,"errorText":"bad digest"}"#
        );
        assert_eq!(
            subscribe_services("svc"),
            r#"{"api":"Services","mt":"SubscribeServices","src":"svc"}"#
        );
        assert_eq!(
            get_object_by_cn("g1", "John Doe"),
            r#"{"api":"PbxAdminApi","mt":"GetObject","src":"g1","cn":"John Doe"}"#
        );
        assert_eq!(
            update_object_devices("u1", "66ea", &[json!({"hw":"001565aabbcc","mr":true})]),
            r#"{"api":"PbxAdminApi","mt":"UpdateObject","src":"u1","guid":"66ea","devices":[{"hw":"001565aabbcc","mr":true}]}"#
        );
        assert_eq!(
            provisioning_phone_ok("p1"),
            r#"{"mt":"ProvisioningPhoneResult","src":"p1","result":"ok"}"#
        );
        assert_eq!(
            provisioning_phone_failed("", "Devices Service not found!"),
            r#"{"mt":"ProvisioningPhoneResult","result":"failed","error":"Devices Service not found!"}"#
        );
        assert_eq!(
            app_check_login_result("c1", true),
            r#"{"mt":"AppCheckLoginResult","src":"c1","ok":true}"#
        );
        assert_eq!(
            app_check_login_result("c1", false),
            r#"{"mt":"AppCheckLoginResult","src":"c1","ok":false}"#
        );
    }

    #[test]
    fn app_info_result_shape() {
        let v = obj(&app_info_result(
            "innovaphone-yealink",
            Some("i1"),
            "Yealink",
        ));
        assert_eq!(v["mt"], "AppInfoResult");
        assert_eq!(v["src"], "i1");
        assert_eq!(v["app"], "innovaphone-yealink");
        assert_eq!(v["info"], json!({"apis": {}}));
        assert!(v["info"].get("hidden").is_none());
        let si = json!({"apis": {"com.innovaphone.provisioning": {"title": "Yealink"}}});
        assert_eq!(v["serviceInfo"], si);
        assert_eq!(v["seviceInfo"], si);
        let v = obj(&app_info_result("a", None, "t"));
        assert!(v.get("src").is_none());
    }

    #[test]
    fn pbx_info() {
        let m = Incoming::parse(r#"{"mt":"PbxInfo","domain":"example.com","pbx":"master","pbxDns":"pbx.example.com","apis":["PbxAdminApi","Services"],"version":"13r1","build":"1","extra":1}"#).unwrap();
        let p = PbxInfo::from_incoming(&m).unwrap();
        assert_eq!(p.pbx_dns, "pbx.example.com");
        assert!(p.has_api("Services"));
        assert!(!p.has_api("RCC"));
        let p = PbxInfo::try_from(&Incoming::parse(r#"{"mt":"PbxInfo"}"#).unwrap()).unwrap();
        assert_eq!(p, PbxInfo::default());
        let bad = Incoming::parse(r#"{"mt":"PbxInfo","apis":"x"}"#).unwrap();
        assert!(matches!(
            PbxInfo::from_incoming(&bad),
            Err(Error::InvalidFields {
                message: "PbxInfo",
                ..
            })
        ));
    }

    #[test]
    fn services_info_devices_url() {
        // As Services.htm documents it: the App object URL, ending in the app's file name.
        let m = Incoming::parse(r#"{"api":"Services","mt":"ServicesInfo","src":"svc","services":[{"name":"other","title":"O","url":"wss://o/","info":{}},{"name":"devices-api","title":"Devices API","url":"wss://ap.example.com/example.com/devices/innovaphone-devices-api","info":{"com.innovaphone.devices":{}}}]}"#).unwrap();
        let s = ServicesInfo::from_incoming(&m).unwrap();
        let url = s.devices_url().unwrap();
        assert_eq!(
            url,
            "wss://ap.example.com/example.com/devices/innovaphone-devices-api"
        );
        assert_eq!(
            sysclients_url(&url),
            "wss://ap.example.com/example.com/devices/sysclients"
        );
    }

    /// sysclient.htm's endpoint is beside the App object URL, never below its file name.
    #[test]
    fn sysclients_url_is_cut_after_the_last_slash() {
        for (app_url, want) in [
            (
                "wss://ap.example.com/example.com/devices/innovaphone-devices-api",
                "wss://ap.example.com/example.com/devices/sysclients",
            ),
            (
                "https://ap.example.com/example.com/devices/innovaphone-devices-api",
                "wss://ap.example.com/example.com/devices/sysclients",
            ),
            (
                "http://10.0.0.5:8080/example.com/devices/innovaphone-devices-api",
                "ws://10.0.0.5:8080/example.com/devices/sysclients",
            ),
            (
                "HTTPS://ap/d/devices/innovaphone-devices-api?x=1#y",
                "wss://ap/d/devices/sysclients",
            ),
            ("wss://ap/d/devices/", "wss://ap/d/devices/sysclients"),
            ("ws://ap:81", "ws://ap:81/sysclients"),
            (
                " wss://ap/d/devices/innovaphone-devices-api ",
                "wss://ap/d/devices/sysclients",
            ),
        ] {
            assert_eq!(sysclients_url(app_url), want, "{app_url}");
            assert_eq!(ServicesInfo::sysclients_url(app_url), want, "{app_url}");
        }
    }

    /// Both shapes of `info`: the service id as Services.htm documents it, and under `apis`.
    #[test]
    fn services_info_finds_devices_in_both_info_shapes() {
        for info in [
            json!({"com.innovaphone.devices": {}}),
            json!({"apis": {"com.innovaphone.devices": {}}}),
        ] {
            let s: ServicesInfo = serde_json::from_value(json!({"services":[
                {"name":"search","url":"wss://o/a/search/innovaphone-search","info":{"com.innovaphone.search":{}}},
                {"name":"my-devices","url":"wss://ap/d/devices/innovaphone-devices-api","info":info}
            ]}))
            .unwrap();
            assert_eq!(
                s.devices_url().as_deref(),
                Some("wss://ap/d/devices/innovaphone-devices-api"),
                "{info}"
            );
        }
    }

    #[test]
    fn services_info_fallback_and_none() {
        let s: ServicesInfo = serde_json::from_value(json!({"services":[
            {"name":"devices-api","url":"wss://x/devices"},
            {"name":"devices2","url":"","info":{"com.innovaphone.devices":{}}}
        ]}))
        .unwrap();
        assert_eq!(s.devices_url().as_deref(), Some("wss://x/devices"));
        assert_eq!(ServicesInfo::default().devices_url(), None);
    }

    fn provisioning_text(password_hex: &str) -> String {
        format!(
            r#"{{"mt":"ProvisioningPhone","src":"p1","mac":"001565aabbcc","code":"562822784750","hwid":"001565aabbcc","usename":"jdoe","cn":"John Doe","seed1":"10046478319880090512700","password":"{password_hex}","domain":"example.com","dns":"pbx.example.com"}}"#
        )
    }

    #[test]
    fn provisioning_phone_decrypts_and_redacts() {
        let key = session_key("9911223344556677", "instancepw");
        let enc = key.encrypt("10046478319880090512700", "sip-secret");
        let m = Incoming::parse(&provisioning_text(&enc)).unwrap();
        let p = ProvisioningPhone::from_incoming(&m).unwrap();
        assert_eq!(p.usename, "jdoe");
        assert!(p.missing_fields().is_empty());
        assert_eq!(p.decrypt_password(&key).unwrap(), "sip-secret");
        let dbg = format!("{p:?}");
        assert!(dbg.contains("***"));
        assert!(!dbg.contains(&enc));
    }

    #[test]
    fn provisioning_phone_missing_fields() {
        let m = Incoming::parse(r#"{"mt":"ProvisioningPhone","code":"1","dns":" "}"#).unwrap();
        let p = ProvisioningPhone::try_from(&m).unwrap();
        assert_eq!(p.missing_fields(), vec!["mac", "usename", "dns"]);
    }

    const OBJECT: &str = r#"{"api":"PbxAdminApi","mt":"GetObjectResult","guid":"66ea","h323":"jdoe","devices":[
        {"hw":"0004134a0b0c","text":"IP112","app":"phone","tls":true,"zz-unknown":{"a":[1,2]}},
        {"hw":"00:15:65:AA:BB:CC","text":"Yealink T54W","future":"keep","tls":true,"trusted":true,"app":"x"},
        {"text":"no hw"},
        "odd"
    ],"grp":[]}"#;

    #[test]
    fn set_device_flags_changes_only_target() {
        let object = obj(OBJECT);
        let flags = DeviceFlags {
            mr: true,
            tls: false,
            trusted: Some(false),
        };
        let devices = set_device_flags(&object, "001565-aabbcc", flags).unwrap();
        let before = object["devices"].as_array().unwrap();
        assert_eq!(devices.len(), before.len());
        assert_eq!(devices[0].to_string(), before[0].to_string());
        assert_eq!(devices[2], before[2]);
        assert_eq!(devices[3], before[3]);
        // Existing keys change in place, unknown keys and order are kept,
        // the new key is appended.
        assert_eq!(
            devices[1].to_string(),
            r#"{"hw":"00:15:65:AA:BB:CC","text":"Yealink T54W","future":"keep","tls":false,"trusted":false,"app":"x","mr":true}"#
        );
    }

    #[test]
    fn set_device_flags_leaves_trusted_as_read() {
        let flags = DeviceFlags {
            mr: true,
            tls: false,
            trusted: None,
        };
        let devices = set_device_flags(&obj(OBJECT), "001565aabbcc", flags).unwrap();
        assert_eq!(devices[1]["trusted"], true);
        assert_eq!(devices[1]["tls"], false);
    }

    #[test]
    fn set_device_flags_errors() {
        let object = obj(OBJECT);
        assert_eq!(
            set_device_flags(&object, "001565000000", DeviceFlags::default()),
            Err(Error::DeviceNotOnObject {
                hw: "001565000000".into()
            })
        );
        assert_eq!(
            set_device_flags(&json!({"guid":"x"}), "a", DeviceFlags::default()),
            Err(Error::NoDevices)
        );
    }
}
