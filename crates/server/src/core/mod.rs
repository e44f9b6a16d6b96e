//! The core: devices, settings, rendering, identity and secrets, the RPS outbox, request log,
//! audit, instances. Knows nothing of HTTP, HTML, AppWebsocket or the CLI; where it needs
//! something from a side above it, it defines a trait that side implements ([`pbx::PbxSide`]).

pub mod admin_auth;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod auth_limit;
pub(crate) mod cache;
pub mod config;
pub(crate) mod database_mark;
pub(crate) mod device_input;
pub(crate) mod doctor;
pub(crate) mod error;
pub mod import;
pub(crate) mod instance;
pub(crate) mod key_file;
pub(crate) mod log_safe;
pub(crate) mod log_throttle;
pub(crate) mod password_pool;
pub(crate) mod pbx;
pub mod phone_cert;
pub(crate) mod render_cache;
pub(crate) mod request_fold;
pub(crate) mod request_log;
pub(crate) mod rps;
pub mod secret;
pub(crate) mod service;
pub(crate) mod settings;
pub(crate) mod source;
pub(crate) mod views;
pub(crate) mod write_probe;
