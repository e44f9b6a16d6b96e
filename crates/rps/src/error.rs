//! Why a call did not produce an [`Answer`](crate::Answer).
//!
//! Messages are built from masked text only (see [`crate::redact`]): never a password, an
//! AccessKey Secret or a phone's URL token.

/// We did not get a usable answer from RPS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpsError {
    /// No answer within the HTTP client's timeout. The request may or may not have been
    /// applied; every command is idempotent, so sending it again is safe.
    #[error("RPS did not answer in time")]
    Timeout,
    /// Could not connect, or the connection broke.
    #[error("cannot reach RPS: {0}")]
    Network(String),
    /// RPS (or a proxy in front of it) answered 5xx or 429.
    #[error("RPS answered HTTP {status}")]
    Server { status: u16 },
    /// An answer we cannot read (not XML-RPC, not the JSON envelope, unexpected shape).
    /// Treated as transient: a broken proxy page or a half-deployed RPS, not our request.
    #[error("RPS answered something unreadable: {0}")]
    Garbled(String),
    /// The request could not be built (malformed endpoint URL and the like): our
    /// configuration, not RPS. Not retryable.
    #[error("cannot build the RPS request: {0}")]
    Config(String),
}

impl RpsError {
    /// Whether sending the same command again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RpsError::Timeout
            | RpsError::Network(_)
            | RpsError::Server { .. }
            | RpsError::Garbled(_) => true,
            RpsError::Config(_) => false,
        }
    }
}
