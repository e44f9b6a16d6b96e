//! The HTTP plumbing the phone surface, the admin surface and the App Service side share: the
//! state every handler gets, the listeners' request-body rules and connection activity, HTTP
//! Digest, the UI language and the frame headers. Above the core, below the three surfaces.

pub mod conn_activity;
pub mod digest;
pub mod headers;
pub mod i18n;
pub mod request;
pub mod request_body;
pub mod state;
