//! The crate's error type. Variants carry sizes and names only, never the
//! peer's payload, because payloads may hold secrets and end up in logs.

/// Everything that can go wrong while parsing or decrypting protocol data.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A hex string (encrypted secret) could not be decoded.
    #[error("invalid hex input ({len} characters)")]
    InvalidHex { len: usize },
    /// Decrypted bytes were not UTF-8, which usually means a wrong key.
    #[error("decrypted data is not valid UTF-8 (wrong key?)")]
    NotUtf8,
    /// An AppWebsocket text frame was not JSON.
    #[error("message is not valid JSON ({len} bytes)")]
    NotJson { len: usize },
    /// An AppWebsocket text frame was JSON but not an object.
    #[error("message is not a JSON object")]
    NotObject,
    /// An AppWebsocket message lacked the mandatory string `mt`.
    #[error("message has no string `mt`")]
    MissingMt,
    /// A message had fields of the wrong JSON type for the named message.
    #[error("{message} has fields of the wrong type (line {line}, column {column})")]
    InvalidFields {
        message: &'static str,
        line: usize,
        column: usize,
    },
    /// A `GetObjectResult` object had no `devices` array.
    #[error("object has no `devices` array")]
    NoDevices,
    /// The PBX object carries no device with this hardware id.
    #[error("device {hw} is not on the object")]
    DeviceNotOnObject { hw: String },
    /// A sysclient binary frame had no bytes at all.
    #[error("empty sysclient frame")]
    EmptyFrame,
    /// A sysclient frame started with a message type we do not know.
    #[error("unknown sysclient message type 0x{0:02x}")]
    UnknownFrameType(u8),
    /// A sysclient frame was shorter than its fixed header.
    #[error("sysclient {kind} frame too short: {got} bytes, header needs {need}")]
    ShortHeader {
        kind: &'static str,
        got: usize,
        need: usize,
    },
    /// The JSON part of a sysclient admin frame did not parse.
    #[error("sysclient admin payload is not valid JSON ({len} bytes)")]
    FrameJson { len: usize },
    /// A sysclient Configuration message had no `config` object.
    #[error("configuration message has no `config` object")]
    MissingConfig,
    /// A configuration item had no string `type`.
    #[error("configuration item has no string `type`")]
    MissingConfigType,
}
