//! The core: devices, settings, rendering, identity and secrets, the RPS outbox, request log,
//! audit, instances. Knows nothing of HTTP, HTML, AppWebsocket or the CLI; where it needs
//! something from a side above it, it defines a trait that side implements ([`pbx::PbxSide`]).

pub mod admin_auth;
pub mod audit;
pub mod auth;
pub mod auth_limit;
pub mod cache;
pub mod config;
pub mod device_input;
pub mod doctor;
pub mod error;
pub mod import;
pub mod instance;
pub mod log_safe;
pub mod log_throttle;
pub mod password_pool;
pub mod pbx;
pub mod phone_cert;
pub mod pulse;
pub mod render_cache;
pub mod request_fold;
pub mod request_log;
pub mod rps;
pub mod secret;
pub mod service;
pub mod settings;
pub mod source;
pub mod tenant;
pub mod views;
pub mod write_probe;
