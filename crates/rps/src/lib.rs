//! Clients for Yealink's Redirection and Provisioning Service (RPS).
//!
//! Two wire protocols, one trait: the legacy XML-RPC API ([`xmlrpc`], HTTP Basic auth) and the
//! signed JSON "open" API ([`json`], AccessKey + HMAC-SHA256). The server's workflow codes
//! against [`Rps`] and never needs to know which one an account uses; [`client`] picks it.
//!
//! Every method answers with an [`Answer`] (RPS said something we understood: [`Outcome::Ok`],
//! [`Outcome::AlreadyDone`] or [`Outcome::Rejected`]) or with an [`RpsError`] (we did not get a
//! usable answer; [`RpsError::is_retryable`] says whether trying again later can help).
//! Nothing here retries on its own: the caller owns the retry policy and the history.
//!
//! See `docs/rps.md` for the protocol decisions and the classification table.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
pub use yealink::Mac;

mod error;
mod http;
pub mod json;
mod name;
mod record;
pub mod redact;
pub mod sign;
pub mod xmlrpc;

pub use error::RpsError;
pub use json::JsonClient;
pub use name::server_name_from_domain;
pub use record::{CommandDetail, CommandRecord, describe};
pub use xmlrpc::XmlRpcClient;

/// Where the legacy XML-RPC API lives (sipwise and the czuio client use this host).
pub const DEFAULT_XMLRPC_ENDPOINT: &str = "https://rps.yealink.com/xmlrpc";
/// Base URL of the JSON "open" API; paths below it are `/api/open/v1/...`.
pub const DEFAULT_JSON_ENDPOINT: &str = "https://api-dm.yealink.com:8443";

/// Which of the two RPS APIs an account speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpsApi {
    /// Legacy XML-RPC (`redirect.*` methods), HTTP Basic auth with the RPS login.
    Xmlrpc,
    /// Signed JSON API (`/api/open/v1/...`), AccessKey ID + Secret.
    Json,
}

impl RpsApi {
    /// The public Yealink endpoint for this API.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            RpsApi::Xmlrpc => DEFAULT_XMLRPC_ENDPOINT,
            RpsApi::Json => DEFAULT_JSON_ENDPOINT,
        }
    }

    /// The lower-case name used in configuration (`xmlrpc`, `json`).
    pub fn as_str(self) -> &'static str {
        match self {
            RpsApi::Xmlrpc => "xmlrpc",
            RpsApi::Json => "json",
        }
    }
}

impl fmt::Display for RpsApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RPS account: which API, where, and the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RpsAccount {
    pub api: RpsApi,
    /// Base URL, e.g. `https://rps.yealink.com/xmlrpc` or `https://api-dm.yealink.com:8443`.
    /// Empty means the API's default endpoint.
    pub endpoint: String,
    /// XML-RPC: the Basic-auth user name. JSON: the AccessKey ID.
    pub username: String,
    /// XML-RPC: the password. JSON: the AccessKey Secret. Never printed.
    pub secret: String,
}

impl RpsAccount {
    /// The endpoint to call: the configured one, or the API's default when none is set.
    pub fn endpoint_or_default(&self) -> &str {
        let endpoint = self.endpoint.trim();
        if endpoint.is_empty() {
            self.api.default_endpoint()
        } else {
            endpoint
        }
    }
}

impl fmt::Debug for RpsAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpsAccount")
            .field("api", &self.api)
            .field("endpoint", &redact::redact_url(&self.endpoint))
            .field("username", &self.username)
            .field("secret", &redact::MASK)
            .finish()
    }
}

/// What we want RPS to hand the phone for its very first request.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedirectTarget {
    /// The RPS server entry (created by [`Rps::add_server`]) the MAC is bound to.
    pub server_name: String,
    /// Per-device URL (carries the phone's URL token); overrides the server's URL.
    pub unique_url: Option<String>,
    /// Per-device HTTP user name for the phone. JSON API only; XML-RPC cannot carry it.
    pub auth_name: Option<String>,
    /// Per-device HTTP password for the phone. JSON API only; XML-RPC cannot carry it.
    pub password: Option<String>,
}

impl fmt::Debug for RedirectTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedirectTarget")
            .field("server_name", &self.server_name)
            .field(
                "unique_url",
                &self.unique_url.as_deref().map(redact::redact_unique_url),
            )
            .field("auth_name", &self.auth_name)
            .field("password", &self.password.as_ref().map(|_| redact::MASK))
            .finish()
    }
}

/// The commands the history shows, named as the original innovaphone app named them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Command {
    AddServer,
    DeregisterDevice,
    RedirectDevice,
    CheckDevice,
}

impl Command {
    /// "ADD SERVER", "DEREGISTER DEVICE", "REDIRECT DEVICE", "CHECK DEVICE".
    pub fn label(self) -> &'static str {
        match self {
            Command::AddServer => "ADD SERVER",
            Command::DeregisterDevice => "DEREGISTER DEVICE",
            Command::RedirectDevice => "REDIRECT DEVICE",
            Command::CheckDevice => "CHECK DEVICE",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// RPS's answer, classified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub outcome: Outcome,
    /// RPS's own text ("OK", "Error:Invalid MAC(s):...", a JSON `msg` code), or for the JSON
    /// API's multi-step recipes the steps taken. Secrets we know of are masked.
    pub text: String,
    /// RPS does not know the server name a REDIRECT named (XML-RPC `Error:Invalid server`,
    /// JSON: no such server in `server/list`, or `device/add` refused with
    /// `server.not.found`): registering the server again and retrying can help.
    #[serde(skip)]
    pub unknown_server: bool,
}

impl Answer {
    pub(crate) fn new(outcome: Outcome, text: impl Into<String>) -> Answer {
        Answer {
            outcome,
            text: text.into(),
            unknown_server: false,
        }
    }

    pub(crate) fn with_unknown_server(mut self, unknown: bool) -> Answer {
        self.unknown_server = unknown;
        self
    }

    /// RPS did what we asked, now or earlier.
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, Outcome::Ok | Outcome::AlreadyDone)
    }
}

/// How an RPS answer is to be read by the workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done now.
    Ok,
    /// Nothing to do: it was already so ("The server name has been used", deregistering a MAC
    /// RPS does not know, a JSON device that existed and was edited instead).
    AlreadyDone,
    /// A business error (invalid MAC, MAC owned by another account, unknown server, bad server
    /// name or URL, HTTP 401/403). Retrying the same request cannot help.
    Rejected,
}

/// One RPS API, whichever it is.
///
/// All methods are idempotent: calling them again after a success (or after a timeout whose
/// result is unknown) ends in [`Outcome::Ok`] or [`Outcome::AlreadyDone`].
#[async_trait]
pub trait Rps: Send + Sync {
    /// Which API this client speaks.
    fn api(&self) -> RpsApi;

    /// Whether [`Rps::add_server`] points an existing server entry at a new URL. The JSON API
    /// does (`server/edit`); Yealink's XML-RPC API documents no call that edits or deletes a
    /// server, so there "The server name has been used" says nothing about the URL RPS keeps.
    fn updates_server_url(&self) -> bool;

    /// Creates (or, JSON only, updates) the named server entry that points at `url`.
    /// "Already used" is [`Outcome::AlreadyDone`].
    async fn add_server(&self, name: &str, url: &str) -> Result<Answer, RpsError>;

    /// Removes the MAC from this account. A MAC RPS does not know is [`Outcome::AlreadyDone`].
    async fn deregister_device(&self, mac: Mac) -> Result<Answer, RpsError>;

    /// Binds the MAC to `target` (taking it over from another account where RPS allows it).
    async fn redirect_device(&self, mac: Mac, target: &RedirectTarget) -> Result<Answer, RpsError>;

    /// Asks RPS about the MAC. The answer's text uses the XML-RPC vocabulary: `registered`,
    /// `unregistered`, `registered elsewhere` (or RPS's own error text).
    async fn check_device(&self, mac: Mac) -> Result<Answer, RpsError>;

    /// The history entry for a command, with every secret masked.
    fn describe(
        &self,
        command: Command,
        mac: Option<Mac>,
        detail: &CommandDetail,
    ) -> CommandRecord {
        describe(self.api(), command, mac, detail)
    }
}

/// The client for `account`. The caller builds `http` (timeouts, proxy, TLS roots); every
/// request this crate makes goes through it.
/// Whether RPS's answer says another RPS account holds the MAC: the JSON API's codes for a
/// MAC another enterprise owns (`device.mac.added.by.other`, `device.operate.forbidden`), or
/// the legacy API asking to override it (docs/rps.md, "Classification").
pub fn held_by_another_account(answer: &str) -> bool {
    const MARKS: &[&str] = &[
        "device.mac.added.by.other",
        "device.operate.forbidden",
        "Are you sure you want to override",
    ];
    MARKS.iter().any(|mark| answer.contains(mark))
}

pub fn client(account: &RpsAccount, http: reqwest::Client) -> Box<dyn Rps> {
    match account.api {
        RpsApi::Xmlrpc => Box::new(XmlRpcClient::new(account, http)),
        RpsApi::Json => Box::new(JsonClient::new(account, http)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let account = RpsAccount {
            api: RpsApi::Json,
            endpoint: String::new(),
            username: "AKID".into(),
            secret: "very-secret-value".into(),
        };
        let shown = format!("{account:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert_eq!(account.endpoint_or_default(), DEFAULT_JSON_ENDPOINT);

        let target = RedirectTarget {
            server_name: "acme".into(),
            unique_url: Some("https://p.example.com/prov/TOKEN1234567890/".into()),
            auth_name: Some("805ec0112233".into()),
            password: Some("phone-pass-1".into()),
        };
        let shown = format!("{target:?}");
        assert!(!shown.contains("TOKEN1234567890"), "{shown}");
        assert!(!shown.contains("phone-pass-1"), "{shown}");
    }

    #[test]
    fn command_labels_and_serde() {
        assert_eq!(Command::DeregisterDevice.to_string(), "DEREGISTER DEVICE");
        assert_eq!(
            serde_json::to_string(&Command::RedirectDevice)
                .ok()
                .as_deref(),
            Some("\"REDIRECT_DEVICE\"")
        );
        assert_eq!(
            serde_json::to_string(&Outcome::AlreadyDone).ok().as_deref(),
            Some("\"already_done\"")
        );
        assert_eq!(
            serde_json::from_str::<RpsApi>("\"xmlrpc\"").ok(),
            Some(RpsApi::Xmlrpc)
        );
    }
}
