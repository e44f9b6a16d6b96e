//! Sysclient binary framing and admin payloads (reference §6). We act as the
//! sysclient on behalf of each phone towards the Devices app.
//!
//! Frame layout (one binary websocket message each):
//! - admin:  `01` + admin type (u16 BE) + JSON text
//! - tunnel: `02` + session id (u32 BE) + event type (u32 BE) + data

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::login::sha256_hex;
use crate::{Error, rc4_hex_decrypt};

const ADMIN: u8 = 0x01;
const TUNNEL: u8 = 0x02;
const ADMIN_HEADER: usize = 3;
const TUNNEL_HEADER: usize = 9;

/// Admin message types (bytes 1–2, big-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdminKind {
    /// 0x0000, us → Devices.
    Identify,
    /// 0x0001, the per-device sysclient password (store it per MAC).
    Password,
    /// 0x0002, answer with Identify + digest.
    Challenge,
    /// 0x0003, the domain's encrypted device admin password.
    AdminPassword,
    /// 0x0004, FXS provisioning on gateways (unused).
    Provision,
    /// 0x0005, FXS provisioning result (unused).
    ProvisionResult,
    /// 0x0006, one configuration item.
    Configuration,
    /// Any other value, kept so it can be logged and round-tripped.
    Other(u16),
}

impl AdminKind {
    /// The wire value.
    pub fn code(self) -> u16 {
        match self {
            Self::Identify => 0,
            Self::Password => 1,
            Self::Challenge => 2,
            Self::AdminPassword => 3,
            Self::Provision => 4,
            Self::ProvisionResult => 5,
            Self::Configuration => 6,
            Self::Other(c) => c,
        }
    }

    /// From the wire value.
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => Self::Identify,
            1 => Self::Password,
            2 => Self::Challenge,
            3 => Self::AdminPassword,
            4 => Self::Provision,
            5 => Self::ProvisionResult,
            6 => Self::Configuration,
            c => Self::Other(c),
        }
    }
}

/// Tunnel event types (bytes 5–8, big-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelEvent {
    /// 0, Devices → us: raw HTTP request bytes.
    Send,
    /// 1, Devices → us: u32 maximum length to read.
    Receive,
    /// 2, us → Devices: response bytes.
    ReceiveResult,
    /// 3, us → Devices: no payload.
    SendResult,
    /// 4, both ways; confirm with shutdown.
    Shutdown,
    /// Any other value.
    Other(u32),
}

impl TunnelEvent {
    /// The wire value.
    pub fn code(self) -> u32 {
        match self {
            Self::Send => 0,
            Self::Receive => 1,
            Self::ReceiveResult => 2,
            Self::SendResult => 3,
            Self::Shutdown => 4,
            Self::Other(c) => c,
        }
    }

    /// From the wire value.
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => Self::Send,
            1 => Self::Receive,
            2 => Self::ReceiveResult,
            3 => Self::SendResult,
            4 => Self::Shutdown,
            c => Self::Other(c),
        }
    }
}

/// One sysclient message.
///
/// `Debug` shows only JSON key names and data lengths: admin payloads carry
/// the sysclient password and encrypted secrets.
#[derive(Clone, PartialEq)]
pub enum Frame {
    Admin {
        kind: AdminKind,
        json: Value,
    },
    Tunnel {
        session: u32,
        event: TunnelEvent,
        data: Vec<u8>,
    },
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Admin { kind, json } => {
                let keys: Vec<&str> = json
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                f.debug_struct("Admin")
                    .field("kind", kind)
                    .field("keys", &keys)
                    .finish()
            }
            Frame::Tunnel {
                session,
                event,
                data,
            } => f
                .debug_struct("Tunnel")
                .field("session", session)
                .field("event", event)
                .field("data_len", &data.len())
                .finish(),
        }
    }
}

impl Frame {
    /// A string field of an admin payload (e.g. `challenge`, `password`).
    pub fn admin_str(&self, key: &str) -> Option<&str> {
        match self {
            Frame::Admin { json, .. } => json.get(key)?.as_str(),
            Frame::Tunnel { .. } => None,
        }
    }
}

/// Serializes a frame to the bytes of one binary websocket message.
pub fn encode(frame: &Frame) -> Vec<u8> {
    match frame {
        Frame::Admin { kind, json } => {
            let text = json.to_string();
            let mut out = Vec::with_capacity(ADMIN_HEADER + text.len());
            out.push(ADMIN);
            out.extend_from_slice(&kind.code().to_be_bytes());
            out.extend_from_slice(text.as_bytes());
            out
        }
        Frame::Tunnel {
            session,
            event,
            data,
        } => {
            let mut out = Vec::with_capacity(TUNNEL_HEADER + data.len());
            out.push(TUNNEL);
            out.extend_from_slice(&session.to_be_bytes());
            out.extend_from_slice(&event.code().to_be_bytes());
            out.extend_from_slice(data);
            out
        }
    }
}

/// Parses one binary websocket message.
///
/// An admin frame with no JSON text decodes as `null`; trailing NUL bytes
/// (C-string senders) are tolerated.
pub fn decode(bytes: &[u8]) -> Result<Frame, Error> {
    let (&first, _) = bytes.split_first().ok_or(Error::EmptyFrame)?;
    match first {
        ADMIN => {
            let (header, payload) =
                bytes
                    .split_first_chunk::<ADMIN_HEADER>()
                    .ok_or(Error::ShortHeader {
                        kind: "admin",
                        got: bytes.len(),
                        need: ADMIN_HEADER,
                    })?;
            let kind = AdminKind::from_code(u16::from_be_bytes([header[1], header[2]]));
            let payload = trim_trailing_nul(payload);
            let json = if payload.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(payload)
                    .map_err(|_| Error::FrameJson { len: payload.len() })?
            };
            Ok(Frame::Admin { kind, json })
        }
        TUNNEL => {
            let (header, data) =
                bytes
                    .split_first_chunk::<TUNNEL_HEADER>()
                    .ok_or(Error::ShortHeader {
                        kind: "tunnel",
                        got: bytes.len(),
                        need: TUNNEL_HEADER,
                    })?;
            let session = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            let event = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
            Ok(Frame::Tunnel {
                session,
                event: TunnelEvent::from_code(event),
                data: data.to_vec(),
            })
        }
        other => Err(Error::UnknownFrameType(other)),
    }
}

fn trim_trailing_nul(mut payload: &[u8]) -> &[u8] {
    while let [rest @ .., 0] = payload {
        payload = rest;
    }
    payload
}

/// `platform` of an Identify; third-party phones use type `PHONE`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(rename = "type")]
    pub kind: String,
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            kind: "PHONE".into(),
        }
    }
}

/// The Identify payload (admin 0x0000) we send for a phone.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Identify {
    /// MAC, lowercase, no separators.
    pub id: String,
    pub product: String,
    pub version: String,
    pub platform: Platform,
    /// Only on the first connection.
    #[serde(rename = "provisioningCode", skip_serializing_if = "Option::is_none")]
    pub provisioning_code: Option<String>,
    /// Only when answering a challenge (a hash, not a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `true` marks a non-innovaphone device; needed to get Configuration.
    pub other: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Identify {
    /// A third-party PHONE identify with `other: true` and nothing optional.
    pub fn new(
        id: impl Into<String>,
        product: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            product: product.into(),
            version: version.into(),
            platform: Platform::default(),
            provisioning_code: None,
            digest: None,
            other: true,
            name: None,
        }
    }

    /// The JSON payload; built by hand so it cannot fail (the `Serialize`
    /// derive produces the same, see tests).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("product".into(), self.product.clone().into());
        m.insert("version".into(), self.version.clone().into());
        let mut platform = Map::new();
        platform.insert("type".into(), self.platform.kind.clone().into());
        m.insert("platform".into(), Value::Object(platform));
        if let Some(code) = &self.provisioning_code {
            m.insert("provisioningCode".into(), code.clone().into());
        }
        if let Some(digest) = &self.digest {
            m.insert("digest".into(), digest.clone().into());
        }
        m.insert("other".into(), self.other.into());
        if let Some(name) = &self.name {
            m.insert("name".into(), name.clone().into());
        }
        Value::Object(m)
    }

    /// The Identify admin frame.
    pub fn to_frame(&self) -> Frame {
        Frame::Admin {
            kind: AdminKind::Identify,
            json: self.to_json(),
        }
    }
}

/// Challenge answer: hex SHA-256 of
/// `id:product:version:challenge:sysclientPassword`. `id`, `product` and
/// `version` must be byte-identical to the ones sent in Identify.
pub fn sysclient_digest(
    id: &str,
    product: &str,
    version: &str,
    challenge: &str,
    password: &str,
) -> String {
    sha256_hex(&format!("{id}:{product}:{version}:{challenge}:{password}"))
}

/// One Configuration (admin 0x0006) message: a single config item.
///
/// `Debug` shows the item type and key names only (items may carry
/// encrypted TURN/log passwords).
#[derive(Clone, PartialEq)]
pub struct ConfigMessage {
    /// The config object as received; has a string `type`.
    pub item: Value,
    /// The last item of the initial series.
    pub last: bool,
}

impl fmt::Debug for ConfigMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self
            .item
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        f.debug_struct("ConfigMessage")
            .field("type", &self.item_type())
            .field("keys", &keys)
            .field("last", &self.last)
            .finish()
    }
}

impl ConfigMessage {
    /// Parses `{"config":{"type":..,..},"last"?}`; `last` may also sit
    /// inside `config`.
    pub fn from_json(json: &Value) -> Result<ConfigMessage, Error> {
        let config = json
            .get("config")
            .filter(|c| c.is_object())
            .ok_or(Error::MissingConfig)?;
        if !config.get("type").is_some_and(Value::is_string) {
            return Err(Error::MissingConfigType);
        }
        let flag = |v: &Value| v.get("last").and_then(Value::as_bool).unwrap_or(false);
        Ok(ConfigMessage {
            item: config.clone(),
            last: flag(json) || flag(config),
        })
    }

    /// `PHONE`, `MEDIA`, `NTP`, `TLS_PROFILE`, ... (empty if `item` was
    /// replaced by something without a `type`).
    pub fn item_type(&self) -> &str {
        self.item.get("type").and_then(Value::as_str).unwrap_or("")
    }
}

/// Decrypts a sysclient secret: RC4 keyed `seed:sysclientPassword` over the
/// hex-decoded value. Documented for the admin password (0x0003 `seed`/`pwd`);
/// that config items (`turnPassword`/`turnSeed`, `logPassword`/`logSeed`)
/// use the same key is an assumption, confidence [L] in the reference (§6).
pub fn decrypt_item_secret(
    seed: &str,
    hex: &str,
    sysclient_password: &str,
) -> Result<String, Error> {
    let bytes = rc4_hex_decrypt(format!("{seed}:{sysclient_password}").as_bytes(), hex)?;
    String::from_utf8(bytes).map_err(|_| Error::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rc4_hex_encrypt;
    use serde_json::json;

    fn round_trip(frame: Frame) {
        assert_eq!(decode(&encode(&frame)).unwrap(), frame);
    }

    #[test]
    fn admin_round_trips() {
        for code in 0..=7u16 {
            round_trip(Frame::Admin {
                kind: AdminKind::from_code(code),
                json: json!({"k": code, "s": "v"}),
            });
        }
        round_trip(Frame::Admin {
            kind: AdminKind::Other(0x1234),
            json: json!({}),
        });
        for code in 0..=6u16 {
            assert_eq!(AdminKind::from_code(code).code(), code);
            assert!(!matches!(AdminKind::from_code(code), AdminKind::Other(_)));
        }
    }

    #[test]
    fn tunnel_round_trips() {
        for code in 0..=5u32 {
            round_trip(Frame::Tunnel {
                session: 0xdead_beef,
                event: TunnelEvent::from_code(code),
                data: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            });
            assert_eq!(TunnelEvent::from_code(code).code(), code);
        }
        round_trip(Frame::Tunnel {
            session: 0,
            event: TunnelEvent::Shutdown,
            data: vec![],
        });
    }

    #[test]
    fn header_bytes_are_big_endian() {
        let bytes = encode(&Frame::Admin {
            kind: AdminKind::Configuration,
            json: json!({}),
        });
        assert_eq!(&bytes[..3], &[0x01, 0x00, 0x06]);
        assert_eq!(&bytes[3..], b"{}");
        let bytes = encode(&Frame::Tunnel {
            session: 0x0102_0304,
            event: TunnelEvent::ReceiveResult,
            data: vec![0xaa],
        });
        assert_eq!(bytes, [0x02, 1, 2, 3, 4, 0, 0, 0, 2, 0xaa]);
        let frame = decode(&[0x01, 0x01, 0x00, b'{', b'}']).unwrap();
        assert_eq!(
            frame,
            Frame::Admin {
                kind: AdminKind::Other(0x0100),
                json: json!({})
            }
        );
    }

    #[test]
    fn decode_lenient_payloads() {
        let frame = decode(b"\x01\x00\x02{\"challenge\":\"abc\"}\0").unwrap();
        assert_eq!(frame.admin_str("challenge"), Some("abc"));
        assert_eq!(
            decode(&[0x01, 0x00, 0x06]).unwrap(),
            Frame::Admin {
                kind: AdminKind::Configuration,
                json: Value::Null
            }
        );
    }

    #[test]
    fn decode_errors() {
        assert_eq!(decode(&[]), Err(Error::EmptyFrame));
        assert_eq!(decode(&[0x07, 0]), Err(Error::UnknownFrameType(7)));
        assert_eq!(
            decode(&[0x01, 0x00]),
            Err(Error::ShortHeader {
                kind: "admin",
                got: 2,
                need: 3
            })
        );
        assert_eq!(
            decode(&[0x02, 0, 0, 0, 1, 0, 0, 0]),
            Err(Error::ShortHeader {
                kind: "tunnel",
                got: 8,
                need: 9
            })
        );
        let e = decode(b"\x01\x00\x01{\"password\":\"topsecret").unwrap_err();
        assert_eq!(e, Error::FrameJson { len: 22 });
        assert!(!e.to_string().contains("topsecret"));
    }

    #[test]
    fn frame_debug_hides_values() {
        let f = Frame::Admin {
            kind: AdminKind::Password,
            json: json!({"password": "0123456789abcdef"}),
        };
        let dbg = format!("{f:?}");
        assert!(dbg.contains("password"));
        assert!(!dbg.contains("0123456789abcdef"));
    }

    #[test]
    fn identify_json() {
        let mut id = Identify::new("001565aabbcc", "Yealink T54W", "96.86.0.100");
        id.provisioning_code = Some("562822784750".into());
        let expected = r#"{"id":"001565aabbcc","product":"Yealink T54W","version":"96.86.0.100","platform":{"type":"PHONE"},"provisioningCode":"562822784750","other":true}"#;
        assert_eq!(serde_json::to_string(&id).unwrap(), expected);
        assert_eq!(id.to_json().to_string(), expected);
        id.provisioning_code = None;
        id.digest = Some("d".into());
        id.name = Some("n".into());
        assert_eq!(serde_json::to_value(&id).unwrap(), id.to_json());
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            id.to_json().to_string()
        );
        let bytes = encode(&id.to_frame());
        assert_eq!(&bytes[..3], &[1, 0, 0]);
    }

    #[test]
    fn digest_vector() {
        assert_eq!(
            sysclient_digest(
                "001565aabbcc",
                "Yealink T54W",
                "96.86.0.100",
                "12345678",
                "0123456789abcdef0123456789abcdef"
            ),
            "b00a030352ef9755fe4ebfc4ffc760a5a7af808317e36fe9e8d04bf54ba49bce"
        );
    }

    #[test]
    fn config_message_last_positions() {
        let top = ConfigMessage::from_json(
            &json!({"config":{"type":"MEDIA","stunServer":"s"},"last":true}),
        )
        .unwrap();
        assert!(top.last);
        assert_eq!(top.item_type(), "MEDIA");
        assert_eq!(top.item["stunServer"], "s");
        let inner =
            ConfigMessage::from_json(&json!({"config":{"type":"NTP","last":true}})).unwrap();
        assert!(inner.last);
        let none = ConfigMessage::from_json(
            &json!({"config":{"type":"PHONE","coder":"G722"},"last":false}),
        )
        .unwrap();
        assert!(!none.last);
        assert_eq!(none.item_type(), "PHONE");
    }

    #[test]
    fn config_message_errors() {
        assert_eq!(
            ConfigMessage::from_json(&json!({"last": true})),
            Err(Error::MissingConfig)
        );
        assert_eq!(
            ConfigMessage::from_json(&json!({"config": "x"})),
            Err(Error::MissingConfig)
        );
        assert_eq!(
            ConfigMessage::from_json(&json!({"config": {"type": 1}})),
            Err(Error::MissingConfigType)
        );
    }

    #[test]
    fn config_debug_hides_values() {
        let c =
            ConfigMessage::from_json(&json!({"config":{"type":"MEDIA","turnPassword":"beef42"}}))
                .unwrap();
        assert!(!format!("{c:?}").contains("beef42"));
    }

    #[test]
    fn item_secret_round_trip() {
        let enc = rc4_hex_encrypt(b"1234567890123456:syspw", b"turn-secret");
        assert_eq!(
            decrypt_item_secret("1234567890123456", &enc, "syspw").unwrap(),
            "turn-secret"
        );
        assert_eq!(
            decrypt_item_secret("s", "xyz", "p"),
            Err(Error::InvalidHex { len: 3 })
        );
    }
}
