//! Why a phone file could not be rendered: shared by the renderer and the parsers of the
//! values it renders (media relay addresses), so neither has to import the other.

use crate::timezone::TimeZoneError;

/// Why a file could not be rendered. Messages name the parameter, never its value (it may be
/// a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{parameter} {problem}")]
    InvalidValue {
        parameter: &'static str,
        problem: &'static str,
    },
    #[error("{parameter} is required but empty")]
    Missing { parameter: &'static str },
    #[error("{parameter} must be between {min} and {max}, got {value}")]
    OutOfRange {
        parameter: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    #[error("unknown location {code:?}; use one of the codes listed by yealink::locations()")]
    UnknownLocation { code: String },
    // Not a `source`: the message is in the Display already (`{:#}` printed it twice).
    #[error("time zone: {0}")]
    TimeZone(TimeZoneError),
    #[error("static.auto_provision.server.url {problem}")]
    ServerUrl { problem: &'static str },
    #[error(
        "static.security.user_password: the admin password must not be the factory default; set a device admin password"
    )]
    FactoryAdminPassword,
    #[error(
        "static.security.user_password: the user login's password must not be the factory default nor the admin password"
    )]
    WeakUserPassword,
    #[error("{parameter} must be an http:// or https:// URL without spaces")]
    Url { parameter: &'static str },
}

impl From<TimeZoneError> for RenderError {
    fn from(e: TimeZoneError) -> Self {
        RenderError::TimeZone(e)
    }
}
