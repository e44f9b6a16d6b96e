//! `prov-sim`: faithful simulators of what `yealink-prov` talks to, built from the protocol
//! documentation (never from the server's code), for integration tests, benchmarks and demos.
//!
//! - [`SimPhone`]: a Yealink phone doing auto-provisioning (boot file, includes, Digest).
//! - [`cfg`]: the phone's own reading of the `.cfg` syntax.
//! - [`storm`]: the boot-storm load generator behind `yealink-sim boot-storm`.
//! - [`rps`]: Yealink's Redirection and Provisioning Service (XML-RPC, signed JSON, and a
//!   stand-in for the phone's own lookup), behind `yealink-sim rps`.
//! - [`innovaphone`]: the innovaphone PBX (App object connection), the Users service and the
//!   Devices app's sysclient endpoint.

// Tests may unwrap: a panic is the failure report there.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod auth;
pub mod cfg;
mod error;
mod http;
pub mod innovaphone;
mod mac;
pub mod model;
pub mod phone;
pub mod rps;
pub mod storm;

pub use auth::AuthScheme;
pub use error::SimError;
pub use mac::Mac;
pub use phone::{Fetch, ProvisionRun, SimPhone};
