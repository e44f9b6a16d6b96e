//! The simulator's error type.

/// Why a simulated phone (or one of its helpers) gave up.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Not a MAC address in any of the usual notations.
    #[error("invalid MAC address {0:?}")]
    InvalidMac(String),
    /// A model name that no Yealink phone has (empty, or not `[A-Za-z0-9-]`).
    #[error("invalid model {0:?}")]
    InvalidModel(String),
    /// Firmware must look like `108.86.0.90` (dot-separated numbers).
    #[error("invalid firmware version {0:?}")]
    InvalidFirmware(String),
    /// `provision()` without a provisioning server (RPS/DHCP/admin never told the phone one).
    #[error("no provisioning server configured")]
    NoServer,
    /// `ask_rps()` on a phone that already has a provisioning server: a phone consults RPS
    /// only in factory state (see `SimPhone::factory_reset`).
    #[error("not factory-fresh: the phone already provisions from {0}")]
    NotFactoryFresh(String),
    /// RPS answered the phone's lookup with 200 but a body the phone cannot read.
    #[error("bad RPS answer: {0}")]
    BadRpsAnswer(String),
    /// A server URL or an `include:config` path that does not resolve to an http(s) URL.
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    /// Neither a boot file nor a configuration file was found; every request and its status.
    #[error("not provisioned: nothing found ({})", format_statuses(.statuses))]
    NotProvisioned {
        /// `(file, status)` for every file the phone tried, in order.
        statuses: Vec<(String, u16)>,
    },
    /// The server kept answering 401 for this file, even after the phone authenticated
    /// (or the phone had no credentials, or was only offered Basic over plain http).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A status other than 200, 401 or 404 (a phone treats it as a failed download).
    #[error("unexpected status {status} for {file}")]
    UnexpectedStatus {
        /// The file requested.
        file: String,
        /// The HTTP status received.
        status: u16,
    },
    /// The file was downloaded but a phone would reject it.
    #[error("bad file {file}: {reason}")]
    BadFile {
        /// The file (an empty name when `cfg::parse` is called directly).
        file: String,
        /// What is wrong with it, with the line number.
        reason: String,
    },
    /// The server's `WWW-Authenticate` challenge could not be answered.
    #[error("bad authentication challenge for {file}: {reason}")]
    BadChallenge {
        /// The file requested.
        file: String,
        /// What was wrong with the challenge.
        reason: String,
    },
    /// Transport-level failure (connect, timeout, body).
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
}

fn format_statuses(statuses: &[(String, u16)]) -> String {
    statuses
        .iter()
        .map(|(file, status)| format!("{file} -> {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}
