//! The HTTP plumbing the phone surface, the admin surface and the App Service side share: the
//! state every handler gets, the listeners' request-body rules and connection activity, HTTP
//! Digest, the UI language and the frame headers. Above the core, below the three surfaces.

pub(crate) mod conn_activity;
pub mod digest;
pub(crate) mod headers;
pub(crate) mod i18n;
pub(crate) mod request;
pub(crate) mod request_body;
pub(crate) mod site;
pub(crate) mod state;
