//! Pure protocol layer of the innovaphone App Platform (no I/O).
//!
//! Our server acts as AppWebsocket *server* for the PBX and Users connections
//! and as a *sysclient* towards the Devices app; this crate holds the message
//! shapes, crypto helpers and binary framing so the I/O code stays thin.
//! See `/work/shared/reference/innovaphone.md` for the protocol notes.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod login;
mod message;
mod rc4_hex;
mod sysclient;
mod tunnel;

pub use error::Error;
pub use login::*;
pub use message::*;
pub use rc4_hex::*;
pub use sysclient::*;
pub use tunnel::*;
