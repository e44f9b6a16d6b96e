//! Sysclient binary frames (§6), one websocket binary message each.
//!
//! - Admin: `0x01`, the admin type as u16 big-endian, then JSON text (no terminating NUL).
//! - Tunnel: `0x02`, the session id as u32 big-endian, the event as u32 big-endian, then data.

use serde_json::Value;

/// First byte of an admin message.
pub const KIND_ADMIN: u8 = 0x01;
/// First byte of a tunnel message.
pub const KIND_TUNNEL: u8 = 0x02;

/// Admin 0x0000: Identify (device → Devices).
pub const ADMIN_IDENTIFY: u16 = 0x0000;
/// Admin 0x0001: the sysclient password (Devices → device).
pub const ADMIN_PASSWORD: u16 = 0x0001;
/// Admin 0x0002: a challenge (Devices → device).
pub const ADMIN_CHALLENGE: u16 = 0x0002;
/// Admin 0x0003: the domain's device admin password, encrypted (Devices → device).
pub const ADMIN_ADMIN_PASSWORD: u16 = 0x0003;
/// Admin 0x0004: provision (FXS interfaces; not used here).
pub const ADMIN_PROVISION: u16 = 0x0004;
/// Admin 0x0005: provision result (FXS interfaces; not used here).
pub const ADMIN_PROVISION_RESULT: u16 = 0x0005;
/// Admin 0x0006: one configuration item (Devices → device).
pub const ADMIN_CONFIGURATION: u16 = 0x0006;

/// Tunnel event 0: `send` (Devices → device), raw HTTP request bytes.
pub const TUNNEL_SEND: u32 = 0;
/// Tunnel event 1: `receive` (Devices → device), a u32 BE maximum length.
pub const TUNNEL_RECEIVE: u32 = 1;
/// Tunnel event 2: `receive-result` (device → Devices), response bytes.
pub const TUNNEL_RECEIVE_RESULT: u32 = 2;
/// Tunnel event 3: `send-result` (device → Devices), no payload.
pub const TUNNEL_SEND_RESULT: u32 = 3;
/// Tunnel event 4: `shutdown` (both ways), no payload.
pub const TUNNEL_SHUTDOWN: u32 = 4;

/// A decoded sysclient frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// An admin message with its JSON.
    Admin {
        /// The admin type (`ADMIN_*`).
        kind: u16,
        /// The JSON payload.
        json: Value,
    },
    /// A tunnel message.
    Tunnel {
        /// The tunnel session.
        session: u32,
        /// The event (`TUNNEL_*`).
        event: u32,
        /// The payload.
        data: Vec<u8>,
    },
}

impl Frame {
    /// An admin frame.
    pub fn admin(kind: u16, json: Value) -> Frame {
        Frame::Admin { kind, json }
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Admin { kind, json } => admin_bytes(*kind, &json.to_string()),
            Frame::Tunnel {
                session,
                event,
                data,
            } => tunnel_bytes(*session, *event, data),
        }
    }

    /// Reads a frame; an error names what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Frame, String> {
        match bytes.first() {
            None => Err("empty frame".to_owned()),
            Some(&KIND_ADMIN) => {
                if bytes.len() < 3 {
                    return Err(format!("admin frame of {} bytes", bytes.len()));
                }
                let kind = u16::from_be_bytes([bytes[1], bytes[2]]);
                let text = std::str::from_utf8(&bytes[3..])
                    .map_err(|_| format!("admin 0x{kind:04x}: JSON is not UTF-8"))?;
                let json: Value = serde_json::from_str(text)
                    .map_err(|e| format!("admin 0x{kind:04x}: bad JSON: {e}"))?;
                if !json.is_object() {
                    return Err(format!("admin 0x{kind:04x}: JSON is not an object"));
                }
                Ok(Frame::Admin { kind, json })
            }
            Some(&KIND_TUNNEL) => {
                if bytes.len() < 9 {
                    return Err(format!("tunnel frame of {} bytes", bytes.len()));
                }
                let session = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                let event = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
                Ok(Frame::Tunnel {
                    session,
                    event,
                    data: bytes[9..].to_vec(),
                })
            }
            Some(other) => Err(format!("unknown message type 0x{other:02x}")),
        }
    }
}

/// `01 <kind BE> <json text>`.
pub fn admin_bytes(kind: u16, json_text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + json_text.len());
    out.push(KIND_ADMIN);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(json_text.as_bytes());
    out
}

/// `02 <session BE> <event BE> <data>`.
pub fn tunnel_bytes(session: u32, event: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + data.len());
    out.push(KIND_TUNNEL);
    out.extend_from_slice(&session.to_be_bytes());
    out.extend_from_slice(&event.to_be_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn admin_layout() {
        let bytes = admin_bytes(ADMIN_CONFIGURATION, r#"{"last":true}"#);
        assert_eq!(&bytes[..3], &[0x01, 0x00, 0x06]);
        assert_eq!(&bytes[3..], br#"{"last":true}"#);
        assert_eq!(
            Frame::decode(&bytes).unwrap(),
            Frame::admin(ADMIN_CONFIGURATION, json!({"last": true}))
        );
    }

    #[test]
    fn tunnel_layout() {
        let frame = Frame::Tunnel {
            session: 0x0102_0304,
            event: TUNNEL_RECEIVE,
            data: 65536u32.to_be_bytes().to_vec(),
        };
        let bytes = frame.encode();
        assert_eq!(
            bytes,
            [2, 1, 2, 3, 4, 0, 0, 0, 1, 0, 1, 0, 0].to_vec(),
            "type, session BE, event BE, data"
        );
        assert_eq!(Frame::decode(&bytes).unwrap(), frame);
    }

    #[test]
    fn garbled_frames_are_refused() {
        assert!(Frame::decode(&[]).is_err());
        assert!(Frame::decode(&[0x01, 0x00]).is_err());
        assert!(Frame::decode(b"\x01\x00\x00{not json").is_err());
        assert!(Frame::decode(b"\x01\x00\x00[1]").is_err());
        assert!(Frame::decode(&[0x02, 0, 0, 0, 1, 0, 0]).is_err());
        assert!(Frame::decode(b"\x07hello").is_err());
        assert!(Frame::decode(b"{\"mt\":\"AppChallenge\"}").is_err());
    }
}
