//! The legacy XML-RPC API: `redirect.*` methods over HTTPS POST with HTTP Basic auth.
//!
//! Every answer is a two-element array `[boolean success, text]` whose text is usually an
//! *untyped* value (`<value>OK</value>`, no `<string>` tag). The codec is dxr's (it reads
//! untyped values as strings); the transport is the caller's `reqwest::Client`, so timeouts,
//! proxy and TLS roots are the caller's choice.

use std::borrow::Cow;

use async_trait::async_trait;
use dxr::{MethodCall, Value};

use crate::http::{self, Status};
use crate::redact::Scrubber;
use crate::{Answer, Command, Mac, Outcome, RedirectTarget, Rps, RpsAccount, RpsApi, RpsError};

/// `isOverride`: take the MAC over from another RPS account. sipwise, peoplefone and VOXO all
/// send "1"; a phone we are asked to provision is, by definition, to be ours.
const OVERRIDE: &str = "1";

/// What an XML-RPC answer said, before classification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawAnswer {
    /// The usual `[success, text]`.
    Result { success: bool, text: String },
    /// A standard `<fault>` (faultCode, faultString).
    Fault { code: i32, text: String },
}

/// The HTTP body of a call of `method` with string parameters.
pub fn request_body(method: &str, params: &[&str]) -> Result<String, RpsError> {
    let call = MethodCall {
        name: Cow::Borrowed(method),
        params: params
            .iter()
            .map(|p| Value::String((*p).to_owned()))
            .collect(),
    };
    dxr_client::utils::request_to_body(&call).map_err(|e| RpsError::Config(e.to_string()))
}

/// Reads an answer body. Besides the documented `[boolean, text]`, a bare string or boolean
/// and an integer 0/1 in place of the boolean are accepted: an answer we can read is better
/// than an endless retry of a [`RpsError::Garbled`]. The error carries no part of the body.
pub fn parse_answer(body: &str) -> Result<RawAnswer, RpsError> {
    let parsed = dxr_client::utils::response_to_result(body.trim_start_matches('\u{feff}'))
        .map_err(|_| RpsError::Garbled("not an XML-RPC answer".into()))?;
    let value = match parsed {
        Ok(response) => response.value,
        Err(fault) => {
            return Ok(RawAnswer::Fault {
                code: fault.fault.code(),
                text: fault.fault.string().trim().to_owned(),
            });
        }
    };
    let shape = || RpsError::Garbled("XML-RPC answer is not [boolean, text]".into());
    match &value {
        Value::Array(items) => match items.as_slice() {
            [flag, rest @ ..] => {
                let success = as_bool(flag).ok_or_else(shape)?;
                let text = match rest.first() {
                    Some(Value::String(s)) => s.trim().to_owned(),
                    None => String::new(),
                    Some(_) => return Err(shape()),
                };
                Ok(RawAnswer::Result { success, text })
            }
            [] => Err(shape()),
        },
        Value::String(s) => {
            let text = s.trim().to_owned();
            let success = !text.to_ascii_lowercase().starts_with("error");
            Ok(RawAnswer::Result { success, text })
        }
        Value::Boolean(success) => Ok(RawAnswer::Result {
            success: *success,
            text: String::new(),
        }),
        _ => Err(shape()),
    }
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Boolean(b) => Some(*b),
        Value::Integer(0) => Some(false),
        Value::Integer(1) => Some(true),
        Value::String(s) => match s.trim() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// How the workflow reads an XML-RPC `[success, text]` answer to `command`.
///
/// The text decides before the flag: RPS answers "The server name has been used" as an error,
/// yet for us it means the server is there.
pub fn classify(command: Command, success: bool, text: &str) -> Outcome {
    let t = text.to_ascii_lowercase();
    if t.contains("server name has been used") {
        return Outcome::AlreadyDone;
    }
    if t.contains("invalid mac") {
        return match command {
            // The concept page: deregistering a phone RPS never saw answers "Invalid MAC(s)".
            Command::DeregisterDevice => Outcome::AlreadyDone,
            // The check worked; the answer is "RPS does not know this MAC".
            Command::CheckDevice => Outcome::Ok,
            Command::AddServer | Command::RedirectDevice => Outcome::Rejected,
        };
    }
    if t.contains("existing mac") {
        // Already registered by this account (Htek's doc). `redirect_device` re-binds it, as
        // we cannot tell which server and URL the existing binding has.
        return Outcome::AlreadyDone;
    }
    if command == Command::CheckDevice
        && matches!(
            t.trim(),
            "registered" | "unregistered" | "unknown" | "registered elsewhere"
        )
    {
        return Outcome::Ok;
    }
    if success {
        Outcome::Ok
    } else {
        // "Invalid server", bad server name or URL, "Are you sure you want to override MAC
        // addresses" (owned by another account), "Error:" + 10 characters (owned by another
        // user, per falconieri), and anything we have not seen: a business error.
        Outcome::Rejected
    }
}

/// `Error:Invalid server` (peoplefone/provisioning-rpc, `ProvisioningRPCDeviceYealink.php`):
/// the server name given to `registerDevice` is not (or no longer) in this account.
pub fn names_unknown_server(outcome: Outcome, text: &str) -> bool {
    outcome == Outcome::Rejected && text.to_ascii_lowercase().contains("invalid server")
}

/// Client of the XML-RPC API.
pub struct XmlRpcClient {
    http: reqwest::Client,
    endpoint: String,
    username: String,
    secret: String,
}

impl XmlRpcClient {
    pub fn new(account: &RpsAccount, http: reqwest::Client) -> XmlRpcClient {
        XmlRpcClient {
            http,
            endpoint: account.endpoint_or_default().to_owned(),
            username: account.username.clone(),
            secret: account.secret.clone(),
        }
    }

    fn scrubber(&self) -> Scrubber {
        Scrubber::new().with(self.secret.as_str())
    }

    /// One method call, classified for `command`.
    async fn call(
        &self,
        command: Command,
        method: &str,
        params: &[&str],
        scrub: &Scrubber,
    ) -> Result<Answer, RpsError> {
        let body = request_body(method, params)?;
        let request = self
            .http
            .post(&self.endpoint)
            .basic_auth(&self.username, Some(&self.secret))
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .header(reqwest::header::ACCEPT, "text/xml")
            .body(body);
        let result = match http::send(request, scrub).await {
            Ok((Status::Success, reply)) => match parse_answer(&reply.body) {
                Ok(RawAnswer::Result { success, text }) => Ok(Answer::new(
                    classify(command, success, &text),
                    scrub.scrub(&text),
                )),
                // A fault is RPS refusing the call (unknown method, bad parameters, auth):
                // sending the same call again would get the same fault.
                Ok(RawAnswer::Fault { code, text }) => Ok(Answer::new(
                    Outcome::Rejected,
                    scrub.scrub(&format!("Fault {code}: {text}")),
                )),
                Err(RpsError::Garbled(reason)) => Err(RpsError::Garbled(format!(
                    "{reason}: {}",
                    http::snippet(&reply.body, scrub)
                ))),
                Err(other) => Err(other),
            },
            Ok((Status::Denied | Status::Other, reply)) => Ok(http::rejected_status(reply.status)),
            Err(e) => Err(e),
        };
        match &result {
            Ok(answer) => {
                tracing::debug!(method, outcome = ?answer.outcome, text = %answer.text, "RPS XML-RPC call")
            }
            Err(error) => tracing::debug!(method, %error, "RPS XML-RPC call failed"),
        }
        result
    }

    async fn register(
        &self,
        mac: &str,
        target: &RedirectTarget,
        scrub: &Scrubber,
    ) -> Result<(&'static str, Answer), RpsError> {
        let command = Command::RedirectDevice;
        match target.unique_url.as_deref() {
            Some(url) => {
                let method = "redirect.registerDeviceWithUniqueUrl";
                let params = [mac, target.server_name.as_str(), url, OVERRIDE];
                Ok((method, self.call(command, method, &params, scrub).await?))
            }
            None => {
                let method = "redirect.registerDevice";
                let params = [mac, target.server_name.as_str(), OVERRIDE];
                Ok((method, self.call(command, method, &params, scrub).await?))
            }
        }
    }
}

#[async_trait]
impl Rps for XmlRpcClient {
    fn api(&self) -> RpsApi {
        RpsApi::Xmlrpc
    }

    /// No server edit or delete in Yealink's XML-RPC method list (docs/rps.md).
    fn updates_server_url(&self) -> bool {
        false
    }

    async fn add_server(&self, name: &str, url: &str) -> Result<Answer, RpsError> {
        let scrub = self.scrubber().with_url(Some(url));
        self.call(
            Command::AddServer,
            "redirect.addServer",
            &[name, url],
            &scrub,
        )
        .await
    }

    async fn deregister_device(&self, mac: Mac) -> Result<Answer, RpsError> {
        let mac = mac.to_string();
        self.call(
            Command::DeregisterDevice,
            "redirect.deRegisterDevice",
            &[&mac],
            &self.scrubber(),
        )
        .await
    }

    async fn redirect_device(&self, mac: Mac, target: &RedirectTarget) -> Result<Answer, RpsError> {
        let mac = mac.to_string();
        let scrub = self
            .scrubber()
            .with_url(target.unique_url.as_deref())
            .with_opt(target.password.as_deref());
        let (method, first) = self.register(&mac, target, &scrub).await?;
        if !first.text.to_ascii_lowercase().contains("existing mac") {
            let unknown = names_unknown_server(first.outcome, &first.text);
            return Ok(first.with_unknown_server(unknown));
        }
        // Already in this account, bound to who knows which server or URL: there is no
        // "edit with unique URL", so deregister and register again, once.
        let dereg = self
            .call(
                Command::DeregisterDevice,
                "redirect.deRegisterDevice",
                &[&mac],
                &scrub,
            )
            .await?;
        let mut text = format!("{}; redirect.deRegisterDevice: {}", first.text, dereg.text);
        if dereg.outcome == Outcome::Rejected {
            return Ok(Answer::new(Outcome::Rejected, text));
        }
        let (_, second) = self.register(&mac, target, &scrub).await?;
        text.push_str(&format!("; {method}: {}", second.text));
        let outcome = match second.outcome {
            // Re-bound: the MAC was ours already, as with the JSON API's add-or-edit.
            Outcome::Ok => Outcome::AlreadyDone,
            // Still "existing" right after deregistering: do not claim the new binding.
            Outcome::AlreadyDone | Outcome::Rejected => Outcome::Rejected,
        };
        Ok(Answer::new(outcome, text))
    }

    async fn check_device(&self, mac: Mac) -> Result<Answer, RpsError> {
        let mac = mac.to_string();
        self.call(
            Command::CheckDevice,
            "redirect.checkDevice",
            &[&mac],
            &self.scrubber(),
        )
        .await
    }
}
